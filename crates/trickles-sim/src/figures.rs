//! `trickles-sim figures`: run the sweeps behind `docs/evaluation.md` and
//! write their tables (Markdown) and plots (SVG) into one directory.
//!
//! Every number comes from the same scenario code the CLI subcommands run,
//! so any row can be reproduced alone with the command printed beside it.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::plot::{Chart, Series};
use crate::reno::RenoConfig;
use crate::scenario::{TransferScenario, compare};

/// What to run.
#[derive(Debug, Clone)]
pub struct FigureConfig {
    /// Seeds per point (1..=seeds).
    pub seeds: u64,
    /// Transfer size in bytes.
    pub size: u64,
    /// Loss fractions of the transfer sweep.
    pub losses: Vec<f64>,
    /// Reno flow counts of the friendliness sweep.
    pub reno_flows: Vec<usize>,
    /// Simulated seconds of each friendliness run.
    pub friendliness_seconds: f64,
    /// Client counts of the clients sweep.
    pub clients: Vec<usize>,
    /// Seeds per loss rate of the robustness sweep.
    pub robust_seeds: u64,
}

impl Default for FigureConfig {
    fn default() -> FigureConfig {
        FigureConfig {
            seeds: 5,
            size: 10_000_000,
            losses: vec![0.0, 0.005, 0.01, 0.02, 0.05],
            reno_flows: vec![1, 2, 4, 8, 16],
            friendliness_seconds: 30.0,
            clients: vec![1, 2, 4, 8, 16],
            robust_seeds: 100,
        }
    }
}

/// Median of `v` (mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Run every sweep and write `*.svg` and `results.md` into `out`.
pub fn run(cfg: &FigureConfig, out: &Path) -> io::Result<String> {
    std::fs::create_dir_all(out)?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "<!-- Written by `trickles-sim figures --out {}`; do not edit. -->\n",
        out.display()
    );
    transfer_sweep(cfg, out, &mut md)?;
    friendliness_sweep(cfg, out, &mut md)?;
    clients_sweep(cfg, out, &mut md)?;
    robustness_sweep(cfg, &mut md)?;
    attack_run(&mut md)?;
    failover_runs(&mut md);
    balance_runs(cfg, &mut md);
    std::fs::write(out.join("results.md"), &md)?;
    Ok(md)
}

fn transfer_sweep(cfg: &FigureConfig, out: &Path, md: &mut String) -> io::Result<()> {
    let _ = writeln!(
        md,
        "## Transfer: Trickles / Reno goodput ratio\n\n{} MB, 100 Mb/s, 20 ms RTT, queue of one BDP, seeds 1–{}.\n\
         One run: `trickles-sim transfer --size {} --rate 100 --rtt 20 --loss L --impair I --seed S --json`.\n",
        cfg.size / 1_000_000,
        cfg.seeds,
        cfg.size
    );
    let _ = writeln!(
        md,
        "| loss on | loss | ratio per seed | median ratio | Trickles Mb/s (median) | Reno Mb/s (median) | all intact |\n|---|---|---|---|---|---|---|"
    );
    let mut series = Vec::new();
    for (name, both) in [("data direction", false), ("both directions", true)] {
        let mut points = Vec::new();
        for &loss in &cfg.losses {
            let (mut ratios, mut t, mut r, mut ok) = (Vec::new(), Vec::new(), Vec::new(), true);
            for seed in 1..=cfg.seeds {
                let mut sc =
                    TransferScenario::new(cfg.size, 100_000_000, Duration::from_millis(20));
                sc.loss = loss;
                sc.impair_reverse = both;
                let c = compare(&sc, seed, RenoConfig::default(), |_| Ok(None))?;
                ok &= c.bytes_ok() && !c.stalled();
                if let Some(x) = c.ratio() {
                    ratios.push(x);
                }
                t.extend(c.trickles.as_ref().and_then(|x| x.goodput_mbps));
                r.extend(c.reno.goodput_mbps);
            }
            let per_seed: Vec<String> = ratios.iter().map(|x| format!("{x:.3}")).collect();
            let m = median(&ratios);
            let _ = writeln!(
                md,
                "| {name} | {}% | {} | **{m:.3}** | {:.1} | {:.1} | {} |",
                loss * 100.0,
                per_seed.join(", "),
                median(&t),
                median(&r),
                if ok { "yes" } else { "**no**" }
            );
            points.push((loss * 100.0, m));
        }
        series.push(Series {
            name: name.into(),
            points,
        });
    }
    let chart = Chart {
        title: "Trickles / Reno goodput (median of seeds)".into(),
        x_label: "random loss (%)".into(),
        y_label: "goodput ratio".into(),
        series,
        band: Some((0.9, 1.1)),
        y_from_zero: true,
    };
    std::fs::write(out.join("transfer_ratio.svg"), chart.to_svg())?;
    let _ = writeln!(
        md,
        "\n![ratio against loss](transfer_ratio.svg)\n\nShaded: the 0.9–1.1 target.\n"
    );
    Ok(())
}

fn friendliness_sweep(cfg: &FigureConfig, out: &Path, md: &mut String) -> io::Result<()> {
    let _ = writeln!(
        md,
        "## Friendliness: one Trickles flow against N Reno flows (paper Fig. 13)\n\n100 Mb/s, 20 ms RTT, {} simulated seconds, seed 1.\n\
         One run: `trickles-sim friendliness --reno-flows N --seconds {} --seed 1 --json`.\n",
        cfg.friendliness_seconds, cfg.friendliness_seconds
    );
    let _ = writeln!(
        md,
        "| Reno flows | Trickles Mb/s | fair share Mb/s | Trickles / fair share | Reno Mb/s (min–max) | Jain index |\n|---|---|---|---|---|---|"
    );
    let (mut jain, mut share) = (Vec::new(), Vec::new());
    for &n in &cfg.reno_flows {
        let r = crate::friendliness::run(
            n,
            100_000_000,
            Duration::from_millis(20),
            Duration::from_secs_f64(cfg.friendliness_seconds),
            1,
        );
        let lo = r.reno_mbps.iter().copied().fold(f64::MAX, f64::min);
        let hi = r.reno_mbps.iter().copied().fold(f64::MIN, f64::max);
        let _ = writeln!(
            md,
            "| {n} | {:.1} | {:.1} | {:.2} | {lo:.1}–{hi:.1} | **{:.3}** |",
            r.trickles_mbps, r.fair_share_mbps, r.trickles_share, r.jain_index
        );
        jain.push((n as f64, r.jain_index));
        share.push((n as f64, r.trickles_share));
    }
    let chart = Chart {
        title: "One Trickles flow among N Reno flows".into(),
        x_label: "Reno flows".into(),
        y_label: "index / share".into(),
        series: vec![
            Series {
                name: "Jain index".into(),
                points: jain,
            },
            Series {
                name: "Trickles/fair share".into(),
                points: share,
            },
        ],
        band: Some((0.9, 1.1)),
        y_from_zero: true,
    };
    std::fs::write(out.join("friendliness.svg"), chart.to_svg())?;
    let _ = writeln!(md, "\n![friendliness](friendliness.svg)\n");
    Ok(())
}

fn clients_sweep(cfg: &FigureConfig, out: &Path, md: &mut String) -> io::Result<()> {
    let _ = writeln!(
        md,
        "## Many clients, one server (paper Fig. 9)\n\nN clients fetch 500 kB objects one after another (a new connection each) through 100 Mb/s, 20 ms RTT, 10 simulated seconds; medians over seeds 1–{}.\n\
         One run: `trickles-sim clients --clients N --seed S --json`. Server state: the Trickles engine's `memory_bytes()` (fixed), against the sum over open Reno connections of sender state and unacknowledged bytes at its peak (a lower bound of a kernel TCP's).\n",
        cfg.seeds
    );
    let _ = writeln!(
        md,
        "| clients | Trickles Mb/s | Reno Mb/s | ratio | objects (Trickles / Reno) | all intact | Trickles server state (B) | Reno server state at peak (B) |\n|---|---|---|---|---|---|---|---|"
    );
    let (mut t_pts, mut r_pts, mut ts_pts, mut rs_pts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &n in &cfg.clients {
        let c = crate::clients::ClientsConfig::new(n);
        let runs: Vec<_> = (1..=cfg.seeds)
            .map(|seed| crate::clients::run(&c, seed))
            .collect();
        let med = |f: &dyn Fn(&crate::clients::ClientsResult) -> f64| {
            median(&runs.iter().map(f).collect::<Vec<_>>())
        };
        let t = med(&|r| r.aggregate_mbps);
        let rn = med(&|r| r.reno_aggregate_mbps);
        let ts = med(&|r| r.server_state_bytes_end as f64);
        let rs = med(&|r| r.reno_server_state_bytes as f64);
        let ok = runs.iter().all(|r| r.bytes_ok && r.reno_bytes_ok);
        let flat = runs
            .iter()
            .all(|r| r.server_state_bytes_start == r.server_state_bytes_end);
        let _ = writeln!(
            md,
            "| {n} | {t:.1} | {rn:.1} | **{:.3}** | {:.0} / {:.0} | {} | {ts:.0}{} | {rs:.0} |",
            t / rn,
            med(&|r| r.objects_completed as f64),
            med(&|r| r.reno_objects_completed as f64),
            if ok { "yes" } else { "**no**" },
            if flat { "" } else { " (changed!)" },
        );
        t_pts.push((n as f64, t));
        r_pts.push((n as f64, rn));
        ts_pts.push((n as f64, ts / 1024.0));
        rs_pts.push((n as f64, rs / 1024.0));
    }
    let throughput = Chart {
        title: "Aggregate goodput, N clients fetching 500 kB objects".into(),
        x_label: "clients".into(),
        y_label: "Mb/s".into(),
        series: vec![
            Series {
                name: "Trickles".into(),
                points: t_pts,
            },
            Series {
                name: "Reno (SACK)".into(),
                points: r_pts,
            },
        ],
        band: None,
        y_from_zero: true,
    };
    std::fs::write(out.join("clients_goodput.svg"), throughput.to_svg())?;
    let state = Chart {
        title: "Server state".into(),
        x_label: "clients".into(),
        y_label: "KiB".into(),
        series: vec![
            Series {
                name: "Trickles engine".into(),
                points: ts_pts,
            },
            Series {
                name: "Reno connections".into(),
                points: rs_pts,
            },
        ],
        band: None,
        y_from_zero: true,
    };
    std::fs::write(out.join("clients_state.svg"), state.to_svg())?;
    let _ = writeln!(
        md,
        "\n![goodput](clients_goodput.svg) ![server state](clients_state.svg)\n"
    );
    Ok(())
}

fn robustness_sweep(cfg: &FigureConfig, md: &mut String) -> io::Result<()> {
    let _ = writeln!(
        md,
        "## Robustness: 1 MB transfers under loss, reordering and duplication\n\n100 Mb/s, 20 ms RTT, loss in both directions, 1% reordering and 1% duplication, seeds 1–{}.\n\
         One run: `trickles-sim transfer --size 1000000 --loss L --reorder 0.01 --dup 0.01 --seed S --json`.\n\n\
         | loss (both directions) | intact | stalled | timer timeouts (total) |\n|---|---|---|---|",
        cfg.robust_seeds
    );
    for loss in [0.0, 0.01, 0.02, 0.05] {
        let (mut ok, mut stalled, mut timeouts) = (0, 0, 0u64);
        for seed in 1..=cfg.robust_seeds {
            let mut sc = TransferScenario::new(1_000_000, 100_000_000, Duration::from_millis(20));
            sc.loss = loss;
            sc.reorder = 0.01;
            sc.duplicate = 0.01;
            let mut pair = crate::trickles_pair::TricklesPair::new(&sc, seed);
            let r = crate::scenario::run_transfer(&sc, seed, &mut pair, None)?;
            ok += u64::from(r.bytes_ok && !r.stalled);
            stalled += u64::from(r.stalled);
            let c = pair.client.client.stats();
            timeouts += c.timeouts - c.lost_retransmissions;
        }
        let _ = writeln!(
            md,
            "| {}% | {ok}/{} | {stalled} | {timeouts} |",
            loss * 100.0,
            cfg.robust_seeds
        );
    }
    let _ = writeln!(md);
    Ok(())
}

fn attack_run(md: &mut String) -> io::Result<()> {
    let sc = TransferScenario::new(10_000_000, 100_000_000, Duration::from_millis(20));
    let mut pair = crate::attack::AttackPair::new(&sc, 2);
    let r = crate::scenario::run_transfer(&sc, 2, &mut pair, None)?;
    let sent = pair.sent();
    let drops = pair.dropped_by_reason();
    let _ = writeln!(
        md,
        "## Attack: forged, stolen, replayed and loss-hiding requests\n\n`trickles-sim attack --size 10000000 --seed 2 --json`: {} attack frames sent ({sent:?}); forged_accepted = **{}**; bytes_ok = **{}**; server drops by reason: `{}`.\n",
        sent.total(),
        pair.forged_accepted(),
        r.bytes_ok && !r.stalled,
        serde_json::Value::Object(drops)
    );
    Ok(())
}

fn failover_runs(md: &mut String) {
    let _ = writeln!(
        md,
        "## Failover: a replica with the same key takes over (paper Fig. 16)\n\n10 MB over 100 Mb/s, 20 ms RTT; replica A dies at T and the route switches to replica B after the outage.\nOne run: `trickles-sim failover --at-ms T --outage-ms O --json`.\n\n| T (ms) | outage (ms) | bytes_ok | stall (ms) | completion (ms) | without failover (ms) | requests A / B | Reno after failover |\n|---|---|---|---|---|---|---|---|"
    );
    for (at, outage) in [(300, 0), (300, 100), (300, 500), (600, 100)] {
        let c = crate::failover::FailoverConfig {
            at: Duration::from_millis(at),
            outage: Duration::from_millis(outage),
            ..crate::failover::FailoverConfig::new()
        };
        let r = crate::failover::run(&c, 1);
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
        let _ = writeln!(
            md,
            "| {at} | {outage} | **{}** | {:.0} | {} | {} | {} / {} | {} |",
            r.bytes_ok,
            r.stall_ms,
            f(r.completion_ms),
            f(r.completion_ms_no_failover),
            r.replica_a_requests,
            r.replica_b_requests,
            if r.reno_completed {
                "completed".to_owned()
            } else {
                format!("stuck at {:.2} MB", r.reno_bytes_delivered as f64 / 1e6)
            }
        );
    }
    let _ = writeln!(md);
}

fn balance_runs(cfg: &FigureConfig, md: &mut String) {
    let _ = writeln!(
        md,
        "## Balance: per-packet round robin over two replicas (paper Fig. 17)\n\nTwo clients, two replicas with one key and one address, a sprayer that sends each client packet to the next replica; 500 kB objects for 10 s; medians over seeds 1–{}.\nOne run: `trickles-sim balance --bottleneck B --seed S --json`.\n\n| bottleneck | client Mb/s | Jain index (min over seeds) | all intact | requests per replica (seed 1) |\n|---|---|---|---|---|",
        cfg.seeds
    );
    for (name, b) in [
        ("shared", crate::balance::Bottleneck::Shared),
        ("replica", crate::balance::Bottleneck::Replica),
    ] {
        let c = crate::balance::BalanceConfig {
            bottleneck: b,
            ..crate::balance::BalanceConfig::new()
        };
        let runs: Vec<_> = (1..=cfg.seeds)
            .map(|s| crate::balance::run(&c, s))
            .collect();
        let per_client: Vec<String> = (0..c.clients)
            .map(|i| {
                format!(
                    "{:.1}",
                    median(&runs.iter().map(|r| r.client_mbps[i]).collect::<Vec<_>>())
                )
            })
            .collect();
        let jain = runs.iter().map(|r| r.jain_index).fold(f64::MAX, f64::min);
        let _ = writeln!(
            md,
            "| {name} | {} | **{jain:.3}** | {} | {:?} |",
            per_client.join(" / "),
            if runs.iter().all(|r| r.bytes_ok) {
                "yes"
            } else {
                "**no**"
            },
            runs[0].server_requests
        );
    }
    let _ = writeln!(md);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
