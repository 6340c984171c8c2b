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

pub mod binding;
pub mod cmac;
pub mod keys;
pub mod nonce;
pub mod replay;
pub mod sack;
pub mod seal;

pub use binding::Binding;
pub use keys::{AppKey, KeyRing, MasterKey, ServerKeys};
pub use nonce::{packet_nonce, range_proof};
pub use replay::{ReplayFilter, ReplayVerdict};
pub use sack::{SackAccumulator, SackError, verify_sack};
pub use seal::{OpenError, open_continuation, open_user, seal_continuation, seal_user};
