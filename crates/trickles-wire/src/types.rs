//! Protocol number newtypes.
//!
//! Packet numbers and TCP sequence numbers are different things: a Trickles
//! packet number counts response slots from 1 and never wraps within a
//! connection (docs/protocol.md §"Limits"), while a TCP sequence number is a
//! byte offset modulo 2^32 compared with serial-number arithmetic (RFC 1982,
//! RFC 9293 §3.4).

use core::cmp::Ordering;
use core::fmt;

/// Number of a response packet (slot) in a Trickles connection. The answer
/// to the SYN starts at 1; 0 is never a valid slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PacketNumber(pub u32);

impl PacketNumber {
    /// The packet `n` slots later, or `None` past the connection limit.
    pub const fn checked_add(self, n: u32) -> Option<PacketNumber> {
        match self.0.checked_add(n) {
            Some(v) => Some(PacketNumber(v)),
            None => None,
        }
    }
}

impl fmt::Display for PacketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Connection identifier chosen by the server when it answers a SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Key epoch: which generation of the server (or application) key sealed a
/// continuation. Epochs wrap; only "equal" matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeyEpoch(pub u8);

/// A TCP sequence number (RFC 9293 §3.4): compared modulo 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self + n` modulo 2^32.
    pub const fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// Signed distance from `other` to `self` (positive when `self` is later).
    pub const fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_numbers_compare_across_wrap() {
        let a = SeqNumber(u32::MAX - 5);
        let b = a.add(10);
        assert_eq!(b.0, 4);
        assert!(b > a);
        assert!(a < b);
        assert_eq!(b.diff(a), 10);
    }

    #[test]
    fn packet_numbers_do_not_wrap() {
        assert_eq!(PacketNumber(u32::MAX).checked_add(1), None);
        assert_eq!(PacketNumber(1).checked_add(2), Some(PacketNumber(3)));
    }
}
