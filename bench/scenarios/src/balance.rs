//! `balance`: paper Fig. 17 on AF_XDP. Two `trickled` replicas behind a
//! router running `trickled balance --mode spray`: each Trickles request
//! goes to either replica (a hash of the client and the request's
//! continuation MAC), with no connection table anywhere. Against the
//! same router, balancer and daemons with one replica in the rotation:
//!
//! - one connection: how evenly its requests split
//!   (`balance_share_min`, the smaller replica's share) and its goodput
//!   sprayed over two replicas / over one (`balance_goodput_ratio`);
//! - four connections: aggregate goodput over two / over one, and Jain's
//!   fairness index of the connections' goodputs (the paper's Fig. 17
//!   measure).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use trickles_sim::plot::{Chart, Series};
use trickles_xdp::netns::Fleet;
use trickles_xdp::scenario::FetchReport;

use crate::friendliness::jain;
use crate::process::{Daemon, cpu_time};
use crate::replicas::{Running, balancer, goodput_series, intact, key_file, requests, serve};
use crate::report::{Report, median};

const SIZE_ONE: u64 = 500_000_000;
const SIZE_EACH_OF_FOUR: u64 = 125_000_000;
/// Goodput over a sliding 100 ms window, every 10 ms.
const WINDOW: Duration = Duration::from_millis(100);
const STEP: Duration = Duration::from_millis(10);

/// One measured configuration.
#[derive(Debug, Clone)]
struct Measured {
    /// Aggregate goodput, Gb/s.
    gbps: f64,
    /// Requests each replica answered.
    requests: Vec<u64>,
    /// Per-connection goodput, Gb/s.
    per_connection: Vec<f64>,
    intact: bool,
    series: Vec<(f64, f64)>,
    /// CPU time of the replica daemons per GB, seconds.
    server_cpu_s_per_gb: f64,
    /// The connections' client counters, added up.
    timeouts: u64,
    reorder_holds: u64,
    reorder_filled: u64,
    spurious_losses: u64,
    duplicate_bytes: u64,
}

impl Measured {
    fn share_min(&self) -> f64 {
        let total: u64 = self.requests.iter().sum();
        let min = self.requests.iter().copied().min().unwrap_or(0);
        min as f64 / (total as f64).max(1.0)
    }

    fn json(&self) -> Value {
        json!({
            "goodput_gbps": self.gbps,
            "requests_per_replica": self.requests,
            "share_min": self.share_min(),
            "per_connection_gbps": self.per_connection,
            "jain": jain(&self.per_connection),
            "bytes_ok": self.intact,
            "server_cpu_s_per_gb": self.server_cpu_s_per_gb,
            "client_timeouts": self.timeouts,
            "client_reorder_holds": self.reorder_holds,
            "client_reorder_holds_filled": self.reorder_filled,
            "client_spurious_losses": self.spurious_losses,
            "client_duplicate_bytes": self.duplicate_bytes,
        })
    }
}

/// Downloads through the balancer over `replicas` of `fleet`.
fn measure(
    trickled: &Path,
    fleet: &Fleet,
    daemons: &[Daemon],
    replicas: &[usize],
    size: u64,
    n: usize,
) -> Result<Measured, String> {
    let (_balancer, _) = balancer(trickled, fleet, "spray", replicas)?;
    let before: Vec<u64> = fleet
        .servers
        .iter()
        .map(|s| requests(trickled, s))
        .collect();
    let cpu = || -> Duration {
        daemons
            .iter()
            .map(|d| cpu_time(d.pid()).unwrap_or_default())
            .sum()
    };
    let cpu_before = cpu();
    let reports: Vec<FetchReport> = Running::start(&fleet.client, Fleet::VIP, size, n).finish()?;
    let server_cpu = cpu().saturating_sub(cpu_before);
    // Workers publish their counters every 100 ms.
    std::thread::sleep(Duration::from_millis(300));
    let after: Vec<u64> = fleet
        .servers
        .iter()
        .map(|s| requests(trickled, s))
        .collect();
    let elapsed = reports
        .iter()
        .map(|f| f.elapsed)
        .max()
        .unwrap_or_default()
        .as_secs_f64()
        .max(1e-9);
    Ok(Measured {
        gbps: (size * n as u64) as f64 * 8.0 / elapsed / 1e9,
        requests: replicas.iter().map(|&i| after[i] - before[i]).collect(),
        per_connection: reports
            .iter()
            .map(|f| size as f64 * 8.0 / f.elapsed.as_secs_f64().max(1e-9) / 1e9)
            .collect(),
        intact: intact(&reports, size),
        server_cpu_s_per_gb: server_cpu.as_secs_f64() / ((size * n as u64) as f64 / 1e9),
        series: reports
            .first()
            .map(|f| goodput_series(&f.progress, WINDOW, STEP))
            .unwrap_or_default(),
        timeouts: reports.iter().map(|f| f.engine.timeouts).sum(),
        reorder_holds: reports.iter().map(|f| f.engine.reorder_holds).sum(),
        reorder_filled: reports.iter().map(|f| f.engine.reorder_filled).sum(),
        spurious_losses: reports.iter().map(|f| f.engine.spurious_losses).sum(),
        duplicate_bytes: reports.iter().map(|f| f.engine.duplicate_bytes).sum(),
    })
}

/// One run: the four configurations on one fleet.
fn once(trickled: &Path, dir: &Path) -> Result<[Measured; 4], String> {
    let fleet = Fleet::create(2).map_err(|e| format!("namespaces: {e}"))?;
    let keys = key_file(dir)?;
    let daemons = fleet
        .servers
        .iter()
        .map(|s| serve(trickled, s, &keys))
        .collect::<Result<Vec<_>, _>>()?;
    Ok([
        measure(trickled, &fleet, &daemons, &[0], SIZE_ONE, 1)?,
        measure(trickled, &fleet, &daemons, &[0, 1], SIZE_ONE, 1)?,
        measure(trickled, &fleet, &daemons, &[0], SIZE_EACH_OF_FOUR, 4)?,
        measure(trickled, &fleet, &daemons, &[0, 1], SIZE_EACH_OF_FOUR, 4)?,
    ])
}

/// Run the scenario `runs` times with the `trickled` binary given.
pub fn run(runs: usize, trickled: &Path) -> Result<Report, String> {
    let mut report = Report::new("balance", runs);
    let dir = std::env::temp_dir().join(format!("trickles-bench-{}-balance", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut all = Vec::new();
    for r in 0..runs {
        let m = once(trickled, &dir)?;
        let [one1, two1, one4, two4] = &m;
        eprintln!(
            "balance run {}/{runs}: 1 connection {:.2} Gb/s over one replica ({} timeouts, {:.2} s CPU/GB), {:.2} over two ({:.2} s CPU/GB) \
             ({} timeouts, {} holds, {} filled, {} spurious; shares {:?}); 4 connections {:.2} / {:.2} Gb/s, Jain {:.3}",
            r + 1,
            one1.gbps,
            one1.timeouts,
            one1.server_cpu_s_per_gb,
            two1.gbps,
            two1.server_cpu_s_per_gb,
            two1.timeouts,
            two1.reorder_holds,
            two1.reorder_filled,
            two1.spurious_losses,
            two1.requests,
            one4.gbps,
            two4.gbps,
            jain(&two4.per_connection)
        );
        report.runs.push(json!({
            "run": r + 1,
            "one_connection_one_replica": one1.json(),
            "one_connection_sprayed": two1.json(),
            "four_connections_one_replica": one4.json(),
            "four_connections_sprayed": two4.json(),
            "goodput_ratio_one_connection": two1.gbps / one1.gbps,
            "goodput_ratio_four_connections": two4.gbps / one4.gbps,
        }));
        all.push(m);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let col = |f: &dyn Fn(&[Measured; 4]) -> f64| median(&all.iter().map(f).collect::<Vec<_>>());
    let share_min = col(&|m| m[1].share_min());
    let ratio1 = col(&|m| m[1].gbps / m[0].gbps);
    let ratio4 = col(&|m| m[3].gbps / m[2].gbps);
    let jain4 = col(&|m| jain(&m[3].per_connection));
    let bytes_ok = all.iter().all(|m| m.iter().all(|x| x.intact));
    report.set("balance_share_min", share_min);
    report.set("balance_goodput_ratio", ratio1);
    report.set("balance_goodput_ratio_four_connections", ratio4);
    report.set("jain_four_connections_sprayed", jain4);
    report.set("bytes_ok", bytes_ok);
    report.set("runs", runs as u64);
    report.table = format!(
        "Two `trickled` replicas (one worker each) behind a router namespace running `trickled balance \
         --mode spray`; the baseline is the same router, balancer and daemons with one replica in the \
         rotation. Goodput in Gb/s, medians of {runs} runs; ratios are taken within a run.\n\n\
         | downloads | one replica | sprayed over two | ratio | smallest replica share of requests | Jain (per-connection goodput) |\n\
         |---|---:|---:|---:|---:|---:|\n\
         | 1 × {} MB | {:.2} | {:.2} | **{ratio1:.3}** | **{share_min:.3}** | |\n\
         | 4 × {} MB | {:.2} | {:.2} | {ratio4:.3} | {:.3} | {jain4:.3} |\n\
         \nAll bytes identical: {}.\n",
        SIZE_ONE / 1_000_000,
        col(&|m| m[0].gbps),
        col(&|m| m[1].gbps),
        SIZE_EACH_OF_FOUR / 1_000_000,
        col(&|m| m[2].gbps),
        col(&|m| m[3].gbps),
        col(&|m| m[3].share_min()),
        if bytes_ok { "yes" } else { "NO" },
    );
    if let Some(first) = all.first() {
        report.chart = Some(Chart {
            title: "One connection: one replica vs sprayed over two (run 1)".into(),
            x_label: "time since the SYN (s)".into(),
            y_label: "goodput (Mb/s over 100 ms)".into(),
            series: vec![
                Series {
                    name: "one replica".into(),
                    points: first[0].series.clone(),
                },
                Series {
                    name: "sprayed over two".into(),
                    points: first[1].series.clone(),
                },
            ],
            band: None,
            y_from_zero: true,
        });
    }
    Ok(report)
}
