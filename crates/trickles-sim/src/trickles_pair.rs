//! The real Trickles engines as simulator endpoints: the stateful client
//! (`trickles_core::client`) and the stateless server
//! (`trickles_core::server`) serving the deterministic test stream.

use core::net::IpAddr;

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{ServerConfig, ServerStats, StreamServer};
use trickles_wire::KeyEpoch;

use crate::endpoint::{Endpoint, Tx};
use crate::packet::stream_byte;
use crate::scenario::{TransferPair, TransferScenario};
use crate::time::SimTime;

pub use trickles_core::synthetic::{StreamApp, stream_request, stream_request_with_body};

fn instant(t: SimTime) -> Instant {
    Instant(t.as_nanos() / 1000)
}

/// The stateful Trickles client as an endpoint.
#[derive(Debug)]
pub struct TricklesClient {
    /// The engine.
    pub client: Client,
}

impl Endpoint for TricklesClient {
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        self.client.start(instant(now), &mut |f| tx.send(f));
    }

    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        self.client
            .on_frame(instant(now), frame, &mut |f| tx.send(f));
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        self.client.on_timer(instant(now), &mut |f| tx.send(f));
    }

    fn next_timer(&self) -> Option<SimTime> {
        self.client.next_timer().map(|t| SimTime::from_micros(t.0))
    }

    fn is_done(&self) -> bool {
        self.client.is_done()
    }
}

/// The stateless Trickles server as an endpoint.
#[derive(Debug)]
pub struct TricklesServer {
    /// The engine.
    pub server: StreamServer<StreamApp>,
    /// Print a line per frame to stderr (`TRICKLES_TRACE`).
    pub trace: bool,
    /// Round of each slot sent as new data (incarnation 0): the answer to
    /// the SYN is round 0, and the slots a request sends are one round
    /// after the slot it acknowledges. Observation only, for tests.
    round_of: std::collections::HashMap<u32, u32>,
    /// New-data slots sent per round.
    rounds: Vec<u32>,
}

impl TricklesServer {
    /// A server endpoint on `port`.
    pub fn new(port: u16) -> TricklesServer {
        TricklesServer {
            server: server(port),
            trace: std::env::var_os("TRICKLES_TRACE").is_some(),
            round_of: Default::default(),
            rounds: Vec::new(),
        }
    }

    /// New-data slots sent per round (incarnation 0), the counterpart of
    /// [`crate::reno::RenoSender::segments_per_round`].
    pub fn slots_per_round(&self) -> &[u32] {
        &self.rounds
    }

    fn observe(&mut self, request: &[u8], sent: &[Vec<u8>]) {
        use trickles_wire::trickles::continuation::Continuation;
        use trickles_wire::trickles::{Body, Flags};
        let Ok(f) = trickles_wire::frame::parse(request) else {
            return;
        };
        let parent = match f.trickles.body {
            Body::Syn(_) => None,
            Body::Request(r) => {
                let c = Continuation::decode(r.continuation);
                if c.incarnation != 0 {
                    return;
                }
                match self.round_of.get(&c.k.0) {
                    Some(&r) => Some(r),
                    None => return,
                }
            }
            _ => return,
        };
        let round = parent.map_or(0, |r| r + 1);
        for frame in sent {
            let Ok(g) = trickles_wire::frame::parse(frame) else {
                continue;
            };
            if let Body::Response(r) | Body::FirstResponse(r) = g.trickles.body
                && !g.trickles.flags.contains(Flags::RETX)
                && r.continuation.incarnation() == 0
            {
                self.round_of.insert(r.slot.0, round);
                let i = round as usize;
                if self.rounds.len() <= i {
                    self.rounds.resize(i + 1, 0);
                }
                self.rounds[i] += 1;
            }
        }
    }
}

/// One-line description of a Trickles frame, for traces.
fn describe(frame: &[u8]) -> String {
    use trickles_wire::trickles::Body;
    use trickles_wire::trickles::continuation::Continuation;
    let Ok(f) = trickles_wire::frame::parse(frame) else {
        return "unparsable".into();
    };
    match f.trickles.body {
        Body::Request(r) | Body::TimeoutRequest(r, _) => {
            let c = Continuation::decode(r.continuation);
            let ranges: Vec<String> = r
                .sack
                .original
                .iter()
                .map(|b| format!("{}-{}", b.start.0, b.end.0))
                .collect();
            format!(
                "{:?} k={} inc={:x} piece=({},{},{}) floor={} sack=[{}]",
                f.trickles.body.packet_type(),
                c.k.0,
                c.incarnation,
                c.base.0,
                c.start_cwnd,
                c.ssthresh,
                c.sack_floor.0,
                ranges.join(",")
            )
        }
        Body::Response(r) | Body::FirstResponse(r) => {
            let retx = if f
                .trickles
                .flags
                .contains(trickles_wire::trickles::Flags::RETX)
            {
                "R"
            } else {
                ""
            };
            format!("{}{}", retx, r.slot.0)
        }
        _ => format!("{:?}", f.trickles.body.packet_type()),
    }
}

impl Endpoint for TricklesServer {
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        if !self.trace {
            let mut sent = Vec::new();
            self.server.handle(instant(now), frame, &mut |f| {
                sent.push(f.to_vec());
                tx.send(f);
            });
            self.observe(frame, &sent);
            return;
        }
        // Debug trace (TRICKLES_TRACE=1): one line per request.
        let before = self.server.stats().clone();
        let mut sent = Vec::new();
        self.server.handle(instant(now), frame, &mut |f| {
            sent.push(describe(f));
            tx.send(f);
        });
        let dropped: Vec<&str> = trickles_core::server::DropReason::ALL
            .iter()
            .filter(|r| self.server.stats().drops(**r) > before.drops(**r))
            .map(|r| r.as_str())
            .collect();
        eprintln!(
            "{:>10.3} ms  {}  -> {:?} {:?}",
            now.as_millis_f64(),
            describe(frame),
            sent,
            dropped
        );
    }

    fn on_timer(&mut self, _now: SimTime, _tx: &mut Tx) {}

    fn next_timer(&self) -> Option<SimTime> {
        None
    }
}

/// The non-zero drop counters of `s`, by reason name, for reports.
pub fn drops_by_reason(s: &ServerStats) -> serde_json::Map<String, serde_json::Value> {
    trickles_core::server::DropReason::ALL
        .iter()
        .filter(|r| s.drops(**r) > 0)
        .map(|r| (r.as_str().to_string(), s.drops(*r).into()))
        .collect()
}

/// A server with fixed simulation keys (any replica holding them can serve).
pub fn server(port: u16) -> StreamServer<StreamApp> {
    let cfg = ServerConfig {
        port,
        ..ServerConfig::default()
    };
    StreamServer::new(
        cfg,
        KeyRing::new(ServerKeys::from_master(
            KeyEpoch(1),
            &MasterKey::new(*b"trickles-sim-key"),
        )),
        KeyRing::new(AppKey::from_master(
            KeyEpoch(1),
            &MasterKey::new(*b"trickles-sim-app"),
        )),
        StreamApp,
    )
}

/// A client endpoint for `flow` (from `flow.client_port`, with initial
/// sequence number `isn`) that asks for `size` bytes of the stream of
/// `seed`.
pub fn client(flow: crate::topology::Flow, isn: u32, size: u64, seed: u64) -> TricklesClient {
    client_with_request(flow, isn, &stream_request(size, seed))
}

/// A client endpoint on `flow` sending `request` in its SYN (and, if it is
/// longer than one packet, in requests after it).
pub fn client_with_request(
    flow: crate::topology::Flow,
    isn: u32,
    request: &[u8],
) -> TricklesClient {
    let ends = Endpoints {
        local_mac: flow.client.mac,
        remote_mac: flow.server.mac,
        local: IpAddr::V4(flow.client.ip),
        local_port: flow.client_port,
        remote: IpAddr::V4(flow.server.ip),
        remote_port: flow.server_port,
    };
    TricklesClient {
        client: Client::new(ClientConfig::default(), ends, isn, request),
    }
}

/// Client and server for one transfer.
#[derive(Debug)]
pub struct TricklesPair {
    /// Client side.
    pub client: TricklesClient,
    /// Server side.
    pub server: TricklesServer,
    seed: u64,
    size: u64,
}

impl TricklesPair {
    /// Endpoints for `sc`, fetching the stream of `seed`.
    pub fn new(sc: &TransferScenario, seed: u64) -> TricklesPair {
        TricklesPair::for_flow(sc.flow(), sc.size, seed)
    }

    /// Endpoints for `flow`, fetching `size` bytes of the stream of `seed`.
    pub fn for_flow(flow: crate::topology::Flow, size: u64, seed: u64) -> TricklesPair {
        TricklesPair::with_request(flow, size, seed, &stream_request(size, seed))
    }

    /// Endpoints for `flow` sending `request`, which must ask for `size`
    /// bytes of the stream whose seed is `stream_seed` (see
    /// [`stream_request_with_body`]).
    pub fn with_request(
        flow: crate::topology::Flow,
        size: u64,
        stream_seed: u64,
        request: &[u8],
    ) -> TricklesPair {
        let seed = stream_seed;
        let isn = (seed as u32) ^ 0x7a11_0000;
        TricklesPair {
            client: client_with_request(flow, isn, request),
            server: TricklesServer::new(flow.server_port),
            seed,
            size,
        }
    }

    /// Did `client` get every byte of this pair's stream, intact?
    pub fn bytes_ok_of(&self, client: &TricklesClient) -> bool {
        let c = &client.client;
        c.is_done()
            && c.total_len() == Some(self.size)
            && c.data()
                .iter()
                .enumerate()
                .all(|(i, &b)| b == stream_byte(self.seed, i as u64))
    }

    /// Server counters.
    pub fn server_stats(&self) -> &ServerStats {
        self.server.server.stats()
    }
}

impl TransferPair for TricklesPair {
    fn name(&self) -> &'static str {
        "trickles"
    }

    fn endpoints(&mut self) -> (&mut dyn Endpoint, &mut dyn Endpoint) {
        (&mut self.client, &mut self.server)
    }

    fn bytes_ok(&self) -> bool {
        self.bytes_ok_of(&self.client)
    }

    fn details(&self) -> serde_json::Value {
        let s = self.server.server.stats();
        let c = self.client.client.stats();
        let drops = drops_by_reason(s);
        serde_json::json!({
            "server": {
                "frames_in": s.frames_in,
                "frames_out": s.frames_out,
                "requests": s.requests,
                "timeouts": s.timeouts,
                "slots_sent": s.slots_sent,
                "slots_retransmitted": s.slots_retransmitted,
                "previous_answered": s.previous_answered,
                "previous_duplicates": s.previous_duplicates,
                "previous_refused": s.previous_refused,
                "contexts_sent": s.contexts_sent,
                "drops": drops,
                "memory_bytes": self.server.server.memory_bytes(),
            },
            "client": {
                "responses": c.responses,
                "requests": c.requests,
                "timeouts": c.timeouts,
                "lost_retransmissions": c.lost_retransmissions,
                "missing_context": c.missing_context,
                "duplicate_bytes": c.duplicate_bytes,
                "srtt_us": self.client.client.srtt(),
            }
        })
    }
}
