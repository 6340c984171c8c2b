//! Frame helpers for endpoints: build and parse plain IPv4/TCP frames with
//! the `trickles_wire` views, and the deterministic payload stream.

use core::net::Ipv4Addr;

use trickles_wire::checksum::{self, IPPROTO_TCP};
use trickles_wire::ethernet::{self, MacAddr, ethertype};
use trickles_wire::{ipv4, tcp};

use crate::topology::HostAddr;

/// Default IPv4 TTL of frames built here.
pub const TTL: u8 = 64;
/// Bytes of Ethernet + IPv4 + TCP headers without options.
pub const TCP_FRAME_OVERHEAD: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + tcp::HEADER_LEN;

/// The destination IPv4 address of an Ethernet frame (after VLAN tags),
/// or `None` if it is not a well-formed IPv4 packet.
pub fn frame_dst_ipv4(frame: &[u8]) -> Option<Ipv4Addr> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    let net = eth.network().ok()?;
    if net.ethertype != ethertype::IPV4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(frame.get(net.offset..)?).ok()?;
    Some(ip.dst_addr())
}

/// Build an untagged Ethernet/IPv4/TCP frame from `src` to `dst` with the
/// TCP header `tcp` (its checksum is filled in) and `payload`.
pub fn build_tcp_frame(
    src: HostAddr,
    dst: HostAddr,
    tcp: &tcp::Repr<'_>,
    payload: &[u8],
) -> trickles_wire::Result<Vec<u8>> {
    let tcp_len = tcp.header_len() + payload.len();
    let ip = ipv4::Repr {
        src: src.ip,
        dst: dst.ip,
        protocol: IPPROTO_TCP,
        payload_len: u16::try_from(tcp_len).map_err(|_| trickles_wire::Error::BadLength)?,
        ttl: TTL,
    };
    let ip_at = ethernet::HEADER_LEN;
    let tcp_at = ip_at + ip.buffer_len();
    let mut buf = vec![0u8; tcp_at + tcp_len];
    ethernet::Repr {
        dst: dst.mac,
        src: src.mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut buf)?;
    ip.emit(&mut buf[ip_at..])?;
    tcp.emit(&mut buf[tcp_at..])?;
    buf[tcp_at + tcp.header_len()..].copy_from_slice(payload);
    let pseudo = checksum::pseudo_header_v4(src.ip, dst.ip, IPPROTO_TCP, ip.payload_len);
    tcp::Packet::new_unchecked(&mut buf[tcp_at..]).fill_checksum(pseudo);
    Ok(buf)
}

/// A parsed IPv4/TCP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFrame<'a> {
    /// Source MAC.
    pub src_mac: MacAddr,
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// Source IPv4 address.
    pub src_ip: Ipv4Addr,
    /// Destination IPv4 address.
    pub dst_ip: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// TCP flags.
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Option bytes.
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

impl TcpFrame<'_> {
    /// The sender's addresses.
    pub fn src(&self) -> HostAddr {
        HostAddr::new(self.src_ip, self.src_mac)
    }

    /// True if all of `flags` are set.
    pub fn has(&self, flags: u8) -> bool {
        self.flags & flags == flags
    }
}

/// Parse an Ethernet/IPv4/TCP frame, verifying both checksums.
pub fn parse_tcp_frame(frame: &[u8]) -> trickles_wire::Result<TcpFrame<'_>> {
    let eth = ethernet::Frame::new_checked(frame)?;
    let net = eth.network()?;
    if net.ethertype != ethertype::IPV4 {
        return Err(trickles_wire::Error::Unsupported);
    }
    let ip = ipv4::Packet::new_checked(&frame[net.offset..])?;
    let repr = ipv4::Repr::parse(&ip)?;
    if repr.protocol != IPPROTO_TCP {
        return Err(trickles_wire::Error::Unsupported);
    }
    if !ip.verify_checksum() {
        return Err(trickles_wire::Error::BadChecksum);
    }
    let ip_start = net.offset;
    let seg = &frame[ip_start + ip.header_len()..ip_start + usize::from(ip.total_len())];
    let t = tcp::Packet::new_checked(seg)?;
    let pseudo = checksum::pseudo_header_v4(repr.src, repr.dst, IPPROTO_TCP, repr.payload_len);
    if !t.verify_checksum(pseudo) {
        return Err(trickles_wire::Error::BadChecksum);
    }
    let hl = t.header_len();
    Ok(TcpFrame {
        src_mac: eth.src_addr(),
        dst_mac: eth.dst_addr(),
        src_ip: repr.src,
        dst_ip: repr.dst,
        src_port: t.src_port(),
        dst_port: t.dst_port(),
        seq: t.seq_number(),
        ack: t.ack_number(),
        flags: t.flags(),
        window: t.window(),
        options: &seg[tcp::HEADER_LEN..hl],
        payload: &seg[hl..],
    })
}

/// SplitMix64 finalizer (a bijective 64-bit mixer; also used to derive
/// per-connection values from a run's seed).
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn word(seed: u64, index: u64) -> [u8; 8] {
    mix(seed ^ mix(index)).to_le_bytes()
}

/// Byte `offset` of the deterministic application stream of `seed`: what a
/// sender transmits and a receiver checks, so corruption, misplacement or
/// duplication of payload bytes is detected.
pub fn stream_byte(seed: u64, offset: u64) -> u8 {
    word(seed, offset / 8)[(offset % 8) as usize]
}

/// Fill `buf` with the stream bytes starting at `offset`.
pub fn fill_stream(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut off = offset;
    let mut i = 0;
    while i < buf.len() {
        let w = word(seed, off / 8);
        let start = (off % 8) as usize;
        let n = (8 - start).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&w[start..start + n]);
        i += n;
        off += n as u64;
    }
}

/// Number of bytes of `buf` that differ from the stream at `offset`.
pub fn stream_mismatches(seed: u64, offset: u64, buf: &[u8]) -> u64 {
    let mut off = offset;
    let mut bad = 0;
    let mut i = 0;
    while i < buf.len() {
        let w = word(seed, off / 8);
        let start = (off % 8) as usize;
        let n = (8 - start).min(buf.len() - i);
        bad += buf[i..i + n]
            .iter()
            .zip(&w[start..start + n])
            .filter(|(a, b)| a != b)
            .count() as u64;
        i += n;
        off += n as u64;
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use trickles_wire::tcp::flags;

    #[test]
    fn stream_helpers_agree() {
        let mut buf = [0u8; 37];
        fill_stream(9, 13, &mut buf);
        for (i, b) in buf.iter().enumerate() {
            assert_eq!(*b, stream_byte(9, 13 + i as u64));
        }
        assert_eq!(stream_mismatches(9, 13, &buf), 0);
        buf[5] ^= 1;
        assert_eq!(stream_mismatches(9, 13, &buf), 1);
        let s1: Vec<u8> = (0..64).map(|o| stream_byte(1, o)).collect();
        let s2: Vec<u8> = (0..64).map(|o| stream_byte(2, o)).collect();
        assert_ne!(s1, s2);
    }

    #[test]
    fn tcp_frame_round_trip() {
        let a = HostAddr::new(Ipv4Addr::new(10, 0, 0, 1), [2, 0, 0, 0, 0, 1]);
        let b = HostAddr::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
        let repr = tcp::Repr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: flags::ACK,
            window: 5,
            options: &[],
        };
        let f = build_tcp_frame(a, b, &repr, b"hello").unwrap();
        assert_eq!(f.len(), TCP_FRAME_OVERHEAD + 5);
        assert_eq!(frame_dst_ipv4(&f), Some(b.ip));
        let p = parse_tcp_frame(&f).unwrap();
        assert_eq!(
            (p.src(), p.dst_ip, p.seq, p.ack, p.payload),
            (a, b.ip, 3, 4, &b"hello"[..])
        );
        let mut bad = f.clone();
        *bad.last_mut().unwrap() ^= 0xff;
        assert_eq!(
            parse_tcp_frame(&bad),
            Err(trickles_wire::Error::BadChecksum)
        );
        assert!(parse_tcp_frame(&f[..f.len() - 1]).is_err());
    }
}
