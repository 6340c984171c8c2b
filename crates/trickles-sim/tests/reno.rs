//! The TCP Reno reference over the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use trickles_sim::packet::parse_tcp_frame;
use trickles_sim::reno::{AckKind, RenoConfig, RenoReceiver, RenoSender};
use trickles_sim::scenario::{
    RenoPair, TransferResult, TransferScenario, run_transfer, run_transfer_with,
};
use trickles_sim::{Flow, LinkConfig, RunLimits, SimTime, Simulator, TwoHosts};
use trickles_wire::tcp::flags;

const MB: u64 = 1_000_000;

fn scenario(size: u64) -> TransferScenario {
    TransferScenario::new(size, 100_000_000, Duration::from_millis(20))
}

fn run(sc: &TransferScenario, seed: u64) -> (TransferResult, RenoPair) {
    let cfg = RenoConfig {
        trace: true,
        ..RenoConfig::default()
    };
    let mut pair = RenoPair::new(sc, seed, cfg);
    let r = run_transfer(sc, seed, &mut pair, None).unwrap();
    (r, pair)
}

fn assert_intact(r: &TransferResult, what: &str) {
    assert!(!r.stalled, "{what}: stalled {r:?}");
    assert!(r.bytes_ok, "{what}: bytes not ok {r:?}");
    assert!(r.goodput_mbps.unwrap() > 0.0);
}

#[test]
fn one_megabyte_intact_under_random_loss() {
    for loss in [0.0, 0.01, 0.05] {
        for seed in 1..=3 {
            let mut sc = scenario(MB);
            sc.loss = loss;
            let (r, pair) = run(&sc, seed);
            assert_intact(&r, &format!("loss {loss} seed {seed}"));
            let s = pair.sender.stats();
            if loss >= 0.05 {
                assert!(r.bottleneck_s2c.lost > 0 && r.bottleneck_c2s.lost > 0);
                assert!(s.retransmitted_segments > 0);
            }
        }
    }
}

#[test]
fn one_megabyte_intact_with_reordering_and_duplication() {
    for seed in 1..=4 {
        let mut sc = scenario(MB);
        sc.reorder = 0.05;
        sc.duplicate = 0.05;
        sc.loss = if seed % 2 == 0 { 0.01 } else { 0.0 };
        let (r, pair) = run(&sc, seed);
        assert_intact(&r, &format!("seed {seed}"));
        assert!(r.bottleneck_s2c.reordered > 0 && r.bottleneck_s2c.duplicated > 0);
        let rs = pair.receiver.stats();
        assert!(
            rs.duplicate_segments > 0 && rs.out_of_order_segments > 0,
            "{rs:?}"
        );
        assert_eq!(rs.mismatched_bytes, 0);
    }
}

/// A queue big enough that a 1 MB slow start never drops.
fn lossless(size: u64) -> TransferScenario {
    let mut sc = scenario(size);
    sc.queue_bytes = Some(16 << 20);
    sc
}

#[test]
fn slow_start_grows_cwnd_by_one_per_ack() {
    let (r, pair) = run(&lossless(MB), 1);
    assert_intact(&r, "lossless");
    assert_eq!(r.bottleneck_s2c.dropped_queue, 0);
    let s = pair.sender.stats();
    assert_eq!(
        (s.retransmitted_segments, s.timeouts, s.dupacks_received),
        (0, 0, 0)
    );
    let trace = pair.sender.trace();
    assert_eq!(trace[0].kind, AckKind::Handshake);
    assert_eq!(trace[0].cwnd, 2);
    let cwnds: Vec<u32> = trace.iter().map(|t| t.cwnd).collect();
    let want: Vec<u32> = (2..2 + cwnds.len() as u32).collect();
    assert_eq!(cwnds, want, "cwnd must go 2, 3, 4, ... one per ACK");
    assert!(trace[1..].iter().all(|t| t.kind == AckKind::New));
    // Each ACK acknowledges one segment (no delayed ACKs).
    assert!(trace.windows(2).all(|w| w[1].acked == w[0].acked + 1));
}

#[test]
fn in_flight_per_round_doubles_in_slow_start() {
    let (r, pair) = run(&lossless(MB), 1);
    assert_intact(&r, "lossless");
    let rounds = pair.sender.segments_per_round();
    let total: u64 = rounds.iter().map(|&n| u64::from(n)).sum();
    assert_eq!(total, pair.sender.segments());
    // 2, 4, 8, ... until the transfer runs out of data in the last round.
    let (last, full) = rounds.split_last().unwrap();
    let want: Vec<u32> = (0..full.len()).map(|r| 2 << r).collect();
    assert_eq!(full, &want[..], "rounds {rounds:?}");
    assert!(*last <= 2 << full.len());
    assert!(full.len() >= 7, "{rounds:?}");
}

#[test]
fn congestion_avoidance_adds_one_per_window() {
    let mut sc = lossless(MB);
    sc.queue_bytes = Some(16 << 20);
    let cfg = RenoConfig {
        initial_ssthresh: 8,
        trace: true,
        ..RenoConfig::default()
    };
    let mut pair = RenoPair::new(&sc, 1, cfg);
    let r = run_transfer(&sc, 1, &mut pair, None).unwrap();
    assert_intact(&r, "ca");
    let cwnds: Vec<u32> = pair.sender.trace().iter().map(|t| t.cwnd).collect();
    // 2..8 in slow start, then w stays for w ACKs before w + 1.
    let mut want = vec![2, 3, 4, 5, 6, 7, 8];
    let mut w = 8;
    while want.len() < cwnds.len() {
        for _ in 0..w - 1 {
            want.push(w);
        }
        w += 1;
        want.push(w);
    }
    want.truncate(cwnds.len());
    assert_eq!(cwnds, want);
}

#[test]
fn ten_megabytes_at_100_mbit_has_sane_goodput() {
    let sc = scenario(10 * MB);
    let (r, pair) = run(&sc, 1);
    assert_intact(&r, "10 MB");
    let g = r.goodput_mbps.unwrap();
    assert!(g > 50.0 && g < 100.0, "goodput {g} Mb/s");
    // The default BDP queue overflows at the end of slow start.
    assert!(r.bottleneck_s2c.dropped_queue > 0);
    assert!(pair.sender.stats().fast_retransmits > 0);
}

/// Drop data frames matching `pred(n)` (n counts data frames from 1) on
/// the data-direction bottleneck.
fn run_with_hook(
    sc: &TransferScenario,
    pred: impl FnMut(u64) -> bool + 'static,
) -> (TransferResult, RenoPair) {
    let cfg = RenoConfig {
        trace: true,
        ..RenoConfig::default()
    };
    let mut pair = RenoPair::new(sc, 1, cfg);
    let r = run_transfer_with(sc, 1, &mut pair, None, |sim, d| {
        let mut pred = pred;
        let mut n = 0;
        sim.set_drop_hook(d.bottleneck_s2c, move |f| {
            if parse_tcp_frame(f).unwrap().payload.is_empty() {
                return false;
            }
            n += 1;
            pred(n)
        });
    })
    .unwrap();
    assert_eq!(
        r.bottleneck_s2c.dropped_hook,
        r.details["sender"]["retransmitted_segments"]
            .as_u64()
            .unwrap()
    );
    (r, pair)
}

#[test]
fn one_lost_segment_is_fast_retransmitted() {
    let (r, pair) = run_with_hook(&lossless(MB), |n| n == 5);
    assert!(r.bytes_ok);
    let s = pair.sender.stats();
    assert_eq!(
        (s.fast_retransmits, s.timeouts, s.retransmitted_segments),
        (1, 0, 1)
    );
    // ssthresh = max(flight / 2, 2) with flight 6 (segments 4..9), then
    // cwnd = ssthresh + 3 and deflation to ssthresh on the new ACK.
    let t = pair.sender.trace();
    let fr = t.iter().position(|s| s.in_recovery).unwrap();
    assert_eq!(
        (t[fr].kind, t[fr].ssthresh, t[fr].cwnd),
        (AckKind::Duplicate, 3, 6)
    );
    let exit = t[fr..].iter().position(|s| !s.in_recovery).unwrap() + fr;
    assert_eq!((t[exit].kind, t[exit].cwnd), (AckKind::New, 3));
    assert_eq!(
        t[exit - 1].cwnd,
        8,
        "inflated by the 4th and 5th duplicate ACKs"
    );
}

#[test]
fn tail_loss_is_recovered_by_timeout() {
    let sc = lossless(100_000);
    let segs = 100_000u64.div_ceil(1448);
    let (r, pair) = run_with_hook(&sc, move |n| n == segs);
    assert!(r.bytes_ok);
    let s = pair.sender.stats();
    assert_eq!(
        (s.fast_retransmits, s.timeouts, s.retransmitted_segments),
        (0, 1, 1)
    );
    let t = pair.sender.trace();
    let to = t.iter().find(|s| s.kind == AckKind::Timeout).unwrap();
    assert_eq!(to.cwnd, 1);
    assert!(to.ssthresh >= 2);
    // At least the 200 ms minimum RTO after the data went out.
    assert!(r.completion_ns.unwrap() > 200_000_000);
}

#[test]
fn repeated_timeouts_back_off_exponentially() {
    // Drop the last segment three times: RTOs of 200, 400 and 800 ms.
    let sc = lossless(10_000);
    let segs = 10_000u64.div_ceil(1448);
    let (r, pair) = run_with_hook(&sc, move |n| (segs..segs + 3).contains(&n));
    assert!(r.bytes_ok);
    assert_eq!(pair.sender.stats().timeouts, 3);
    let t: Vec<SimTime> = pair
        .sender
        .trace()
        .iter()
        .filter(|s| s.kind == AckKind::Timeout)
        .map(|s| s.at)
        .collect();
    let gaps: Vec<u64> = t
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) / 1_000_000)
        .collect();
    assert_eq!(gaps, vec![400, 800]);
}

#[test]
fn lost_syn_is_retransmitted() {
    // Two hosts; the first SYN is dropped.
    let flow = Flow::two_hosts();
    let cfg = RenoConfig::default();
    let mut sender = RenoSender::new(flow.server, flow.server_port, 50_000, 9, cfg.clone());
    let mut receiver = RenoReceiver::new(flow, 50_000, 9, cfg);
    let link = LinkConfig::new(10_000_000, Duration::from_millis(5));
    {
        let mut sim = Simulator::new(9);
        let t = TwoHosts::build(&mut sim, flow.client, flow.server, link.clone(), link);
        let mut first = true;
        sim.set_drop_hook(t.ab, move |f| {
            let syn = parse_tcp_frame(f).unwrap().flags & flags::SYN != 0;
            std::mem::replace(&mut first, false) && syn
        });
        sim.set_endpoint(t.a, &mut receiver);
        sim.set_endpoint(t.b, &mut sender);
        let out = sim.run(&RunLimits::default());
        assert_eq!(out.reason, trickles_sim::StopReason::Done);
    }
    assert!(receiver.bytes_ok());
    assert_eq!(receiver.stats().syns_sent, 2);
    assert!(receiver.completion().unwrap() > Duration::from_secs(1));
}

#[test]
fn same_seed_same_result_different_seed_differs() {
    let mut sc = scenario(MB);
    sc.loss = 0.02;
    sc.reorder = 0.02;
    sc.duplicate = 0.01;
    let (a, _) = run(&sc, 11);
    let (b, _) = run(&sc, 11);
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let (c, _) = run(&sc, 12);
    assert_ne!(a.completion_ns, c.completion_ns);
    assert_ne!(a.bottleneck_s2c, c.bottleneck_s2c);
}

#[test]
fn heavy_loss_is_bounded_not_hung() {
    let mut sc = scenario(MB);
    sc.loss = 0.5;
    sc.limits.max_time = SimTime::from_secs(5);
    let (r, _) = run(&sc, 1);
    assert!(r.stalled && !r.bytes_ok);
    assert_eq!(r.stop_reason, trickles_sim::StopReason::TimeLimit);
    assert!(r.sim_end_ns <= 5_000_000_000);
}
