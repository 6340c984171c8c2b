//! `bulk`: one and four concurrent bulk downloads on one veth pair,
//! Trickles on AF_XDP against the kernel's TCP (Reno and CUBIC), the
//! kernel once with its default offloads and once with TSO, GSO and GRO
//! off (the fair comparison: AF_XDP moves one MTU-sized frame per
//! descriptor, so it has no offloads), and the raw AF_XDP frame rate of
//! the same pair as the ceiling. Each run is a fresh pair; every figure
//! is a median over runs of per-run values, and each ratio is taken
//! within a run (issue 6; paper §6.1).

use std::time::Duration;

use serde_json::json;
use trickles_sim::plot::{Chart, Series};
use trickles_xdp::netns::{End, NetnsPair};
use trickles_xdp::rawrate;
use trickles_xdp::scenario::{Download, KernelDownload, download, kernel_download_with};

use crate::report::{Report, median};

/// Bytes per configuration (split over the connections).
const TOTAL: u64 = 100_000_000;
const CONNECTIONS: [usize; 2] = [1, 4];
const KERNEL_PORT: u16 = 5001;

/// `ethtool -K <if> tso|gso|gro on|off` on one end.
fn set_offloads(end: &End, on: bool) -> Result<(), String> {
    let v = if on { "on" } else { "off" };
    let out = end
        .command("ethtool")
        .args(["-K", &end.ifname, "tso", v, "gso", v, "gro", v])
        .output()
        .map_err(|e| format!("running ethtool: {e} (apt install ethtool)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ethtool -K {} offloads {v}: {}",
            end.ifname,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One kernel configuration.
#[derive(Debug, Clone, Copy)]
struct KernelCase {
    congestion: &'static str,
    offloads: bool,
}

const KERNEL_CASES: [KernelCase; 4] = [
    KernelCase {
        congestion: "reno",
        offloads: true,
    },
    KernelCase {
        congestion: "cubic",
        offloads: true,
    },
    KernelCase {
        congestion: "reno",
        offloads: false,
    },
    KernelCase {
        congestion: "cubic",
        offloads: false,
    },
];

impl KernelCase {
    fn label(&self) -> String {
        format!(
            "kernel {} offloads {}",
            self.congestion,
            if self.offloads { "default" } else { "off" }
        )
    }
}

fn gbps(bps: f64) -> f64 {
    bps / 1e9
}

/// Run the scenario `runs` times.
pub fn run(runs: usize) -> Result<Report, String> {
    let mut report = Report::new("bulk", runs);
    // (label, connections) -> per-run goodput Gb/s and CPU s/GB
    let mut rows: Vec<(String, usize, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut row = |label: &str, conns: usize, g: f64, cpu: f64| match rows
        .iter_mut()
        .find(|r| r.0 == label && r.1 == conns)
    {
        Some(r) => {
            r.2.push(g);
            r.3.push(cpu);
        }
        None => rows.push((label.to_owned(), conns, vec![g], vec![cpu])),
    };
    let (mut vs_reno_off, mut vs_raw, mut vs_cubic_default) = (Vec::new(), Vec::new(), Vec::new());
    for run_no in 1..=runs {
        let pair = NetnsPair::create().map_err(|e| format!("creating the veth pair: {e}"))?;
        let raw = rawrate::measure(&pair, 1514, Duration::from_secs(1), 5_000_000)
            .map_err(|e| format!("raw AF_XDP rate: {e}"))?;
        let mut run = json!({
            "run": run_no,
            "raw_afxdp": {"kpps": raw.pps() / 1e3, "gbps": gbps(raw.bits_per_second()), "frame_len": raw.frame_len},
        });
        let mut trickles1 = f64::NAN;
        for conns in CONNECTIONS {
            let t = download(
                &pair,
                &Download {
                    size: TOTAL / conns as u64,
                    connections: conns,
                    ..Download::default()
                },
            )
            .map_err(|e| format!("Trickles download ({conns} connections): {e}"))?;
            if !t.intact {
                return Err(format!(
                    "run {run_no}: the Trickles download over {conns} connections was not intact"
                ));
            }
            let g = gbps(t.goodput_bps());
            let cpu = t.server_cpu.as_secs_f64() / (t.size as f64 / 1e9);
            if conns == 1 {
                trickles1 = g;
            }
            row("trickles afxdp", conns, g, cpu);
            run[format!("trickles_{conns}")] = json!({
                "gbps": g, "server_cpu_s_per_gb": cpu, "seconds": t.elapsed.as_secs_f64(),
                "bytes": t.size, "timeouts": t.client_engine.timeouts,
                "server_mode": t.server_mode.as_str(),
            });
        }
        let mut reno_off = f64::NAN;
        let mut cubic_default = f64::NAN;
        for case in KERNEL_CASES {
            set_offloads(&pair.a, case.offloads)?;
            set_offloads(&pair.b, case.offloads)?;
            for conns in CONNECTIONS {
                let k = kernel_download_with(
                    &pair,
                    &KernelDownload {
                        size: TOTAL / conns as u64,
                        port: KERNEL_PORT,
                        connections: conns,
                        congestion: Some(case.congestion.to_owned()),
                    },
                )
                .map_err(|e| format!("{} ({conns} connections): {e}", case.label()))?;
                if !k.intact {
                    return Err(format!(
                        "run {run_no}: {} over {conns} connections was not intact",
                        case.label()
                    ));
                }
                let g = gbps(k.goodput_bps());
                let cpu = k.server_cpu.as_secs_f64() / (k.size as f64 / 1e9);
                row(&case.label(), conns, g, cpu);
                if conns == 1 && case.congestion == "reno" && !case.offloads {
                    reno_off = g;
                }
                if conns == 1 && case.congestion == "cubic" && case.offloads {
                    cubic_default = g;
                }
                run[format!(
                    "kernel_{}_{}_{conns}",
                    case.congestion,
                    if case.offloads { "default" } else { "off" }
                )] = json!({"gbps": g, "server_cpu_s_per_gb": cpu, "seconds": k.elapsed.as_secs_f64()});
            }
        }
        vs_reno_off.push(trickles1 / reno_off);
        vs_cubic_default.push(trickles1 / cubic_default);
        vs_raw.push(trickles1 / gbps(raw.bits_per_second()));
        eprintln!(
            "bulk run {run_no}/{runs}: trickles {trickles1:.2} Gb/s, kernel reno offloads off {reno_off:.2} Gb/s, raw AF_XDP {:.2} Gb/s",
            gbps(raw.bits_per_second())
        );
        report.runs.push(run);
    }
    let raw_gbps: Vec<f64> = report
        .runs
        .iter()
        .filter_map(|r| r["raw_afxdp"]["gbps"].as_f64())
        .collect();
    report.set(
        "goodput_ratio_vs_kernel_reno_offloads_off",
        median(&vs_reno_off),
    );
    report.set("goodput_ratio_vs_raw_afxdp", median(&vs_raw));
    report.set(
        "goodput_ratio_vs_kernel_cubic_offloads_default",
        median(&vs_cubic_default),
    );
    report.set("raw_afxdp_gbps", median(&raw_gbps));
    report.set("runs", runs);

    let mut t = String::from(
        "Goodput of a 100 MB download (split evenly over the connections), medians over the runs. \
         The ratio column is the median of per-run ratios against kernel Reno with offloads off, one \
         connection. Server CPU is the CPU time of the server's worker thread (Trickles) or sending \
         threads (kernel, including the TCP work the kernel does in their context) per GB delivered.\n\n\
         | sender | connections | goodput (Gb/s) | vs kernel reno offloads off, 1 conn | server CPU (s/GB) |\n|---|---:|---:|---:|---:|\n",
    );
    let base = rows
        .iter()
        .find(|r| r.0 == "kernel reno offloads off" && r.1 == 1)
        .map(|r| median(&r.2))
        .unwrap_or(f64::NAN);
    for (label, conns, g, cpu) in &rows {
        t.push_str(&format!(
            "| {label} | {conns} | {:.2} | {:.3} | {:.2} |\n",
            median(g),
            median(g) / base,
            median(cpu)
        ));
    }
    t.push_str(&format!(
        "| raw AF_XDP (1514-byte frames, no protocol) | 1 | {:.2} | {:.3} | |\n",
        median(&raw_gbps),
        median(&raw_gbps) / base
    ));
    report.table = t;
    report.chart = Some(Chart {
        title: "bulk: goodput on one veth pair".into(),
        x_label: "concurrent connections".into(),
        y_label: "goodput (Gb/s)".into(),
        series: rows
            .iter()
            .map(|r| r.0.clone())
            .fold(Vec::<String>::new(), |mut v, l| {
                if !v.contains(&l) {
                    v.push(l);
                }
                v
            })
            .into_iter()
            .map(|label| Series {
                points: rows
                    .iter()
                    .filter(|r| r.0 == label)
                    .map(|r| (r.1 as f64, median(&r.2)))
                    .collect(),
                name: label,
            })
            .collect(),
        band: None,
        y_from_zero: true,
    });
    Ok(report)
}
