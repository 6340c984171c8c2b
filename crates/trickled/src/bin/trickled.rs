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
    /// Write a new key file (random 16-byte server and application keys)
    /// to standard output.
    Keygen {
        /// Key epoch (0-255); use the next one when rotating.
        #[arg(long, default_value_t = 1)]
        epoch: u8,
    },
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
            services: args.services,
        },
    )?;
    trickled::init_logs(&cfg.log);
    trickled::serve::serve(&cfg, None)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Stats { stats_listen, raw } => trickled::stats::fetch(stats_listen).map(|text| {
            if raw {
                print!("{text}");
            } else {
                print!("{}", trickled::stats::summary(&text));
            }
        }),
        Command::Keygen { epoch } => KeyFile::generate(epoch)
            .map(|text| print!("{text}"))
            .map_err(|e| format!("cannot read /dev/urandom: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickled: {e}");
            ExitCode::FAILURE
        }
    }
}
