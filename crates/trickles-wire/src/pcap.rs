//! The classic libpcap file format with nanosecond timestamps (magic
//! `0xa1b23c4d`, version 2.4, `LINKTYPE_ETHERNET`): the bytes of the file
//! header and of a record header, for the writers of the simulator and of
//! the datapath's workers. Fields are little-endian; readers detect the
//! byte order from the magic.

/// Magic number of a nanosecond-resolution pcap file.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length written in the header; longer frames are truncated.
pub const SNAPLEN: u32 = 65_535;
/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// The file header.
pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone (8..12) and sigfigs (12..16) are zero.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// The header of a record for a frame of `frame_len` bytes seen `nanos`
/// nanoseconds after the epoch, and how many of its bytes the record
/// includes; `None` if the time or the length is beyond the format.
pub fn record_header(nanos: u64, frame_len: usize) -> Option<([u8; RECORD_HEADER_LEN], usize)> {
    let secs = u32::try_from(nanos / 1_000_000_000).ok()?;
    let sub = (nanos % 1_000_000_000) as u32;
    let orig = u32::try_from(frame_len).ok()?;
    let incl = orig.min(SNAPLEN);
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&sub.to_le_bytes());
    h[8..12].copy_from_slice(&incl.to_le_bytes());
    h[12..16].copy_from_slice(&orig.to_le_bytes());
    Some((h, incl as usize))
}
