//! A key-value read server written directly on the minisocket API
//! (paper §3), with two workers that pass events between them.
//!
//! Run: `cargo run -p trickles-core --example kv_workers`
//!
//! - **OPEN** (the request `GET <key>` rides in the SYN): the application
//!   looks the key up and installs an output continuation whose
//!   application data is the key itself (`Minisocket::set_output`); the
//!   engine keeps nothing. Every later **REQUEST** brings that continuation
//!   back (`Minisocket::output`), and the application regenerates exactly
//!   the bytes the window allows (`Server::send_with`, zero copy).
//! - **Per-packet user continuations** (`Minisocket::set_ucont`): the first
//!   packet of each answer also carries a sealed continuation naming the
//!   worker that answered, the paper's watermarking in miniature.
//! - **Extract / install** (`msk_extractEvents` / `msk_installEvents`):
//!   worker 0 receives every frame, as a NIC queue would, but hands the
//!   REQUEST events of odd connections to worker 1 as sealed bytes
//!   (`Server::extract`), which re-creates and answers them
//!   (`Server::install`). In a real deployment the bytes cross threads or
//!   machines; both workers hold the same keys.
//!
//! Sans-IO: the frames go through an in-memory queue with a fixed delay,
//! time is simulated, and four client engines fetch values of 100 B to
//! 1 MB concurrently. Every byte is checked.

#![allow(clippy::panic)] // an example: a stall is a bug worth a loud stop

use std::collections::VecDeque;
use std::net::IpAddr;

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{EventKind, Minisocket, Server, ServerConfig, UcontSpec};
use trickles_wire::KeyEpoch;

/// The store: immutable, so a value is named by its key alone.
fn value_of(key: &[u8]) -> Option<Vec<u8>> {
    let size = match key {
        b"tiny" => 100,
        b"small" => 50_000,
        b"medium" => 200_000,
        b"large" => 1_000_000,
        _ => return None,
    };
    Some(
        (0..size)
            .map(|i: u32| (i.wrapping_mul(31) ^ key.len() as u32) as u8)
            .collect(),
    )
}

fn worker() -> Server {
    // Same keys on both workers: either can open what the other sealed.
    let m = MasterKey::new([42; 16]);
    Server::new(
        ServerConfig {
            port: 7000,
            ..ServerConfig::default()
        },
        KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &m)),
        KeyRing::new(AppKey::from_master(KeyEpoch(1), &MasterKey::new([43; 16]))),
    )
}

/// Answer one event on `server` (the worker `who`).
fn answer(
    server: &mut Server,
    who: u8,
    now: Instant,
    mut msk: Minisocket<'_>,
    out: &mut Vec<Vec<u8>>,
) {
    let key: Vec<u8> = match msk.kind() {
        EventKind::Close => return,
        EventKind::Open => {
            let Some(key) = msk.input().strip_prefix(b"GET ").map(<[u8]>::to_vec) else {
                server.refuse(msk);
                return;
            };
            let Some(value) = value_of(&key) else {
                server.refuse(msk);
                return;
            };
            // The output continuation: the stream is [0, len) of the value
            // named by `key`.
            match UcontSpec::output(0, value.len() as u64, &key) {
                Some(spec) => msk.set_output(spec),
                None => {
                    server.refuse(msk);
                    return;
                }
            }
            key
        }
        EventKind::Request => match msk.output() {
            Some(o) => o.app_data().to_vec(),
            None => {
                server.refuse(msk);
                return;
            }
        },
    };
    let Some(value) = value_of(&key) else {
        server.refuse(msk);
        return;
    };
    // A per-packet user continuation on the answer's first packet.
    if let Some(mark) = UcontSpec::input(0, &[b'w', who]) {
        let _ = msk.set_ucont(0, mark);
    }
    let _ = server.send_with(
        now,
        msk,
        &mut |seg, buf| {
            let start = seg.offset as usize;
            buf.copy_from_slice(&value[start..start + buf.len()]);
            Ok(())
        },
        &mut |f| out.push(f.to_vec()),
    );
}

fn main() {
    let mut workers = [worker(), worker()];
    let keys: [&[u8]; 4] = [b"tiny", b"small", b"medium", b"large"];
    let mut clients: Vec<Client> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let ends = Endpoints {
                local_mac: [2, 0, 0, 0, 0, 1],
                remote_mac: [2, 0, 0, 0, 0, 2],
                local: IpAddr::from([10, 0, 0, 1]),
                local_port: 40_000 + i as u16,
                remote: IpAddr::from([10, 0, 0, 2]),
                remote_port: 7000,
            };
            Client::new(
                ClientConfig::default(),
                ends,
                1000 + i as u32,
                &[b"GET ", *key].concat(),
            )
        })
        .collect();

    // (delivery time, frame, to the server?)
    let delay = 1_000; // µs each way
    let mut now = Instant::from_millis(1);
    let mut wire: VecDeque<(Instant, Vec<u8>, bool)> = VecDeque::new();
    for c in &mut clients {
        c.start(now, &mut |f| {
            wire.push_back((now.plus_micros(delay), f.to_vec(), true))
        });
    }
    let (mut answered, mut handed_over) = ([0u64; 2], 0u64);
    let mut steps = 0u64;
    while clients.iter().any(|c| !c.is_done()) {
        steps += 1;
        assert!(steps < 10_000_000, "no progress");
        let next_frame = wire.iter().map(|(t, _, _)| *t).min();
        let next_timer = clients.iter().filter_map(Client::next_timer).min();
        now = match (next_frame, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => panic!("stalled"),
        };
        let mut out_server = Vec::new();
        let mut out_client = Vec::new();
        if let Some(i) = wire.iter().position(|(t, _, _)| *t == now) {
            let (_, frame, to_server) = wire.remove(i).unwrap_or_default();
            if to_server {
                // Every frame reaches worker 0.
                let [w0, w1] = &mut workers;
                let mut handovers = Vec::new();
                for msk in w0.handle(now, &frame, &mut |f| out_server.push(f.to_vec())) {
                    if msk.kind() == EventKind::Request && msk.conn_id().0 % 2 == 1 {
                        // Hand the event to worker 1 as sealed bytes.
                        if let Some(e) = w0.extract(&msk) {
                            handovers.push(e);
                            w0.drop_event(msk);
                            continue;
                        }
                    }
                    answered[0] += 1;
                    answer(w0, 0, now, msk, &mut out_server);
                }
                for e in handovers {
                    handed_over += 1;
                    if let Ok(msk) =
                        w1.install(now, e.as_bytes(), &mut |f| out_server.push(f.to_vec()))
                    {
                        answered[1] += 1;
                        answer(w1, 1, now, msk, &mut out_server);
                    }
                }
            } else {
                for c in &mut clients {
                    c.on_frame(now, &frame, &mut |f| out_client.push(f.to_vec()));
                }
            }
        } else {
            for c in &mut clients {
                if c.next_timer().is_some_and(|t| t <= now) {
                    c.on_timer(now, &mut |f| out_client.push(f.to_vec()));
                }
            }
        }
        for f in out_server {
            wire.push_back((now.plus_micros(delay), f, false));
        }
        for f in out_client {
            wire.push_back((now.plus_micros(delay), f, true));
        }
    }
    for (key, c) in keys.iter().zip(&clients) {
        let want = value_of(key).unwrap_or_default();
        let ok = c.data() == want.as_slice();
        println!(
            "GET {:<7} {:>8} bytes {}",
            String::from_utf8_lossy(key),
            c.data().len(),
            if ok { "identical" } else { "DIFFERENT" }
        );
        assert!(ok, "value of {} differs", String::from_utf8_lossy(key));
    }
    println!(
        "events answered: worker 0 {}, worker 1 {} ({handed_over} handed over as sealed bytes); simulated time {} ms",
        answered[0],
        answered[1],
        now.0 / 1000
    );
    for (i, w) in workers.iter().enumerate() {
        println!(
            "worker {i}: {} KiB of memory, {} events extracted, {} installed",
            w.memory_bytes() / 1024,
            w.stats().events_extracted,
            w.stats().events_installed
        );
    }
}
