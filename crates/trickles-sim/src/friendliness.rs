//! The `friendliness` scenario (paper §6.1, Fig. 13): one Trickles flow and
//! N Reno flows share one bottleneck for a fixed time; each flow's goodput
//! is the in-order bytes its client holds at the end. Jain's fairness index
//! over all flows says how evenly they shared (1 = perfectly).

use std::time::Duration;

use serde::Serialize;

use crate::reno::{RenoConfig, RenoReceiver, RenoSender};
use crate::sim::{RunLimits, Simulator, StopWhen};
use crate::time::SimTime;
use crate::topology::{Dumbbell, DumbbellConfig, Flow};
use crate::trickles_pair::TricklesPair;

/// One friendliness run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FriendlinessResult {
    /// Number of Reno flows.
    pub reno_flows: usize,
    /// The Reno flows used SACK ([`RenoConfig::sack`]).
    pub reno_sack: bool,
    /// Seed.
    pub seed: u64,
    /// Seconds of simulated time.
    pub duration_s: f64,
    /// Trickles goodput.
    pub trickles_mbps: f64,
    /// Reno goodputs.
    pub reno_mbps: Vec<f64>,
    /// Bottleneck rate divided by the number of flows.
    pub fair_share_mbps: f64,
    /// Jain's index over all flows.
    pub jain_index: f64,
    /// Trickles goodput over the fair share.
    pub trickles_share: f64,
    /// Loss events of each flow: Trickles' retransmitted slots and restarts
    /// (timer timeouts and lost-retransmission restarts), and each Reno
    /// sender's fast recoveries, retransmitted segments and timeouts.
    pub trickles_retransmitted: u64,
    /// Trickles restarts (timer timeouts plus lost-retransmission ones).
    pub trickles_restarts: u64,
    /// Trickles fast recoveries (loss episodes).
    pub trickles_recoveries: u64,
    /// Reno fast recoveries per flow.
    pub reno_recoveries: Vec<u64>,
    /// Reno retransmitted segments per flow.
    pub reno_retransmitted: Vec<u64>,
    /// Reno timeouts per flow.
    pub reno_timeouts: Vec<u64>,
}

/// Jain's fairness index of `x`.
pub fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let squares: f64 = x.iter().map(|v| v * v).sum();
    if squares == 0.0 {
        return 0.0;
    }
    sum * sum / (x.len() as f64 * squares)
}

/// Run one Trickles flow against `reno_flows` Reno flows (default
/// [`RenoConfig`]) for `duration`.
pub fn run(
    reno_flows: usize,
    rate_bps: u64,
    rtt: Duration,
    duration: Duration,
    seed: u64,
) -> FriendlinessResult {
    run_with(
        reno_flows,
        rate_bps,
        rtt,
        duration,
        seed,
        &RenoConfig::default(),
    )
}

/// [`run`] with the Reno flows configured by `reno_cfg`.
pub fn run_with(
    reno_flows: usize,
    rate_bps: u64,
    rtt: Duration,
    duration: Duration,
    seed: u64,
    reno_cfg: &RenoConfig,
) -> FriendlinessResult {
    let flows = reno_flows + 1;
    let cfg = DumbbellConfig::symmetric(flows, flows, rate_bps, rtt);
    // Enough bytes that no flow finishes within the run.
    let size = (rate_bps / 8).saturating_mul(duration.as_secs().max(1) + 1);
    let mut trickles = TricklesPair::for_flow(Flow::dumbbell(0, 0), size, seed);
    let mut reno: Vec<(RenoSender, RenoReceiver)> = (1..flows)
        .map(|i| {
            let flow = Flow::dumbbell(i, i);
            let s = seed.wrapping_add(i as u64);
            (
                RenoSender::new(flow.server, flow.server_port, size, s, reno_cfg.clone()),
                RenoReceiver::new(flow, size, s, reno_cfg.clone()),
            )
        })
        .collect();
    {
        let mut sim = Simulator::new(seed);
        let d = Dumbbell::build(&mut sim, &cfg);
        sim.set_endpoint(d.clients[0], &mut trickles.client);
        sim.set_endpoint(d.servers[0], &mut trickles.server);
        for (i, (s, r)) in reno.iter_mut().enumerate() {
            sim.set_endpoint(d.clients[i + 1], r);
            sim.set_endpoint(d.servers[i + 1], s);
        }
        sim.run(&RunLimits {
            max_time: SimTime::from_nanos(duration.as_nanos().min(u128::from(u64::MAX)) as u64),
            max_events: u64::MAX,
            stop: StopWhen::Never,
        });
    }
    let secs = duration.as_secs_f64();
    let mbps = |bytes: u64| bytes as f64 * 8.0 / secs / 1e6;
    let trickles_mbps = mbps(trickles.client.client.delivered());
    let reno_mbps: Vec<f64> = reno.iter().map(|(_, r)| mbps(r.delivered())).collect();
    let mut all = vec![trickles_mbps];
    all.extend(&reno_mbps);
    let fair_share_mbps = rate_bps as f64 / 1e6 / flows as f64;
    FriendlinessResult {
        reno_flows,
        reno_sack: reno_cfg.sack,
        seed,
        duration_s: secs,
        trickles_mbps,
        reno_mbps,
        fair_share_mbps,
        jain_index: jain(&all),
        trickles_share: trickles_mbps / fair_share_mbps,
        trickles_retransmitted: trickles.server_stats().slots_retransmitted,
        trickles_restarts: trickles.client.client.stats().timeouts,
        trickles_recoveries: trickles.server_stats().recoveries,
        reno_recoveries: reno
            .iter()
            .map(|(s, _)| s.stats().fast_retransmits)
            .collect(),
        reno_retransmitted: reno
            .iter()
            .map(|(s, _)| s.stats().retransmitted_segments)
            .collect(),
        reno_timeouts: reno.iter().map(|(s, _)| s.stats().timeouts).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_is_one_for_equal_shares() {
        assert!((jain(&[3.0, 3.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!((jain(&[1.0, 0.0]) - 0.5).abs() < 1e-12);
    }
}
