//! Whole frames: classifier and full parser (Ethernet, VLAN, IPv4, IPv6,
//! TCP, marker, Trickles header). A frame that parses must re-emit to a
//! frame that parses to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trickles_wire::classify::classify;
use trickles_wire::frame::{self, Headers};

fuzz_target!(|data: &[u8]| {
    let _ = classify(data, |p| p % 2 == 0);
    if let Ok(f) = frame::parse(data) {
        let h = Headers {
            src_mac: f.src_mac,
            dst_mac: f.dst_mac,
            src: f.src,
            dst: f.dst,
            tcp: f.tcp,
            ttl: 64,
        };
        let mut buf = vec![0u8; 70_000];
        let n = frame::emit(&h, &f.trickles, &mut buf).expect("a parsed frame re-emits");
        let g = frame::parse(&buf[..n]).expect("an emitted frame parses");
        assert_eq!(g.trickles, f.trickles);
        assert_eq!(g.tcp, f.tcp);
    }
});
