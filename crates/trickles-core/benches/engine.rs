//! The server engine alone, per request → response (issue 6): a real
//! request frame in (parse, checksums, continuation MAC open, replay
//! check, SACK-proof verification, congestion step, user-continuation
//! MAC), the answer out (continuation seal, nonce, frame emit with
//! checksums, the stream bytes copied in by the application).
//!
//! The requests are captured from an in-memory, loss-free transfer between
//! the real client and server engines, then replayed in order to fresh
//! servers with the same keys (each request is accepted once: the replay
//! table would refuse a second copy, so the benchmark never measures a
//! drop). The application copies its bytes from memory, so the figure is
//! the engine's, not a file system's. Responses are full 1514-byte frames
//! carrying 1386 stream bytes behind a compact continuation.
//!
//! Run with `cargo bench -p trickles-core --bench engine` (or
//! `cargo xtask bench`, which also writes `bench/results/crypto.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant as WallInstant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trickles_core::Instant;
use trickles_core::cc::{self, CcConfig, LossView, Piece, Trickle};
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{
    AppRefusal, Application, MAX_APP_DATA, Opened, Output, ServerConfig, StreamServer,
};
use trickles_wire::KeyEpoch;
use trickles_wire::PacketNumber;
use trickles_wire::trickles::list::List;

/// Serves `[0, len)` of one object held in memory.
struct Memory(&'static [u8]);

impl Application for Memory {
    fn open(
        &mut self,
        _request: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        app_data[0] = 1;
        Ok(Opened::Output(Output {
            len: self.0.len() as u64,
            app_data_len: 1,
        }))
    }

    fn fill(&mut self, _app_data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), AppRefusal> {
        let start = offset as usize;
        buf.copy_from_slice(self.0.get(start..start + buf.len()).ok_or(AppRefusal)?);
        Ok(())
    }
}

fn object() -> &'static [u8] {
    static OBJECT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    OBJECT.get_or_init(|| (0..400_000_000u32).map(|i| (i * 7) as u8).collect())
}

fn server() -> StreamServer<Memory> {
    StreamServer::new(
        ServerConfig::default(),
        KeyRing::new(ServerKeys::from_master(
            KeyEpoch(1),
            &MasterKey::new([5; 16]),
        )),
        KeyRing::new(AppKey::from_master(KeyEpoch(1), &MasterKey::new([6; 16]))),
        Memory(object()),
    )
}

/// A request frame and the time the server got it.
struct Captured {
    at: Instant,
    frame: Vec<u8>,
}

/// The client's frames of a loss-free transfer of `len` bytes (1 ms each
/// way), in the order the server got them.
fn capture(len: u64) -> Vec<Captured> {
    let ends = Endpoints {
        local_mac: [2, 0, 0, 0, 0, 1],
        remote_mac: [2, 0, 0, 0, 0, 2],
        local: IpAddr::from([10, 0, 0, 1]),
        local_port: 40_000,
        remote: IpAddr::from([10, 0, 0, 2]),
        remote_port: 8080,
    };
    let cfg = ClientConfig {
        max_output_len: len,
        ..ClientConfig::default()
    };
    let mut client = Client::new(cfg, ends, 1, b"GET object");
    let mut server = server();
    let delay = 1_000;
    let mut now = Instant::from_millis(1_000);
    let mut wire: VecDeque<(Instant, Vec<u8>, bool)> = VecDeque::new();
    client.start(now, &mut |f| {
        wire.push_back((now.plus_micros(delay), f.to_vec(), true))
    });
    let mut out = Vec::new();
    while let Some((t, frame, to_server)) = wire.pop_front() {
        now = t;
        let mut replies = Vec::new();
        if to_server {
            server.handle(now, &frame, &mut |f| replies.push(f.to_vec()));
            out.push(Captured { at: now, frame });
        } else if !client.is_done() {
            client.on_frame(now, &frame, &mut |f| replies.push(f.to_vec()));
        }
        for f in replies {
            wire.push_back((now.plus_micros(delay), f, !to_server));
        }
    }
    assert!(client.is_done(), "the capture transfer did not finish");
    out
}

fn engine(c: &mut Criterion) {
    let requests = capture(object().len() as u64);
    // Skip the slow-start rounds: steady state, one request → one response.
    let steady = &requests[requests.len() / 4..];
    // How many response frames each steady-state request yields.
    let (before, after) = {
        let mut s = server();
        let mut sink = |_: &[u8]| {};
        for r in &requests[..requests.len() / 4] {
            s.handle(r.at, &r.frame, &mut sink);
        }
        let before = (s.stats().frames_out, s.stats().frames_in);
        for r in steady {
            s.handle(r.at, &r.frame, &mut sink);
        }
        (before, (s.stats().frames_out, s.stats().frames_in))
    };
    eprintln!(
        "captured {} requests; measuring {}: {:.3} response frames (1514 bytes, 1386 stream bytes) per request",
        requests.len(),
        steady.len(),
        (after.0 - before.0) as f64 / (after.1 - before.1) as f64
    );
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("request_to_response", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                // A fresh server per pass (each request is accepted once),
                // brought to the steady state untimed.
                let mut s = server();
                let mut sink = |f: &[u8]| {
                    black_box(f);
                };
                for r in &requests[..requests.len() / 4] {
                    s.handle(r.at, &r.frame, &mut sink);
                }
                let n = left.min(steady.len());
                let start = WallInstant::now();
                for r in &steady[..n] {
                    s.handle(r.at, black_box(&r.frame), &mut sink);
                }
                total += start.elapsed();
                assert_eq!(
                    s.stats().total_drops(),
                    0,
                    "a request was dropped: {:?}",
                    s.stats()
                );
                left -= n;
            }
            total
        });
    });
    g.finish();

    let cfg = CcConfig::default();
    let mut g = c.benchmark_group("cc");
    g.throughput(Throughput::Elements(1));
    g.bench_function("step_congestion_avoidance", |b| {
        let t = Trickle {
            k: 100_000,
            piece: Piece {
                base: 0,
                start_cwnd: 2,
                ssthresh: 500,
                restore: false,
            },
            floor: 99_000,
            recovering: None,
        };
        b.iter(|| {
            cc::step(
                &cfg,
                black_box(&t),
                &LossView::new(List::empty(), PacketNumber(t.floor)),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
