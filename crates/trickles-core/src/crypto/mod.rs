//! Continuation cryptography (paper §2.2 "Security"; DESIGN.md
//! "Integrity", "Nonces and SACK proofs", "Replay").
//!
//! - [`cmac`]: AES-128-CMAC (RFC 4493), the MAC and the KDF's PRF;
//! - [`keys`]: master keys, derived keys (NIST SP 800-108), key rings;
//! - [`binding`]: the client endpoint a MAC is bound to;
//! - [`seal`]: sealing and opening transport and user continuations;
//! - [`nonce`]: per-packet nonces and range proofs;
//! - [`sack`]: building (client) and verifying (server) SACK proofs;
//! - [`replay`]: the fixed-size replay filter.
//!
//! Keys and time come in as arguments; nothing here allocates per packet
//! ([`replay::ReplayFilter::new`] allocates once).
//!
//! # Example
//!
//! A server seals a continuation for one client; it opens for that client
//! and for no other.
//!
//! ```
//! use trickles_core::crypto::{open_continuation, seal_continuation, Binding, KeyRing, MasterKey, ServerKeys};
//! use trickles_wire::trickles::continuation::Continuation;
//! use trickles_wire::{KeyEpoch, PacketNumber};
//!
//! let ring = KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &MasterKey::new([42; 16])));
//! let client = Binding::new([192, 0, 2, 7].into(), 40000, 80);
//! let mut bytes = Continuation { k: PacketNumber(9), start_cwnd: 2, ..Default::default() }.to_bytes();
//! seal_continuation(ring.current(), &client, &mut bytes);
//!
//! let opened = open_continuation(&ring, &client, &bytes).expect("genuine");
//! assert_eq!(opened.k, PacketNumber(9));
//! let elsewhere = Binding::new([192, 0, 2, 7].into(), 40001, 80);
//! assert!(open_continuation(&ring, &elsewhere, &bytes).is_err());
//! ```

pub mod binding;
pub mod cmac;
pub mod keys;
pub mod nonce;
pub mod replay;
pub mod sack;
pub mod seal;

pub use binding::Binding;
pub use keys::{AppKey, KeyRing, MasterKey, ServerKeys};
pub use nonce::{NonceDomain, packet_nonce, range_proof};
pub use replay::{ReplayFilter, ReplayVerdict};
pub use sack::{SackAccumulator, SackError, verify_sack};
pub use seal::{OpenError, open_continuation, open_user, seal_continuation, seal_user};
