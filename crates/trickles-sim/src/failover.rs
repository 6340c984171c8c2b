//! The `failover` scenario (paper §6.2, "Instantaneous failover",
//! Fig. 16): one client fetches a large object from replica A of a
//! service; at time T replica A dies, and after an outage (the time the
//! network takes to notice, 0 by default) the router in front of the
//! replicas sends the service address to replica B instead. B has the same
//! keys (`trickles_pair::server` builds every replica with them), the same
//! IP and MAC, and has never seen the connection: it serves it from the
//! continuations alone, so the client sees a stall, not a failure.
//!
//! "A dies" is modelled by taking both of A's access links down at T:
//! nothing reaches A or leaves it from then on (frames already on the wire
//! still arrive). "Redirect" replaces the right router's route for the
//! service address by B's downlink at T + outage; until then frames for the
//! service are dropped at A's dead link.
//!
//! The same run without failover gives the reference completion time, and
//! the reference TCP Reno under the same failover shows what a stateful
//! server does: replica B has no connection for Reno's ACKs, so the
//! transfer stops at T.

use core::time::Duration;

use serde::Serialize;

use crate::endpoint::{Endpoint, Tx};
use crate::reno::{RenoConfig, RenoReceiver, RenoSender};
use crate::sim::{NetChange, RunLimits, Simulator, StopWhen};
use crate::time::{SimTime, duration_nanos};
use crate::topology::{Dumbbell, DumbbellConfig, Flow};
use crate::trickles_pair::{TricklesPair, TricklesServer};

/// Parameters of a failover run.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverConfig {
    /// Bytes the client fetches.
    pub size: u64,
    /// Bottleneck rate, bits per second.
    pub rate_bps: u64,
    /// Base round-trip time.
    pub rtt: Duration,
    /// When replica A dies.
    pub at: Duration,
    /// From A's death to the router sending the service address to B.
    pub outage: Duration,
    /// Give up this long after the failover.
    pub horizon: Duration,
}

impl FailoverConfig {
    /// 10 MB over 100 Mb/s and 20 ms, A dies at 1 s, B takes over at once.
    pub fn new() -> FailoverConfig {
        FailoverConfig {
            size: 10_000_000,
            rate_bps: 100_000_000,
            rtt: Duration::from_millis(20),
            at: Duration::from_secs(1),
            outage: Duration::ZERO,
            horizon: Duration::from_secs(600),
        }
    }
}

impl Default for FailoverConfig {
    fn default() -> FailoverConfig {
        FailoverConfig::new()
    }
}

/// The outcome of [`run`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverResult {
    /// Always `"failover"`.
    pub scenario: &'static str,
    /// Seed.
    pub seed: u64,
    /// Bytes fetched.
    pub size: u64,
    /// Bottleneck rate, Mb/s.
    pub rate_mbit: f64,
    /// Base RTT, ms.
    pub rtt_ms: f64,
    /// When replica A died, ms.
    pub at_ms: f64,
    /// Outage before the redirection to B, ms.
    pub outage_ms: f64,
    /// With failover: the client got every byte, intact.
    pub bytes_ok: bool,
    /// With failover: time to the last byte, ms.
    pub completion_ms: Option<f64>,
    /// Longest time without in-order progress at the client, from its last
    /// progress before the failover to the end of the transfer, ms.
    pub stall_ms: f64,
    /// In-order bytes the client held at the failover.
    pub delivered_at_failover: u64,
    /// The transfer was still running at the failover (else the failover
    /// tested nothing).
    pub switched_mid_transfer: bool,
    /// Requests (including timeout requests) replica A answered.
    pub replica_a_requests: u64,
    /// Requests replica B answered.
    pub replica_b_requests: u64,
    /// Timeout requests the client sent.
    pub client_timeouts: u64,
    /// Frames dropped at A's dead links.
    pub dropped_at_dead_replica: u64,
    /// Without failover: every byte intact.
    pub bytes_ok_no_failover: bool,
    /// Without failover: time to the last byte, ms.
    pub completion_ms_no_failover: Option<f64>,
    /// Without failover: the longest gap in progress measured as `stall_ms`.
    pub stall_ms_no_failover: f64,
    /// Reno under the same failover: the transfer completed.
    pub reno_completed: bool,
    /// Reno under the same failover: in-order bytes delivered.
    pub reno_bytes_delivered: u64,
    /// Reno without failover: time to the last byte, ms.
    pub reno_completion_ms_no_failover: Option<f64>,
}

/// Records the client's in-order progress: `(time, bytes)` each time the
/// count grows.
struct Watch<'c, E> {
    inner: &'c mut E,
    delivered: fn(&E) -> u64,
    trace: Vec<(SimTime, u64)>,
}

impl<'c, E: Endpoint> Watch<'c, E> {
    fn new(inner: &'c mut E, delivered: fn(&E) -> u64) -> Watch<'c, E> {
        Watch {
            inner,
            delivered,
            trace: Vec::new(),
        }
    }

    fn note(&mut self, now: SimTime) {
        let d = (self.delivered)(self.inner);
        if self.trace.last().is_none_or(|&(_, b)| d > b) {
            self.trace.push((now, d));
        }
    }
}

impl<E: Endpoint> Endpoint for Watch<'_, E> {
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        self.inner.on_start(now, tx);
        self.note(now);
    }
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        self.inner.on_frame(now, frame, tx);
        self.note(now);
    }
    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        self.inner.on_timer(now, tx);
        self.note(now);
    }
    fn next_timer(&self) -> Option<SimTime> {
        self.inner.next_timer()
    }
    fn is_done(&self) -> bool {
        self.inner.is_done()
    }
}

/// The longest time without progress in `trace` (`(time, bytes)`,
/// ascending), counted from the last progress at or before `from` (or
/// `from` itself if there was none) and, if `open_until` is given (the
/// transfer never finished), up to that time.
pub fn longest_stall(
    trace: &[(SimTime, u64)],
    from: SimTime,
    open_until: Option<SimTime>,
) -> Duration {
    let mut prev = trace
        .iter()
        .rev()
        .find(|(t, _)| *t <= from)
        .map_or(from, |&(t, _)| t);
    let mut longest = Duration::ZERO;
    let later = trace.iter().map(|&(t, _)| t).filter(|&t| t > from);
    for t in later.chain(open_until) {
        longest = longest.max(t.saturating_since(prev));
        prev = t;
    }
    longest
}

/// The bytes held at `at` according to `trace`.
fn delivered_at(trace: &[(SimTime, u64)], at: SimTime) -> u64 {
    trace
        .iter()
        .rev()
        .find(|(t, _)| *t <= at)
        .map_or(0, |&(_, b)| b)
}

/// Build the topology (server 0 is replica A, the last server replica B,
/// sharing A's address) and schedule the failover if asked.
fn build(sim: &mut Simulator<'_>, cfg: &FailoverConfig, failover: bool) -> (Dumbbell, usize) {
    let topo = DumbbellConfig::symmetric(1, 1, cfg.rate_bps, cfg.rtt);
    let mut d = Dumbbell::build(sim, &topo);
    let service = DumbbellConfig::server_addr(0);
    let b = d.add_server_host(
        sim,
        "server0 replica",
        service,
        topo.access.clone(),
        topo.access.clone(),
    );
    if failover {
        let at = SimTime(duration_nanos(cfg.at));
        sim.schedule_change(at, NetChange::LinkDown(d.server_up[0]));
        sim.schedule_change(at, NetChange::LinkDown(d.server_down[0]));
        sim.schedule_change(
            at.saturating_add(cfg.outage),
            NetChange::Route {
                router: d.right,
                dst: service.ip,
                link: d.server_down[b],
            },
        );
    }
    (d, b)
}

fn limits(cfg: &FailoverConfig, client: crate::sim::HostId) -> RunLimits {
    RunLimits {
        max_time: SimTime(duration_nanos(cfg.at + cfg.outage + cfg.horizon)),
        max_events: u64::MAX,
        stop: StopWhen::HostsDone(vec![client]),
    }
}

struct TricklesRun {
    trace: Vec<(SimTime, u64)>,
    done_at: Option<SimTime>,
    end: SimTime,
    bytes_ok: bool,
    a_requests: u64,
    b_requests: u64,
    timeouts: u64,
    dropped: u64,
}

fn run_trickles(cfg: &FailoverConfig, seed: u64, failover: bool) -> TricklesRun {
    let flow = Flow::dumbbell(0, 0);
    let mut pair = TricklesPair::for_flow(flow, cfg.size, seed);
    let mut replica = TricklesServer::new(flow.server_port);
    let mut watch = Watch::new(&mut pair.client, |c| c.client.delivered());
    let (done_at, end, dropped) = {
        let mut sim = Simulator::new(seed);
        let (d, b) = build(&mut sim, cfg, failover);
        sim.set_endpoint(d.clients[0], &mut watch);
        sim.set_endpoint(d.servers[0], &mut pair.server);
        sim.set_endpoint(d.servers[b], &mut replica);
        let out = sim.run(&limits(cfg, d.clients[0]));
        let dropped = sim.link_stats(d.server_up[0]).dropped_down
            + sim.link_stats(d.server_down[0]).dropped_down;
        (sim.done_at(d.clients[0]), out.now, dropped)
    };
    let trace = std::mem::take(&mut watch.trace);
    TricklesRun {
        trace,
        done_at,
        end,
        bytes_ok: pair.bytes_ok_of(&pair.client),
        a_requests: pair.server.server.stats().requests,
        b_requests: replica.server.stats().requests,
        timeouts: pair.client.client.stats().timeouts,
        dropped,
    }
}

/// Reno under the same topology: (completed at, in-order bytes).
fn run_reno(cfg: &FailoverConfig, seed: u64, failover: bool) -> (Option<SimTime>, u64) {
    let flow = Flow::dumbbell(0, 0);
    let rc = RenoConfig::default();
    let mut a = RenoSender::new(flow.server, flow.server_port, cfg.size, seed, rc.clone());
    let mut b = RenoSender::new(flow.server, flow.server_port, cfg.size, seed, rc.clone());
    let mut receiver = RenoReceiver::new(flow, cfg.size, seed, rc);
    let done = {
        let mut sim = Simulator::new(seed);
        let (d, ib) = build(&mut sim, cfg, failover);
        sim.set_endpoint(d.clients[0], &mut receiver);
        sim.set_endpoint(d.servers[0], &mut a);
        sim.set_endpoint(d.servers[ib], &mut b);
        sim.run(&limits(cfg, d.clients[0]));
        sim.done_at(d.clients[0])
    };
    let done = done.filter(|_| receiver.bytes_ok());
    (done, receiver.delivered())
}

/// Run the transfer with and without failover (Trickles, then Reno).
pub fn run(cfg: &FailoverConfig, seed: u64) -> FailoverResult {
    let at = SimTime(duration_nanos(cfg.at));
    let with = run_trickles(cfg, seed, true);
    let without = run_trickles(cfg, seed, false);
    let stall = |r: &TricklesRun| {
        let open = r.done_at.is_none().then_some(r.end);
        longest_stall(&r.trace, at, open).as_secs_f64() * 1e3
    };
    let (reno_done, reno_bytes) = run_reno(cfg, seed, true);
    let (reno_base, _) = run_reno(cfg, seed, false);
    FailoverResult {
        scenario: "failover",
        seed,
        size: cfg.size,
        rate_mbit: cfg.rate_bps as f64 / 1e6,
        rtt_ms: cfg.rtt.as_secs_f64() * 1e3,
        at_ms: cfg.at.as_secs_f64() * 1e3,
        outage_ms: cfg.outage.as_secs_f64() * 1e3,
        bytes_ok: with.bytes_ok,
        completion_ms: with.done_at.map(SimTime::as_millis_f64),
        stall_ms: stall(&with),
        delivered_at_failover: delivered_at(&with.trace, at),
        switched_mid_transfer: with.done_at.is_none_or(|t| t > at),
        replica_a_requests: with.a_requests,
        replica_b_requests: with.b_requests,
        client_timeouts: with.timeouts,
        dropped_at_dead_replica: with.dropped,
        bytes_ok_no_failover: without.bytes_ok,
        completion_ms_no_failover: without.done_at.map(SimTime::as_millis_f64),
        stall_ms_no_failover: stall(&without),
        reno_completed: reno_done.is_some(),
        reno_bytes_delivered: reno_bytes,
        reno_completion_ms_no_failover: reno_base.map(SimTime::as_millis_f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> SimTime {
        SimTime::from_millis(v)
    }

    #[test]
    fn stall_counts_from_the_last_progress_before_the_failover() {
        let trace = [
            (ms(0), 1),
            (ms(10), 2),
            (ms(20), 3),
            (ms(95), 4),
            (ms(100), 5),
        ];
        // From 20 (last progress before 50) to 95.
        assert_eq!(
            longest_stall(&trace, ms(50), None),
            Duration::from_millis(75)
        );
        // A gap before the failover does not count.
        assert_eq!(
            longest_stall(&trace, ms(96), None),
            Duration::from_millis(5)
        );
        // A transfer that never finished stalls until the end of the run.
        assert_eq!(
            longest_stall(&trace, ms(96), Some(ms(400))),
            Duration::from_millis(300)
        );
        assert_eq!(delivered_at(&trace, ms(50)), 3);
        assert_eq!(delivered_at(&trace, ms(100)), 5);
    }
}
