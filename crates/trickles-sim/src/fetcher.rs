//! Clients that fetch one object after another, each over a fresh
//! connection, as the clients of the paper's throughput test do (§6.1,
//! Fig. 9: "repeatedly fetched a 500 kB file from the server. A fresh
//! connection was established for each request"), and a Reno server that
//! accepts any number of such connections.
//!
//! * [`TricklesFetcher`]: a new `trickles_core` client per object, started
//!   in the same callback in which the previous one completes.
//! * [`RenoFetcher`] and [`RenoServer`]: the same with the reference Reno
//!   receiver, and one [`RenoSender`] per connection on the server.
//!
//! Fetch `n` of a client uses its own client port, initial sequence number
//! and stream seed ([`FetchId::of`]), so a late frame of an earlier fetch
//! can never be taken for data of the current one, and every completed
//! object is checked byte by byte against the stream it asked for.

use core::net::Ipv4Addr;
use core::time::Duration;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::endpoint::{Endpoint, Tx};
use crate::packet::{mix, parse_tcp_frame, stream_mismatches};
use crate::reno::{RenoConfig, RenoReceiver, RenoSender};
use crate::time::SimTime;
use crate::topology::{Flow, HostAddr};
use crate::trickles_pair::{self, TricklesClient};
use trickles_wire::tcp::flags;

/// Fetch `n` uses client port `base + n mod PORT_SPAN`.
pub const PORT_SPAN: u16 = 20_000;

/// What identifies one fetch: its client port, its initial sequence
/// number, and the seed of the stream it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FetchId {
    /// Client port.
    pub port: u16,
    /// The client's initial sequence number.
    pub isn: u32,
    /// Seed of the object's stream ([`object_seed`]).
    pub seed: u64,
}

impl FetchId {
    /// Fetch `n` of the client of `flow` in a run seeded `run_seed`. The
    /// port counts up from `flow.client_port`, wrapping after
    /// [`PORT_SPAN`] fetches.
    pub fn of(flow: &Flow, run_seed: u64, n: u64) -> FetchId {
        let port = flow
            .client_port
            .wrapping_add((n % u64::from(PORT_SPAN)) as u16);
        let ip = u64::from(u32::from(flow.client.ip));
        let isn = mix(run_seed ^ mix(ip ^ mix(n))) as u32;
        FetchId {
            port,
            isn,
            seed: object_seed(run_seed, flow.client.ip, port, isn),
        }
    }
}

/// The stream seed of the object fetched from `client:port` by a
/// connection whose initial sequence number is `isn`: the Reno server
/// derives it from the SYN, as the Trickles client names it in its request.
pub fn object_seed(run_seed: u64, client: Ipv4Addr, port: u16, isn: u32) -> u64 {
    let who = (u64::from(u32::from(client)) << 16) | u64::from(port);
    mix(run_seed ^ mix(who) ^ mix(u64::from(isn) << 1 | 1))
}

/// Counters of a fetcher.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FetchStats {
    /// Fetches started (connections opened).
    pub started: u64,
    /// Objects received completely.
    pub completed: u64,
    /// Bytes of completed objects.
    pub completed_bytes: u64,
    /// Completed objects with a byte that differs from their stream.
    pub corrupt: u64,
    /// Sum of the completed fetches' times (connection start to last
    /// byte), in ns.
    pub fetch_ns: u64,
}

impl FetchStats {
    /// Mean time of a completed fetch, in ms.
    pub fn mean_fetch_ms(&self) -> Option<f64> {
        (self.completed > 0).then(|| self.fetch_ns as f64 / self.completed as f64 / 1e6)
    }

    fn complete(&mut self, bytes: u64, intact: bool, took: Duration) {
        self.completed += 1;
        self.completed_bytes += bytes;
        self.corrupt += u64::from(!intact);
        self.fetch_ns = self
            .fetch_ns
            .saturating_add(crate::time::duration_nanos(took));
    }
}

/// A client host fetching `object_bytes` from one Trickles server over and
/// over, a fresh `trickles_core` client (new port, ISN and stream) per
/// object, from `start_at` on.
#[derive(Debug)]
pub struct TricklesFetcher {
    flow: Flow,
    object_bytes: u64,
    run_seed: u64,
    start_at: SimTime,
    current: Option<(FetchId, SimTime, TricklesClient)>,
    stats: FetchStats,
}

impl TricklesFetcher {
    /// A fetcher for `flow` (its `client_port` is the first fetch's port)
    /// that opens its first connection at `start_at`.
    pub fn new(flow: Flow, object_bytes: u64, run_seed: u64, start_at: SimTime) -> TricklesFetcher {
        TricklesFetcher {
            flow,
            object_bytes,
            run_seed,
            start_at,
            current: None,
            stats: FetchStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &FetchStats {
        &self.stats
    }

    /// In-order bytes received: every completed object, plus the
    /// contiguous prefix of the fetch in progress.
    pub fn delivered(&self) -> u64 {
        self.stats.completed_bytes + self.current.as_ref().map_or(0, |c| c.2.client.delivered())
    }

    /// Every completed object was intact, and so is the received prefix of
    /// the fetch in progress.
    pub fn bytes_ok(&self) -> bool {
        self.stats.corrupt == 0
            && self.current.as_ref().is_none_or(|(id, _, c)| {
                let c = &c.client;
                let held = usize::try_from(c.delivered()).unwrap_or(usize::MAX);
                let prefix = c.data().get(..held).unwrap_or(c.data());
                prefix.len() == held && stream_mismatches(id.seed, 0, prefix) == 0
            })
    }

    fn begin(&mut self, now: SimTime, tx: &mut Tx) {
        let id = FetchId::of(&self.flow, self.run_seed, self.stats.started);
        self.stats.started += 1;
        let flow = Flow {
            client_port: id.port,
            ..self.flow
        };
        let mut c = trickles_pair::client(flow, id.isn, self.object_bytes, id.seed);
        c.on_start(now, tx);
        self.current = Some((id, now, c));
    }

    /// If the fetch in progress is complete: check it, and start the next.
    fn settle(&mut self, now: SimTime, tx: &mut Tx) {
        let Some((id, started, c)) = self.current.as_ref() else {
            return;
        };
        if !c.is_done() {
            return;
        }
        let c = &c.client;
        let intact = c.total_len() == Some(self.object_bytes)
            && c.data().len() as u64 == self.object_bytes
            && stream_mismatches(id.seed, 0, c.data()) == 0;
        let took = now.saturating_since(*started);
        self.stats.complete(self.object_bytes, intact, took);
        self.begin(now, tx);
    }
}

impl Endpoint for TricklesFetcher {
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        if now >= self.start_at {
            self.begin(now, tx);
        }
    }

    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        if let Some((_, _, c)) = self.current.as_mut() {
            c.on_frame(now, frame, tx);
            self.settle(now, tx);
        }
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        match self.current.as_mut() {
            None if now >= self.start_at => self.begin(now, tx),
            None => {}
            Some((_, _, c)) => {
                c.on_timer(now, tx);
                self.settle(now, tx);
            }
        }
    }

    fn next_timer(&self) -> Option<SimTime> {
        match &self.current {
            None => Some(self.start_at),
            Some((_, _, c)) => c.next_timer(),
        }
    }
}

/// The Reno counterpart of [`TricklesFetcher`]: a fresh [`RenoReceiver`]
/// (new port, ISN and stream) per object.
#[derive(Debug)]
pub struct RenoFetcher {
    flow: Flow,
    object_bytes: u64,
    run_seed: u64,
    start_at: SimTime,
    cfg: RenoConfig,
    current: Option<(SimTime, RenoReceiver)>,
    stats: FetchStats,
}

impl RenoFetcher {
    /// A fetcher for `flow` (its `client_port` is the first fetch's port)
    /// that opens its first connection at `start_at`.
    pub fn new(
        flow: Flow,
        object_bytes: u64,
        run_seed: u64,
        start_at: SimTime,
        cfg: RenoConfig,
    ) -> RenoFetcher {
        RenoFetcher {
            flow,
            object_bytes,
            run_seed,
            start_at,
            cfg,
            current: None,
            stats: FetchStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &FetchStats {
        &self.stats
    }

    /// In-order bytes received (completed objects and the prefix of the
    /// fetch in progress).
    pub fn delivered(&self) -> u64 {
        self.stats.completed_bytes + self.current.as_ref().map_or(0, |c| c.1.delivered())
    }

    /// Every completed object was intact, and so is the received prefix of
    /// the fetch in progress.
    pub fn bytes_ok(&self) -> bool {
        self.stats.corrupt == 0
            && self.current.as_ref().is_none_or(|(_, r)| {
                r.stats().mismatched_bytes == 0 && r.stats().overrun_bytes == 0
            })
    }

    fn begin(&mut self, now: SimTime, tx: &mut Tx) {
        let id = FetchId::of(&self.flow, self.run_seed, self.stats.started);
        self.stats.started += 1;
        let flow = Flow {
            client_port: id.port,
            ..self.flow
        };
        let cfg = RenoConfig {
            receiver_isn: id.isn,
            ..self.cfg.clone()
        };
        let mut r = RenoReceiver::new(flow, self.object_bytes, id.seed, cfg);
        r.on_start(now, tx);
        self.current = Some((now, r));
    }

    fn settle(&mut self, now: SimTime, tx: &mut Tx) {
        let Some((started, r)) = self.current.as_ref() else {
            return;
        };
        if !r.is_done() {
            return;
        }
        let took = now.saturating_since(*started);
        self.stats.complete(self.object_bytes, r.bytes_ok(), took);
        self.begin(now, tx);
    }
}

impl Endpoint for RenoFetcher {
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        if now >= self.start_at {
            self.begin(now, tx);
        }
    }

    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        if let Some((_, r)) = self.current.as_mut() {
            r.on_frame(now, frame, tx);
            self.settle(now, tx);
        }
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        match self.current.as_mut() {
            None if now >= self.start_at => self.begin(now, tx),
            None => {}
            Some((_, r)) => {
                r.on_timer(now, tx);
                self.settle(now, tx);
            }
        }
    }

    fn next_timer(&self) -> Option<SimTime> {
        match &self.current {
            None => Some(self.start_at),
            Some((_, r)) => r.next_timer(),
        }
    }
}

/// Counters of a [`RenoServer`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RenoServerStats {
    /// Connections opened (SYNs that created a sender).
    pub connections: u64,
    /// Connections whose every byte was acknowledged (then forgotten).
    pub completed: u64,
    /// Most connections open at once.
    pub peak_connections: usize,
    /// Most connection state held at once, in bytes (see
    /// [`RenoServer::state_bytes`]), sampled after every event.
    pub peak_state_bytes: u64,
    /// Frames that were not for this server or for no open connection.
    pub ignored_frames: u64,
}

/// A TCP server for [`RenoFetcher`]s: one [`RenoSender`] per connection,
/// created by the connection's SYN and dropped once the client has
/// acknowledged every byte. Each connection is sent `object_bytes` of the
/// stream of [`object_seed`] of its client address, port and ISN.
#[derive(Debug)]
pub struct RenoServer {
    local: HostAddr,
    port: u16,
    object_bytes: u64,
    run_seed: u64,
    cfg: RenoConfig,
    /// Open connections by client address and port: client ISN, sender.
    open: BTreeMap<(Ipv4Addr, u16), (u32, RenoSender)>,
    /// ISN of the last completed connection of each client address and
    /// port, so that a late duplicate of its SYN opens nothing.
    closed: BTreeMap<(Ipv4Addr, u16), u32>,
    stats: RenoServerStats,
}

impl RenoServer {
    /// A server at `local:port` sending `object_bytes` per connection.
    pub fn new(
        local: HostAddr,
        port: u16,
        object_bytes: u64,
        run_seed: u64,
        cfg: RenoConfig,
    ) -> RenoServer {
        RenoServer {
            local,
            port,
            object_bytes,
            run_seed,
            cfg,
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
            stats: RenoServerStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &RenoServerStats {
        &self.stats
    }

    /// Connection state a TCP server holds now: per open connection, its
    /// sender object (`size_of::<RenoSender>()`, the control block) plus
    /// the bytes sent and not yet acknowledged, which a TCP must buffer for
    /// retransmission ([`RenoSender::unacked_bytes`]). A lower bound of a
    /// kernel's: data written by the application but not yet sent is not
    /// counted.
    pub fn state_bytes(&self) -> u64 {
        let cb = core::mem::size_of::<RenoSender>() as u64;
        self.open
            .values()
            .map(|(_, s)| cb + s.unacked_bytes())
            .sum()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.len()
    }

    fn sample(&mut self) {
        let bytes = self.state_bytes();
        let s = &mut self.stats;
        s.peak_state_bytes = s.peak_state_bytes.max(bytes);
        s.peak_connections = s.peak_connections.max(self.open.len());
    }

    fn close_if_done(&mut self, key: (Ipv4Addr, u16)) {
        if let Some((isn, s)) = self.open.get(&key)
            && s.is_done()
        {
            self.closed.insert(key, *isn);
            self.open.remove(&key);
            self.stats.completed += 1;
        }
    }
}

impl Endpoint for RenoServer {
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        let Ok(f) = parse_tcp_frame(frame) else {
            self.stats.ignored_frames += 1;
            return;
        };
        if f.dst_ip != self.local.ip || f.dst_port != self.port {
            self.stats.ignored_frames += 1;
            return;
        }
        let key = (f.src_ip, f.src_port);
        let syn = f.flags & (flags::SYN | flags::ACK) == flags::SYN;
        let known = self.open.get(&key).is_some_and(|(isn, _)| *isn == f.seq);
        if syn && !known {
            if self.closed.get(&key) == Some(&f.seq) {
                // A late duplicate of a completed connection's SYN.
                self.stats.ignored_frames += 1;
                return;
            }
            let seed = object_seed(self.run_seed, f.src_ip, f.src_port, f.seq);
            let sender = RenoSender::new(
                self.local,
                self.port,
                self.object_bytes,
                seed,
                self.cfg.clone(),
            );
            self.open.insert(key, (f.seq, sender));
            self.closed.remove(&key);
            self.stats.connections += 1;
        }
        match self.open.get_mut(&key) {
            Some((_, s)) => s.on_frame(now, frame, tx),
            None => self.stats.ignored_frames += 1,
        }
        self.close_if_done(key);
        self.sample();
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        let due: Vec<(Ipv4Addr, u16)> = self
            .open
            .iter()
            .filter(|(_, (_, s))| s.next_timer().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some((_, s)) = self.open.get_mut(&key) {
                s.on_timer(now, tx);
            }
            self.close_if_done(key);
        }
        self.sample();
    }

    fn next_timer(&self) -> Option<SimTime> {
        self.open.values().filter_map(|(_, s)| s.next_timer()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_differ_in_port_isn_and_seed() {
        let flow = Flow::dumbbell(0, 0);
        let a = FetchId::of(&flow, 1, 0);
        let b = FetchId::of(&flow, 1, 1);
        assert_eq!(a.port, Flow::CLIENT_PORT);
        assert_eq!(b.port, Flow::CLIENT_PORT + 1);
        assert_ne!((a.isn, a.seed), (b.isn, b.seed));
        assert_eq!(FetchId::of(&flow, 1, u64::from(PORT_SPAN)).port, a.port);
        // Another client, or another run, fetches other streams.
        assert_ne!(FetchId::of(&Flow::dumbbell(1, 0), 1, 0).seed, a.seed);
        assert_ne!(FetchId::of(&flow, 2, 0).seed, a.seed);
        assert_eq!(a.seed, object_seed(1, flow.client.ip, a.port, a.isn));
    }
}
