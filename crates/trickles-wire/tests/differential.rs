//! Differential tests against `etherparse`, an independent implementation
//! of Ethernet/IP/TCP parsing and checksums: frames it builds parse here to
//! the same fields, and frames built here parse there.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use proptest::prelude::*;
use std::net::IpAddr;
use trickles_wire::classify::{PassReason, Verdict, classify};
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::marker::MARKER;
use trickles_wire::tcp::flags;

fn etherparse_frame(
    v6: bool,
    vlan: Option<u16>,
    sport: u16,
    dport: u16,
    seq: u32,
    payload: &[u8],
    marked: bool,
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let options = if marked {
        vec![etherparse::TcpOptionElement::Noop; 0]
    } else {
        vec![etherparse::TcpOptionElement::MaximumSegmentSize(1460)]
    };
    let mut out = Vec::new();
    macro_rules! finish {
        ($b:expr) => {{
            let b = $b.tcp(sport, dport, seq, 65535).ack(7).psh();
            let b = if marked {
                b
            } else {
                b.options(&options).unwrap()
            };
            let mut raw = Vec::new();
            b.write(&mut raw, payload).unwrap();
            raw
        }};
    }
    let raw = match (v6, vlan) {
        (false, None) => finish!(eth.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)),
        (true, None) => finish!(eth.ipv6([1; 16], [2; 16], 64)),
        (false, Some(id)) => finish!(
            eth.single_vlan(etherparse::VlanId::try_new(id).unwrap())
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        ),
        (true, Some(id)) => finish!(
            eth.single_vlan(etherparse::VlanId::try_new(id).unwrap())
                .ipv6([1; 16], [2; 16], 64)
        ),
    };
    out.extend_from_slice(&raw);
    if marked {
        insert_marker(&mut out, v6, vlan.is_some());
    }
    out
}

/// Insert the 4-byte marker option into a frame built without options,
/// fixing lengths and checksums with our own code (checked afterwards by
/// etherparse's view of the result).
fn insert_marker(f: &mut Vec<u8>, v6: bool, vlan: bool) {
    let l3 = 14 + if vlan { 4 } else { 0 };
    let l4 = l3 + if v6 { 40 } else { 20 };
    f.splice(l4 + 20..l4 + 20, MARKER);
    f[l4 + 12] = 6 << 4;
    if v6 {
        let len = u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) + 4;
        f[l3 + 4..l3 + 6].copy_from_slice(&len.to_be_bytes());
    } else {
        let len = u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]) + 4;
        f[l3 + 2..l3 + 4].copy_from_slice(&len.to_be_bytes());
        let mut ip = trickles_wire::ipv4::Packet::new_unchecked(&mut f[l3..]);
        ip.fill_checksum();
    }
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        let s: [u8; 16] = f[l3 + 8..l3 + 24].try_into().unwrap();
        let d: [u8; 16] = f[l3 + 24..l3 + 40].try_into().unwrap();
        (s.into(), d.into())
    } else {
        let s: [u8; 4] = f[l3 + 12..l3 + 16].try_into().unwrap();
        let d: [u8; 4] = f[l3 + 16..l3 + 20].try_into().unwrap();
        (s.into(), d.into())
    };
    let seg_len = f.len() - l4;
    let pseudo = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            trickles_wire::checksum::pseudo_header_v4(s, d, 6, seg_len as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            trickles_wire::checksum::pseudo_header_v6(s, d, 6, seg_len as u32)
        }
        _ => unreachable!(),
    };
    trickles_wire::tcp::Packet::new_unchecked(&mut f[l4..]).fill_checksum(pseudo);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// etherparse builds the frame; our classifier and parser agree with
    /// etherparse's reading of it, including its checksums.
    #[test]
    fn etherparse_frames_classify_and_parse_alike(
        o in common::owned(), v6 in any::<bool>(), vlan in proptest::option::of(1u16..4095),
        sport in any::<u16>(), dport in any::<u16>(), seq in any::<u32>(), marked in any::<bool>(),
    ) {
        let uconts = common::parse_uconts(&o);
        let p = common::packet(&o, &uconts);
        let mut payload = vec![0u8; p.buffer_len()];
        p.emit(&mut payload).unwrap();
        let f = etherparse_frame(v6, vlan, sport, dport, seq, &payload, marked);

        let theirs = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(TransportSlice::Tcp(t)) = theirs.transport else { panic!("etherparse saw no TCP") };
        prop_assert_eq!(t.destination_port(), dport);
        prop_assert_eq!(t.payload(), &payload[..]);
        let (src, dst) = match theirs.net {
            Some(NetSlice::Ipv4(ref ip)) => (IpAddr::from(ip.header().source()), IpAddr::from(ip.header().destination())),
            Some(NetSlice::Ipv6(ref ip)) => (IpAddr::from(ip.header().source()), IpAddr::from(ip.header().destination())),
            _ => panic!("etherparse saw no IP"),
        };
        // etherparse's own checksum verdict on the final frame.
        let expected_sum = match theirs.net {
            Some(NetSlice::Ipv4(ref ip)) => t.to_header().calc_checksum_ipv4(&ip.header().to_header(), t.payload()).unwrap(),
            Some(NetSlice::Ipv6(ref ip)) => t.to_header().calc_checksum_ipv6(&ip.header().to_header(), t.payload()).unwrap(),
            _ => unreachable!(),
        };
        prop_assert_eq!(expected_sum, t.checksum());

        let verdict = classify(&f, |port| port == dport);
        if marked {
            prop_assert_eq!(verdict, Verdict::Steer);
            let ours = frame::parse(&f);
            // TCP flags are ACK|PSH here, so only non-SYN, non-FIN types parse.
            match ours {
                Ok(ours) => {
                    prop_assert_eq!(ours.src, src);
                    prop_assert_eq!(ours.dst, dst);
                    prop_assert_eq!(ours.tcp.seq, seq);
                    prop_assert_eq!(ours.trickles, p);
                    prop_assert_eq!(ours.vlan_tags, usize::from(vlan.is_some()));
                }
                Err(e) => prop_assert_eq!(e, trickles_wire::Error::BadTcpFlags),
            }
        } else {
            prop_assert_eq!(verdict, Verdict::Pass(PassReason::NotMarked));
            prop_assert_eq!(frame::parse(&f).err(), Some(trickles_wire::Error::NotTrickles));
        }
        prop_assert_eq!(classify(&f, |port| port != dport), if marked { Verdict::Pass(PassReason::PortNotServed) } else { Verdict::Pass(PassReason::NotMarked) });
    }

    /// Frames we emit are valid to etherparse, checksums included.
    #[test]
    fn our_frames_are_valid_to_etherparse(o in common::owned(), v6 in any::<bool>(), a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
        let uconts = common::parse_uconts(&o);
        let p = common::packet(&o, &uconts);
        let (src, dst): (IpAddr, IpAddr) = if v6 { (a.into(), b.into()) } else {
            ([a[0], a[1], a[2], a[3]].into(), [b[0], b[1], b[2], b[3]].into())
        };
        let h = Headers { src_mac: [2; 6], dst_mac: [4; 6], src, dst,
            tcp: TcpFields { src_port: 40000, dst_port: 8080, seq: 1, ack: 2, flags: flags::ACK, window: 1000 }, ttl: 64 };
        let mut buf = vec![0u8; 4096];
        let n = frame::emit(&h, &p, &mut buf).unwrap();
        let theirs = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
        let Some(TransportSlice::Tcp(t)) = theirs.transport else { panic!("no TCP") };
        let sum = match theirs.net {
            Some(NetSlice::Ipv4(ref ip)) => {
                let hdr = ip.header().to_header();
                prop_assert_eq!(hdr.header_checksum, hdr.calc_header_checksum());
                t.to_header().calc_checksum_ipv4(&hdr, t.payload()).unwrap()
            }
            Some(NetSlice::Ipv6(ref ip)) => t.to_header().calc_checksum_ipv6(&ip.header().to_header(), t.payload()).unwrap(),
            _ => panic!("no IP"),
        };
        prop_assert_eq!(sum, t.checksum());
        prop_assert_eq!(&t.options()[..4], &MARKER[..]);
    }
}
