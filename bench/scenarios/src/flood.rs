//! `flood`: a legitimate 100 MB download while pktgen sends forged,
//! malformed and replayed requests at full rate into the server's other
//! worker (issue 6; paper §2.2 and §6.1). Per run, on a fresh two-queue
//! veth pair: the download alone three times (the baseline: the median
//! time of the three), then the same download under the flood. A 100 MB
//! download's time is bimodal (about half of them take one retransmit
//! timeout after slow start overflows the receive ring, docs/
//! performance.md), so the JSON keeps each download's timeouts. Reported: the share of the baseline's goodput kept,
//! how many flood frames were answered (must be 0), and the flooded
//! worker's drop rate by reason.
//!
//! Why two queues: a replay is caught by the replay table of the worker
//! that saw the original (tables are per worker; a NIC's RSS keeps a flow
//! on one queue), so the warm-up connection whose requests are replayed
//! and the flood use queue 0, and the measured download uses queue 1.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use trickles_core::server::DropReason;
use trickles_core::synthetic::stream_mismatches;
use trickles_sim::plot::{Chart, Series};
use trickles_xdp::netns::NetnsPair;
use trickles_xdp::runtime::{QueuePlan, serve_queues};
use trickles_xdp::scenario::{Fetch, FetchReport, SERVER_PORT, demo_server, fetch};

use crate::report::{Report, median};

const LEGIT: u64 = 100_000_000;
const FLOOD_SECONDS: &str = "3";

fn get(
    pair: &NetnsPair,
    size: u64,
    seed: u64,
    pcap: Option<std::path::PathBuf>,
    queue: u32,
) -> Result<FetchReport, String> {
    let f = fetch(
        &pair.a,
        &pair.b,
        &Fetch {
            pcap,
            queue,
            ..Fetch::stream(size, seed)
        },
    )
    .map_err(|e| format!("fetch: {e}"))?;
    if f.complete && f.data.len() as u64 == size && stream_mismatches(seed, 0, &f.data) == 0 {
        Ok(f)
    } else {
        Err(format!(
            "a legitimate {size}-byte download was not intact ({} bytes)",
            f.data.len()
        ))
    }
}

/// Run the scenario `runs` times with the pktgen binary at `pktgen`.
pub fn run(runs: usize, pktgen: &Path) -> Result<Report, String> {
    let mut report = Report::new("flood", runs);
    let (mut kept, mut answered_total) = (Vec::new(), 0u64);
    let mut drop_rates = Vec::new();
    let mut flood_kpps = Vec::new();
    for run_no in 1..=runs {
        let pair = NetnsPair::create_with_queues(2).map_err(|e| format!("veth pair: {e}"))?;
        let dir = std::env::temp_dir().join(format!(
            "trickles-bench-flood-{}-{run_no}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let (b, stop_s) = (pair.b.clone(), stop.clone());
        let server = pair
            .b
            .run(move || {
                let plan = QueuePlan::new(&b.ifname, vec![0, 1], vec![SERVER_PORT]);
                serve_queues(&plan, |_| demo_server(), &stop_s)
            })
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(300));
        let result = (|| -> Result<serde_json::Value, String> {
            let capture = dir.join("client.pcap");
            let warm = get(&pair, 2_000_000, 3, Some(capture.clone()), 0)?;
            let mut alone = Vec::new();
            let mut alone_timeouts = Vec::new();
            for _ in 0..3 {
                let a = get(&pair, LEGIT, 9, None, 1)?;
                alone.push(a.elapsed.as_secs_f64());
                alone_timeouts.push(a.engine.timeouts);
            }
            let (a_end, b_end) = (pair.a.clone(), pair.b.clone());
            let legit = std::thread::spawn(move || {
                fetch(
                    &a_end,
                    &b_end,
                    &Fetch {
                        queue: 1,
                        ..Fetch::stream(LEGIT, 10)
                    },
                )
            });
            std::thread::sleep(Duration::from_millis(50));
            let flood = pair
                .a
                .command(&pktgen.display().to_string())
                .args(["--interface", &pair.a.ifname, "--queue", "0", "--no-rx"])
                .args(["--mode", "mix", "--seconds", FLOOD_SECONDS])
                .args(["--dst", &format!("{}:{SERVER_PORT}", pair.b.addr)])
                .arg("--replay")
                .arg(&capture)
                .stderr(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("starting {}: {e}", pktgen.display()))?;
            let legit = legit
                .join()
                .map_err(|_| "the legitimate download panicked".to_string())?
                .map_err(|e| format!("legitimate download under the flood: {e}"))?;
            let flood = flood.wait_with_output().map_err(|e| e.to_string())?;
            if !flood.status.success() {
                return Err(format!(
                    "pktgen failed: {}",
                    String::from_utf8_lossy(&flood.stderr).trim()
                ));
            }
            if !(legit.complete
                && legit.data.len() as u64 == LEGIT
                && stream_mismatches(10, 0, &legit.data) == 0)
            {
                return Err("the legitimate download under the flood was not intact".into());
            }
            let summary: serde_json::Value = serde_json::from_slice(flood.stdout.trim_ascii())
                .map_err(|e| {
                    format!(
                        "pktgen's summary: {e}: {}",
                        String::from_utf8_lossy(&flood.stdout)
                    )
                })?;
            Ok(json!({
                "warm_requests": warm.engine.requests,
                "warm_syns": warm.engine.syns,
                "alone_seconds": median(&alone),
                "alone_seconds_each": alone,
                "alone_timeouts_each": alone_timeouts,
                "flooded_timeouts": legit.engine.timeouts,
                "flooded_seconds": legit.elapsed.as_secs_f64(),
                "pktgen": summary,
            }))
        })();
        stop.store(true, Ordering::Relaxed);
        let reports = server
            .join()
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("server: {e}"))?;
        let _ = std::fs::remove_dir_all(&dir);
        let mut run = result?;
        let Some((r0, s0)) = reports.iter().find(|(r, _)| r.queue == 0) else {
            return Err("no report from the server's queue 0".into());
        };
        let st = s0.stats();
        let warm_requests = run["warm_requests"].as_u64().unwrap_or(0);
        let warm_syns = run["warm_syns"].as_u64().unwrap_or(0);
        let answered =
            st.requests.saturating_sub(warm_requests) + st.syns.saturating_sub(warm_syns);
        answered_total += answered;
        let flood_seconds = run["pktgen"]["seconds"].as_f64().unwrap_or(f64::NAN);
        let sent = run["pktgen"]["sent"].as_u64().unwrap_or(0);
        let by_reason: serde_json::Map<String, serde_json::Value> = [
            DropReason::BadMac,
            DropReason::Malformed,
            DropReason::Replayed,
        ]
        .iter()
        .map(|r| (r.as_str().to_owned(), json!(st.drops(*r))))
        .collect();
        if st.total_drops() + st.requests + st.syns + st.closes < st.frames_in {
            return Err(format!(
                "run {run_no}: a frame was neither answered nor dropped and counted: {st:?}"
            ));
        }
        let k = run["alone_seconds"].as_f64().unwrap_or(f64::NAN)
            / run["flooded_seconds"].as_f64().unwrap_or(f64::NAN);
        kept.push(k);
        drop_rates.push(st.total_drops() as f64 / flood_seconds);
        flood_kpps.push(sent as f64 / flood_seconds / 1e3);
        run["run"] = json!(run_no);
        run["flood_answered"] = json!(answered);
        run["queue0_frames_in"] = json!(st.frames_in);
        run["queue0_rx_frames"] = json!(r0.stats.rx_frames);
        run["queue0_drops"] = json!(by_reason);
        run["legit_goodput_kept"] = json!(k);
        eprintln!(
            "flood run {run_no}/{runs}: {:.0} kpps of flood, legitimate goodput kept {k:.3}, answered {answered}",
            sent as f64 / flood_seconds / 1e3
        );
        report.runs.push(run);
    }
    report.set("legit_goodput_kept", median(&kept));
    report.set("forged_answered", answered_total);
    report.set("flood_kpps", median(&flood_kpps));
    report.set("drops_per_s_flooded_core", median(&drop_rates));
    report.set("runs", runs);
    let mut t = String::from(
        "Per run: a legitimate 100 MB download alone (median of three), then once more while pktgen floods the other worker \
         with forged, malformed and replayed requests for 3 s (`--mode mix`). Medians over runs; \
         `answered` is summed over all runs.\n\n\
         | run | flood (kpps) | alone (s) | flooded (s) | goodput kept | answered | bad MAC | malformed | replayed |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &report.runs {
        t.push_str(&format!(
            "| {} | {:.0} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {} |\n",
            r["run"],
            r["pktgen"]["sent_pps"].as_f64().unwrap_or(0.0) / 1e3,
            r["alone_seconds"].as_f64().unwrap_or(f64::NAN),
            r["flooded_seconds"].as_f64().unwrap_or(f64::NAN),
            r["legit_goodput_kept"].as_f64().unwrap_or(f64::NAN),
            r["flood_answered"],
            r["queue0_drops"][DropReason::BadMac.as_str()],
            r["queue0_drops"][DropReason::Malformed.as_str()],
            r["queue0_drops"][DropReason::Replayed.as_str()],
        ));
    }
    report.table = t;
    report.chart = Some(Chart {
        title: "flood: legitimate goodput kept, per run".into(),
        x_label: "run".into(),
        y_label: "goodput under flood / alone".into(),
        series: vec![Series {
            name: "goodput kept".into(),
            points: kept
                .iter()
                .enumerate()
                .map(|(i, k)| ((i + 1) as f64, *k))
                .collect(),
        }],
        band: None,
        y_from_zero: true,
    });
    Ok(report)
}
