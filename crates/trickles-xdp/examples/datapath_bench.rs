//! The datapath benchmark: on a fresh veth pair between two namespaces,
//! per run, the raw AF_XDP frame rate, a Trickles download over AF_XDP and
//! a kernel TCP download of the same bytes (the baseline); medians over
//! the runs, written as a Markdown table with the machine and the command.
//!
//! Needs root. `cargo xtask bench-datapath` runs it under the namespace
//! reaper and writes `bench/results/datapath.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use trickles_xdp::netns::NetnsPair;
use trickles_xdp::rawrate;
use trickles_xdp::scenario::{Download, download, kernel_download, machine};

/// Raw AF_XDP rate, Trickles over AF_XDP and kernel TCP on one veth pair.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Runs (each on a fresh namespace pair); medians are reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Bytes per download.
    #[arg(long, default_value_t = 100_000_000)]
    size: u64,
    /// Seconds of raw frame blasting per run.
    #[arg(long, default_value_t = 1.0)]
    raw_seconds: f64,
    /// Write the Markdown report here (else only JSON lines on stdout).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    raw_kpps: f64,
    raw_gbps: f64,
    trickles_gbps: f64,
    trickles_kpps: f64,
    kernel_gbps: f64,
    trickles_timeouts: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let args = Args::parse();
    if !trickles_xdp::running_as_root() {
        eprintln!("datapath_bench: needs root (namespaces, XDP, AF_XDP)");
        std::process::exit(2);
    }
    let mut runs = Vec::new();
    for i in 0..args.runs {
        let pair = NetnsPair::create().expect("namespace pair");
        let raw = rawrate::measure(
            &pair,
            1514,
            Duration::from_secs_f64(args.raw_seconds),
            50_000_000,
        )
        .expect("raw rate");
        let t = download(
            &pair,
            &Download {
                size: args.size,
                ..Download::default()
            },
        )
        .expect("Trickles download");
        let k = kernel_download(&pair, args.size, 5001).expect("kernel download");
        assert!(t.intact, "run {i}: the Trickles download was not intact");
        assert!(k.intact, "run {i}: the kernel download was not intact");
        let r = Run {
            raw_kpps: raw.pps() / 1e3,
            raw_gbps: raw.bits_per_second() / 1e9,
            trickles_gbps: t.goodput_bps() / 1e9,
            trickles_kpps: t.client.rx_frames as f64 / t.elapsed.as_secs_f64() / 1e3,
            kernel_gbps: k.goodput_bps() / 1e9,
            trickles_timeouts: t.client_engine.timeouts,
        };
        println!(
            "{{\"run\":{i},\"raw_kpps\":{:.1},\"raw_gbps\":{:.3},\"trickles_gbps\":{:.3},\"trickles_rx_kpps\":{:.1},\"kernel_tcp_gbps\":{:.3},\"trickles_timeouts\":{}}}",
            r.raw_kpps,
            r.raw_gbps,
            r.trickles_gbps,
            r.trickles_kpps,
            r.kernel_gbps,
            r.trickles_timeouts
        );
        runs.push(r);
    }
    let m = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    let (raw_kpps, raw_gbps) = (m(|r| r.raw_kpps), m(|r| r.raw_gbps));
    let (tg, tk, kg) = (
        m(|r| r.trickles_gbps),
        m(|r| r.trickles_kpps),
        m(|r| r.kernel_gbps),
    );
    let ratio_kernel = median(
        runs.iter()
            .map(|r| r.trickles_gbps / r.kernel_gbps)
            .collect(),
    );
    let ratio_raw = median(runs.iter().map(|r| r.trickles_kpps / r.raw_kpps).collect());
    println!(
        "{{\"runs\":{},\"median_raw_kpps\":{raw_kpps:.1},\"median_trickles_gbps\":{tg:.3},\"median_kernel_tcp_gbps\":{kg:.3},\"median_trickles_over_kernel\":{ratio_kernel:.3},\"median_trickles_frames_over_raw\":{ratio_raw:.3}}}",
        runs.len()
    );
    if let Some(path) = args.out {
        let mut f = std::fs::File::create(&path).expect("create report");
        let per_run: Vec<String> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "| {i} | {:.1} | {:.2} | {:.2} | {:.1} | {:.2} | {} |",
                    r.raw_kpps,
                    r.raw_gbps,
                    r.trickles_gbps,
                    r.trickles_kpps,
                    r.kernel_gbps,
                    r.trickles_timeouts
                )
            })
            .collect();
        write!(
            f,
            "# Datapath: Trickles over AF_XDP against the raw frame rate and kernel TCP\n\n\
             Command: `cargo xtask bench-datapath {runs}` (runs `cargo run --release -p trickles-xdp \
             --example datapath_bench -- --runs {runs} --size {size} --out bench/results/datapath.md` as root).\n\n\
             Machine: {machine}. Each run makes a fresh pair of namespaces joined by a veth pair \
             (MTU 1500, one queue, copy-mode AF_XDP: veth has no zero-copy), then measures, one after \
             the other: the raw AF_XDP rate (one socket sends the same 1514-byte marked frame as fast as \
             its TX ring takes it for {raw}s, the other receives and counts; no protocol); a {size}-byte \
             Trickles download (server in one namespace, client in the other, each on AF_XDP behind its \
             own XDP program, every byte checked); and a kernel TCP download of the same bytes over the \
             same pair (no XDP program attached). The client and the server share the machine's cores.\n\n\
             ## Medians over {runs} runs\n\n\
             | raw AF_XDP kpps | raw AF_XDP Gb/s | Trickles goodput Gb/s | Trickles frames kpps | kernel TCP goodput Gb/s | Trickles / kernel TCP | Trickles frames / raw frames |\n\
             |---|---|---|---|---|---|---|\n\
             | {raw_kpps:.1} | {raw_gbps:.2} | {tg:.2} | {tk:.1} | {kg:.2} | {ratio_kernel:.3} | {ratio_raw:.3} |\n\n\
             The ratios are medians of the per-run ratios. Kernel TCP moves 64 KiB segments through \
             veth with GSO and checksum offload; Trickles moves one 1514-byte frame per 1386 stream \
             bytes, each sealed with an AES-CMAC and a nonce, and copies every frame once in each \
             direction (copy mode).\n\n\
             ## Runs\n\n\
             | run | raw kpps | raw Gb/s | Trickles Gb/s | Trickles kpps | kernel TCP Gb/s | Trickles client timeouts |\n\
             |---|---|---|---|---|---|---|\n\
             {}\n",
            per_run.join("\n"),
            runs = runs.len(),
            size = args.size,
            raw = args.raw_seconds,
            machine = machine(),
        )
        .expect("write report");
        eprintln!("wrote {}", path.display());
    }
}
