//! Simulator core: links, queues, impairments, routing, timers, limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use trickles_sim::packet::{TCP_FRAME_OVERHEAD, build_tcp_frame, parse_tcp_frame};
use trickles_sim::{
    Dumbbell, DumbbellConfig, Endpoint, HostAddr, LinkConfig, NetChange, RunLimits, SimTime,
    Simulator, StopReason, StopWhen, TwoHosts, Tx,
};
use trickles_wire::tcp::{self, flags};

/// A frame of `len` bytes from `src` to `dst` whose TCP sequence number is
/// `n` (to identify it at the receiver).
fn frame(src: HostAddr, dst: HostAddr, n: u32, len: usize) -> Vec<u8> {
    let repr = tcp::Repr {
        src_port: 1,
        dst_port: 2,
        seq: n,
        ack: 0,
        flags: flags::ACK,
        window: 0,
        options: &[],
    };
    let f = build_tcp_frame(src, dst, &repr, &vec![0xab; len - TCP_FRAME_OVERHEAD]).unwrap();
    assert_eq!(f.len(), len);
    f
}

/// Sends `count` frames of `len` bytes at start (or one per `gap`).
struct Blaster {
    src: HostAddr,
    dst: HostAddr,
    count: u32,
    len: usize,
    gap: Option<Duration>,
    sent: u32,
    next: Option<SimTime>,
}

impl Blaster {
    fn burst(src: HostAddr, dst: HostAddr, count: u32, len: usize) -> Blaster {
        Blaster {
            src,
            dst,
            count,
            len,
            gap: None,
            sent: 0,
            next: None,
        }
    }
}

impl Endpoint for Blaster {
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        match self.gap {
            None => {
                for n in 0..self.count {
                    tx.send(&frame(self.src, self.dst, n, self.len));
                }
                self.sent = self.count;
            }
            Some(_) => self.next = Some(now),
        }
    }
    fn on_frame(&mut self, _: SimTime, _: &[u8], _: &mut Tx) {}
    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        tx.send(&frame(self.src, self.dst, self.sent, self.len));
        self.sent += 1;
        self.next = (self.sent < self.count).then(|| now + self.gap.unwrap());
    }
    fn next_timer(&self) -> Option<SimTime> {
        self.next
    }
    fn is_done(&self) -> bool {
        self.sent == self.count
    }
}

/// Records `(arrival time, sequence number, length)` of every frame.
#[derive(Default)]
struct Sink {
    got: Vec<(SimTime, u32, usize)>,
}

impl Endpoint for Sink {
    fn on_frame(&mut self, now: SimTime, frame: &[u8], _: &mut Tx) {
        let p = parse_tcp_frame(frame).unwrap();
        self.got.push((now, p.seq, frame.len()));
    }
    fn on_timer(&mut self, _: SimTime, _: &mut Tx) {}
    fn next_timer(&self) -> Option<SimTime> {
        None
    }
}

fn run_two(ab: LinkConfig, mut blaster: Blaster, seed: u64) -> (Sink, trickles_sim::LinkStats) {
    let mut sink = Sink::default();
    let stats = {
        let mut sim = Simulator::new(seed);
        let t = TwoHosts::build(
            &mut sim,
            TwoHosts::A,
            TwoHosts::B,
            ab,
            LinkConfig::new(0, Duration::ZERO),
        );
        sim.set_endpoint(t.a, &mut blaster);
        sim.set_endpoint(t.b, &mut sink);
        let out = sim.run(&RunLimits {
            stop: StopWhen::Never,
            ..RunLimits::default()
        });
        assert_eq!(out.reason, StopReason::Idle);
        sim.link_stats(t.ab).clone()
    };
    (sink, stats)
}

#[test]
fn single_frame_delay_is_serialization_plus_propagation() {
    // 1000 bytes at 8 Mb/s = 1 ms, plus 5 ms.
    let link = LinkConfig::new(8_000_000, Duration::from_millis(5));
    let (sink, stats) = run_two(link, Blaster::burst(TwoHosts::A, TwoHosts::B, 1, 1000), 1);
    assert_eq!(sink.got, vec![(SimTime::from_millis(6), 0, 1000)]);
    assert_eq!(stats.frames_out, 1);
    assert_eq!(stats.busy_ns, 1_000_000);
    // Back to back: the second frame waits for the first.
    let link = LinkConfig::new(8_000_000, Duration::from_millis(5));
    let (sink, _) = run_two(link, Blaster::burst(TwoHosts::A, TwoHosts::B, 2, 1000), 1);
    assert_eq!(sink.got[1].0, SimTime::from_millis(7));
}

#[test]
fn goodput_never_exceeds_link_rate() {
    let rate = 10_000_000;
    let link = LinkConfig::new(rate, Duration::from_millis(3)).with_queue_limit(10 << 20);
    let (sink, stats) = run_two(
        link,
        Blaster::burst(TwoHosts::A, TwoHosts::B, 2000, 1514),
        1,
    );
    assert_eq!(sink.got.len(), 2000);
    assert_eq!(stats.dropped_queue, 0);
    let delay = SimTime::from_millis(3).0;
    let mut bytes = 0u64;
    for &(at, _, len) in &sink.got {
        bytes += len as u64;
        // Everything that arrived by `at` was serialized by `at - delay`.
        let elapsed = (at.0 - delay) as f64 / 1e9;
        assert!(
            bytes as f64 * 8.0 <= rate as f64 * elapsed + 1.0,
            "{bytes} B by {at}"
        );
    }
    // And the link runs at its rate (within one nanosecond per frame).
    let last = sink.got.last().unwrap().0.0 - delay;
    let ideal = bytes * 8 * 1_000_000_000 / rate;
    assert!(last >= ideal && last <= ideal + 2000, "{last} vs {ideal}");
}

#[test]
fn drop_tail_drops_beyond_queue_limit() {
    // 1000-byte frames, 10 000-byte queue: one in service + 10 waiting.
    let link = LinkConfig::new(8_000_000, Duration::from_millis(1)).with_queue_limit(10_000);
    let (sink, stats) = run_two(link, Blaster::burst(TwoHosts::A, TwoHosts::B, 50, 1000), 1);
    assert_eq!(stats.frames_in, 50);
    assert_eq!(stats.dropped_queue, 39);
    assert_eq!(stats.frames_out, 11);
    assert_eq!(stats.max_queue_bytes, 10_000);
    let seqs: Vec<u32> = sink.got.iter().map(|g| g.1).collect();
    assert_eq!(seqs, (0..11).collect::<Vec<_>>());
    // Sending at the link rate never queues, so never drops.
    let link = LinkConfig::new(8_000_000, Duration::from_millis(1)).with_queue_limit(1000);
    let mut b = Blaster::burst(TwoHosts::A, TwoHosts::B, 50, 1000);
    b.gap = Some(Duration::from_millis(1));
    let (sink, stats) = run_two(link, b, 1);
    assert_eq!(
        (sink.got.len(), stats.dropped_queue, stats.max_queue_bytes),
        (50, 0, 0)
    );
}

#[test]
fn impairments_have_the_configured_rates() {
    let n = 20_000;
    let link = LinkConfig::new(0, Duration::from_millis(1))
        .with_loss(0.1)
        .with_duplicate(0.05)
        .with_reorder(0.2, Duration::from_millis(2));
    let mut b = Blaster::burst(TwoHosts::A, TwoHosts::B, n, 100);
    b.gap = Some(Duration::from_micros(100));
    let (sink, s) = run_two(link, b, 42);
    let near = |x: u64, p: f64, of: u64| {
        let e = p * of as f64;
        (x as f64 - e).abs() < 5.0 * (e * (1.0 - p)).sqrt()
    };
    assert!(near(s.lost, 0.1, n.into()), "lost {}", s.lost);
    assert!(
        near(s.duplicated, 0.05, u64::from(n) - s.lost),
        "dup {}",
        s.duplicated
    );
    assert!(
        near(s.reordered, 0.2, s.frames_out),
        "reordered {}",
        s.reordered
    );
    assert_eq!(s.frames_out, u64::from(n) - s.lost + s.duplicated);
    assert_eq!(sink.got.len() as u64, s.frames_out);
    let inversions = sink.got.windows(2).filter(|w| w[1].1 < w[0].1).count();
    assert!(inversions > 100, "{inversions}");
}

#[test]
fn drop_hook_injects_faults() {
    let link = LinkConfig::new(8_000_000, Duration::from_millis(1));
    let mut blaster = Blaster::burst(TwoHosts::A, TwoHosts::B, 10, 1000);
    let mut sink = Sink::default();
    let seen = Rc::new(RefCell::new(0));
    {
        let mut sim = Simulator::new(1);
        let t = TwoHosts::build(&mut sim, TwoHosts::A, TwoHosts::B, link.clone(), link);
        sim.set_endpoint(t.a, &mut blaster);
        sim.set_endpoint(t.b, &mut sink);
        let seen = seen.clone();
        sim.set_drop_hook(t.ab, move |_| {
            *seen.borrow_mut() += 1;
            *seen.borrow() == 5
        });
        sim.run(&RunLimits::default());
        assert_eq!(sim.link_stats(t.ab).dropped_hook, 1);
    }
    let seqs: Vec<u32> = sink.got.iter().map(|g| g.1).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
    assert_eq!(*seen.borrow(), 10);
}

#[test]
fn dumbbell_routes_by_destination_and_has_the_configured_rtt() {
    let rtt = Duration::from_millis(20);
    let cfg = DumbbellConfig::symmetric(2, 2, 100_000_000, rtt);
    let c1 = DumbbellConfig::client_addr(1);
    let s0 = DumbbellConfig::server_addr(0);
    let s1 = DumbbellConfig::server_addr(1);
    let mut b = Blaster::burst(c1, s1, 1, 100);
    let mut lost = Blaster::burst(c1, HostAddr::new([10, 9, 9, 9].into(), [2; 6]), 1, 100);
    let (mut sink0, mut sink1) = (Sink::default(), Sink::default());
    let mut sim = Simulator::new(1);
    let d = Dumbbell::build(&mut sim, &cfg);
    sim.set_endpoint(d.clients[1], &mut b);
    sim.set_endpoint(d.clients[0], &mut lost);
    sim.set_endpoint(d.servers[0], &mut sink0);
    sim.set_endpoint(d.servers[1], &mut sink1);
    assert_eq!(sim.host_addr(d.servers[0]), s0);
    sim.run(&RunLimits {
        stop: StopWhen::Never,
        ..RunLimits::default()
    });
    assert_eq!(sim.router_stats(d.left).no_route, 1);
    assert_eq!(sim.router_stats(d.left).forwarded, 1);
    assert_eq!(sim.link_stats(d.bottleneck_c2s).frames_out, 1);
    drop(sim);
    assert!(sink0.got.is_empty());
    assert_eq!(sink1.got.len(), 1);
    // One way = RTT/2 of propagation plus three serializations.
    let at = sink1.got[0].0.0;
    let prop = (rtt / 2).as_nanos() as u64;
    let ser = 100 * 8 * 1_000_000_000 / 1_000_000_000 * 2 + 100 * 8 * 1_000_000_000 / 100_000_000;
    assert_eq!(at, prop + ser);
}

/// Re-arms a timer forever, with `period` (zero: a livelock at one instant).
struct Ticker {
    period: Duration,
    next: SimTime,
    fired: Vec<SimTime>,
}

impl Endpoint for Ticker {
    fn on_frame(&mut self, _: SimTime, _: &[u8], _: &mut Tx) {}
    fn on_timer(&mut self, now: SimTime, _: &mut Tx) {
        self.fired.push(now);
        self.next = now + self.period;
    }
    fn next_timer(&self) -> Option<SimTime> {
        Some(self.next)
    }
}

#[test]
fn timers_fire_on_time_and_runs_are_bounded() {
    let mut t = Ticker {
        period: Duration::from_millis(10),
        next: SimTime::from_millis(5),
        fired: Vec::new(),
    };
    let mut sim = Simulator::new(1);
    let h = sim.add_host("h", TwoHosts::A);
    sim.set_endpoint(h, &mut t);
    let out = sim.run(&RunLimits {
        max_time: SimTime::from_millis(50),
        ..RunLimits::default()
    });
    assert_eq!(out.reason, StopReason::TimeLimit);
    assert_eq!(out.now, SimTime::from_millis(50));
    drop(sim);
    let want: Vec<SimTime> = [5, 15, 25, 35, 45].map(SimTime::from_millis).to_vec();
    assert_eq!(t.fired, want);

    let mut spin = Ticker {
        period: Duration::ZERO,
        next: SimTime::ZERO,
        fired: Vec::new(),
    };
    let mut sim = Simulator::new(1);
    let h = sim.add_host("h", TwoHosts::A);
    sim.set_endpoint(h, &mut spin);
    let out = sim.run(&RunLimits {
        max_events: 1000,
        ..RunLimits::default()
    });
    assert_eq!(
        (out.reason, out.events, out.now),
        (StopReason::EventLimit, 1000, SimTime::ZERO)
    );
}

#[test]
fn same_seed_same_arrivals_different_seed_different() {
    let run = |seed| {
        let link = LinkConfig::new(50_000_000, Duration::from_millis(2))
            .with_loss(0.05)
            .with_reorder(0.1, Duration::from_millis(1))
            .with_duplicate(0.02)
            .with_queue_limit(20_000);
        let mut b = Blaster::burst(TwoHosts::A, TwoHosts::B, 500, 1200);
        b.gap = Some(Duration::from_micros(150));
        let (sink, stats) = run_two(link, b, seed);
        (sink.got, stats)
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3).0, run(4).0);
}

#[test]
fn injected_frames_cross_the_link() {
    let mut sink = Sink::default();
    let link = LinkConfig::new(8_000_000, Duration::from_millis(2));
    let mut sim = Simulator::new(1);
    let t = TwoHosts::build(&mut sim, TwoHosts::A, TwoHosts::B, link.clone(), link);
    sim.set_endpoint(t.b, &mut sink);
    sim.inject(
        t.ab,
        SimTime::from_millis(3),
        frame(TwoHosts::A, TwoHosts::B, 7, 1000),
    );
    // Not for b: counted and dropped at the host.
    let stray = HostAddr::new([10, 0, 0, 9].into(), [2; 6]);
    sim.inject(t.ab, SimTime::ZERO, frame(TwoHosts::A, stray, 8, 1000));
    let out = sim.run(&RunLimits::default());
    assert_eq!(out.reason, StopReason::Idle);
    assert_eq!(sim.host_stats(t.b).rx_not_mine, 1);
    drop(sim);
    assert_eq!(sink.got, vec![(SimTime::from_millis(6), 7, 1000)]);
}

/// A dumbbell of one client and two replicas sharing server 0's address
/// (the second added with `add_server_host`), the client sending `count`
/// frames one per millisecond. Returns what each replica got.
fn replicas(
    count: u32,
    configure: impl FnOnce(&mut Simulator<'_>, &Dumbbell),
) -> (Vec<u32>, Vec<u32>, Vec<trickles_sim::LinkStats>) {
    let cfg = DumbbellConfig::symmetric(1, 1, 100_000_000, Duration::from_millis(2));
    let service = DumbbellConfig::server_addr(0);
    let mut b = Blaster::burst(DumbbellConfig::client_addr(0), service, count, 200);
    b.gap = Some(Duration::from_millis(1));
    let (mut s0, mut s1) = (Sink::default(), Sink::default());
    let stats = {
        let mut sim = Simulator::new(1);
        let mut d = Dumbbell::build(&mut sim, &cfg);
        let i = d.add_server_host(
            &mut sim,
            "replica",
            service,
            cfg.access.clone(),
            cfg.access.clone(),
        );
        assert_eq!(
            (i, d.servers.len(), sim.host_addr(d.servers[1])),
            (1, 2, service)
        );
        // Only the first replica is routed to until `configure` says otherwise.
        assert_eq!(sim.route(d.right, service.ip), &[d.server_down[0]]);
        sim.set_endpoint(d.clients[0], &mut b);
        sim.set_endpoint(d.servers[0], &mut s0);
        sim.set_endpoint(d.servers[1], &mut s1);
        configure(&mut sim, &d);
        sim.run(&RunLimits {
            stop: StopWhen::Never,
            ..RunLimits::default()
        });
        d.server_down
            .iter()
            .map(|&l| sim.link_stats(l).clone())
            .collect()
    };
    let seqs = |s: &Sink| s.got.iter().map(|g| g.1).collect();
    (seqs(&s0), seqs(&s1), stats)
}

#[test]
fn round_robin_route_alternates_links_per_frame() {
    let (a, b, stats) = replicas(9, |sim, d| {
        let service = DumbbellConfig::server_addr(0).ip;
        sim.add_round_robin_route(d.right, service, &d.server_down);
        assert_eq!(sim.route(d.right, service), d.server_down.as_slice());
    });
    assert_eq!(a, vec![0, 2, 4, 6, 8]);
    assert_eq!(b, vec![1, 3, 5, 7]);
    assert_eq!((stats[0].frames_in, stats[1].frames_in), (5, 4));
    // An empty list removes the route.
    let (a, b, _) = replicas(3, |sim, d| {
        let service = DumbbellConfig::server_addr(0).ip;
        sim.add_round_robin_route(d.right, service, &[]);
        assert!(sim.route(d.right, service).is_empty());
    });
    assert!(a.is_empty() && b.is_empty());
}

#[test]
fn scheduled_route_change_redirects_at_its_time() {
    // Frames leave the client at 0, 1, 2, ... ms and reach the right router
    // about 1 ms later: the change at 4.5 ms moves frames 4 onwards.
    let (a, b, _) = replicas(8, |sim, d| {
        sim.schedule_change(
            SimTime::from_micros(4_500),
            NetChange::Route {
                router: d.right,
                dst: DumbbellConfig::server_addr(0).ip,
                link: d.server_down[1],
            },
        );
    });
    assert_eq!(a, vec![0, 1, 2, 3]);
    assert_eq!(b, vec![4, 5, 6, 7]);
}

#[test]
fn a_link_down_drops_every_frame_until_it_is_up_again() {
    let (a, b, stats) = replicas(10, |sim, d| {
        let l = d.server_down[0];
        sim.schedule_change(SimTime::from_micros(3_500), NetChange::LinkDown(l));
        sim.schedule_change(SimTime::from_micros(7_500), NetChange::LinkUp(l));
        assert!(sim.link_is_up(l));
        sim.apply_change(NetChange::LinkDown(d.server_down[1]));
        assert!(!sim.link_is_up(d.server_down[1]));
    });
    assert_eq!(a, vec![0, 1, 2, 7, 8, 9]);
    assert!(b.is_empty());
    let s = &stats[0];
    assert_eq!((s.frames_in, s.dropped_down, s.frames_out), (10, 4, 6));
    assert_eq!(stats[1].frames_in, 0);
}
