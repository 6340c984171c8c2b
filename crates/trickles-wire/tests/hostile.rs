//! Hostile input: arbitrary bytes, truncations and bit flips never panic a
//! parser, and corrupted frames are refused (DESIGN.md "Every byte of every
//! packet from the network is hostile").
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use proptest::prelude::*;
use trickles_wire::classify::classify;
use trickles_wire::frame;
use trickles_wire::trickles::Packet;
use trickles_wire::trickles::continuation::Continuation;
use trickles_wire::trickles::sack::SackProof;
use trickles_wire::trickles::ucont::UserCont;
use trickles_wire::{ethernet, ipv4, ipv6, tcp};

/// Run every parser over `bytes`; none may panic.
fn touch_everything(bytes: &[u8]) {
    let _ = classify(bytes, |_| true);
    if let Ok(f) = frame::parse(bytes) {
        walk(&f.trickles);
    }
    if let Ok(p) = Packet::parse(bytes) {
        walk(&p);
    }
    let _ = SackProof::parse(bytes).map(|(s, _)| s.original.iter().count());
    let _ = UserCont::parse(bytes).map(|u| (u.app_data().len(), u.valid_end(), u.mac().len()));
    if let Ok(e) = ethernet::Frame::new_checked(bytes) {
        let _ = e.network();
    }
    if let Ok(p) = ipv4::Packet::new_checked(bytes) {
        let _ = (
            p.payload().len(),
            p.verify_checksum(),
            ipv4::Repr::parse(&p),
        );
    }
    if let Ok(p) = ipv6::Packet::new_checked(bytes) {
        let _ = p.payload().len();
    }
    if let Ok(p) = tcp::Packet::new_checked(bytes) {
        let _ = (p.options().len(), p.payload().len());
    }
}

/// Use every accessor of a parsed packet.
fn walk(p: &Packet<'_>) {
    use trickles_wire::trickles::Body;
    let mut buf = vec![0u8; p.buffer_len()];
    // A parsed packet always re-emits.
    assert_eq!(p.emit(&mut buf), Ok(buf.len()));
    match &p.body {
        Body::Request(r) | Body::TimeoutRequest(r, _) => {
            let _ = Continuation::decode(r.continuation);
            let _ = r
                .sack
                .original
                .iter()
                .chain(r.sack.retransmitted.iter())
                .count();
            let _ = r
                .user_conts
                .iter()
                .map(|u| u.app_data().len())
                .sum::<usize>();
        }
        Body::Response(r) | Body::FirstResponse(r) | Body::Skip(r, _) => {
            let _ = r.user_conts.iter().map(|u| u.valid_start()).max();
        }
        Body::ContinuationGroup(l) => {
            let _ = l.iter().map(|c| Continuation::decode(c).k).max();
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        touch_everything(&bytes);
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        o in common::owned(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let uconts = common::parse_uconts(&o);
        let p = common::packet(&o, &uconts);
        let mut buf = vec![0u8; p.buffer_len()];
        p.emit(&mut buf).unwrap();
        for (i, x) in flips {
            let i = i.index(buf.len());
            buf[i] ^= x;
        }
        touch_everything(&buf);
        let cut = cut.index(buf.len() + 1);
        touch_everything(&buf[..cut]);
    }
}

#[test]
fn every_truncation_of_a_valid_packet_is_refused() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for _ in 0..200 {
        let o = common::owned().new_tree(&mut runner).unwrap().current();
        let uconts = common::parse_uconts(&o);
        let p = common::packet(&o, &uconts);
        let mut buf = vec![0u8; p.buffer_len()];
        p.emit(&mut buf).unwrap();
        // Dropping trailing padding of a SYN is still valid; anything
        // shorter than header + data is not.
        let min = p.header_len() + p.data.len();
        for cut in 0..min {
            assert!(
                Packet::parse(&buf[..cut]).is_err(),
                "cut {cut} of {min} parsed"
            );
        }
    }
}

#[test]
fn previous_continuation_flag_and_bytes_must_agree() {
    use trickles_wire::trickles::continuation::ContinuationBytes;
    use trickles_wire::trickles::list::List;
    use trickles_wire::trickles::sack::SackProof;
    use trickles_wire::trickles::{Body, Flags, Packet, Request};
    let a: ContinuationBytes = [1; 76];
    let b: ContinuationBytes = [2; 76];
    let req = |previous| Request {
        continuation: &a,
        previous,
        sack: SackProof {
            original: List::empty(),
            retransmitted: List::empty(),
        },
        user_conts: List::empty(),
    };
    let mut buf = [0u8; 512];
    let with = Packet {
        flags: Flags::PREVIOUS,
        body: Body::Request(req(Some(&b))),
        data: &[],
        padding: 0,
    };
    let n = with.emit(&mut buf).unwrap();
    let parsed = Packet::parse(&buf[..n]).unwrap();
    match parsed.body {
        Body::Request(r) => assert_eq!(r.previous, Some(&b)),
        _ => panic!("not a request"),
    }
    // Flag without the bytes, bytes without the flag: refused on emit.
    for (flags, previous) in [(Flags::PREVIOUS, None), (Flags(0), Some(&b))] {
        let p = Packet {
            flags,
            body: Body::Request(req(previous)),
            data: &[],
            padding: 0,
        };
        assert!(p.emit(&mut buf).is_err());
    }
    // Clearing the flag on the wire leaves 76 unexplained bytes.
    let mut t = buf[..n].to_vec();
    t[7] &= !0x02;
    assert!(Packet::parse(&t).is_err());
}
