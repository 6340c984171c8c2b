//! `trickles`: the Trickles client tools.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
use trickled::tools::{self, Datapath, HttpBody, Outcome, Url};

/// Trickles client tools: fetch over Trickles (a stateless TCP-like
/// transport) from the command line, or let ordinary programs (curl,
/// wget, a browser) do so through a local proxy. The client runs on
/// AF_XDP on the interface that routes to the server, so it needs root.
/// When the server does not speak Trickles, both fall back to ordinary
/// TCP and say so.
#[derive(Parser, Debug)]
#[command(name = "trickles", version, about, long_about)]
struct Cli {
    /// Log filter, e.g. "info" or "trickled=debug" (RUST_LOG wins).
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch a URL (http://HOST[:PORT]/PATH) and write the body to standard
    /// output or a file; exits non-zero on an HTTP error status.
    Get {
        /// The URL.
        url: String,
        /// Write the body here instead of standard output.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// No progress bar (it shows on a terminal for files over 1 MB).
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Accept ordinary HTTP connections on --listen and fetch each request
    /// from --server over Trickles: `curl http://LISTEN/file` then gets the
    /// server's /file. Runs until SIGINT or SIGTERM.
    Proxy {
        /// Local address to accept connections on.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        listen: std::net::SocketAddr,
        /// The Trickles server, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        server: String,
    },
}

fn get(url: &str, output: Option<PathBuf>, quiet: bool) -> Result<(), String> {
    let url = Url::parse(url)?;
    let server = url.resolve()?;
    let dp = Datapath::start(*server.ip())?;
    let out: Box<dyn Write> = match &output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let progress = !quiet && std::io::stderr().is_terminal();
    let mut body = HttpBody::new(out, progress);
    let outcome = tools::fetch_into(&dp, server, &url.request(), &mut body)?;
    let (status, line, bytes) = (body.status, body.status_line.clone(), body.body_bytes);
    body.finish()
        .map_err(|e| format!("writing the body: {e}"))?;
    tracing::info!(?outcome, bytes, "fetched");
    if outcome == Outcome::FellBackToTcp {
        tracing::info!("fetched over ordinary TCP");
    }
    match status {
        Some(s) if (200..300).contains(&s) => Ok(()),
        Some(_) => Err(format!("the server answered `{line}`")),
        None => Err("the response had no HTTP status line".into()),
    }
}

fn proxy(listen: std::net::SocketAddr, server: &str) -> Result<(), String> {
    let addr = Url::parse(&format!("http://{server}/"))?.resolve()?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    tools::proxy(listen, addr, &stop)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    trickled::init_logs(&cli.log);
    let result = match cli.command {
        Command::Get { url, output, quiet } => get(&url, output, quiet),
        Command::Proxy { listen, server } => proxy(listen, &server),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickles: {e}");
            ExitCode::FAILURE
        }
    }
}
