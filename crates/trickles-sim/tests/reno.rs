//! The TCP Reno reference over the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use trickles_sim::packet::{
    TCP_FRAME_OVERHEAD, has_sack_permitted, parse_tcp_frame, sack_blocks, tcp_option,
};
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
    run_with_hook_cfg(sc, true, pred)
}

fn run_with_hook_cfg(
    sc: &TransferScenario,
    sack: bool,
    pred: impl FnMut(u64) -> bool + 'static,
) -> (TransferResult, RenoPair) {
    let cfg = RenoConfig {
        trace: true,
        sack,
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
fn classic_one_lost_segment_is_fast_retransmitted() {
    // Classic RFC 5681 Reno (SACK off): fast retransmit, window inflation.
    let (r, pair) = run_with_hook_cfg(&lossless(MB), false, |n| n == 5);
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

// ---------------------------------------------------------------------------
// SACK (RFC 2018) and RFC 6675 loss recovery.

/// Index of the data segment a frame from the sender carries, if any.
fn data_segment(frame: &[u8]) -> Option<u64> {
    let f = parse_tcp_frame(frame).unwrap();
    if f.payload.is_empty() {
        return None;
    }
    let isn = RenoConfig::default().sender_isn;
    Some(u64::from(f.seq.wrapping_sub(isn.wrapping_add(1))) / 1448)
}

/// What a hooked run saw on the bottleneck.
#[derive(Default)]
struct Wire {
    /// Frames towards the server (SYN, ACKs), in order.
    to_server: Vec<Vec<u8>>,
    /// Data frames that passed the hook towards the client, in order.
    delivered: Vec<Vec<u8>>,
}

/// Run with `sack` on both sides; `drop(seg, k)` decides whether the k-th
/// transmission (from 1) of data segment `seg` is dropped.
fn run_dropping(
    sc: &TransferScenario,
    sack: bool,
    drop: impl FnMut(u64, u32) -> bool + 'static,
) -> (TransferResult, RenoPair, Wire) {
    let cfg = RenoConfig {
        trace: true,
        sack,
        ..RenoConfig::default()
    };
    let mut pair = RenoPair::new(sc, 1, cfg);
    let wire = Rc::new(RefCell::new(Wire::default()));
    let (w1, w2) = (wire.clone(), wire.clone());
    let r = run_transfer_with(sc, 1, &mut pair, None, move |sim, d| {
        let mut drop = drop;
        let mut sent: BTreeMap<u64, u32> = BTreeMap::new();
        sim.set_drop_hook(d.bottleneck_s2c, move |f| {
            let Some(seg) = data_segment(f) else {
                return false;
            };
            let k = sent.entry(seg).or_insert(0);
            *k += 1;
            let dropped = drop(seg, *k);
            if !dropped {
                w1.borrow_mut().delivered.push(f.to_vec());
            }
            dropped
        });
        sim.set_drop_hook(d.bottleneck_c2s, move |f| {
            w2.borrow_mut().to_server.push(f.to_vec());
            false
        });
    })
    .unwrap();
    let wire = Rc::try_unwrap(wire).ok().unwrap().into_inner();
    (r, pair, wire)
}

/// Number of entries into recovery and the distinct ssthresh values set.
fn recoveries(pair: &RenoPair) -> usize {
    let t = pair.sender.trace();
    t.windows(2)
        .filter(|w| !w[0].in_recovery && w[1].in_recovery)
        .count()
}

/// Drop the first transmission of every other segment of the slow-start
/// round 126..254 (64 segments of one 128-segment window).
fn every_other_of_round_6(seg: u64, k: u32) -> bool {
    k == 1 && (126..254).contains(&seg) && seg.is_multiple_of(2)
}

#[test]
fn loss_free_runs_are_the_same_with_and_without_sack() {
    let sc = lossless(MB);
    let (a, pa, _) = run_dropping(&sc, true, |_, _| false);
    let (b, pb, _) = run_dropping(&sc, false, |_, _| false);
    assert_intact(&a, "sack");
    assert!(pa.sender.stats().sack && !pb.sender.stats().sack);
    // The same packets; only the 4-byte SACK-permitted options of SYN and
    // SYN-ACK add a few hundred ns of serialization.
    assert!(a.completion_ns.unwrap().abs_diff(b.completion_ns.unwrap()) < 2_000);
    assert_eq!(
        (a.bottleneck_s2c.frames_in, a.bottleneck_s2c.bytes_in),
        (b.bottleneck_s2c.frames_in, b.bottleneck_s2c.bytes_in + 4)
    );
    assert_eq!(a.bottleneck_c2s.frames_in, b.bottleneck_c2s.frames_in);
    assert_eq!(a.bottleneck_s2c.dropped_queue, 0);
    assert_eq!(
        pa.sender.segments_per_round(),
        pb.sender.segments_per_round()
    );
    let cw = |p: &RenoPair| p.sender.trace().iter().map(|t| t.cwnd).collect::<Vec<_>>();
    assert_eq!(cw(&pa), cw(&pb));
}

#[test]
fn sack_one_lost_segment_recovers_without_window_inflation() {
    let (r, pair) = run_with_hook(&lossless(MB), |n| n == 5);
    assert!(r.bytes_ok);
    let s = pair.sender.stats();
    assert_eq!(
        (s.fast_retransmits, s.timeouts, s.retransmitted_segments),
        (1, 0, 1)
    );
    let t = pair.sender.trace();
    let fr = t.iter().position(|s| s.in_recovery).unwrap();
    // Segments 4..9 were out (cwnd 6); the SACKs of 5 and 6 let 10 and 11
    // out (pipe < cwnd); the SACK of 7 makes 4 lost (3 SACKed above):
    // ssthresh = cwnd = 6 / 2, not counting the two extra segments.
    assert_eq!(
        (t[fr].kind, t[fr].ssthresh, t[fr].cwnd, t[fr].in_flight),
        (AckKind::Duplicate, 3, 3, 8)
    );
    let exit = t[fr..].iter().position(|s| !s.in_recovery).unwrap() + fr;
    assert!(
        t[fr..exit].iter().all(|s| s.cwnd == 3),
        "no inflation: {:?}",
        &t[fr..exit]
    );
    assert_eq!((t[exit].kind, t[exit].cwnd), (AckKind::New, 3));
}

#[test]
fn sack_recovers_many_losses_in_one_window_without_timeout() {
    let sc = lossless(MB);
    let (r, pair, _) = run_dropping(&sc, true, every_other_of_round_6);
    assert_intact(&r, "sack");
    let s = pair.sender.stats();
    assert_eq!(r.bottleneck_s2c.dropped_hook, 64);
    // Every hole retransmitted once, nothing else resent, no timeout, one
    // window reduction.
    assert_eq!(
        (s.timeouts, s.retransmitted_segments, s.fast_retransmits),
        (0, 64, 1)
    );
    assert_eq!(recoveries(&pair), 1);
    assert_eq!(pair.receiver.stats().duplicate_segments, 0);
    // The holes go out within about one round trip of the loss detection:
    // recovery ends within 3 RTTs of its start.
    let t = pair.sender.trace();
    let start = t.iter().position(|s| s.in_recovery).unwrap();
    let end = t[start..].iter().position(|s| !s.in_recovery).unwrap() + start;
    assert!(t[end].at.0 - t[start].at.0 < 3 * 20_000_000, "{:?}", t[end]);

    // Classic Reno needs a timeout and goes back N over the same losses.
    let (rc, pc, _) = run_dropping(&sc, false, every_other_of_round_6);
    assert_intact(&rc, "classic");
    let c = pc.sender.stats();
    assert!(c.timeouts >= 1, "{c:?}");
    assert!(c.retransmitted_segments > 64, "{c:?}");
    assert!(r.completion_ns.unwrap() < rc.completion_ns.unwrap());
}

#[test]
fn sack_lost_retransmission_is_sent_again_without_timeout() {
    // Segment 50 and its first retransmission are dropped.
    let drop = |seg: u64, k: u32| seg == 50 && k <= 2;
    let (r, pair, _) = run_dropping(&lossless(MB), true, drop);
    assert_intact(&r, "sack");
    let s = pair.sender.stats();
    assert_eq!(
        (
            s.timeouts,
            s.fast_retransmits,
            s.lost_retransmissions,
            s.retransmitted_segments
        ),
        (0, 1, 1, 2)
    );
    // One reduction only: ssthresh is set once and cwnd stays at it until
    // recovery ends.
    assert_eq!(recoveries(&pair), 1);
    let t = pair.sender.trace();
    let start = t.iter().position(|s| s.in_recovery).unwrap();
    let end = t[start..].iter().position(|s| !s.in_recovery).unwrap() + start;
    assert!(t[start..end].iter().all(|s| s.cwnd == t[start].ssthresh));
    assert!(t.iter().all(|s| s.kind != AckKind::Timeout));
    assert_eq!(pair.receiver.stats().duplicate_segments, 0);

    // Classic Reno cannot tell and waits for the timeout.
    let (rc, pc, _) = run_dropping(&lossless(MB), false, drop);
    assert_intact(&rc, "classic");
    assert!(pc.sender.stats().timeouts >= 1);
}

#[test]
fn sack_timeout_resends_only_what_was_not_sacked() {
    // 70 segments; segments 60 and 65 are lost, and so is the first
    // retransmission of 60. No new data follows it, so only the timeout
    // can find it; the SACKed 61..64 and 66..69 and the retransmitted 65
    // must not be sent again.
    let sc = lossless(100_000);
    let drop = |seg: u64, k: u32| (seg == 60 && k <= 2) || (seg == 65 && k == 1);
    let (r, pair, _) = run_dropping(&sc, true, drop);
    assert_intact(&r, "sack");
    let s = pair.sender.stats();
    assert_eq!(
        (s.fast_retransmits, s.timeouts, s.retransmitted_segments),
        (1, 1, 3)
    );
    assert_eq!(pair.receiver.stats().duplicate_segments, 0);
    let t = pair.sender.trace();
    let to = t.iter().find(|s| s.kind == AckKind::Timeout).unwrap();
    assert_eq!((to.cwnd, to.in_recovery), (1, false));
    // Classic Reno goes back N after the timeout and resends data the
    // receiver holds.
    let (rc, pc, _) = run_dropping(&sc, false, drop);
    assert_intact(&rc, "classic");
    assert!(pc.receiver.stats().duplicate_segments > 0);
}

#[test]
fn sack_slow_start_overshoot_recovers_without_timeout() {
    // 10 MB over 100 Mb/s, 20 ms with a one-BDP queue: slow start
    // overshoots and the queue drops hundreds of segments of one window.
    let sc = scenario(10 * MB);
    let (r, pair) = run(&sc, 1);
    assert_intact(&r, "10 MB");
    let s = pair.sender.stats();
    assert!(
        r.bottleneck_s2c.dropped_queue > 200,
        "{:?}",
        r.bottleneck_s2c
    );
    assert_eq!(s.timeouts, 0, "{s:?}");
    // Only lost segments are retransmitted (no go-back-N duplicates).
    assert_eq!(s.retransmitted_segments, r.bottleneck_s2c.dropped_queue);
    assert_eq!(pair.receiver.stats().duplicate_segments, 0);
    assert!(r.goodput_mbps.unwrap() > 75.0, "{r:?}");
}

#[test]
fn sack_intact_under_random_loss_reordering_and_duplication() {
    for loss in [0.0, 0.01, 0.03, 0.05] {
        for seed in 1..=3 {
            let mut sc = scenario(MB);
            sc.loss = loss;
            sc.reorder = 0.03;
            sc.duplicate = 0.02;
            let (r, pair) = run(&sc, seed);
            let what = format!("loss {loss} seed {seed}");
            assert_intact(&r, &what);
            let (s, rs) = (pair.sender.stats(), pair.receiver.stats());
            assert!(s.sack && rs.sack, "{what}");
            assert_eq!(rs.mismatched_bytes, 0, "{what}");
            assert!(rs.sack_acks_sent > 0, "{what}: reordering alone needs SACK");
            if loss > 0.0 {
                assert!(s.sacked_segments > 0 && s.retransmitted_segments > 0);
            }
        }
    }
}

#[test]
fn sack_falls_back_to_classic_when_one_side_has_it_off() {
    let sc = lossless(MB);
    let flow = sc.flow();
    let on = RenoConfig {
        trace: true,
        ..RenoConfig::default()
    };
    let off = RenoConfig {
        sack: false,
        ..on.clone()
    };
    for (s_cfg, r_cfg) in [(on.clone(), off.clone()), (off.clone(), on.clone())] {
        let mut pair = RenoPair {
            sender: RenoSender::new(flow.server, flow.server_port, sc.size, 1, s_cfg),
            receiver: RenoReceiver::new(flow, sc.size, 1, r_cfg),
        };
        let r = run_transfer_with(&sc, 1, &mut pair, None, |sim, d| {
            let mut n = 0;
            sim.set_drop_hook(d.bottleneck_s2c, move |f| {
                n += u64::from(data_segment(f).is_some());
                n == 5
            });
        })
        .unwrap();
        assert!(r.bytes_ok);
        assert!(!pair.sender.stats().sack && !pair.receiver.stats().sack);
        assert_eq!(pair.receiver.stats().sack_acks_sent, 0);
        // Classic window inflation (see the classic test above).
        let t = pair.sender.trace();
        let fr = t.iter().position(|s| s.in_recovery).unwrap();
        assert_eq!((t[fr].ssthresh, t[fr].cwnd), (3, 6));
    }
}

#[test]
fn sack_blocks_on_the_wire_are_well_formed() {
    let sc = lossless(MB);
    let (r, pair, wire) = run_dropping(&sc, true, every_other_of_round_6);
    assert!(r.bytes_ok);
    let isn = RenoConfig::default().sender_isn.wrapping_add(1);
    let rel = |seq: u32| u64::from(seq.wrapping_sub(isn));
    // The SYN offers SACK.
    let syn = parse_tcp_frame(&wire.to_server[0]).unwrap();
    assert!(syn.flags & flags::SYN != 0 && has_sack_permitted(syn.options));
    assert_eq!(wire.to_server[0].len(), TCP_FRAME_OVERHEAD + 4);
    // After the handshake ACK, one ACK per delivered data segment, in order
    // (FIFO links, nothing lost towards the server).
    let acks = &wire.to_server[2..];
    assert_eq!(acks.len(), wire.delivered.len());
    let mut with_blocks = 0;
    let mut most = 0;
    for (a, d) in acks.iter().zip(&wire.delivered) {
        let f = parse_tcp_frame(a).unwrap();
        let data = parse_tcp_frame(d).unwrap();
        assert_eq!(a.len(), TCP_FRAME_OVERHEAD + f.options.len());
        assert!(f.options.len().is_multiple_of(4) && f.options.len() <= 40);
        let ack = rel(f.ack);
        let (seg_lo, seg_hi) = (rel(data.seq), rel(data.seq) + data.payload.len() as u64);
        let blocks: Vec<(u64, u64)> = sack_blocks(f.options)
            .map(|(l, r)| (rel(l), rel(r)))
            .collect();
        if seg_lo <= ack {
            // In order: no SACK unless data is still held above.
            continue;
        }
        // Out of order: SACK with the block holding this segment first.
        assert_eq!(
            &f.options[..4],
            &[
                tcp_option::NOP,
                tcp_option::NOP,
                tcp_option::SACK,
                (2 + 8 * blocks.len()) as u8
            ]
        );
        assert!((1..=3).contains(&blocks.len()), "{blocks:?}");
        assert!(blocks[0].0 <= seg_lo && seg_hi <= blocks[0].1, "{blocks:?}");
        for (i, &(l, r)) in blocks.iter().enumerate() {
            assert!(ack < l && l < r && r <= MB, "{blocks:?} ack {ack}");
            assert!(l.is_multiple_of(1448) && (r.is_multiple_of(1448) || r == MB));
            for &(l2, r2) in &blocks[i + 1..] {
                assert!(r < l2 || r2 < l, "disjoint, not adjacent: {blocks:?}");
            }
        }
        with_blocks += 1;
        most = most.max(blocks.len());
    }
    assert_eq!(with_blocks, pair.receiver.stats().out_of_order_segments);
    assert_eq!(most, 3);

    // Without SACK nothing carries options.
    let (_, _, wire) = run_dropping(&sc, false, every_other_of_round_6);
    assert!(
        wire.to_server
            .iter()
            .all(|a| parse_tcp_frame(a).unwrap().options.is_empty())
    );
}
