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

/// Encoded length of a transport continuation in compact form (§5.1).
pub const COMPACT_LEN: usize = 50;

/// The encoded bytes of a compact transport continuation.
pub type CompactBytes = [u8; COMPACT_LEN];

/// Byte offsets of the compact form's fields (docs/protocol.md §5.1).
pub mod compact_field {
    use core::ops::Range;
    /// Congestion-control mode.
    pub const MODE: usize = 0;
    /// Continuation flags.
    pub const FLAGS: usize = 1;
    /// Incarnation (with `origin_slot`, names the context).
    pub const INCARNATION: Range<usize> = 2..6;
    /// First slot that carries stream bytes (names the context).
    pub const ORIGIN_SLOT: Range<usize> = 6..10;
    /// Request number this continuation authorises.
    pub const K: Range<usize> = 10..14;
    /// TCPBase of the current piece.
    pub const BASE: Range<usize> = 14..18;
    /// startCwnd of the current piece.
    pub const START_CWND: Range<usize> = 18..22;
    /// ssthresh of the current piece.
    pub const SSTHRESH: Range<usize> = 22..26;
    /// First packet number the SACK proof must cover.
    pub const SACK_FLOOR: Range<usize> = 26..30;
    /// Server timestamp in milliseconds.
    pub const TIMESTAMP: Range<usize> = 30..34;
    /// The MAC tag of the whole continuation.
    pub const MAC: Range<usize> = 34..50;
}

/// The fields a compact continuation leaves out (docs/protocol.md §5.1):
/// they are the same for every continuation of one connection's
/// incarnation once its output has an origin, so the client, which holds
/// them from an earlier full continuation of that incarnation (a
/// FIRST_RESPONSE or a CONTEXT packet), supplies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// Key epoch of the MAC.
    pub epoch: KeyEpoch,
    /// Stream bytes carried by a full slot.
    pub slot_len: u16,
    /// Connection identifier.
    pub conn_id: ConnId,
    /// Stream offset of the first byte of `origin_slot`.
    pub origin_offset: u64,
    /// Length of each of the first `first_slots` data slots.
    pub first_slot_len: u16,
    /// Number of short data slots starting at `origin_slot`.
    pub first_slots: u8,
    /// Stream bytes skipped after the first slots.
    pub skip: u32,
}

/// What names a [`Context`]: the incarnation and the origin slot, both
/// carried by the compact form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContextKey {
    /// Incarnation of the packet numbering.
    pub incarnation: u32,
    /// First slot that carries stream bytes.
    pub origin_slot: PacketNumber,
}

impl ContextKey {
    /// The key a compact continuation names.
    pub fn of_compact(c: &CompactBytes) -> ContextKey {
        ContextKey {
            incarnation: be32(&c[compact_field::INCARNATION]),
            origin_slot: PacketNumber(be32(&c[compact_field::ORIGIN_SLOT])),
        }
    }
}

impl Continuation {
    /// The fields the compact form leaves out.
    pub fn context(&self) -> Context {
        Context {
            epoch: self.epoch,
            slot_len: self.slot_len,
            conn_id: self.conn_id,
            origin_offset: self.origin_offset,
            first_slot_len: self.first_slot_len,
            first_slots: self.first_slots,
            skip: self.skip,
        }
    }

    /// The key of [`Continuation::context`].
    pub fn context_key(&self) -> ContextKey {
        ContextKey {
            incarnation: self.incarnation,
            origin_slot: self.origin_slot,
        }
    }

    /// The compact form (MAC included as it stands).
    pub fn to_compact(&self) -> CompactBytes {
        use compact_field as f;
        let mut b = [0u8; COMPACT_LEN];
        b[f::MODE] = self.mode;
        b[f::FLAGS] = self.flags;
        b[f::INCARNATION].copy_from_slice(&self.incarnation.to_be_bytes());
        b[f::ORIGIN_SLOT].copy_from_slice(&self.origin_slot.0.to_be_bytes());
        b[f::K].copy_from_slice(&self.k.0.to_be_bytes());
        b[f::BASE].copy_from_slice(&self.base.0.to_be_bytes());
        b[f::START_CWND].copy_from_slice(&self.start_cwnd.to_be_bytes());
        b[f::SSTHRESH].copy_from_slice(&self.ssthresh.to_be_bytes());
        b[f::SACK_FLOOR].copy_from_slice(&self.sack_floor.0.to_be_bytes());
        b[f::TIMESTAMP].copy_from_slice(&self.timestamp.to_be_bytes());
        b[f::MAC].copy_from_slice(&self.mac);
        b
    }

    /// The whole continuation of compact form `c` within context `ctx`.
    /// Every bit pattern decodes; a wrong context gives a continuation
    /// whose MAC fails at the server.
    pub fn from_compact(c: &CompactBytes, ctx: &Context) -> Continuation {
        use compact_field as f;
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&c[f::MAC]);
        Continuation {
            epoch: ctx.epoch,
            mode: c[f::MODE],
            slot_len: ctx.slot_len,
            conn_id: ctx.conn_id,
            incarnation: be32(&c[f::INCARNATION]),
            k: PacketNumber(be32(&c[f::K])),
            base: PacketNumber(be32(&c[f::BASE])),
            start_cwnd: be32(&c[f::START_CWND]),
            ssthresh: be32(&c[f::SSTHRESH]),
            sack_floor: PacketNumber(be32(&c[f::SACK_FLOOR])),
            timestamp: be32(&c[f::TIMESTAMP]),
            origin_slot: PacketNumber(be32(&c[f::ORIGIN_SLOT])),
            origin_offset: ctx.origin_offset,
            first_slot_len: ctx.first_slot_len,
            first_slots: ctx.first_slots,
            flags: c[f::FLAGS],
            skip: ctx.skip,
            mac,
        }
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
