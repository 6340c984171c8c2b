//! Whole transfers between the two ends of a [`NetnsPair`]: a Trickles
//! download over AF_XDP (server in `b`, client in `a`, each behind its own
//! XDP program) and, as the baseline measured on the same pair, a kernel
//! TCP download. Used by the namespace tests, the datapath benchmark and
//! the demo. Every transfer is bounded in time and checks every byte
//! (the synthetic stream, `trickles_core::synthetic`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant as WallInstant};

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, ClientStats, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{ServerConfig, ServerStats, StreamServer};
use trickles_core::synthetic::{StreamApp, fill_stream, stream_mismatches, stream_request};
use trickles_wire::KeyEpoch;

use crate::neighbour;
use crate::netns::{End, NetnsPair};
use crate::pcap::PcapFile;
use crate::rawrate::{open_datapath, open_datapath_on};
use crate::socket::BindMode;
use crate::umem::UmemConfig;
use crate::worker::{DropFault, Worker, WorkerConfig, WorkerStats};

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
}

/// What a download did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    /// From the client's SYN to its last byte.
    pub elapsed: Duration,
    /// Every byte arrived, in order, as served.
    pub intact: bool,
    /// Bytes asked for.
    pub size: u64,
    /// Client worker counters.
    pub client: WorkerStats,
    /// Server worker counters.
    pub server: WorkerStats,
    /// Client engine counters.
    pub client_engine: ClientStats,
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
        let epoch = WallInstant::now();
        while !stop_server.load(Ordering::Relaxed) {
            if w.poll(now(epoch))? == 0 {
                w.wait(now(epoch), 1)?;
            }
        }
        w.flush_pcap()?;
        let engine = w.handler();
        Ok((
            w.stats(),
            engine.stats().clone(),
            engine.memory_bytes(),
            mode,
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
    let client = fetch(
        &pair.a,
        &pair.b,
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
        },
    )
    .map(|f| {
        let intact =
            f.complete && f.data.len() as u64 == size && stream_mismatches(SEED, 0, &f.data) == 0;
        (f.elapsed, intact, f.worker, f.engine)
    });
    stop.store(true, Ordering::Relaxed);
    let server = server.join()?;
    let (elapsed, intact, client_stats, client_engine) = client?;
    let (server_stats, server_engine, server_memory_bytes, server_mode) = server?;
    Ok(DownloadReport {
        elapsed,
        intact,
        size,
        client: client_stats,
        server: server_stats,
        client_engine,
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
}

/// What a fetch got.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// From the SYN to the last byte (or to giving up).
    pub elapsed: Duration,
    /// The whole response arrived.
    pub complete: bool,
    /// The response bytes received in order.
    pub data: Vec<u8>,
    /// Client worker counters.
    pub worker: WorkerStats,
    /// Client engine counters.
    pub engine: ClientStats,
}

/// From `client`'s namespace, fetch `f.request` from the Trickles server
/// at `server`'s address, port `f.port`, over AF_XDP.
pub fn fetch(client: &End, server: &End, f: &Fetch) -> io::Result<FetchReport> {
    let (a, b, f) = (client.clone(), server.clone(), f.clone());
    let thread = client.run(move || -> io::Result<FetchReport> {
        let (_prog, socket) = open_datapath_on(&a, CLIENT_PORT, UmemConfig::default(), 0, f.queue)?;
        let ends = Endpoints {
            local_mac: neighbour::mac_address(&a.ifname)?,
            remote_mac: neighbour::resolve_ipv4(&a.ifname, b.addr, Duration::from_secs(3))?,
            local: IpAddr::V4(a.addr),
            local_port: CLIENT_PORT,
            remote: IpAddr::V4(b.addr),
            remote_port: f.port,
        };
        let engine = Client::new(ClientConfig::default(), ends, 7, &f.request);
        let config = WorkerConfig {
            fault: f.fault,
            ..WorkerConfig::default()
        };
        let mut w = Worker::new(socket, engine, config);
        if let Some(p) = &f.pcap {
            w.set_pcap(PcapFile::create(p)?);
        }
        let epoch = WallInstant::now();
        w.start(|c, tx| c.start(now(epoch), tx))?;
        while !w.handler().is_done() && epoch.elapsed() < f.deadline {
            if w.poll(now(epoch))? == 0 {
                w.wait(now(epoch), 1)?;
            }
        }
        let elapsed = epoch.elapsed();
        w.flush_pcap()?;
        let c = w.handler();
        Ok(FetchReport {
            elapsed,
            complete: c.is_done(),
            data: c.data().to_vec(),
            worker: w.stats(),
            engine: c.stats().clone(),
        })
    })?;
    thread.join()?
}

/// What a kernel TCP download did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelReport {
    /// From connect to the last byte.
    pub elapsed: Duration,
    /// Every byte arrived as sent.
    pub intact: bool,
    /// Bytes.
    pub size: u64,
}

impl KernelReport {
    /// Goodput in bits per second.
    pub fn goodput_bps(&self) -> f64 {
        self.size as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Download `size` bytes of the same synthetic stream with the kernel's
/// TCP, server in `pair.b` on `port`, client in `pair.a`: the baseline of
/// the same veth pair (no XDP program attached while it runs).
pub fn kernel_download(pair: &NetnsPair, size: u64, port: u16) -> io::Result<KernelReport> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    let server = pair.b.run(move || -> io::Result<()> {
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
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 16];
        let mut off = 0u64;
        while off < size {
            let n = (size - off).min(buf.len() as u64) as usize;
            fill_stream(SEED, off, &mut buf[..n]);
            s.write_all(&buf[..n])?;
            off += n as u64;
        }
        Ok(())
    })?;
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| io::Error::other("the kernel TCP server did not start"))??;
    let addr = SocketAddr::from((pair.b.addr, port));
    let client = pair.a.run(move || -> io::Result<KernelReport> {
        let start = WallInstant::now();
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
        Ok(KernelReport {
            elapsed: start.elapsed(),
            intact: off == size && bad == 0,
            size,
        })
    })?;
    let report = client.join()??;
    server.join()??;
    Ok(report)
}
