//! The daemon's counters, per worker and in total, as Prometheus text
//! (`--stats-listen`, `trickled stats`): the XDP program's verdicts, each
//! worker's frames, and each service's requests, responses and drops by
//! reason. Workers publish a snapshot about every 100 ms
//! (`trickles_xdp::runtime::Monitor`), never per packet.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use trickles_core::server::{DropReason, ServerStats};
use trickles_xdp::runtime::Monitor;
use trickles_xdp::{Stat, Stats, WorkerStats};

use crate::services::Services;

/// A counter family: name, help text, and how to read it from `T`.
type Counter<T> = (&'static str, &'static str, fn(&T) -> u64);

/// One worker's last snapshot.
#[derive(Debug, Clone, Default)]
struct QueueSnapshot {
    worker: WorkerStats,
    services: Vec<(u16, ServerStats)>,
    unrouted: u64,
    memory_bytes: usize,
}

/// The latest counters of every worker and of the program.
#[derive(Debug, Default)]
pub struct Board {
    queues: Mutex<BTreeMap<u32, QueueSnapshot>>,
    program: Mutex<Stats>,
}

impl Monitor<Services> for Board {
    fn worker(&self, queue: u32, stats: &WorkerStats, services: &Services) {
        let snap = QueueSnapshot {
            worker: *stats,
            services: services.stats().map(|(p, s)| (p, s.clone())).collect(),
            unrouted: services.unrouted,
            memory_bytes: services.memory_bytes(),
        };
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(queue, snap);
    }

    fn program(&self, stats: &Stats) {
        *self.program.lock().unwrap_or_else(PoisonError::into_inner) = *stats;
    }
}

impl Board {
    /// The counters in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let program = *self.program.lock().unwrap_or_else(PoisonError::into_inner);
        let queues = self
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let _ = writeln!(
            out,
            "# HELP trickled_xdp_frames_total Frames the XDP program saw, by verdict."
        );
        let _ = writeln!(out, "# TYPE trickled_xdp_frames_total counter");
        for stat in Stat::ALL {
            let _ = writeln!(
                out,
                "trickled_xdp_frames_total{{verdict=\"{}\"}} {}",
                stat.as_str(),
                program.get(stat)
            );
        }
        let worker_counters: [Counter<WorkerStats>; 7] = [
            (
                "trickled_worker_frames_received_total",
                "Frames a worker received from its AF_XDP socket.",
                |w| w.rx_frames,
            ),
            (
                "trickled_worker_frames_sent_total",
                "Frames a worker put on its TX ring.",
                |w| w.tx_frames,
            ),
            (
                "trickled_worker_answers_dropped_no_frame_total",
                "Answers dropped because every transmit frame was in flight.",
                |w| w.tx_no_frame,
            ),
            (
                "trickled_worker_tx_ring_full_total",
                "Times the TX ring was full.",
                |w| w.tx_ring_full,
            ),
            (
                "trickled_worker_frames_too_long_total",
                "Received frames longer than a worker handles.",
                |w| w.rx_too_long,
            ),
            (
                "trickled_worker_fault_dropped_total",
                "Frames dropped by an injected fault.",
                |w| w.fault_dropped,
            ),
            (
                "trickled_worker_pcap_records_total",
                "Frames written to pcap files.",
                |w| w.pcap_records,
            ),
        ];
        for (name, help, get) in worker_counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (q, s) in &queues {
                let _ = writeln!(out, "{name}{{queue=\"{q}\"}} {}", get(&s.worker));
            }
        }
        let service_counters: [Counter<ServerStats>; 7] = [
            (
                "trickled_requests_total",
                "Requests answered (timeouts included).",
                |s| s.requests,
            ),
            ("trickled_responses_total", "Response frames sent.", |s| {
                s.frames_out
            }),
            (
                "trickled_syns_total",
                "Connections opened (SYNs answered).",
                |s| s.syns,
            ),
            (
                "trickled_timeouts_total",
                "Timeout requests answered.",
                |s| s.timeouts,
            ),
            (
                "trickled_frames_in_total",
                "Frames handed to a service's engine.",
                |s| s.frames_in,
            ),
            (
                "trickled_contexts_total",
                "CONTEXT packets sent: answers that start a new context (a timeout's new incarnation, output that starts).",
                |s| s.contexts_sent,
            ),
            (
                "trickled_replay_evictions_total",
                "Replay-table entries overwritten while still within the horizon: a replay of one of them goes undetected; a rising count means the table is small for the request rate.",
                |s| s.replay_evictions,
            ),
        ];
        for (name, help, get) in service_counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (q, s) in &queues {
                for (port, st) in &s.services {
                    let _ = writeln!(out, "{name}{{queue=\"{q}\",port=\"{port}\"}} {}", get(st));
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP trickled_drops_total Packets a service's engine dropped, by reason.\n# TYPE trickled_drops_total counter"
        );
        for (q, s) in &queues {
            for (port, st) in &s.services {
                for r in DropReason::ALL {
                    let _ = writeln!(
                        out,
                        "trickled_drops_total{{queue=\"{q}\",port=\"{port}\",reason=\"{}\"}} {}",
                        r.as_str(),
                        st.drops(r)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP trickled_unrouted_frames_total Steered frames for no served port.\n# TYPE trickled_unrouted_frames_total counter"
        );
        for (q, s) in &queues {
            let _ = writeln!(
                out,
                "trickled_unrouted_frames_total{{queue=\"{q}\"}} {}",
                s.unrouted
            );
        }
        let _ = writeln!(
            out,
            "# HELP trickled_engine_memory_bytes Bytes the server engines hold (fixed at start-up).\n# TYPE trickled_engine_memory_bytes gauge"
        );
        for (q, s) in &queues {
            let _ = writeln!(
                out,
                "trickled_engine_memory_bytes{{queue=\"{q}\"}} {}",
                s.memory_bytes
            );
        }
        out
    }
}

/// Serve `board` as `GET /metrics` on `addr` until `stop`; one request at
/// a time, each bounded by a two-second timeout.
pub fn serve_http(
    addr: SocketAddr,
    board: Arc<Board>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("stats endpoint {addr}: {e}")))?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("trickled-stats".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        if let Err(e) = answer(s, &board) {
                            tracing::debug!(error = %e, "stats request failed");
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
}

fn answer(mut s: TcpStream, board: &Board) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf)?;
    let request = String::from_utf8_lossy(&buf[..n]);
    let (status, body) = if request.starts_with("GET /metrics ") || request.starts_with("GET / ") {
        ("200 OK", board.render())
    } else {
        ("404 Not Found", "try GET /metrics\n".to_owned())
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `trickled stats`: fetch the text from a running daemon's endpoint.
pub fn fetch(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| {
        format!("no daemon answers on {addr} (is it running with --stats-listen {addr}?): {e}")
    })?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: trickled\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("reading from {addr}: {e}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .ok_or_else(|| format!("{addr} answered without HTTP headers"))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_once_with_labels() {
        let b = Board::default();
        let mut p = Stats::default();
        p.0[Stat::Steered as usize] = 5;
        Monitor::<Services>::program(&b, &p);
        Monitor::<Services>::worker(
            &b,
            2,
            &WorkerStats {
                rx_frames: 9,
                ..WorkerStats::default()
            },
            &Services::empty(),
        );
        let text = b.render();
        assert!(text.contains("trickled_xdp_frames_total{verdict=\"steered\"} 5"));
        assert!(text.contains("trickled_worker_frames_received_total{queue=\"2\"} 9"));
        assert_eq!(
            text.matches("# TYPE trickled_requests_total counter")
                .count(),
            1
        );
    }
}

/// One sample of Prometheus text: name, labels, value.
type Sample = (String, Vec<(String, String)>, u64);

/// The samples of Prometheus text.
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split(',')
                        .filter_map(|kv| {
                            let (k, v) = kv.split_once('=')?;
                            Some((k.to_owned(), v.trim_matches('"').to_owned()))
                        })
                        .collect();
                    (n, labels)
                }
                None => (series, Vec::new()),
            };
            Some((name.to_owned(), labels, value))
        })
        .collect()
}

/// `trickled stats` without `--raw`: per-worker rows, a total row, the
/// XDP verdicts and the drops by reason, from the Prometheus text.
pub fn summary(text: &str) -> String {
    let s = samples(text);
    let label = |l: &[(String, String)], k: &str| {
        l.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut queues: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    let mut drops: BTreeMap<String, u64> = BTreeMap::new();
    let mut xdp: Vec<(String, u64)> = Vec::new();
    for (name, labels, v) in &s {
        let col = match name.as_str() {
            "trickled_worker_frames_received_total" => Some(0),
            "trickled_worker_frames_sent_total" => Some(1),
            "trickled_requests_total" => Some(2),
            "trickled_syns_total" => Some(3),
            "trickled_drops_total" => Some(4),
            _ => None,
        };
        if let Some(c) = col {
            queues.entry(label(labels, "queue")).or_default()[c] += v;
        }
        if name == "trickled_drops_total" {
            *drops.entry(label(labels, "reason")).or_default() += v;
        }
        if name == "trickled_xdp_frames_total" {
            xdp.push((label(labels, "verdict"), *v));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:>14} {:>14} {:>12} {:>10} {:>10}",
        "queue", "frames in", "frames out", "requests", "syns", "drops"
    );
    let mut total = [0u64; 5];
    for (q, row) in &queues {
        let _ = writeln!(
            out,
            "{q:<8} {:>14} {:>14} {:>12} {:>10} {:>10}",
            row[0], row[1], row[2], row[3], row[4]
        );
        for (t, r) in total.iter_mut().zip(row) {
            *t += r;
        }
    }
    let _ = writeln!(
        out,
        "{:<8} {:>14} {:>14} {:>12} {:>10} {:>10}",
        "total", total[0], total[1], total[2], total[3], total[4]
    );
    let _ = writeln!(
        out,
        "xdp: {}",
        xdp.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "drops by reason: {}",
        drops
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    #[test]
    fn totals_add_up_over_queues() {
        let b = Board::default();
        for q in [0, 1] {
            Monitor::<Services>::worker(
                &b,
                q,
                &WorkerStats {
                    rx_frames: 10 + u64::from(q),
                    ..WorkerStats::default()
                },
                &Services::empty(),
            );
        }
        let text = summary(&b.render());
        let total = text
            .lines()
            .find(|l| l.starts_with("total"))
            .unwrap_or_default()
            .to_owned();
        assert!(total.split_whitespace().nth(1) == Some("21"), "{text}");
        assert!(text.contains("xdp: steered 0"), "{text}");
    }
}
