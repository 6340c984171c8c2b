//! The datapath part of `cargo xtask demo`: a real Trickles download over
//! AF_XDP between two network namespaces, next to kernel TCP on the same
//! veth pair, with the server's memory before and after. Needs root.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use trickles_xdp::netns::NetnsPair;
use trickles_xdp::scenario::{self, Download, download, kernel_download};

/// A Trickles download over AF_XDP between two namespaces, and kernel TCP
/// on the same veth pair for comparison.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Bytes to download.
    #[arg(long, default_value_t = 100_000_000)]
    size: u64,
    /// Concurrent Trickles connections, each downloading --size bytes
    /// (their times and counters are printed one by one).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Also write the workers' frames to DIR/server.pcap and DIR/client.pcap.
    #[arg(long, value_name = "DIR")]
    pcap: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !trickles_xdp::running_as_root() {
        println!("datapath demo skipped: namespaces, XDP and AF_XDP need root");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("datapath demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> std::io::Result<bool> {
    let pair = NetnsPair::create()?;
    println!(
        "== Trickles over AF_XDP between namespaces {} ({} {}) and {} ({} {})",
        pair.a.netns, pair.a.ifname, pair.a.addr, pair.b.netns, pair.b.ifname, pair.b.addr
    );
    println!(
        "  server: {}:{} in {}, behind the XDP steering program, one AF_XDP socket",
        pair.b.addr,
        scenario::SERVER_PORT,
        pair.b.netns
    );
    println!(
        "  client: {}:{} in {}, its own program and socket; next hop resolved by the kernel's ARP",
        pair.a.addr,
        scenario::CLIENT_PORT,
        pair.a.netns
    );
    let memory_before = scenario::demo_server().memory_bytes();
    let t = download(
        &pair,
        &Download {
            size: args.size,
            pcap_dir: args.pcap.clone(),
            deadline: Some(Duration::from_secs(120)),
            connections: args.connections,
            ..Download::default()
        },
    )?;
    println!(
        "  downloaded {} bytes in {:.3} s: {:.2} Gb/s goodput, {} frames received, every byte {}",
        t.size,
        t.elapsed.as_secs_f64(),
        t.goodput_bps() / 1e9,
        t.client.rx_frames,
        if t.intact { "checked" } else { "NOT intact" }
    );
    if t.per_connection.len() > 1 {
        for (i, (elapsed, e)) in t.per_connection.iter().enumerate() {
            println!(
                "  connection {i}: last byte at {:.3} s, {} responses, {} timeouts, {} lost retransmissions, {} duplicate responses",
                elapsed.as_secs_f64(),
                e.responses,
                e.timeouts,
                e.lost_retransmissions,
                e.duplicate_responses
            );
        }
    }
    println!(
        "  server socket bound in {} mode (veth offers no zero-copy)",
        t.server_mode.as_str()
    );
    println!(
        "  server engine: {} requests, {} frames out, {} timeouts answered, {} packets dropped by its checks",
        t.server_engine.requests,
        t.server_engine.frames_out,
        t.server_engine.timeouts,
        t.server_engine.total_drops()
    );
    println!(
        "  server memory: {} KiB before the transfer, {} KiB after (keys, config and fixed tables only)",
        memory_before / 1024,
        t.server_memory_bytes / 1024
    );
    if let Some(dir) = &args.pcap {
        println!(
            "  frames written to {}/server.pcap and client.pcap",
            dir.display()
        );
    }
    let k = kernel_download(&pair, args.size, 5001)?;
    println!(
        "== kernel TCP on the same veth pair: {:.3} s, {:.2} Gb/s ({})",
        k.elapsed.as_secs_f64(),
        k.goodput_bps() / 1e9,
        if k.intact { "intact" } else { "NOT intact" }
    );
    let ok = t.intact && k.intact && memory_before == t.server_memory_bytes;
    println!(
        "summary: {} MB over AF_XDP between namespaces {}, trickles {:.2} Gb/s vs kernel TCP {:.2} Gb/s, server memory {} KiB flat",
        t.size / 1_000_000,
        if t.intact { "intact" } else { "CORRUPTED" },
        t.goodput_bps() / 1e9,
        k.goodput_bps() / 1e9,
        t.server_memory_bytes / 1024
    );
    Ok(ok)
}
