//! What a worker receives and sends, written to a pcap file (`--pcap`):
//! tcpdump on the interface no longer sees steered traffic, since XDP
//! takes it before the kernel's taps. Timestamps are wall-clock
//! nanoseconds; the format's bytes come from `trickles_wire::pcap`.
//! Buffered, and never allocating per frame.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A pcap file being written.
#[derive(Debug)]
pub struct PcapFile {
    out: BufWriter<File>,
    records: u64,
}

impl PcapFile {
    /// Create (truncate) `path` and write the file header.
    pub fn create(path: &Path) -> io::Result<PcapFile> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&trickles_wire::pcap::file_header())?;
        Ok(PcapFile { out, records: 0 })
    }

    /// Append `frame`, stamped now.
    pub fn write(&mut self, frame: &[u8]) -> io::Result<()> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let (h, incl) = trickles_wire::pcap::record_header(nanos, frame.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame past pcap range"))?;
        self.out.write_all(&h)?;
        self.out.write_all(&frame[..incl])?;
        self.records += 1;
        Ok(())
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Write out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
