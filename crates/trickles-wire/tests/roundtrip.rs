//! Encode/decode round trips for every Trickles packet type and whole
//! frames (docs/protocol.md §2–§7).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::continuation::{CONTINUATION_LEN, ContextKey, Continuation};
use trickles_wire::trickles::{Packet, PacketType};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn trickles_packet_round_trips(o in common::owned()) {
        let uconts = common::parse_uconts(&o);
        let p = common::packet(&o, &uconts);
        let mut buf = vec![0u8; p.buffer_len()];
        let n = p.emit(&mut buf).unwrap();
        prop_assert_eq!(n, buf.len());
        let q = Packet::parse(&buf).unwrap();
        prop_assert_eq!(q, p);
        // Emitting the parsed packet gives the same bytes.
        let mut again = vec![0u8; q.buffer_len()];
        q.emit(&mut again).unwrap();
        prop_assert_eq!(again, buf);
    }

    #[test]
    fn continuation_round_trips(bytes in proptest::collection::vec(any::<u8>(), CONTINUATION_LEN)) {
        let mut b = [0u8; CONTINUATION_LEN];
        b.copy_from_slice(&bytes);
        let c = Continuation::decode(&b);
        prop_assert_eq!(c.to_bytes(), b);
    }

    #[test]
    fn a_compact_continuation_completed_with_its_context_is_the_whole_one(bytes in proptest::collection::vec(any::<u8>(), CONTINUATION_LEN)) {
        let mut b = [0u8; CONTINUATION_LEN];
        b.copy_from_slice(&bytes);
        let c = Continuation::decode(&b);
        let compact = c.to_compact();
        prop_assert_eq!(ContextKey::of_compact(&compact), c.context_key());
        prop_assert_eq!(Continuation::from_compact(&compact, &c.context()).to_bytes(), b);
    }

    #[test]
    fn frame_round_trips(o in common::owned(), v6 in any::<bool>(), a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), ports in any::<(u16, u16)>(), seq in any::<(u32, u32)>()) {
        let uconts = common::parse_uconts(&o);
        let p = common::packet(&o, &uconts);
        let (src, dst) = if v6 {
            (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
        } else {
            (IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
        };
        let tcp_flags = match p.body.packet_type() {
            PacketType::Syn => flags::SYN,
            PacketType::FirstResponse => flags::SYN | flags::ACK,
            PacketType::Close | PacketType::CloseAck => flags::FIN | flags::ACK,
            _ => flags::ACK | flags::PSH,
        };
        let h = Headers {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src,
            dst,
            tcp: TcpFields { src_port: ports.0, dst_port: ports.1, seq: seq.0, ack: seq.1, flags: tcp_flags, window: 65535 },
            ttl: 64,
        };
        let mut buf = vec![0u8; 4096];
        let n = frame::emit(&h, &p, &mut buf).unwrap();
        let f = frame::parse(&buf[..n]).unwrap();
        prop_assert_eq!(f.src, src);
        prop_assert_eq!(f.dst, dst);
        prop_assert_eq!(f.tcp, h.tcp);
        prop_assert_eq!(f.trickles, p);
        // Ethernet minimum-size padding after the IP packet is ignored.
        let mut padded = buf[..n].to_vec();
        padded.resize(n.max(60) + 4, 0);
        prop_assert!(frame::parse(&padded).is_ok());
    }
}

#[test]
fn the_compact_flag_is_structural_and_allowed_only_on_responses_and_skips() {
    use trickles_wire::trickles::list::List;
    use trickles_wire::trickles::{Body, Flags, Response, ResponseCont};
    use trickles_wire::{Error, PacketNumber};
    let whole = [7u8; CONTINUATION_LEN];
    let compact = Continuation::decode(&whole).to_compact();
    let r = Response {
        slot: PacketNumber(3),
        nonce: 9,
        continuation: ResponseCont::Compact(&compact),
        user_conts: List::empty(),
    };
    let p = Packet {
        flags: Flags::RETX,
        body: Body::Response(r),
        data: b"abc",
        padding: 0,
    };
    let mut buf = vec![0u8; p.buffer_len()];
    p.emit(&mut buf).unwrap();
    // The header says COMPACT; the parsed flags do not, the body does.
    assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 0x0009);
    assert_eq!(p.header_len(), 8 + 8 + 50 + 4);
    assert_eq!(Packet::parse(&buf).unwrap(), p);
    // A first response is always whole: compact is refused both ways.
    let first = Packet {
        flags: Flags(0),
        body: Body::FirstResponse(r),
        ..p
    };
    assert_eq!(first.emit(&mut buf), Err(Error::Reserved));
    buf[1] = PacketType::FirstResponse as u8;
    assert!(Packet::parse(&buf).is_err());
    // Without the flag the same bytes are too short for a whole one.
    buf[1] = PacketType::Response as u8;
    buf[7] = 0x01;
    assert!(Packet::parse(&buf).is_err());
}
