//! Whole Trickles frames: Ethernet → IP → TCP → Trickles, parsed and emitted
//! in one call (docs/protocol.md §2).
//!
//! [`parse`] is what a worker runs on every steered frame: it validates
//! every layer, both checksums, the marking option, the Trickles header and
//! the TCP flags, and returns borrowed views. [`emit`] builds a complete
//! untagged frame with checksums filled.

use core::net::IpAddr;

use crate::checksum::{self, IPPROTO_TCP};
use crate::ethernet::{self, MacAddr, ethertype};
use crate::trickles::Packet;
use crate::{Error, ipv4, ipv6, marker, tcp};

/// The TCP fields a Trickles endpoint reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFields {
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
}

/// A parsed Trickles frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame<'a> {
    /// Source MAC.
    pub src_mac: MacAddr,
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// Number of VLAN tags the frame carried.
    pub vlan_tags: usize,
    /// Source IP address.
    pub src: IpAddr,
    /// Destination IP address.
    pub dst: IpAddr,
    /// TCP header fields.
    pub tcp: TcpFields,
    /// The Trickles header and data.
    pub trickles: Packet<'a>,
}

/// Parse and fully validate a Trickles frame.
pub fn parse(frame: &[u8]) -> crate::Result<Frame<'_>> {
    let eth = ethernet::Frame::new_checked(frame)?;
    let net = eth.network()?;
    let l3 = &frame[net.offset..];
    let (src, dst, segment, pseudo) = match net.ethertype {
        ethertype::IPV4 => {
            let ip = ipv4::Packet::new_checked(l3)?;
            if !ip.verify_checksum() && !cfg!(fuzzing) {
                return Err(Error::BadChecksum);
            }
            let repr = ipv4::Repr::parse(&ip)?;
            if repr.protocol != IPPROTO_TCP {
                return Err(Error::Unsupported);
            }
            let seg = &l3[ip.header_len()..usize::from(ip.total_len())];
            let pseudo =
                checksum::pseudo_header_v4(repr.src, repr.dst, IPPROTO_TCP, repr.payload_len);
            (IpAddr::V4(repr.src), IpAddr::V4(repr.dst), seg, pseudo)
        }
        ethertype::IPV6 => {
            let ip = ipv6::Packet::new_checked(l3)?;
            let repr = ipv6::Repr::parse(&ip);
            if repr.next_header != IPPROTO_TCP {
                return Err(Error::Unsupported);
            }
            let seg = &l3[ipv6::HEADER_LEN..ipv6::HEADER_LEN + usize::from(repr.payload_len)];
            let pseudo = checksum::pseudo_header_v6(
                repr.src,
                repr.dst,
                IPPROTO_TCP,
                u32::from(repr.payload_len),
            );
            (IpAddr::V6(repr.src), IpAddr::V6(repr.dst), seg, pseudo)
        }
        _ => return Err(Error::Unsupported),
    };
    let seg = tcp::Packet::new_checked(segment)?;
    if !marker::is_marked(seg.options()) {
        return Err(Error::NotTrickles);
    }
    // Under the fuzzer checksums are not enforced, so that mutated frames
    // reach the Trickles parser (a fuzzer cannot forge checksums).
    if !seg.verify_checksum(pseudo) && !cfg!(fuzzing) {
        return Err(Error::BadChecksum);
    }
    let trickles = Packet::parse(&segment[seg.header_len()..])?;
    trickles.body.packet_type().check_tcp_flags(seg.flags())?;
    Ok(Frame {
        src_mac: eth.src_addr(),
        dst_mac: eth.dst_addr(),
        vlan_tags: net.vlan_tags,
        src,
        dst,
        tcp: TcpFields {
            src_port: seg.src_port(),
            dst_port: seg.dst_port(),
            seq: seg.seq_number(),
            ack: seg.ack_number(),
            flags: seg.flags(),
            window: seg.window(),
        },
        trickles,
    })
}

/// Addresses and TCP fields of a frame to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    /// Source MAC.
    pub src_mac: MacAddr,
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// Source IP; must be the same family as `dst`.
    pub src: IpAddr,
    /// Destination IP.
    pub dst: IpAddr,
    /// TCP fields.
    pub tcp: TcpFields,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

/// Length of the Ethernet, IP and TCP headers (with the marker) for a
/// frame to `dst`.
pub const fn headers_len(dst: &IpAddr) -> usize {
    let ip = match dst {
        IpAddr::V4(_) => ipv4::HEADER_LEN,
        IpAddr::V6(_) => ipv6::HEADER_LEN,
    };
    ethernet::HEADER_LEN + ip + tcp::HEADER_LEN + marker::TCP_OPTIONS.len()
}

/// Emit a complete untagged frame carrying `packet`; returns its length.
pub fn emit(h: &Headers, packet: &Packet<'_>, buf: &mut [u8]) -> crate::Result<usize> {
    let data = packet.data;
    let filled = emit_with(h, packet, data.len(), buf, &mut |out| {
        out.copy_from_slice(data);
        true
    })?;
    // The copy above cannot refuse.
    filled.ok_or(Error::BadLength)
}

/// Emit a frame whose `data_len` data bytes `fill` writes in place (zero
/// copy: the caller produces the bytes straight into the frame buffer);
/// `packet.data` is ignored. The TCP checksum is computed after `fill`.
/// `Ok(None)` if `fill` returned false (nothing valid was emitted).
pub fn emit_with(
    h: &Headers,
    packet: &Packet<'_>,
    data_len: usize,
    buf: &mut [u8],
    fill: &mut dyn FnMut(&mut [u8]) -> bool,
) -> crate::Result<Option<usize>> {
    let payload_len = packet.header_len() + data_len + packet.padding;
    let seg_len = tcp::HEADER_LEN + marker::TCP_OPTIONS.len() + payload_len;
    let total = headers_len(&h.dst) + payload_len;
    let buf = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
    let (l3_off, (et, pseudo)) = (
        ethernet::HEADER_LEN,
        match (h.src, h.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let len = u16::try_from(seg_len).map_err(|_| Error::BadLength)?;
                ipv4::Repr {
                    src: s,
                    dst: d,
                    protocol: IPPROTO_TCP,
                    payload_len: len,
                    ttl: h.ttl,
                }
                .emit(&mut buf[ethernet::HEADER_LEN..])?;
                (
                    ethertype::IPV4,
                    checksum::pseudo_header_v4(s, d, IPPROTO_TCP, len),
                )
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let len = u16::try_from(seg_len).map_err(|_| Error::BadLength)?;
                ipv6::Repr {
                    src: s,
                    dst: d,
                    next_header: IPPROTO_TCP,
                    payload_len: len,
                    hop_limit: h.ttl,
                }
                .emit(&mut buf[ethernet::HEADER_LEN..])?;
                (
                    ethertype::IPV6,
                    checksum::pseudo_header_v6(s, d, IPPROTO_TCP, u32::from(len)),
                )
            }
            _ => return Err(Error::BadType),
        },
    );
    ethernet::Repr {
        dst: h.dst_mac,
        src: h.src_mac,
        ethertype: et,
    }
    .emit(buf)?;
    let tcp_off = match h.dst {
        IpAddr::V4(_) => l3_off + ipv4::HEADER_LEN,
        IpAddr::V6(_) => l3_off + ipv6::HEADER_LEN,
    };
    let seg = &mut buf[tcp_off..];
    tcp::Repr {
        src_port: h.tcp.src_port,
        dst_port: h.tcp.dst_port,
        seq: h.tcp.seq,
        ack: h.tcp.ack,
        flags: h.tcp.flags,
        window: h.tcp.window,
        options: marker::TCP_OPTIONS,
    }
    .emit(seg)?;
    let payload_off = tcp::HEADER_LEN + marker::TCP_OPTIONS.len();
    packet.emit_header(data_len, &mut seg[payload_off..])?;
    let data_off = payload_off + packet.header_len();
    if !fill(&mut seg[data_off..data_off + data_len]) {
        return Ok(None);
    }
    let mut view = tcp::Packet::new_unchecked(&mut seg[..seg_len]);
    view.fill_checksum(pseudo);
    Ok(Some(total))
}
