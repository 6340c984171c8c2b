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

/// What the client received, and the proofs it has sent.
#[derive(Debug, Default, Clone)]
pub struct ProofStore {
    original: Ranges,
    retransmitted: Ranges,
    reported_end: u32,
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

    /// Build the proof for a request whose continuation has `floor`.
    pub fn build(
        &mut self,
        floor: u32,
        original: &mut Vec<SackBlock>,
        retransmitted: &mut Vec<SackBlock>,
    ) {
        self.original.forget_below(floor);
        self.retransmitted.forget_below(floor);
        let n = self.original.0.len();
        if n > MAX_ORIGINAL {
            // Keep the first and last halves; forget the middle for good.
            let keep_head = MAX_ORIGINAL / 2;
            let drop: Vec<u32> = self
                .original
                .0
                .keys()
                .skip(keep_head)
                .take(n - MAX_ORIGINAL)
                .copied()
                .collect();
            for s in drop {
                self.original.0.remove(&s);
            }
        }
        while self.retransmitted.0.len() > MAX_RETRANSMITTED {
            self.retransmitted.0.pop_first();
        }
        original.clear();
        original.extend(self.original.blocks());
        retransmitted.clear();
        retransmitted.extend(self.retransmitted.blocks());
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
