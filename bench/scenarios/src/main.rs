//! `trickles-bench`: the scenario benchmarks, each on fresh
//! veth pairs between network namespaces this process creates (and
//! removes, also when a run fails). Each scenario prints a table and
//! writes `<out>/<name>.json` (raw runs and a `summary`), `<name>.md` and
//! `<name>.svg`. Needs root. `cargo xtask bench <name>` builds it in
//! release mode and runs it under the namespace reaper.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use trickles_bench::{balance, bulk, clients, failover, flood, friendliness, objects};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// One and four bulk downloads: Trickles vs kernel Reno/CUBIC, offloads off and default.
    Bulk,
    /// A new connection per request for 1 KB to 500 KB objects: trickled vs nginx driven by wrk.
    Objects,
    /// 1k, 10k and 100k concurrent clients: trickled's memory (pktgen valid mode) vs nginx + kernel sockets.
    Clients,
    /// A legitimate download while pktgen floods forged, malformed and replayed requests.
    Flood,
    /// One Trickles flow against N kernel Reno flows through a tc tbf bottleneck.
    Friendliness,
    /// A download across trickled's SIGKILL and restart, and across a replica killed under ECMP and under per-packet spraying.
    Failover,
    /// One and four connections sprayed per packet over two replicas vs one replica.
    Balance,
}

/// Scenario benchmarks: Trickles on AF_XDP against kernel TCP on the same
/// veth pair (root; namespaces are created and removed by each run).
#[derive(Parser, Debug)]
#[command(name = "trickles-bench", version, about, long_about)]
struct Args {
    /// Which scenario.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Runs, each on fresh namespaces; figures are medians over runs.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Directory for <name>.json, <name>.md and <name>.svg.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// The pktgen binary [default: beside this program].
    #[arg(long)]
    pktgen: Option<PathBuf>,
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !trickles_xdp::running_as_root() {
        eprintln!("trickles-bench: needs root (network namespaces, XDP, AF_XDP)");
        return ExitCode::from(2);
    }
    if args.runs == 0 {
        eprintln!("trickles-bench: --runs must be at least 1");
        return ExitCode::from(2);
    }
    let pktgen = args.pktgen.clone().unwrap_or_else(|| sibling("pktgen"));
    let result = match args.scenario {
        Scenario::Bulk => bulk::run(args.runs),
        Scenario::Objects => objects::run(args.runs, &sibling("trickled")),
        Scenario::Clients => clients::run(
            args.runs,
            clients::Programs {
                trickled: &sibling("trickled"),
                pktgen: &pktgen,
                tcp_slow_clients: &sibling("tcp-slow-clients"),
            },
        ),
        Scenario::Flood => flood::run(args.runs, &pktgen),
        Scenario::Friendliness => friendliness::run(args.runs),
        Scenario::Failover => failover::run(args.runs, &sibling("trickled")),
        Scenario::Balance => balance::run(args.runs, &sibling("trickled")),
    };
    match result.and_then(|r| {
        r.write(&args.out)
            .map_err(|e| format!("writing results: {e}"))
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickles-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
