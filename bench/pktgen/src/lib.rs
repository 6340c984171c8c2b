//! The sans-IO parts of `pktgen` (the binary, `src/main.rs`), testable
//! without root or a network.
//!
//! - [`valid`]: minting legitimate REQUESTs from the server's key file
//!   (`pktgen --mode valid`).

pub mod valid;
