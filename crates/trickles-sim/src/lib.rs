//! A seeded, deterministic discrete-event network simulator that moves real
//! Ethernet frames between hosts, and a reference TCP Reno pair that runs
//! on it.
//!
//! * [`time`]: [`SimTime`], nanoseconds of simulated time (no wall clock).
//! * [`endpoint`]: the [`Endpoint`] trait protocol code implements, and
//!   [`Tx`].
//! * [`sim`]: [`Simulator`] (hosts, routers, links, the event queue).
//! * [`link`]: link model and counters ([`LinkConfig`], [`LinkStats`]).
//! * [`topology`]: two hosts, and a dumbbell of N clients and M servers.
//! * [`pcap`]: nanosecond pcap writer (and a reader for tests).
//! * [`packet`]: IPv4/TCP frame helpers and the deterministic payload stream.
//! * [`reno`]: the reference TCP Reno sender and receiver.
//! * [`scenario`]: the transfer scenario run for any client/server pair.
//! * [`fetcher`]: clients fetching one object after another over fresh
//!   connections, and a many-connection Reno server.
//! * [`clients`], [`failover`], [`balance`], [`friendliness`], [`attack`]:
//!   the scenarios of the paper's evaluation (Figs. 9, 16, 17, 13) and the
//!   attack scenario.
//!
//! # Determinism
//!
//! Events are ordered by `(time, sequence number)`; all randomness (link
//! impairments) comes from one `Pcg64Mcg` seeded with the run's seed and is
//! drawn in event order; no `HashMap` iteration or clock is involved. A
//! (scenario, seed) pair therefore reproduces bit for bit.
//!
//! # Example
//!
//! ```
//! use core::time::Duration;
//! use trickles_sim::reno::RenoConfig;
//! use trickles_sim::scenario::{RenoPair, TransferScenario, run_transfer};
//!
//! let sc = TransferScenario::new(100_000, 10_000_000, Duration::from_millis(10));
//! let mut pair = RenoPair::new(&sc, 7, RenoConfig::default());
//! let r = run_transfer(&sc, 7, &mut pair, None)?;
//! assert!(r.bytes_ok && !r.stalled);
//! assert!(r.goodput_mbps.unwrap() < 10.0);
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod attack;
pub mod balance;
pub mod clients;
pub mod endpoint;
pub mod failover;
pub mod fetcher;
pub mod figures;
pub mod friendliness;
pub mod link;
pub mod packet;
pub mod pcap;
pub mod plot;
pub mod reno;
pub mod scenario;
pub mod sim;
pub mod time;
pub mod topology;
pub mod trickles_pair;

pub use endpoint::{Endpoint, Tx};
pub use link::{LinkConfig, LinkStats};
pub use sim::{
    HostId, LinkId, NetChange, NodeId, RouterId, RunLimits, RunOutcome, Simulator, StopReason,
    StopWhen,
};
pub use time::SimTime;
pub use topology::{Dumbbell, DumbbellConfig, Flow, HostAddr, TwoHosts};
