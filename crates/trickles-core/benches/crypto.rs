//! Per-packet cryptography costs (paper §2.2): continuation seal/open,
//! packet nonces, SACK verification, and the two CMAC implementations
//! (`cmac/64B/*` decides the `trickles_core::crypto::cmac::Cmac` alias).
//!
//! Run with `cargo bench -p trickles-core --bench crypto`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use trickles_core::crypto::cmac::{AesCmac, CrateCmac, HandCmac};
use trickles_core::crypto::{
    AppKey, Binding, KeyRing, MasterKey, ReplayFilter, SackAccumulator, ServerKeys,
    open_continuation, packet_nonce, seal_continuation, seal_user, verify_sack,
};
use trickles_wire::trickles::continuation::ContinuationBytes;
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::{ConnId, KeyEpoch, PacketNumber};

fn fixture() -> (KeyRing<ServerKeys>, Binding, ContinuationBytes) {
    let master = MasterKey::new(*b"bench master key");
    let ring = KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &master));
    let binding = Binding::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 51_234, 443);
    let mut c = [0u8; 76];
    for (i, b) in c.iter_mut().enumerate() {
        *b = i as u8;
    }
    seal_continuation(ring.current(), &binding, &mut c);
    (ring, binding, c)
}

fn continuation(cr: &mut Criterion) {
    let (ring, binding, sealed) = fixture();
    let mut g = cr.benchmark_group("continuation");
    g.throughput(Throughput::Elements(1));
    g.bench_function("seal", |b| {
        let mut c = sealed;
        b.iter(|| {
            seal_continuation(black_box(ring.current()), black_box(&binding), &mut c);
            black_box(&c);
        });
    });
    g.bench_function("open", |b| {
        b.iter(|| open_continuation(black_box(&ring), black_box(&binding), black_box(&sealed)));
    });
    g.bench_function("open_bad_mac", |b| {
        let mut bad = sealed;
        bad[59] ^= 1;
        b.iter(|| open_continuation(black_box(&ring), black_box(&binding), black_box(&bad)));
    });
    g.finish();
}

fn nonce(cr: &mut Criterion) {
    let (ring, binding, sealed) = fixture();
    let keys = ring.current();
    let mut g = cr.benchmark_group("nonce");
    g.throughput(Throughput::Elements(1));
    g.bench_function("packet_nonce", |b| {
        let mut x = 1u32;
        b.iter(|| {
            x = x.wrapping_add(1).max(1);
            packet_nonce(
                black_box(keys),
                black_box(ConnId(42)),
                PacketNumber(x),
                false,
            )
        });
    });
    // What the server does per request: open the incoming continuation,
    // seal the next one, and stamp the response with its nonce.
    g.bench_function("seal_open_nonce", |b| {
        let mut next = sealed;
        let mut x = 1u32;
        b.iter(|| {
            let c = open_continuation(black_box(&ring), black_box(&binding), black_box(&sealed))
                .unwrap();
            x = x.wrapping_add(1).max(1);
            next[12..16].copy_from_slice(&x.to_be_bytes());
            seal_continuation(ring.current(), &binding, &mut next);
            black_box(&next);
            packet_nonce(keys, c.conn_id, PacketNumber(x), false)
        });
    });
    g.finish();
}

fn sack(cr: &mut Criterion) {
    let (ring, _, _) = fixture();
    let keys = ring.current();
    let conn = ConnId(42);
    let mut g = cr.benchmark_group("sack_verify");
    for ranges in [1u32, 8, 32] {
        // `ranges` ranges of 4 packets with 1-packet holes; for 32, half of
        // them are retransmissions.
        let mut acc = SackAccumulator::new();
        for r in 0..ranges {
            let retx = ranges == 32 && r % 2 == 1;
            for x in 1 + 5 * r..5 + 5 * r {
                let p = packet_nonce(keys, conn, PacketNumber(x), retx);
                acc.record(PacketNumber(x), p, retx).unwrap();
            }
        }
        assert_eq!(acc.len(), ranges as usize);
        let proof = acc.proof();
        verify_sack(keys, conn, &proof).unwrap();
        g.throughput(Throughput::Elements(u64::from(ranges)));
        g.bench_function(format!("{ranges}_ranges"), |b| {
            b.iter(|| verify_sack(black_box(keys), black_box(conn), black_box(&proof)));
        });
    }
    g.finish();
}

fn cmac(cr: &mut Criterion) {
    let key = *b"0123456789abcdef";
    // The transport-continuation MAC input: binding (20) + sealed bytes (60).
    let msg: [u8; 80] = core::array::from_fn(|i| i as u8);
    let hand = HandCmac::new(&key);
    let krate = CrateCmac::new(&key);
    assert_eq!(hand.mac_exact(&msg), krate.mac(&[&msg]));
    let mut g = cr.benchmark_group("cmac/80B");
    g.throughput(Throughput::Bytes(80));
    g.bench_function("crate", |b| b.iter(|| krate.mac(&[black_box(&msg)])));
    g.bench_function("hand_mac_exact", |b| {
        b.iter(|| hand.mac_exact(black_box(&msg)))
    });
    g.bench_function("hand_parts", |b| {
        let (a, rest) = msg.split_at(20);
        b.iter(|| hand.mac(&[black_box(a), black_box(rest)]));
    });
    g.finish();

    let mut g = cr.benchmark_group("cmac/key_setup");
    g.bench_function("crate", |b| b.iter(|| CrateCmac::new(black_box(&key))));
    g.bench_function("hand", |b| b.iter(|| HandCmac::new(black_box(&key))));
    g.finish();
}

fn user_and_replay(cr: &mut Criterion) {
    let (_, binding, _) = fixture();
    let app = AppKey::from_master(KeyEpoch(1), &MasterKey::new(*b"bench app key..."));
    let mut buf = [0u8; 128];
    let n = UserCont::build(&mut buf, KeyEpoch(1), Kind::Output, 0, 1 << 20, &[7; 64]).unwrap();
    cr.bench_function("user_continuation/seal_64B_app", |b| {
        b.iter(|| {
            seal_user(
                black_box(&app),
                black_box(&binding),
                ConnId(42),
                &mut buf[..n],
            )
        });
    });

    let mut f = ReplayFilter::new(1 << 20, 5_000);
    let mut i = 0u64;
    cr.bench_function("replay/check_fresh", |b| {
        b.iter(|| {
            i += 1;
            let mut tag = [0u8; 16];
            tag[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
            tag[8..16].copy_from_slice(&i.to_le_bytes());
            let now = (i / 1024) as u32;
            f.check(black_box(&tag), now, now)
        });
    });

    cr.bench_function("keys/server_from_master", |b| {
        let master = MasterKey::new(*b"bench master key");
        b.iter(|| ServerKeys::from_master(KeyEpoch(1), black_box(&master)));
    });
}

// ---------------------------------------------------------------------------
// Wire benches (parse / checksum) go here.
// ---------------------------------------------------------------------------

criterion_group!(crypto, continuation, nonce, sack, cmac, user_and_replay);
criterion_main!(crypto);
