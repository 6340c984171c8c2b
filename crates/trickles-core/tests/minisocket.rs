//! The minisocket event API (paper §3, Figure 8): events carry what the
//! window allows, answers are checked, events can be detached, extracted
//! to another replica and installed once, and the soft-state cache (§5.1)
//! changes nothing on the wire.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{
    DropReason, EventKind, Minisocket, SendError, Server, ServerConfig, UcontSpec,
};
use trickles_wire::KeyEpoch;
use trickles_wire::frame;
use trickles_wire::trickles::Body;
use trickles_wire::trickles::ucont::Kind;

const LEN: u64 = 200_000;

fn server_with(cache_entries: usize) -> Server {
    let m = MasterKey::new([9; 16]);
    Server::new(
        ServerConfig {
            cache_entries,
            ..ServerConfig::default()
        },
        KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &m)),
        KeyRing::new(AppKey::from_master(KeyEpoch(1), &MasterKey::new([3; 16]))),
    )
}

fn ends() -> Endpoints {
    Endpoints {
        local_mac: [2, 0, 0, 0, 0, 1],
        remote_mac: [2, 0, 0, 0, 0, 2],
        local: IpAddr::from([10, 0, 0, 1]),
        local_port: 40_000,
        remote: IpAddr::from([10, 0, 0, 2]),
        remote_port: 8080,
    }
}

fn byte(off: u64) -> u8 {
    (off.wrapping_mul(31) >> 3) as u8
}

fn stream(offset: u64, len: u64) -> Vec<u8> {
    (offset..offset + len).map(byte).collect()
}

/// Answer any event the way a simple application would: OPEN installs the
/// output continuation, everything is answered with `send`.
fn answer(server: &mut Server, now: Instant, mut msk: Minisocket<'_>, tx: &mut Vec<Vec<u8>>) {
    match msk.kind() {
        EventKind::Close => return,
        EventKind::Open => msk.set_output(UcontSpec::output(0, LEN, b"object").unwrap()),
        EventKind::Request => assert_eq!(msk.output().unwrap().app_data(), b"object"),
    }
    let data: Vec<u8> = msk
        .segments()
        .flat_map(|s| stream(s.offset, s.len))
        .collect();
    server
        .send(now, msk, &data, &mut |f| tx.push(f.to_vec()))
        .unwrap();
}

fn syn() -> (Client, Vec<u8>) {
    let mut client = Client::new(ClientConfig::default(), ends(), 77, b"GET /object");
    let mut syn = Vec::new();
    client.start(Instant::from_millis(1), &mut |f| syn = f.to_vec());
    (client, syn)
}

#[test]
fn open_event_carries_the_request_and_sizes_the_answer() {
    let mut server = server_with(0);
    let (_, syn) = syn();
    let now = Instant::from_millis(2);
    let mut msk = server
        .handle(now, &syn, &mut |_| panic!("no answer yet"))
        .next()
        .unwrap();
    assert_eq!(msk.kind(), EventKind::Open);
    assert_eq!(msk.input(), b"GET /object");
    // Before the output is installed nothing can be sent.
    assert_eq!(msk.segments().count(), 0);
    msk.set_output(UcontSpec::output(0, LEN, b"object").unwrap());
    let segs: Vec<_> = msk.segments().collect();
    assert!(!segs.is_empty());
    assert_eq!(segs[0].offset, 0);
    for w in segs.windows(2) {
        assert_eq!(w[0].offset + w[0].len, w[1].offset);
    }
    // A wrong length is refused and nothing goes out.
    let mut out = Vec::new();
    let err = server
        .send(now, msk, &[0; 3], &mut |f| out.push(f.to_vec()))
        .unwrap_err();
    assert!(matches!(err, SendError::Length { got: 3, .. }));
    assert!(out.is_empty());
    assert_eq!(server.stats().send_errors, 1);
}

#[test]
fn answers_to_a_syn_never_exceed_it_and_carry_the_output() {
    let mut server = server_with(0);
    let (_, syn) = syn();
    let now = Instant::from_millis(2);
    let msk = server.handle(now, &syn, &mut |_| {}).next().unwrap();
    let mut out = Vec::new();
    answer(&mut server, now, msk, &mut out);
    let syn_ip = syn.len() - 14;
    let answer_ip: usize = out.iter().map(|f| f.len() - 14).sum();
    assert!(answer_ip <= syn_ip, "{answer_ip} > {syn_ip}");
    for f in &out {
        let p = frame::parse(f).unwrap();
        let Body::FirstResponse(r) = p.trickles.body else {
            panic!("not a first response");
        };
        let u = r.user_conts.iter().next().unwrap();
        assert_eq!(u.kind(), Kind::Output);
        assert_eq!((u.valid_start(), u.valid_end()), (0, LEN));
    }
}

/// Drive a whole loss-free transfer through the raw event API, checking
/// every event against what `check` wants; returns the client.
fn transfer(
    server: &mut Server,
    mut check: impl FnMut(&mut Server, Instant, Minisocket<'_>, &mut Vec<Vec<u8>>),
) -> Client {
    let (mut client, syn) = syn();
    let mut now = Instant::from_millis(2);
    let mut to_server = vec![syn];
    for _ in 0..10_000 {
        if client.is_done() {
            break;
        }
        now = now.plus_micros(10_000);
        let mut to_client = Vec::new();
        for f in to_server.drain(..) {
            for msk in server.handle(now, &f, &mut |r| to_client.push(r.to_vec())) {
                check(server, now, msk, &mut to_client);
            }
        }
        now = now.plus_micros(10_000);
        for f in to_client {
            client.on_frame(now, &f, &mut |r| to_server.push(r.to_vec()));
        }
    }
    assert!(client.is_done());
    client
}

#[test]
fn a_transfer_through_the_event_api_is_intact_and_requests_follow_the_window() {
    let mut server = server_with(0);
    let mut requests = 0;
    let client = transfer(&mut server, |s, now, msk, tx| {
        if msk.kind() == EventKind::Request {
            requests += 1;
            // Slow start then congestion avoidance: one or two new slots.
            let n = msk.segments().count();
            assert!((1..=2).contains(&n) || msk.wanted_len() == 0, "{n}");
        }
        answer(s, now, msk, tx);
    });
    assert_eq!(client.data().len() as u64, LEN);
    assert!(
        client
            .data()
            .iter()
            .enumerate()
            .all(|(i, &b)| b == byte(i as u64))
    );
    assert!(requests > 100);
    assert_eq!(
        server.stats().events,
        server.stats().syns + server.stats().requests
    );
}

#[test]
fn sendv_and_send_with_put_the_same_frames_on_the_wire() {
    // Three servers with the same keys get the same events; each answers
    // with a different call; the frames must be identical.
    let mut a = server_with(0);
    let mut b = server_with(0);
    let mut c = server_with(0);
    let (_, syn) = syn();
    let now = Instant::from_millis(2);
    let mut outs: [Vec<Vec<u8>>; 3] = Default::default();
    for (i, s) in [&mut a, &mut b, &mut c].into_iter().enumerate() {
        let mut msk = s.handle(now, &syn, &mut |_| {}).next().unwrap();
        msk.set_output(UcontSpec::output(0, LEN, b"object").unwrap());
        let data: Vec<u8> = msk
            .segments()
            .flat_map(|g| stream(g.offset, g.len))
            .collect();
        let out = &mut outs[i];
        let mut tx = |f: &[u8]| out.push(f.to_vec());
        match i {
            0 => s.send(now, msk, &data, &mut tx).unwrap(),
            1 => {
                let (x, y) = data.split_at(data.len() / 3);
                let (y, z) = y.split_at(1);
                s.sendv(now, msk, &[x, y, &[], z], &mut tx).unwrap()
            }
            _ => s
                .send_with(
                    now,
                    msk,
                    &mut |g, buf| {
                        buf.copy_from_slice(&stream(g.offset, g.len));
                        Ok(())
                    },
                    &mut tx,
                )
                .unwrap(),
        };
    }
    assert!(!outs[0].is_empty());
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}

/// The first request of a connection, and the server that answered its SYN.
fn first_request() -> (Server, Vec<u8>, Instant) {
    let mut server = server_with(0);
    let (mut client, syn) = syn();
    let now = Instant::from_millis(2);
    let msk = server.handle(now, &syn, &mut |_| {}).next().unwrap();
    let mut out = Vec::new();
    answer(&mut server, now, msk, &mut out);
    let mut req = Vec::new();
    let later = Instant::from_millis(30);
    client.on_frame(later, &out[0], &mut |f| req = f.to_vec());
    assert!(!req.is_empty());
    (server, req, later)
}

#[test]
fn detached_events_answer_later_like_the_original() {
    let (mut server, req, now) = first_request();
    let msk = server.handle(now, &req, &mut |_| {}).next().unwrap();
    let segs: Vec<_> = msk.segments().collect();
    let detached = msk.detach().unwrap();
    drop(req);
    let again = detached.minisocket();
    assert_eq!(again.segments().collect::<Vec<_>>(), segs);
    assert_eq!(again.output().unwrap().app_data(), b"object");
    let mut out = Vec::new();
    answer(&mut server, now.plus_micros(5_000), again, &mut out);
    assert_eq!(out.len(), segs.len());
}

#[test]
fn extracted_events_install_once_on_a_replica_and_resist_tampering() {
    let (mut a, req, now) = first_request();
    let msk = a.handle(now, &req, &mut |_| {}).next().unwrap();
    let segs: Vec<_> = msk.segments().collect();
    let e = a.extract(&msk).unwrap();
    a.drop_event(msk);
    assert_eq!(a.stats().events_dropped, 1);
    // Another replica with the same keys re-creates the same event.
    let mut b = server_with(0);
    let later = now.plus_micros(3_000);
    let m2 = b.install(later, e.as_bytes(), &mut |_| {}).unwrap();
    assert_eq!(m2.kind(), EventKind::Request);
    assert_eq!(m2.segments().collect::<Vec<_>>(), segs);
    let mut out = Vec::new();
    answer(&mut b, later, m2, &mut out);
    assert_eq!(out.len(), segs.len());
    // Once per server.
    assert_eq!(
        b.install(later, e.as_bytes(), &mut |_| {}).unwrap_err(),
        DropReason::Replayed
    );
    // Any flipped bit is refused.
    let bytes = e.as_bytes().to_vec();
    for i in (0..bytes.len()).step_by(7) {
        let mut t = bytes.clone();
        t[i] ^= 0x10;
        let mut c = server_with(0);
        assert!(c.install(later, &t, &mut |_| {}).is_err(), "byte {i}");
    }
    // A server with other keys cannot install it.
    let mut other = Server::new(
        ServerConfig::default(),
        KeyRing::new(ServerKeys::from_master(
            KeyEpoch(1),
            &MasterKey::new([1; 16]),
        )),
        KeyRing::new(AppKey::from_master(KeyEpoch(1), &MasterKey::new([3; 16]))),
    );
    assert_eq!(
        other.install(later, e.as_bytes(), &mut |_| {}).unwrap_err(),
        DropReason::BadMac
    );
    // Too old.
    let mut d = server_with(0);
    assert_eq!(
        d.install(Instant::from_millis(60_000), e.as_bytes(), &mut |_| {})
            .unwrap_err(),
        DropReason::Stale
    );
}

#[test]
fn per_packet_user_continuations_ride_on_the_named_packet() {
    let (mut server, req, now) = first_request();
    let mut msk = server.handle(now, &req, &mut |_| {}).next().unwrap();
    let n = msk.segments().count();
    assert!(n >= 1);
    let spec = UcontSpec::output(0, LEN, b"version 2").unwrap();
    msk.set_ucont(n - 1, spec).unwrap();
    let data: Vec<u8> = msk
        .segments()
        .flat_map(|g| stream(g.offset, g.len))
        .collect();
    let mut out = Vec::new();
    server
        .send(now, msk, &data, &mut |f| out.push(f.to_vec()))
        .unwrap();
    let counts: Vec<usize> = out
        .iter()
        .map(|f| match frame::parse(f).unwrap().trickles.body {
            Body::Response(r) => r.user_conts.len(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(counts[n - 1], 1);
    assert!(counts[..n - 1].iter().all(|&c| c == 0));
}

#[test]
fn refused_and_dropped_events_send_nothing_and_are_counted() {
    let (mut server, req, now) = first_request();
    let msk = server.handle(now, &req, &mut |_| {}).next().unwrap();
    server.refuse(msk);
    assert_eq!(server.stats().drops(DropReason::AppRefused), 1);
    // The same request again is a replay, refused by the engine itself.
    assert!(server.handle(now, &req, &mut |_| {}).is_empty());
    assert_eq!(server.stats().drops(DropReason::Replayed), 1);
}

#[test]
fn the_soft_state_cache_changes_nothing_on_the_wire() {
    // Two servers, cache off and on, see every client frame; their
    // answers must be byte-identical, and the cache must hit.
    let mut cached = server_with(1024);
    let mut plain = server_with(0);
    let mem = cached.memory_bytes();
    assert!(mem > plain.memory_bytes());
    let (mut client, syn) = syn();
    let mut now = Instant::from_millis(2);
    let mut to_server = vec![syn];
    while !client.is_done() {
        now = now.plus_micros(10_000);
        let mut to_client = Vec::new();
        for f in to_server.drain(..) {
            let mut a = Vec::new();
            let mut b = Vec::new();
            for m in plain.handle(now, &f, &mut |r| a.push(r.to_vec())) {
                answer(&mut plain, now, m, &mut a);
            }
            for m in cached.handle(now, &f, &mut |r| b.push(r.to_vec())) {
                answer(&mut cached, now, m, &mut b);
            }
            assert_eq!(a, b);
            to_client.extend(a);
        }
        now = now.plus_micros(10_000);
        for f in to_client {
            client.on_frame(now, &f, &mut |r| to_server.push(r.to_vec()));
        }
    }
    let s = cached.stats();
    // Every continuation is looked up once; a direct-mapped table loses a
    // few to collisions, which fall back to the MAC check.
    // (Requests also carry their predecessor's continuation: looked up,
    // then refused by the replay table as already answered.)
    assert_eq!(s.previous_refused, 0);
    assert_eq!(
        s.cache_hits + s.cache_misses,
        s.requests + s.closes + s.previous_duplicates
    );
    assert!(s.cache_hits * 10 > s.requests * 9, "{s:?}");
    assert_eq!(cached.memory_bytes(), mem);
    assert_eq!(plain.stats().cache_hits, 0);
}

#[test]
fn a_lost_request_is_answered_from_the_next_one() {
    // The client answers the two packets of the SYN's answer with two
    // requests; the first is lost. The second carries the first's
    // continuation, so the server answers both, older first, exactly as
    // if nothing had been lost.
    let mut server = server_with(0);
    let (mut client, syn) = syn();
    let now = Instant::from_millis(2);
    let msk = server.handle(now, &syn, &mut |_| {}).next().unwrap();
    let mut out = Vec::new();
    answer(&mut server, now, msk, &mut out);
    assert!(out.len() >= 2);
    let later = Instant::from_millis(30);
    let mut reqs = Vec::new();
    for f in &out {
        client.on_frame(later, f, &mut |r| reqs.push(r.to_vec()));
    }
    assert_eq!(reqs.len(), out.len());
    let second = frame::parse(&reqs[1]).unwrap();
    assert!(
        second
            .trickles
            .flags
            .contains(trickles_wire::trickles::Flags::PREVIOUS)
    );
    // What the lost request would have brought (a replica computes it).
    let mut replica = server_with(0);
    let expected: Vec<_> = replica
        .handle(later, &reqs[0], &mut |_| {})
        .next()
        .unwrap()
        .segments()
        .collect();
    let events: Vec<_> = server.handle(later, &reqs[1], &mut |_| {}).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].segments().collect::<Vec<_>>(), expected);
    assert!(events[0].input().is_empty());
    assert_eq!(server.stats().previous_answered, 1);
    // Had the first request arrived, the copy is refused as answered.
    let mut other = server_with(0);
    assert_eq!(other.handle(later, &reqs[0], &mut |_| {}).len(), 1);
    assert_eq!(other.handle(later, &reqs[1], &mut |_| {}).len(), 1);
    assert_eq!(other.stats().previous_duplicates, 1);
    // An extracted "previous" event installs as that event.
    let e = server.extract(&events[0]).unwrap();
    let mut b = server_with(0);
    let m = b.install(later, e.as_bytes(), &mut |_| {}).unwrap();
    assert_eq!(m.segments().collect::<Vec<_>>(), expected);
}
