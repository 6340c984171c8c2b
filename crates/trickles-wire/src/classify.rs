//! The steering decision, as the XDP program makes it (docs/protocol.md §1,
//! `bpf/trickles_xdp.c`).
//!
//! A frame is steered to user space only if it is Ethernet (≤ 2 VLAN tags)
//! → unfragmented IPv4 or IPv6 (no extension headers) → TCP whose first
//! option is the Trickles marker and whose destination port is served.
//! Everything else, malformed frames included, passes to the kernel. The
//! XDP program must agree with this function on every frame; the BPF
//! verdict tests check that. Checksums are not verified here (user space
//! does that after steering).

use crate::ethernet::{self, ethertype};
use crate::{ipv4, ipv6, marker, tcp};

/// Why a frame goes to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassReason {
    /// Not IPv4 or IPv6 (ARP, LLDP, too many VLAN tags, ...).
    NotIp,
    /// Truncated or inconsistent lengths.
    Malformed,
    /// An IPv4 fragment.
    Fragment,
    /// Not TCP (or behind an IPv6 extension header).
    NotTcp,
    /// TCP without the Trickles marker as its first option.
    NotMarked,
    /// Marked, but the destination port is not a Trickles service.
    PortNotServed,
}

/// What to do with a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Redirect to the AF_XDP socket of the receive queue.
    Steer,
    /// Let the kernel stack have it.
    Pass(PassReason),
}

/// Classify `frame`; `serves(port)` says whether a destination port is a
/// Trickles service.
pub fn classify(frame: &[u8], serves: impl Fn(u16) -> bool) -> Verdict {
    use PassReason::*;
    let Ok(eth) = ethernet::Frame::new_checked(frame) else {
        return Verdict::Pass(Malformed);
    };
    let net = match eth.network() {
        Ok(n) => n,
        Err(crate::Error::Truncated) => return Verdict::Pass(Malformed),
        Err(_) => return Verdict::Pass(NotIp),
    };
    let l3 = &frame[net.offset..];
    let segment = match net.ethertype {
        ethertype::IPV4 => {
            let Ok(ip) = ipv4::Packet::new_checked(l3) else {
                return Verdict::Pass(Malformed);
            };
            if ip.is_fragment() {
                return Verdict::Pass(Fragment);
            }
            if ip.protocol() != tcp::IPPROTO_TCP {
                return Verdict::Pass(NotTcp);
            }
            &l3[ip.header_len()..usize::from(ip.total_len())]
        }
        ethertype::IPV6 => {
            let Ok(ip) = ipv6::Packet::new_checked(l3) else {
                return Verdict::Pass(Malformed);
            };
            if ip.next_header() != tcp::IPPROTO_TCP {
                return Verdict::Pass(NotTcp);
            }
            &l3[ipv6::HEADER_LEN..ipv6::HEADER_LEN + usize::from(ip.payload_len())]
        }
        _ => return Verdict::Pass(NotIp),
    };
    let Ok(seg) = tcp::Packet::new_checked(segment) else {
        return Verdict::Pass(Malformed);
    };
    if !marker::is_marked(seg.options()) {
        return Verdict::Pass(NotMarked);
    }
    if !serves(seg.dst_port()) {
        return Verdict::Pass(PortNotServed);
    }
    Verdict::Steer
}
