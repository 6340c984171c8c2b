//! SACK proofs: what a client builds from the packets it received
//! verifies; no proof covering a packet it did not receive does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use trickles_core::crypto::sack::{AccumulateError, Recorded};
use trickles_core::crypto::{
    MasterKey, SackAccumulator, SackError, ServerKeys, packet_nonce, verify_sack,
};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::{MAX_BLOCKS, SackBlock, SackProof};
use trickles_wire::{ConnId, KeyEpoch, PacketNumber};

/// A window of `received.len()` response packets starting at `base`, some
/// of them received.
#[derive(Debug, Clone)]
struct Window {
    master: [u8; 16],
    conn: u64,
    base: u32,
    received: Vec<bool>,
}

impl Window {
    fn keys(&self) -> ServerKeys {
        ServerKeys::from_master(KeyEpoch(1), &MasterKey::new(self.master))
    }

    fn packets(&self) -> impl Iterator<Item = (u32, bool)> + '_ {
        self.received
            .iter()
            .enumerate()
            .map(|(i, &r)| (self.base + i as u32, r))
    }

    /// Maximal runs of received packets.
    fn runs(&self) -> Vec<(u32, u32)> {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for (x, r) in self.packets() {
            if !r {
                continue;
            }
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == x => *end = x,
                _ => runs.push((x, x)),
            }
        }
        runs
    }
}

fn arb_window() -> impl Strategy<Value = Window> {
    (
        any::<[u8; 16]>(),
        any::<u64>(),
        vec(prop::bool::weighted(0.85), 1..200),
        // Low packet numbers, and windows ending at u32::MAX.
        prop_oneof![1u32..1000, Just(u32::MAX)],
    )
        .prop_map(|(master, conn, received, base)| {
            let base = if base == u32::MAX {
                u32::MAX - (received.len() as u32 - 1)
            } else {
                base
            };
            Window {
                master,
                conn,
                base,
                received,
            }
        })
}

fn nonce(keys: &ServerKeys, conn: u64, x: u32, retx: bool) -> u32 {
    packet_nonce(keys, ConnId(conn), PacketNumber(x), retx)
}

fn proof<'a>(original: &'a [SackBlock], retransmitted: &'a [SackBlock]) -> SackProof<'a> {
    SackProof {
        original: List::Items(original),
        retransmitted: List::Items(retransmitted),
    }
}

fn block(m: u32, n: u32, proof: u32) -> SackBlock {
    SackBlock {
        start: PacketNumber(m),
        end: PacketNumber(n),
        proof,
    }
}

proptest! {
    /// Received in order: the ranges are exactly the maximal runs, the proof
    /// verifies, survives the wire format, and only running out of ranges
    /// is an error.
    #[test]
    fn in_order_proofs_verify(w in arb_window()) {
        let keys = w.keys();
        let mut acc = SackAccumulator::new();
        let runs = w.runs();
        let mut full = false;
        for (x, r) in w.packets() {
            if !r {
                continue;
            }
            match acc.record(PacketNumber(x), nonce(&keys, w.conn, x, false), false) {
                Ok(Recorded::New) => {}
                Ok(Recorded::Duplicate) => prop_assert!(false, "duplicate"),
                Err(AccumulateError::Full) => full = true,
                Err(e) => prop_assert!(false, "{}", e),
            }
        }
        prop_assert_eq!(full, runs.len() > MAX_BLOCKS);
        let got: Vec<(u32, u32)> = acc.original().iter().map(|b| (b.start.0, b.end.0)).collect();
        if !full {
            prop_assert_eq!(&got, &runs);
        } else {
            prop_assert_eq!(&got[..], &runs[..MAX_BLOCKS]);
        }
        prop_assert_eq!(verify_sack(&keys, ConnId(w.conn), &acc.proof()), Ok(()));

        // Through the wire format (whose parser rejects touching ranges).
        let mut buf = [0u8; 4 + 12 * MAX_BLOCKS];
        let len = acc.proof().emit(&mut buf).unwrap();
        let (parsed, used) = SackProof::parse(&buf[..len]).unwrap();
        prop_assert_eq!(used, len);
        prop_assert_eq!(parsed, acc.proof());
        prop_assert_eq!(verify_sack(&keys, ConnId(w.conn), &parsed), Ok(()));
    }

    /// Received out of order and twice (plus retransmissions of some lost
    /// packets): whatever was recorded verifies; if nothing overflowed, the
    /// ranges are the maximal runs.
    #[test]
    fn shuffled_duplicated_proofs_verify(
        (w, order, retx) in arb_window().prop_flat_map(|w| {
            let got: Vec<u32> = w.packets().filter(|p| p.1).map(|p| p.0).collect();
            let lost: Vec<u32> = w.packets().filter(|p| !p.1).map(|p| p.0).collect();
            let twice = [got.clone(), got].concat();
            (Just(w), Just(twice).prop_shuffle(), proptest::sample::subsequence(lost.clone(), 0..=lost.len()))
        }),
    ) {
        let keys = w.keys();
        let mut acc = SackAccumulator::new();
        let mut full = false;
        for &x in &order {
            match acc.record(PacketNumber(x), nonce(&keys, w.conn, x, false), false) {
                Ok(_) => {}
                Err(AccumulateError::Full) => full = true,
                Err(e) => prop_assert!(false, "{}", e),
            }
        }
        for &x in &retx {
            if let Err(e) = acc.record(PacketNumber(x), nonce(&keys, w.conn, x, true), true) {
                prop_assert_eq!(e, AccumulateError::Full);
                full = true;
            }
        }
        prop_assert!(acc.len() <= MAX_BLOCKS);
        prop_assert_eq!(verify_sack(&keys, ConnId(w.conn), &acc.proof()), Ok(()));
        if !full {
            let got: Vec<(u32, u32)> = acc.original().iter().map(|b| (b.start.0, b.end.0)).collect();
            prop_assert_eq!(got, w.runs());
        }
    }

    /// A range covering a packet the client did not receive fails, whatever
    /// combination of the nonces the client holds (originals it received,
    /// retransmissions of what it lost) it XORs into the proof.
    #[test]
    fn claiming_a_lost_packet_fails(
        (w, lost, m, n) in arb_window()
            .prop_filter("something lost", |w| w.received.iter().any(|r| !r))
            .prop_flat_map(|w| {
                let lost: Vec<u32> = w.packets().filter(|p| !p.1).map(|p| p.0).collect();
                let last = w.base + (w.received.len() as u32 - 1);
                (Just(w.clone()), proptest::sample::select(lost))
                    .prop_flat_map(move |(w, d)| (Just(w.clone()), Just(d), w.base..=d, d..=last))
            }),
        retx_got in vec(any::<bool>(), 200),
        extra in vec(any::<bool>(), 400),
    ) {
        let keys = w.keys();
        let conn = w.conn;
        // Everything the client knows.
        let mut known: Vec<u32> = Vec::new();
        let mut honest = 0u32;      // XOR of received originals in [m, n]
        let mut substituted = 0u32; // ... with retransmission nonces in the holes
        for (i, (x, r)) in w.packets().enumerate() {
            if r {
                let p = nonce(&keys, conn, x, false);
                known.push(p);
                if (m..=n).contains(&x) {
                    honest ^= p;
                    substituted ^= p;
                }
            } else if retx_got[i] || x == lost {
                let p = nonce(&keys, conn, x, true);
                known.push(p);
                if (m..=n).contains(&x) {
                    substituted ^= p;
                }
            }
        }
        let subset = known
            .iter()
            .zip(&extra)
            .filter(|(_, take)| **take)
            .fold(0, |acc, (p, _)| acc ^ p);
        let mut candidates = vec![honest, substituted, subset, honest ^ subset, 0];
        candidates.extend(known.iter().map(|p| honest ^ p));
        for claim in candidates {
            let forged = [block(m, n, claim)];
            prop_assert_eq!(
                verify_sack(&keys, ConnId(conn), &proof(&forged, &[])),
                Err(SackError::BadProof),
                "claim {:#x} over [{}, {}] lost {}", claim, m, n, lost
            );
            // Hidden among the client's genuine ranges, it still fails.
            let mut acc = SackAccumulator::new();
            for (x, r) in w.packets().filter(|&(x, _)| x < m) {
                if r {
                    let _ = acc.record(PacketNumber(x), nonce(&keys, conn, x, false), false);
                }
            }
            let mut blocks: Vec<SackBlock> = acc
                .original()
                .iter()
                .copied()
                .filter(|b| u64::from(b.end.0) + 1 < u64::from(m))
                .collect();
            if blocks.len() < MAX_BLOCKS {
                blocks.push(forged[0]);
                prop_assert_eq!(
                    verify_sack(&keys, ConnId(conn), &proof(&blocks, &[])),
                    Err(SackError::BadProof)
                );
            }
        }
    }

    /// Retransmission nonces prove only retransmission ranges, and
    /// original nonces only original ranges.
    #[test]
    fn retransmissions_use_their_own_key(
        master in any::<[u8; 16]>(),
        conn in any::<u64>(),
        x in 1u32..,
        len in 0u32..50,
    ) {
        let keys = ServerKeys::from_master(KeyEpoch(3), &MasterKey::new(master));
        let n = x.saturating_add(len);
        let fold = |retx| (x..=n).fold(0, |a, y| a ^ nonce(&keys, conn, y, retx));
        let (orig, retx) = ([block(x, n, fold(false))], [block(x, n, fold(true))]);
        prop_assert_eq!(verify_sack(&keys, ConnId(conn), &proof(&orig, &[])), Ok(()));
        prop_assert_eq!(verify_sack(&keys, ConnId(conn), &proof(&[], &retx)), Ok(()));
        prop_assert_eq!(verify_sack(&keys, ConnId(conn), &proof(&orig, &retx)), Ok(()));
        prop_assert_eq!(verify_sack(&keys, ConnId(conn), &proof(&retx, &[])), Err(SackError::BadProof));
        prop_assert_eq!(verify_sack(&keys, ConnId(conn), &proof(&[], &orig)), Err(SackError::BadProof));
        // And only for their own connection and key.
        prop_assert_eq!(verify_sack(&keys, ConnId(conn ^ 1), &proof(&orig, &[])), Err(SackError::BadProof));
        let other = ServerKeys::from_master(KeyEpoch(4), &MasterKey::new(master));
        prop_assert_eq!(verify_sack(&other, ConnId(conn), &proof(&orig, &[])), Err(SackError::BadProof));
    }
}

/// The paper's attack: lose packet 5, receive its retransmission, and put
/// the retransmission's nonce where the original's belongs.
#[test]
fn retransmission_cannot_cover_lost_original() {
    let keys = ServerKeys::from_master(KeyEpoch(0), &MasterKey::new([0x5c; 16]));
    let conn = 99;
    let mut honest = SackAccumulator::new();
    let mut cheat = SackAccumulator::new();
    for x in 1..=10 {
        if x == 5 {
            let p = nonce(&keys, conn, x, true);
            honest.record(PacketNumber(x), p, true).unwrap();
            cheat.record(PacketNumber(x), p, false).unwrap();
        } else {
            let p = nonce(&keys, conn, x, false);
            honest.record(PacketNumber(x), p, false).unwrap();
            cheat.record(PacketNumber(x), p, false).unwrap();
        }
    }
    assert_eq!(honest.original().len(), 2);
    assert_eq!(honest.retransmitted().len(), 1);
    assert_eq!(verify_sack(&keys, ConnId(conn), &honest.proof()), Ok(()));
    assert_eq!(cheat.original().len(), 1);
    assert_eq!(
        verify_sack(&keys, ConnId(conn), &cheat.proof()),
        Err(SackError::BadProof)
    );
}

/// All `MAX_BLOCKS` ranges, split between the two lists, verify (several
/// batches per list).
#[test]
fn full_proof_verifies() {
    let keys = ServerKeys::from_master(KeyEpoch(0), &MasterKey::new([1; 16]));
    let conn = 5;
    for split in [0, 1, 8, 9, 16, 31, 32] {
        let mut acc = SackAccumulator::new();
        for i in 0..MAX_BLOCKS as u32 {
            let retx = i >= split;
            let x = 1 + 3 * i;
            for y in [x, x + 1] {
                acc.record(PacketNumber(y), nonce(&keys, conn, y, retx), retx)
                    .unwrap();
            }
        }
        assert_eq!(acc.len(), MAX_BLOCKS);
        assert_eq!(verify_sack(&keys, ConnId(conn), &acc.proof()), Ok(()));
        // Corrupting any one range is caught.
        for i in 0..MAX_BLOCKS {
            let mut o = acc.original().to_vec();
            let mut r = acc.retransmitted().to_vec();
            if i < o.len() {
                o[i].proof ^= 1 << (i % 32);
            } else {
                r[i - o.len()].proof ^= 1 << (i % 32);
            }
            assert_eq!(
                verify_sack(&keys, ConnId(conn), &proof(&o, &r)),
                Err(SackError::BadProof),
                "split {split} range {i}"
            );
        }
    }
}
