//! A closed-loop load of short connections (paper §6.1, Fig. 10: one new
//! connection per request): `concurrency` Trickles client engines, each
//! fetching one object over a fresh connection and, the moment its last
//! byte arrives, opening the next one from the next free local port of a
//! small pool. Like wrk against a kernel server, the load is as fast as
//! the server answers, no faster.
//!
//! Sans-IO: frames and `now` in, frames out ([`FrameHandler`]); the
//! `objects` scenario runs it on AF_XDP through
//! [`trickles_xdp::scenario::drive`], the tests against the server engine
//! in memory.
//!
//! Ports are recycled, as a kernel recycles ephemeral ports: a late frame
//! of an earlier connection that used the same port cannot be taken for
//! the new connection's, because the client engine adopts only an answer
//! that acknowledges its own SYN (and, after that, only its own
//! connection id).

use std::collections::HashMap;

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_xdp::FrameHandler;

/// Decides whether a whole response is the right one.
pub type Check = Box<dyn Fn(&[u8]) -> bool + Send>;

/// What to fetch, how many at once, and for how long.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Connections open at any time.
    pub concurrency: usize,
    /// Local ports to cycle through; more than `concurrency`.
    pub ports: Vec<u16>,
    /// The request each connection sends (in its SYN).
    pub request: Vec<u8>,
    /// Completions before this are not counted (µs from the start).
    pub warmup_us: u64,
    /// Completions in `[warmup, warmup + measure)` are counted (µs).
    pub measure_us: u64,
    /// A connection not done after this long is abandoned and counted
    /// as timed out (µs).
    pub give_up_us: u64,
    /// Seed of the initial sequence numbers.
    pub isn_seed: u32,
}

/// A connection in progress.
#[derive(Debug)]
struct Slot {
    client: Client,
    port: u16,
    started: Instant,
}

/// The closed-loop load.
pub struct ClosedLoop {
    cfg: LoadConfig,
    ends: Option<Endpoints>,
    check: Check,
    slots: Vec<Slot>,
    /// Local port → slot.
    by_port: HashMap<u16, usize>,
    next_port: usize,
    isn: u32,
    start: Option<Instant>,
    now: Instant,
    /// Latencies (µs, SYN to last byte) of the counted completions.
    pub latencies_us: Vec<u64>,
    /// Right responses over the whole run, warm-up included.
    pub completed: u64,
    /// Counted completions whose response failed the check.
    pub wrong: u64,
    /// Connections abandoned after `give_up_us`.
    pub timed_out: u64,
    /// Connections opened, over the whole run.
    pub opened: u64,
}

impl std::fmt::Debug for ClosedLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosedLoop")
            .field("cfg", &self.cfg)
            .field("open", &self.slots.len())
            .field("completed", &self.latencies_us.len())
            .field("wrong", &self.wrong)
            .field("timed_out", &self.timed_out)
            .finish()
    }
}

impl ClosedLoop {
    /// A load whose responses must pass `check`. Fails if the port pool
    /// is not larger than the concurrency.
    pub fn new(cfg: LoadConfig, check: Check) -> Result<ClosedLoop, String> {
        if cfg.concurrency == 0 || cfg.ports.len() <= cfg.concurrency {
            return Err(format!(
                "a closed loop of {} connections needs more local ports than that (got {})",
                cfg.concurrency,
                cfg.ports.len()
            ));
        }
        let isn = cfg.isn_seed;
        Ok(ClosedLoop {
            cfg,
            ends: None,
            check,
            slots: Vec::new(),
            by_port: HashMap::new(),
            next_port: 0,
            isn,
            start: None,
            now: Instant(0),
            latencies_us: Vec::new(),
            completed: 0,
            wrong: 0,
            timed_out: 0,
            opened: 0,
        })
    }

    /// Connections go from `ends` (its local port is replaced by each
    /// connection's own).
    pub fn with_ends(mut self, ends: Endpoints) -> ClosedLoop {
        self.ends = Some(ends);
        self
    }

    /// Open the first `concurrency` connections (none before
    /// [`ClosedLoop::with_ends`]).
    pub fn start(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        self.start = Some(now);
        self.now = now;
        for _ in 0..self.cfg.concurrency {
            if let Some(slot) = self.open(now, tx) {
                self.by_port.insert(slot.port, self.slots.len());
                self.slots.push(slot);
            }
        }
    }

    /// Counted completions per second of the measuring window.
    pub fn per_second(&self) -> f64 {
        self.latencies_us.len() as f64 / (self.cfg.measure_us as f64 / 1e6)
    }

    fn end(&self) -> Option<Instant> {
        self.start.map(|s| {
            s.plus_micros(self.cfg.warmup_us)
                .plus_micros(self.cfg.measure_us)
        })
    }

    fn in_window(&self, at: Instant) -> bool {
        self.start
            .is_some_and(|s| at >= s.plus_micros(self.cfg.warmup_us) && Some(at) < self.end())
    }

    /// A new connection on the next port no open connection uses.
    fn open(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) -> Option<Slot> {
        let n = self.cfg.ports.len();
        let port = (0..n)
            .map(|i| self.cfg.ports[(self.next_port + i) % n])
            .find(|p| !self.by_port.contains_key(p))?;
        self.next_port = (self.cfg.ports.iter().position(|&p| p == port)? + 1) % n;
        self.isn = self.isn.wrapping_add(0x9e37_79b9);
        let ends = Endpoints {
            local_port: port,
            ..self.ends?
        };
        let mut client = Client::new(ClientConfig::default(), ends, self.isn, &self.cfg.request);
        client.start(now, tx);
        self.opened += 1;
        Some(Slot {
            client,
            port,
            started: now,
        })
    }

    /// Slot `i` is over (done or abandoned): count it and, unless the run
    /// is over, put a new connection in its place.
    fn replace(&mut self, i: usize, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        let port = self.slots[i].port;
        self.by_port.remove(&port);
        let running = self.end().is_some_and(|e| now < e);
        match running.then(|| self.open(now, tx)).flatten() {
            Some(slot) => {
                self.by_port.insert(slot.port, i);
                self.slots[i] = slot;
            }
            None => {
                // Keep the indices of the other slots: move the last one
                // into this place.
                self.slots.swap_remove(i);
                if let Some(moved) = self.slots.get(i) {
                    self.by_port.insert(moved.port, i);
                }
            }
        }
    }
}

/// The TCP destination port of an untagged Ethernet + IPv4 frame.
fn tcp_dst_port(frame: &[u8]) -> Option<u16> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let at = 14 + usize::from(frame.get(14)? & 0x0f) * 4 + 2;
    Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
}

impl FrameHandler for ClosedLoop {
    fn on_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8])) {
        self.now = now;
        let Some(&i) = tcp_dst_port(frame).and_then(|p| self.by_port.get(&p)) else {
            return;
        };
        let slot = &mut self.slots[i];
        slot.client.on_frame(now, frame, tx);
        if !slot.client.is_done() {
            return;
        }
        let latency = now.micros_since(slot.started);
        let right = (self.check)(slot.client.data());
        self.completed += u64::from(right);
        if self.in_window(now) {
            if right {
                self.latencies_us.push(latency);
            } else {
                self.wrong += 1;
            }
        }
        self.replace(i, now, tx);
    }

    fn on_timer(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        self.now = now;
        let mut i = 0;
        while i < self.slots.len() {
            let slot = &mut self.slots[i];
            if now.micros_since(slot.started) >= self.cfg.give_up_us {
                self.timed_out += 1;
                let before = self.slots.len();
                self.replace(i, now, tx);
                if self.slots.len() < before {
                    continue;
                }
            } else if slot.client.next_timer().is_some_and(|t| t <= now) {
                slot.client.on_timer(now, tx);
            }
            i += 1;
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        let give_up = self
            .slots
            .iter()
            .map(|s| s.started.plus_micros(self.cfg.give_up_us));
        self.slots
            .iter()
            .filter_map(|s| s.client.next_timer())
            .chain(give_up)
            .chain(self.end())
            .min()
    }

    fn is_done(&self) -> bool {
        self.end().is_some_and(|e| self.now >= e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::net::IpAddr;
    use trickles_core::synthetic::{stream_mismatches, stream_request};
    use trickles_xdp::scenario::demo_server;

    fn ends() -> Endpoints {
        Endpoints {
            local_mac: [2, 0, 0, 0, 0, 1],
            remote_mac: [2, 0, 0, 0, 0, 2],
            local: IpAddr::from([10, 0, 0, 1]),
            local_port: 0,
            remote: IpAddr::from([10, 0, 0, 2]),
            remote_port: 80,
        }
    }

    fn config(size: u64, seed: u64) -> LoadConfig {
        LoadConfig {
            concurrency: 4,
            ports: (20_000..20_010).collect(),
            request: stream_request(size, seed).to_vec(),
            warmup_us: 100_000,
            measure_us: 1_000_000,
            give_up_us: 500_000,
            isn_seed: 1,
        }
    }

    /// Run `load` against the server engine through a wire with a fixed
    /// one-way delay; `lose(i)` drops the i-th response frame.
    fn run(load: &mut ClosedLoop, mut lose: impl FnMut(u64) -> bool) {
        let mut server = demo_server();
        let delay = 500;
        let mut wire: VecDeque<(Instant, Vec<u8>, bool)> = VecDeque::new();
        let mut out = Vec::new();
        let mut now = Instant(0);
        load.start(now, &mut |f| out.push(f.to_vec()));
        let mut responses = 0;
        for step in 0.. {
            assert!(step < 10_000_000, "no end");
            for f in out.drain(..) {
                wire.push_back((now.plus_micros(delay), f, true));
            }
            if load.is_done() {
                break;
            }
            let next_frame = wire.iter().map(|(t, _, _)| *t).min();
            let t = match (next_frame, load.next_timer()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or_else(|| panic!("stalled")),
            };
            now = t;
            if next_frame == Some(t) {
                let i = wire.iter().position(|(at, _, _)| *at == t).unwrap_or(0);
                let Some((_, f, up)) = wire.remove(i) else {
                    continue;
                };
                if up {
                    let mut back = Vec::new();
                    server.handle(now, &f, &mut |r| back.push(r.to_vec()));
                    for r in back {
                        responses += 1;
                        if !lose(responses) {
                            wire.push_back((now.plus_micros(delay), r, false));
                        }
                    }
                } else {
                    load.on_frame(now, &f, &mut |r| out.push(r.to_vec()));
                }
            } else {
                load.on_timer(now, &mut |r| out.push(r.to_vec()));
            }
        }
    }

    fn stream_check(seed: u64, size: u64) -> Check {
        Box::new(move |d: &[u8]| d.len() as u64 == size && stream_mismatches(seed, 0, d) == 0)
    }

    #[test]
    fn completes_requests_back_to_back_on_recycled_ports() {
        let (size, seed) = (10_000, 5);
        let mut load = ClosedLoop::new(config(size, seed), stream_check(seed, size))
            .unwrap_or_else(|e| panic!("{e}"))
            .with_ends(ends());
        run(&mut load, |_| false);
        // 1 ms round trips, a few of them per object, four at a time for
        // one second: hundreds of completions, far more than ten ports.
        let done = load.latencies_us.len();
        assert!(done > 400, "{done} completions");
        assert!(load.opened > 10 * 10);
        assert_eq!((load.wrong, load.timed_out), (0, 0));
        assert!(load.latencies_us.iter().all(|&l| l >= 1_000));
        assert!((load.per_second() - done as f64).abs() < 1e-6);
        assert!(load.completed >= done as u64);
    }

    #[test]
    fn a_wrong_response_is_counted_not_timed() {
        let (size, seed) = (3_000, 5);
        let mut load = ClosedLoop::new(config(size, seed), stream_check(seed + 1, size))
            .unwrap_or_else(|e| panic!("{e}"))
            .with_ends(ends());
        run(&mut load, |_| false);
        assert!(load.latencies_us.is_empty());
        assert!(load.wrong > 100, "{}", load.wrong);
    }

    #[test]
    fn losses_are_recovered_or_given_up_on_never_stuck() {
        let (size, seed) = (50_000, 9);
        let mut load = ClosedLoop::new(config(size, seed), stream_check(seed, size))
            .unwrap_or_else(|e| panic!("{e}"))
            .with_ends(ends());
        // Lose every 13th response frame.
        run(&mut load, |i| i % 13 == 0);
        assert!(!load.latencies_us.is_empty());
        assert_eq!(load.wrong, 0);
        // Nothing open is older than the give-up time at the end.
        assert!(
            load.slots
                .iter()
                .all(|s| load.now.micros_since(s.started) < 500_000)
        );
    }

    #[test]
    fn refuses_a_port_pool_no_larger_than_the_concurrency() {
        let mut cfg = config(1, 1);
        cfg.ports.truncate(4);
        assert!(ClosedLoop::new(cfg, Box::new(|_: &[u8]| true)).is_err());
    }
}
