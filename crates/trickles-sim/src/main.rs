//! `trickles-sim`: run simulator scenarios from the command line.
//!
//! ```text
//! trickles-sim transfer --size 10000000 --rate 100 --rtt 20 --loss 0.01 --seed 1 --json
//! trickles-sim clients --clients 8 --seed 1 --json
//! trickles-sim failover --at-ms 1000 --seed 1 --json
//! trickles-sim balance --seed 1 --json
//! ```
//! Exit status: 0 when every pair delivered every byte intact, 1 when not
//! (including a stalled run), 2 on a usage or I/O error.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use trickles_sim::SimTime;
use trickles_sim::reno::RenoConfig;
use trickles_sim::scenario::{Comparison, TransferResult, TransferScenario, compare};

#[derive(Debug, Parser)]
#[command(
    name = "trickles-sim",
    version,
    about = "Deterministic network simulator for Trickles and TCP Reno"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One bulk transfer server → client over a dumbbell bottleneck, run
    /// with Trickles and with the Reno reference on the same seeded path.
    Transfer(TransferArgs),
    /// A Trickles transfer while the client side also sends forged, stolen,
    /// replayed and loss-hiding requests; prints bytes_ok, forged_accepted
    /// (must be 0) and the server's drops by reason.
    Attack(AttackArgs),
    /// One Trickles flow against N Reno flows through one bottleneck for a
    /// fixed time (paper Fig. 13): goodputs, fair share and Jain's index.
    Friendliness(FriendlinessArgs),
    /// N clients repeatedly fetch an object from one server, a fresh
    /// connection each (paper Fig. 9), with Trickles and then with Reno:
    /// aggregate throughput and the state each server holds.
    Clients(ClientsArgs),
    /// A large fetch from replica A; A dies at --at-ms and replica B (same
    /// keys and address) takes its traffic (paper Fig. 16): stall and
    /// completion time, with and without the failover.
    Failover(FailoverArgs),
    /// Two clients, two replicas behind a per-packet round-robin sprayer
    /// (paper Fig. 17): each client's throughput, Jain's index, and the
    /// requests of each client each replica answered.
    Balance(BalanceArgs),
    /// Run the sweeps behind docs/evaluation.md and write their tables
    /// (results.md) and plots (SVG) into a directory.
    Figures(FiguresArgs),
}

#[derive(Debug, clap::Args)]
struct FiguresArgs {
    /// Output directory.
    #[arg(long, default_value = "docs/figures")]
    out: PathBuf,
    /// Seeds per point of the transfer sweep.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Bytes per transfer.
    #[arg(long, default_value_t = 10_000_000)]
    size: u64,
    /// Simulated seconds per friendliness run.
    #[arg(long, default_value_t = 30.0, value_parser = positive)]
    friendliness_seconds: f64,
    /// Seeds per loss rate of the robustness sweep.
    #[arg(long, default_value_t = 100)]
    robust_seeds: u64,
}

#[derive(Debug, clap::Args)]
struct ClientsArgs {
    /// Number of clients.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    clients: u16,
    /// Bytes of each object.
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1..))]
    object_bytes: u64,
    /// Bottleneck rate in Mbit/s.
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    rate: f64,
    #[command(flatten)]
    run: FetchRunArgs,
}

/// What the object-fetching scenarios (`clients`, `balance`) share.
#[derive(Debug, clap::Args)]
struct FetchRunArgs {
    /// Base round-trip time in ms.
    #[arg(long, default_value_t = 20.0, value_parser = non_negative)]
    rtt: f64,
    /// Simulated seconds of each run.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    seconds: f64,
    /// Clients start at seeded random instants within this many ms.
    #[arg(long, default_value_t = 100.0, value_parser = non_negative)]
    stagger_ms: f64,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object (the default output is the same object).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct FailoverArgs {
    /// Bytes to fetch.
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    size: u64,
    /// Bottleneck rate in Mbit/s.
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    rate: f64,
    /// Base round-trip time in ms.
    #[arg(long, default_value_t = 20.0, value_parser = non_negative)]
    rtt: f64,
    /// When replica A dies, ms after the start.
    #[arg(long, default_value_t = 1000.0, value_parser = non_negative)]
    at_ms: f64,
    /// From A's death to the router sending its traffic to B, ms.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    outage_ms: f64,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object (the default output is the same object).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct BalanceArgs {
    /// Client hosts.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    clients: u16,
    /// Replicas behind the sprayer.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    servers: u16,
    /// Bytes of each object.
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1..))]
    object_bytes: u64,
    /// Rate of each replica's link (or of the shared bottleneck) in Mbit/s.
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    rate: f64,
    /// Where the bottleneck is: each replica's uplink (the paper's
    /// testbed), or one link shared by all replicas towards the clients.
    #[arg(long, value_enum, default_value_t = BottleneckArg::Replica)]
    bottleneck: BottleneckArg,
    #[command(flatten)]
    run: FetchRunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BottleneckArg {
    /// Each replica's uplink runs at --rate.
    Replica,
    /// One link towards the clients runs at --rate.
    Shared,
}

fn mbit(rate: f64) -> u64 {
    (rate * 1e6).round() as u64
}

fn clients(a: &ClientsArgs) -> io::Result<(serde_json::Value, bool)> {
    let cfg = trickles_sim::clients::ClientsConfig {
        clients: usize::from(a.clients),
        object_bytes: a.object_bytes,
        rate_bps: mbit(a.rate),
        rtt: ms(a.run.rtt)?,
        duration: ms(a.run.seconds * 1e3)?,
        stagger: ms(a.run.stagger_ms)?,
    };
    let r = trickles_sim::clients::run(&cfg, a.run.seed);
    let ok = r.bytes_ok && r.reno_bytes_ok;
    Ok((serde_json::to_value(&r).map_err(io::Error::other)?, ok))
}

fn failover(a: &FailoverArgs) -> io::Result<(serde_json::Value, bool)> {
    let cfg = trickles_sim::failover::FailoverConfig {
        size: a.size,
        rate_bps: mbit(a.rate),
        rtt: ms(a.rtt)?,
        at: ms(a.at_ms)?,
        outage: ms(a.outage_ms)?,
        ..Default::default()
    };
    let r = trickles_sim::failover::run(&cfg, a.seed);
    let ok = r.bytes_ok && r.bytes_ok_no_failover;
    Ok((serde_json::to_value(&r).map_err(io::Error::other)?, ok))
}

fn balance(a: &BalanceArgs) -> io::Result<(serde_json::Value, bool)> {
    let cfg = trickles_sim::balance::BalanceConfig {
        clients: usize::from(a.clients),
        servers: usize::from(a.servers),
        object_bytes: a.object_bytes,
        rate_bps: mbit(a.rate),
        bottleneck: match a.bottleneck {
            BottleneckArg::Replica => trickles_sim::balance::Bottleneck::Replica,
            BottleneckArg::Shared => trickles_sim::balance::Bottleneck::Shared,
        },
        rtt: ms(a.run.rtt)?,
        duration: ms(a.run.seconds * 1e3)?,
        stagger: ms(a.run.stagger_ms)?,
    };
    let r = trickles_sim::balance::run(&cfg, a.run.seed);
    let ok = r.bytes_ok;
    Ok((serde_json::to_value(&r).map_err(io::Error::other)?, ok))
}

/// Print a scenario's JSON object; exit 0 if it passed, 1 if not, 2 on an
/// error.
fn report(result: io::Result<(serde_json::Value, bool)>) -> ExitCode {
    match result {
        Ok((out, ok)) => {
            println!("{out}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("trickles-sim: {e}");
            ExitCode::from(2)
        }
    }
}

#[derive(Debug, clap::Args)]
struct FriendlinessArgs {
    /// Number of Reno flows beside the Trickles flow.
    #[arg(long, default_value_t = 4)]
    reno_flows: usize,
    /// Bottleneck rate in Mbit/s.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Round-trip time in milliseconds.
    #[arg(long, default_value_t = 20.0)]
    rtt: f64,
    /// Simulated seconds to run.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Reno flows use SACK with RFC 6675 loss recovery (false: classic
    /// RFC 5681 Reno).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    reno_sack: bool,
    /// Print one JSON object (the default output is the same object).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct AttackArgs {
    /// Bytes to transfer.
    #[arg(long, default_value_t = 1_000_000)]
    size: u64,
    /// Bottleneck rate in Mbit/s.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Round-trip time in milliseconds.
    #[arg(long, default_value_t = 20.0)]
    rtt: f64,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object (the default output is the same object).
    #[arg(long)]
    json: bool,
}

fn attack(a: &AttackArgs) -> std::io::Result<(serde_json::Value, bool)> {
    use trickles_sim::attack::AttackPair;
    let sc = TransferScenario::new(
        a.size,
        (a.rate * 1e6) as u64,
        std::time::Duration::from_secs_f64(a.rtt / 1000.0),
    );
    let mut pair = AttackPair::new(&sc, a.seed);
    let r = trickles_sim::scenario::run_transfer(&sc, a.seed, &mut pair, None)?;
    let ok = r.bytes_ok && !r.stalled && pair.forged_accepted() == 0;
    let out = json!({
        "scenario": "attack",
        "seed": a.seed,
        "size": a.size,
        "bytes_ok": r.bytes_ok,
        "stalled": r.stalled,
        "forged_accepted": pair.forged_accepted(),
        "attacks_sent": pair.sent(),
        "dropped_by_reason": pair.dropped_by_reason(),
        "goodput_mbps": r.goodput_mbps,
    });
    Ok((out, ok))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Impair {
    /// Only the data direction (server → client).
    Data,
    /// Both bottleneck directions (data and ACKs).
    Both,
}

#[derive(Debug, clap::Args)]
struct TransferArgs {
    /// Bytes to transfer.
    #[arg(long, default_value_t = 1_000_000)]
    size: u64,
    /// Bottleneck rate in Mbit/s.
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    rate: f64,
    /// Base round-trip time in ms.
    #[arg(long, default_value_t = 20.0, value_parser = non_negative)]
    rtt: f64,
    /// Random loss probability per frame on the bottleneck.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    loss: f64,
    /// Seed of the run (all randomness derives from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Probability that a frame gets an extra random delay.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    reorder: f64,
    /// Largest extra delay of a reordered frame, ms [default: RTT/4].
    #[arg(long, value_parser = non_negative)]
    reorder_max: Option<f64>,
    /// Duplication probability per frame on the bottleneck.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    dup: f64,
    /// Which bottleneck directions the loss/reorder/dup apply to.
    #[arg(long, value_enum, default_value_t = Impair::Both)]
    impair: Impair,
    /// Bottleneck queue limit in bytes [default: one BDP, at least 64 KiB].
    #[arg(long)]
    queue: Option<u64>,
    /// Reno MSS in bytes.
    #[arg(long, default_value_t = 1448)]
    mss: usize,
    /// Reno initial window in segments.
    #[arg(long, default_value_t = 2)]
    iw: u32,
    /// Reno minimum RTO in ms.
    #[arg(long, default_value_t = 200.0, value_parser = non_negative)]
    min_rto: f64,
    /// Reno uses SACK with RFC 6675 loss recovery (false: classic RFC 5681
    /// Reno).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    reno_sack: bool,
    /// Simulated-time limit in seconds.
    #[arg(long, default_value_t = 600.0, value_parser = non_negative)]
    max_time: f64,
    /// Event-count limit.
    #[arg(long, default_value_t = 50_000_000)]
    max_events: u64,
    /// Write the client's frames to this pcap (Trickles, when it runs,
    /// goes to FILE with `.trickles` before the extension).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

fn parse_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err("must be finite".into())
    }
}

fn positive(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err("must be > 0".into())
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err("must be >= 0".into())
    }
}

fn probability(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be within [0, 1]".into())
    }
}

fn ms(v: f64) -> io::Result<Duration> {
    Duration::try_from_secs_f64(v / 1e3)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

fn pcap_path(base: &Path, pair: &str) -> PathBuf {
    if pair == "reno" {
        return base.to_path_buf();
    }
    let stem = base.file_stem().unwrap_or_default().to_string_lossy();
    let name = match base.extension() {
        Some(ext) => format!("{stem}.{pair}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{pair}"),
    };
    base.with_file_name(name)
}

fn transfer(a: &TransferArgs) -> io::Result<(serde_json::Value, Comparison)> {
    let rtt = ms(a.rtt)?;
    let mut sc = TransferScenario::new(a.size, (a.rate * 1e6).round() as u64, rtt);
    sc.loss = a.loss;
    sc.reorder = a.reorder;
    if let Some(m) = a.reorder_max {
        sc.reorder_max = ms(m)?;
    }
    sc.duplicate = a.dup;
    sc.impair_reverse = a.impair == Impair::Both;
    sc.queue_bytes = a.queue;
    sc.limits.max_time =
        SimTime(u64::try_from(ms(a.max_time * 1e3)?.as_nanos()).unwrap_or(u64::MAX));
    sc.limits.max_events = a.max_events;
    let reno = RenoConfig {
        mss: a.mss,
        initial_cwnd: a.iw,
        min_rto: ms(a.min_rto)?,
        sack: a.reno_sack,
        ..RenoConfig::default()
    };
    let base = a.pcap.clone();
    let cmp = compare(&sc, a.seed, reno, |pair| {
        base.as_ref()
            .map(|b| -> io::Result<Box<dyn Write>> {
                Ok(Box::new(BufWriter::new(File::create(pcap_path(b, pair))?)))
            })
            .transpose()
    })?;
    let link_json = |r: &TransferResult| json!({ "bottleneck_s2c": r.bottleneck_s2c, "bottleneck_c2s": r.bottleneck_c2s });
    let out = json!({
        "seed": a.seed,
        "size": a.size,
        "rate_mbit": a.rate,
        "rtt_ms": a.rtt,
        "loss": a.loss,
        "reorder": a.reorder,
        "reorder_max_ms": sc.reorder_max.as_secs_f64() * 1e3,
        "dup": a.dup,
        "impair": match a.impair { Impair::Data => "data", Impair::Both => "both" },
        "reno_sack": a.reno_sack,
        "queue_bytes": sc.dumbbell().bottleneck_s2c.queue_limit(),
        "bytes_ok": cmp.bytes_ok(),
        "stalled": cmp.stalled(),
        "reno_mbps": cmp.reno.goodput_mbps,
        "completion_ms": cmp.reno.completion_ms,
        "trickles_mbps": cmp.trickles.as_ref().and_then(|t| t.goodput_mbps),
        "trickles_completion_ms": cmp.trickles.as_ref().and_then(|t| t.completion_ms),
        "ratio": cmp.ratio(),
        "links": link_json(&cmp.reno),
        "reno": cmp.reno,
        "trickles": cmp.trickles,
    });
    Ok((out, cmp))
}

fn print_summary(out: &serde_json::Value, cmp: &Comparison) {
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    println!("seed          {}", out["seed"]);
    println!("bytes_ok      {}", cmp.bytes_ok());
    println!("stalled       {}", cmp.stalled());
    println!("reno_mbps     {}", f(cmp.reno.goodput_mbps));
    println!("completion_ms {}", f(cmp.reno.completion_ms));
    let t = cmp.trickles.as_ref();
    println!("trickles_mbps {}", f(t.and_then(|t| t.goodput_mbps)));
    println!("ratio         {}", f(cmp.ratio()));
    let l = &cmp.reno.bottleneck_s2c;
    println!(
        "bottleneck    in {} dropped {} lost {} dup {} reordered {} max_queue {} B",
        l.frames_in, l.dropped_queue, l.lost, l.duplicated, l.reordered, l.max_queue_bytes
    );
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Transfer(a) => match transfer(&a) {
            Ok((out, cmp)) => {
                if a.json {
                    println!("{out}");
                } else {
                    print_summary(&out, &cmp);
                }
                if cmp.bytes_ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("trickles-sim: {e}");
                ExitCode::from(2)
            }
        },
        Command::Friendliness(a) => {
            let _ = a.json;
            let r = trickles_sim::friendliness::run_with(
                a.reno_flows,
                (a.rate * 1e6) as u64,
                std::time::Duration::from_secs_f64(a.rtt / 1000.0),
                std::time::Duration::from_secs_f64(a.seconds),
                a.seed,
                &RenoConfig {
                    sack: a.reno_sack,
                    ..RenoConfig::default()
                },
            );
            match serde_json::to_string(&r) {
                Ok(s) => {
                    println!("{s}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trickles-sim: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Clients(a) => {
            let _ = a.run.json;
            report(clients(&a))
        }
        Command::Failover(a) => {
            let _ = a.json;
            report(failover(&a))
        }
        Command::Balance(a) => {
            let _ = a.run.json;
            report(balance(&a))
        }
        Command::Figures(a) => {
            let cfg = trickles_sim::figures::FigureConfig {
                seeds: a.seeds.max(1),
                size: a.size,
                friendliness_seconds: a.friendliness_seconds,
                robust_seeds: a.robust_seeds.max(1),
                ..Default::default()
            };
            match trickles_sim::figures::run(&cfg, &a.out) {
                Ok(md) => {
                    print!("{md}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trickles-sim: {}: {e}", a.out.display());
                    ExitCode::from(2)
                }
            }
        }
        Command::Attack(a) => {
            let _ = a.json;
            report(attack(&a))
        }
    }
}
