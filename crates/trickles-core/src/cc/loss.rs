//! The server's view of losses, read from a verified SACK proof (paper
//! §2.4–§2.5).
//!
//! A proof lists the ranges of original transmissions the client received.
//! Everything between `floor` (the continuation's `sack_floor`) and the end
//! of the last range that is not covered is a loss the client declared;
//! packets after the last range are not yet reported, and the server
//! assumes (optimistically, paper §2.4) that they arrived. The client keeps
//! the prefix property: once reported lost, a packet stays lost in every
//! later proof of the same incarnation, so every trickle computes the same
//! first loss.

use trickles_wire::PacketNumber;
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::SackBlock;

/// Losses as reported by one request's proof.
#[derive(Debug, Clone, Copy)]
pub struct LossView<'a> {
    ranges: List<'a, SackBlock>,
    floor: u32,
}

impl<'a> LossView<'a> {
    /// View the original-transmission ranges of a verified proof; packets
    /// below `floor` are settled and never count as lost.
    pub fn new(ranges: List<'a, SackBlock>, floor: PacketNumber) -> LossView<'a> {
        LossView {
            ranges,
            floor: floor.0.max(1),
        }
    }

    /// The same proof seen from another floor.
    pub fn with_floor(&self, floor: u32) -> LossView<'a> {
        LossView {
            ranges: self.ranges,
            floor: floor.max(1),
        }
    }

    /// Number of declared losses in `from ..= to`.
    pub fn lost_between(&self, from: u32, to: u32) -> u32 {
        let from = from.max(self.floor);
        let to = to.min(self.reported_end());
        if from > to {
            return 0;
        }
        let received: u32 = self
            .ranges
            .iter()
            .map(|b| {
                let (s, e) = (b.start.0.max(from), b.end.0.min(to));
                if s <= e { e - s + 1 } else { 0 }
            })
            .sum();
        (to - from + 1) - received
    }

    /// The highest received packet in `from ..= to`, if any.
    pub fn last_received_between(&self, from: u32, to: u32) -> Option<u32> {
        self.ranges
            .iter()
            .filter(|b| b.start.0 <= to && b.end.0 >= from)
            .map(|b| b.end.0.min(to))
            .max()
    }

    /// The last packet number the proof reports on (0 if none at or above
    /// the floor).
    pub fn reported_end(&self) -> u32 {
        self.ranges
            .iter()
            .map(|b| b.end.0)
            .filter(|&e| e >= self.floor)
            .max()
            .unwrap_or(0)
    }

    /// True if the proof shows `x` received.
    pub fn received(&self, x: u32) -> bool {
        self.ranges.iter().any(|b| b.start.0 <= x && x <= b.end.0)
    }

    /// True if the proof declares `x` lost: at or above the floor, not
    /// received, and not after the last reported packet.
    pub fn lost(&self, x: u32) -> bool {
        x >= self.floor && x <= self.reported_end() && !self.received(x)
    }

    /// The first declared loss at or before `upto`.
    pub fn first_loss(&self, upto: u32) -> Option<u32> {
        let end = self.reported_end().min(upto);
        let mut next = self.floor;
        for b in self.ranges.iter() {
            if b.end.0 < next {
                continue;
            }
            if b.start.0 > next {
                return (next <= end).then_some(next);
            }
            next = b.end.0.checked_add(1)?;
        }
        // After the last range nothing is reported.
        None
    }

    /// The first packet at or above the floor the client has not received
    /// (a declared loss, or the first packet after everything reported).
    pub fn first_missing(&self) -> u32 {
        self.first_loss(u32::MAX)
            .unwrap_or_else(|| self.reported_end().max(self.floor - 1).saturating_add(1))
    }

    /// The maximal run of declared losses that ends just before `k`:
    /// `Some((first, k − 1))` if `k − 1` is lost.
    pub fn lost_run_before(&self, k: u32) -> Option<(u32, u32)> {
        let last = k.checked_sub(1)?;
        if !self.lost(last) {
            return None;
        }
        let mut first = last;
        while first > self.floor && self.lost(first - 1) {
            first -= 1;
        }
        Some((first, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(ranges: &[(u32, u32)], floor: u32) -> (Vec<SackBlock>, u32) {
        let blocks = ranges
            .iter()
            .map(|&(s, e)| SackBlock {
                start: PacketNumber(s),
                end: PacketNumber(e),
                proof: 0,
            })
            .collect();
        (blocks, floor)
    }

    #[test]
    fn reads_losses_between_ranges_only() {
        let (b, floor) = view(&[(1, 4), (7, 9), (12, 12)], 1);
        let v = LossView::new(List::Items(&b), PacketNumber(floor));
        assert_eq!(v.reported_end(), 12);
        assert_eq!(v.first_loss(100), Some(5));
        assert_eq!(v.first_loss(4), None);
        assert!(v.lost(5) && v.lost(6) && v.lost(10) && v.lost(11));
        assert!(!v.lost(13), "after the last range nothing is reported");
        assert_eq!(v.lost_run_before(7), Some((5, 6)));
        assert_eq!(v.lost_run_before(12), Some((10, 11)));
        assert_eq!(v.lost_run_before(9), None);
        assert_eq!(v.first_missing(), 5);
    }

    #[test]
    fn floor_settles_older_losses() {
        let (b, _) = view(&[(1, 4), (7, 9), (12, 14)], 0);
        let v = LossView::new(List::Items(&b), PacketNumber(8));
        assert_eq!(v.first_loss(100), Some(10));
        assert!(!v.lost(5));
        let v = LossView::new(List::Items(&b), PacketNumber(5));
        assert_eq!(v.first_loss(100), Some(5));
        // A range that starts after the floor: the gap before it is lost.
        let (b, _) = view(&[(3, 4)], 0);
        let v = LossView::new(List::Items(&b), PacketNumber(1));
        assert_eq!(v.first_loss(10), Some(1));
        assert_eq!(v.lost_run_before(3), Some((1, 2)));
    }

    #[test]
    fn counts_losses_in_a_window() {
        let (b, floor) = view(&[(1, 4), (7, 9), (12, 12)], 1);
        let v = LossView::new(List::Items(&b), PacketNumber(floor));
        assert_eq!(v.lost_between(1, 12), 4);
        assert_eq!(v.lost_between(5, 6), 2);
        assert_eq!(v.lost_between(7, 9), 0);
        assert_eq!(v.lost_between(10, 100), 2, "nothing after 12 is reported");
        assert_eq!(v.with_floor(6).lost_between(1, 12), 3);
        assert_eq!(v.last_received_between(5, 11), Some(9));
        assert_eq!(v.last_received_between(5, 6), None);
    }

    #[test]
    fn empty_proof_reports_nothing() {
        let v = LossView::new(List::empty(), PacketNumber(1));
        assert_eq!(v.first_loss(u32::MAX), None);
        assert_eq!(v.first_missing(), 1);
        assert_eq!(v.lost_run_before(5), None);
        let (b, _) = view(&[(1, 9)], 0);
        let v = LossView::new(List::Items(&b), PacketNumber(1));
        assert_eq!(v.first_missing(), 10);
    }
}
