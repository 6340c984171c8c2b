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

/// TCP option kinds the Reno reference reads and writes.
pub mod tcp_option {
    /// End of option list (RFC 9293).
    pub const END: u8 = 0;
    /// No-operation, used as padding (RFC 9293).
    pub const NOP: u8 = 1;
    /// SACK-permitted, SYN segments only (RFC 2018 §2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks (RFC 2018 §3).
    pub const SACK: u8 = 5;
}

/// SACK-permitted option padded to a 32-bit word (`NOP NOP 4 2`), as a
/// SYN or SYN-ACK carries it.
pub const SACK_PERMITTED_OPTION: [u8; 4] = [tcp_option::NOP, tcp_option::NOP, 4, 2];

/// Most SACK blocks one option can carry (RFC 2018 §3: 40 option bytes).
pub const MAX_SACK_BLOCKS: usize = 4;

/// The options of a TCP header as `(kind, data)` pairs (`data` excludes the
/// kind and length bytes; NOPs are skipped). Iteration stops at an
/// end-of-list option or at the first malformed option.
pub fn tcp_options(options: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = options;
    core::iter::from_fn(move || {
        loop {
            let (&kind, tail) = rest.split_first()?;
            match kind {
                tcp_option::END => {
                    rest = &[];
                    return None;
                }
                tcp_option::NOP => rest = tail,
                _ => {
                    let len = usize::from(*tail.first()?);
                    if len < 2 || len > rest.len() {
                        rest = &[];
                        return None;
                    }
                    let data = &rest[2..len];
                    rest = &rest[len..];
                    return Some((kind, data));
                }
            }
        }
    })
}

/// True if `options` hold a well-formed SACK-permitted option.
pub fn has_sack_permitted(options: &[u8]) -> bool {
    tcp_options(options).any(|(k, d)| k == tcp_option::SACK_PERMITTED && d.is_empty())
}

/// The `(left edge, right edge)` blocks of the first well-formed SACK
/// option in `options` (RFC 2018 §3: the right edge is the sequence number
/// just after the block). A SACK option whose length is not `2 + 8·n`
/// with `1 ≤ n ≤ 4` is ignored.
pub fn sack_blocks(options: &[u8]) -> impl Iterator<Item = (u32, u32)> + '_ {
    let data = tcp_options(options)
        .find(|(k, d)| {
            *k == tcp_option::SACK
                && !d.is_empty()
                && d.len().is_multiple_of(8)
                && d.len() <= 8 * MAX_SACK_BLOCKS
        })
        .map_or(&[][..], |(_, d)| d);
    data.chunks_exact(8).map(|b| {
        (
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        )
    })
}

/// Append a SACK option with `blocks` (at most [`MAX_SACK_BLOCKS`]; more
/// are left out) to `out`, preceded by two NOPs so that it fills whole
/// 32-bit words (`NOP NOP 5 len`, as RFC 2018 §3 shows). Nothing is
/// appended for no blocks.
pub fn push_sack_option(out: &mut Vec<u8>, blocks: &[(u32, u32)]) {
    let blocks = &blocks[..blocks.len().min(MAX_SACK_BLOCKS)];
    if blocks.is_empty() {
        return;
    }
    out.extend_from_slice(&[
        tcp_option::NOP,
        tcp_option::NOP,
        tcp_option::SACK,
        (2 + 8 * blocks.len()) as u8,
    ]);
    for (l, r) in blocks {
        out.extend_from_slice(&l.to_be_bytes());
        out.extend_from_slice(&r.to_be_bytes());
    }
}

pub use trickles_core::synthetic::{fill_stream, mix, stream_byte, stream_mismatches};

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
    fn sack_options_round_trip() {
        let a = HostAddr::new(Ipv4Addr::new(10, 0, 0, 1), [2, 0, 0, 0, 0, 1]);
        let b = HostAddr::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
        let blocks = [(0xffff_fff0, 0x10), (100, 200), (300, 400)];
        let mut opts = Vec::new();
        push_sack_option(&mut opts, &blocks);
        assert_eq!(opts.len(), 4 + 24);
        assert_eq!(&opts[..4], &[1, 1, 5, 26]);
        let repr = tcp::Repr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: flags::ACK,
            window: 5,
            options: &opts,
        };
        let f = build_tcp_frame(a, b, &repr, &[]).unwrap();
        assert_eq!(f.len(), TCP_FRAME_OVERHEAD + 28);
        let p = parse_tcp_frame(&f).unwrap();
        assert_eq!(p.options, &opts[..]);
        assert!(p.payload.is_empty());
        assert_eq!(sack_blocks(p.options).collect::<Vec<_>>(), blocks);
        assert!(!has_sack_permitted(p.options));
        // At most four blocks; none gives no option.
        let mut five = Vec::new();
        push_sack_option(&mut five, &[(1, 2); 5]);
        assert_eq!(five.len(), 4 + 32);
        let mut none = Vec::new();
        push_sack_option(&mut none, &[]);
        assert!(none.is_empty());
        // SACK-permitted, and malformed options are ignored.
        assert!(has_sack_permitted(&SACK_PERMITTED_OPTION));
        assert!(has_sack_permitted(&[2, 4, 5, 180, 4, 2, 0, 0]));
        assert!(!has_sack_permitted(&[0, 0, 4, 2]));
        assert!(!has_sack_permitted(&[4, 3, 0, 0]));
        assert_eq!(
            sack_blocks(&[1, 1, 5, 9, 0, 0, 0, 0, 0, 0, 0, 0]).count(),
            0
        );
        assert_eq!(sack_blocks(&[1, 1, 5, 10, 0, 0, 0, 1, 0, 0]).count(), 0);
        assert_eq!(sack_blocks(&[5]).count(), 0);
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
