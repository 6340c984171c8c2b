//! The real Trickles engines in the simulator (issue 3): transfers arrive
//! intact under loss, reordering and duplication in both directions, the
//! server's memory is the same before and after, and a loss-free transfer
//! keeps pace with the Reno reference.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use trickles_sim::scenario::{RenoPair, TransferScenario, run_transfer};
use trickles_sim::trickles_pair::TricklesPair;

const MB: u64 = 1_000_000;

fn scenario(size: u64) -> TransferScenario {
    TransferScenario::new(size, 100_000_000, Duration::from_millis(20))
}

#[test]
fn intact_under_loss_reordering_and_duplication() {
    for loss in [0.0, 0.01, 0.05] {
        for seed in 1..=3 {
            let mut sc = scenario(MB);
            sc.loss = loss;
            sc.reorder = 0.02;
            sc.duplicate = 0.02;
            let mut pair = TricklesPair::new(&sc, seed);
            let r = run_transfer(&sc, seed, &mut pair, None).unwrap();
            assert!(!r.stalled, "loss {loss} seed {seed}: stalled {r:?}");
            assert!(r.bytes_ok, "loss {loss} seed {seed}: bytes differ {r:?}");
            let s = pair.server_stats();
            assert_eq!(s.drops(trickles_core::server::DropReason::BadMac), 0);
            assert_eq!(s.drops(trickles_core::server::DropReason::BadSackProof), 0);
        }
    }
}

#[test]
fn server_memory_is_the_same_after_a_transfer() {
    let sc = scenario(MB);
    let mut pair = TricklesPair::new(&sc, 5);
    let before = pair.server.server.memory_bytes();
    let r = run_transfer(&sc, 5, &mut pair, None).unwrap();
    assert!(r.bytes_ok);
    assert_eq!(pair.server.server.memory_bytes(), before);
    assert!(pair.server_stats().slots_sent > 700);
}

#[test]
fn lossless_transfer_keeps_pace_with_reno() {
    // A queue large enough that slow start never overflows it: both
    // protocols are limited by the link and the handshake only.
    let mut sc = scenario(4 * MB);
    sc.queue_bytes = Some(16 << 20);
    let ratio = trickles_over_reno(&sc);
    assert!((0.9..1.25).contains(&ratio), "trickles/reno = {ratio}");
}

/// Trickles' goodput over Reno's for `sc`, seed 1, both intact.
fn trickles_over_reno(sc: &TransferScenario) -> f64 {
    let mut t = TricklesPair::new(sc, 1);
    let mut r = RenoPair::new(sc, 1, Default::default());
    let tr = run_transfer(sc, 1, &mut t, None).unwrap();
    let rr = run_transfer(sc, 1, &mut r, None).unwrap();
    assert!(tr.bytes_ok && rr.bytes_ok, "{tr:?} {rr:?}");
    tr.goodput_mbps.unwrap() / rr.goodput_mbps.unwrap()
}

#[test]
fn the_zero_loss_bar_holds_through_a_one_bdp_queue() {
    // Issue 3's bar at 0% loss (deterministic: no random impairment):
    // 10 MB through 100 Mb/s, 20 ms and a one-BDP drop-tail queue, where
    // slow start overshoots for both protocols. The compact response
    // continuation (protocol.md §5.1) is what keeps Trickles above 0.9.
    let ratio = trickles_over_reno(&scenario(10 * MB));
    assert!((0.9..1.1).contains(&ratio), "trickles/reno = {ratio}");
}

#[test]
fn loss_free_rounds_carry_exactly_renos_window() {
    // No loss, a queue that never fills: the packets sent per round of
    // round trips are Reno's window, round by round (paper §2.5).
    let mut sc = scenario(2 * MB);
    sc.queue_bytes = Some(64 << 20);
    let mut t = TricklesPair::new(&sc, 1);
    let mut r = RenoPair::new(&sc, 1, Default::default());
    assert!(run_transfer(&sc, 1, &mut t, None).unwrap().bytes_ok);
    assert!(run_transfer(&sc, 1, &mut r, None).unwrap().bytes_ok);
    let ours = t.server.slots_per_round();
    let reno = r.sender.segments_per_round();
    // Compare the rounds before the last (which ends with the data).
    let n = ours.len().min(reno.len()) - 1;
    assert!(n >= 8, "{ours:?} {reno:?}");
    assert_eq!(ours[..n], reno[..n], "trickles {ours:?}\nreno {reno:?}");
}

#[test]
fn attack_frames_are_all_refused_and_the_transfer_survives() {
    use trickles_core::server::DropReason;
    use trickles_sim::attack::AttackPair;
    let sc = scenario(MB);
    for seed in 1..=2 {
        let mut pair = AttackPair::new(&sc, seed);
        let r = run_transfer(&sc, seed, &mut pair, None).unwrap();
        assert!(r.bytes_ok && !r.stalled, "{r:?}");
        let sent = pair.sent();
        assert!(
            sent.forged > 50 && sent.stolen > 50 && sent.replayed > 50 && sent.loss_hiding > 50,
            "{sent:?}"
        );
        assert_eq!(pair.forged_accepted(), 0);
        let drops = pair.dropped_by_reason();
        let n = |r: DropReason| drops.get(r.as_str()).and_then(|v| v.as_u64()).unwrap_or(0);
        assert_eq!(
            n(DropReason::BadMac),
            sent.forged + sent.stolen,
            "{drops:?}"
        );
        assert_eq!(n(DropReason::Replayed), sent.replayed, "{drops:?}");
        assert_eq!(n(DropReason::BadSackProof), sent.loss_hiding, "{drops:?}");
    }
}

#[test]
fn shares_a_bottleneck_fairly_with_reno() {
    // Paper Fig. 13 in small: one Trickles flow and 4 Reno flows through
    // one 100 Mb/s, 20 ms bottleneck for 10 simulated seconds.
    let r = trickles_sim::friendliness::run(
        4,
        100_000_000,
        Duration::from_millis(20),
        Duration::from_secs(10),
        1,
    );
    assert!(r.jain_index >= 0.9, "{r:?}");
    assert!(r.trickles_mbps > 0.3 * r.fair_share_mbps, "{r:?}");
    let total: f64 = r.trickles_mbps + r.reno_mbps.iter().sum::<f64>();
    assert!(total > 80.0 && total <= 100.0, "{r:?}");
}

#[test]
fn requests_longer_than_a_packet_are_read_through_input_continuations() {
    // A 5000-byte request body: the SYN carries the first part, the server
    // asks for the rest with input continuations (paper §4.2), and the
    // output depends on every byte of it. Also under loss.
    use trickles_sim::trickles_pair::stream_request_with_body;
    for (loss, seed) in [(0.0, 1), (0.03, 2), (0.03, 3), (0.1, 4)] {
        let mut sc = scenario(200_000);
        sc.loss = loss;
        let body: Vec<u8> = (0..5000u32).map(|i| (i * 7 + seed) as u8).collect();
        let (request, stream_seed) = stream_request_with_body(sc.size, seed as u64, &body);
        let mut pair = TricklesPair::with_request(sc.flow(), sc.size, stream_seed, &request);
        let r = run_transfer(&sc, seed as u64, &mut pair, None).unwrap();
        assert!(r.bytes_ok && !r.stalled, "loss {loss}: {r:?}");
        let s = pair.server_stats();
        assert!(s.input_requests >= 3, "{s:?}");
        assert_eq!(pair.client.client.request_consumed(), request.len() as u64);
    }
    // A changed body byte changes the output: the server read it.
    let body = vec![1u8; 5000];
    let mut other = body.clone();
    other[4999] = 2;
    let a = stream_request_with_body(1000, 9, &body).1;
    let b = stream_request_with_body(1000, 9, &other).1;
    assert_ne!(a, b);
}
