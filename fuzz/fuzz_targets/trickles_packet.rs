//! The Trickles header alone (the TCP payload): parse, walk every list,
//! re-emit, re-parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trickles_wire::trickles::continuation::Continuation;
use trickles_wire::trickles::{Body, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::parse(data) else { return };
    match &p.body {
        Body::Request(r) | Body::TimeoutRequest(r, _) => {
            let _ = Continuation::decode(r.continuation);
            for b in r.sack.original.iter().chain(r.sack.retransmitted.iter()) {
                assert!(b.start <= b.end);
            }
            for u in r.user_conts.iter() {
                assert!(u.valid_start() <= u.valid_end());
            }
        }
        Body::ContinuationGroup(l) => {
            assert!(l.iter().map(Continuation::decode).count() == l.len());
        }
        Body::Response(r) | Body::FirstResponse(r) | Body::Skip(r, _) => {
            assert!(r.user_conts.iter().count() == r.user_conts.len());
        }
        _ => {}
    }
    let mut buf = vec![0u8; p.buffer_len()];
    assert_eq!(p.emit(&mut buf), Ok(data.len()));
    assert_eq!(&buf[..], data, "emit(parse(x)) == x");
});
