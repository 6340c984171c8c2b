//! The transport continuation (docs/protocol.md §5; paper §2.1).
//!
//! Seventy-six bytes that carry the part of the TCP control block the
//! stateless server needs to resume a trickle: the request number the
//! continuation authorises, the current TCPCwnd piece (base, startCwnd,
//! ssthresh), the SACK floor, the incarnation (nonce domain), the server
//! timestamp for replay defence and the slot geometry. The first 60 bytes
//! are covered by an AES-CMAC, stored in the last 16 (the MAC input also
//! binds the client's address and ports, 20 bytes, so it is exactly five
//! AES blocks; see `trickles-core::crypto`). The client reads but cannot
//! change it.
//!
//! Every bit pattern decodes; what the values mean is checked by the
//! engine after the MAC verifies.

use crate::types::{ConnId, KeyEpoch, PacketNumber};

/// Encoded length of a transport continuation.
pub const CONTINUATION_LEN: usize = 76;
/// Length of the MAC tag.
pub const MAC_LEN: usize = 16;
/// Bytes at the start of a continuation covered by its MAC.
pub const SEALED_LEN: usize = CONTINUATION_LEN - MAC_LEN;

/// The encoded bytes of a transport continuation.
pub type ContinuationBytes = [u8; CONTINUATION_LEN];

/// Byte offsets of the continuation fields.
pub mod field {
    use core::ops::Range;
    /// Key epoch of the MAC.
    pub const EPOCH: usize = 0;
    /// Congestion-control mode of the trickle.
    pub const MODE: usize = 1;
    /// Stream bytes per full slot.
    pub const SLOT_LEN: Range<usize> = 2..4;
    /// Connection identifier.
    pub const CONN_ID: Range<usize> = 4..12;
    /// Incarnation: the nonce domain, renewed by every retransmit timeout.
    pub const INCARNATION: Range<usize> = 12..16;
    /// Request number this continuation authorises.
    pub const K: Range<usize> = 16..20;
    /// TCPBase of the current piece.
    pub const BASE: Range<usize> = 20..24;
    /// startCwnd of the current piece.
    pub const START_CWND: Range<usize> = 24..28;
    /// ssthresh of the current piece.
    pub const SSTHRESH: Range<usize> = 28..32;
    /// First packet number the SACK proof must cover.
    pub const SACK_FLOOR: Range<usize> = 32..36;
    /// Server timestamp in milliseconds.
    pub const TIMESTAMP: Range<usize> = 36..40;
    /// First slot that carries stream bytes.
    pub const ORIGIN_SLOT: Range<usize> = 40..44;
    /// Stream offset of the first byte of `origin_slot`.
    pub const ORIGIN_OFFSET: Range<usize> = 44..52;
    /// Length of each of the first `first_slots` data slots.
    pub const FIRST_SLOT_LEN: Range<usize> = 52..54;
    /// Number of short data slots at the origin.
    pub const FIRST_SLOTS: usize = 54;
    /// Continuation flags.
    pub const FLAGS: usize = 55;
    /// Stream bytes skipped between the first slots and the rest.
    pub const SKIP: Range<usize> = 56..60;
    /// The MAC tag.
    pub const MAC: Range<usize> = 60..76;
}

/// A decoded transport continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Continuation {
    /// Key epoch the MAC was computed under.
    pub epoch: KeyEpoch,
    /// Congestion-control mode (meaning defined by the engine).
    pub mode: u8,
    /// Stream bytes carried by a full slot.
    pub slot_len: u16,
    /// Connection identifier.
    pub conn_id: ConnId,
    /// Incarnation of the connection's packet numbering: nonces are derived
    /// from (conn_id, incarnation, packet number).
    pub incarnation: u32,
    /// The request number this continuation authorises (paper §2.5 "k").
    pub k: PacketNumber,
    /// TCPBase: first request number of the current loss-free piece.
    pub base: PacketNumber,
    /// startCwnd of the current piece, in packets.
    pub start_cwnd: u32,
    /// ssthresh of the current piece, in packets.
    pub ssthresh: u32,
    /// First packet number the SACK proof must cover; everything before it
    /// is settled.
    pub sack_floor: PacketNumber,
    /// Server clock in milliseconds when the continuation was made.
    pub timestamp: u32,
    /// First slot that carries stream bytes (0: none yet).
    pub origin_slot: PacketNumber,
    /// Stream offset of the first byte of `origin_slot`.
    pub origin_offset: u64,
    /// Length of each of the first `first_slots` data slots.
    pub first_slot_len: u16,
    /// Number of short data slots starting at `origin_slot`.
    pub first_slots: u8,
    /// Continuation flags (meaning defined by the engine).
    pub flags: u8,
    /// Stream bytes skipped between the last of the first slots and the
    /// next slot (a resume after a timeout jumps over bytes the client
    /// already holds).
    pub skip: u32,
    /// MAC tag over bytes `0..SEALED_LEN` plus the binding.
    pub mac: [u8; MAC_LEN],
}

impl Continuation {
    /// Decode the encoded bytes. Never fails: semantic checks come after the
    /// MAC.
    pub fn decode(b: &ContinuationBytes) -> Continuation {
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&b[field::MAC]);
        Continuation {
            epoch: KeyEpoch(b[field::EPOCH]),
            mode: b[field::MODE],
            slot_len: be16(&b[field::SLOT_LEN]),
            conn_id: ConnId(be64(&b[field::CONN_ID])),
            incarnation: be32(&b[field::INCARNATION]),
            k: PacketNumber(be32(&b[field::K])),
            base: PacketNumber(be32(&b[field::BASE])),
            start_cwnd: be32(&b[field::START_CWND]),
            ssthresh: be32(&b[field::SSTHRESH]),
            sack_floor: PacketNumber(be32(&b[field::SACK_FLOOR])),
            timestamp: be32(&b[field::TIMESTAMP]),
            origin_slot: PacketNumber(be32(&b[field::ORIGIN_SLOT])),
            origin_offset: be64(&b[field::ORIGIN_OFFSET]),
            first_slot_len: be16(&b[field::FIRST_SLOT_LEN]),
            first_slots: b[field::FIRST_SLOTS],
            flags: b[field::FLAGS],
            skip: be32(&b[field::SKIP]),
            mac,
        }
    }

    /// Encode (MAC included as it stands).
    pub fn encode(&self, b: &mut ContinuationBytes) {
        b[field::EPOCH] = self.epoch.0;
        b[field::MODE] = self.mode;
        b[field::SLOT_LEN].copy_from_slice(&self.slot_len.to_be_bytes());
        b[field::CONN_ID].copy_from_slice(&self.conn_id.0.to_be_bytes());
        b[field::INCARNATION].copy_from_slice(&self.incarnation.to_be_bytes());
        b[field::K].copy_from_slice(&self.k.0.to_be_bytes());
        b[field::BASE].copy_from_slice(&self.base.0.to_be_bytes());
        b[field::START_CWND].copy_from_slice(&self.start_cwnd.to_be_bytes());
        b[field::SSTHRESH].copy_from_slice(&self.ssthresh.to_be_bytes());
        b[field::SACK_FLOOR].copy_from_slice(&self.sack_floor.0.to_be_bytes());
        b[field::TIMESTAMP].copy_from_slice(&self.timestamp.to_be_bytes());
        b[field::ORIGIN_SLOT].copy_from_slice(&self.origin_slot.0.to_be_bytes());
        b[field::ORIGIN_OFFSET].copy_from_slice(&self.origin_offset.to_be_bytes());
        b[field::FIRST_SLOT_LEN].copy_from_slice(&self.first_slot_len.to_be_bytes());
        b[field::FIRST_SLOTS] = self.first_slots;
        b[field::FLAGS] = self.flags;
        b[field::SKIP].copy_from_slice(&self.skip.to_be_bytes());
        b[field::MAC].copy_from_slice(&self.mac);
    }

    /// The encoded bytes.
    pub fn to_bytes(&self) -> ContinuationBytes {
        let mut b = [0u8; CONTINUATION_LEN];
        self.encode(&mut b);
        b
    }
}

/// Transport continuations as list items (continuation groups).
impl<'a> super::list::WireItem<'a> for &'a ContinuationBytes {
    fn decode(buf: &'a [u8]) -> crate::Result<(Self, usize)> {
        let bytes = buf
            .get(..CONTINUATION_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(crate::Error::Truncated)?;
        Ok((bytes, CONTINUATION_LEN))
    }

    fn encoded_len(&self) -> usize {
        CONTINUATION_LEN
    }

    fn encode(&self, buf: &mut [u8]) {
        buf.copy_from_slice(&self[..]);
    }
}

pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

pub(crate) fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}
