//! The datapath end to end, between two network namespaces joined by a
//! veth pair (issue 4): a Trickles client on AF_XDP in namespace `a`, a
//! Trickles server on AF_XDP in namespace `b`, each behind its own XDP
//! program, neighbour addresses resolved through the kernel.
//!
//! Needs root; skips with a message otherwise. Each test makes its own
//! pair (removed on drop, and by `cargo xtask netns-test` if the process
//! dies); the tests take turns, since they measure rates on two cores.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as WallInstant};

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_core::crypto::{AppKey, MasterKey, ServerKeys};
use trickles_core::synthetic::{stream_mismatches, stream_request};
use trickles_wire::KeyEpoch;
use trickles_xdp::netns::{End, NetnsPair};
use trickles_xdp::rawrate;
use trickles_xdp::scenario::{
    CLIENT_PORT, Download, DownloadReport, KernelDownload, SEED, SERVER_PORT, demo_server,
    download, kernel_download_with,
};
use trickles_xdp::{DropFault, neighbour};

const MB_100: u64 = 100_000_000;

/// One test at a time: they measure rates and share two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn now(epoch: WallInstant) -> Instant {
    Instant(epoch.elapsed().as_micros() as u64)
}

type Transfer = DownloadReport;

/// Download `size` bytes from a server in `pair.b` to a client in
/// `pair.a`, with `fault` dropping received frames on both sides.
fn transfer(pair: &NetnsPair, size: u64, fault: Option<DropFault>) -> Transfer {
    transfer_with(pair, size, fault, None)
}

/// [`transfer`], recording each worker's frames in `pcap_dir` if given.
fn transfer_with(
    pair: &NetnsPair,
    size: u64,
    fault: Option<DropFault>,
    pcap_dir: Option<PathBuf>,
) -> Transfer {
    download(
        pair,
        &Download {
            size,
            fault,
            pcap_dir,
            ..Download::default()
        },
    )
    .unwrap()
}

fn pair() -> Option<NetnsPair> {
    if !trickles_xdp::running_as_root() {
        eprintln!("SKIPPED: network namespaces and AF_XDP need root");
        return None;
    }
    Some(NetnsPair::create().unwrap())
}

#[test]
fn downloads_100_mb_intact_and_reports_goodput_against_the_raw_frame_rate() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let raw = rawrate::measure(&pair, 1514, Duration::from_secs(1), 5_000_000).unwrap();
    let t = transfer(&pair, MB_100, None);
    let goodput = t.goodput_bps();
    // Trickles frames are full 1514-byte frames too (1386 stream bytes).
    let frame_rate = t.client.rx_frames as f64 / t.elapsed.as_secs_f64();
    eprintln!(
        "{{\"size\":{MB_100},\"seconds\":{:.3},\"goodput_gbps\":{:.3},\"trickles_rx_kpps\":{:.1},\
         \"raw_kpps\":{:.1},\"raw_gbps\":{:.3},\"raw_frames\":{},\"raw_sent\":{},\
         \"frame_rate_vs_raw\":{:.3}}}",
        t.elapsed.as_secs_f64(),
        goodput / 1e9,
        frame_rate / 1e3,
        raw.pps() / 1e3,
        raw.bits_per_second() / 1e9,
        raw.frames,
        raw.sent,
        frame_rate / raw.pps(),
    );
    eprintln!(
        "client {:?}\n  engine {:?}\nserver {:?}",
        t.client, t.client_engine, t.server
    );
    assert!(
        raw.frames > 1000,
        "raw measurement received {} frames",
        raw.frames
    );
    assert!(t.intact, "100 MB transfer incomplete or corrupted: {t:?}");
}

#[test]
fn one_percent_injected_loss_still_delivers_100_mb_intact() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let fault = DropFault {
        per_million: 10_000,
        seed: 0x5eed,
    };
    let t = transfer(&pair, MB_100, Some(fault));
    eprintln!(
        "1% loss: {:.3} s, {:.3} Gb/s; client {:?}\n  engine {:?}\nserver {:?}",
        t.elapsed.as_secs_f64(),
        t.goodput_bps() / 1e9,
        t.client,
        t.client_engine,
        t.server
    );
    let dropped = t.client.fault_dropped + t.server.fault_dropped;
    let received = t.client.rx_frames + t.server.rx_frames;
    let share = dropped as f64 / received as f64;
    assert!(
        (0.005..0.02).contains(&share),
        "the fault dropped {dropped} of {received} frames"
    );
    assert!(
        t.intact,
        "transfer under 1% loss incomplete or corrupted: {t:?}"
    );
}

/// One round of kernel traffic from `a` to `b`: TCP to `ports` (echoed by
/// listeners in `b`) and one ping.
fn kernel_round(a: &End, b: &End, ports: &[u16]) -> Result<(), String> {
    for &port in ports {
        let addr = SocketAddr::from((b.addr, port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| format!("connect to port {port}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(b"kernel tcp").map_err(|e| e.to_string())?;
        let mut buf = [0u8; 10];
        s.read_exact(&mut buf)
            .map_err(|e| format!("echo on port {port}: {e}"))?;
        if &buf != b"kernel tcp" {
            return Err(format!("port {port} echoed {buf:?}"));
        }
    }
    let out = a
        .command("ping")
        .args(["-c", "1", "-W", "2", &b.addr.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("ping: {}", String::from_utf8_lossy(&out.stdout)));
    }
    Ok(())
}

#[test]
fn kernel_tcp_and_ping_keep_working_during_a_transfer() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let ports = [SERVER_PORT, 8081];
    // Echo listeners of the kernel's TCP in `b`, on the Trickles port and
    // on another.
    let listening = Arc::new(AtomicBool::new(true));
    let (bound_tx, bound_rx) = std::sync::mpsc::channel::<()>();
    let listeners: Vec<_> = ports
        .iter()
        .map(|&port| {
            let listening = listening.clone();
            let bound = bound_tx.clone();
            pair.b
                .run(move || {
                    let l = TcpListener::bind(("0.0.0.0", port)).unwrap();
                    l.set_nonblocking(true).unwrap();
                    let _ = bound.send(());
                    let until = WallInstant::now() + Duration::from_secs(150);
                    let mut served = 0u32;
                    while listening.load(Ordering::Relaxed) && WallInstant::now() < until {
                        match l.accept() {
                            Ok((mut s, _)) => {
                                s.set_nonblocking(false).unwrap();
                                let mut buf = [0u8; 10];
                                if s.read_exact(&mut buf).is_ok() {
                                    let _ = s.write_all(&buf);
                                    served += 1;
                                }
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(1)),
                        }
                    }
                    served
                })
                .unwrap()
        })
        .collect();
    // Both listeners must be up before the first round (a round that
    // connects before the bind would count as a failure).
    for _ in &ports {
        bound_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a kernel listener did not start");
    }
    // The kernel traffic runs in `a` while the transfer runs.
    let running = Arc::new(AtomicBool::new(true));
    let (a, b, r) = (pair.a.clone(), pair.b.clone(), running.clone());
    let checker = pair
        .a
        .run(move || {
            let mut rounds = Vec::new();
            while r.load(Ordering::Relaxed) && rounds.len() < 10_000 {
                let start = WallInstant::now();
                let result = kernel_round(&a, &b, &ports);
                rounds.push((start, WallInstant::now(), result));
            }
            rounds
        })
        .unwrap();
    let started = WallInstant::now();
    let t = transfer(&pair, MB_100, None);
    let ended = WallInstant::now();
    running.store(false, Ordering::Relaxed);
    let rounds = checker.join().unwrap();
    listening.store(false, Ordering::Relaxed);
    let served: Vec<u32> = listeners.into_iter().map(|l| l.join().unwrap()).collect();
    let during: Vec<_> = rounds
        .iter()
        .filter(|(s, e, _)| *s >= started && *e <= ended)
        .collect();
    let failures: Vec<_> = rounds
        .iter()
        .filter_map(|(_, _, r)| r.clone().err())
        .collect();
    eprintln!(
        "{} rounds of kernel TCP (ports {ports:?}, served {served:?}) and ping, {} within the transfer ({:.3} s); failures: {failures:?}",
        rounds.len(),
        during.len(),
        t.elapsed.as_secs_f64()
    );
    assert!(failures.is_empty(), "kernel traffic failed: {failures:?}");
    assert!(
        !during.is_empty(),
        "no kernel round ran during the transfer"
    );
    assert!(t.intact, "transfer incomplete or corrupted: {t:?}");
}

/// The frames of a pcap file written by `PcapFile` (little-endian,
/// nanosecond magic, Ethernet).
fn read_pcap(bytes: &[u8]) -> Vec<&[u8]> {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!(u32_at(0), trickles_wire::pcap::MAGIC_NANOS);
    assert_eq!(u32_at(20), trickles_wire::pcap::LINKTYPE_ETHERNET);
    let mut out = Vec::new();
    let mut i = trickles_wire::pcap::FILE_HEADER_LEN;
    while i < bytes.len() {
        let incl = u32_at(i + 8) as usize;
        assert_eq!(incl, u32_at(i + 12) as usize, "a frame was truncated");
        let start = i + trickles_wire::pcap::RECORD_HEADER_LEN;
        out.push(&bytes[start..start + incl]);
        i = start + incl;
    }
    out
}

#[test]
fn workers_record_what_they_receive_and_send_in_pcap_files() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let dir = std::env::temp_dir().join(format!("trickles-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let size = 4_000_000;
    let t = transfer_with(&pair, size, None, Some(dir.clone()));
    assert!(t.intact);
    for (name, stats) in [("server.pcap", t.server), ("client.pcap", t.client)] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let frames = read_pcap(&bytes);
        assert_eq!(frames.len() as u64, stats.pcap_records, "{name}");
        assert_eq!(
            stats.pcap_records,
            stats.rx_frames + stats.tx_frames,
            "{name}: {stats:?}"
        );
        assert_eq!(stats.pcap_errors, 0);
        // Every Trickles frame in it parses, checksums included.
        let trickles = frames
            .iter()
            .filter(|f| trickles_wire::frame::parse(f).is_ok())
            .count();
        assert!(
            trickles as u64 >= stats.tx_frames,
            "{name}: {trickles} of {} frames parse as Trickles",
            frames.len()
        );
        eprintln!("{name}: {} frames, {trickles} Trickles", frames.len());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_queues_serve_two_clients_through_a_key_rotation() {
    use trickles_xdp::keys::{KeyedServer, SharedKeys};
    use trickles_xdp::runtime::{NoMonitor, QueuePlan, serve_queues, serve_queues_started};

    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !trickles_xdp::running_as_root() {
        eprintln!("SKIPPED: network namespaces and AF_XDP need root");
        return;
    }
    let pair = NetnsPair::create_with_queues(2).unwrap();
    let cores: Vec<usize> =
        (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
    let plan = |end: &End, ports: Vec<u16>| QueuePlan {
        cores: cores.clone(),
        ..QueuePlan::new(&end.ifname, vec![0, 1], ports)
    };
    let master = |b| MasterKey::new([b; 16]);
    let keys = SharedKeys::new(
        ServerKeys::from_master(KeyEpoch(1), &master(1)),
        AppKey::from_master(KeyEpoch(1), &master(2)),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (server_plan, server_keys, stop_server) =
        (plan(&pair.b, vec![SERVER_PORT]), keys.clone(), stop.clone());
    let server = pair
        .b
        .run(move || {
            serve_queues(
                &server_plan,
                |_| KeyedServer::new(demo_server(), server_keys.clone()),
                &stop_server,
            )
            .unwrap()
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let size = 60_000_000u64;
    let (a, b) = (pair.a.clone(), pair.b.clone());
    let client_plan = plan(&pair.a, vec![CLIENT_PORT, CLIENT_PORT + 1]);
    // Bounded: the clients give up after a minute.
    let never = Arc::new(AtomicBool::new(false));
    let give_up = never.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        give_up.store(true, Ordering::Relaxed);
    });
    let clients = pair
        .a
        .run(move || {
            let local_mac = neighbour::mac_address(&a.ifname).unwrap();
            let remote_mac =
                neighbour::resolve_ipv4(&a.ifname, b.addr, Duration::from_secs(3)).unwrap();
            let epoch = WallInstant::now();
            let reports = serve_queues_started(
                &client_plan,
                |queue| {
                    let ends = Endpoints {
                        local_mac,
                        remote_mac,
                        local: IpAddr::V4(a.addr),
                        local_port: CLIENT_PORT + queue as u16,
                        remote: IpAddr::V4(b.addr),
                        remote_port: SERVER_PORT,
                    };
                    Client::new(
                        ClientConfig::default(),
                        ends,
                        9 + queue,
                        &stream_request(size, SEED + u64::from(queue)),
                    )
                },
                |c, tx| c.start(now(epoch), tx),
                &never,
                &NoMonitor,
            )
            .unwrap();
            (reports, epoch.elapsed())
        })
        .unwrap();
    // Rotate the server key while both downloads run.
    std::thread::sleep(Duration::from_millis(150));
    keys.rotate_server(ServerKeys::from_master(KeyEpoch(2), &master(3)))
        .unwrap();
    let rotated_at = WallInstant::now();
    let (client_reports, elapsed) = clients.join().unwrap();
    let finished = WallInstant::now();
    stop.store(true, Ordering::Relaxed);
    let server_reports = server.join().unwrap();

    for (r, s) in &server_reports {
        eprintln!(
            "server queue {} on core {:?}: {:?}; engine {:?}",
            r.queue,
            r.core,
            r.stats,
            s.engine().stats()
        );
    }
    for (r, c) in &client_reports {
        let seed = SEED + u64::from(r.queue);
        eprintln!(
            "client on queue {}: {:?}; {:?}",
            r.queue,
            r.stats,
            c.stats()
        );
        assert!(
            c.is_done() && c.total_len() == Some(size),
            "client {} did not finish",
            r.queue
        );
        assert_eq!(
            stream_mismatches(seed, 0, c.data()),
            0,
            "client {} got corrupted bytes",
            r.queue
        );
    }
    for (r, s) in &server_reports {
        assert!(
            r.stats.rx_frames > 1000,
            "queue {} served no client",
            r.queue
        );
        assert_eq!(
            s.generation(),
            keys.generation(),
            "queue {} did not follow the rotation",
            r.queue
        );
        assert!(s.engine().stats().requests > 0);
    }
    assert!(
        rotated_at < finished,
        "the rotation came after the downloads"
    );
    eprintln!(
        "two downloads of {size} bytes in {elapsed:?}, rotation {:?} before the end",
        finished - rotated_at
    );
}

#[test]
fn four_concurrent_downloads_share_one_client_worker_and_arrive_intact() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let t = download(
        &pair,
        &Download {
            size: 20_000_000,
            connections: 4,
            ..Download::default()
        },
    )
    .unwrap();
    eprintln!(
        "4 x 20 MB: {:.3} s, {:.2} Gb/s, server CPU {:?}",
        t.elapsed.as_secs_f64(),
        t.goodput_bps() / 1e9,
        t.server_cpu
    );
    assert_eq!(t.connections, 4);
    assert_eq!(t.size, 80_000_000);
    assert!(t.intact, "a connection was incomplete or corrupted: {t:?}");
    // Four connections' SYNs reached the server.
    assert_eq!(t.server_engine.syns, 4, "{:?}", t.server_engine);
    assert!(t.server_cpu > Duration::ZERO);
}

#[test]
fn the_kernel_baseline_sets_the_congestion_control_and_runs_parallel_connections() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let k = kernel_download_with(
        &pair,
        &KernelDownload {
            size: 10_000_000,
            port: 5003,
            connections: 3,
            congestion: Some("reno".into()),
        },
    )
    .unwrap();
    assert!(k.intact && k.size == 30_000_000, "{k:?}");
    let bad = kernel_download_with(
        &pair,
        &KernelDownload {
            size: 1000,
            port: 5004,
            connections: 1,
            congestion: Some("no-such-algorithm".into()),
        },
    );
    assert!(bad.is_err(), "an unknown congestion control was accepted");
}
