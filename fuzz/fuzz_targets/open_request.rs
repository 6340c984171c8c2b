//! The server's verification pipeline on hostile requests: frame parse →
//! continuation open → SACK-proof verification → user-continuation open.
//!
//! Two halves:
//! - raw: arbitrary bytes. No continuation may ever open (forging a
//!   128-bit tag is the only way), and nothing may panic.
//! - structured: a genuine request (sealed continuation, honest SACK proof
//!   over a received set) is built, then bytes of the frame are flipped.
//!   A request that still opens must have an untouched continuation and
//!   binding; flips anywhere the MAC covers must be refused.
#![no_main]

use std::net::IpAddr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trickles_core::crypto::{
    AppKey, Binding, KeyRing, MasterKey, SackAccumulator, ServerKeys, open_continuation,
    open_user, packet_nonce, seal_continuation, verify_sack,
};
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::continuation::{CONTINUATION_LEN, ContinuationBytes};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::{Body, Flags, Packet, Request};
use trickles_wire::{ConnId, KeyEpoch, PacketNumber};

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Vec<u8>,
    fields: [u8; 60],
    client: [u8; 16],
    v6: bool,
    ports: (u16, u16),
    received: Vec<u8>,
    flips: Vec<(u16, u8)>,
}

fn keys() -> (KeyRing<ServerKeys>, KeyRing<AppKey>) {
    let m = MasterKey::new([7; 16]);
    (
        KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &m)),
        KeyRing::new(AppKey::from_master(KeyEpoch(1), &m)),
    )
}

/// Run the server's checks; returns the opened continuation bytes and
/// binding if the continuation opened.
fn verify(
    ring: &KeyRing<ServerKeys>,
    apps: &KeyRing<AppKey>,
    bytes: &[u8],
) -> Option<(ContinuationBytes, Binding)> {
    let f = frame::parse(bytes).ok()?;
    let (Body::Request(r) | Body::TimeoutRequest(r, _)) = f.trickles.body else {
        return None;
    };
    let binding = Binding::new(f.src, f.tcp.src_port, f.tcp.dst_port);
    let cont = open_continuation(ring, &binding, r.continuation).ok()?;
    let _ = verify_sack(ring.current(), cont.conn_id, &r.sack);
    for u in r.user_conts.iter() {
        let _ = open_user(apps, &binding, cont.conn_id, &u);
    }
    Some((*r.continuation, binding))
}

fuzz_target!(|input: Input| {
    let (ring, apps) = keys();
    assert!(verify(&ring, &apps, &input.raw).is_none(), "a continuation from raw bytes opened");

    // Structured: a genuine request.
    let client: IpAddr = if input.v6 {
        input.client.into()
    } else {
        [input.client[0], input.client[1], input.client[2], input.client[3]].into()
    };
    let server: IpAddr = if input.v6 { [0xfd; 16].into() } else { [10, 0, 0, 2].into() };
    let binding = Binding::new(client, input.ports.0, input.ports.1);
    let mut cont: ContinuationBytes = [0; CONTINUATION_LEN];
    cont[..60].copy_from_slice(&input.fields);
    seal_continuation(ring.current(), &binding, &mut cont);
    let conn = trickles_wire::trickles::continuation::Continuation::decode(&cont).conn_id;
    let mut acc = SackAccumulator::new();
    for &x in input.received.iter().take(64) {
        let x = PacketNumber(u32::from(x) + 1);
        if acc.record(x, packet_nonce(ring.current(), conn, x, false), false).is_err() {
            break;
        }
    }
    let request = Packet {
        flags: Flags(0),
        body: Body::Request(Request {
            continuation: &cont,
            previous: None,
            sack: acc.proof(),
            user_conts: List::empty(),
        }),
        data: &[],
        padding: 0,
    };
    let h = Headers {
        src_mac: [2; 6],
        dst_mac: [4; 6],
        src: client,
        dst: server,
        tcp: TcpFields { src_port: input.ports.0, dst_port: input.ports.1, seq: 1, ack: 1, flags: flags::ACK, window: 65535 },
        ttl: 64,
    };
    let mut buf = vec![0u8; 2048];
    let n = frame::emit(&h, &request, &mut buf).expect("genuine request emits");
    buf.truncate(n);
    let f = frame::parse(&buf).expect("genuine request parses");
    let Body::Request(r) = f.trickles.body else { panic!("not a request") };
    assert!(verify_sack(ring.current(), ConnId(conn.0), &r.sack).is_ok(), "honest proof refused");
    assert!(verify(&ring, &apps, &buf).is_some(), "genuine continuation refused");

    for &(at, x) in input.flips.iter().take(8) {
        let i = usize::from(at) % buf.len();
        buf[i] ^= x;
    }
    if let Some((opened, b)) = verify(&ring, &apps, &buf) {
        assert_eq!(opened, cont, "a modified continuation opened");
        assert_eq!(b.to_bytes(), binding.to_bytes(), "a continuation opened under another binding");
    }
});
