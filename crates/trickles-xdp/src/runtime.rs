//! Running workers: one per receive queue, each pinned to its core, all
//! behind one XDP program on the interface (DESIGN.md "per-core workers").
//!
//! [`serve_queues`] attaches the program, opens one AF_XDP socket per
//! queue, binds each into the program's XSKMAP slot for its queue, and
//! runs a [`Worker`] per queue on its own thread until told to stop. The
//! workers share nothing but the read-only program and, for servers,
//! [`crate::keys::SharedKeys`].

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant as WallInstant;

use crate::clock::ServerClock;
use crate::neighbour;
use crate::pcap::PcapFile;
use crate::program::{ProgramError, SteeringProgram, XdpMode};
use crate::shared::Stats;
use crate::socket::{BindMode, ModeRequest, RingSizes, SocketConfig, XdpSocket};
use crate::umem::{Umem, UmemConfig};
use crate::worker::{FrameHandler, Worker, WorkerConfig, WorkerStats};

/// Pin the calling thread to CPU `core`.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if core >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no CPU {core}"),
        ));
    }
    // SAFETY: `core` is within the set's capacity (checked above).
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of
    // the size passed.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The number of receive queues of interface `ifname`, as the kernel
/// reports it (`ip -d -j link`, run in the calling thread's namespace).
pub fn rx_queue_count(ifname: &str) -> io::Result<u32> {
    let out = std::process::Command::new("ip")
        .args(["-d", "-j", "link", "show", "dev", ifname])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_num_rx_queues(&text).ok_or_else(|| {
        io::Error::other(format!(
            "no receive-queue count for {ifname}: {}",
            text.trim()
        ))
    })
}

fn parse_num_rx_queues(json: &str) -> Option<u32> {
    let key = "\"num_rx_queues\":";
    let at = json.find(key)? + key.len();
    let digits: String = json[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What to run, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlan {
    /// Interface name.
    pub ifname: String,
    /// Receive queues to serve (one worker each).
    pub queues: Vec<u32>,
    /// CPU of each worker, in the order of `queues` (shorter: the rest
    /// are not pinned).
    pub cores: Vec<usize>,
    /// Destination ports to steer.
    pub ports: Vec<u16>,
    /// XDP attach mode; `None`: driver mode, falling back to generic.
    pub xdp_mode: Option<XdpMode>,
    /// AF_XDP bind mode.
    pub bind: ModeRequest,
    /// UMEM of each worker.
    pub umem: UmemConfig,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// `XDP_MAX_TX_SKB_BUDGET` (0: kernel default).
    pub tx_budget: u32,
    /// Directory for one pcap file per worker (`queue-N.pcap`).
    pub pcap_dir: Option<std::path::PathBuf>,
}

impl QueuePlan {
    /// Serve `ports` on `queues` of `ifname` with the defaults: unpinned,
    /// XDP and AF_XDP modes chosen automatically, default UMEM and worker
    /// settings, no pcap.
    pub fn new(ifname: &str, queues: Vec<u32>, ports: Vec<u16>) -> QueuePlan {
        QueuePlan {
            ifname: ifname.to_owned(),
            queues,
            cores: Vec::new(),
            ports,
            xdp_mode: None,
            bind: ModeRequest::Auto,
            umem: UmemConfig::default(),
            worker: WorkerConfig::default(),
            tx_budget: 0,
            pcap_dir: None,
        }
    }
}

/// Sees the workers and the program while they run, about every
/// [`MONITOR_INTERVAL`]: for statistics endpoints. Called from the worker
/// threads (`worker`) and from the thread that runs [`serve_queues`]
/// (`program`), never per packet.
pub trait Monitor<H>: Sync {
    /// A worker's counters and engine.
    fn worker(&self, queue: u32, stats: &WorkerStats, handler: &H) {
        let _ = (queue, stats, handler);
    }
    /// The steering program's counters.
    fn program(&self, stats: &Stats) {
        let _ = stats;
    }
}

/// A [`Monitor`] that looks at nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMonitor;

impl<H> Monitor<H> for NoMonitor {}

/// How often a [`Monitor`] is called.
pub const MONITOR_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// What one worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueReport {
    /// Its queue.
    pub queue: u32,
    /// Its CPU, if pinned.
    pub core: Option<usize>,
    /// The socket's mode.
    pub mode: BindMode,
    /// Its counters.
    pub stats: WorkerStats,
}

fn to_io(e: ProgramError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Attach the steering program for `plan` and run one worker per queue,
/// each driving the engine `make(queue)` returns, until `stop` is set (or
/// every engine [`FrameHandler::is_done`]). Returns each worker's report
/// and engine. Call from a thread in the interface's namespace.
pub fn serve_queues<H: FrameHandler + Send>(
    plan: &QueuePlan,
    make: impl Fn(u32) -> H + Sync,
    stop: &AtomicBool,
) -> io::Result<Vec<(QueueReport, H)>> {
    serve_queues_started(plan, make, |_, _| {}, stop, &NoMonitor)
}

/// [`serve_queues`], calling `start(engine, tx)` on each worker before
/// its loop (a client sends its SYN there) and showing `monitor` the
/// counters as they run.
pub fn serve_queues_started<H: FrameHandler + Send>(
    plan: &QueuePlan,
    make: impl Fn(u32) -> H + Sync,
    start: impl Fn(&mut H, &mut dyn FnMut(&[u8])) + Sync,
    stop: &AtomicBool,
    monitor: &dyn Monitor<H>,
) -> io::Result<Vec<(QueueReport, H)>> {
    let ifindex = neighbour::ifindex(&plan.ifname)?;
    let mut prog = SteeringProgram::load().map_err(to_io)?;
    match plan.xdp_mode {
        Some(mode) => prog.attach(ifindex, mode).map_err(to_io)?,
        None => prog
            .attach(ifindex, XdpMode::Driver)
            .or_else(|_| prog.attach(ifindex, XdpMode::Skb))
            .map_err(to_io)?,
    }
    for &port in &plan.ports {
        prog.serve_port(port).map_err(to_io)?;
    }
    let mut sockets = Vec::with_capacity(plan.queues.len());
    for &queue in &plan.queues {
        let socket = XdpSocket::open(
            &SocketConfig {
                ifindex,
                queue,
                rings: RingSizes::default(),
                mode: plan.bind,
                tx_budget: plan.tx_budget,
            },
            Umem::new(plan.umem)?,
        )?;
        prog.bind_socket(queue, &socket).map_err(to_io)?;
        sockets.push((queue, socket));
    }
    let (make, start) = (&make, &start);
    let prog = &prog;
    std::thread::scope(|scope| {
        let handles = sockets
            .into_iter()
            .enumerate()
            .map(|(i, (queue, socket))| {
                let core = plan.cores.get(i).copied();
                let worker_config = plan.worker;
                let pcap_dir = plan.pcap_dir.as_deref();
                std::thread::Builder::new()
                    .name(format!("trickles-q{queue}"))
                    .spawn_scoped(scope, move || -> io::Result<(QueueReport, H)> {
                        if let Some(c) = core {
                            pin_current_thread(c)?;
                        }
                        let mode = socket.mode();
                        let mut w = Worker::new(socket, make(queue), worker_config);
                        if let Some(dir) = pcap_dir {
                            w.set_pcap(PcapFile::create(&dir.join(format!("queue-{queue}.pcap")))?);
                        }
                        w.start(|h, tx| start(h, tx))?;
                        // Every worker, restart and replica reads the
                        // same time base (docs/protocol.md §9.1).
                        let mut clock = ServerClock::new();
                        let mut next_tick = WallInstant::now();
                        while !stop.load(Ordering::Relaxed) && !w.handler().is_done() {
                            if w.poll(clock.now())? == 0 {
                                w.wait(clock.now(), 1)?;
                            }
                            if WallInstant::now() >= next_tick {
                                next_tick += MONITOR_INTERVAL;
                                monitor.worker(queue, &w.stats(), w.handler());
                            }
                        }
                        w.flush_pcap()?;
                        monitor.worker(queue, &w.stats(), w.handler());
                        let report = QueueReport {
                            queue,
                            core,
                            mode,
                            stats: w.stats(),
                        };
                        Ok((report, w.into_handler()))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(MONITOR_INTERVAL);
            if let Ok(stats) = prog.stats() {
                monitor.program(&stats);
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| io::Error::other("a worker panicked"))?
            })
            .collect::<io::Result<Vec<_>>>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_queue_count_from_ip_json() {
        let j = r#"[{"ifindex":2,"ifname":"veth-b","num_tx_queues":4,"num_rx_queues":2,"gso_max_size":65536}]"#;
        assert_eq!(parse_num_rx_queues(j), Some(2));
        assert_eq!(parse_num_rx_queues("[]"), None);
    }
}
