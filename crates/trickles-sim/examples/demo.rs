//! The demo (`cargo xtask demo`): what a Trickles server and client put on
//! the wire, byte by byte, how the stateless server decides whether to
//! trust a request (docs/protocol.md), and a simulated transfer between the
//! real engines next to TCP Reno, with the server's memory.
//!
//! It builds real frames (Ethernet/IPv4/TCP/Trickles, checksums included):
//! the client's SYN with its request, the server's answer carrying a sealed
//! transport continuation and a nonce, and the client's request returning
//! that continuation with a SACK proof after one response was lost. The
//! server then verifies it, and refuses a replay, a tampered continuation,
//! the same continuation from another port, a SACK proof that hides the
//! loss, and a continuation past the replay horizon. Time is simulated
//! (milliseconds passed in), as everywhere in the protocol core.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use trickles_core::crypto::{
    Binding, KeyRing, MasterKey, ReplayFilter, ReplayVerdict, SackAccumulator, ServerKeys,
    open_continuation, packet_nonce, seal_continuation, verify_sack,
};
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::continuation::{CONTINUATION_LEN, Continuation, ContinuationBytes};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::{SackBlock, SackProof};
use trickles_wire::trickles::{
    Body, Flags, Packet, Request, Response, ResponseCont, Syn, Versions,
};
use trickles_wire::{ConnId, KeyEpoch, PacketNumber};

const CLIENT: [u8; 4] = [10, 77, 0, 1];
const SERVER: [u8; 4] = [10, 77, 0, 2];
const CLIENT_PORT: u16 = 40_000;
const SERVER_PORT: u16 = 8080;
const HORIZON_MS: u32 = 2_000;

fn main() {
    let mut checks = Vec::new();
    // A fixed demo key, printed so anyone can verify the MACs below. A real
    // server reads its key file (never a constant).
    let master = MasterKey::new(*b"trickles-demo-k!");
    let ring = KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &master));
    let keys = ring.current();
    let mut replay = ReplayFilter::new(1 << 16, HORIZON_MS);
    println!(
        "Trickles foundation demo: wire format and continuation checks (docs/protocol.md)\n\
         server key: demo master key \"trickles-demo-k!\", epoch 1; replay table {} KiB, horizon {HORIZON_MS} ms\n",
        replay.memory_bytes() / 1024
    );

    // 1. The client's SYN carries its request and padding (no amplification).
    let request = b"GET /hello.txt HTTP/1.1\r\nHost: demo\r\n\r\n";
    let syn = Packet {
        flags: Flags(0),
        body: Body::Syn(Syn {
            versions: Versions::SUPPORTED,
            mss: 1456,
        }),
        data: request,
        padding: 200,
    };
    let syn_frame = emit(&syn, true, 1000, 0, flags::SYN);
    section(
        "1. client -> server: SYN with the request in its payload, padded",
        &syn_frame,
    );
    annotate_payload(
        &syn_frame,
        &[
            (
                0,
                8,
                "common header: version 1, type 1 (SYN), header_len, data_len, flags",
            ),
            (8, 16, "SYN body: versions bitmap, mss, reserved"),
            (16, 16 + request.len(), "request bytes"),
            (16 + request.len(), 16 + request.len() + 200, "zero padding"),
        ],
    );

    // 2. The server answers with response slot 1 and a sealed continuation.
    let now = 10_000u32;
    let conn = ConnId(0x5eed_0000_0000_1001);
    let binding = Binding::new(IpAddr::from(CLIENT), CLIENT_PORT, SERVER_PORT);
    let cont = Continuation {
        epoch: KeyEpoch(1),
        mode: 0,
        slot_len: 1376,
        conn_id: conn,
        incarnation: 0,
        k: PacketNumber(1),
        base: PacketNumber(1),
        start_cwnd: 2,
        ssthresh: 64,
        sack_floor: PacketNumber(1),
        timestamp: now,
        origin_slot: PacketNumber(1),
        origin_offset: 0,
        first_slot_len: 300,
        first_slots: 2,
        flags: 0,
        skip: 0,
        mac: [0; 16],
    };
    let mut sealed = cont.to_bytes();
    seal_continuation(keys, &binding, &mut sealed);
    let body = b"hello, stateless world\n";
    let first = Packet {
        flags: Flags(0),
        body: Body::FirstResponse(Response {
            slot: PacketNumber(1),
            nonce: packet_nonce(keys, conn, PacketNumber(1), false),
            continuation: ResponseCont::Full(&sealed),
            user_conts: List::empty(),
        }),
        data: body,
        padding: 0,
    };
    let first_frame = emit(
        &first,
        false,
        conn.0 as u32,
        1001 + request.len() as u32,
        flags::SYN | flags::ACK,
    );
    section(
        "2. server -> client: FIRST_RESPONSE, slot 1, sealed transport continuation",
        &first_frame,
    );
    annotate_payload(
        &first_frame,
        &[
            (0, 8, "common header: type 2"),
            (8, 12, "slot = 1"),
            (12, 16, "nonce p_1 = r_1 ^ r_2"),
            (16, 92, "transport continuation (76 bytes, §5)"),
            (92, 96, "user-continuation section: count 0"),
            (96, 96 + body.len(), "stream bytes of slot 1"),
        ],
    );
    annotate_continuation(&sealed);

    // 3. The client receives slots 1, 2, 4, 5 (3 was lost) and returns the
    //    continuation of slot 5 with a SACK proof of what it got.
    let mut acc = SackAccumulator::new();
    for x in [1u32, 2, 4, 5] {
        acc.record(
            PacketNumber(x),
            packet_nonce(keys, conn, PacketNumber(x), false),
            false,
        )
        .unwrap();
    }
    let mut c5 = Continuation {
        k: PacketNumber(5),
        timestamp: now + 40,
        ..cont
    }
    .to_bytes();
    seal_continuation(keys, &binding, &mut c5);
    let req = request_packet(&c5, acc.proof());
    let req_frame = emit(
        &req,
        true,
        1001 + request.len() as u32,
        conn.0 as u32 + 1,
        flags::ACK,
    );
    section(
        "3. client -> server: REQUEST k = 5, SACK proof [1,2] [4,5] (slot 3 lost)",
        &req_frame,
    );
    annotate_payload(
        &req_frame,
        &[
            (0, 8, "common header: type 3"),
            (8, 84, "the continuation of slot 5, returned"),
            (84, 88, "SACK section: 2 original ranges, 0 retransmitted"),
            (88, 112, "ranges: start, end, r_m ^ r_{n+1}"),
            (112, 116, "user-continuation section: count 0"),
        ],
    );

    // 4. The stateless server verifies it.
    let at = now + 80;
    println!("\n4. server verifies the request at t = {at} ms");
    let verdict = server_checks(&ring, &mut replay, &req_frame, at);
    report(
        &mut checks,
        "genuine request accepted",
        verdict == Ok(()),
        &verdict,
    );

    // 5. And refuses what it must.
    let v = server_checks(&ring, &mut replay, &req_frame, at + 1);
    report(
        &mut checks,
        "identical request replayed -> refused",
        v == Err("replayed"),
        &v,
    );

    let mut tampered = c5;
    tampered[24] ^= 0x80; // ssthresh: ask for a larger window
    let v = server_checks(
        &ring,
        &mut replay,
        &emit(
            &request_packet(&tampered, acc.proof()),
            true,
            1,
            1,
            flags::ACK,
        ),
        at,
    );
    report(
        &mut checks,
        "continuation with ssthresh changed -> refused",
        v == Err("bad_mac"),
        &v,
    );

    let stolen = emit_from(&req, CLIENT_PORT + 1);
    let v = server_checks(&ring, &mut replay, &stolen, at);
    report(
        &mut checks,
        "same continuation from another client port -> refused",
        v == Err("bad_mac"),
        &v,
    );

    let mut c6 = Continuation {
        k: PacketNumber(6),
        timestamp: now + 41,
        ..cont
    }
    .to_bytes();
    seal_continuation(keys, &binding, &mut c6);
    let hidden = [SackBlock {
        start: PacketNumber(1),
        end: PacketNumber(5),
        proof: acc.original()[0].proof ^ acc.original()[1].proof,
    }];
    let lie = request_packet(
        &c6,
        SackProof {
            original: List::Items(&hidden),
            retransmitted: List::empty(),
        },
    );
    let v = server_checks(&ring, &mut replay, &emit(&lie, true, 1, 1, flags::ACK), at);
    report(
        &mut checks,
        "SACK proof claiming lost slot 3 ([1,5]) -> refused",
        v == Err("sack_bad_proof"),
        &v,
    );

    let mut c7 = Continuation {
        k: PacketNumber(7),
        timestamp: now + 42,
        ..cont
    }
    .to_bytes();
    seal_continuation(keys, &binding, &mut c7);
    let late = emit(&request_packet(&c7, acc.proof()), true, 1, 1, flags::ACK);
    let v = server_checks(&ring, &mut replay, &late, now + 42 + HORIZON_MS + 1);
    report(
        &mut checks,
        "continuation older than the horizon -> refused",
        v == Err("stale"),
        &v,
    );

    let ok = checks.iter().filter(|&&c| c).count();
    println!(
        "\n{ok}/{} checks as expected; frames {} + {} + {} bytes",
        checks.len(),
        syn_frame.len(),
        first_frame.len(),
        req_frame.len(),
    );

    // 5. A transfer between the real engines, in the simulator.
    let (line, transfer_ok) = simulated_transfer();
    println!("{line}");
    if ok != checks.len() || !transfer_ok {
        println!("FAILED");
        std::process::exit(1);
    }
}

/// 10 MB over a simulated 100 Mb/s, 20 ms bottleneck with 0.5% loss on the
/// data direction: Trickles and Reno in the same run, and the server's
/// memory after one transfer and after 10 000 more connections.
fn simulated_transfer() -> (String, bool) {
    use std::time::Duration;
    use trickles_core::Instant;
    use trickles_core::client::{Client, ClientConfig, Endpoints};
    use trickles_sim::scenario::{RenoPair, TransferScenario, run_transfer};
    use trickles_sim::trickles_pair::{TricklesPair, stream_request};

    let size = 10_000_000;
    let mut sc = TransferScenario::new(size, 100_000_000, Duration::from_millis(20));
    sc.loss = 0.005;
    sc.impair_reverse = false;
    println!(
        "\n5. simulated transfer: {} MB, 100 Mb/s bottleneck, 20 ms RTT, 0.5% loss on the data direction (trickles-sim, seed 1)",
        size / 1_000_000
    );
    let mut t = TricklesPair::new(&sc, 1);
    let mut r = RenoPair::new(&sc, 1, Default::default());
    let (Ok(tr), Ok(rr)) = (
        run_transfer(&sc, 1, &mut t, None),
        run_transfer(&sc, 1, &mut r, None),
    ) else {
        return ("simulation failed".into(), false);
    };
    let (tm, rm) = (
        tr.goodput_mbps.unwrap_or(0.0),
        rr.goodput_mbps.unwrap_or(0.0),
    );
    println!(
        "  trickles: {tm:.1} Mb/s, bytes identical: {}; reno: {rm:.1} Mb/s; ratio {:.2}",
        tr.bytes_ok,
        tm / rm.max(1e-9)
    );
    // Server memory: after that transfer, and after 10 000 more clients.
    let server = &mut t.server.server;
    let after_one = server.memory_bytes();
    for port in 0..10_000u16 {
        let ends = Endpoints {
            local_mac: [2, 0, 0, 0, 1, 1],
            remote_mac: [2, 0, 0, 0, 2, 1],
            local: IpAddr::from([10, 9, (port >> 8) as u8, port as u8]),
            local_port: 20_000 + port,
            remote: IpAddr::from([10, 0, 2, 1]),
            remote_port: sc.flow().server_port,
        };
        let mut c = Client::new(
            ClientConfig::default(),
            ends,
            u32::from(port),
            &stream_request(1_000_000, 7),
        );
        let mut syn = Vec::new();
        c.start(Instant::from_millis(1), &mut |f| syn.push(f.to_vec()));
        for f in syn {
            server.handle(Instant::from_millis(1), &f, &mut |_| {});
        }
    }
    let after_many = server.memory_bytes();
    println!(
        "  server memory: {} KiB after one transfer, {} KiB after 10000 more connections ({} SYNs answered)",
        after_one / 1024,
        after_many / 1024,
        server.stats().syns
    );
    let ok = tr.bytes_ok && rr.bytes_ok && after_one == after_many && server.stats().syns == 10_001;
    (
        format!(
            "summary: {} MB {}, trickles {tm:.1} Mb/s vs reno {rm:.1} Mb/s (simulated), server memory {} KiB flat for 1 and 10001 connections",
            size / 1_000_000,
            if tr.bytes_ok {
                "identical"
            } else {
                "NOT identical"
            },
            after_many / 1024
        ),
        ok,
    )
}

/// What the server does with a request frame before any congestion
/// control: parse, open the continuation, check freshness, verify the SACK
/// proof.
fn server_checks(
    ring: &KeyRing<ServerKeys>,
    replay: &mut ReplayFilter,
    bytes: &[u8],
    now: u32,
) -> Result<(), &'static str> {
    let f = frame::parse(bytes).map_err(|e| e.as_str())?;
    let Body::Request(r) = f.trickles.body else {
        return Err("not_a_request");
    };
    let binding = Binding::new(f.src, f.tcp.src_port, f.tcp.dst_port);
    let cont = open_continuation(ring, &binding, r.continuation).map_err(|e| e.as_str())?;
    let keys = ring.get(cont.epoch).ok_or("unknown_epoch")?;
    verify_sack(keys, cont.conn_id, &r.sack).map_err(|e| e.as_str())?;
    match replay.check(&cont.mac, cont.timestamp, now) {
        ReplayVerdict::Fresh => Ok(()),
        v => Err(v.as_str()),
    }
}

fn request_packet<'a>(cont: &'a ContinuationBytes, sack: SackProof<'a>) -> Packet<'a> {
    Packet {
        flags: Flags(0),
        body: Body::Request(Request {
            continuation: cont,
            previous: None,
            sack,
            user_conts: List::empty(),
        }),
        data: &[],
        padding: 0,
    }
}

fn headers(from_client: bool, client_port: u16, seq: u32, ack: u32, tcp_flags: u8) -> Headers {
    let (c, s): (IpAddr, IpAddr) = (CLIENT.into(), SERVER.into());
    let (cm, sm) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (src, dst, src_mac, dst_mac, sp, dp) = if from_client {
        (c, s, cm, sm, client_port, SERVER_PORT)
    } else {
        (s, c, sm, cm, SERVER_PORT, client_port)
    };
    Headers {
        src_mac,
        dst_mac,
        src,
        dst,
        tcp: TcpFields {
            src_port: sp,
            dst_port: dp,
            seq,
            ack,
            flags: tcp_flags,
            window: 65535,
        },
        ttl: 64,
    }
}

fn emit(p: &Packet<'_>, from_client: bool, seq: u32, ack: u32, tcp_flags: u8) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = frame::emit(
        &headers(from_client, CLIENT_PORT, seq, ack, tcp_flags),
        p,
        &mut buf,
    )
    .unwrap();
    buf.truncate(n);
    buf
}

fn emit_from(p: &Packet<'_>, client_port: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = frame::emit(&headers(true, client_port, 1, 1, flags::ACK), p, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn section(title: &str, frame: &[u8]) {
    println!(
        "\n{title}\n  {} bytes on the wire: Ethernet 0-13, IPv4 14-33, TCP 34-53 (marker FD 04 54 52 at 54-57), Trickles 58-",
        frame.len()
    );
    println!("  TCP option bytes 54-57: {}", hex(&frame[54..58]));
}

fn annotate_payload(frame: &[u8], parts: &[(usize, usize, &str)]) {
    let payload = &frame[58..];
    for &(a, b, what) in parts {
        let shown = &payload[a..b.min(payload.len())];
        let (bytes, more) = if shown.len() > 24 {
            (&shown[..24], " …")
        } else {
            (shown, "")
        };
        println!(
            "  +{a:>3}..{:<3} {:<58} {what}",
            b - 1,
            format!("{}{more}", hex(bytes))
        );
    }
}

fn annotate_continuation(c: &ContinuationBytes) {
    let d = Continuation::decode(c);
    println!(
        "  continuation: epoch {} mode {} slot_len {} conn_id {} incarnation {} k {} base {} start_cwnd {} ssthresh {} sack_floor {} timestamp {} origin slot {} offset {}, first_slots {}x{} bytes",
        d.epoch.0,
        d.mode,
        d.slot_len,
        d.conn_id,
        d.incarnation,
        d.k.0,
        d.base.0,
        d.start_cwnd,
        d.ssthresh,
        d.sack_floor.0,
        d.timestamp,
        d.origin_slot.0,
        d.origin_offset,
        d.first_slots,
        d.first_slot_len
    );
    println!(
        "  MAC = AES-CMAC(K_mac, client addr/port + server port (20) || continuation[0..60]) = {}",
        hex(&c[60..CONTINUATION_LEN])
    );
}

fn report(checks: &mut Vec<bool>, what: &str, ok: bool, got: &Result<(), &'static str>) {
    let got = match got {
        Ok(()) => "accepted".to_string(),
        Err(e) => format!("dropped: {e}"),
    };
    println!("  [{}] {what:<58} ({got})", if ok { "ok" } else { "FAIL" });
    checks.push(ok);
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
