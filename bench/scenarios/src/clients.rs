//! `clients`: many concurrent slow clients against one `trickled`
//! (paper §6.1, Fig. 9 and 11: the server's memory does not grow with the
//! clients it serves). Per run and per client count N (1k, 10k, 100k) a
//! fresh `trickled serve` (the product daemon, one worker) serves the
//! synthetic stream in one namespace; `pktgen --mode valid` in the other
//! plays N clients (distinct addresses and ports, each with its own
//! connection id and continuations sealed under the server's key file),
//! all together at a fixed aggregate request rate, so only N changes.
//! Reported: the daemon's resident memory (VmRSS, and its peak VmHWM)
//! after the load, and the ratio between 100k and 1k clients. Then, on
//! the same pair, the same N clients as kernel TCP connections to nginx
//! ([`crate::kernel_clients`]): nginx's memory and the kernel's socket
//! memory with all N connected.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use trickles_sim::plot::{Chart, Series};
use trickles_xdp::netns::NetnsPair;

use crate::kernel_clients::{self, KernelMemory};
use crate::process::{Daemon, memory_kib};
use crate::report::{Report, median};

const COUNTS: [u32; 3] = [1_000, 10_000, 100_000];
/// Aggregate requests per second over all clients.
const RATE: u64 = 20_000;
/// Seconds of load per count: every client of the largest count sends
/// several requests (100 000 clients at 20 000 requests/s: one request
/// per client every 5 s).
const SECONDS: u32 = 15;
const PORT: u16 = 80;
/// A key file for the benchmark's daemon only (not a secret).
const KEYS: &str = "epoch = 1\n\
server_key = \"62656e63682d7365727665722d6b6579\"\n\
app_key = \"62656e63682d6170702d6b65792d3031\"\n";

fn once(
    pair: &NetnsPair,
    n: u32,
    trickled: &Path,
    pktgen: &Path,
    keys: &Path,
) -> Result<serde_json::Value, String> {
    let child = pair
        .b
        .command(&trickled.display().to_string())
        .args(["serve", "--interface", &pair.b.ifname, "--queues", "0"])
        .args(["--service", &format!("{PORT}=synthetic"), "--log", "warn"])
        .arg("--key-file")
        .arg(keys)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", trickled.display()))?;
    let mut daemon = Daemon(child);
    let pid = daemon.0.id();
    std::thread::sleep(Duration::from_millis(1500));
    if let Ok(Some(st)) = daemon.0.try_wait() {
        return Err(format!("trickled exited at start: {st}"));
    }
    let before = memory_kib(pid)?;
    let out = pair
        .a
        .command(&pktgen.display().to_string())
        .args(["--interface", &pair.a.ifname, "--mode", "valid"])
        .args(["--dst", &format!("{}:{PORT}", pair.b.addr)])
        .args(["--clients", &n.to_string(), "--rate", &RATE.to_string()])
        .args(["--seconds", &SECONDS.to_string()])
        .arg("--keys")
        .arg(keys)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", pktgen.display()))?;
    if !out.status.success() {
        return Err(format!(
            "pktgen failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let after = memory_kib(pid)?;
    if let Ok(Some(st)) = daemon.0.try_wait() {
        return Err(format!("trickled died under the load: {st}"));
    }
    drop(daemon);
    let summary: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii())
        .map_err(|e| format!("pktgen's summary: {e}"))?;
    Ok(json!({
        "clients": n,
        "rss_kib_idle": before.0,
        "rss_kib": after.0,
        "hwm_kib": after.1,
        "pktgen": summary,
    }))
}

/// Per-run samples of one client count.
#[derive(Debug, Default)]
struct Count {
    n: u32,
    rss: Vec<f64>,
    hwm: Vec<f64>,
    pps: Vec<f64>,
    kernel: Vec<KernelMemory>,
}

/// The binaries the scenario runs.
#[derive(Debug, Clone, Copy)]
pub struct Programs<'a> {
    /// The daemon.
    pub trickled: &'a Path,
    /// The Trickles load (`--mode valid`).
    pub pktgen: &'a Path,
    /// The kernel-TCP load.
    pub tcp_slow_clients: &'a Path,
}

/// Run the scenario `runs` times with the programs given.
pub fn run(runs: usize, programs: Programs<'_>) -> Result<Report, String> {
    let Programs {
        trickled, pktgen, ..
    } = programs;
    let mut report = Report::new("clients", runs);
    let dir = std::env::temp_dir().join(format!("trickles-bench-clients-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let keys = dir.join("keys.toml");
    std::fs::write(&keys, KEYS).map_err(|e| e.to_string())?;
    let mut rss: Vec<Count> = COUNTS
        .iter()
        .map(|&n| Count {
            n,
            ..Count::default()
        })
        .collect();
    let mut ratios = Vec::new();
    let result = (|| -> Result<(), String> {
        for run_no in 1..=runs {
            let pair = NetnsPair::create().map_err(|e| format!("veth pair: {e}"))?;
            kernel_clients::prepare(&pair, &dir)?;
            let mut this_run = Vec::new();
            for row in &mut rss {
                let mut r = once(&pair, row.n, trickled, pktgen, &keys)?;
                let kib = r["rss_kib"].as_f64().unwrap_or(f64::NAN);
                let sent = r["pktgen"]["sent"].as_f64().unwrap_or(0.0);
                let answered = r["pktgen"]["answered"].as_f64().unwrap_or(0.0);
                row.rss.push(kib);
                row.hwm.push(r["hwm_kib"].as_f64().unwrap_or(f64::NAN));
                row.pps
                    .push(r["pktgen"]["sent_pps"].as_f64().unwrap_or(f64::NAN));
                eprintln!(
                    "clients run {run_no}/{runs}, {} clients: daemon RSS {kib:.0} KiB, {sent:.0} requests sent, {answered:.0} answers to the first 255 clients",
                    row.n
                );
                let (k, raw) = kernel_clients::measure(
                    &pair,
                    &dir,
                    row.n,
                    programs.tcp_slow_clients,
                    RATE,
                    SECONDS,
                )?;
                eprintln!(
                    "clients run {run_no}/{runs}, {} kernel TCP clients: nginx RSS {} KiB, server sockets {} KiB ({} sockets){}",
                    row.n,
                    k.nginx_rss_kib,
                    k.socket_kib,
                    k.sockets,
                    if k.pressure { ", tcp_mem pressure" } else { "" }
                );
                row.kernel.push(k);
                r["kernel"] = raw;
                r["run"] = json!(run_no);
                this_run.push(kib);
                report.runs.push(r);
            }
            if let (Some(first), Some(last)) = (this_run.first(), this_run.last()) {
                ratios.push(last / first);
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    report.set("rss_ratio_100k_vs_1k", median(&ratios));
    let kernel_total = |r: &Count| {
        median(
            &r.kernel
                .iter()
                .map(|k| (k.nginx_rss_kib + k.socket_kib) as f64)
                .collect::<Vec<_>>(),
        )
    };
    let kernel = |r: &Count, f: fn(&KernelMemory) -> u64| {
        median(&r.kernel.iter().map(|k| f(k) as f64).collect::<Vec<_>>())
    };
    for r in &rss {
        report.set(&format!("rss_kib_{}", r.n), median(&r.rss));
        report.set(
            &format!("kernel_nginx_rss_kib_{}", r.n),
            kernel(r, |k| k.nginx_rss_kib),
        );
        report.set(
            &format!("kernel_socket_kib_{}", r.n),
            kernel(r, |k| k.socket_kib),
        );
    }
    if let Some(last) = rss.last() {
        report.set(
            &format!("memory_ratio_kernel_vs_trickles_{}k", last.n / 1000),
            kernel_total(last) / median(&last.rss),
        );
    }
    report.set("requests_per_s", RATE);
    report.set("runs", runs);
    let mut t = format!(
        "`trickled serve` (one worker) under N concurrent clients played by `pktgen --mode valid`, \
         {RATE} requests/s in all for {SECONDS} s, each request answered with two response frames. \
         RSS is the daemon's VmRSS after the load. Kernel TCP: the same N clients as TCP connections \
         to nginx (one worker per {} connections, `reuseport`, `open_file_cache`; the machine allows \
         20 000 descriptors per process), each with a 10 MB download in progress, \
         read {} bytes at a time round robin at the same {RATE} reads/s; measured with all N \
         connected: nginx's VmRSS (master and worker) and its sockets' kernel memory (charged buffer \
         memory from `ss -m` plus one `tcp_sock` slab object each; a lower bound). Medians over runs; \
         ratios are medians of per-run ratios.\n\n\
         | clients | trickled RSS (KiB) | trickled peak RSS (KiB) | nginx RSS (KiB) | nginx sockets, kernel (KiB) | nginx + sockets / trickled | nginx connections established | tcp_mem pressure (runs) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
        kernel_clients::PER_PROCESS,
        kernel_clients::READ_BYTES
    );
    for r in &rss {
        t.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} | {} of {} |\n",
            r.n,
            median(&r.rss),
            median(&r.hwm),
            kernel(r, |k| k.nginx_rss_kib),
            kernel(r, |k| k.socket_kib),
            kernel_total(r) / median(&r.rss),
            kernel(r, |k| k.sockets),
            r.kernel.iter().filter(|k| k.pressure).count(),
            r.kernel.len()
        ));
    }
    report.table = t;
    let points = |f: &dyn Fn(&Count) -> f64| {
        rss.iter()
            .map(|r| (f64::from(r.n).log10(), f(r) / 1024.0))
            .collect()
    };
    report.chart = Some(Chart {
        title: "clients: server memory against concurrent clients".into(),
        x_label: "log10(concurrent clients)".into(),
        y_label: "server memory (MiB)".into(),
        series: vec![
            Series {
                name: "trickled (RSS)".into(),
                points: points(&|r| median(&r.rss)),
            },
            Series {
                name: "nginx on kernel TCP (RSS + socket memory)".into(),
                points: points(&kernel_total),
            },
        ],
        band: None,
        y_from_zero: true,
    });
    Ok(report)
}
