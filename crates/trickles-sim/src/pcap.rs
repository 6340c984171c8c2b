//! Classic libpcap files with nanosecond timestamps, written with plain
//! `std::io` (the format's bytes: `trickles_wire::pcap`), and read back.

use std::io::{self, Write};

use crate::time::SimTime;

pub use trickles_wire::pcap::{
    FILE_HEADER_LEN, LINKTYPE_ETHERNET, MAGIC_NANOS, RECORD_HEADER_LEN, SNAPLEN,
};

/// Writes a pcap stream to `W`.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    records: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header and return a writer for records.
    pub fn new(mut w: W) -> io::Result<PcapWriter<W>> {
        w.write_all(&trickles_wire::pcap::file_header())?;
        Ok(PcapWriter { w, records: 0 })
    }

    /// Append one frame seen at `at`.
    pub fn write_frame(&mut self, at: SimTime, frame: &[u8]) -> io::Result<()> {
        let (h, incl) = trickles_wire::pcap::record_header(at.0, frame.len()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "time or length past pcap range",
            )
        })?;
        self.w.write_all(&h)?;
        self.w.write_all(&frame[..incl])?;
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flush and return the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// One record read back from a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapRecord {
    /// Timestamp.
    pub at: SimTime,
    /// Original length of the frame.
    pub orig_len: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
}

/// Read back a file written by [`PcapWriter`] (little-endian, nanosecond
/// magic, Ethernet). Anything else is an `InvalidData` error.
pub fn read(bytes: &[u8]) -> io::Result<Vec<PcapRecord>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    let u32_at = |b: &[u8], i: usize| -> io::Result<u32> {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| bad("truncated"))
    };
    if u32_at(bytes, 0)? != MAGIC_NANOS {
        return Err(bad("not a little-endian nanosecond pcap"));
    }
    if u32_at(bytes, 20)? != LINKTYPE_ETHERNET {
        return Err(bad("not LINKTYPE_ETHERNET"));
    }
    let mut out = Vec::new();
    let mut i = FILE_HEADER_LEN;
    while i < bytes.len() {
        let secs = u64::from(u32_at(bytes, i)?);
        let nanos = u64::from(u32_at(bytes, i + 4)?);
        let incl = u32_at(bytes, i + 8)? as usize;
        let orig_len = u32_at(bytes, i + 12)?;
        let start = i + RECORD_HEADER_LEN;
        let data = bytes
            .get(start..start + incl)
            .ok_or_else(|| bad("truncated record"))?;
        out.push(PcapRecord {
            at: SimTime(secs * 1_000_000_000 + nanos),
            orig_len,
            data: data.to_vec(),
        });
        i = start + incl;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_frame(SimTime(1_500_000_123), &[1, 2, 3]).unwrap();
        w.write_frame(SimTime(7), &[]).unwrap();
        assert_eq!(w.records(), 2);
        let bytes = w.into_inner().unwrap();
        assert_eq!(&bytes[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        let r = read(&bytes).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].at, SimTime(1_500_000_123));
        assert_eq!(r[0].data, vec![1, 2, 3]);
        assert_eq!(r[1].orig_len, 0);
        assert!(read(&bytes[..bytes.len() - 1]).is_err());
        assert!(read(&bytes[..30]).is_err());
    }
}
