//! SACK proofs (paper §2.2, "Maintaining state integrity"; DESIGN.md
//! "Nonces and SACK proofs"; docs/protocol.md §6).
//!
//! The client folds the nonce of every packet it receives into a range
//! `[m, n]` with `proof = p_m ^ ... ^ p_n` ([`SackAccumulator`]); the server
//! checks each range with two AES blocks, `proof == r_m ^ r_{n+1}`
//! ([`verify_sack`]). A client that lost packet `x` never saw `p_x`, and
//! `p_x` is independent of everything else it saw (including the
//! retransmission of `x`, whose nonce comes from another key), so it cannot
//! produce a range across `x`.

use aes::Aes128Enc;
use aes::cipher::BlockCipherEncrypt;
use core::fmt;
use subtle::{Choice, ConstantTimeEq};
#[cfg(doc)]
use trickles_wire::ConnId;
use trickles_wire::PacketNumber;
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::{MAX_BLOCKS, SackBlock, SackProof};

use super::keys::ServerKeys;
use super::nonce::{Block, NonceDomain, nonce_cipher, r_block, r_word};

/// Why the client could not record a packet or write its ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccumulateError {
    /// The packet would start a new range, and the proof already holds
    /// `MAX_BLOCKS` ranges (original and retransmitted together).
    Full,
    /// Packet number 0 is never valid.
    ZeroPacket,
    /// The caller's slice is shorter than the list of ranges.
    BufferTooSmall,
}

impl AccumulateError {
    /// Stable name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            AccumulateError::Full => "sack_full",
            AccumulateError::ZeroPacket => "zero_packet",
            AccumulateError::BufferTooSmall => "buffer_too_small",
        }
    }
}

impl fmt::Display for AccumulateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccumulateError::Full => "SACK proof already holds the most ranges allowed",
            AccumulateError::ZeroPacket => "packet number 0 is invalid",
            AccumulateError::BufferTooSmall => "output slice too small for the ranges",
        })
    }
}

impl std::error::Error for AccumulateError {}

/// What [`SackAccumulator::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recorded {
    /// The packet was new and is now covered.
    New,
    /// The packet was already covered; nothing changed.
    Duplicate,
}

const EMPTY: SackBlock = SackBlock {
    start: PacketNumber(0),
    end: PacketNumber(0),
    proof: 0,
};

/// Ascending, disjoint, non-touching ranges, in place.
#[derive(Debug, Clone)]
struct Ranges {
    blocks: [SackBlock; MAX_BLOCKS],
    len: usize,
}

impl Ranges {
    const fn new() -> Ranges {
        Ranges {
            blocks: [EMPTY; MAX_BLOCKS],
            len: 0,
        }
    }

    fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..self.len]
    }

    /// Add packet `x` with nonce `p`; `room` says whether a new range fits.
    fn record(&mut self, x: u32, p: u32, room: bool) -> Result<Recorded, AccumulateError> {
        let len = self.len;
        let i = self.blocks[..len].partition_point(|b| b.start.0 <= x);
        if i > 0 && self.blocks[i - 1].end.0 >= x {
            return Ok(Recorded::Duplicate);
        }
        let x64 = u64::from(x);
        let joins_prev = i > 0 && u64::from(self.blocks[i - 1].end.0) + 1 == x64;
        let joins_next = i < len && x64 + 1 == u64::from(self.blocks[i].start.0);
        match (joins_prev, joins_next) {
            (true, true) => {
                let next = self.blocks[i];
                let prev = &mut self.blocks[i - 1];
                prev.end = next.end;
                prev.proof ^= p ^ next.proof;
                self.blocks.copy_within(i + 1..len, i);
                self.len -= 1;
            }
            (true, false) => {
                let prev = &mut self.blocks[i - 1];
                prev.end = PacketNumber(x);
                prev.proof ^= p;
            }
            (false, true) => {
                let next = &mut self.blocks[i];
                next.start = PacketNumber(x);
                next.proof ^= p;
            }
            (false, false) => {
                if !room || len == MAX_BLOCKS {
                    return Err(AccumulateError::Full);
                }
                self.blocks.copy_within(i..len, i + 1);
                self.blocks[i] = SackBlock {
                    start: PacketNumber(x),
                    end: PacketNumber(x),
                    proof: p,
                };
                self.len += 1;
            }
        }
        Ok(Recorded::New)
    }

    fn forget_below(&mut self, floor: u32) {
        let drop = self.as_slice().partition_point(|b| b.end.0 < floor);
        self.blocks.copy_within(drop..self.len, 0);
        self.len -= drop;
    }

    fn write(&self, out: &mut [SackBlock]) -> Result<usize, AccumulateError> {
        let src = self.as_slice();
        out.get_mut(..src.len())
            .ok_or(AccumulateError::BufferTooSmall)?
            .copy_from_slice(src);
        Ok(src.len())
    }
}

/// The client's record of received response packets, as SACK ranges.
///
/// Originals and retransmissions are kept apart (their nonces come from
/// different keys) but share the wire's limit of `MAX_BLOCKS` ranges. The
/// ranges are always ascending, disjoint and non-touching, as the wire
/// format requires. Fixed size, no allocation.
#[derive(Debug, Clone)]
pub struct SackAccumulator {
    original: Ranges,
    retransmitted: Ranges,
}

impl Default for SackAccumulator {
    fn default() -> Self {
        SackAccumulator::new()
    }
}

impl SackAccumulator {
    /// No packets received.
    pub const fn new() -> SackAccumulator {
        SackAccumulator {
            original: Ranges::new(),
            retransmitted: Ranges::new(),
        }
    }

    /// Record packet `x`, received with `nonce`. Receiving a packet twice is
    /// harmless (the first nonce is kept). When the packet would need a new
    /// range and none is left, returns [`AccumulateError::Full`] and
    /// changes nothing.
    pub fn record(
        &mut self,
        x: PacketNumber,
        nonce: u32,
        retransmission: bool,
    ) -> Result<Recorded, AccumulateError> {
        if x.0 == 0 {
            return Err(AccumulateError::ZeroPacket);
        }
        let room = self.len() < MAX_BLOCKS;
        let list = if retransmission {
            &mut self.retransmitted
        } else {
            &mut self.original
        };
        list.record(x.0, nonce, room)
    }

    /// Ranges of original transmissions, ascending.
    pub fn original(&self) -> &[SackBlock] {
        self.original.as_slice()
    }

    /// Ranges of retransmissions, ascending.
    pub fn retransmitted(&self) -> &[SackBlock] {
        self.retransmitted.as_slice()
    }

    /// Copy the ranges of original transmissions into `out`; returns how
    /// many were written.
    pub fn write_original(&self, out: &mut [SackBlock]) -> Result<usize, AccumulateError> {
        self.original.write(out)
    }

    /// Copy the ranges of retransmissions into `out`; returns how many were
    /// written.
    pub fn write_retransmitted(&self, out: &mut [SackBlock]) -> Result<usize, AccumulateError> {
        self.retransmitted.write(out)
    }

    /// The ranges as a proof ready to emit (borrows, copies nothing).
    pub fn proof(&self) -> SackProof<'_> {
        SackProof {
            original: List::Items(self.original()),
            retransmitted: List::Items(self.retransmitted()),
        }
    }

    /// Number of ranges, original and retransmitted.
    pub fn len(&self) -> usize {
        self.original.len + self.retransmitted.len
    }

    /// True if no packet has been recorded (or all were forgotten).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop the ranges that end below `floor` (settled: the server's SACK
    /// floor has passed them). A range straddling `floor` is kept whole,
    /// since its proof cannot be split.
    pub fn forget_below(&mut self, floor: PacketNumber) {
        self.original.forget_below(floor.0);
        self.retransmitted.forget_below(floor.0);
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.original.len = 0;
        self.retransmitted.len = 0;
    }
}

/// Why a SACK proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SackError {
    /// More than `MAX_BLOCKS` ranges.
    TooManyBlocks,
    /// A range starts at 0, ends before it starts, or is not strictly above
    /// (and separated from) the previous range of its list.
    Malformed,
    /// Some range's proof is wrong: the client claims a packet it did not
    /// receive (or the proof was corrupted).
    BadProof,
}

impl SackError {
    /// Stable name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            SackError::TooManyBlocks => "sack_too_many_blocks",
            SackError::Malformed => "sack_malformed",
            SackError::BadProof => "sack_bad_proof",
        }
    }
}

impl fmt::Display for SackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SackError::TooManyBlocks => "SACK proof has too many ranges",
            SackError::Malformed => "SACK proof ranges are malformed or out of order",
            SackError::BadProof => "SACK range proof does not verify",
        })
    }
}

impl std::error::Error for SackError {}

/// Ranges verified per `encrypt_blocks` call (two AES blocks each).
///
/// Proofs with up to this many ranges in a list take one call per list.
/// The stack buffer is `2 * VERIFY_BATCH` blocks; 8 ranges = 16 blocks =
/// 256 bytes, which already fills the 8-way pipelined AES-NI/VAES
/// backends twice, while a `MAX_BLOCKS` (32-range) buffer would have to
/// be zeroed (1 KiB) on every call even for a 1-range proof. Raise it to
/// `MAX_BLOCKS` for exactly one call per list whatever the proof.
const VERIFY_BATCH: usize = 8;

/// Check every range of `proof` against the nonces of `domain` (a
/// connection in one incarnation; a bare [`ConnId`] means incarnation 0):
/// original ranges under the nonce key, retransmitted ranges under the
/// retransmit-nonce key. O(1) per range; constant-time in the proof values
/// (every range is checked before answering).
pub fn verify_sack(
    keys: &ServerKeys,
    domain: impl Into<NonceDomain>,
    proof: &SackProof<'_>,
) -> Result<(), SackError> {
    let conn = domain.into();
    if proof.original.len() + proof.retransmitted.len() > MAX_BLOCKS {
        return Err(SackError::TooManyBlocks);
    }
    let ok = verify_list(nonce_cipher(keys, false), conn, &proof.original)?
        & verify_list(nonce_cipher(keys, true), conn, &proof.retransmitted)?;
    if bool::from(ok) {
        Ok(())
    } else {
        Err(SackError::BadProof)
    }
}

fn verify_list(
    cipher: &Aes128Enc,
    conn: NonceDomain,
    list: &List<'_, SackBlock>,
) -> Result<Choice, SackError> {
    let mut ok = Choice::from(1);
    let mut blocks = [Block::default(); 2 * VERIFY_BATCH];
    let mut claimed = [0u32; VERIFY_BATCH];
    let mut n = 0;
    let mut prev_end: Option<u32> = None;
    for b in list.iter() {
        let (start, end) = (b.start.0, b.end.0);
        let separated = prev_end.is_none_or(|p| u64::from(p) + 1 < u64::from(start));
        if start == 0 || end < start || !separated {
            return Err(SackError::Malformed);
        }
        prev_end = Some(end);
        blocks[2 * n] = r_block(conn, u64::from(start));
        blocks[2 * n + 1] = r_block(conn, u64::from(end) + 1);
        claimed[n] = b.proof;
        n += 1;
        if n == VERIFY_BATCH {
            ok &= check_batch(cipher, &mut blocks, &claimed);
            n = 0;
        }
    }
    if n > 0 {
        ok &= check_batch(cipher, &mut blocks[..2 * n], &claimed[..n]);
    }
    Ok(ok)
}

fn check_batch(cipher: &Aes128Enc, blocks: &mut [Block], claimed: &[u32]) -> Choice {
    cipher.encrypt_blocks(blocks);
    let mut ok = Choice::from(1);
    for (pair, want) in blocks.chunks_exact(2).zip(claimed) {
        ok &= (r_word(&pair[0]) ^ r_word(&pair[1])).ct_eq(want);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use trickles_wire::ConnId;

    fn pn(x: u32) -> PacketNumber {
        PacketNumber(x)
    }

    fn ranges(a: &SackAccumulator) -> Vec<(u32, u32, u32)> {
        a.original()
            .iter()
            .map(|b| (b.start.0, b.end.0, b.proof))
            .collect()
    }

    #[test]
    fn merges_and_xors() {
        let mut a = SackAccumulator::new();
        assert_eq!(a.record(pn(5), 0x5, false), Ok(Recorded::New));
        assert_eq!(a.record(pn(7), 0x70, false), Ok(Recorded::New));
        assert_eq!(ranges(&a), [(5, 5, 0x5), (7, 7, 0x70)]);
        assert_eq!(a.record(pn(6), 0x600, false), Ok(Recorded::New));
        assert_eq!(ranges(&a), [(5, 7, 0x675)]);
        assert_eq!(a.record(pn(4), 0x4000, false), Ok(Recorded::New));
        assert_eq!(a.record(pn(8), 0x80000, false), Ok(Recorded::New));
        assert_eq!(ranges(&a), [(4, 8, 0x84675)]);
        assert_eq!(a.record(pn(6), 0xffff, false), Ok(Recorded::Duplicate));
        assert_eq!(ranges(&a), [(4, 8, 0x84675)]);
        assert!(a.retransmitted().is_empty());
        assert_eq!(a.record(pn(6), 1, true), Ok(Recorded::New));
        assert_eq!(a.retransmitted().len(), 1);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn edges() {
        let mut a = SackAccumulator::new();
        assert_eq!(a.record(pn(0), 1, false), Err(AccumulateError::ZeroPacket));
        assert_eq!(a.record(pn(u32::MAX), 1, false), Ok(Recorded::New));
        assert_eq!(a.record(pn(u32::MAX - 1), 2, false), Ok(Recorded::New));
        assert_eq!(a.record(pn(1), 4, false), Ok(Recorded::New));
        assert_eq!(ranges(&a), [(1, 1, 4), (u32::MAX - 1, u32::MAX, 3)]);
    }

    #[test]
    fn capacity_is_shared_and_reported() {
        let mut a = SackAccumulator::new();
        for i in 0..MAX_BLOCKS as u32 / 2 {
            a.record(pn(10 + 2 * i), i, false).unwrap();
            a.record(pn(10 + 2 * i), i, true).unwrap();
        }
        assert_eq!(a.len(), MAX_BLOCKS);
        let before = (ranges(&a), a.retransmitted().to_vec());
        assert_eq!(a.record(pn(1000), 0, false), Err(AccumulateError::Full));
        assert_eq!(a.record(pn(1000), 0, true), Err(AccumulateError::Full));
        assert_eq!((ranges(&a), a.retransmitted().to_vec()), before);
        // Extending or merging still works when full.
        assert_eq!(a.record(pn(11), 0, false), Ok(Recorded::New));
        assert_eq!(a.len(), MAX_BLOCKS - 1);
        assert_eq!(a.record(pn(1000), 0, true), Ok(Recorded::New));
    }

    #[test]
    fn write_and_forget() {
        let mut a = SackAccumulator::new();
        for x in [2, 3, 6, 9, 10] {
            a.record(pn(x), x, false).unwrap();
        }
        let mut out = [EMPTY; 3];
        assert_eq!(a.write_original(&mut out), Ok(3));
        assert_eq!(out, a.original());
        assert_eq!(
            a.write_original(&mut out[..2]),
            Err(AccumulateError::BufferTooSmall)
        );
        assert_eq!(a.write_retransmitted(&mut []), Ok(0));
        a.forget_below(pn(6));
        assert_eq!(ranges(&a), [(6, 6, 6), (9, 10, 9 ^ 10)]);
        a.forget_below(pn(10));
        assert_eq!(ranges(&a), [(9, 10, 9 ^ 10)]);
        a.clear();
        assert!(a.is_empty());
    }

    #[test]
    fn verify_rejects_malformed() {
        use crate::crypto::keys::MasterKey;
        use trickles_wire::KeyEpoch;
        let keys = ServerKeys::from_master(KeyEpoch(0), &MasterKey::new([1; 16]));
        let blk = |s, e| SackBlock {
            start: pn(s),
            end: pn(e),
            proof: 0,
        };
        let check = |orig: &[SackBlock]| {
            verify_sack(
                &keys,
                ConnId(1),
                &SackProof {
                    original: List::Items(orig),
                    retransmitted: List::empty(),
                },
            )
        };
        assert_eq!(check(&[blk(0, 3)]), Err(SackError::Malformed));
        assert_eq!(check(&[blk(4, 3)]), Err(SackError::Malformed));
        assert_eq!(check(&[blk(1, 3), blk(4, 5)]), Err(SackError::Malformed));
        assert_eq!(check(&[blk(4, 5), blk(1, 2)]), Err(SackError::Malformed));
        assert_eq!(check(&[blk(1, 3), blk(5, 5)]), Err(SackError::BadProof));
        assert_eq!(check(&[]), Ok(()));
        let many = [blk(1, 1); MAX_BLOCKS + 1];
        assert_eq!(check(&many), Err(SackError::TooManyBlocks));
    }
}
