//! `pktgen`: a Trickles packet generator on AF_XDP TX (issue 6).
//!
//! Sends Trickles segments from many simulated clients (distinct source
//! ports) to one server as fast as the TX ring takes them, or at a set
//! rate, for a bounded time and count. Modes:
//!
//! - `syn`: SYNs carrying a request (`GET /`, padded): legitimate new
//!   connections, each answered by the server.
//! - `forged`: REQUESTs whose continuation is random bytes (bad MACs).
//! - `malformed`: marked segments whose Trickles header is corrupted
//!   (random bytes over a valid SYN's header, checksums fixed).
//! - `replay`: the Trickles frames of a pcap file (e.g. a worker's
//!   `--pcap-dir` capture of real requests), resent as they are.
//! - `mix`: forged, malformed and replayed (if `--replay` is given) in turn.
//!
//! It prints sent and received pps and Gb/s once a second (received:
//! frames steered back to its ports, i.e. answers), and a one-line JSON
//! summary at the end. Needs root. It attaches no XDP program when
//! `--no-rx` is given (then it only sends, and can share an interface
//! with another AF_XDP user on a different queue).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::SackProof;
use trickles_wire::trickles::{Body, Flags, Packet, Request, Syn, Versions};
use trickles_xdp::{
    Desc, FramePool, ModeRequest, RingSizes, SocketConfig, SteeringProgram, Umem, UmemConfig,
    XdpMode, XdpSocket, neighbour,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Syn,
    Forged,
    Malformed,
    Replay,
    Mix,
}

/// Trickles packet generator on AF_XDP (root). Bounded by --seconds and
/// --count.
#[derive(Parser, Debug)]
#[command(name = "pktgen", version, about, long_about)]
struct Args {
    /// Interface to send on (in the current network namespace).
    #[arg(long, short = 'i')]
    interface: String,
    /// TX queue (and AF_XDP socket) to use.
    #[arg(long, default_value_t = 0)]
    queue: u32,
    /// The server, IPv4:PORT.
    #[arg(long)]
    dst: std::net::SocketAddrV4,
    /// Our source address [default: the interface's route to --dst].
    #[arg(long)]
    src: Option<Ipv4Addr>,
    /// What to send.
    #[arg(long, value_enum, default_value = "syn")]
    mode: Mode,
    /// Simulated clients: distinct source ports starting at 20000.
    #[arg(long, default_value_t = 1000)]
    clients: u16,
    /// pcap file whose Trickles frames `replay` resends.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Frames per second (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Stop after this many frames.
    #[arg(long, default_value_t = u64::MAX)]
    count: u64,
    /// Only send: attach no XDP program, count no answers.
    #[arg(long)]
    no_rx: bool,
    /// Seed of the random bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn headers(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    a: &Args,
    port: u16,
    flags: u8,
) -> Headers {
    Headers {
        src_mac,
        dst_mac,
        src: IpAddr::V4(src),
        dst: IpAddr::V4(*a.dst.ip()),
        tcp: TcpFields {
            src_port: port,
            dst_port: a.dst.port(),
            seq: u32::from(port) << 8,
            ack: 1,
            flags,
            window: 65535,
        },
        ttl: 64,
    }
}

/// The frames of `mode`, one per simulated client (and per replayed frame).
fn frames(
    a: &Args,
    mode: Mode,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    match mode {
        Mode::Syn | Mode::Malformed => {
            for c in 0..a.clients {
                let port = 20_000u16.wrapping_add(c);
                let p = Packet {
                    flags: Flags(0),
                    body: Body::Syn(Syn {
                        versions: Versions::SUPPORTED,
                        mss: 1456,
                    }),
                    data: b"GET / HTTP/1.1\r\nHost: pktgen\r\n\r\n",
                    padding: 900,
                };
                let n = frame::emit(
                    &headers(src_mac, dst_mac, src, a, port, flags::SYN),
                    &p,
                    &mut buf,
                )
                .map_err(|e| format!("{e:?}"))?;
                let mut f = buf[..n].to_vec();
                if mode == Mode::Malformed {
                    // Scramble 8 bytes of the Trickles header (after the
                    // marker option), then fix the TCP checksum so that only
                    // the Trickles layer is wrong.
                    let tcp = 14 + 20;
                    let start = tcp + 24;
                    let r = mix(a.seed ^ u64::from(c)).to_le_bytes();
                    f[start..start + 8].copy_from_slice(&r);
                    let pseudo = trickles_wire::checksum::pseudo_header_v4(
                        src,
                        *a.dst.ip(),
                        6,
                        (n - tcp) as u16,
                    );
                    trickles_wire::tcp::Packet::new_unchecked(&mut f[tcp..]).fill_checksum(pseudo);
                }
                out.push(f);
            }
        }
        Mode::Forged => {
            for c in 0..a.clients {
                let port = 20_000u16.wrapping_add(c);
                let mut cont = [0u8; 76];
                for (i, chunk) in cont.chunks_mut(8).enumerate() {
                    let r = mix(a.seed ^ (u64::from(c) << 8) ^ i as u64).to_le_bytes();
                    chunk.copy_from_slice(&r[..chunk.len()]);
                }
                cont[0] = 1; // a plausible epoch
                cont[1] = 0; // mode NORMAL
                let p = Packet {
                    flags: Flags(0),
                    body: Body::Request(Request {
                        continuation: &cont,
                        previous: None,
                        sack: SackProof::empty(),
                        user_conts: List::empty(),
                    }),
                    data: &[],
                    padding: 0,
                };
                let n = frame::emit(
                    &headers(src_mac, dst_mac, src, a, port, flags::ACK),
                    &p,
                    &mut buf,
                )
                .map_err(|e| format!("{e:?}"))?;
                out.push(buf[..n].to_vec());
            }
        }
        Mode::Replay => {
            let path = a.replay.as_ref().ok_or("replay needs --replay FILE")?;
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut i = 24;
            while i + 16 <= bytes.len() {
                let incl =
                    u32::from_le_bytes([bytes[i + 8], bytes[i + 9], bytes[i + 10], bytes[i + 11]])
                        as usize;
                let Some(f) = bytes.get(i + 16..i + 16 + incl) else {
                    break;
                };
                // Only the requests towards the server.
                if let Ok(p) = frame::parse(f)
                    && p.tcp.dst_port == a.dst.port()
                    && matches!(p.trickles.body, Body::Request(_))
                {
                    out.push(f.to_vec());
                }
                i += 16 + incl;
            }
            if out.is_empty() {
                return Err(format!(
                    "{}: no Trickles request to port {} in it",
                    path.display(),
                    a.dst.port()
                ));
            }
        }
        Mode::Mix => {
            out.extend(frames(a, Mode::Forged, src_mac, dst_mac, src)?);
            out.extend(frames(a, Mode::Malformed, src_mac, dst_mac, src)?);
            if a.replay.is_some() {
                out.extend(frames(a, Mode::Replay, src_mac, dst_mac, src)?);
            }
        }
    }
    Ok(out)
}

fn run(a: &Args) -> Result<String, String> {
    if !trickles_xdp::running_as_root() {
        return Err("pktgen needs root (AF_XDP)".into());
    }
    let ifindex = neighbour::ifindex(&a.interface).map_err(|e| e.to_string())?;
    let src_mac = neighbour::mac_address(&a.interface).map_err(|e| e.to_string())?;
    let src = match a.src {
        Some(s) => s,
        None => {
            let out = std::process::Command::new("ip")
                .args(["-j", "route", "get", &a.dst.ip().to_string()])
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let key = "\"prefsrc\":\"";
            let at = text.find(key).ok_or("no route to --dst; give --src")? + key.len();
            text[at..]
                .split('"')
                .next()
                .unwrap_or("")
                .parse()
                .map_err(|_| "cannot read the source address; give --src")?
        }
    };
    let dst_mac = neighbour::resolve_ipv4(&a.interface, *a.dst.ip(), Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    let templates = frames(a, a.mode, src_mac, dst_mac, src)?;
    let mut prog = None;
    if !a.no_rx {
        let mut p = SteeringProgram::load().map_err(|e| e.to_string())?;
        p.attach(ifindex, XdpMode::Driver)
            .or_else(|_| p.attach(ifindex, XdpMode::Skb))
            .map_err(|e| e.to_string())?;
        for c in 0..a.clients {
            // Only the first 256 ports fit the program's map.
            if u32::from(c) >= trickles_xdp::shared::MAX_PORTS {
                break;
            }
            p.serve_port(20_000u16.wrapping_add(c))
                .map_err(|e| e.to_string())?;
        }
        prog = Some(p);
    }
    let mut socket = XdpSocket::open(
        &SocketConfig {
            ifindex,
            queue: a.queue,
            rings: RingSizes::default(),
            mode: ModeRequest::Auto,
            tx_budget: 0,
        },
        Umem::new(UmemConfig::default()).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("AF_XDP socket on {} queue {}: {e}", a.interface, a.queue))?;
    if let Some(p) = &mut prog {
        p.bind_socket(a.queue, &socket).map_err(|e| e.to_string())?;
    }
    // Half the frames hold the templates round-robin (sent and re-sent as
    // they complete), half receive.
    let frames_total = socket.umem().config().frame_count;
    let mut tx_pool = FramePool::with_frames(socket.umem(), frames_total / 2..frames_total);
    let mut rx_pool = FramePool::with_frames(socket.umem(), 0..frames_total / 2);
    let mut slots: Vec<(u64, u32)> = Vec::with_capacity(tx_pool.len());
    let mut t = 0usize;
    while let Some(addr) = tx_pool.alloc() {
        let f = &templates[t % templates.len()];
        socket
            .umem_mut()
            .bytes_mut(addr, f.len())
            .ok_or("template longer than a frame")?
            .copy_from_slice(f);
        slots.push((addr, f.len() as u32));
        t += 1;
    }
    let lens: std::collections::HashMap<u64, u32> = slots.iter().copied().collect();
    // Frames go out in FIFO order, so every template is sent in turn (a
    // stack would resend the few most recently completed frames only).
    let mut fifo: std::collections::VecDeque<u64> = slots.iter().map(|(a, _)| *a).collect();
    let start = Instant::now();
    let limit = Duration::from_secs_f64(a.seconds);
    let (mut sent, mut sent_bytes, mut received) = (0u64, 0u64, 0u64);
    let (mut last_report, mut last_sent, mut last_bytes, mut last_rx) = (start, 0u64, 0u64, 0u64);
    while sent < a.count && start.elapsed() < limit {
        socket.complete(&mut tx_pool, u32::MAX);
        while let Some(addr) = tx_pool.alloc() {
            fifo.push_back(addr);
        }
        if !a.no_rx {
            let free = rx_pool.len() as u32;
            socket.fill(&mut rx_pool, free);
            let umem = socket.umem().clone();
            received += u64::from(socket.receive(256, |d| {
                rx_pool.release(umem.frame_of(d.addr));
            }));
        }
        let allowed = if a.rate == 0 {
            u64::MAX
        } else {
            (start.elapsed().as_secs_f64() * a.rate as f64) as u64
                - sent.min((start.elapsed().as_secs_f64() * a.rate as f64) as u64)
        };
        let want = allowed.min(a.count - sent).min(256) as u32;
        if want > 0 {
            let mut bytes = 0u64;
            let n = socket.transmit(want, || {
                let addr = fifo.pop_front()?;
                let len = lens.get(&addr).copied().unwrap_or(0);
                bytes += u64::from(len);
                Some(Desc {
                    addr,
                    len,
                    options: 0,
                })
            });
            sent += u64::from(n);
            sent_bytes += bytes;
            socket.kick_tx().map_err(|e| e.to_string())?;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            let secs = last_report.elapsed().as_secs_f64();
            eprintln!(
                "pktgen: sent {:.1} kpps {:.3} Gb/s, received {:.1} kpps",
                (sent - last_sent) as f64 / secs / 1e3,
                (sent_bytes - last_bytes) as f64 * 8.0 / secs / 1e9,
                (received - last_rx) as f64 / secs / 1e3
            );
            (last_report, last_sent, last_bytes, last_rx) =
                (Instant::now(), sent, sent_bytes, received);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(prog);
    Ok(format!(
        "{{\"mode\":\"{:?}\",\"clients\":{},\"distinct_frames\":{},\"seconds\":{secs:.3},\"sent\":{sent},\"sent_pps\":{:.0},\"sent_gbps\":{:.3},\"received\":{received},\"mode_afxdp\":\"{}\"}}",
        a.mode,
        a.clients,
        templates.len(),
        sent as f64 / secs,
        sent_bytes as f64 * 8.0 / secs / 1e9,
        socket.mode().as_str()
    ))
}

fn main() -> ExitCode {
    let a = Args::parse();
    match run(&a) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pktgen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn malformed_frames_fail_to_parse_and_forged_ones_parse() {
        let a = Args::parse_from([
            "pktgen",
            "-i",
            "x",
            "--dst",
            "10.0.0.2:80",
            "--clients",
            "50",
        ]);
        let src = Ipv4Addr::new(10, 0, 0, 1);
        for f in frames(&a, Mode::Malformed, [2; 6], [3; 6], src).unwrap() {
            let r = frame::parse(&f);
            assert!(
                r.is_err(),
                "a malformed frame parsed: {:?}",
                r.map(|p| p.trickles.body.packet_type())
            );
        }
        for f in frames(&a, Mode::Forged, [2; 6], [3; 6], src).unwrap() {
            assert!(frame::parse(&f).is_ok());
        }
    }
}
