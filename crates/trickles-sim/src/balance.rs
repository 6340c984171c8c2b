//! The `balance` scenario (paper §6.2, "Packet-level load balancing",
//! Fig. 17): two clients fetch objects over and over from a service of two
//! replicas behind a per-packet round-robin sprayer. Every packet for the
//! service address goes to the next replica in turn, whichever client sent
//! it, so each connection is served by both replicas, packet by packet,
//! which only a server without per-connection state can do. Jain's index
//! over the clients' throughputs says how evenly they shared.
//!
//! Two placements of the bottleneck ([`Bottleneck`]):
//!
//! * `replica` (the default), as in the paper's testbed ("the servers are
//!   connected to the switch at 100 Mb"): each replica's uplink runs at
//!   `rate` with a queue of one bandwidth-delay product, every other link
//!   is fast. A connection's packets take two paths with separate queues,
//!   so they can arrive out of order.
//! * `shared`: the replicas sit on fast links behind one `rate` bottleneck
//!   towards the clients (the `clients` scenario's dumbbell), so the
//!   sprayed packets merge into one queue again.
//!
//! The replicas share one address (IP and MAC)
//! and the keys of `trickles_pair::server`; the sprayer is the right
//! router's round-robin route for that address
//! ([`Simulator::add_round_robin_route`]). The clients fetch as in the
//! `clients` scenario ([`crate::fetcher::TricklesFetcher`]), starting at
//! seeded random instants within `stagger`.

use core::net::Ipv4Addr;
use core::time::Duration;
use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

use crate::endpoint::{Endpoint, Tx};
use crate::fetcher::TricklesFetcher;
use crate::friendliness::jain;
use crate::link::LinkConfig;
use crate::packet::{mix, parse_tcp_frame};
use crate::sim::{LinkId, RunLimits, Simulator, StopWhen};
use crate::time::{SimTime, duration_nanos};
use crate::topology::{Dumbbell, DumbbellConfig, Flow};
use crate::trickles_pair::TricklesServer;

/// Where the bottleneck of a `balance` run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bottleneck {
    /// Each replica's uplink runs at the rate (the paper's testbed).
    Replica,
    /// One link towards the clients runs at the rate; replicas are on fast
    /// links.
    Shared,
}

/// Parameters of a `balance` run.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceConfig {
    /// Client hosts.
    pub clients: usize,
    /// Replicas behind the sprayer.
    pub servers: usize,
    /// Bytes of each object.
    pub object_bytes: u64,
    /// Rate of each replica's link ([`Bottleneck::Replica`]) or of the
    /// shared bottleneck, bits per second.
    pub rate_bps: u64,
    /// Where the bottleneck is.
    pub bottleneck: Bottleneck,
    /// Base round-trip time.
    pub rtt: Duration,
    /// Simulated time.
    pub duration: Duration,
    /// Clients start at seeded random instants in `[0, stagger)`.
    pub stagger: Duration,
}

impl BalanceConfig {
    /// Two clients, two replicas at 100 Mb/s each, 20 ms RTT, 500 kB
    /// objects, 10 simulated seconds, clients starting within 100 ms.
    pub fn new() -> BalanceConfig {
        BalanceConfig {
            clients: 2,
            servers: 2,
            object_bytes: 500_000,
            rate_bps: 100_000_000,
            bottleneck: Bottleneck::Replica,
            rtt: Duration::from_millis(20),
            duration: Duration::from_secs(10),
            stagger: Duration::from_millis(100),
        }
    }
}

impl Default for BalanceConfig {
    fn default() -> BalanceConfig {
        BalanceConfig::new()
    }
}

/// The outcome of [`run`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BalanceResult {
    /// Always `"balance"`.
    pub scenario: &'static str,
    /// Seed.
    pub seed: u64,
    /// Client hosts.
    pub clients: usize,
    /// Replicas.
    pub servers: usize,
    /// Bytes of each object.
    pub object_bytes: u64,
    /// Rate of each replica's link or of the shared bottleneck, Mb/s.
    pub rate_mbit: f64,
    /// Where the bottleneck is.
    pub bottleneck: Bottleneck,
    /// Base RTT, ms.
    pub rtt_ms: f64,
    /// Simulated seconds.
    pub seconds: f64,
    /// Each client's in-order bytes (completed objects and the prefix of
    /// the unfinished one) × 8 over the run time, Mb/s.
    pub client_mbps: Vec<f64>,
    /// Jain's index over `client_mbps`.
    pub jain_index: f64,
    /// Sum of `client_mbps`.
    pub aggregate_mbps: f64,
    /// Objects completed, all clients.
    pub objects_completed: u64,
    /// Every completed object and unfinished prefix intact.
    pub bytes_ok: bool,
    /// Requests (including timeout requests) each replica answered.
    pub server_requests: Vec<u64>,
    /// `server_requests_by_client[s][c]`: requests of client `c` that
    /// replica `s` answered.
    pub server_requests_by_client: Vec<Vec<u64>>,
    /// SYNs each replica answered.
    pub server_syns: Vec<u64>,
    /// Frames the sprayer sent to each replica.
    pub frames_to_server: Vec<u64>,
    /// The replicas' memory (`memory_bytes`) at the end, each.
    pub server_state_bytes: Vec<usize>,
}

/// A replica that also counts, per client address, the requests it
/// answered.
struct Replica {
    inner: TricklesServer,
    by_client: BTreeMap<Ipv4Addr, u64>,
}

impl Endpoint for Replica {
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        let before = self.inner.server.stats().requests;
        self.inner.on_frame(now, frame, tx);
        let answered = self.inner.server.stats().requests - before;
        if answered > 0
            && let Ok(f) = parse_tcp_frame(frame)
        {
            *self.by_client.entry(f.src_ip).or_default() += answered;
        }
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        self.inner.on_timer(now, tx);
    }

    fn next_timer(&self) -> Option<SimTime> {
        self.inner.next_timer()
    }
}

/// The topology: `cfg.clients` clients, `cfg.servers` replicas of one
/// address behind a round-robin route, the bottleneck where `cfg` says;
/// returns the dumbbell and each replica's downlink.
fn build(sim: &mut Simulator<'_>, cfg: &BalanceConfig) -> (Dumbbell, Vec<LinkId>) {
    let mut topo = DumbbellConfig::symmetric(cfg.clients, 0, cfg.rate_bps, cfg.rtt);
    let up = match cfg.bottleneck {
        Bottleneck::Shared => topo.access.clone(),
        Bottleneck::Replica => {
            let fast = topo.access.rate_bps;
            for l in [&mut topo.bottleneck_c2s, &mut topo.bottleneck_s2c] {
                l.rate_bps = fast;
                l.queue_limit_bytes = Some(DumbbellConfig::ACCESS_QUEUE_BYTES);
            }
            // The same queue as a shared bottleneck of this rate gets.
            let queue = DumbbellConfig::symmetric(1, 1, cfg.rate_bps, cfg.rtt)
                .bottleneck_s2c
                .queue_limit();
            LinkConfig::new(cfg.rate_bps, DumbbellConfig::ACCESS_DELAY).with_queue_limit(queue)
        }
    };
    let mut d = Dumbbell::build(sim, &topo);
    let service = DumbbellConfig::server_addr(0);
    let downs: Vec<LinkId> = (0..cfg.servers)
        .map(|i| {
            let s = d.add_server_host(
                sim,
                &format!("replica{i}"),
                service,
                up.clone(),
                topo.access.clone(),
            );
            d.server_down[s]
        })
        .collect();
    sim.add_round_robin_route(d.right, service.ip, &downs);
    (d, downs)
}

/// Run the clients against the sprayed replicas for `cfg.duration`.
pub fn run(cfg: &BalanceConfig, seed: u64) -> BalanceResult {
    let mut rng = Pcg64Mcg::seed_from_u64(mix(seed ^ 0xba1a_4ce0));
    let max = duration_nanos(cfg.stagger);
    let mut fetchers: Vec<TricklesFetcher> = (0..cfg.clients)
        .map(|i| {
            let at = SimTime(if max == 0 {
                0
            } else {
                rng.random_range(0..max)
            });
            TricklesFetcher::new(Flow::dumbbell(i, 0), cfg.object_bytes, seed, at)
        })
        .collect();
    let mut replicas: Vec<Replica> = (0..cfg.servers)
        .map(|_| Replica {
            inner: TricklesServer::new(Flow::SERVER_PORT),
            by_client: BTreeMap::new(),
        })
        .collect();
    let frames_to_server = {
        let mut sim = Simulator::new(seed);
        let (d, downs) = build(&mut sim, cfg);
        for (f, &h) in fetchers.iter_mut().zip(&d.clients) {
            sim.set_endpoint(h, f);
        }
        for (r, &h) in replicas.iter_mut().zip(&d.servers) {
            sim.set_endpoint(h, r);
        }
        sim.run(&RunLimits {
            max_time: SimTime(duration_nanos(cfg.duration)),
            max_events: u64::MAX,
            stop: StopWhen::Never,
        });
        downs.iter().map(|&l| sim.link_stats(l).frames_in).collect()
    };
    let secs = cfg.duration.as_secs_f64();
    let client_mbps: Vec<f64> = fetchers
        .iter()
        .map(|f| f.delivered() as f64 * 8.0 / secs / 1e6)
        .collect();
    let server_requests_by_client = replicas
        .iter()
        .map(|r| {
            (0..cfg.clients)
                .map(|c| {
                    let ip = DumbbellConfig::client_addr(c).ip;
                    r.by_client.get(&ip).copied().unwrap_or(0)
                })
                .collect()
        })
        .collect();
    BalanceResult {
        scenario: "balance",
        seed,
        clients: cfg.clients,
        servers: cfg.servers,
        object_bytes: cfg.object_bytes,
        rate_mbit: cfg.rate_bps as f64 / 1e6,
        bottleneck: cfg.bottleneck,
        rtt_ms: cfg.rtt.as_secs_f64() * 1e3,
        seconds: secs,
        jain_index: jain(&client_mbps),
        aggregate_mbps: client_mbps.iter().sum(),
        client_mbps,
        objects_completed: fetchers.iter().map(|f| f.stats().completed).sum(),
        bytes_ok: fetchers.iter().all(TricklesFetcher::bytes_ok),
        server_requests: replicas
            .iter()
            .map(|r| r.inner.server.stats().requests)
            .collect(),
        server_requests_by_client,
        server_syns: replicas
            .iter()
            .map(|r| r.inner.server.stats().syns)
            .collect(),
        frames_to_server,
        server_state_bytes: replicas
            .iter()
            .map(|r| r.inner.server.memory_bytes())
            .collect(),
    }
}
