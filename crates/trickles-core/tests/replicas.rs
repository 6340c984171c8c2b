//! Several server engines with the same keys in front of one client, on
//! the servers' shared wall-clock time base (docs/protocol.md §9): a
//! server restarted mid-transfer, a replica taking over, per-packet
//! spraying over two replicas, and what a replayed request gets from
//! each (§9.2). The client's clock is its own (it starts at 0); the
//! servers' reads Unix time, as on the datapath.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::net::IpAddr;

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{DropReason, ServerConfig, StreamServer};
use trickles_core::synthetic::{StreamApp, stream_mismatches, stream_request};
use trickles_wire::KeyEpoch;
use trickles_wire::trickles::PacketType;

/// 2026-06-01 in microseconds since the Unix epoch: what the servers'
/// clock reads when the client's reads 0.
const WALL: u64 = 1_780_272_000_000_000;
const ONE_WAY_US: u64 = 5_000;
/// The server-to-client link: 100 Mb/s (a 1514-byte frame every 121 µs)
/// behind a drop-tail queue of 100 frames.
const FRAME_US: u64 = 121;
const QUEUE: u64 = 100;
const SEED: u64 = 77;

fn replica() -> StreamServer<StreamApp> {
    StreamServer::new(
        ServerConfig {
            port: 80,
            ..ServerConfig::default()
        },
        KeyRing::new(ServerKeys::from_master(
            KeyEpoch(1),
            &MasterKey::new([5; 16]),
        )),
        KeyRing::new(AppKey::from_master(KeyEpoch(1), &MasterKey::new([6; 16]))),
        StreamApp,
    )
}

/// A replica started at client time `t` (its replay memory begins then).
fn started_at(t: u64) -> StreamServer<StreamApp> {
    let mut s = replica();
    s.server_mut().set_replay_floor(Instant(WALL + t));
    s
}

fn client(len: u64) -> Client {
    let ends = Endpoints {
        local_mac: [2, 0, 0, 0, 0, 1],
        remote_mac: [2, 0, 0, 0, 0, 2],
        local: IpAddr::from([10, 0, 0, 1]),
        local_port: 40_000,
        remote: IpAddr::from([10, 9, 9, 9]),
        remote_port: 80,
    };
    Client::new(
        ClientConfig::default(),
        ends,
        11,
        &stream_request(len, SEED),
    )
}

/// The network: frames in flight (arrival time, bytes, towards a server),
/// the servers (`None`: down, frames to it are lost), and which server
/// each client frame goes to.
struct Net {
    t: u64,
    wire: VecDeque<(u64, Vec<u8>, bool)>,
    client: Client,
    servers: Vec<Option<StreamServer<StreamApp>>>,
    /// Client frames sent towards the servers, in order.
    sent: Vec<Vec<u8>>,
    /// Requests each server answered (per index).
    answered: Vec<u64>,
    /// Longest time without new contiguous bytes at the client (µs).
    longest_stall: u64,
    last_progress: (u64, u64),
    /// When the server-to-client link is free again.
    link_free: u64,
    /// Extra delay of each response, uniform in [0, jitter) µs
    /// (reordering).
    jitter: u64,
    rng: u64,
}

impl Net {
    fn new(len: u64, servers: Vec<Option<StreamServer<StreamApp>>>) -> Net {
        let n = servers.len();
        let mut net = Net {
            t: 0,
            wire: VecDeque::new(),
            client: client(len),
            servers,
            sent: Vec::new(),
            answered: vec![0; n],
            longest_stall: 0,
            last_progress: (0, 0),
            link_free: 0,
            jitter: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
        };
        let mut out = Vec::new();
        net.client.start(Instant(0), &mut |f| out.push(f.to_vec()));
        net.send_up(out);
        net
    }

    fn send_up(&mut self, frames: Vec<Vec<u8>>) {
        for f in frames {
            self.sent.push(f.clone());
            self.wire.push_back((self.t + ONE_WAY_US, f, true));
        }
    }

    /// Run until the client is done or client time `until`; `route(i, t)`
    /// names the server of the `i`-th client frame.
    fn run(&mut self, until: u64, mut route: impl FnMut(usize, u64) -> usize) {
        let mut i = 0usize;
        for _ in 0..10_000_000 {
            if self.client.is_done() {
                return;
            }
            let next_frame = self.wire.iter().map(|w| w.0).min();
            let t = match (next_frame, self.client.next_timer().map(|t| t.0)) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => panic!("stalled: nothing in flight and no timer"),
            };
            if t > until {
                return;
            }
            self.t = t;
            let mut up = Vec::new();
            if next_frame == Some(t) {
                let at = self.wire.iter().position(|w| w.0 == t).unwrap();
                let (_, f, to_server) = self.wire.remove(at).unwrap();
                if to_server {
                    let s = route(i, t);
                    i += 1;
                    let mut down = Vec::new();
                    if let Some(server) = self.servers[s].as_mut() {
                        let before = server.server().stats().requests;
                        server.handle(Instant(WALL + t), &f, &mut |r| down.push(r.to_vec()));
                        self.answered[s] += server.server().stats().requests - before;
                    }
                    for r in down {
                        let start = self.link_free.max(t);
                        if start - t < QUEUE * FRAME_US {
                            self.link_free = start + FRAME_US;
                            self.rng ^= self.rng << 13;
                            self.rng ^= self.rng >> 7;
                            self.rng ^= self.rng << 17;
                            let extra = if self.jitter > 0 {
                                self.rng % self.jitter
                            } else {
                                0
                            };
                            self.wire
                                .push_back((self.link_free + ONE_WAY_US + extra, r, false));
                        }
                    }
                } else {
                    self.client
                        .on_frame(Instant(t), &f, &mut |r| up.push(r.to_vec()));
                }
            } else {
                self.client
                    .on_timer(Instant(t), &mut |r| up.push(r.to_vec()));
            }
            self.send_up(up);
            let delivered = self.client.delivered();
            if delivered > self.last_progress.1 {
                self.longest_stall = self.longest_stall.max(t - self.last_progress.0);
                self.last_progress = (t, delivered);
            }
        }
        panic!("the transfer did not end within the event bound");
    }

    fn intact(&self, len: u64) -> bool {
        self.client.is_done()
            && self.client.data().len() as u64 == len
            && stream_mismatches(SEED, 0, self.client.data()) == 0
    }

    fn server(&self, i: usize) -> &StreamServer<StreamApp> {
        self.servers[i].as_ref().unwrap()
    }
}

const LEN: u64 = 20_000_000;

#[test]
fn a_server_restarted_mid_transfer_finishes_it_within_a_timeout() {
    let mut net = Net::new(LEN, vec![Some(started_at(0))]);
    net.run(300_000, |_, _| 0);
    assert!(
        !net.client.is_done(),
        "the transfer should still run at 300 ms"
    );
    // Killed: everything in flight to it is lost for 250 ms; then a new
    // process with the same keys and an empty replay table.
    net.servers[0] = None;
    net.run(550_000, |_, _| 0);
    net.servers[0] = Some(started_at(net.t));
    net.run(60_000_000, |_, _| 0);
    assert!(net.intact(LEN), "stats {:?}", net.client.stats());
    assert!(net.client.stats().timeouts >= 1);
    // The stall is the outage plus the wait for the retransmit timer.
    assert!(
        net.longest_stall < 1_500_000,
        "stall {} µs",
        net.longest_stall
    );
}

#[test]
fn an_instant_restart_refuses_older_requests_and_resumes_through_a_timeout() {
    let mut net = Net::new(LEN, vec![Some(started_at(0))]);
    net.run(300_000, |_, _| 0);
    // Replaced with no outage: the requests in flight reach a process
    // that cannot know whether its predecessor answered them.
    net.servers[0] = Some(started_at(net.t + 1_000));
    net.run(60_000_000, |_, _| 0);
    assert!(net.intact(LEN));
    let drops = net
        .server(0)
        .server()
        .stats()
        .drops(DropReason::PredatesStart);
    assert!(drops > 0, "no request predated the restart");
    assert!(net.client.stats().timeouts >= 1);
}

#[test]
fn a_running_replica_takes_over_in_flight_requests_at_once() {
    // Both replicas run from the start; at 300 ms the first fails and the
    // network sends its packets to the second (paper §6.3, Fig. 16).
    let mut alone = Net::new(LEN, vec![Some(started_at(0))]);
    alone.run(60_000_000, |_, _| 0);
    let mut net = Net::new(LEN, vec![Some(started_at(0)), Some(started_at(0))]);
    net.run(300_000, |_, _| 0);
    net.servers[0] = None;
    net.run(60_000_000, |_, _| 1);
    assert!(net.intact(LEN));
    // The takeover adds no timeout and no stall to the same transfer
    // served by one replica throughout (whose slow-start overshoot costs
    // one restart of its own).
    assert_eq!(
        net.client.stats().timeouts,
        alone.client.stats().timeouts,
        "{:?}",
        net.client.stats()
    );
    assert!(net.longest_stall <= alone.longest_stall + 2 * ONE_WAY_US);
    assert!(net.answered[0] > 0 && net.answered[1] > 0);
}

#[test]
fn requests_sprayed_per_packet_over_two_replicas_complete_evenly() {
    let mut net = Net::new(LEN, vec![Some(started_at(0)), Some(started_at(0))]);
    net.run(60_000_000, |i, _| i % 2);
    assert!(net.intact(LEN), "{:?}", net.client.stats());
    let (a, b) = (net.answered[0] as f64, net.answered[1] as f64);
    assert!(a.min(b) / (a + b) >= 0.4, "shares {a} / {b}");
}

/// The first REQUEST the client sent after `after` client frames.
fn a_request(net: &Net, after: usize) -> Vec<u8> {
    net.sent[after..]
        .iter()
        .find(|f| {
            trickles_wire::frame::parse(f)
                .is_ok_and(|p| p.trickles.body.packet_type() == PacketType::Request)
        })
        .expect("a request")
        .clone()
}

/// Hand `frame` to `server` at client time `t`: (frames sent, drops by
/// `reason` added).
fn replay(
    server: &mut StreamServer<StreamApp>,
    t: u64,
    frame: &[u8],
    reason: DropReason,
) -> (usize, u64) {
    let before = server.server().stats().drops(reason);
    let mut out = 0;
    server.handle(Instant(WALL + t), frame, &mut |_| out += 1);
    (out, server.server().stats().drops(reason) - before)
}

#[test]
fn a_replayed_request_gets_what_the_protocol_promises() {
    // Replica A serves the connection; B runs beside it and sees nothing.
    let mut net = Net::new(LEN, vec![Some(started_at(0)), Some(started_at(0))]);
    net.run(200_000, |_, _| 0);
    let captured = a_request(&net, 20);
    let t = net.t;
    let (mut a, mut b) = (
        net.servers[0].take().unwrap(),
        net.servers[1].take().unwrap(),
    );

    // The replica that answered it: dropped as replayed.
    assert_eq!(replay(&mut a, t, &captured, DropReason::Replayed), (0, 1));
    // Another replica answers it once (its table never saw it), then no more.
    let (frames, _) = replay(&mut b, t, &captured, DropReason::Replayed);
    assert!(frames >= 1, "the other replica should answer once");
    assert_eq!(replay(&mut b, t, &captured, DropReason::Replayed), (0, 1));
    // A restarted server answers nothing made before it started.
    let mut restarted = started_at(t + 1);
    assert_eq!(
        replay(&mut restarted, t + 2, &captured, DropReason::PredatesStart),
        (0, 1)
    );
    // Past the replay horizon nobody answers it.
    let mut c = started_at(0);
    let late = t + u64::from(ServerConfig::default().replay_horizon_ms) * 1000 + 1_000_000;
    assert_eq!(replay(&mut c, late, &captured, DropReason::Stale), (0, 1));
}

#[test]
fn reordered_responses_are_waited_for_and_refuse_no_request() {
    // Responses reordered by up to 0.3 and 1 ms (less than the client's
    // reordering allowance), from one server and sprayed over two.
    for (jitter, servers) in [(300, 1), (1000, 1), (300, 2), (1000, 2)] {
        let mut net = Net::new(LEN, (0..servers).map(|_| Some(started_at(0))).collect());
        net.jitter = jitter;
        net.run(60_000_000, |i, _| i % servers);
        let c = net.client.stats();
        let refused: u64 = (0..servers)
            .map(|i| {
                net.server(i)
                    .server()
                    .stats()
                    .drops(DropReason::InconsistentSack)
            })
            .sum();
        assert!(
            net.intact(LEN),
            "jitter {jitter} µs, {servers} servers: {c:?}"
        );
        assert_eq!(refused, 0, "jitter {jitter} µs, {servers} servers: {c:?}");
        // Most holes were reordering, and the client waited for them.
        assert!(c.reorder_filled * 10 >= c.reorder_holds * 9, "{c:?}");
        assert_eq!(c.timeouts, 0, "{c:?}");
    }
}
