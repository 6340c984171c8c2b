//! `tcp-slow-clients`: the kernel-TCP side of the `clients` scenario. Opens
//! N TCP connections to an HTTP server (spread over several ports, so that
//! more than one port range of clients fits), sends one GET of a large
//! file on each, then reads a few bytes at a time, round robin over all
//! connections at a fixed aggregate rate: slow clients, each with a
//! download in progress. Prints one JSON line when the load is over, then
//! keeps every connection open until its standard input closes, so that
//! the server's memory can be measured with all of them established.
//! Run it with a file-descriptor limit above N (`prlimit --nofile`).

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

/// No new connection is attempted after this long.
const CONNECT_FOR: Duration = Duration::from_secs(180);

/// N slow kernel-TCP clients of an HTTP server (the `clients` benchmark).
#[derive(Parser, Debug)]
#[command(name = "tcp-slow-clients", version, about, long_about)]
struct Args {
    /// The server's address.
    #[arg(long)]
    server: IpAddr,
    /// The server's ports; connection i goes to port i mod count.
    #[arg(long, value_delimiter = ',', required = true)]
    ports: Vec<u16>,
    /// Connections to open.
    #[arg(long)]
    clients: u32,
    /// The path to GET on each connection.
    #[arg(long, default_value = "/big.bin")]
    path: String,
    /// Reads per second over all connections.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Bytes taken by each read, at most.
    #[arg(long, default_value_t = 2720)]
    read_bytes: usize,
    /// Seconds of reading.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

/// What opening the connections did.
#[derive(Debug, Default)]
struct Opened {
    conns: Vec<TcpStream>,
    failed: u64,
    not_attempted: u64,
    first_error: Option<String>,
}

/// Open the connections and send each its request. A connection that
/// fails (a kernel out of socket memory drops SYNs and resets) is
/// counted, not fatal; after [`CONNECT_FOR`] no more are attempted.
fn connect_all(args: &Args) -> Opened {
    let mut o = Opened::default();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        args.path, args.server
    );
    let start = Instant::now();
    for i in 0..args.clients as usize {
        if start.elapsed() > CONNECT_FOR {
            o.not_attempted = u64::from(args.clients) - i as u64;
            break;
        }
        let port = args.ports[i % args.ports.len()];
        let to = SocketAddr::new(args.server, port);
        let opened = TcpStream::connect_timeout(&to, Duration::from_secs(10)).and_then(|mut s| {
            s.write_all(request.as_bytes())?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        match opened {
            Ok(s) => o.conns.push(s),
            Err(e) => {
                o.failed += 1;
                o.first_error
                    .get_or_insert_with(|| format!("connection {i} to {to}: {e}"));
            }
        }
    }
    o
}

fn run(args: &Args) -> Result<(), String> {
    if args.ports.is_empty() || args.clients == 0 {
        return Err("need at least one port and one client".into());
    }
    let t0 = Instant::now();
    let opened = connect_all(args);
    let connect_s = t0.elapsed().as_secs_f64();
    let mut conns = opened.conns;
    if conns.is_empty() {
        return Err(opened
            .first_error
            .unwrap_or_else(|| "no connection opened".into()));
    }
    let mut buf = vec![0u8; args.read_bytes.max(1)];
    let (mut reads, mut bytes, mut closed) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut next = 0usize;
    while Instant::now() < end {
        let due = (start.elapsed().as_secs_f64() * args.rate as f64) as u64;
        while reads < due {
            reads += 1;
            let i = next % conns.len();
            next += 1;
            match conns[i].read(&mut buf) {
                Ok(0) => closed += 1,
                Ok(n) => bytes += n as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => closed += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let summary = serde_json::json!({
        "clients": conns.len(),
        "failed_connects": opened.failed,
        "not_attempted": opened.not_attempted,
        "first_error": opened.first_error,
        "connect_s": connect_s,
        "reads": reads,
        "bytes": bytes,
        "closed_or_failed_reads": closed,
    });
    let mut out = std::io::stdout();
    writeln!(out, "{summary}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    // Hold every connection until told to go.
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    conns.clear();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp-slow-clients: {e}");
            ExitCode::FAILURE
        }
    }
}
