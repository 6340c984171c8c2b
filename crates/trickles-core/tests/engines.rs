//! The real server and client engines talking through an in-memory wire
//! with a simulated clock: transfers complete byte-identical, with and
//! without losses, and the server refuses what it must.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::net::IpAddr;

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{
    AppRefusal, Application, DropReason, MAX_APP_DATA, Opened, Output, ServerConfig, StreamServer,
};
use trickles_wire::KeyEpoch;

/// Serves `len` deterministic bytes named by the request (len, seed).
#[derive(Debug, Default)]
struct Bulk;

fn byte(seed: u64, off: u64) -> u8 {
    (off.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed).to_be_bytes()[3]
}

impl Application for Bulk {
    fn open(
        &mut self,
        request: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        let r: [u8; 16] = request.try_into().map_err(|_| AppRefusal)?;
        app_data[..16].copy_from_slice(&r);
        Ok(Opened::Output(Output {
            len: u64::from_be_bytes(r[..8].try_into().unwrap()),
            app_data_len: 16,
        }))
    }

    fn fill(&mut self, app_data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), AppRefusal> {
        let seed = u64::from_be_bytes(app_data.get(8..16).ok_or(AppRefusal)?.try_into().unwrap());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = byte(seed, offset + i as u64);
        }
        Ok(())
    }
}

fn server() -> StreamServer<Bulk> {
    let m = MasterKey::new([9; 16]);
    StreamServer::new(
        ServerConfig::default(),
        KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &m)),
        KeyRing::new(AppKey::from_master(KeyEpoch(1), &MasterKey::new([3; 16]))),
        Bulk,
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

struct Run {
    client: Client,
    server: StreamServer<Bulk>,
    now: Instant,
    rounds: usize,
}

/// Run a transfer with a fixed one-way delay of 10 ms; `drop_response(i)`
/// decides whether the i-th response frame is lost.
fn transfer(len: u64, seed: u64, drop_response: impl FnMut(u64) -> bool) -> Run {
    transfer_with(ClientConfig::default(), len, seed, drop_response)
}

/// [`transfer`] with a client configuration.
fn transfer_with(
    cfg: ClientConfig,
    len: u64,
    seed: u64,
    drop_response: impl FnMut(u64) -> bool,
) -> Run {
    transfer_hooked(cfg, len, seed, drop_response, |_, _| {})
}

/// [`transfer_with`], calling `hook(responses so far, server)` after the
/// server handles each frame.
fn transfer_hooked(
    cfg: ClientConfig,
    len: u64,
    seed: u64,
    mut drop_response: impl FnMut(u64) -> bool,
    hook: impl FnMut(u64, &mut StreamServer<Bulk>),
) -> Run {
    transfer_frames(cfg, len, seed, |i, _| drop_response(i), hook)
}

/// [`transfer_hooked`] with a loss decision that sees the frame:
/// `drop_response(i, frame)` for the i-th server frame.
fn transfer_frames(
    cfg: ClientConfig,
    len: u64,
    seed: u64,
    mut drop_response: impl FnMut(u64, &[u8]) -> bool,
    mut hook: impl FnMut(u64, &mut StreamServer<Bulk>),
) -> Run {
    let mut req = [0u8; 16];
    req[..8].copy_from_slice(&len.to_be_bytes());
    req[8..].copy_from_slice(&seed.to_be_bytes());
    let mut client = Client::new(cfg, ends(), 1000, &req);
    let mut server = server();
    let mut now = Instant::from_millis(1_000);
    let delay = 10_000;
    // (arrival time, frame, to_server)
    let mut wire: VecDeque<(Instant, Vec<u8>, bool)> = VecDeque::new();
    let mut up = Vec::new();
    client.start(now, &mut |f| up.push(f.to_vec()));
    for f in up.drain(..) {
        wire.push_back((now.plus_micros(delay), f, true));
    }
    let mut responses = 0u64;
    let mut rounds = 0;
    while !client.is_done() {
        rounds += 1;
        assert!(rounds < 1_000_000, "no progress");
        // Next event: a frame or the client's timer.
        let next_frame = wire.iter().map(|(t, _, _)| *t).min();
        let next_timer = client.next_timer();
        let t = match (next_frame, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => panic!("stalled: nothing in flight and no timer"),
        };
        assert!(
            t.0 < 3_600_000_000,
            "transfer did not finish within an hour of simulated time: delivered {} of {:?}; client {:?}; server {:?}",
            client.delivered(),
            client.total_len(),
            client.stats(),
            server.stats()
        );
        now = t;
        let mut out_client = Vec::new();
        let mut out_server = Vec::new();
        if next_frame == Some(t) {
            let i = wire.iter().position(|(at, _, _)| *at == t).unwrap();
            let (_, f, to_server) = wire.remove(i).unwrap();
            if to_server {
                let before = server.stats().clone();
                server.handle(now, &f, &mut |r| out_server.push(r.to_vec()));
                if std::env::var_os("TRACE").is_some() {
                    let after = server.stats();
                    for r in DropReason::ALL {
                        if after.drops(r) > before.drops(r) {
                            let p = trickles_wire::frame::parse(&f).unwrap();
                            let c = match p.trickles.body {
                                trickles_wire::trickles::Body::Request(q)
                                | trickles_wire::trickles::Body::TimeoutRequest(q, _) => Some(
                                    trickles_wire::trickles::continuation::Continuation::decode(
                                        q.continuation,
                                    ),
                                ),
                                _ => None,
                            };
                            eprintln!(
                                "t={} drop {} type {:?} cont {:?}",
                                now.0,
                                r.as_str(),
                                p.trickles.body.packet_type(),
                                c.map(|c| (c.k, c.incarnation, c.timestamp, c.mode))
                            );
                        }
                    }
                }
            } else {
                client.on_frame(now, &f, &mut |r| out_client.push(r.to_vec()));
            }
        } else {
            client.on_timer(now, &mut |r| out_client.push(r.to_vec()));
        }
        if std::env::var_os("TRACE").is_some() {
            for f in out_client.iter() {
                let p = trickles_wire::frame::parse(f).unwrap();
                if let trickles_wire::trickles::Body::TimeoutRequest(q, _) = p.trickles.body {
                    let c =
                        trickles_wire::trickles::continuation::Continuation::decode(q.continuation);
                    eprintln!(
                        "t={} client TIMEOUT attempt {} cont k={} inc={} ts={} delivered {}",
                        now.0,
                        p.trickles.flags.attempt(),
                        c.k.0,
                        c.incarnation,
                        c.timestamp,
                        client.delivered()
                    );
                }
            }
            for f in out_server.iter() {
                let p = trickles_wire::frame::parse(f).unwrap();
                if let trickles_wire::trickles::Body::Response(r) = p.trickles.body {
                    let (inc, k) = (r.continuation.incarnation(), r.continuation.k());
                    if inc != 0 && k.0 < 4 {
                        eprintln!(
                            "t={} server slot {} inc {} k {} data {}",
                            now.0,
                            r.slot.0,
                            inc,
                            k.0,
                            p.trickles.data.len()
                        );
                    }
                }
            }
        }
        hook(responses, &mut server);
        for f in out_server {
            responses += 1;
            if !drop_response(responses, &f) {
                wire.push_back((now.plus_micros(delay), f, false));
            }
        }
        for f in out_client {
            wire.push_back((now.plus_micros(delay), f, true));
        }
    }
    Run {
        client,
        server,
        now,
        rounds,
    }
}

fn check_bytes(run: &Run, len: u64, seed: u64) {
    assert_eq!(run.client.total_len(), Some(len));
    let data = run.client.data();
    assert_eq!(data.len() as u64, len);
    for (i, b) in data.iter().enumerate() {
        assert_eq!(*b, byte(seed, i as u64), "byte {i}");
    }
}

#[test]
fn small_object_arrives_in_the_first_round_trip() {
    let run = transfer(500, 7, |_| false);
    check_bytes(&run, 500, 7);
    // SYN out, answer back: one round trip of 20 ms.
    assert_eq!(run.now, Instant::from_millis(1_020));
    assert_eq!(run.server.stats().total_drops(), 0);
}

#[test]
fn megabyte_without_loss() {
    let run = transfer(1 << 20, 11, |_| false);
    check_bytes(&run, 1 << 20, 11);
    assert_eq!(
        run.server.stats().total_drops(),
        0,
        "{:?}",
        run.server.stats()
    );
    assert_eq!(run.client.stats().timeouts, 0);
    assert_eq!(run.server.stats().slots_retransmitted, 0);
    let _ = run.rounds;
}

#[test]
fn megabyte_with_periodic_loss_recovers_by_fast_retransmit() {
    let run = transfer(1 << 20, 12, |i| i % 97 == 50);
    check_bytes(&run, 1 << 20, 12);
    assert!(
        run.server.stats().slots_retransmitted > 0,
        "{:?}",
        run.server.stats()
    );
    assert_eq!(run.server.stats().drops(DropReason::BadMac), 0);
    assert_eq!(run.server.stats().drops(DropReason::BadSackProof), 0);
}

#[test]
fn megabyte_with_heavy_random_loss_completes() {
    for seed in 0..5u64 {
        let mut state = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
        let run = transfer(1 << 20, seed, |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % 100 < 5
        });
        check_bytes(&run, 1 << 20, seed);
        assert_eq!(
            run.server.stats().drops(DropReason::BadSackProof),
            0,
            "seed {seed}"
        );
    }
}

#[test]
fn server_memory_does_not_depend_on_connections() {
    let one = transfer(10_000, 1, |_| false).server.memory_bytes();
    let mut s = server();
    let before = s.memory_bytes();
    // 10 000 clients (distinct address/port pairs) open connections: the
    // engine answers every SYN and its memory stays the same (the
    // allocation-counting test in replay_memory.rs does 100 000).
    let mut c = Client::new(ClientConfig::default(), ends(), 1, &[0; 16]);
    let mut syn = Vec::new();
    c.start(Instant::from_millis(5), &mut |f| syn = f.to_vec());
    let template = trickles_wire::frame::parse(&syn).unwrap();
    let mut buf = vec![0u8; 2048];
    for i in 0..10_000u32 {
        let mut h = trickles_wire::frame::Headers {
            src_mac: template.src_mac,
            dst_mac: template.dst_mac,
            src: IpAddr::from([10, (i >> 16) as u8 + 1, (i >> 8) as u8, i as u8]),
            dst: template.dst,
            tcp: template.tcp,
            ttl: 64,
        };
        h.tcp.src_port = 1024 + (i % 60_000) as u16;
        let n = trickles_wire::frame::emit(&h, &template.trickles, &mut buf).unwrap();
        s.handle(
            Instant::from_millis(5 + u64::from(i / 1000)),
            &buf[..n],
            &mut |_| {},
        );
    }
    assert_eq!(s.stats().syns, 10_000);
    assert_eq!(s.stats().total_drops(), 0);
    assert_eq!(s.memory_bytes(), before);
    assert_eq!(one, before);
}

#[test]
fn the_stream_api_reads_the_response_in_order() {
    let mut run = transfer(100_000, 5, |i| i % 17 == 3);
    check_bytes(&run, 100_000, 5);
    let mut got = Vec::new();
    let mut buf = [0u8; 999];
    assert!(!run.client.is_eof());
    loop {
        let n = run.client.read(&mut buf);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(run.client.is_eof());
    assert_eq!(got.len(), 100_000);
    assert_eq!(got.as_slice(), run.client.data());
    assert_eq!(run.client.read(&mut buf), 0);
}

#[test]
fn delayed_acknowledgments_halve_the_requests() {
    let cfg = ClientConfig {
        delayed_acks: true,
        ..ClientConfig::default()
    };
    let plain = transfer(1 << 20, 21, |_| false);
    let delayed = transfer_with(cfg, 1 << 20, 21, |_| false);
    check_bytes(&delayed, 1 << 20, 21);
    let (p, d) = (plain.client.stats(), delayed.client.stats());
    // One request per two responses (plus a few timer flushes).
    assert!(d.requests * 10 < p.requests * 6, "{d:?} vs {p:?}");
    assert_eq!(delayed.server.stats().total_drops(), 0);
    assert_eq!(delayed.server.stats().previous_duplicates, 0);
    assert!(delayed.server.stats().previous_answered > 100);
    // Same slots in all: nothing sent twice, nothing skipped.
    assert_eq!(d.duplicate_bytes, 0);
    // And under loss.
    let lossy = transfer_with(cfg, 1 << 20, 22, |i| i % 29 == 5);
    check_bytes(&lossy, 1 << 20, 22);
}

#[test]
fn duplicate_responses_start_no_second_trickle() {
    // Answer a SYN, then hand the client every response twice: it must
    // send one request per distinct packet, and after a few duplicates stop
    // carrying its previous continuation (answers it would double).
    let mut server = server();
    let mut req = [0u8; 16];
    req[..8].copy_from_slice(&(1u64 << 24).to_be_bytes());
    let mut client = Client::new(ClientConfig::default(), ends(), 7, &req);
    let mut now = Instant::from_millis(1);
    let mut to_server = Vec::new();
    client.start(now, &mut |f| to_server.push(f.to_vec()));
    let mut carried_after = Vec::new();
    for round in 0..10 {
        now = now.plus_micros(10_000);
        let mut to_client = Vec::new();
        for f in to_server.drain(..) {
            server.handle(now, &f, &mut |r| to_client.push(r.to_vec()));
        }
        now = now.plus_micros(10_000);
        let mut requests = Vec::new();
        for f in &to_client {
            for _ in 0..2 {
                client.on_frame(now, f, &mut |r| requests.push(r.to_vec()));
            }
        }
        assert_eq!(requests.len(), to_client.len(), "round {round}");
        if round >= 6 {
            carried_after.extend(requests.iter().map(|r| {
                trickles_wire::frame::parse(r)
                    .unwrap()
                    .trickles
                    .flags
                    .contains(trickles_wire::trickles::Flags::PREVIOUS)
            }));
        }
        to_server = requests;
    }
    assert!(client.stats().duplicate_responses >= 8);
    assert!(!carried_after.is_empty() && carried_after.iter().all(|&c| !c));
    assert_eq!(server.stats().previous_answered, 0);
}

#[test]
fn a_late_answer_to_an_earlier_connection_on_the_same_port_is_ignored() {
    // Two connections from the same port one after the other (as a
    // client that opens one connection per request recycles its ports):
    // a response of the first that arrives after the second's SYN must
    // not become the second's first response.
    let mut server = server();
    let mut req = [0u8; 16];
    req[..8].copy_from_slice(&5000u64.to_be_bytes());
    let now = Instant::from_millis(1);
    let mut first = Client::new(ClientConfig::default(), ends(), 1_000, &req);
    let mut syn = Vec::new();
    first.start(now, &mut |f| syn.push(f.to_vec()));
    let mut stale = Vec::new();
    server.handle(now, &syn[0], &mut |r| stale.push(r.to_vec()));
    assert!(!stale.is_empty());

    req[8..].copy_from_slice(&1u64.to_be_bytes());
    let mut second = Client::new(ClientConfig::default(), ends(), 9_000_000, &req);
    let mut syn = Vec::new();
    second.start(now, &mut |f| syn.push(f.to_vec()));
    let mut sent = Vec::new();
    for f in &stale {
        second.on_frame(now, f, &mut |r| sent.push(r.to_vec()));
    }
    assert!(sent.is_empty(), "answered a stale response");
    assert_eq!(second.stats().ignored, stale.len() as u64);
    assert_eq!(second.delivered(), 0);

    // Its own answer is taken, and the right bytes arrive.
    let mut fresh = Vec::new();
    server.handle(now, &syn[0], &mut |r| fresh.push(r.to_vec()));
    for f in &fresh {
        second.on_frame(now, f, &mut |r| sent.push(r.to_vec()));
    }
    assert!(second.delivered() > 0);
    let data = second.data();
    for i in 0..second.delivered() {
        assert_eq!(data[i as usize], byte(1, i), "byte {i}");
    }
}

fn packet_type(frame: &[u8]) -> Option<trickles_wire::trickles::PacketType> {
    trickles_wire::frame::parse(frame)
        .ok()
        .map(|f| f.trickles.body.packet_type())
}

#[test]
fn responses_past_the_first_carry_compact_continuations_and_full_slots() {
    use trickles_wire::trickles::{Body, ResponseCont};
    let mut sizes = Vec::new();
    let run = transfer_frames(
        ClientConfig::default(),
        1 << 20,
        4,
        |_, f| {
            if let Ok(p) = trickles_wire::frame::parse(f)
                && let Body::Response(r) = p.trickles.body
            {
                assert!(matches!(r.continuation, ResponseCont::Compact(_)));
                sizes.push(f.len());
            }
            false
        },
        |_, _| {},
    );
    check_bytes(&run, 1 << 20, 4);
    // Full slots fill a 1500-byte IP packet: 1386 stream bytes behind a
    // 70-byte header (protocol.md §5.1, §12).
    assert_eq!(sizes.iter().max(), Some(&1514));
    assert!(sizes.iter().filter(|&&n| n == 1514).count() > 700);
    // No timeout, no new context: no CONTEXT packet.
    assert_eq!(run.server.stats().contexts_sent, 0);
    assert_eq!(run.client.stats().missing_context, 0);
}

#[test]
fn a_timeout_answer_brings_its_context_and_a_lost_context_costs_a_timeout_only() {
    use trickles_wire::trickles::PacketType;
    // Lose a burst of responses early so that the client times out; then
    // lose the first CONTEXT packet the server sends after that.
    let mut contexts = 0;
    let mut lost_context = false;
    let run = transfer_frames(
        ClientConfig::default(),
        1 << 20,
        8,
        |i, f| {
            if packet_type(f) == Some(PacketType::Context) {
                contexts += 1;
                if contexts == 1 {
                    lost_context = true;
                    return true;
                }
            }
            (40..60).contains(&i)
        },
        |_, _| {},
    );
    check_bytes(&run, 1 << 20, 8);
    let (server, client) = (run.server.stats(), run.client.stats());
    assert!(lost_context, "no CONTEXT packet was sent");
    assert!(server.timeouts >= 2, "{server:?}");
    assert!(server.contexts_sent >= 2, "{server:?}");
    // The answer whose context was lost was dropped by the client.
    assert!(client.missing_context > 0, "{client:?}");
}

#[test]
fn a_key_rotation_mid_transfer_breaks_no_connection() {
    // Rotate after 300 responses: the connection's packets keep the keys
    // of its incarnation's epoch, so proofs spanning the rotation verify.
    // Without that rule every request after the rotation was refused as a
    // bad SACK proof and the transfer died (found on the AF_XDP datapath;
    // docs/protocol.md §8.1).
    let len = 4_000_000;
    let mut rotated = false;
    let run = transfer_hooked(
        ClientConfig::default(),
        len,
        21,
        |_| false,
        |responses, server| {
            if responses >= 300 && !rotated {
                rotated = true;
                server
                    .server_mut()
                    .keys_mut()
                    .rotate(ServerKeys::from_master(
                        KeyEpoch(2),
                        &MasterKey::new([8; 16]),
                    ))
                    .unwrap();
            }
        },
    );
    assert!(rotated);
    check_bytes(&run, len, 21);
    let s = run.server.stats();
    assert_eq!(s.drops(DropReason::BadSackProof), 0, "{s:?}");
    assert_eq!(run.client.stats().timeouts, 0, "{:?}", run.client.stats());
}
