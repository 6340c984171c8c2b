//! Micro-benchmarks of the per-packet wire work: Trickles header parse,
//! whole-frame parse (both checksums verified), steering classification,
//! response emit, and the Internet checksum of a 1500-byte frame.
//!
//! `cargo bench -p trickles-wire --bench wire`
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trickles_wire::checksum;
use trickles_wire::classify::classify;
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::continuation::{Continuation, ContinuationBytes};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::{SackBlock, SackProof};
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::trickles::{Body, Flags, Packet, Request, Response, ResponseCont};
use trickles_wire::{KeyEpoch, PacketNumber};

fn headers(flags: u8) -> Headers {
    Headers {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: IpAddr::from([10, 0, 0, 1]),
        dst: IpAddr::from([10, 0, 0, 2]),
        tcp: TcpFields {
            src_port: 40000,
            dst_port: 8080,
            seq: 1,
            ack: 2,
            flags,
            window: 65535,
        },
        ttl: 64,
    }
}

fn benches(c: &mut Criterion) {
    let cont: ContinuationBytes = core::array::from_fn(|i| i as u8);
    let mut uc = [0u8; 64];
    let n = UserCont::build(
        &mut uc,
        KeyEpoch(1),
        Kind::Output,
        0,
        1 << 30,
        b"file:1234:v7",
    )
    .unwrap();
    let uconts = [UserCont::parse(&uc[..n]).unwrap()];
    let blocks = [SackBlock {
        start: PacketNumber(1),
        end: PacketNumber(900),
        proof: 0xabcd_ef01,
    }];

    // A request: continuation, one SACK range, one output continuation.
    let request = Packet {
        flags: Flags(0),
        body: Body::Request(Request {
            continuation: &cont,
            previous: None,
            sack: SackProof {
                original: List::Items(&blocks),
                retransmitted: List::empty(),
            },
            user_conts: List::Items(&uconts),
        }),
        data: &[],
        padding: 0,
    };
    let mut req_frame = vec![0u8; 2048];
    let req_len = frame::emit(&headers(flags::ACK), &request, &mut req_frame).unwrap();
    let req_frame = &req_frame[..req_len];
    let req_payload = &req_frame[14 + 20 + 24..];

    // A full-size response: 1386 bytes of data behind a compact
    // continuation (docs/protocol.md §5.1, §12).
    let data = vec![0x5a; 1386];
    let compact = Continuation::decode(&cont).to_compact();
    let response = Packet {
        flags: Flags(0),
        body: Body::Response(Response {
            slot: PacketNumber(901),
            nonce: 7,
            continuation: ResponseCont::Compact(&compact),
            user_conts: List::empty(),
        }),
        data: &data,
        padding: 0,
    };
    let mut resp_frame = vec![0u8; 2048];
    let resp_len = frame::emit(&headers(flags::ACK), &response, &mut resp_frame).unwrap();
    assert_eq!(resp_len, 1514);

    let mut g = c.benchmark_group("wire");
    g.bench_function("trickles_header_parse_request", |b| {
        b.iter(|| Packet::parse(black_box(req_payload)).unwrap())
    });
    g.bench_function("frame_parse_request", |b| {
        b.iter(|| frame::parse(black_box(req_frame)).unwrap())
    });
    g.throughput(Throughput::Bytes(1514));
    g.bench_function("frame_parse_response_1514", |b| {
        b.iter(|| frame::parse(black_box(&resp_frame[..resp_len])).unwrap())
    });
    g.bench_function("checksum_1500", |b| {
        b.iter(|| checksum::checksum(black_box(&resp_frame[14..1514])))
    });
    g.bench_function("frame_emit_response_1514", |b| {
        let mut out = vec![0u8; 2048];
        b.iter(|| {
            frame::emit(
                black_box(&headers(flags::ACK)),
                black_box(&response),
                &mut out,
            )
            .unwrap()
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("classify", |b| {
        b.iter(|| classify(black_box(req_frame), |p| p == 8080))
    });
    g.finish();
}

criterion_group!(wire, benches);
criterion_main!(wire);
