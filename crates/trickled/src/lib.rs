//! `trickled`, the Trickles daemon, and `trickles`, its client tools
//! (issue 5). The daemon serves Trickles services over the AF_XDP
//! datapath (`trickles-xdp`): one pinned worker per NIC queue, the
//! stateless web server of paper §6.2 or the synthetic stream behind each
//! port, keys reloaded on SIGHUP.
//!
//! - [`balance`]: `trickled balance`, health-checked ECMP or per-packet
//!   spraying over replicas.
//! - [`fetch`]: the client datapath of the tools (one thread, many fetches).
//! - [`tools`]: `trickles get` and `trickles proxy`.
//! - [`config`]: the TOML file and the flags, validated.
//! - [`kernel`]: the kernel TCP listener beside each service (dual serving).
//! - [`keyfile`]: the key file and `trickled keygen`.
//! - [`serve`]: `trickled serve`.
//! - [`services`]: the engines of one worker and the dispatch by port.
//! - [`stats`]: counters as Prometheus text.
//! - [`web`]: the stateless web server application.
//! - [`ranges`]: `0-3,5` lists.

pub mod balance;
pub mod config;
pub mod fetch;
pub mod kernel;
pub mod keyfile;
pub mod ranges;
pub mod serve;
pub mod services;
pub mod stats;
pub mod tools;
pub mod web;

/// Structured logs on standard error, filtered by `RUST_LOG` or else by
/// `filter` (tracing `EnvFilter` syntax); colours only on a terminal.
pub fn init_logs(filter: &str) {
    use std::io::IsTerminal;
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
