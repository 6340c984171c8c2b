//! The discrete-event simulator: hosts, routers, links and the event queue.
//!
//! Events are kept in a binary heap ordered by `(time, sequence number)`;
//! the sequence number is assigned when an event is scheduled, so events at
//! the same instant run in the order they were created and a run is a pure
//! function of the topology, the endpoints and the seed. The only source of
//! randomness is one `Pcg64Mcg` seeded from the run's seed.
//!
//! Routers forward by destination address, through one link or, for a
//! round-robin route ([`Simulator::add_round_robin_route`]), through each
//! of several links in turn. The network can change during a run: a
//! [`NetChange`] (a route replaced, a link down or up) is an event like any
//! other, scheduled with [`Simulator::schedule_change`].

use core::cmp::Ordering;
use core::fmt;
use core::net::Ipv4Addr;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, Write};

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

use crate::endpoint::{Endpoint, Tx};
use crate::link::{LinkConfig, LinkState, LinkStats};
use crate::packet::frame_dst_ipv4;
use crate::pcap::PcapWriter;
use crate::time::SimTime;
use crate::topology::HostAddr;

/// A host of this simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(usize);

/// A router of this simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterId(usize);

/// A link of this simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(usize);

impl HostId {
    /// Position in creation order.
    pub fn index(self) -> usize {
        self.0
    }
}
impl RouterId {
    /// Position in creation order.
    pub fn index(self) -> usize {
        self.0
    }
}
impl LinkId {
    /// Position in creation order.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Where a link ends (or starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeId {
    /// A host: runs an endpoint.
    Host(HostId),
    /// A router: forwards by destination IPv4 address.
    Router(RouterId),
}

impl From<HostId> for NodeId {
    fn from(h: HostId) -> NodeId {
        NodeId::Host(h)
    }
}
impl From<RouterId> for NodeId {
    fn from(r: RouterId) -> NodeId {
        NodeId::Router(r)
    }
}

/// Counters of one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostStats {
    /// Frames the endpoint sent.
    pub frames_sent: u64,
    /// Bytes the endpoint sent.
    pub bytes_sent: u64,
    /// Frames handed to the endpoint.
    pub frames_received: u64,
    /// Bytes handed to the endpoint.
    pub bytes_received: u64,
    /// Frames sent while the host had no outgoing link (discarded).
    pub tx_no_link: u64,
    /// IPv4 frames that arrived for another address (discarded).
    pub rx_not_mine: u64,
    /// Frames that arrived while no endpoint was attached (discarded).
    pub rx_no_endpoint: u64,
    /// `on_timer` calls.
    pub timers: u64,
}

/// Counters of one router.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouterStats {
    /// Frames forwarded.
    pub forwarded: u64,
    /// IPv4 frames with no route (discarded).
    pub no_route: u64,
    /// Frames that are not parseable IPv4 (discarded).
    pub not_ipv4: u64,
}

/// When [`Simulator::run`] should stop before the queue empties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopWhen {
    /// Every host with an endpoint reports `is_done` (the default).
    AllDone,
    /// Every listed host reports `is_done`.
    HostsDone(Vec<HostId>),
    /// Only when idle or at a limit.
    Never,
}

/// Bounds of one [`Simulator::run`] call. Both are absolute: a run
/// resumed with the same limits stops at the same point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLimits {
    /// No event later than this is processed.
    pub max_time: SimTime,
    /// At most this many events in the simulator's life.
    pub max_events: u64,
    /// The stop condition.
    pub stop: StopWhen,
}

impl Default for RunLimits {
    /// Ten minutes of simulated time, fifty million events, stop when all
    /// endpoints are done.
    fn default() -> RunLimits {
        RunLimits {
            max_time: SimTime::from_secs(600),
            max_events: 50_000_000,
            stop: StopWhen::AllDone,
        }
    }
}

/// Why [`Simulator::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The stop condition holds.
    Done,
    /// No event is left.
    Idle,
    /// The next event is past `max_time`.
    TimeLimit,
    /// `max_events` events have been processed.
    EventLimit,
}

impl StopReason {
    /// True for the two limits: the run was cut short.
    pub fn hit_limit(self) -> bool {
        matches!(self, StopReason::TimeLimit | StopReason::EventLimit)
    }
}

/// What [`Simulator::run`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunOutcome {
    /// Why it stopped.
    pub reason: StopReason,
    /// Simulated time at the stop.
    pub now: SimTime,
    /// Events processed in the simulator's life.
    pub events: u64,
}

enum EventKind {
    Arrive { node: NodeId, frame: Vec<u8> },
    Timer { host: HostId, generation: u64 },
    Offer { link: LinkId, frame: Vec<u8> },
    Change(NetChange),
}

struct Event {
    at: SimTime,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Host<'a> {
    name: String,
    addr: HostAddr,
    link: Option<LinkId>,
    endpoint: Option<Box<dyn Endpoint + 'a>>,
    started: bool,
    timer: Option<SimTime>,
    timer_generation: u64,
    done_at: Option<SimTime>,
    capture: bool,
    stats: HostStats,
}

struct Router {
    name: String,
    routes: BTreeMap<Ipv4Addr, Route>,
    default: Option<LinkId>,
    stats: RouterStats,
}

/// The next hops of one host route: one link, or several used in turn.
struct Route {
    links: Vec<LinkId>,
    /// Index into `links` of the next frame's link.
    next: usize,
}

impl Route {
    fn new(links: Vec<LinkId>) -> Route {
        Route { links, next: 0 }
    }

    /// The link for the next frame; advances the round-robin pointer.
    fn pick(&mut self) -> Option<LinkId> {
        let link = *self.links.get(self.next)?;
        self.next = (self.next + 1) % self.links.len();
        Some(link)
    }
}

/// A change to the network applied at a given simulated time
/// ([`Simulator::schedule_change`]) or at once ([`Simulator::apply_change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetChange {
    /// Route frames for `dst` at `router` out of `link` from now on,
    /// replacing any route for `dst` (a router redirecting a service
    /// address to another replica).
    Route {
        /// The router.
        router: RouterId,
        /// The destination address.
        dst: Ipv4Addr,
        /// The new next hop.
        link: LinkId,
    },
    /// Take a link down: from now on every frame offered to it is dropped
    /// ([`LinkStats::dropped_down`]). Frames it accepted earlier still
    /// arrive (they are already on the wire).
    LinkDown(LinkId),
    /// Bring a link back up.
    LinkUp(LinkId),
}

struct Link<'a> {
    name: String,
    from: NodeId,
    to: NodeId,
    state: LinkState<'a>,
}

struct Capture<'a> {
    writer: PcapWriter<Box<dyn Write + 'a>>,
    error: Option<io::Error>,
}

/// A seeded, deterministic discrete-event network simulator.
///
/// The lifetime `'a` bounds the endpoints, drop hooks and pcap writer lent
/// to it, so a caller can keep ownership of its endpoints and inspect them
/// after dropping the simulator.
pub struct Simulator<'a> {
    seed: u64,
    now: SimTime,
    seq: u64,
    events: u64,
    queue: BinaryHeap<Event>,
    rng: Pcg64Mcg,
    hosts: Vec<Host<'a>>,
    routers: Vec<Router>,
    links: Vec<Link<'a>>,
    capture: Option<Capture<'a>>,
    endpoints: usize,
    done: usize,
    tx: Tx,
    arrivals: Vec<SimTime>,
}

impl fmt::Debug for Simulator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("events", &self.events)
            .field("pending", &self.queue.len())
            .field("hosts", &self.hosts.len())
            .field("routers", &self.routers.len())
            .field("links", &self.links.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Simulator<'a> {
    /// An empty network whose randomness all comes from `seed`.
    pub fn new(seed: u64) -> Simulator<'a> {
        Simulator {
            seed,
            now: SimTime::ZERO,
            seq: 0,
            events: 0,
            queue: BinaryHeap::new(),
            rng: Pcg64Mcg::seed_from_u64(seed),
            hosts: Vec::new(),
            routers: Vec::new(),
            links: Vec::new(),
            capture: None,
            endpoints: 0,
            done: 0,
            tx: Tx::new(),
            arrivals: Vec::new(),
        }
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Current simulated time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Add a host with one network interface.
    pub fn add_host(&mut self, name: &str, addr: HostAddr) -> HostId {
        self.hosts.push(Host {
            name: name.to_owned(),
            addr,
            link: None,
            endpoint: None,
            started: false,
            timer: None,
            timer_generation: 0,
            done_at: None,
            capture: false,
            stats: HostStats::default(),
        });
        HostId(self.hosts.len() - 1)
    }

    /// Add a router (forwards frames unchanged by destination IPv4 address;
    /// no TTL decrement, no MAC rewrite, zero processing time).
    pub fn add_router(&mut self, name: &str) -> RouterId {
        self.routers.push(Router {
            name: name.to_owned(),
            routes: BTreeMap::new(),
            default: None,
            stats: RouterStats::default(),
        });
        RouterId(self.routers.len() - 1)
    }

    /// Add a unidirectional link. A link from a host becomes that host's
    /// outgoing interface (a host has exactly one; a later link replaces it).
    pub fn add_link(
        &mut self,
        name: &str,
        from: impl Into<NodeId>,
        to: impl Into<NodeId>,
        cfg: LinkConfig,
    ) -> LinkId {
        let (from, to) = (from.into(), to.into());
        let id = LinkId(self.links.len());
        self.links.push(Link {
            name: name.to_owned(),
            from,
            to,
            state: LinkState::new(cfg),
        });
        if let NodeId::Host(h) = from {
            self.hosts[h.0].link = Some(id);
        }
        id
    }

    /// Route frames for `dst` out of `link` at `router` (replacing any
    /// route for `dst`).
    pub fn add_route(&mut self, router: RouterId, dst: Ipv4Addr, link: LinkId) {
        self.routers[router.0]
            .routes
            .insert(dst, Route::new(vec![link]));
    }

    /// Route frames for `dst` at `router` out of each of `links` in turn,
    /// one frame per link, round-robin (a per-packet sprayer in front of
    /// replicas sharing one address). Replaces any route for `dst`; an
    /// empty `links` removes it.
    pub fn add_round_robin_route(&mut self, router: RouterId, dst: Ipv4Addr, links: &[LinkId]) {
        let routes = &mut self.routers[router.0].routes;
        if links.is_empty() {
            routes.remove(&dst);
        } else {
            routes.insert(dst, Route::new(links.to_vec()));
        }
    }

    /// The next hops of the route for `dst` at `router` (empty if none).
    pub fn route(&self, router: RouterId, dst: Ipv4Addr) -> &[LinkId] {
        self.routers[router.0]
            .routes
            .get(&dst)
            .map_or(&[], |r| r.links.as_slice())
    }

    /// Apply `change` now.
    pub fn apply_change(&mut self, change: NetChange) {
        match change {
            NetChange::Route { router, dst, link } => self.add_route(router, dst, link),
            NetChange::LinkDown(link) => self.links[link.0].state.up = false,
            NetChange::LinkUp(link) => self.links[link.0].state.up = true,
        }
    }

    /// Apply `change` at simulated time `at` (clamped to now). Changes
    /// scheduled for the same instant apply in the order they were
    /// scheduled, before any event at that instant scheduled later.
    pub fn schedule_change(&mut self, at: SimTime, change: NetChange) {
        let at = at.max(self.now);
        self.push(at, EventKind::Change(change));
    }

    /// True unless the link was taken down ([`NetChange::LinkDown`]).
    pub fn link_is_up(&self, link: LinkId) -> bool {
        self.links[link.0].state.up
    }

    /// Route frames that match no host route out of `link`.
    pub fn set_default_route(&mut self, router: RouterId, link: LinkId) {
        self.routers[router.0].default = Some(link);
    }

    /// Attach an endpoint to a host (replacing any previous one). Pass
    /// `&mut e` to keep ownership of `e`.
    pub fn set_endpoint(&mut self, host: HostId, endpoint: impl Endpoint + 'a) {
        let h = &mut self.hosts[host.0];
        if h.endpoint.is_none() {
            self.endpoints += 1;
        }
        if h.done_at.is_some() {
            self.done -= 1;
        }
        h.endpoint = Some(Box::new(endpoint));
        h.started = false;
        h.done_at = None;
        h.timer = None;
        h.timer_generation += 1;
    }

    /// Install an injected-fault hook on a link: every frame offered to the
    /// link is passed to it first, and dropped if it returns true.
    pub fn set_drop_hook(&mut self, link: LinkId, hook: impl FnMut(&[u8]) -> bool + 'a) {
        self.links[link.0].state.hook = Some(Box::new(hook));
    }

    /// Record frames to a pcap stream (the header is written now). Only
    /// hosts chosen with [`Simulator::capture_host`] are recorded.
    pub fn set_pcap(&mut self, w: impl Write + 'a) -> io::Result<()> {
        let boxed: Box<dyn Write + 'a> = Box::new(w);
        self.capture = Some(Capture {
            writer: PcapWriter::new(boxed)?,
            error: None,
        });
        Ok(())
    }

    /// Record every frame this host sends (when its endpoint hands it over)
    /// and every frame delivered to it (on arrival, before filtering).
    pub fn capture_host(&mut self, host: HostId) {
        self.hosts[host.0].capture = true;
    }

    /// Flush the pcap stream and detach it; returns the number of records,
    /// or the first write error.
    pub fn finish_pcap(&mut self) -> io::Result<u64> {
        match self.capture.take() {
            None => Ok(0),
            Some(Capture { error: Some(e), .. }) => Err(e),
            Some(Capture { writer, .. }) => {
                let n = writer.records();
                writer.into_inner()?;
                Ok(n)
            }
        }
    }

    /// A host's addresses.
    pub fn host_addr(&self, host: HostId) -> HostAddr {
        self.hosts[host.0].addr
    }

    /// A host's name.
    pub fn host_name(&self, host: HostId) -> &str {
        &self.hosts[host.0].name
    }

    /// A host's counters.
    pub fn host_stats(&self, host: HostId) -> &HostStats {
        &self.hosts[host.0].stats
    }

    /// When the host's endpoint first reported `is_done`.
    pub fn done_at(&self, host: HostId) -> Option<SimTime> {
        self.hosts[host.0].done_at
    }

    /// The endpoint attached to a host.
    pub fn endpoint(&self, host: HostId) -> Option<&(dyn Endpoint + 'a)> {
        self.hosts[host.0].endpoint.as_deref()
    }

    /// A router's name.
    pub fn router_name(&self, router: RouterId) -> &str {
        &self.routers[router.0].name
    }

    /// A router's counters.
    pub fn router_stats(&self, router: RouterId) -> &RouterStats {
        &self.routers[router.0].stats
    }

    /// A link's name.
    pub fn link_name(&self, link: LinkId) -> &str {
        &self.links[link.0].name
    }

    /// A link's endpoints.
    pub fn link_ends(&self, link: LinkId) -> (NodeId, NodeId) {
        (self.links[link.0].from, self.links[link.0].to)
    }

    /// A link's configuration.
    pub fn link_config(&self, link: LinkId) -> &LinkConfig {
        &self.links[link.0].state.cfg
    }

    /// A link's counters.
    pub fn link_stats(&self, link: LinkId) -> &LinkStats {
        &self.links[link.0].state.stats
    }

    /// Bytes waiting in a link's queue now.
    pub fn link_queue_bytes(&mut self, link: LinkId) -> u64 {
        let now = self.now;
        self.links[link.0].state.queued_bytes(now)
    }

    /// Offer a frame to a link at `at` (clamped to now), as if the link's
    /// source had sent it then.
    pub fn inject(&mut self, link: LinkId, at: SimTime, frame: Vec<u8>) {
        let at = at.max(self.now);
        self.push(at, EventKind::Offer { link, frame });
    }

    fn push(&mut self, at: SimTime, kind: EventKind) {
        self.seq += 1;
        self.queue.push(Event {
            at,
            seq: self.seq,
            kind,
        });
    }

    fn stop_holds(&self, stop: &StopWhen) -> bool {
        match stop {
            StopWhen::AllDone => self.endpoints > 0 && self.done == self.endpoints,
            StopWhen::HostsDone(hosts) => hosts.iter().all(|h| self.hosts[h.0].done_at.is_some()),
            StopWhen::Never => false,
        }
    }

    /// Run until the stop condition holds, the queue is empty, or a limit
    /// is reached. Endpoints not yet started get `on_start` first (in host
    /// order). May be called again to continue.
    pub fn run(&mut self, limits: &RunLimits) -> RunOutcome {
        for i in 0..self.hosts.len() {
            if self.hosts[i].endpoint.is_some() && !self.hosts[i].started {
                self.hosts[i].started = true;
                self.call(HostId(i), Call::Start);
            }
        }
        let reason = loop {
            if self.stop_holds(&limits.stop) {
                break StopReason::Done;
            }
            let Some(next) = self.queue.peek() else {
                break StopReason::Idle;
            };
            if next.at > limits.max_time {
                self.now = self.now.max(limits.max_time);
                break StopReason::TimeLimit;
            }
            if self.events >= limits.max_events {
                break StopReason::EventLimit;
            }
            let Some(ev) = self.queue.pop() else {
                break StopReason::Idle;
            };
            self.now = ev.at;
            self.events += 1;
            match ev.kind {
                EventKind::Arrive { node, frame } => self.arrive(node, frame),
                EventKind::Offer { link, frame } => self.offer(link, frame),
                EventKind::Change(change) => self.apply_change(change),
                EventKind::Timer { host, generation } => {
                    let h = &mut self.hosts[host.0];
                    if h.timer_generation == generation {
                        h.timer = None;
                        h.stats.timers += 1;
                        self.call(host, Call::Timer);
                    }
                }
            }
        };
        RunOutcome {
            reason,
            now: self.now,
            events: self.events,
        }
    }

    fn arrive(&mut self, node: NodeId, frame: Vec<u8>) {
        match node {
            NodeId::Router(r) => {
                let router = &mut self.routers[r.0];
                let Some(dst) = frame_dst_ipv4(&frame) else {
                    router.stats.not_ipv4 += 1;
                    return;
                };
                let link = match router.routes.get_mut(&dst) {
                    Some(route) => route.pick(),
                    None => router.default,
                };
                let Some(link) = link else {
                    router.stats.no_route += 1;
                    return;
                };
                router.stats.forwarded += 1;
                self.offer(link, frame);
            }
            NodeId::Host(h) => {
                let now = self.now;
                let host = &mut self.hosts[h.0];
                if host.capture {
                    capture(&mut self.capture, now, &frame);
                }
                if host.endpoint.is_none() {
                    host.stats.rx_no_endpoint += 1;
                    return;
                }
                if let Some(dst) = frame_dst_ipv4(&frame)
                    && dst != host.addr.ip
                {
                    host.stats.rx_not_mine += 1;
                    return;
                }
                host.stats.frames_received += 1;
                host.stats.bytes_received += frame.len() as u64;
                self.call(h, Call::Frame(&frame));
            }
        }
    }

    fn offer(&mut self, link: LinkId, frame: Vec<u8>) {
        let now = self.now;
        let mut arrivals = std::mem::take(&mut self.arrivals);
        arrivals.clear();
        let l = &mut self.links[link.0];
        l.state.offer(now, &frame, &mut self.rng, &mut arrivals);
        let node = l.to;
        if let Some((&last, rest)) = arrivals.split_last() {
            for &at in rest {
                let frame = frame.clone();
                self.push(at, EventKind::Arrive { node, frame });
            }
            self.push(last, EventKind::Arrive { node, frame });
        }
        self.arrivals = arrivals;
    }

    fn call(&mut self, h: HostId, call: Call<'_>) {
        let now = self.now;
        let mut tx = std::mem::take(&mut self.tx);
        let host = &mut self.hosts[h.0];
        let Some(ep) = host.endpoint.as_mut() else {
            self.tx = tx;
            return;
        };
        match call {
            Call::Start => ep.on_start(now, &mut tx),
            Call::Frame(f) => ep.on_frame(now, f, &mut tx),
            Call::Timer => ep.on_timer(now, &mut tx),
        }
        let want = ep.next_timer().map(|t| t.max(now));
        let done = ep.is_done();
        if host.done_at.is_none() && done {
            host.done_at = Some(now);
            self.done += 1;
        }
        let link = host.link;
        let cap = host.capture;
        if want != host.timer {
            host.timer = want;
            host.timer_generation += 1;
            let generation = host.timer_generation;
            if let Some(at) = want {
                self.push(
                    at,
                    EventKind::Timer {
                        host: h,
                        generation,
                    },
                );
            }
        }
        for frame in tx.drain() {
            let host = &mut self.hosts[h.0];
            host.stats.frames_sent += 1;
            host.stats.bytes_sent += frame.len() as u64;
            if cap {
                capture(&mut self.capture, now, &frame);
            }
            match link {
                Some(l) => self.offer(l, frame),
                None => self.hosts[h.0].stats.tx_no_link += 1,
            }
        }
        self.tx = tx;
    }
}

enum Call<'f> {
    Start,
    Frame(&'f [u8]),
    Timer,
}

fn capture(c: &mut Option<Capture<'_>>, now: SimTime, frame: &[u8]) {
    if let Some(c) = c
        && c.error.is_none()
        && let Err(e) = c.writer.write_frame(now, frame)
    {
        c.error = Some(e);
    }
}
