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
pub mod tcp;
pub mod trickles;
pub mod types;

pub use error::Error;
pub use types::{ConnId, KeyEpoch, PacketNumber, SeqNumber};

/// Result of a parse or emit.
pub type Result<T> = core::result::Result<T, Error>;
