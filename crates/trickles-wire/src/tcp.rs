//! TCP segments (RFC 9293 §3.1).
//!
//! Trickles keeps the TCP header so that NATs, firewalls and tcpdump see
//! ordinary TCP (paper §2.6). The first option of every Trickles segment is
//! the marking option ([`crate::marker`]); other options are carried but not
//! interpreted.

use crate::checksum::{self, Checksum};

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Largest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// TCP control flags (RFC 9293 §3.1).
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field is significant.
    pub const URG: u8 = 0x20;
}

mod field {
    use core::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const SEQ: Range<usize> = 4..8;
    pub(super) const ACK: Range<usize> = 8..12;
    pub(super) const OFFSET: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: Range<usize> = 14..16;
    pub(super) const CHECKSUM: Range<usize> = 16..18;
    pub(super) const URGENT: Range<usize> = 18..20;
}

/// A checked view of a TCP segment. The buffer is exactly the segment (the
/// IP payload), so its length is the segment length.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> crate::Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check the data offset against the buffer.
    pub fn check_len(&self) -> crate::Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(crate::Error::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(crate::Error::BadLength);
        }
        if len < hl {
            return Err(crate::Error::Truncated);
        }
        Ok(())
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SEQ])
    }

    /// Acknowledgment number.
    pub fn ack_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ACK])
    }

    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFFSET] >> 4) * 4
    }

    /// The control flags byte.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Window.
    pub fn window(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::WINDOW])
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::URGENT])
    }

    /// The option bytes (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// True if the checksum over `pseudo` (a pseudo-header sum from
    /// [`checksum::pseudo_header_v4`] / [`checksum::pseudo_header_v6`]) and
    /// the segment is correct.
    pub fn verify_checksum(&self, mut pseudo: Checksum) -> bool {
        pseudo.add_bytes(self.buffer.as_ref()).sum() == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Store the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Compute and store the checksum given the pseudo-header sum.
    pub fn fill_checksum(&mut self, mut pseudo: Checksum) {
        self.set_checksum(0);
        let c = pseudo.add_bytes(self.buffer.as_ref()).finish();
        self.set_checksum(c);
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

/// The fixed TCP header fields plus the option bytes, for emitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Control flags.
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Option bytes; their length must be a multiple of 4 and at most 40.
    pub options: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parse the header of a checked segment.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &'a Packet<&'a T>) -> Repr<'a> {
        Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            flags: p.flags(),
            window: p.window(),
            options: p.options(),
        }
    }

    /// Header bytes [`Repr::emit`] writes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// Write the header at the start of `buf` with a zero checksum; fill the
    /// checksum afterwards with [`Packet::fill_checksum`] once the payload
    /// is in place.
    pub fn emit(&self, buf: &mut [u8]) -> crate::Result<()> {
        let hl = self.header_len();
        if !self.options.len().is_multiple_of(4) || hl > MAX_HEADER_LEN {
            return Err(crate::Error::BadLength);
        }
        let b = buf.get_mut(..hl).ok_or(crate::Error::BufferTooSmall)?;
        b[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        b[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        b[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        b[field::ACK].copy_from_slice(&self.ack.to_be_bytes());
        b[field::OFFSET] = ((hl / 4) as u8) << 4;
        b[field::FLAGS] = self.flags;
        b[field::WINDOW].copy_from_slice(&self.window.to_be_bytes());
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        b[field::URGENT].copy_from_slice(&[0, 0]);
        b[HEADER_LEN..hl].copy_from_slice(self.options);
        Ok(())
    }
}

/// Checksum helper re-exported for callers that build segments by hand.
pub use checksum::IPPROTO_TCP;

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
