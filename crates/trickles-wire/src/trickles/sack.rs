//! SACK proofs (docs/protocol.md §6; paper §2.2).
//!
//! A proof is a list of received ranges of response packet numbers, each
//! with the XOR of the nonces of every packet in the range. With
//! `p_x = r_x ^ r_{x+1}` the XOR over `[m, n]` telescopes to
//! `r_m ^ r_{n+1}`, which the server checks with two block-cipher calls.
//! Ranges of original transmissions and of retransmissions are listed
//! separately because their nonces come from different keys.

use super::list::{List, WireItem};
use crate::types::PacketNumber;

/// Encoded length of one block.
pub const BLOCK_LEN: usize = 12;
/// Encoded length of the section header.
pub const HEADER_LEN: usize = 4;
/// Most blocks (original + retransmission) one proof may carry.
pub const MAX_BLOCKS: usize = 32;

/// One received range `[start, end]` (inclusive) and its proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SackBlock {
    /// First packet number of the range.
    pub start: PacketNumber,
    /// Last packet number of the range (inclusive).
    pub end: PacketNumber,
    /// XOR of the nonces of every packet in the range.
    pub proof: u32,
}

impl<'a> WireItem<'a> for SackBlock {
    fn decode(buf: &'a [u8]) -> crate::Result<(Self, usize)> {
        let b = buf.get(..BLOCK_LEN).ok_or(crate::Error::Truncated)?;
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let block = SackBlock {
            start: PacketNumber(word(0)),
            end: PacketNumber(word(4)),
            proof: word(8),
        };
        if block.end < block.start {
            return Err(crate::Error::BadLength);
        }
        Ok((block, BLOCK_LEN))
    }

    fn encoded_len(&self) -> usize {
        BLOCK_LEN
    }

    fn encode(&self, buf: &mut [u8]) {
        buf[0..4].copy_from_slice(&self.start.0.to_be_bytes());
        buf[4..8].copy_from_slice(&self.end.0.to_be_bytes());
        buf[8..12].copy_from_slice(&self.proof.to_be_bytes());
    }
}

/// A SACK proof section: ranges of original transmissions, then ranges of
/// retransmissions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SackProof<'a> {
    /// Received ranges of original transmissions, ascending.
    pub original: List<'a, SackBlock>,
    /// Received ranges of retransmissions, ascending.
    pub retransmitted: List<'a, SackBlock>,
}

impl<'a> SackProof<'a> {
    /// A proof with no ranges.
    pub const fn empty() -> SackProof<'a> {
        SackProof {
            original: List::Items(&[]),
            retransmitted: List::Items(&[]),
        }
    }

    /// Parse a section; returns it and the bytes it spans. Blocks within
    /// each list must be ascending and disjoint.
    pub fn parse(buf: &'a [u8]) -> crate::Result<(SackProof<'a>, usize)> {
        let h = buf.get(..HEADER_LEN).ok_or(crate::Error::Truncated)?;
        let (n_orig, n_retx) = (usize::from(h[0]), usize::from(h[1]));
        if h[2] != 0 || h[3] != 0 {
            return Err(crate::Error::Reserved);
        }
        if n_orig + n_retx > MAX_BLOCKS {
            return Err(crate::Error::TooMany);
        }
        let rest = &buf[HEADER_LEN..];
        let (original, a) = List::parse(rest, n_orig)?;
        let (retransmitted, b) = List::parse(&rest[a..], n_retx)?;
        let proof = SackProof {
            original,
            retransmitted,
        };
        if !ascending(&proof.original) || !ascending(&proof.retransmitted) {
            return Err(crate::Error::BadLength);
        }
        Ok((proof, HEADER_LEN + a + b))
    }

    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.original.encoded_len() + self.retransmitted.encoded_len()
    }

    /// Emit into `buf`; returns bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> crate::Result<usize> {
        let (n_orig, n_retx) = (self.original.len(), self.retransmitted.len());
        if n_orig + n_retx > MAX_BLOCKS {
            return Err(crate::Error::TooMany);
        }
        if !ascending(&self.original) || !ascending(&self.retransmitted) {
            return Err(crate::Error::BadLength);
        }
        let h = buf
            .get_mut(..HEADER_LEN)
            .ok_or(crate::Error::BufferTooSmall)?;
        h.copy_from_slice(&[n_orig as u8, n_retx as u8, 0, 0]);
        let mut at = HEADER_LEN;
        at += self.original.emit(&mut buf[at..])?;
        at += self.retransmitted.emit(&mut buf[at..])?;
        Ok(at)
    }
}

/// Blocks are well formed, strictly ascending and do not overlap or touch
/// (touching ranges must be merged into one).
fn ascending(list: &List<'_, SackBlock>) -> bool {
    let mut prev: Option<SackBlock> = None;
    for b in list.iter() {
        if b.end < b.start {
            return false;
        }
        if let Some(p) = prev {
            // `p.end + 1 < b.start`, written without overflow.
            if b.start.0 <= p.end.0 || b.start.0 - p.end.0 < 2 {
                return false;
            }
        }
        prev = Some(b);
    }
    true
}
