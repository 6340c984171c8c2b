//! The client side of the tools (`trickles get`, `trickles proxy`): one
//! datapath thread per process runs every Trickles client engine of the
//! process over AF_XDP on the interface that routes to the server, and
//! hands each fetch's bytes to whoever asked for them through a channel.
//!
//! - The route (interface, source address, next hop) comes from the
//!   kernel (`ip route get`); the next hop's MAC from its ARP table
//!   (`trickles_xdp::neighbour`), so nothing is configured by hand.
//! - Each fetch gets its own local port, reserved from the kernel by
//!   binding an ordinary TCP socket to it for as long as the fetch lasts
//!   (the kernel then gives that port to no one else), and added to the
//!   XDP program's ports while it runs.
//! - A server that does not answer the Trickles SYN within
//!   [`FALLBACK_AFTER`] (a plain TCP server whose kernel answers the SYN
//!   with a SYN-ACK or a reset, which this client never sees) makes the
//!   fetch report [`FetchEvent::Fallback`]; the caller then uses ordinary
//!   TCP and logs that it did.
//! - A fetch that makes no progress for [`STALL_AFTER`] fails with an
//!   error (e.g. the file changed under the server's continuation, which
//!   the server refuses to regenerate).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant as WallInstant};

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_xdp::runtime::rx_queue_count;
use trickles_xdp::{
    FrameHandler, ModeRequest, RingSizes, SocketConfig, SteeringProgram, Umem, UmemConfig, Worker,
    WorkerConfig, XdpMode, XdpSocket, neighbour,
};

use crate::services::dst_port;

/// No answer to the Trickles SYN for this long: fall back to TCP.
pub const FALLBACK_AFTER: Duration = Duration::from_millis(1500);
/// No new byte for this long: give up.
pub const STALL_AFTER: Duration = Duration::from_secs(15);

/// How to reach a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Interface the route leaves by.
    pub ifname: String,
    /// Our address on it.
    pub src: Ipv4Addr,
    /// The next hop (the server itself, or the gateway).
    pub next_hop: Ipv4Addr,
}

/// The kernel's route to `dst` (`ip -j route get`).
pub fn route_to(dst: Ipv4Addr) -> io::Result<Route> {
    let out = std::process::Command::new("ip")
        .args(["-j", "route", "get", &dst.to_string()])
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running `ip route get` (iproute2): {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_route(&text, dst).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no route to {dst}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        )
    })
}

fn json_str<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let k = format!("\"{key}\":\"");
    let at = json.find(&k)? + k.len();
    json[at..].split('"').next()
}

fn parse_route(json: &str, dst: Ipv4Addr) -> Option<Route> {
    let ifname = json_str(json, "dev")?.to_owned();
    let src = json_str(json, "prefsrc")?.parse().ok()?;
    let next_hop = match json_str(json, "gateway") {
        Some(g) => g.parse().ok()?,
        None => dst,
    };
    Some(Route {
        ifname,
        src,
        next_hop,
    })
}

/// What a fetch reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// The response's length, once the server has said it.
    Total(u64),
    /// The next bytes of the response.
    Data(Vec<u8>),
    /// Every byte arrived.
    Done,
    /// The server did not speak Trickles: use ordinary TCP.
    Fallback,
    /// The fetch failed.
    Failed(String),
}

/// One fetch to run.
#[derive(Debug)]
pub struct Job {
    /// The server.
    pub server: SocketAddrV4,
    /// The request (rides in the SYN).
    pub request: Vec<u8>,
    /// Where the fetch's events go.
    pub events: Sender<FetchEvent>,
}

/// A fetch in progress.
struct Slot {
    client: Client,
    port: u16,
    /// Holds the port so that the kernel gives it to no one else.
    _reservation: TcpListener,
    events: Sender<FetchEvent>,
    started: WallInstant,
    last_progress: WallInstant,
    progress: u64,
    total_sent: bool,
    answered: bool,
    finished: bool,
}

/// Every client engine of the process, dispatched by local port.
#[derive(Default)]
pub struct ClientMux {
    slots: Vec<Slot>,
}

impl std::fmt::Debug for ClientMux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMux")
            .field(
                "fetches",
                &self.slots.iter().map(|s| s.port).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ClientMux {
    fn now_check(&mut self) -> Vec<u16> {
        let mut finished = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        for s in &mut self.slots {
            if s.finished {
                continue;
            }
            if !s.total_sent
                && let Some(t) = s.client.total_len()
            {
                s.total_sent = true;
                let _ = s.events.send(FetchEvent::Total(t));
            }
            loop {
                let n = s.client.read(&mut buf);
                if n == 0 {
                    break;
                }
                s.progress += n as u64;
                s.last_progress = WallInstant::now();
                let _ = s.events.send(FetchEvent::Data(buf[..n].to_vec()));
            }
            let ev = if s.client.is_eof() {
                Some(FetchEvent::Done)
            } else if !s.answered && s.started.elapsed() >= FALLBACK_AFTER {
                Some(FetchEvent::Fallback)
            } else if s.answered && s.last_progress.elapsed() >= STALL_AFTER {
                Some(FetchEvent::Failed(format!(
                    "no progress for {} s after {} bytes (the server refuses to answer: did the file change?)",
                    STALL_AFTER.as_secs(),
                    s.progress
                )))
            } else {
                None
            };
            if let Some(ev) = ev {
                let _ = s.events.send(ev);
                s.finished = true;
                finished.push(s.port);
            }
        }
        self.slots.retain(|s| !s.finished);
        finished
    }
}

/// The mux as each worker's engine (one thread: `Rc<RefCell<_>>`); only
/// the first worker fires timers.
struct MuxRef {
    mux: Rc<RefCell<ClientMux>>,
    timers: bool,
}

impl FrameHandler for MuxRef {
    fn on_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8])) {
        let port = dst_port(frame);
        let mut mux = self.mux.borrow_mut();
        if let Some(s) = mux.slots.iter_mut().find(|s| Some(s.port) == port) {
            s.answered = true;
            s.client.on_frame(now, frame, tx);
        }
    }

    fn on_timer(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        for s in &mut self.mux.borrow_mut().slots {
            if s.client.next_timer().is_some_and(|t| t <= now) {
                s.client.on_timer(now, tx);
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        if !self.timers {
            return None;
        }
        self.mux
            .borrow()
            .slots
            .iter()
            .filter_map(|s| s.client.next_timer())
            .min()
    }
}

/// Start the datapath thread for `route`; it runs the jobs sent to the
/// returned sender and ends when the sender is dropped and its fetches
/// are over. Fails if the datapath cannot be set up (not root, XDP
/// refused, no ARP answer from the next hop).
pub fn start(route: &Route) -> io::Result<(Sender<Job>, std::thread::JoinHandle<()>)> {
    let (jobs_tx, jobs_rx) = channel::<Job>();
    let (ready_tx, ready_rx) = channel::<io::Result<()>>();
    let route = route.clone();
    let handle = std::thread::Builder::new()
        .name("trickles-datapath".into())
        .spawn(move || {
            if let Err(e) = run(&route, &jobs_rx, &ready_tx) {
                let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                tracing::error!(error = %e, "datapath stopped");
            }
        })?;
    ready_rx
        .recv()
        .map_err(|_| io::Error::other("the datapath thread died"))??;
    Ok((jobs_tx, handle))
}

fn xdp_err(e: trickles_xdp::ProgramError) -> io::Error {
    io::Error::other(e.to_string())
}

fn run(route: &Route, jobs: &Receiver<Job>, ready: &Sender<io::Result<()>>) -> io::Result<()> {
    if !trickles_xdp::running_as_root() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the Trickles client runs on AF_XDP and needs root",
        ));
    }
    let ifindex = neighbour::ifindex(&route.ifname)?;
    let local_mac = neighbour::mac_address(&route.ifname)?;
    let remote_mac =
        neighbour::resolve_ipv4(&route.ifname, route.next_hop, Duration::from_secs(3))?;
    let mut prog = SteeringProgram::load().map_err(xdp_err)?;
    prog.attach(ifindex, XdpMode::Driver)
        .or_else(|_| prog.attach(ifindex, XdpMode::Skb))
        .map_err(xdp_err)?;
    let mux = Rc::new(RefCell::new(ClientMux::default()));
    let mut workers = Vec::new();
    for queue in 0..rx_queue_count(&route.ifname)?.max(1) {
        let socket = XdpSocket::open(
            &SocketConfig {
                ifindex,
                queue,
                rings: RingSizes::default(),
                mode: ModeRequest::Auto,
                tx_budget: 0,
            },
            Umem::new(UmemConfig::default())?,
        )?;
        prog.bind_socket(queue, &socket).map_err(xdp_err)?;
        let handler = MuxRef {
            mux: mux.clone(),
            timers: queue == 0,
        };
        workers.push(Worker::new(socket, handler, WorkerConfig::default()));
    }
    let _ = ready.send(Ok(()));
    let epoch = WallInstant::now();
    let now = || Instant(epoch.elapsed().as_micros() as u64);
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut closed = false;
    loop {
        loop {
            match jobs.try_recv() {
                Ok(j) => pending.push_back(j),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        while let Some(job) = pending.pop_front() {
            if let Err(e) = begin(
                &mut prog,
                &mut workers[0],
                &mux,
                job,
                route,
                local_mac,
                remote_mac,
                now(),
            ) {
                tracing::warn!(error = %e, "cannot start a fetch");
            }
        }
        let mut busy = 0;
        for w in &mut workers {
            busy += w.poll(now())?;
        }
        for port in mux.borrow_mut().now_check() {
            let _ = prog.unserve_port(port);
        }
        if closed && mux.borrow().slots.is_empty() {
            return Ok(());
        }
        if busy == 0 {
            let idle_ms = if mux.borrow().slots.is_empty() { 20 } else { 1 };
            workers[0].wait(now(), idle_ms)?;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn begin(
    prog: &mut SteeringProgram,
    worker: &mut Worker<MuxRef>,
    mux: &Rc<RefCell<ClientMux>>,
    job: Job,
    route: &Route,
    local_mac: [u8; 6],
    remote_mac: [u8; 6],
    now: Instant,
) -> io::Result<()> {
    let reservation = TcpListener::bind((route.src, 0))?;
    let port = reservation.local_addr()?.port();
    if let Err(e) = prog.serve_port(port) {
        let msg = format!("cannot steer port {port}: {e}");
        let _ = job.events.send(FetchEvent::Failed(msg.clone()));
        return Err(io::Error::other(msg));
    }
    let ends = Endpoints {
        local_mac,
        remote_mac,
        local: route.src.into(),
        local_port: port,
        remote: (*job.server.ip()).into(),
        remote_port: job.server.port(),
    };
    let isn = (now.0 as u32) ^ u32::from(port).rotate_left(16);
    let client = Client::new(ClientConfig::default(), ends, isn, &job.request);
    let started = WallInstant::now();
    mux.borrow_mut().slots.push(Slot {
        client,
        port,
        _reservation: reservation,
        events: job.events,
        started,
        last_progress: started,
        progress: 0,
        total_sent: false,
        answered: false,
        finished: false,
    });
    worker.start(|h, tx| {
        let mut m = h.mux.borrow_mut();
        if let Some(s) = m.slots.last_mut() {
            s.client.start(now, tx);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_route_from_ip_json() {
        let direct = r#"[{"dst":"10.77.0.2","dev":"veth-a","prefsrc":"10.77.0.1","flags":[],"uid":0,"cache":[]}]"#;
        let via = r#"[{"dst":"8.8.8.8","gateway":"10.0.0.1","dev":"eth0","prefsrc":"10.0.0.5","flags":[],"uid":0,"cache":[]}]"#;
        let r = parse_route(direct, Ipv4Addr::new(10, 77, 0, 2)).unwrap_or_else(|| unreachable!());
        assert_eq!(
            (r.ifname.as_str(), r.next_hop),
            ("veth-a", Ipv4Addr::new(10, 77, 0, 2))
        );
        let r = parse_route(via, Ipv4Addr::new(8, 8, 8, 8)).unwrap_or_else(|| unreachable!());
        assert_eq!(
            (r.src, r.next_hop),
            (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 1))
        );
        assert!(parse_route("[]", Ipv4Addr::LOCALHOST).is_none());
    }
}
