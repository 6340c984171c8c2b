//! `trickled`: the Trickles daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use trickled::config::{BindSpec, Overrides, ServeConfig, XdpModeSpec};
use trickled::keyfile::KeyFile;

/// The Trickles daemon: a stateless TCP-like transport served from user
/// space over AF_XDP. An XDP program on the interface steers Trickles
/// segments for the served ports to one worker per receive queue;
/// everything else (ARP, ping, ordinary TCP, also on the served ports)
/// goes to the kernel as before.
#[derive(Parser, Debug)]
#[command(name = "trickled", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve Trickles services on an interface until SIGINT or SIGTERM.
    /// SIGHUP reloads the key file (a new epoch; the previous one stays
    /// valid for the grace period). Needs root.
    Serve(Box<ServeArgs>),
    /// Spread a service address over replicas from the router in front of
    /// them, taking dead replicas out of the rotation: kernel ECMP per
    /// flow, or each Trickles request to any replica (per-packet
    /// spraying; no connection table anywhere). Every replica serves the
    /// address (on its loopback device) with the same key file. Runs
    /// until SIGINT or SIGTERM, then removes its route and rules. Needs
    /// root. See docs/operations.md "Replicas".
    Balance(BalanceArgs),
    /// Print a running daemon's counters: per worker and in total, the
    /// XDP program's verdicts and the drops by reason (from its
    /// --stats-listen endpoint).
    Stats {
        /// The daemon's stats endpoint.
        #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR")]
        stats_listen: std::net::SocketAddr,
        /// Print the raw Prometheus text instead.
        #[arg(long)]
        raw: bool,
    },
    /// Write a key file: new random 16-byte server and application keys
    /// for one epoch, or (with --next / --promote) the two steps of a
    /// rotation across replicas: first every replica accepts the next
    /// epoch, then every replica seals with it (docs/operations.md "Keys
    /// across a fleet"). Prints to standard output unless --output.
    Keygen {
        /// Key epoch of a new file (0-255).
        #[arg(long, default_value_t = 1, conflicts_with_all = ["next", "promote"])]
        epoch: u8,
        /// Step one of a rotation: FILE's current keys plus new keys of
        /// the next epoch, accepted but not yet used to seal. Install on
        /// every replica (SIGHUP) before step two.
        #[arg(long, value_name = "FILE", conflicts_with = "promote")]
        next: Option<PathBuf>,
        /// Step two: FILE's accepted next epoch becomes current; the old
        /// current epoch stays accepted, so connections made under it go
        /// on, on every replica and after restarts.
        #[arg(long, value_name = "FILE")]
        promote: Option<PathBuf>,
        /// Write the key file here (mode 0600, replaced atomically so a
        /// daemon reloading it never reads half a file) instead of
        /// standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct BalanceArgs {
    /// The service address the replicas share, e.g. 10.80.0.1.
    #[arg(long, value_name = "ADDR")]
    vip: std::net::Ipv4Addr,
    /// A replica's own address, on a link of this router; repeat for each.
    #[arg(long = "replica", value_name = "ADDR", required = true)]
    replicas: Vec<std::net::Ipv4Addr>,
    /// Service port (repeat for several); the first is probed.
    #[arg(long = "port", value_name = "PORT", default_value = "80")]
    ports: Vec<u16>,
    /// ecmp: each flow to one replica (kernel multipath route, L4 hash).
    /// spray: each Trickles request to any replica (nftables on the
    /// ingress devices), other traffic by ECMP.
    #[arg(long, value_enum, default_value = "ecmp")]
    mode: trickled::balance::Mode,
    /// A device client traffic arrives on (spray mode; repeat for several).
    #[arg(long = "ingress", value_name = "DEV")]
    ingress: Vec<String>,
    /// Milliseconds between health probes of each replica. A probe is a
    /// Trickles SYN the replica's datapath answers with VERSION_REJECT.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    interval_ms: u64,
    /// Unanswered probes in a row before a replica leaves the rotation.
    #[arg(long, default_value_t = 3, value_name = "N")]
    down_after: u32,
    /// Answered probes in a row before it comes back.
    #[arg(long, default_value_t = 2, value_name = "N")]
    up_after: u32,
    /// Log filter [default: info]; RUST_LOG wins.
    #[arg(long, default_value = "info", value_name = "FILTER")]
    log: String,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// TOML configuration file (examples in configs/); flags override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Network interface to serve on, e.g. eth0.
    #[arg(long, short = 'i', value_name = "IF")]
    interface: Option<String>,
    /// Receive queues to serve, one worker each: "0", "0-3", "0,2" [default: 0].
    #[arg(long, value_name = "LIST")]
    queues: Option<String>,
    /// Cores to pin the workers to, one per queue in the same order, e.g.
    /// "2-5"; unpinned if omitted.
    #[arg(long, value_name = "LIST")]
    cores: Option<String>,
    /// A service: PORT=web:ROOT (the stateless web server over the files
    /// under ROOT) or PORT=synthetic (the checkable synthetic stream).
    /// Repeat for several ports; replaces the config file's services.
    #[arg(long = "service", value_name = "PORT=APP")]
    services: Vec<String>,
    /// Key file (TOML: epoch, server_key, app_key; see `trickled keygen`).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Log filter, e.g. "info" or "trickled=debug" [default: info]. The
    /// RUST_LOG environment variable wins over it.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// XDP attach mode [default: auto: driver mode, generic if the driver
    /// has none].
    #[arg(long, value_enum)]
    xdp_mode: Option<XdpModeSpec>,
    /// AF_XDP bind mode [default: auto: zero-copy if the driver supports
    /// it, copy otherwise].
    #[arg(long, value_enum)]
    bind_mode: Option<BindSpec>,
    /// Prometheus text endpoint, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    stats_listen: Option<std::net::SocketAddr>,
    /// Write each worker's received and sent frames to DIR/queue-N.pcap
    /// (XDP takes steered frames before tcpdump can see them).
    #[arg(long, value_name = "DIR")]
    pcap_dir: Option<PathBuf>,
    /// Replay-table entries per worker and service, rounded up to a power
    /// of two (8 bytes each): enough for the requests of the 10 s replay
    /// horizon, i.e. requests per second per worker x 10. If
    /// trickled_replay_evictions_total rises, grow it [default: 1048576,
    /// 8 MiB].
    #[arg(long, value_name = "N")]
    replay_entries: Option<usize>,
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let file = match &args.config {
        Some(p) => Some(ServeConfig::read_file(p)?),
        None => None,
    };
    let cfg = ServeConfig::build(
        file,
        Overrides {
            interface: args.interface,
            queues: args.queues,
            cores: args.cores,
            key_file: args.key_file,
            log: args.log,
            stats_listen: args.stats_listen,
            xdp_mode: args.xdp_mode,
            bind_mode: args.bind_mode,
            pcap_dir: args.pcap_dir,
            replay_entries: args.replay_entries,
            services: args.services,
        },
    )?;
    trickled::init_logs(&cfg.log);
    trickled::serve::serve(&cfg, None)
}

fn balance(args: BalanceArgs) -> Result<(), String> {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    trickled::init_logs(&args.log);
    let cfg = trickled::balance::BalanceConfig {
        vip: args.vip,
        ports: args.ports,
        replicas: args.replicas,
        mode: args.mode,
        ingress: args.ingress,
        interval: std::time::Duration::from_millis(args.interval_ms),
        down_after: args.down_after,
        up_after: args.up_after,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    trickled::balance::run(&cfg, &stop)
}

/// The text of the key file `trickled keygen` writes.
fn keygen(epoch: u8, next: Option<PathBuf>, promote: Option<PathBuf>) -> Result<String, String> {
    let urandom = |e: std::io::Error| format!("cannot read /dev/urandom: {e}");
    match (next, promote) {
        (Some(path), _) => Ok(KeyFile::load(&path)?
            .with_next()
            .map_err(urandom)?
            .to_text()),
        (None, Some(path)) => Ok(KeyFile::load(&path)?.promoted()?.to_text()),
        (None, None) => KeyFile::generate(epoch).map_err(urandom),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Balance(args) => balance(args),
        Command::Stats { stats_listen, raw } => trickled::stats::fetch(stats_listen).map(|text| {
            if raw {
                print!("{text}");
            } else {
                print!("{}", trickled::stats::summary(&text));
            }
        }),
        Command::Keygen {
            epoch,
            next,
            promote,
            output,
        } => keygen(epoch, next, promote).and_then(|text| match output {
            Some(path) => trickled::keyfile::write_private(&path, &text),
            None => {
                print!("{text}");
                Ok(())
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickled: {e}");
            ExitCode::FAILURE
        }
    }
}
