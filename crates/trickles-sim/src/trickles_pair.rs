//! The real Trickles engines as simulator endpoints: the stateful client
//! (`trickles_core::client`) and the stateless server
//! (`trickles_core::server`) serving the deterministic test stream.

use core::net::IpAddr;

use trickles_core::Instant;
use trickles_core::client::{Client, ClientConfig, Endpoints};
use trickles_core::crypto::{AppKey, KeyRing, MasterKey, ServerKeys};
use trickles_core::server::{
    AppRefusal, Application, MAX_APP_DATA, Opened, Output, ServerConfig, ServerStats, StreamServer,
};
use trickles_wire::KeyEpoch;

use crate::endpoint::{Endpoint, Tx};
use crate::packet::{fill_stream, stream_byte};
use crate::scenario::{TransferPair, TransferScenario};
use crate::time::SimTime;

/// The server application of the simulator: the request names a length
/// and a seed, the output is `stream_byte(seed, offset)`.
///
/// A request may also carry a body (see [`stream_request_with_body`]): its
/// bytes are folded into the seed, so the output proves the server read
/// every byte of it, through input continuations when it spans several
/// packets (paper §4.2).
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamApp;

/// FNV-1a over `bytes`, continuing from `h`.
fn fold(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Digest of a partly read request: size, seed, total length, hash so far.
const DIGEST_LEN: usize = 8 + 8 + 4 + 8;

impl StreamApp {
    fn finish(
        size: u64,
        seed: u64,
        hash: Option<u64>,
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Opened {
        let seed = hash.map_or(seed, |h| seed ^ h);
        app_data[..8].copy_from_slice(&size.to_be_bytes());
        app_data[8..16].copy_from_slice(&seed.to_be_bytes());
        Opened::Output(Output {
            len: size,
            app_data_len: 16,
        })
    }

    /// Read `input` (bytes `consumed..` of a request of `total` bytes).
    fn read(
        size: u64,
        seed: u64,
        total: u64,
        hash: u64,
        consumed: u64,
        input: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Opened {
        let want = total.saturating_sub(consumed).min(input.len() as u64) as usize;
        let hash = fold(hash, &input[..want]);
        let consumed = consumed + want as u64;
        if consumed >= total {
            return StreamApp::finish(size, seed, Some(hash), app_data);
        }
        app_data[..8].copy_from_slice(&size.to_be_bytes());
        app_data[8..16].copy_from_slice(&seed.to_be_bytes());
        app_data[16..20].copy_from_slice(&(total as u32).to_be_bytes());
        app_data[20..28].copy_from_slice(&hash.to_be_bytes());
        Opened::NeedInput {
            consumed,
            digest_len: DIGEST_LEN,
        }
    }
}

fn be64(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_be_bytes(x)
}

impl Application for StreamApp {
    fn open(
        &mut self,
        request: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        if request.len() == 16 {
            return Ok(StreamApp::finish(
                be64(request),
                be64(&request[8..]),
                None,
                app_data,
            ));
        }
        let head = request.get(..20).ok_or(AppRefusal)?;
        let total = u64::from(u32::from_be_bytes([head[16], head[17], head[18], head[19]]));
        if total < 20 {
            return Err(AppRefusal);
        }
        Ok(StreamApp::read(
            be64(head),
            be64(&head[8..]),
            total,
            FNV_START,
            20,
            &request[20..],
            app_data,
        ))
    }

    fn more_input(
        &mut self,
        digest: &[u8],
        consumed: u64,
        input: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        let d = digest.get(..DIGEST_LEN).ok_or(AppRefusal)?;
        let total = u64::from(u32::from_be_bytes([d[16], d[17], d[18], d[19]]));
        Ok(StreamApp::read(
            be64(d),
            be64(&d[8..]),
            total,
            be64(&d[20..]),
            consumed,
            input,
            app_data,
        ))
    }

    fn fill(&mut self, app_data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), AppRefusal> {
        let seed: [u8; 8] = app_data
            .get(8..16)
            .and_then(|s| s.try_into().ok())
            .ok_or(AppRefusal)?;
        fill_stream(u64::from_be_bytes(seed), offset, buf);
        Ok(())
    }
}

/// A request for `size` bytes whose stream seed is `seed` folded with
/// every byte of `body` (what [`StreamApp`] serves for it), and that seed.
pub fn stream_request_with_body(size: u64, seed: u64, body: &[u8]) -> (Vec<u8>, u64) {
    let total = 20 + body.len();
    let mut r = Vec::with_capacity(total);
    r.extend_from_slice(&size.to_be_bytes());
    r.extend_from_slice(&seed.to_be_bytes());
    r.extend_from_slice(&(total as u32).to_be_bytes());
    r.extend_from_slice(body);
    (r, seed ^ fold(FNV_START, body))
}

/// The request a client sends for `size` bytes of stream `seed`.
pub fn stream_request(size: u64, seed: u64) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[..8].copy_from_slice(&size.to_be_bytes());
    r[8..].copy_from_slice(&seed.to_be_bytes());
    r
}

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
                && Continuation::decode(r.continuation).incarnation == 0
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
                "drops": drops,
                "memory_bytes": self.server.server.memory_bytes(),
            },
            "client": {
                "responses": c.responses,
                "requests": c.requests,
                "timeouts": c.timeouts,
                "lost_retransmissions": c.lost_retransmissions,
                "duplicate_bytes": c.duplicate_bytes,
                "srtt_us": self.client.client.srtt(),
            }
        })
    }
}
