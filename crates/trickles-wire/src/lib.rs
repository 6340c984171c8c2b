//! Trickles packet formats.
//!
//! Checked, zero-copy views and `parse`/`emit` for every layer a Trickles
//! segment crosses: Ethernet (with up to two 802.1Q/802.1ad tags), IPv4,
//! IPv6, TCP, the Trickles marking option (RFC 6994 experimental option) and
//! the Trickles header that opens the TCP payload. The byte-exact format is
//! specified in `docs/protocol.md`; each module cites the section it
//! implements.
//!
//! # Contract
//!
//! Every byte handed to this crate may be hostile. No function panics on any
//! input, nothing allocates, and every parser either returns a view whose
//! accessors cannot panic or a [`Error`] that says what was wrong. The view
//! types follow smoltcp's pattern: `Packet::new_checked(buf)` validates the
//! lengths once, after which the getters index without further checks.
//!
//! # Example
//!
//! Emit a client's SYN as a complete frame and parse it back:
//!
//! ```
//! use trickles_wire::frame::{self, Headers, TcpFields};
//! use trickles_wire::tcp::flags;
//! use trickles_wire::trickles::{Body, Flags, Packet, Syn, Versions};
//!
//! let syn = Packet {
//!     flags: Flags(0),
//!     body: Body::Syn(Syn { versions: Versions::SUPPORTED, mss: 1456 }),
//!     data: b"GET / HTTP/1.1\r\n\r\n",
//!     padding: 64,
//! };
//! let headers = Headers {
//!     src_mac: [2, 0, 0, 0, 0, 1],
//!     dst_mac: [2, 0, 0, 0, 0, 2],
//!     src: [10, 0, 0, 1].into(),
//!     dst: [10, 0, 0, 2].into(),
//!     tcp: TcpFields { src_port: 40000, dst_port: 80, seq: 7, ack: 0, flags: flags::SYN, window: 65535 },
//!     ttl: 64,
//! };
//! let mut buf = [0u8; 256];
//! let len = frame::emit(&headers, &syn, &mut buf)?;
//! let parsed = frame::parse(&buf[..len])?;
//! assert_eq!(parsed.trickles, syn);
//! assert_eq!(parsed.tcp.dst_port, 80);
//! // A frame cut short is refused, never a panic.
//! assert!(frame::parse(&buf[..len - 1]).is_err());
//! # Ok::<(), trickles_wire::Error>(())
//! ```
#![forbid(unsafe_code)]
#![no_std]

#[cfg(test)]
extern crate std;

pub mod checksum;
pub mod classify;
pub mod error;
pub mod ethernet;
pub mod frame;
pub mod ipv4;
pub mod ipv6;
pub mod marker;
pub mod pcap;
pub mod tcp;
pub mod trickles;
pub mod types;

pub use error::Error;
pub use types::{ConnId, KeyEpoch, PacketNumber, SeqNumber};

/// Result of a parse or emit.
pub type Result<T> = core::result::Result<T, Error>;
