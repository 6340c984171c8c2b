//! `friendliness`: one Trickles flow against N kernel TCP Reno flows
//! through one bottleneck (paper §6.1, Fig. 13). Client, router and
//! server namespaces in a line ([`trickles_xdp::netns::Fleet`] with one server); a `tc tbf` bottleneck
//! on the router's interface towards the client; the Trickles server on
//! AF_XDP and N kernel Reno senders in the server namespace, the Trickles
//! client on AF_XDP and N kernel readers in the client namespace, all
//! started together and measured over the same fixed window. Reported:
//! each flow's goodput, the Trickles flow against the fair share, and
//! Jain's fairness index over all N + 1 flows.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use trickles_sim::plot::{Chart, Series};
use trickles_xdp::netns::Fleet;
use trickles_xdp::runtime::{QueuePlan, serve_queues};
use trickles_xdp::scenario::{Fetch, SERVER_PORT, demo_server, fetch, set_congestion};

use crate::report::{Report, median};

/// Numbers of kernel Reno flows.
const RENO_FLOWS: [usize; 3] = [1, 4, 16];
/// The bottleneck.
const MBIT: u32 = 100;
/// Its queue, as tbf's latency bound.
const QUEUE_MS: u32 = 20;
/// The measured window.
const WINDOW: Duration = Duration::from_secs(8);
const KERNEL_PORT: u16 = 5002;

/// Jain's fairness index of `x`: (Σx)² / (n·Σx²).
pub fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let sq: f64 = x.iter().map(|v| v * v).sum();
    if sq == 0.0 {
        return f64::NAN;
    }
    sum * sum / (x.len() as f64 * sq)
}

/// One configuration: Mb/s of the Trickles flow and of each Reno flow.
fn once(n: usize) -> Result<(f64, Vec<f64>, String), String> {
    let topo = Fleet::create(1).map_err(|e| format!("namespaces: {e}"))?;
    topo.set_bottleneck(MBIT, QUEUE_MS)
        .map_err(|e| format!("bottleneck: {e}"))?;
    let server_end = &topo.servers[0];
    let stop = Arc::new(AtomicBool::new(false));
    let (s_end, stop_s) = (server_end.clone(), stop.clone());
    let server = server_end
        .run(move || {
            let plan = QueuePlan::new(&s_end.ifname, vec![0], vec![SERVER_PORT]);
            serve_queues(&plan, |_| demo_server(), &stop_s)
        })
        .map_err(|e| e.to_string())?;
    // Kernel Reno senders: the synthetic stream until the reader leaves.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let senders = server_end
        .run(move || -> Result<(), String> {
            let l = TcpListener::bind(("0.0.0.0", KERNEL_PORT)).map_err(|e| e.to_string());
            let l = match l {
                Ok(l) => {
                    let _ = ready_tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let mut threads = Vec::new();
            for _ in 0..n {
                let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
                set_congestion(&s, "reno").map_err(|e| e.to_string())?;
                threads.push(std::thread::spawn(move || {
                    let buf = vec![0x5au8; 1 << 16];
                    while s.write_all(&buf).is_ok() {}
                }));
            }
            for t in threads {
                let _ = t.join();
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the kernel senders did not start".to_string())??;
    std::thread::sleep(Duration::from_millis(300));
    let addr = SocketAddr::from((server_end.addr, KERNEL_PORT));
    let readers = topo
        .client
        .run(move || -> Result<Vec<f64>, String> {
            let threads: Vec<_> = (0..n)
                .map(|_| {
                    std::thread::spawn(move || -> Result<f64, String> {
                        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                            .map_err(|e| format!("connect: {e}"))?;
                        s.set_read_timeout(Some(Duration::from_millis(200)))
                            .map_err(|e| e.to_string())?;
                        let start = Instant::now();
                        let mut buf = vec![0u8; 1 << 16];
                        let mut got = 0u64;
                        while start.elapsed() < WINDOW {
                            match s.read(&mut buf) {
                                Ok(0) => break,
                                Ok(k) => got += k as u64,
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(e) => return Err(format!("read: {e}")),
                            }
                        }
                        Ok(got as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e6)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().map_err(|_| "a reader panicked".to_string())?)
                .collect()
        })
        .map_err(|e| e.to_string())?;
    let trickles = fetch(
        &topo.client,
        server_end,
        &Fetch {
            deadline: WINDOW,
            ..Fetch::stream(400_000_000, 5)
        },
    )
    .map_err(|e| format!("Trickles fetch through the router: {e}"))?;
    let reno = readers.join().map_err(|e| e.to_string())??;
    stop.store(true, Ordering::Relaxed);
    senders.join().map_err(|e| e.to_string())??;
    server
        .join()
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("server: {e}"))?;
    if trickles.data.is_empty() {
        eprintln!(
            "friendliness: the Trickles flow got nothing: client worker {:?}, engine {:?}",
            trickles.worker, trickles.engine
        );
    }
    let trickles_mbps = trickles.data.len() as f64 * 8.0 / trickles.elapsed.as_secs_f64() / 1e6;
    Ok((trickles_mbps, reno, topo.bottleneck_stats()))
}

/// Per-run samples of one number of Reno flows.
#[derive(Debug, Default)]
struct Config {
    n: usize,
    jain: Vec<f64>,
    share: Vec<f64>,
    trickles: Vec<f64>,
    reno_mean: Vec<f64>,
}

/// Run the scenario `runs` times.
pub fn run(runs: usize) -> Result<Report, String> {
    let mut report = Report::new("friendliness", runs);
    // n -> per-run (jain, trickles/fair share)
    let mut by_n: Vec<Config> = RENO_FLOWS
        .iter()
        .map(|&n| Config {
            n,
            ..Config::default()
        })
        .collect();
    for run_no in 1..=runs {
        for row in &mut by_n {
            let n = row.n;
            let (t, reno, qdisc) = once(n)?;
            let mut all = reno.clone();
            all.push(t);
            let j = jain(&all);
            let total: f64 = all.iter().sum();
            let fair = total / all.len() as f64;
            let reno_mean = reno.iter().sum::<f64>() / reno.len().max(1) as f64;
            row.jain.push(j);
            row.share.push(t / fair);
            row.trickles.push(t);
            row.reno_mean.push(reno_mean);
            eprintln!(
                "friendliness run {run_no}/{runs}, {n} Reno: trickles {t:.1} Mb/s, Reno mean {reno_mean:.1} Mb/s, total {total:.1}, jain {j:.3}"
            );
            report.runs.push(json!({
                "run": run_no, "reno_flows": n, "trickles_mbps": t, "reno_mbps": reno,
                "total_mbps": total, "fair_share_mbps": fair, "jain_index": j,
                "bottleneck": qdisc,
            }));
        }
    }
    let jains: Vec<f64> = by_n.iter().map(|r| median(&r.jain)).collect();
    // The one figure: the worst configuration's median.
    report.set(
        "jain_index",
        jains.iter().copied().fold(f64::INFINITY, f64::min),
    );
    for (r, j) in by_n.iter().zip(&jains) {
        report.set(&format!("jain_index_{}_reno", r.n), *j);
        report.set(
            &format!("trickles_over_fair_share_{}_reno", r.n),
            median(&r.share),
        );
    }
    report.set("bottleneck_mbit", MBIT);
    report.set("runs", runs);
    let mut t = format!(
        "One Trickles flow and N kernel Reno flows through a {MBIT} Mb/s `tc tbf` bottleneck \
         (queue bound {QUEUE_MS} ms) on the router's interface towards the client, all measured over \
         the same {} s window. Medians over runs. `jain_index` in the summary is the lowest of the \
         configurations' medians.\n\n\
         | Reno flows | Trickles (Mb/s) | Reno mean (Mb/s) | Trickles / fair share | Jain index |\n|---:|---:|---:|---:|---:|\n",
        WINDOW.as_secs()
    );
    for (r, j) in by_n.iter().zip(&jains) {
        t.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.2} | {:.3} |\n",
            r.n,
            median(&r.trickles),
            median(&r.reno_mean),
            median(&r.share),
            j
        ));
    }
    report.table = t;
    report.chart = Some(Chart {
        title: "friendliness: one Trickles flow vs N Reno flows".into(),
        x_label: "kernel Reno flows".into(),
        y_label: "Mb/s".into(),
        series: vec![
            Series {
                name: "Trickles".into(),
                points: by_n
                    .iter()
                    .map(|r| (r.n as f64, median(&r.trickles)))
                    .collect(),
            },
            Series {
                name: "Reno (mean)".into(),
                points: by_n
                    .iter()
                    .map(|r| (r.n as f64, median(&r.reno_mean)))
                    .collect(),
            },
        ],
        band: None,
        y_from_zero: true,
    });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_is_one_when_equal_and_one_over_n_when_one_takes_all() {
        assert!((jain(&[5.0, 5.0, 5.0]) - 1.0).abs() < 1e-12);
        assert!((jain(&[9.0, 0.0, 0.0]) - 1.0 / 3.0).abs() < 1e-12);
    }
}
