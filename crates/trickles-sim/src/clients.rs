//! The `clients` scenario (paper §6.1, "Throughput", Fig. 9): N clients
//! behind one bottleneck repeatedly fetch a 500 kB object from one server,
//! a fresh connection per object, for a fixed simulated time. Run once with
//! the real Trickles engines and once, with the same topology and seed,
//! with the reference Reno; report the aggregate throughput of each, and
//! the state each server holds: the Trickles server's whole memory
//! (constant, whatever the number of clients), and what a TCP server must
//! keep for its open connections.
//!
//! Client `i` opens its first connection at a time drawn uniformly from
//! `[0, stagger)` with the run's seed (the same instants in both runs), so
//! that the clients do not start in lockstep; every later fetch starts in
//! the callback in which the previous one completed.

use core::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

use crate::fetcher::{RenoFetcher, RenoServer, TricklesFetcher};
use crate::friendliness::jain;
use crate::packet::mix;
use crate::reno::RenoConfig;
use crate::sim::{RunLimits, Simulator, StopWhen};
use crate::time::{SimTime, duration_nanos};
use crate::topology::{Dumbbell, DumbbellConfig, Flow};
use crate::trickles_pair::TricklesServer;

/// Parameters of a `clients` run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientsConfig {
    /// Number of clients.
    pub clients: usize,
    /// Bytes of each object.
    pub object_bytes: u64,
    /// Bottleneck rate, bits per second.
    pub rate_bps: u64,
    /// Base round-trip time.
    pub rtt: Duration,
    /// Simulated time of each run.
    pub duration: Duration,
    /// Clients start at seeded random instants in `[0, stagger)`.
    pub stagger: Duration,
}

impl ClientsConfig {
    /// The paper's test: 500 kB objects over 100 Mb/s, here with a 20 ms
    /// RTT, for 10 simulated seconds, clients starting within 100 ms.
    pub fn new(clients: usize) -> ClientsConfig {
        ClientsConfig {
            clients,
            object_bytes: 500_000,
            rate_bps: 100_000_000,
            rtt: Duration::from_millis(20),
            duration: Duration::from_secs(10),
            stagger: Duration::from_millis(100),
        }
    }
}

/// The outcome of [`run`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientsResult {
    /// Always `"clients"`.
    pub scenario: &'static str,
    /// Number of clients.
    pub clients: usize,
    /// Seed.
    pub seed: u64,
    /// Bytes of each object.
    pub object_bytes: u64,
    /// Bottleneck rate, Mb/s.
    pub rate_mbit: f64,
    /// Base RTT, ms.
    pub rtt_ms: f64,
    /// Simulated seconds of each run.
    pub seconds: f64,
    /// Trickles: in-order bytes received by all clients (completed objects
    /// plus the received prefix of unfinished fetches) × 8 over the run
    /// time, in Mb/s.
    pub aggregate_mbps: f64,
    /// The same for Reno.
    pub reno_aggregate_mbps: f64,
    /// `aggregate_mbps / reno_aggregate_mbps`.
    pub ratio: Option<f64>,
    /// Trickles objects completed, all clients.
    pub objects_completed: u64,
    /// Reno objects completed, all clients.
    pub reno_objects_completed: u64,
    /// Every Trickles object (and unfinished prefix) intact.
    pub bytes_ok: bool,
    /// Every Reno object (and unfinished prefix) intact.
    pub reno_bytes_ok: bool,
    /// Mean time of a completed Trickles fetch, ms.
    pub mean_fetch_ms: Option<f64>,
    /// Mean time of a completed Reno fetch, ms.
    pub reno_mean_fetch_ms: Option<f64>,
    /// Jain's index over the clients' Trickles throughputs.
    pub jain_index: f64,
    /// Jain's index over the clients' Reno throughputs.
    pub reno_jain_index: f64,
    /// The Trickles server's memory (`memory_bytes`) at the end; the same
    /// for any number of clients.
    pub server_state_bytes: usize,
    /// The Trickles server's memory before the run.
    pub server_state_bytes_start: usize,
    /// The Trickles server's memory after the run.
    pub server_state_bytes_end: usize,
    /// Peak connection state of the Reno server: per open connection its
    /// sender object plus its unacknowledged bytes
    /// ([`RenoServer::state_bytes`]), sampled after every event.
    pub reno_server_state_bytes: u64,
    /// Most Reno connections open at once.
    pub reno_peak_connections: usize,
    /// Trickles connections opened (SYNs answered).
    pub connections: u64,
    /// Reno connections opened.
    pub reno_connections: u64,
}

/// Per-client start instants, drawn from the run's seed.
fn start_times(cfg: &ClientsConfig, seed: u64) -> Vec<SimTime> {
    let mut rng = Pcg64Mcg::seed_from_u64(mix(seed ^ 0xc11e_7500));
    let max = duration_nanos(cfg.stagger);
    (0..cfg.clients)
        .map(|_| {
            SimTime(if max == 0 {
                0
            } else {
                rng.random_range(0..max)
            })
        })
        .collect()
}

fn limits(duration: Duration) -> RunLimits {
    RunLimits {
        max_time: SimTime(duration_nanos(duration)),
        max_events: u64::MAX,
        stop: StopWhen::Never,
    }
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 * 8.0 / secs / 1e6
}

/// Run the Trickles clients, then the Reno clients, over the same dumbbell
/// of `cfg.clients` clients and one server, with `seed`.
pub fn run(cfg: &ClientsConfig, seed: u64) -> ClientsResult {
    let topo = DumbbellConfig::symmetric(cfg.clients, 1, cfg.rate_bps, cfg.rtt);
    let starts = start_times(cfg, seed);
    let secs = cfg.duration.as_secs_f64();

    // Trickles.
    let mut server = TricklesServer::new(Flow::SERVER_PORT);
    let server_state_bytes_start = server.server.memory_bytes();
    let mut fetchers: Vec<TricklesFetcher> = (0..cfg.clients)
        .map(|i| TricklesFetcher::new(Flow::dumbbell(i, 0), cfg.object_bytes, seed, starts[i]))
        .collect();
    {
        let mut sim = Simulator::new(seed);
        let d = Dumbbell::build(&mut sim, &topo);
        sim.set_endpoint(d.servers[0], &mut server);
        for (f, &h) in fetchers.iter_mut().zip(&d.clients) {
            sim.set_endpoint(h, f);
        }
        sim.run(&limits(cfg.duration));
    }
    let server_state_bytes_end = server.server.memory_bytes();

    // Reno.
    let reno_cfg = RenoConfig::default();
    let mut reno_server = RenoServer::new(
        DumbbellConfig::server_addr(0),
        Flow::SERVER_PORT,
        cfg.object_bytes,
        seed,
        reno_cfg.clone(),
    );
    let mut reno: Vec<RenoFetcher> = (0..cfg.clients)
        .map(|i| {
            RenoFetcher::new(
                Flow::dumbbell(i, 0),
                cfg.object_bytes,
                seed,
                starts[i],
                reno_cfg.clone(),
            )
        })
        .collect();
    {
        let mut sim = Simulator::new(seed);
        let d = Dumbbell::build(&mut sim, &topo);
        sim.set_endpoint(d.servers[0], &mut reno_server);
        for (f, &h) in reno.iter_mut().zip(&d.clients) {
            sim.set_endpoint(h, f);
        }
        sim.run(&limits(cfg.duration));
    }

    let per: Vec<f64> = fetchers.iter().map(|f| mbps(f.delivered(), secs)).collect();
    let reno_per: Vec<f64> = reno.iter().map(|f| mbps(f.delivered(), secs)).collect();
    let aggregate_mbps: f64 = per.iter().sum();
    let reno_aggregate_mbps: f64 = reno_per.iter().sum();
    let mean = |fs: Vec<(u64, u64)>| {
        let (n, ns) = fs
            .iter()
            .fold((0u64, 0u64), |(n, t), &(c, f)| (n + c, t.saturating_add(f)));
        (n > 0).then(|| ns as f64 / n as f64 / 1e6)
    };
    ClientsResult {
        scenario: "clients",
        clients: cfg.clients,
        seed,
        object_bytes: cfg.object_bytes,
        rate_mbit: cfg.rate_bps as f64 / 1e6,
        rtt_ms: cfg.rtt.as_secs_f64() * 1e3,
        seconds: secs,
        aggregate_mbps,
        reno_aggregate_mbps,
        ratio: (reno_aggregate_mbps > 0.0).then(|| aggregate_mbps / reno_aggregate_mbps),
        objects_completed: fetchers.iter().map(|f| f.stats().completed).sum(),
        reno_objects_completed: reno.iter().map(|f| f.stats().completed).sum(),
        bytes_ok: fetchers.iter().all(TricklesFetcher::bytes_ok),
        reno_bytes_ok: reno.iter().all(RenoFetcher::bytes_ok),
        mean_fetch_ms: mean(
            fetchers
                .iter()
                .map(|f| (f.stats().completed, f.stats().fetch_ns))
                .collect(),
        ),
        reno_mean_fetch_ms: mean(
            reno.iter()
                .map(|f| (f.stats().completed, f.stats().fetch_ns))
                .collect(),
        ),
        jain_index: jain(&per),
        reno_jain_index: jain(&reno_per),
        server_state_bytes: server_state_bytes_end,
        server_state_bytes_start,
        server_state_bytes_end,
        reno_server_state_bytes: reno_server.stats().peak_state_bytes,
        reno_peak_connections: reno_server.stats().peak_connections,
        connections: server.server.stats().syns,
        reno_connections: reno_server.stats().connections,
    }
}
