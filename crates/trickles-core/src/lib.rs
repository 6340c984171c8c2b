//! The Trickles protocol, sans-IO (paper §2–§5).
//!
//! No syscalls, no clock, no randomness: every function takes bytes and the
//! current time as arguments and returns actions, so the same code runs in
//! the simulator, in tests and on the AF_XDP datapath.
#![forbid(unsafe_code)]

pub mod cc;
pub mod client;
pub mod crypto;
pub mod geometry;
pub mod server;
pub mod synthetic;
pub mod time;

pub use time::Instant;
