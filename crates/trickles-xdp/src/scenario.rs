//! Whole transfers between the two ends of a [`NetnsPair`]: a Trickles
//! download over AF_XDP (server in `b`, client in `a`, each behind its own
//! XDP program) and, as the baseline measured on the same pair, a kernel
//! TCP download. Used by the namespace tests, the datapath benchmark and
//! the demo. Every transfer is bounded in time and checks every byte
//! (the synthetic stream, `trickles_core::synthetic`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant as WallInstant};

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, ClientStats, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{ServerConfig, ServerStats, StreamServer};
use trickles_core::synthetic::{StreamApp, fill_stream, stream_mismatches, stream_request};
use trickles_wire::KeyEpoch;

use crate::clock::ServerClock;
use crate::neighbour;
use crate::netns::{End, NetnsPair};
use crate::pcap::PcapFile;
use crate::rawrate::{open_datapath, open_datapath_on};
use crate::socket::BindMode;
use crate::umem::UmemConfig;
use crate::worker::{DropFault, FrameHandler, Worker, WorkerConfig, WorkerStats};

/// The server's Trickles port.
pub const SERVER_PORT: u16 = 80;
/// The client's port.
pub const CLIENT_PORT: u16 = 40000;
/// Seed of the synthetic stream served.
pub const SEED: u64 = 42;

/// What to download and how.
#[derive(Debug, Clone, Default)]
pub struct Download {
    /// Bytes.
    pub size: u64,
    /// Receive loss injected on both workers.
    pub fault: Option<DropFault>,
    /// Directory for `server.pcap` and `client.pcap`, if any.
    pub pcap_dir: Option<PathBuf>,
    /// Give up after this long (default two minutes).
    pub deadline: Option<Duration>,
    /// Concurrent connections, each downloading `size` bytes (0 means 1).
    pub connections: usize,
}

/// What a download did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    /// From the client's SYN to its last byte.
    pub elapsed: Duration,
    /// Every byte of every connection arrived, in order, as served.
    pub intact: bool,
    /// Bytes asked for, over all connections.
    pub size: u64,
    /// Concurrent connections.
    pub connections: usize,
    /// CPU time (user and system) of the server's worker thread.
    pub server_cpu: Duration,
    /// Client worker counters.
    pub client: WorkerStats,
    /// Server worker counters.
    pub server: WorkerStats,
    /// Client engine counters (the first connection's).
    pub client_engine: ClientStats,
    /// Each connection's time to its last byte and engine counters.
    pub per_connection: Vec<(Duration, ClientStats)>,
    /// Server engine counters.
    pub server_engine: ServerStats,
    /// Bytes the server engine holds (fixed at start-up).
    pub server_memory_bytes: usize,
    /// The server socket's AF_XDP mode.
    pub server_mode: BindMode,
}

impl DownloadReport {
    /// Goodput in bits per second.
    pub fn goodput_bps(&self) -> f64 {
        self.size as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The demo server's engine (fixed demo keys: never use them for real).
pub fn demo_server() -> StreamServer<StreamApp> {
    StreamServer::new(
        ServerConfig {
            port: SERVER_PORT,
            ..ServerConfig::default()
        },
        KeyRing::new(ServerKeys::from_master(
            KeyEpoch(1),
            &MasterKey::new(*b"trickles-demo-k1"),
        )),
        KeyRing::new(AppKey::from_master(
            KeyEpoch(1),
            &MasterKey::new(*b"trickles-demo-a1"),
        )),
        StreamApp,
    )
}

fn now(epoch: WallInstant) -> Instant {
    Instant(epoch.elapsed().as_micros() as u64)
}

/// Download `d.size` bytes of the synthetic stream from a Trickles server
/// in `pair.b` to a client in `pair.a`, both on AF_XDP.
pub fn download(pair: &NetnsPair, d: &Download) -> io::Result<DownloadReport> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    let (server_end, stop_server) = (pair.b.clone(), stop.clone());
    let server_pcap = d.pcap_dir.as_ref().map(|p| p.join("server.pcap"));
    let client_pcap = d.pcap_dir.as_ref().map(|p| p.join("client.pcap"));
    let fault = d.fault;
    let server = pair.b.run(move || -> io::Result<_> {
        let setup = || -> io::Result<_> {
            let (prog, socket) = open_datapath(&server_end, SERVER_PORT, UmemConfig::default(), 0)?;
            let mode = socket.mode();
            let config = WorkerConfig {
                fault,
                ..WorkerConfig::default()
            };
            let mut w = Worker::new(socket, demo_server(), config);
            if let Some(p) = &server_pcap {
                w.set_pcap(PcapFile::create(p)?);
            }
            Ok((prog, w, mode))
        };
        let (_prog, mut w, mode) = match setup() {
            Ok(x) => x,
            Err(e) => {
                let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e);
            }
        };
        let _ = ready_tx.send(Ok(()));
        let mut clock = ServerClock::new();
        let cpu_start = thread_cpu_time();
        while !stop_server.load(Ordering::Relaxed) {
            if w.poll(clock.now())? == 0 {
                w.wait(clock.now(), 1)?;
            }
        }
        let cpu = thread_cpu_time().saturating_sub(cpu_start);
        w.flush_pcap()?;
        let engine = w.handler();
        Ok((
            w.stats(),
            engine.stats().clone(),
            engine.memory_bytes(),
            mode,
            cpu,
        ))
    })?;
    let ready = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| io::Error::other("the server did not start"))
        .and_then(|r| r);
    if let Err(e) = ready {
        stop.store(true, Ordering::Relaxed);
        let _ = server.join();
        return Err(e);
    }

    let size = d.size;
    let connections = d.connections.max(1);
    let client = fetch_many(
        &pair.a,
        pair.b.addr,
        &Fetch {
            port: SERVER_PORT,
            request: stream_request(size, SEED).to_vec(),
            fault: fault.map(|f| DropFault {
                seed: f.seed ^ 1,
                ..f
            }),
            pcap: client_pcap,
            deadline: d.deadline.unwrap_or(Duration::from_secs(120)),
            queue: 0,
            watch: None,
        },
        connections,
    )
    .map(|fs| {
        let intact = fs.iter().all(|f| {
            f.complete && f.data.len() as u64 == size && stream_mismatches(SEED, 0, &f.data) == 0
        });
        let elapsed = fs.iter().map(|f| f.elapsed).max().unwrap_or_default();
        let (worker, engine) = fs
            .first()
            .map(|f| (f.worker, f.engine.clone()))
            .unwrap_or_default();
        let per_connection = fs.iter().map(|f| (f.elapsed, f.engine.clone())).collect();
        (elapsed, intact, worker, engine, per_connection)
    });
    stop.store(true, Ordering::Relaxed);
    let server = server.join()?;
    let (elapsed, intact, client_stats, client_engine, per_connection) = client?;
    let (server_stats, server_engine, server_memory_bytes, server_mode, server_cpu) = server?;
    Ok(DownloadReport {
        elapsed,
        intact,
        size: size * connections as u64,
        connections,
        server_cpu,
        client: client_stats,
        server: server_stats,
        client_engine,
        per_connection,
        server_engine,
        server_memory_bytes,
        server_mode,
    })
}

/// One fetch by a Trickles client on AF_XDP.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The server's port.
    pub port: u16,
    /// The request (rides in the SYN).
    pub request: Vec<u8>,
    /// Receive loss injected on the client.
    pub fault: Option<DropFault>,
    /// pcap file of the client's frames.
    pub pcap: Option<PathBuf>,
    /// Give up after this long.
    pub deadline: Duration,
    /// The client's receive (and transmit) queue.
    pub queue: u32,
    /// Kept up to date with the bytes received in order so far, over all
    /// connections, for a watcher on another thread (e.g. a test that
    /// restarts the server in the middle).
    pub watch: Option<Arc<AtomicU64>>,
}

impl Fetch {
    /// `size` bytes of the synthetic stream `seed` from [`SERVER_PORT`]:
    /// no injected loss, no pcap, queue 0, two minutes to finish.
    pub fn stream(size: u64, seed: u64) -> Fetch {
        Fetch {
            port: SERVER_PORT,
            request: stream_request(size, seed).to_vec(),
            fault: None,
            pcap: None,
            deadline: Duration::from_secs(120),
            queue: 0,
            watch: None,
        }
    }
}

/// What a fetch got.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// From the SYN to the last byte (or to giving up).
    pub elapsed: Duration,
    /// The whole response arrived.
    pub complete: bool,
    /// The response bytes received in order (the contiguous prefix).
    pub data: Vec<u8>,
    /// Client worker counters.
    pub worker: WorkerStats,
    /// Client engine counters.
    pub engine: ClientStats,
    /// Bytes received in order over time: (time since the SYN, bytes),
    /// sampled at most once a millisecond, and at the end.
    pub progress: Vec<(Duration, u64)>,
}

impl FetchReport {
    /// The longest time between the first and the last byte during which
    /// no new byte arrived in order: a restart's or failover's stall.
    pub fn longest_stall(&self) -> Duration {
        self.progress
            .windows(2)
            .map(|w| w[1].0.saturating_sub(w[0].0))
            .max()
            .unwrap_or_default()
    }
}

/// From `client`'s namespace, fetch `f.request` from the Trickles server
/// at `server`'s address, port `f.port`, over AF_XDP.
pub fn fetch(client: &End, server: &End, f: &Fetch) -> io::Result<FetchReport> {
    fetch_many(client, server.addr, f, 1)?
        .pop()
        .ok_or_else(|| io::Error::other("no fetch ran"))
}

/// [`fetch`] from the server at address `remote` (which may be a service
/// address shared by replicas) over `n` concurrent connections from one
/// worker (local ports `CLIENT_PORT`, `CLIENT_PORT + 1`, ...), each asking
/// `f.request`. Each report's `worker` holds the shared worker's counters;
/// its `elapsed` ends when that connection got its last byte.
pub fn fetch_many(
    client: &End,
    remote: Ipv4Addr,
    f: &Fetch,
    n: usize,
) -> io::Result<Vec<FetchReport>> {
    let n = n.clamp(1, usize::from(u16::MAX - CLIENT_PORT));
    let run = ClientRun {
        remote_port: f.port,
        local_ports: (0..n).map(|i| CLIENT_PORT + i as u16).collect(),
        fault: f.fault,
        pcap: f.pcap.clone(),
        deadline: f.deadline,
        queue: f.queue,
    };
    let request = f.request.clone();
    let watch = f.watch.clone();
    let make = move |ends: Endpoints| {
        let clients = (0..n)
            .map(|i| {
                let ends = Endpoints {
                    local_port: CLIENT_PORT + i as u16,
                    ..ends
                };
                Client::new(ClientConfig::default(), ends, 7 + i as u32, &request)
            })
            .collect();
        let mut c = Clients::new(CLIENT_PORT, clients);
        c.watch = watch;
        c
    };
    let driven = drive(client, remote, &run, make, Clients::start)?;
    let (worker, end, mut c) = (driven.worker, driven.elapsed, driven.handler);
    let progress = std::mem::take(&mut c.progress);
    Ok(c.clients
        .iter()
        .zip(&c.finished)
        .zip(progress)
        .map(|((c, done), progress)| FetchReport {
            elapsed: done.unwrap_or(end),
            complete: c.is_done(),
            data: c.data()[..(c.delivered() as usize).min(c.data().len())].to_vec(),
            worker,
            engine: c.stats().clone(),
            progress: progress
                .into_iter()
                .map(|(t, b)| (Duration::from_micros(t), b))
                .collect(),
        })
        .collect())
}

/// Where and how [`drive`] runs client engines.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// The server's port.
    pub remote_port: u16,
    /// Local ports steered to the worker (at least one; at most
    /// [`crate::shared::MAX_PORTS`] in all with the program's others).
    pub local_ports: Vec<u16>,
    /// Receive loss injected on the client.
    pub fault: Option<DropFault>,
    /// pcap file of the client's frames.
    pub pcap: Option<PathBuf>,
    /// Stop after this long even if the engines are not done.
    pub deadline: Duration,
    /// The client's receive (and transmit) queue.
    pub queue: u32,
}

/// What [`drive`] hands back.
#[derive(Debug)]
pub struct Driven<H> {
    /// The engines, as they ended.
    pub handler: H,
    /// The worker's counters.
    pub worker: WorkerStats,
    /// From the start to the end of the run.
    pub elapsed: Duration,
}

/// In `client`'s namespace, run client engines over AF_XDP against the
/// server at address `remote`: steer `run.local_ports` to one worker,
/// build its engines with `make` (given the connection's ends, local port
/// 0: each engine sets its own), let `start` send their first frames,
/// then poll until they are done ([`FrameHandler::is_done`]) or
/// `run.deadline` passes. The clock the engines see starts at 0 at the
/// start of the run.
pub fn drive<H, M, S>(
    client: &End,
    remote: Ipv4Addr,
    run: &ClientRun,
    make: M,
    start: S,
) -> io::Result<Driven<H>>
where
    H: FrameHandler + Send + 'static,
    M: FnOnce(Endpoints) -> H + Send + 'static,
    S: FnOnce(&mut H, Instant, &mut dyn FnMut(&[u8])) + Send + 'static,
{
    let (a, run) = (client.clone(), run.clone());
    let Some((&first_port, more_ports)) = run.local_ports.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a client run needs at least one local port",
        ));
    };
    let more_ports = more_ports.to_vec();
    let thread = client.run(move || -> io::Result<Driven<H>> {
        let (mut prog, socket) =
            open_datapath_on(&a, first_port, UmemConfig::default(), 0, run.queue)?;
        for &port in &more_ports {
            prog.serve_port(port)
                .map_err(|e| io::Error::other(format!("steering local port {port}: {e}")))?;
        }
        let local_mac = neighbour::mac_address(&a.ifname)?;
        let remote_mac = neighbour::resolve_ipv4(
            &a.ifname,
            a.gateway.unwrap_or(remote),
            Duration::from_secs(3),
        )?;
        let ends = Endpoints {
            local_mac,
            remote_mac,
            local: IpAddr::V4(a.addr),
            local_port: 0,
            remote: IpAddr::V4(remote),
            remote_port: run.remote_port,
        };
        let config = WorkerConfig {
            fault: run.fault,
            ..WorkerConfig::default()
        };
        let mut w = Worker::new(socket, make(ends), config);
        if let Some(p) = &run.pcap {
            w.set_pcap(PcapFile::create(p)?);
        }
        let epoch = WallInstant::now();
        w.start(|h, tx| start(h, now(epoch), tx))?;
        while !w.handler().is_done() && epoch.elapsed() < run.deadline {
            if w.poll(now(epoch))? == 0 {
                w.wait(now(epoch), 1)?;
            }
        }
        let elapsed = epoch.elapsed();
        w.flush_pcap()?;
        let worker = w.stats();
        Ok(Driven {
            handler: w.into_handler(),
            worker,
            elapsed,
        })
    })?;
    thread.join()?
}

/// Several Trickles client engines behind one worker, told apart by their
/// local port (`first_port + index`).
#[derive(Debug)]
pub struct Clients {
    first_port: u16,
    clients: Vec<Client>,
    finished: Vec<Option<Duration>>,
    /// Per client: (µs since the start, bytes in order) samples.
    progress: Vec<Vec<(u64, u64)>>,
    /// Bytes in order over all clients, for a watcher.
    watch: Option<Arc<AtomicU64>>,
}

impl Clients {
    /// The engines; engine `i` has local port `first_port + i`.
    pub fn new(first_port: u16, clients: Vec<Client>) -> Clients {
        let finished = vec![None; clients.len()];
        let progress = vec![Vec::new(); clients.len()];
        Clients {
            first_port,
            clients,
            finished,
            progress,
            watch: None,
        }
    }

    /// Send every engine's SYN.
    pub fn start(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        for c in &mut self.clients {
            c.start(now, tx);
        }
    }
}

/// The TCP destination port of an untagged Ethernet + IPv4 frame.
fn ipv4_tcp_dst_port(frame: &[u8]) -> Option<u16> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
    let at = 14 + ihl + 2;
    Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
}

impl FrameHandler for Clients {
    fn on_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8])) {
        let Some(port) = ipv4_tcp_dst_port(frame) else {
            return;
        };
        let i = usize::from(port.wrapping_sub(self.first_port));
        if let (Some(c), Some(finished), Some(progress)) = (
            self.clients.get_mut(i),
            self.finished.get_mut(i),
            self.progress.get_mut(i),
        ) {
            let before = c.delivered();
            c.on_frame(now, frame, tx);
            let after = c.delivered();
            if after > before {
                // One sample a millisecond, and the last byte's.
                match progress.last_mut() {
                    Some(last) if now.0 < last.0 + 1_000 && !c.is_done() => last.1 = after,
                    _ => progress.push((now.0, after)),
                }
                if let Some(w) = &self.watch {
                    w.fetch_add(after - before, Ordering::Relaxed);
                }
            }
            if finished.is_none() && c.is_done() {
                *finished = Some(Duration::from_micros(now.0));
            }
        }
    }

    fn on_timer(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        for c in &mut self.clients {
            if c.next_timer().is_some_and(|t| t <= now) {
                c.on_timer(now, tx);
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.clients.iter().filter_map(Client::next_timer).min()
    }

    fn is_done(&self) -> bool {
        self.clients.iter().all(Client::is_done)
    }
}

/// This machine for a results file: CPU model, core count and kernel.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {kernel}")
}

/// CPU time (user and system) the calling thread has used.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration;
    // CLOCK_THREAD_CPUTIME_ID needs no other argument.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What a kernel TCP download did.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelReport {
    /// From the first connect to the last byte.
    pub elapsed: Duration,
    /// Every byte of every connection arrived as sent.
    pub intact: bool,
    /// Bytes, over all connections.
    pub size: u64,
    /// CPU time (user and system) of the server's sending threads,
    /// including the kernel's TCP work done in their context.
    pub server_cpu: Duration,
}

impl KernelReport {
    /// Goodput in bits per second.
    pub fn goodput_bps(&self) -> f64 {
        self.size as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A kernel TCP download: the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelDownload {
    /// Bytes per connection.
    pub size: u64,
    /// The server's port.
    pub port: u16,
    /// Concurrent connections (0 means 1).
    pub connections: usize,
    /// The sender's congestion control (`TCP_CONGESTION`, e.g. "reno",
    /// "cubic"); `None` keeps the namespace's default.
    pub congestion: Option<String>,
}

/// Download `size` bytes of the same synthetic stream with the kernel's
/// TCP, server in `pair.b` on `port`, client in `pair.a`: the baseline of
/// the same veth pair (no XDP program attached while it runs).
pub fn kernel_download(pair: &NetnsPair, size: u64, port: u16) -> io::Result<KernelReport> {
    kernel_download_with(
        pair,
        &KernelDownload {
            size,
            port,
            connections: 1,
            congestion: None,
        },
    )
}

/// Set a kernel TCP socket's congestion control (`TCP_CONGESTION`).
pub fn set_congestion(s: &TcpStream, name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the pointer and length describe `name`'s bytes, which live
    // for the call; the descriptor is an open TCP socket.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(
            e.kind(),
            format!("TCP_CONGESTION {name}: {e}"),
        ))
    }
}

/// [`kernel_download`] with `k.connections` concurrent connections and a
/// chosen congestion control.
pub fn kernel_download_with(pair: &NetnsPair, k: &KernelDownload) -> io::Result<KernelReport> {
    let (size, port, n) = (k.size, k.port, k.connections.max(1));
    let congestion = k.congestion.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    let server = pair.b.run(move || -> io::Result<Duration> {
        let listener = match TcpListener::bind(("0.0.0.0", port)) {
            Ok(l) => {
                let _ = ready_tx.send(Ok(()));
                l
            }
            Err(e) => {
                let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e);
            }
        };
        let mut senders = Vec::with_capacity(n);
        for _ in 0..n {
            let (mut s, _) = listener.accept()?;
            if let Some(cc) = &congestion {
                set_congestion(&s, cc)?;
            }
            senders.push(std::thread::spawn(move || -> io::Result<Duration> {
                let cpu = thread_cpu_time();
                let mut buf = vec![0u8; 1 << 16];
                let mut off = 0u64;
                while off < size {
                    let n = (size - off).min(buf.len() as u64) as usize;
                    fill_stream(SEED, off, &mut buf[..n]);
                    s.write_all(&buf[..n])?;
                    off += n as u64;
                }
                Ok(thread_cpu_time().saturating_sub(cpu))
            }));
        }
        let mut cpu = Duration::ZERO;
        for t in senders {
            cpu += t
                .join()
                .map_err(|_| io::Error::other("a sender thread panicked"))??;
        }
        Ok(cpu)
    })?;
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| io::Error::other("the kernel TCP server did not start"))??;
    let addr = SocketAddr::from((pair.b.addr, port));
    let client = pair.a.run(move || -> io::Result<(Duration, bool)> {
        let start = WallInstant::now();
        let readers: Vec<_> = (0..n)
            .map(|_| {
                std::thread::spawn(move || -> io::Result<bool> {
                    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
                    s.set_read_timeout(Some(Duration::from_secs(30)))?;
                    let mut buf = vec![0u8; 1 << 16];
                    let (mut off, mut bad) = (0u64, 0u64);
                    while off < size {
                        let n = s.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        bad += stream_mismatches(SEED, off, &buf[..n]);
                        off += n as u64;
                    }
                    Ok(off == size && bad == 0)
                })
            })
            .collect();
        let mut intact = true;
        for r in readers {
            intact &= r
                .join()
                .map_err(|_| io::Error::other("a reader thread panicked"))??;
        }
        Ok((start.elapsed(), intact))
    })?;
    let (elapsed, intact) = client.join()??;
    let server_cpu = server.join()??;
    Ok(KernelReport {
        elapsed,
        intact,
        size: size * n as u64,
        server_cpu,
    })
}
