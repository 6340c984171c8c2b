//! `failover`: paper Fig. 16 on AF_XDP. A 400 MB download from
//! `trickled` (the synthetic stream, real daemon processes) survives
//!
//! - **restart**: the daemon killed with SIGKILL when 150 MB have arrived
//!   and started again at once with the same key file (veth pair);
//! - **replica kill, ECMP**: two replicas behind a router running
//!   `trickled balance --mode ecmp`; the replica serving the connection is
//!   killed;
//! - **replica kill, spray**: the same with `--mode spray` (each request
//!   to either replica); one replica is killed.
//!
//! The figure of merit is the client's longest stall (no new byte in
//! order) and whether every byte arrived as served. For contrast, a
//! kernel TCP download from the daemon's own TCP listener across the same
//! restart: the connection dies with the process. The plot shows goodput
//! over time for the first run of each case.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use trickles_core::synthetic::{stream_mismatches, stream_request};
use trickles_sim::plot::{Chart, Series};
use trickles_xdp::netns::{Fleet, NetnsPair};
use trickles_xdp::scenario::{FetchReport, SERVER_PORT};

use crate::replicas::{
    Running, SEED, balancer, goodput_series, intact, key_file, requests, serve, serve_now,
};
use crate::report::{Report, median};

const SIZE: u64 = 400_000_000;
const KILL_AT: u64 = 150_000_000;
/// Goodput over a sliding 100 ms window, every 10 ms.
const WINDOW: Duration = Duration::from_millis(100);
const STEP: Duration = Duration::from_millis(10);

/// One case of one run.
#[derive(Debug, Clone)]
struct Case {
    stall_ms: f64,
    bytes_ok: bool,
    elapsed_s: f64,
    timeouts: u64,
    /// When the kill happened, on the download's clock (s).
    kill_s: f64,
    series: Vec<(f64, f64)>,
}

impl Case {
    fn of(f: &FetchReport) -> Case {
        let kill = f
            .progress
            .iter()
            .find(|(_, b)| *b >= KILL_AT)
            .map_or(0.0, |(t, _)| t.as_secs_f64());
        Case {
            stall_ms: f.longest_stall().as_secs_f64() * 1e3,
            bytes_ok: intact(std::slice::from_ref(f), SIZE),
            elapsed_s: f.elapsed.as_secs_f64(),
            timeouts: f.engine.timeouts,
            kill_s: kill,
            series: goodput_series(&f.progress, WINDOW, STEP),
        }
    }

    fn json(&self) -> Value {
        json!({
            "stall_ms": self.stall_ms,
            "bytes_ok": self.bytes_ok,
            "elapsed_s": self.elapsed_s,
            "goodput_gbps": SIZE as f64 * 8.0 / self.elapsed_s / 1e9,
            "timeouts": self.timeouts,
            "killed_at_s": self.kill_s,
        })
    }
}

fn scratch(name: &str) -> Result<std::path::PathBuf, String> {
    let d = std::env::temp_dir().join(format!("trickles-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d)
}

fn one(reports: Vec<FetchReport>) -> Result<FetchReport, String> {
    reports
        .into_iter()
        .next()
        .ok_or_else(|| "no download ran".to_string())
}

/// SIGKILL and restart of the only server.
fn restart(trickled: &Path, dir: &Path) -> Result<Case, String> {
    let pair = NetnsPair::create().map_err(|e| format!("namespaces: {e}"))?;
    let keys = key_file(dir)?;
    let first = serve(trickled, &pair.b, &keys)?;
    let run = Running::start(&pair.a, pair.b.addr, SIZE, 1);
    run.wait_for(KILL_AT)?;
    first.kill_now();
    let _second = serve_now(trickled, &pair.b, &keys)?;
    Ok(Case::of(&one(run.finish()?)?))
}

/// Two replicas behind `trickled balance --mode MODE`; the replica serving
/// the connection (ECMP) or the first (spray) is killed.
fn replica_kill(trickled: &Path, dir: &Path, mode: &str) -> Result<Case, String> {
    let fleet = Fleet::create(2).map_err(|e| format!("namespaces: {e}"))?;
    let keys = key_file(dir)?;
    let mut daemons = Vec::new();
    for s in &fleet.servers {
        daemons.push(Some(serve(trickled, s, &keys)?));
    }
    let (_balancer, log) = balancer(trickled, &fleet, mode, &[0, 1])?;
    let run = Running::start(&fleet.client, Fleet::VIP, SIZE, 1);
    run.wait_for(KILL_AT)?;
    let victim = if mode == "ecmp" {
        usize::from(requests(trickled, &fleet.servers[1]) > requests(trickled, &fleet.servers[0]))
    } else {
        0
    };
    if let Some(d) = daemons[victim].take() {
        d.kill_now();
    }
    let case = Case::of(&one(run.finish()?)?);
    let dead = fleet.servers[victim].addr.to_string();
    let detected = log
        .lock()
        .map(|l| {
            l.iter()
                .any(|l| l.contains("replica down") && l.contains(&dead))
        })
        .unwrap_or(false);
    if !detected {
        return Err(format!(
            "the balancer did not take {dead} out of the rotation"
        ));
    }
    Ok(case)
}

/// A kernel TCP download from the daemon's TCP listener across the same
/// kill and restart: (bytes received, completed).
fn kernel_restart(trickled: &Path, dir: &Path) -> Result<(u64, bool), String> {
    let pair = NetnsPair::create().map_err(|e| format!("namespaces: {e}"))?;
    let keys = key_file(dir)?;
    let first = serve(trickled, &pair.b, &keys)?;
    let addr = SocketAddr::from((pair.b.addr, SERVER_PORT));
    let (at_kill_point, kill_point) = std::sync::mpsc::channel();
    let reader = pair
        .a
        .run(move || -> Result<(u64, bool), String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            s.write_all(&stream_request(SIZE, SEED))
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 1 << 16];
            let (mut got, mut bad) = (0u64, 0u64);
            while got < SIZE {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        bad += stream_mismatches(SEED, got, &buf[..n]);
                        got += n as u64;
                    }
                }
                if got >= KILL_AT {
                    let _ = at_kill_point.send(());
                }
            }
            Ok((got, got == SIZE && bad == 0))
        })
        .map_err(|e| e.to_string())?;
    let _ = kill_point.recv_timeout(Duration::from_secs(30));
    first.kill_now();
    let _second = serve_now(trickled, &pair.b, &keys)?;
    reader
        .join()
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("kernel TCP reader: {e}"))
}

/// Run the scenario `runs` times with the `trickled` binary given.
pub fn run(runs: usize, trickled: &Path) -> Result<Report, String> {
    let mut report = Report::new("failover", runs);
    let dir = scratch("failover")?;
    let mut cases: Vec<(&str, Vec<Case>)> =
        vec![("restart", vec![]), ("ecmp", vec![]), ("spray", vec![])];
    let mut kernel = Vec::new();
    for r in 0..runs {
        let restart = restart(trickled, &dir)?;
        let ecmp = replica_kill(trickled, &dir, "ecmp")?;
        let spray = replica_kill(trickled, &dir, "spray")?;
        let (tcp_bytes, tcp_done) = kernel_restart(trickled, &dir)?;
        eprintln!(
            "failover run {}/{runs}: stalls restart {:.0} ms, ECMP {:.0} ms, spray {:.0} ms; intact {} {} {}; kernel TCP across the restart: {tcp_bytes} bytes, completed {tcp_done}",
            r + 1,
            restart.stall_ms,
            ecmp.stall_ms,
            spray.stall_ms,
            restart.bytes_ok,
            ecmp.bytes_ok,
            spray.bytes_ok
        );
        report.runs.push(json!({
            "run": r + 1,
            "restart": restart.json(),
            "replica_kill_ecmp": ecmp.json(),
            "replica_kill_spray": spray.json(),
            "kernel_tcp_restart": { "bytes": tcp_bytes, "completed": tcp_done },
        }));
        cases[0].1.push(restart);
        cases[1].1.push(ecmp);
        cases[2].1.push(spray);
        kernel.push(tcp_done);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let stall = |i: usize| median(&cases[i].1.iter().map(|c| c.stall_ms).collect::<Vec<_>>());
    let bytes_ok = cases.iter().all(|(_, c)| c.iter().all(|c| c.bytes_ok));
    report.set("stall_ms_restart", stall(0));
    report.set("stall_ms_failover_ecmp", stall(1));
    report.set("stall_ms_failover_spray", stall(2));
    report.set("stall_ms_failover", stall(1).max(stall(2)));
    report.set("bytes_ok", bytes_ok);
    report.set(
        "kernel_tcp_restarts_survived",
        kernel.iter().filter(|d| **d).count() as u64,
    );
    report.set("runs", runs as u64);
    let mut table = format!(
        "A {} MB download of the synthetic stream from `trickled` (real processes, one worker each); the \
         event happens when {} MB have arrived. Stall: the longest time the client received no new byte \
         in order (milliseconds, median of {runs} runs, range in brackets). The balancer probes every \
         100 ms and takes a replica out after 3 unanswered probes.\n\n\
         | case | stall (ms) | all bytes identical | timeouts (median) |\n|---|---:|---|---:|\n",
        SIZE / 1_000_000,
        KILL_AT / 1_000_000
    );
    let names = [
        "SIGKILL + restart (same key file)",
        "replica killed, ECMP (`trickled balance --mode ecmp`)",
        "replica killed, per-packet spraying (`--mode spray`)",
    ];
    for ((_, c), name) in cases.iter().zip(names) {
        let s: Vec<f64> = c.iter().map(|c| c.stall_ms).collect();
        let lo = s.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = s.iter().copied().fold(0.0, f64::max);
        table.push_str(&format!(
            "| {name} | {:.0} [{lo:.0}–{hi:.0}] | {} | {} |\n",
            median(&s),
            if c.iter().all(|c| c.bytes_ok) {
                "yes"
            } else {
                "NO"
            },
            median(&c.iter().map(|c| c.timeouts as f64).collect::<Vec<_>>())
        ));
    }
    table.push_str(&format!(
        "\nKernel TCP from the daemon's own TCP listener across the same SIGKILL and restart: the \
         connection survived in {} of {runs} runs (a TCP connection dies with its server process).\n",
        kernel.iter().filter(|d| **d).count()
    ));
    report.table = table;
    report.chart = Some(Chart {
        title: format!(
            "Goodput across a restart and a replica kill at {} MB (run 1)",
            KILL_AT / 1_000_000
        ),
        x_label: "time since the SYN (s)".into(),
        y_label: "goodput (Mb/s over 100 ms)".into(),
        series: cases
            .iter()
            .zip(["restart", "kill, ECMP", "kill, spray"])
            .filter_map(|((_, c), name)| {
                c.first().map(|c| Series {
                    name: format!("{name} {:.2} s", c.kill_s),
                    points: c.series.clone(),
                })
            })
            .collect(),
        band: None,
        y_from_zero: true,
    });
    Ok(report)
}
