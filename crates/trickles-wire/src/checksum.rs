//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! [`Checksum`] accumulates a ones'-complement sum over any number of byte
//! slices (pseudo-header, header, payload) and folds it at the end. The sum
//! is computed in native byte order on 32-bit words into a 64-bit
//! accumulator (RFC 1071 §2(B): the sum is byte-order independent), which is
//! several times faster than summing big-endian 16-bit words and is checked
//! against a plain RFC 1071 implementation in the tests.

use core::net::{Ipv4Addr, Ipv6Addr};

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;

/// A running ones'-complement sum.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checksum {
    /// Sum of 32-bit native-endian words (never overflows for inputs below
    /// 16 GiB).
    acc: u64,
    /// A byte left over from an odd-length slice, waiting for its partner.
    odd: Option<u8>,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Checksum {
        Checksum { acc: 0, odd: None }
    }

    /// Add `data` to the sum, as if concatenated to everything added before.
    pub fn add_bytes(&mut self, mut data: &[u8]) -> &mut Self {
        if let Some(first) = self.odd.take() {
            match data.split_first() {
                Some((&second, rest)) => {
                    self.add_u16(u16::from_be_bytes([first, second]));
                    data = rest;
                }
                None => {
                    self.odd = Some(first);
                    return self;
                }
            }
        }
        let mut words = data.chunks_exact(4);
        let mut acc = 0u64;
        for w in &mut words {
            acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        }
        // Convert the native-endian partial sum to a big-endian 16-bit sum.
        self.acc += u64::from(fold_native(acc));
        let rest = words.remainder();
        let mut pairs = rest.chunks_exact(2);
        for p in &mut pairs {
            self.add_u16(u16::from_be_bytes([p[0], p[1]]));
        }
        if let [last] = pairs.remainder() {
            self.odd = Some(*last);
        }
        self
    }

    /// Add one big-endian 16-bit word.
    pub fn add_u16(&mut self, word: u16) -> &mut Self {
        self.acc += u64::from(word);
        self
    }

    /// Add one 32-bit value as two big-endian 16-bit words.
    pub fn add_u32(&mut self, word: u32) -> &mut Self {
        self.acc += u64::from(word >> 16) + u64::from(word & 0xffff);
        self
    }

    /// The folded 16-bit ones'-complement sum (not yet complemented).
    pub fn sum(&self) -> u16 {
        let mut acc = self.acc;
        if let Some(b) = self.odd {
            acc += u64::from(u16::from_be_bytes([b, 0]));
        }
        fold(acc)
    }

    /// The checksum to write into a header: the complement of the sum.
    pub fn finish(&self) -> u16 {
        !self.sum()
    }
}

/// Fold a 64-bit sum of big-endian 16-bit words to 16 bits with end-around
/// carry.
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Fold a sum of native-endian 32-bit words into a big-endian 16-bit sum.
fn fold_native(acc: u64) -> u16 {
    let folded = fold(acc);
    // On a little-endian machine the folded sum has its bytes swapped
    // (RFC 1071 §2(B)).
    u16::from_be_bytes(folded.to_ne_bytes())
}

/// RFC 1071 checksum of `data` alone.
pub fn checksum(data: &[u8]) -> u16 {
    Checksum::new().add_bytes(data).finish()
}

/// Start a TCP/UDP checksum with the IPv4 pseudo-header (RFC 9293 §3.1).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> Checksum {
    let mut c = Checksum::new();
    c.add_bytes(&src.octets())
        .add_bytes(&dst.octets())
        .add_u16(u16::from(protocol))
        .add_u16(length);
    c
}

/// Start a TCP/UDP checksum with the IPv6 pseudo-header (RFC 8200 §8.1).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> Checksum {
    let mut c = Checksum::new();
    c.add_bytes(&src.octets())
        .add_bytes(&dst.octets())
        .add_u32(length)
        .add_u16(u16::from(next_header));
    c
}

/// Incremental update of a header checksum when one 16-bit word changes
/// from `old` to `new` (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`).
pub fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    let acc = u64::from(!checksum) + u64::from(!old) + u64::from(new);
    !fold(acc)
}

/// Incremental update when a 32-bit field (two words) changes.
pub fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update_u16(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// RFC 1071 §4.1, word by word: the reference implementation.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [b] = chunks.remainder() {
            sum += u32::from(*b) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(Checksum::new().add_bytes(&data).sum(), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    proptest! {
        #[test]
        fn matches_reference(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            prop_assert_eq!(checksum(&data), reference(&data));
        }

        #[test]
        fn split_anywhere_gives_same_sum(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
        ) {
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
            points.sort_unstable();
            let mut c = Checksum::new();
            let mut at = 0;
            for p in points {
                c.add_bytes(&data[at..p]);
                at = p;
            }
            c.add_bytes(&data[at..]);
            prop_assert_eq!(c.finish(), reference(&data));
        }

        #[test]
        fn incremental_update_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 2..200).prop_filter("even", |d| d.len() % 2 == 0),
            idx in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            let before = checksum(&data);
            let i = idx.index(data.len() / 2) * 2;
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let after = checksum(&data);
            let updated = update_u16(before, old, new);
            // 0x0000 and 0xffff are the two representations of zero.
            prop_assert!(updated == after || (updated ^ after) == 0xffff && (after == 0 || after == 0xffff));
        }
    }
}
