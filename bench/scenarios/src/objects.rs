//! `objects`: one new connection per request for 1 KB, 10 KB, 100 KB and
//! 500 KB objects (paper §6.1, Fig. 10), Trickles against nginx on
//! kernel TCP. Per run and object size, in the server namespace, each
//! server in turn serves the same files with one worker:
//!
//! - `trickled serve --service 80=web:ROOT` (the stateless web server of
//!   the product daemon, on AF_XDP), loaded by [`ClosedLoop`] on AF_XDP
//!   in the client namespace: [`CONCURRENCY`] connections at a time, each
//!   `GET /<object>` in its SYN, a new connection the moment one is done;
//!   every response is checked byte for byte against the file;
//! - nginx (Debian package, `worker_processes 1`, sendfile), loaded by
//!   `wrk -t1 -c CONCURRENCY -H "Connection: close"`: one connection per
//!   request too, the same concurrency.
//!
//! Only one server runs at a time (each started for its measurement and
//! stopped after), and the order alternates between runs. Reported:
//! requests/s over the measuring window, latency percentiles, and the
//! server's CPU time per request (all its threads, from `/proc`).
//! wrk's latency starts when the request is written, after the TCP
//! handshake; Trickles' starts at the SYN, which carries the request, so
//! it includes the round trip wrk leaves out.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use trickles_sim::plot::{Chart, Series};
use trickles_xdp::netns::{End, NetnsPair};
use trickles_xdp::scenario::{ClientRun, drive};

use crate::closed_loop::{ClosedLoop, LoadConfig};
use crate::process::{Daemon, tree_cpu_time};
use crate::report::{Report, median};

/// Object sizes, bytes (the paper's 1 KB ... 500 KB).
const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 500_000];
/// Connections open at a time, for both servers.
pub const CONCURRENCY: usize = 32;
/// Seconds of load counted per size and server.
const MEASURE_S: u64 = 8;
/// Seconds of load before counting starts (Trickles; wrk starts cold,
/// as its connections are new ones anyway).
const WARMUP_S: u64 = 1;
/// A request not answered after this long counts as an error (wrk's
/// `--timeout` is set to the same).
const GIVE_UP_S: u64 = 2;
const TRICKLES_PORT: u16 = 80;
const NGINX_PORT: u16 = 8080;
/// The Trickles client's local ports (outside the kernel's ephemeral
/// range, which wrk's connections use).
const FIRST_LOCAL_PORT: u16 = 20_000;
const LOCAL_PORTS: u16 = 250;
/// A key file for the benchmark's daemon only (not a secret).
const KEYS: &str = "epoch = 1\n\
server_key = \"6f626a656374732d7365727665722d31\"\n\
app_key = \"6f626a656374732d6170702d6b65792d\"\n";
/// wrk's summary as one JSON line (latencies in µs).
const WRK_SCRIPT: &str = r#"done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"#;

fn name(size: u64) -> String {
    format!("{}k.bin", size / 1000)
}

/// The file of `size` bytes: a deterministic non-repeating pattern.
fn content(size: u64) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8 ^ (i as u8))
        .collect()
}

fn nginx_conf(dir: &Path, addr: std::net::Ipv4Addr) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\ndaemon off;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_timeout 0;\n  \
         default_type application/octet-stream;\n  types {{ }}\n  \
         server {{ listen {addr}:{NGINX_PORT} backlog=4096; root {d}/www; }}\n}}\n"
    )
}

/// The percentile `p` (0–100) of sorted `v`.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64
}

/// One server's figures for one size in one run.
#[derive(Debug, Clone, Copy)]
struct Measured {
    per_s: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    errors: u64,
    cpu_us_per_request: f64,
}

impl Measured {
    fn json(&self) -> Value {
        json!({
            "requests_per_s": self.per_s,
            "p50_us": self.p50_us,
            "p90_us": self.p90_us,
            "p99_us": self.p99_us,
            "errors": self.errors,
            "server_cpu_us_per_request": self.cpu_us_per_request,
        })
    }
}

/// Give a server just started time to set up; `Err` if it exited.
fn settle(daemon: &mut Daemon, what: &str) -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(1500));
    daemon.check_alive(what)
}

fn trickles(pair: &NetnsPair, dir: &Path, size: u64, trickled: &Path) -> Result<Measured, String> {
    let child = pair
        .b
        .command(&trickled.display().to_string())
        .args(["serve", "--interface", &pair.b.ifname, "--queues", "0"])
        .args([
            "--service",
            &format!("{TRICKLES_PORT}=web:{}/www", dir.display()),
        ])
        .args(["--log", "warn", "--key-file"])
        .arg(dir.join("keys.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", trickled.display()))?;
    let mut daemon = Daemon(child);
    settle(&mut daemon, "trickled")?;
    let body = Arc::new(content(size));
    let check = {
        let body = body.clone();
        Box::new(move |r: &[u8]| {
            r.starts_with(b"HTTP/1.1 200 ")
                && r.len() > body.len()
                && r.ends_with(&body)
                && r[..r.len() - body.len()].ends_with(b"\r\n\r\n")
        })
    };
    let cfg = LoadConfig {
        concurrency: CONCURRENCY,
        ports: (FIRST_LOCAL_PORT..FIRST_LOCAL_PORT + LOCAL_PORTS).collect(),
        request: format!(
            "GET /{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            name(size),
            pair.b.addr
        )
        .into_bytes(),
        warmup_us: WARMUP_S * 1_000_000,
        measure_us: MEASURE_S * 1_000_000,
        give_up_us: GIVE_UP_S * 1_000_000,
        isn_seed: size as u32,
    };
    let run = ClientRun {
        remote_port: TRICKLES_PORT,
        local_ports: cfg.ports.clone(),
        fault: None,
        pcap: None,
        deadline: Duration::from_secs(WARMUP_S + MEASURE_S + 10),
        queue: 0,
    };
    let load = ClosedLoop::new(cfg, check)?;
    let cpu_before = tree_cpu_time(daemon.pid())?;
    let driven = drive(
        &pair.a,
        pair.b.addr,
        &run,
        move |ends| load.with_ends(ends),
        ClosedLoop::start,
    )
    .map_err(|e| format!("Trickles client: {e}"))?;
    let cpu = tree_cpu_time(daemon.pid())?.saturating_sub(cpu_before);
    daemon.check_alive("trickled")?;
    let load = driven.handler;
    let mut lat = load.latencies_us.clone();
    lat.sort_unstable();
    let completed = load.completed.max(1);
    Ok(Measured {
        per_s: load.per_second(),
        p50_us: percentile(&lat, 50.0),
        p90_us: percentile(&lat, 90.0),
        p99_us: percentile(&lat, 99.0),
        errors: load.wrong + load.timed_out,
        cpu_us_per_request: cpu.as_secs_f64() * 1e6 / completed as f64,
    })
}

fn nginx(pair: &NetnsPair, dir: &Path, size: u64) -> Result<Measured, String> {
    let child = pair
        .b
        .command("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting nginx (apt-get install nginx): {e}"))?;
    let mut daemon = Daemon(child);
    settle(&mut daemon, "nginx").map_err(|e| {
        let log = std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
        format!("{e}; its error log: {}", log.trim())
    })?;
    let cpu_before = tree_cpu_time(daemon.pid())?;
    let out = wrk(&pair.a, dir, &pair.b, size)?;
    let cpu = tree_cpu_time(daemon.pid())?.saturating_sub(cpu_before);
    daemon.check_alive("nginx")?;
    let n = |k: &str| out[k].as_f64().unwrap_or(f64::NAN);
    let errors = [
        "connect_errors",
        "read_errors",
        "write_errors",
        "status_errors",
        "timeouts",
    ]
    .iter()
    .map(|k| out[*k].as_u64().unwrap_or(0))
    .sum();
    let requests = n("requests");
    Ok(Measured {
        per_s: requests / (n("duration_us") / 1e6),
        p50_us: n("p50_us"),
        p90_us: n("p90_us"),
        p99_us: n("p99_us"),
        errors,
        cpu_us_per_request: cpu.as_secs_f64() * 1e6 / requests.max(1.0),
    })
}

/// Run wrk from `client` against nginx on `server`; its summary line.
fn wrk(client: &End, dir: &Path, server: &End, size: u64) -> Result<Value, String> {
    let out = client
        .command("wrk")
        .args(["-t1", &format!("-c{CONCURRENCY}")])
        .args([
            &format!("-d{MEASURE_S}s"),
            &format!("--timeout={GIVE_UP_S}s"),
        ])
        .args(["-H", "Connection: close", "-s"])
        .arg(dir.join("summary.lua"))
        .arg(format!(
            "http://{}:{NGINX_PORT}/{}",
            server.addr,
            name(size)
        ))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {} {}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("no summary in wrk's output: {}", text.trim()))?;
    serde_json::from_str(line).map_err(|e| format!("wrk's summary {line:?}: {e}"))
}

fn prepare(dir: &Path, pair: &NetnsPair) -> Result<(), String> {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).map_err(|e| format!("{}: {e}", www.display()))?;
    for size in SIZES {
        std::fs::write(www.join(name(size)), content(size)).map_err(|e| e.to_string())?;
    }
    std::fs::write(dir.join("keys.toml"), KEYS).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("nginx.conf"), nginx_conf(dir, pair.b.addr))
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("summary.lua"), WRK_SCRIPT).map_err(|e| e.to_string())?;
    Ok(())
}

/// Per-run figures of one size.
#[derive(Debug, Default)]
struct Row {
    trickles: Vec<Measured>,
    nginx: Vec<Measured>,
    ratios: Vec<f64>,
}

/// Run the scenario `runs` times with the `trickled` binary given.
pub fn run(runs: usize, trickled: &Path) -> Result<Report, String> {
    let mut report = Report::new("objects", runs);
    let dir = std::env::temp_dir().join(format!("trickles-bench-objects-{}", std::process::id()));
    let mut rows: Vec<Row> = SIZES.iter().map(|_| Row::default()).collect();
    let result = (|| -> Result<(), String> {
        for run_no in 1..=runs {
            let pair = NetnsPair::create().map_err(|e| format!("veth pair: {e}"))?;
            prepare(&dir, &pair)?;
            for (size, row) in SIZES.iter().zip(&mut rows) {
                let (t, n) = if run_no % 2 == 1 {
                    let t = trickles(&pair, &dir, *size, trickled)?;
                    (t, nginx(&pair, &dir, *size)?)
                } else {
                    let n = nginx(&pair, &dir, *size)?;
                    (trickles(&pair, &dir, *size, trickled)?, n)
                };
                let ratio = t.per_s / n.per_s;
                eprintln!(
                    "objects run {run_no}/{runs}, {}: Trickles {:.0} req/s (p50 {:.0} µs, {} errors), nginx {:.0} req/s (p50 {:.0} µs, {} errors), ratio {ratio:.3}",
                    name(*size),
                    t.per_s,
                    t.p50_us,
                    t.errors,
                    n.per_s,
                    n.p50_us,
                    n.errors
                );
                report.runs.push(json!({
                    "run": run_no,
                    "object_bytes": size,
                    "concurrency": CONCURRENCY,
                    "trickles": t.json(),
                    "nginx": n.json(),
                    "ratio": ratio,
                }));
                row.trickles.push(t);
                row.nginx.push(n);
                row.ratios.push(ratio);
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    summarise(&mut report, &rows, runs);
    Ok(report)
}

fn summarise(report: &mut Report, rows: &[Row], runs: usize) {
    let med =
        |v: &[Measured], f: fn(&Measured) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    if let Some(first) = rows.first() {
        report.set("req_per_s_ratio_vs_nginx_1k", median(&first.ratios));
    }
    for (size, row) in SIZES.iter().zip(rows) {
        let k = size / 1000;
        report.set(
            &format!("req_per_s_ratio_vs_nginx_{k}k"),
            median(&row.ratios),
        );
        report.set(
            &format!("trickles_req_per_s_{k}k"),
            med(&row.trickles, |m| m.per_s),
        );
        report.set(
            &format!("nginx_req_per_s_{k}k"),
            med(&row.nginx, |m| m.per_s),
        );
    }
    report.set("concurrency", CONCURRENCY);
    report.set("runs", runs);
    let mut t = format!(
        "One new connection per request, {CONCURRENCY} at a time, for {MEASURE_S} s per object size and server; \
         both servers with one worker on the same veth pair, one at a time. Trickles: `trickled` \
         (web service) loaded by the closed-loop AF_XDP client, every response checked byte for byte. \
         {}: loaded by `wrk -t1 -c{CONCURRENCY} -H \"Connection: close\"`. Medians over runs; the \
         ratio is the median of per-run ratios. Latency: Trickles from the SYN (which carries the \
         request) to the last byte; wrk from the request's write, after the handshake. Server CPU: \
         all threads of the server process(es), over the load.\n\n\
         | object | Trickles req/s | nginx req/s | ratio | Trickles p50 / p99 (µs) | nginx p50 / p99 (µs) | server CPU µs/req Trickles / nginx | errors Trickles / nginx |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        nginx_version()
    );
    for (size, row) in SIZES.iter().zip(rows) {
        let errors = |v: &[Measured]| v.iter().map(|m| m.errors).sum::<u64>();
        t.push_str(&format!(
            "| {} KB | {:.0} | {:.0} | {:.3} | {:.0} / {:.0} | {:.0} / {:.0} | {:.1} / {:.1} | {} / {} |\n",
            size / 1000,
            med(&row.trickles, |m| m.per_s),
            med(&row.nginx, |m| m.per_s),
            median(&row.ratios),
            med(&row.trickles, |m| m.p50_us),
            med(&row.trickles, |m| m.p99_us),
            med(&row.nginx, |m| m.p50_us),
            med(&row.nginx, |m| m.p99_us),
            med(&row.trickles, |m| m.cpu_us_per_request),
            med(&row.nginx, |m| m.cpu_us_per_request),
            errors(&row.trickles),
            errors(&row.nginx),
        ));
    }
    report.table = t;
    let series = |label: &str, pick: fn(&Row) -> &Vec<Measured>| Series {
        name: label.into(),
        points: SIZES
            .iter()
            .zip(rows)
            .map(|(s, r)| ((*s as f64 / 1000.0).log10(), med(pick(r), |m| m.per_s)))
            .collect(),
    };
    report.chart = Some(Chart {
        title: "objects: requests/s, one connection per request".into(),
        x_label: "log10(object size, KB)".into(),
        y_label: "requests/s".into(),
        series: vec![
            series("Trickles (trickled, AF_XDP)", |r| &r.trickles),
            series("nginx (kernel TCP)", |r| &r.nginx),
        ],
        band: None,
        y_from_zero: true,
    });
}

/// `nginx -v` (it prints to standard error).
fn nginx_version() -> String {
    std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .trim_start_matches("nginx version: ")
                .to_owned()
        })
        .unwrap_or_else(|_| "nginx".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_latencies() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn object_files_have_their_size_and_do_not_repeat_soon() {
        let c = content(10_000);
        assert_eq!(c.len(), 10_000);
        assert_ne!(c[..256], c[256..512]);
        assert_eq!(name(500_000), "500k.bin");
    }
}
