//! Slot geometry: which stream bytes response slot `n` carries
//! (docs/protocol.md §12).
//!
//! Any replica computes it from the continuation alone, which is what lets
//! a stateless server retransmit and fail over without buffering data.

use trickles_wire::trickles::continuation::Continuation;

/// The geometry fields of a transport continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Geometry {
    /// First slot with stream bytes (0: none yet).
    pub origin_slot: u32,
    /// Stream offset of the first byte of `origin_slot`.
    pub origin_offset: u64,
    /// Number of short slots at the origin.
    pub first_slots: u8,
    /// Length of each short slot.
    pub first_slot_len: u16,
    /// Length of every later slot.
    pub slot_len: u16,
    /// Stream bytes skipped after the first slots.
    pub skip: u32,
}

impl Geometry {
    /// The geometry a continuation carries.
    pub fn of(c: &Continuation) -> Geometry {
        Geometry {
            origin_slot: c.origin_slot.0,
            origin_offset: c.origin_offset,
            first_slots: c.first_slots,
            first_slot_len: c.first_slot_len,
            slot_len: c.slot_len,
            skip: c.skip,
        }
    }

    /// Write the geometry into a continuation.
    pub fn apply(&self, c: &mut Continuation) {
        c.origin_slot = trickles_wire::PacketNumber(self.origin_slot);
        c.origin_offset = self.origin_offset;
        c.first_slots = self.first_slots;
        c.first_slot_len = self.first_slot_len;
        c.slot_len = self.slot_len;
        c.skip = self.skip;
    }

    /// `(offset, len)` of slot `n`; `len` is 0 for slots before the origin.
    pub fn slot(&self, n: u32) -> (u64, u64) {
        if self.origin_slot == 0 || n < self.origin_slot {
            return (self.origin_offset, 0);
        }
        let i = u64::from(n - self.origin_slot);
        let f = u64::from(self.first_slots);
        let (s0, s) = (u64::from(self.first_slot_len), u64::from(self.slot_len));
        if i < f {
            (self.origin_offset + i * s0, s0)
        } else {
            (
                self.origin_offset + f * s0 + u64::from(self.skip) + (i - f) * s,
                s,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_tile_the_stream() {
        let g = Geometry {
            origin_slot: 3,
            origin_offset: 100,
            first_slots: 2,
            first_slot_len: 300,
            slot_len: 1360,
            skip: 0,
        };
        assert_eq!(g.slot(1), (100, 0));
        assert_eq!(g.slot(3), (100, 300));
        assert_eq!(g.slot(4), (400, 300));
        assert_eq!(g.slot(5), (700, 1360));
        assert_eq!(g.slot(6), (2060, 1360));
        let mut end = 100;
        for n in 3..50 {
            let (off, len) = g.slot(n);
            assert_eq!(off, end);
            end += len;
        }
        // A skip jumps over bytes after the first slots.
        let j = Geometry { skip: 5000, ..g };
        assert_eq!(j.slot(4), (400, 300));
        assert_eq!(j.slot(5), (5700, 1360));
        // Round trip through a continuation.
        let mut c = Continuation::default();
        g.apply(&mut c);
        assert_eq!(Geometry::of(&c), g);
    }
}
