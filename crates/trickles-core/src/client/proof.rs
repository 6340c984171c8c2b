//! The client's record of what it received, and the SACK proof it sends
//! with each request (paper §2.2, §2.4).
//!
//! Every received original and retransmission is kept as merged ranges
//! with the XOR of their nonces (unbounded: the client is the stateful
//! side). Each request carries at most [`MAX_BLOCKS`] ranges: those at or
//! above the continuation's floor, and if there are too many, the first
//! ones (which fix the first loss every trickle computes) and the last ones
//! (which decide the request's own retransmissions). Ranges dropped from
//! the middle are forgotten for good and so stay "lost" in every later
//! proof: the prefix property. An original at or below the end of a proof
//! already sent that was not in it is declared lost and never added later.

use std::collections::BTreeMap;
use std::vec::Vec;

use trickles_wire::PacketNumber;
use trickles_wire::trickles::sack::{MAX_BLOCKS, SackBlock};

/// Most original ranges in one proof; the rest of [`MAX_BLOCKS`] is for
/// retransmissions.
const MAX_ORIGINAL: usize = MAX_BLOCKS - MAX_RETRANSMITTED;
const MAX_RETRANSMITTED: usize = 8;

/// Merged ranges `start → (end, xor of nonces)`.
#[derive(Debug, Default, Clone)]
struct Ranges(BTreeMap<u32, (u32, u32)>);

impl Ranges {
    fn contains(&self, x: u32) -> bool {
        self.0
            .range(..=x)
            .next_back()
            .is_some_and(|(_, &(e, _))| x <= e)
    }

    fn insert(&mut self, x: u32, nonce: u32) {
        if self.contains(x) {
            return;
        }
        let (mut start, mut end, mut xor) = (x, x, nonce);
        if let Some((&s, &(e, p))) = self.0.range(..x).next_back()
            && e.checked_add(1) == Some(x)
        {
            self.0.remove(&s);
            start = s;
            xor ^= p;
        }
        if let Some(next) = x.checked_add(1)
            && let Some((e, p)) = self.0.remove(&next)
        {
            end = e;
            xor ^= p;
        }
        let _ = end;
        self.0.insert(start, (end.max(x), xor));
    }

    fn forget_below(&mut self, floor: u32) {
        self.0.retain(|_, &mut (e, _)| e >= floor);
    }

    fn blocks(&self) -> impl Iterator<Item = SackBlock> + '_ {
        self.0.iter().map(|(&s, &(e, p))| SackBlock {
            start: PacketNumber(s),
            end: PacketNumber(e),
            proof: p,
        })
    }
}

/// Floors of recent proofs whose ranges are kept: a response delayed by
/// reordering may still carry a continuation of an older piece, whose
/// proof needs the ranges between its floor and a newer one.
const RECENT_FLOORS: usize = 4;

/// What the client received, and the proofs it has sent.
#[derive(Debug, Default, Clone)]
pub struct ProofStore {
    original: Ranges,
    retransmitted: Ranges,
    reported_end: u32,
    /// The floors of the last proofs built (0: none), oldest first.
    floors: [u32; RECENT_FLOORS],
}

impl ProofStore {
    /// Record a received packet and its nonce.
    pub fn record(&mut self, x: u32, nonce: u32, retransmission: bool) {
        if x == 0 {
            return;
        }
        if retransmission {
            self.retransmitted.insert(x, nonce);
        } else if x > self.reported_end || self.original.contains(x) {
            self.original.insert(x, nonce);
        }
        // Otherwise: reported lost before, stays lost.
    }

    /// True if packet `x` (an original, or a retransmission) was recorded
    /// and is still remembered.
    pub fn has(&self, x: u32, retransmission: bool) -> bool {
        if retransmission {
            self.retransmitted.contains(x)
        } else {
            self.original.contains(x)
        }
    }

    /// True if original `x` was declared lost by a proof already sent
    /// (it is at or below the end of one and was not in it).
    pub fn declared_lost(&self, x: u32) -> bool {
        x <= self.reported_end && !self.original.contains(x)
    }

    /// The highest original packet received (0: none).
    pub fn highest_original(&self) -> u32 {
        self.original.0.values().next_back().map_or(0, |&(e, _)| e)
    }

    /// True if an original above the end of every proof sent so far is
    /// missing below the highest one received: the next proof would
    /// declare it lost.
    pub fn has_unreported_hole(&self) -> bool {
        let highest = self.highest_original();
        if highest <= self.reported_end {
            return false;
        }
        let first = self.reported_end + 1;
        match self.original.0.range(..=first).next_back() {
            Some((_, &(e, _))) if e >= first => e < highest,
            _ => true,
        }
    }

    /// Build the proof for a request whose continuation has `floor`.
    pub fn build(
        &mut self,
        floor: u32,
        original: &mut Vec<SackBlock>,
        retransmitted: &mut Vec<SackBlock>,
    ) {
        // Ranges below the floor are settled for this continuation, but a
        // late continuation of an older piece may still need them: forget
        // only what lies below every recent floor.
        if !self.floors.contains(&floor) {
            self.floors.rotate_left(1);
            self.floors[RECENT_FLOORS - 1] = floor;
        }
        let keep_from = self
            .floors
            .iter()
            .copied()
            .filter(|&f| f > 0)
            .min()
            .unwrap_or(floor);
        self.original.forget_below(keep_from);
        self.retransmitted.forget_below(keep_from);
        let above = |r: &Ranges| r.0.iter().filter(|&(_, &(e, _))| e >= floor).count();
        let n = above(&self.original);
        if n > MAX_ORIGINAL {
            // Keep the first and last halves; forget the middle for good.
            let keep_head = MAX_ORIGINAL / 2;
            let drop: Vec<u32> = self
                .original
                .0
                .iter()
                .filter(|&(_, &(e, _))| e >= floor)
                .map(|(&s, _)| s)
                .skip(keep_head)
                .take(n - MAX_ORIGINAL)
                .collect();
            for s in drop {
                self.original.0.remove(&s);
            }
        }
        let m = above(&self.retransmitted);
        if m > MAX_RETRANSMITTED {
            let drop: Vec<u32> = self
                .retransmitted
                .0
                .iter()
                .filter(|&(_, &(e, _))| e >= floor)
                .map(|(&s, _)| s)
                .take(m - MAX_RETRANSMITTED)
                .collect();
            for s in drop {
                self.retransmitted.0.remove(&s);
            }
        }
        original.clear();
        original.extend(self.original.blocks().filter(|b| b.end.0 >= floor));
        retransmitted.clear();
        retransmitted.extend(self.retransmitted.blocks().filter(|b| b.end.0 >= floor));
        if let Some(last) = original.last() {
            self.reported_end = self.reported_end.max(last.end.0);
        }
    }

    /// Forget everything (a new incarnation starts).
    pub fn clear(&mut self) {
        *self = ProofStore::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(s: &mut ProofStore, floor: u32) -> Vec<(u32, u32, u32)> {
        let (mut o, mut r) = (Vec::new(), Vec::new());
        s.build(floor, &mut o, &mut r);
        o.iter().map(|b| (b.start.0, b.end.0, b.proof)).collect()
    }

    #[test]
    fn a_hole_is_unreported_until_a_proof_covers_it() {
        let mut s = ProofStore::default();
        s.record(1, 1, false);
        assert!(!s.has_unreported_hole());
        s.record(3, 3, false);
        assert!(s.has_unreported_hole());
        assert_eq!(s.highest_original(), 3);
        // Filled by a late original: no hole.
        s.record(2, 2, false);
        assert!(!s.has_unreported_hole());
        build(&mut s, 1);
        s.record(5, 5, false);
        assert!(s.has_unreported_hole());
        // Once a proof declares 4 lost, nothing is unreported.
        build(&mut s, 1);
        assert!(!s.has_unreported_hole());
        s.record(6, 6, false);
        assert!(!s.has_unreported_hole());
        // A retransmission does not count as an original.
        s.record(8, 8, true);
        assert!(!s.has_unreported_hole());
    }

    #[test]
    fn merges_in_any_order_and_xors_nonces() {
        let mut s = ProofStore::default();
        for (x, n) in [(3, 0b100), (1, 0b001), (2, 0b010), (7, 0b1000)] {
            s.record(x, n, false);
        }
        assert_eq!(build(&mut s, 1), [(1, 3, 0b111), (7, 7, 0b1000)]);
    }

    #[test]
    fn reported_losses_stay_lost() {
        let mut s = ProofStore::default();
        s.record(1, 1, false);
        s.record(3, 3, false);
        assert_eq!(build(&mut s, 1), [(1, 1, 1), (3, 3, 3)]);
        // 2 arrives late: it was reported lost.
        s.record(2, 2, false);
        assert_eq!(build(&mut s, 1), [(1, 1, 1), (3, 3, 3)]);
        // 4 is after everything reported: fine.
        s.record(4, 4, false);
        assert_eq!(build(&mut s, 1), [(1, 1, 1), (3, 4, 7)]);
    }

    #[test]
    fn too_many_ranges_keep_the_first_and_last() {
        let mut s = ProofStore::default();
        for x in (1..200).step_by(2) {
            s.record(x, x, false);
        }
        let b = build(&mut s, 1);
        assert_eq!(b.len(), MAX_ORIGINAL);
        assert_eq!(b[0].0, 1);
        assert_eq!(
            b[MAX_ORIGINAL / 2 - 1].0,
            2 * (MAX_ORIGINAL as u32 / 2 - 1) + 1
        );
        assert_eq!(b.last().unwrap().0, 199);
        // The forgotten middle never comes back.
        let again = build(&mut s, 1);
        assert_eq!(again, b);
    }

    #[test]
    fn a_late_continuation_of_an_older_piece_gets_a_whole_proof() {
        let mut s = ProofStore::default();
        for x in [1, 2, 3, 5, 6, 9, 10] {
            s.record(x, x, false);
        }
        let whole = build(&mut s, 1);
        // A newer piece's floor, then the older one again (reordering).
        assert_eq!(build(&mut s, 8), [(9, 10, 9 ^ 10)]);
        assert_eq!(build(&mut s, 1), whole);
        assert_eq!(
            build(&mut s, 1),
            [(1, 3, 1 ^ 2 ^ 3), (5, 6, 5 ^ 6), (9, 10, 9 ^ 10)]
        );
    }

    #[test]
    fn floor_drops_settled_ranges() {
        let mut s = ProofStore::default();
        for x in [1, 2, 5, 9, 10] {
            s.record(x, 0, false);
        }
        assert_eq!(
            build(&mut s, 6).iter().map(|b| b.0).collect::<Vec<_>>(),
            [9]
        );
    }
}
