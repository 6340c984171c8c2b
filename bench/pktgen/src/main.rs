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
//! - `valid`: legitimate REQUESTs the server verifies and answers, minted
//!   with the server's key file (`--keys`; [`pktgen::valid`]). pktgen first
//!   sends one padded SYN from port 19999 and learns from the first answer
//!   packet the server's clock and the continuation's shape
//!   (docs/protocol.md §4.3, §5, §9); then each client (port 20000 + c,
//!   at most 45000) returns that continuation under its own connection id
//!   with a SACK proof of what it received (§6) and the re-sealed output
//!   continuation (§7, §8.2). Each frame gets the server's time and a new
//!   MAC as it goes out; a client sends at most once per server
//!   millisecond (the replay table would drop a second copy, §9), so the
//!   rate is at most `clients × 1000` pps.
//!
//! It prints sent and received pps and Gb/s once a second (received:
//! frames steered back to its ports, i.e. answers; in valid mode also the
//! RESPONSE frames among them), and a one-line JSON summary at the end.
//! Needs root. It attaches no XDP program when `--no-rx` is given (then
//! it only sends, and can share an interface with another AF_XDP user on
//! a different queue; not in valid mode, which needs the probe's answer).
//! The steering map holds 256 ports, so answers are seen only for the
//! first clients (255 in valid mode, whose probe port takes one).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use pktgen::valid;
use trickled::keyfile::KeyFile;
use trickles_core::synthetic::stream_request;
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
    /// SYNs carrying `GET /` (padded): new connections.
    Syn,
    /// REQUESTs with random continuations (bad MACs).
    Forged,
    /// Corrupted Trickles headers, checksums fixed.
    Malformed,
    /// The requests of a pcap file (--replay), as they are.
    Replay,
    /// Forged, malformed and replayed in turn.
    Mix,
    /// Legitimate REQUESTs, answered by the server: needs --keys.
    Valid,
}

/// Trickles packet generator on AF_XDP (root). Bounded by --seconds and
/// --count.
///
/// Valid mode (--mode valid --keys FILE) sends REQUESTs the server
/// verifies and answers, as an open-loop load generator. With the
/// server's key file (the TOML of `trickled keygen`) pktgen seals
/// continuations as the server would. It first sends one padded SYN from
/// port 19999 (its request: --request, or else the synthetic stream's
/// request for --stream-size bytes, seed --seed) and waits up to 2 s for
/// the first answer packet, which gives the server's clock and the shape
/// of its continuations and checks that the key file is the server's.
/// Then client c (source port 20000 + c mod 45000, source address --src
/// plus c / 45000, so up to 720000 clients) returns that continuation under its own connection id with a
/// SACK proof of the packet it received and the output continuation
/// re-sealed for it; each frame is stamped with the server's time and
/// sealed as it goes out. A client sends at most one request per
/// millisecond (a second would be a replay), so the rate is at most
/// clients × 1000 pps: raise --clients for more.
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
    /// Simulated clients: distinct source ports starting at 20000 (the port
    /// wraps after 65535). In valid mode each 45000 clients take the next
    /// source address after --src (at most 720000 clients); the receiving
    /// side then must accept those addresses (a veth peer does).
    #[arg(long, default_value_t = 1000)]
    clients: u32,
    /// The server's key file (TOML: epoch, server_key, app_key), for
    /// --mode valid.
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// Valid mode: the request the probe SYN carries (e.g. an HTTP GET for
    /// a web service) [default: a synthetic-stream request].
    #[arg(long, value_name = "TEXT")]
    request: Option<String>,
    /// Valid mode: length of the synthetic stream the default request asks
    /// for.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    stream_size: u64,
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
    /// Seed of the random bytes (and of valid mode's connection ids).
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
                let port = 20_000u16.wrapping_add(c as u16);
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
                let port = 20_000u16.wrapping_add(c as u16);
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
        // Minted as they go out (`pktgen::valid`).
        Mode::Valid => {}
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

/// Valid mode's probe (`pktgen::valid`): a padded SYN from the probe port,
/// sent again every half second, until the FIRST_RESPONSE of slot 1 comes
/// back, for at most 2 s.
fn probe(
    socket: &mut XdpSocket,
    tx_pool: &mut FramePool,
    rx_pool: &mut FramePool,
    ends: &valid::Endpoints,
    a: &Args,
    local_ms: &dyn Fn() -> u32,
) -> Result<valid::Probe, String> {
    let isn = mix(a.seed) as u32;
    let request = match &a.request {
        Some(r) => r.as_bytes().to_vec(),
        None => stream_request(a.stream_size, a.seed).to_vec(),
    };
    let syn = valid::probe_syn(ends, isn, &request)?;
    let start = Instant::now();
    let mut next_syn = start;
    while start.elapsed() < Duration::from_secs(2) {
        socket.complete(tx_pool, u32::MAX);
        if Instant::now() >= next_syn {
            next_syn += Duration::from_millis(500);
            let addr = tx_pool
                .alloc()
                .ok_or("no free TX frame for the probe SYN")?;
            socket
                .umem_mut()
                .bytes_mut(addr, syn.len())
                .ok_or("the probe SYN is longer than a frame")?
                .copy_from_slice(&syn);
            let mut d = Some(Desc {
                addr,
                len: syn.len() as u32,
                options: 0,
            });
            if socket.transmit(1, || d.take()) == 0 {
                tx_pool.release(addr);
            }
            socket.kick_tx().map_err(|e| e.to_string())?;
        }
        let free = rx_pool.len() as u32;
        socket.fill(rx_pool, free);
        let umem = socket.umem().clone();
        let now = local_ms();
        let mut found = Ok(None);
        socket.receive(256, |d| {
            if let (Ok(None), Some(f)) = (&found, umem.bytes(d.addr, d.len as usize)) {
                found = valid::Probe::from_frame(f, isn, now);
            }
            rx_pool.release(umem.frame_of(d.addr));
        });
        if let Some(p) = found? {
            return Ok(p);
        }
        socket.wait_rx(10).map_err(|e| e.to_string())?;
    }
    Err(format!(
        "no answer to the probe SYN from {} within 2 s (is a Trickles server serving that \
         port and answering its request, and do its answers arrive on queue {}?)",
        a.dst, a.queue
    ))
}

fn run(a: &Args) -> Result<String, String> {
    let keys = match a.mode {
        Mode::Valid => {
            let path = a
                .keys
                .as_ref()
                .ok_or("valid mode needs --keys FILE (the server's key file)")?;
            if a.no_rx {
                return Err(
                    "valid mode needs RX (the answer to its probe SYN): drop --no-rx".into(),
                );
            }
            if a.clients == 0 || a.clients > valid::MAX_CLIENTS {
                return Err(format!(
                    "--clients must be 1 to {} in valid mode",
                    valid::MAX_CLIENTS
                ));
            }
            Some(KeyFile::load(path)?)
        }
        _ => None,
    };
    if !trickles_xdp::running_as_root() {
        return Err("pktgen needs root (AF_XDP)".into());
    }
    let clock = Instant::now();
    let local_ms = || clock.elapsed().as_millis() as u32;
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
        let probe_port = (a.mode == Mode::Valid).then_some(valid::PROBE_PORT);
        let clients = (0..a.clients).map(|c| 20_000u16.wrapping_add(c as u16));
        // Only the first 256 ports fit the program's map.
        for port in probe_port
            .into_iter()
            .chain(clients)
            .take(trickles_xdp::shared::MAX_PORTS as usize)
        {
            p.serve_port(port).map_err(|e| e.to_string())?;
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
    // Valid mode: learn from the probe, then mint each frame as it goes.
    let mut minter = match &keys {
        Some(keys) => {
            let ends = valid::Endpoints {
                src_mac,
                dst_mac,
                src,
                dst: a.dst,
            };
            let p = probe(&mut socket, &mut tx_pool, &mut rx_pool, &ends, a, &local_ms)?;
            let m = valid::Minter::new(keys, &p, &ends, a.clients, a.seed)?;
            Some((m, p))
        }
        None => None,
    };
    let mut slots: Vec<(u64, u32)> = Vec::with_capacity(tx_pool.len());
    let mut t = 0usize;
    while let Some(addr) = tx_pool.alloc() {
        let len = match (&minter, templates.get(t % templates.len().max(1))) {
            (Some((m, _)), _) => m.frame_len(),
            (None, Some(f)) => {
                socket
                    .umem_mut()
                    .bytes_mut(addr, f.len())
                    .ok_or("template longer than a frame")?
                    .copy_from_slice(f);
                f.len()
            }
            (None, None) => return Err("no frame to send".into()),
        };
        slots.push((addr, len as u32));
        t += 1;
    }
    let lens: std::collections::HashMap<u64, u32> = slots.iter().copied().collect();
    // Frames go out in FIFO order, so every template is sent in turn (a
    // stack would resend the few most recently completed frames only).
    let mut fifo: std::collections::VecDeque<u64> = slots.iter().map(|(a, _)| *a).collect();
    // Valid mode: minted frames waiting for room on the TX ring.
    let mut ready: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
    // Long replays: frames written with their template, waiting for room.
    let mut ready_len: std::collections::VecDeque<(u64, u32)> = std::collections::VecDeque::new();
    let mut next_template = 0usize;
    let mut capped_warned = false;
    let start = Instant::now();
    let limit = Duration::from_secs_f64(a.seconds);
    let (mut sent, mut sent_bytes, mut received, mut answered) = (0u64, 0u64, 0u64, 0u64);
    let (mut last_report, mut last_sent, mut last_bytes, mut last_rx, mut last_answered) =
        (start, 0u64, 0u64, 0u64, 0u64);
    while sent < a.count && start.elapsed() < limit {
        socket.complete(&mut tx_pool, u32::MAX);
        while let Some(addr) = tx_pool.alloc() {
            fifo.push_back(addr);
        }
        if !a.no_rx {
            let free = rx_pool.len() as u32;
            socket.fill(&mut rx_pool, free);
            let umem = socket.umem().clone();
            let count_answers = minter.is_some();
            received += u64::from(socket.receive(256, |d| {
                if count_answers
                    && umem
                        .bytes(d.addr, d.len as usize)
                        .is_some_and(valid::is_response)
                {
                    answered += 1;
                }
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
            let n = if let Some((m, p)) = &mut minter {
                // Stamp and seal each frame now, with the server's clock.
                let server_ms = p.server_ms(local_ms());
                let len = m.frame_len();
                let mut umem = socket.umem().clone();
                while ready.len() < want as usize
                    && let Some(&addr) = fifo.front()
                {
                    let buf = umem
                        .bytes_mut(addr, len)
                        .ok_or("a request is longer than a frame")?;
                    if m.mint_next(server_ms, buf).is_none() {
                        if !capped_warned {
                            capped_warned = true;
                            eprintln!(
                                "pktgen: every client has sent in this millisecond: valid mode \
                                 sends at most {} kpps with {} clients (raise --clients)",
                                m.clients(),
                                m.clients()
                            );
                        }
                        break;
                    }
                    fifo.pop_front();
                    ready.push_back(addr);
                }
                socket.transmit(want, || {
                    let addr = ready.pop_front()?;
                    bytes += len as u64;
                    Some(Desc {
                        addr,
                        len: len as u32,
                        options: 0,
                    })
                })
            } else if templates.len() > slots.len() {
                // More templates than frames (a long replay): write the
                // next template into each frame as it goes out, so every
                // one is sent in turn.
                let mut umem = socket.umem().clone();
                while ready_len.len() < want as usize
                    && let Some(&addr) = fifo.front()
                {
                    let f = &templates[next_template % templates.len()];
                    umem.bytes_mut(addr, f.len())
                        .ok_or("template longer than a frame")?
                        .copy_from_slice(f);
                    next_template += 1;
                    fifo.pop_front();
                    ready_len.push_back((addr, f.len() as u32));
                }
                socket.transmit(want, || {
                    let (addr, len) = ready_len.pop_front()?;
                    bytes += u64::from(len);
                    Some(Desc {
                        addr,
                        len,
                        options: 0,
                    })
                })
            } else {
                socket.transmit(want, || {
                    let addr = fifo.pop_front()?;
                    let len = lens.get(&addr).copied().unwrap_or(0);
                    bytes += u64::from(len);
                    Some(Desc {
                        addr,
                        len,
                        options: 0,
                    })
                })
            };
            sent += u64::from(n);
            sent_bytes += bytes;
            socket.kick_tx().map_err(|e| e.to_string())?;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            let secs = last_report.elapsed().as_secs_f64();
            let answers = if minter.is_some() {
                format!(
                    ", answered {:.1} kpps",
                    (answered - last_answered) as f64 / secs / 1e3
                )
            } else {
                String::new()
            };
            eprintln!(
                "pktgen: sent {:.1} kpps {:.3} Gb/s, received {:.1} kpps{answers}",
                (sent - last_sent) as f64 / secs / 1e3,
                (sent_bytes - last_bytes) as f64 * 8.0 / secs / 1e9,
                (received - last_rx) as f64 / secs / 1e3
            );
            (last_report, last_sent, last_bytes, last_rx, last_answered) =
                (Instant::now(), sent, sent_bytes, received, answered);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(prog);
    let (distinct, answered) = match &minter {
        Some((m, _)) => (m.clients(), format!(",\"answered\":{answered}")),
        None => (templates.len(), String::new()),
    };
    Ok(format!(
        "{{\"mode\":\"{:?}\",\"clients\":{},\"distinct_frames\":{distinct},\"seconds\":{secs:.3},\"sent\":{sent},\"sent_pps\":{:.0},\"sent_gbps\":{:.3},\"received\":{received}{answered},\"mode_afxdp\":\"{}\"}}",
        a.mode,
        a.clients,
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
