//! Reference TCP Reno over real Ethernet/IPv4/TCP frames (no Trickles
//! marker): the yardstick the Trickles engines are compared against.
//!
//! * [`RenoReceiver`] is the client: it sends a SYN at start, completes the
//!   handshake, acknowledges every data segment at once with a cumulative
//!   ACK (no delayed ACKs, no SACK), buffers out-of-order data, and checks
//!   every byte against [`stream_byte`](crate::packet::stream_byte).
//! * [`RenoSender`] is the server: it answers the SYN with a SYN-ACK, and
//!   when the handshake ACK arrives sends `size` stream bytes in segments of
//!   `mss` bytes with RFC 5681 Reno congestion control counted in packets.
//!
//! # Congestion control (RFC 5681, classic Reno, in packets)
//!
//! * `cwnd` starts at [`RenoConfig::initial_cwnd`] (default 2, as in the
//!   paper), `ssthresh` at [`RenoConfig::initial_ssthresh`] (default
//!   "infinite").
//! * An ACK that advances `snd_una` ("new ACK"): in slow start
//!   (`cwnd < ssthresh`) `cwnd += 1`; in congestion avoidance a counter of
//!   new ACKs reaches `cwnd`, then `cwnd += 1` and the counter resets. ACKs
//!   are counted, not acknowledged bytes (no ABC).
//! * The 3rd duplicate ACK: `ssthresh = max(flight / 2, 2)` with
//!   `flight = snd_nxt − snd_una` in segments, retransmit `snd_una`,
//!   `cwnd = ssthresh + 3`, enter fast recovery; each further duplicate ACK
//!   inflates `cwnd` by one. The first new ACK (full or partial) deflates
//!   `cwnd` to `ssthresh` and ends recovery (classic Reno, not NewReno).
//! * RTO per RFC 6298: SRTT/RTTVAR from one timed segment at a time, never
//!   a retransmitted one (Karn), `RTO = max(min_rto, SRTT + max(G,
//!   4·RTTVAR))`, doubled on each timeout up to `max_rto`. On timeout:
//!   `ssthresh = max(flight / 2, 2)`, `cwnd = 1`, go back N from
//!   `snd_una`. The SYN-ACK → ACK exchange gives the first sample.
//! * The sender ignores the receiver's window (the receiver buffers any
//!   amount), so only congestion control limits it.
//!
//! # Rounds
//!
//! [`RenoSender::segments_per_round`] counts data transmissions by round:
//! the segments sent when the handshake completes are round 0; a segment
//! sent in response to an ACK is in round `r + 1`, where `r` is the round
//! of the newest segment acknowledged by the latest new ACK (duplicate ACKs
//! reuse that `r`); segments sent on a timeout start a new round after the
//! highest so far. In a loss-free run with no delayed ACKs this is the
//! classic "packets per RTT" and doubles in slow start.

use core::time::Duration;
use std::collections::BTreeMap;

use serde::Serialize;
use trickles_wire::tcp::{self, flags};

use crate::endpoint::{Endpoint, Tx};
use crate::packet::{build_tcp_frame, fill_stream, parse_tcp_frame, stream_mismatches};
use crate::time::{SimTime, duration_nanos};
use crate::topology::{Flow, HostAddr};

/// Window advertised by both sides (the sender ignores it).
const WINDOW: u16 = 65_535;
/// Largest MSS that fits an IPv4 packet.
const MAX_MSS: usize = 65_535 - 40;

/// Parameters of the Reno pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenoConfig {
    /// Payload bytes per data segment (clamped to 1..=65495).
    pub mss: usize,
    /// Initial congestion window, in segments.
    pub initial_cwnd: u32,
    /// Initial slow-start threshold, in segments.
    pub initial_ssthresh: u32,
    /// Duplicate ACKs that trigger fast retransmit.
    pub dupack_threshold: u32,
    /// RTO before the first RTT sample (also the SYN retransmission timer).
    #[serde(serialize_with = "ser_ns")]
    pub initial_rto: Duration,
    /// Lower bound of the RTO.
    #[serde(serialize_with = "ser_ns")]
    pub min_rto: Duration,
    /// Upper bound of the RTO (and of its backoff).
    #[serde(serialize_with = "ser_ns")]
    pub max_rto: Duration,
    /// Clock granularity `G` of RFC 6298.
    #[serde(serialize_with = "ser_ns")]
    pub clock_granularity: Duration,
    /// The sender's initial sequence number (default close to 2^32 so that
    /// every transfer over 64 KiB exercises wrap-around).
    pub sender_isn: u32,
    /// The receiver's initial sequence number.
    pub receiver_isn: u32,
    /// Record an [`AckSample`] for every ACK and timeout.
    pub trace: bool,
}

fn ser_ns<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration_nanos(*d))
}

impl Default for RenoConfig {
    fn default() -> RenoConfig {
        RenoConfig {
            mss: 1448,
            initial_cwnd: 2,
            initial_ssthresh: u32::MAX,
            dupack_threshold: 3,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            clock_granularity: Duration::from_millis(1),
            sender_isn: 0xffff_0000,
            receiver_isn: 0x0000_1000,
            trace: false,
        }
    }
}

impl RenoConfig {
    fn mss(&self) -> usize {
        self.mss.clamp(1, MAX_MSS)
    }
}

/// What an [`AckSample`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AckKind {
    /// The handshake completed (the initial window follows).
    Handshake,
    /// An ACK that advanced `snd_una`.
    New,
    /// A duplicate ACK.
    Duplicate,
    /// An ACK below `snd_una`, or duplicate with nothing outstanding.
    Old,
    /// A retransmission timeout fired.
    Timeout,
}

/// The sender's congestion state right after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AckSample {
    /// When.
    pub at: SimTime,
    /// What happened.
    pub kind: AckKind,
    /// Segments cumulatively acknowledged (`snd_una`).
    pub acked: u64,
    /// Congestion window after the event, in segments.
    pub cwnd: u32,
    /// Slow-start threshold after the event.
    pub ssthresh: u32,
    /// Segments outstanding (`snd_nxt − snd_una`) after the event.
    pub in_flight: u64,
    /// In fast recovery after the event.
    pub in_recovery: bool,
}

/// Counters and final state of a [`RenoSender`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RenoSenderStats {
    /// Data segments transmitted (including retransmissions).
    pub data_segments_sent: u64,
    /// Data segments retransmitted (fast retransmit and go-back-N).
    pub retransmitted_segments: u64,
    /// Fast retransmits.
    pub fast_retransmits: u64,
    /// Retransmission timeouts (data phase).
    pub timeouts: u64,
    /// SYN-ACKs sent (more than one: retransmitted).
    pub synacks_sent: u64,
    /// ACKs received in the data phase.
    pub acks_received: u64,
    /// Of which duplicates.
    pub dupacks_received: u64,
    /// RTT samples taken.
    pub rtt_samples: u64,
    /// Frames that did not parse as valid IPv4/TCP (bad checksum, ...).
    pub bad_frames: u64,
    /// Valid frames for another connection, or out of place.
    pub ignored_frames: u64,
    /// Current congestion window, in segments.
    pub cwnd: u32,
    /// Current slow-start threshold, in segments.
    pub ssthresh: u32,
    /// Smoothed RTT in ns (0 before the first sample).
    pub srtt_ns: u64,
    /// Current RTO in ns.
    pub rto_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SenderState {
    Listen,
    SynReceived,
    Established,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Peer {
    addr: HostAddr,
    port: u16,
    isn: u32,
}

/// The server side of the Reno reference: sends `size` bytes of the stream
/// of `seed` to the client whose SYN it receives.
#[derive(Debug)]
pub struct RenoSender {
    cfg: RenoConfig,
    mss: usize,
    local: HostAddr,
    port: u16,
    size: u64,
    seed: u64,
    nsegs: u64,
    state: SenderState,
    peer: Option<Peer>,
    // Congestion control, in segments.
    cwnd: u32,
    ssthresh: u32,
    ack_count: u32,
    dupacks: u32,
    in_recovery: bool,
    una: u64,
    nxt: u64,
    max_sent: u64,
    // RTO (RFC 6298), ns.
    srtt: Option<u64>,
    rttvar: u64,
    rto: u64,
    deadline: Option<SimTime>,
    timing: Option<(u64, SimTime)>,
    synack_sent_at: Option<SimTime>,
    synack_retransmitted: bool,
    // Rounds.
    seg_round: Vec<u32>,
    rounds: Vec<u32>,
    ack_round: u32,
    trace: Vec<AckSample>,
    stats: RenoSenderStats,
    payload: Vec<u8>,
}

impl RenoSender {
    /// A sender listening at `local:port` that will send `size` bytes of
    /// the stream of `seed`.
    pub fn new(local: HostAddr, port: u16, size: u64, seed: u64, cfg: RenoConfig) -> RenoSender {
        let mss = cfg.mss();
        let nsegs = size.div_ceil(mss as u64);
        RenoSender {
            mss,
            local,
            port,
            size,
            seed,
            nsegs,
            state: SenderState::Listen,
            peer: None,
            cwnd: cfg.initial_cwnd.max(1),
            ssthresh: cfg.initial_ssthresh,
            ack_count: 0,
            dupacks: 0,
            in_recovery: false,
            una: 0,
            nxt: 0,
            max_sent: 0,
            srtt: None,
            rttvar: 0,
            rto: duration_nanos(cfg.initial_rto),
            deadline: None,
            timing: None,
            synack_sent_at: None,
            synack_retransmitted: false,
            seg_round: vec![0; usize::try_from(nsegs).unwrap_or(0)],
            rounds: Vec::new(),
            ack_round: 0,
            trace: Vec::new(),
            stats: RenoSenderStats::default(),
            payload: vec![0; mss],
            cfg,
        }
    }

    /// Number of data segments of the transfer.
    pub fn segments(&self) -> u64 {
        self.nsegs
    }

    /// Segments cumulatively acknowledged.
    pub fn acked_segments(&self) -> u64 {
        self.una
    }

    /// Current congestion window, in segments.
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// Current slow-start threshold, in segments.
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    /// Bytes sent and not yet cumulatively acknowledged: what a TCP sender
    /// must keep in its send buffer for retransmission. (This simulated
    /// sender regenerates them from the stream instead.)
    pub fn unacked_bytes(&self) -> u64 {
        let at = |seg: u64| seg.saturating_mul(self.mss as u64).min(self.size);
        at(self.max_sent).saturating_sub(at(self.una))
    }

    /// Counters and current congestion state.
    pub fn stats(&self) -> RenoSenderStats {
        RenoSenderStats {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            srtt_ns: self.srtt.unwrap_or(0),
            rto_ns: self.rto,
            ..self.stats.clone()
        }
    }

    /// Per-event congestion trace (empty unless [`RenoConfig::trace`]).
    pub fn trace(&self) -> &[AckSample] {
        &self.trace
    }

    /// Data transmissions per round (see the module documentation).
    pub fn segments_per_round(&self) -> &[u32] {
        &self.rounds
    }

    fn record(&mut self, at: SimTime, kind: AckKind) {
        if self.cfg.trace {
            self.trace.push(AckSample {
                at,
                kind,
                acked: self.una,
                cwnd: self.cwnd,
                ssthresh: self.ssthresh,
                in_flight: self.nxt - self.una,
                in_recovery: self.in_recovery,
            });
        }
    }

    fn segment(&self, f: &crate::packet::TcpFrame<'_>) -> Option<Peer> {
        if f.dst_ip != self.local.ip || f.dst_port != self.port {
            return None;
        }
        Some(Peer {
            addr: f.src(),
            port: f.src_port,
            isn: f.seq,
        })
    }

    fn send_synack(&mut self, now: SimTime, tx: &mut Tx) {
        let Some(peer) = self.peer else { return };
        let repr = tcp::Repr {
            src_port: self.port,
            dst_port: peer.port,
            seq: self.cfg.sender_isn,
            ack: peer.isn.wrapping_add(1),
            flags: flags::SYN | flags::ACK,
            window: WINDOW,
            options: &[],
        };
        if let Ok(f) = build_tcp_frame(self.local, peer.addr, &repr, &[]) {
            tx.send_owned(f);
        }
        self.stats.synacks_sent += 1;
        if self.synack_sent_at.is_none() {
            self.synack_sent_at = Some(now);
        }
    }

    fn send_segment(&mut self, seg: u64, round: u32, tx: &mut Tx) {
        let Some(peer) = self.peer else { return };
        if seg >= self.nsegs {
            return;
        }
        let off = seg * self.mss as u64;
        let len = (self.size - off).min(self.mss as u64) as usize;
        let mut payload = std::mem::take(&mut self.payload);
        fill_stream(self.seed, off, &mut payload[..len]);
        let repr = tcp::Repr {
            src_port: self.port,
            dst_port: peer.port,
            seq: self.cfg.sender_isn.wrapping_add(1).wrapping_add(off as u32),
            ack: peer.isn.wrapping_add(1),
            flags: flags::ACK,
            window: WINDOW,
            options: &[],
        };
        if let Ok(f) = build_tcp_frame(self.local, peer.addr, &repr, &payload[..len]) {
            tx.send_owned(f);
        }
        self.payload = payload;
        self.stats.data_segments_sent += 1;
        if let Some(r) = self.seg_round.get_mut(seg as usize) {
            *r = round;
        }
        let r = round as usize;
        if self.rounds.len() <= r {
            self.rounds.resize(r + 1, 0);
        }
        self.rounds[r] += 1;
    }

    /// Send new (or go-back-N) segments while the window allows.
    fn send_window(&mut self, now: SimTime, round: u32, tx: &mut Tx) {
        while self.nxt < self.nsegs && self.nxt - self.una < u64::from(self.cwnd) {
            let seg = self.nxt;
            let retransmission = seg < self.max_sent;
            self.send_segment(seg, round, tx);
            if retransmission {
                self.stats.retransmitted_segments += 1;
            } else if self.timing.is_none() {
                self.timing = Some((seg, now));
            }
            self.nxt += 1;
            self.max_sent = self.max_sent.max(self.nxt);
        }
        if self.deadline.is_none() && self.una < self.max_sent {
            self.deadline = Some(now + Duration::from_nanos(self.rto));
        }
    }

    fn rtt_sample(&mut self, r: u64) {
        self.stats.rtt_samples += 1;
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                self.rttvar = (3 * self.rttvar + s.abs_diff(r)) / 4;
                self.srtt = Some((7 * s + r) / 8);
            }
        }
        let s = self.srtt.unwrap_or(r);
        let g = duration_nanos(self.cfg.clock_granularity);
        let rto = s.saturating_add(g.max(self.rttvar.saturating_mul(4)));
        self.rto = rto.clamp(
            duration_nanos(self.cfg.min_rto),
            duration_nanos(self.cfg.max_rto).max(duration_nanos(self.cfg.min_rto)),
        );
    }

    fn back_off(&mut self) {
        let max = duration_nanos(self.cfg.max_rto);
        self.rto = self.rto.saturating_mul(2).min(max.max(1));
    }

    fn flight_half(&self) -> u32 {
        u32::try_from((self.nxt - self.una) / 2)
            .unwrap_or(u32::MAX)
            .max(2)
    }

    /// Map an acknowledgment number to acknowledged segments, if it is
    /// plausible (not below `snd_una` by more than 2^31, not above what was
    /// sent).
    fn acked(&self, ack: u32) -> Option<u64> {
        let una_bytes = (self.una * self.mss as u64).min(self.size);
        let rel = ack.wrapping_sub(self.cfg.sender_isn.wrapping_add(1));
        let d = rel.wrapping_sub(una_bytes as u32) as i32;
        let off = i128::from(una_bytes) + i128::from(d);
        let sent_bytes = (self.max_sent * self.mss as u64).min(self.size);
        if off < 0 || off > i128::from(sent_bytes) {
            return None;
        }
        let off = off as u64;
        Some(if off >= self.size {
            self.nsegs
        } else {
            off / self.mss as u64
        })
    }

    fn establish(&mut self, now: SimTime, tx: &mut Tx) {
        self.state = SenderState::Established;
        self.deadline = None;
        if !self.synack_retransmitted
            && let Some(t) = self.synack_sent_at
        {
            self.rtt_sample(now.0.saturating_sub(t.0));
        }
        self.record(now, AckKind::Handshake);
        self.send_window(now, 0, tx);
    }

    fn on_ack(&mut self, now: SimTime, ack: u32, tx: &mut Tx) {
        self.stats.acks_received += 1;
        let Some(seg) = self.acked(ack) else {
            self.record(now, AckKind::Old);
            return;
        };
        if seg > self.una {
            if let Some((timed, at)) = self.timing
                && seg > timed
            {
                self.timing = None;
                self.rtt_sample(now.0.saturating_sub(at.0));
            }
            self.ack_round = self.seg_round.get(seg as usize - 1).copied().unwrap_or(0);
            self.una = seg;
            self.nxt = self.nxt.max(seg);
            if self.in_recovery {
                self.cwnd = self.ssthresh;
                self.in_recovery = false;
                self.ack_count = 0;
            } else if self.cwnd < self.ssthresh {
                self.cwnd = self.cwnd.saturating_add(1);
            } else {
                self.ack_count += 1;
                if self.ack_count >= self.cwnd {
                    self.cwnd = self.cwnd.saturating_add(1);
                    self.ack_count = 0;
                }
            }
            self.dupacks = 0;
            self.deadline =
                (self.una < self.max_sent).then(|| now + Duration::from_nanos(self.rto));
            self.record(now, AckKind::New);
            self.send_window(now, self.ack_round + 1, tx);
        } else if seg == self.una && self.una < self.max_sent {
            self.stats.dupacks_received += 1;
            self.dupacks += 1;
            if self.in_recovery {
                self.cwnd = self.cwnd.saturating_add(1);
            } else if self.dupacks == self.cfg.dupack_threshold {
                self.ssthresh = self.flight_half();
                self.stats.fast_retransmits += 1;
                self.stats.retransmitted_segments += 1;
                self.timing = None;
                self.send_segment(self.una, self.ack_round + 1, tx);
                self.cwnd = self.ssthresh.saturating_add(3);
                self.in_recovery = true;
            }
            self.record(now, AckKind::Duplicate);
            self.send_window(now, self.ack_round + 1, tx);
        } else {
            self.record(now, AckKind::Old);
        }
    }
}

impl Endpoint for RenoSender {
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        let Ok(f) = parse_tcp_frame(frame) else {
            self.stats.bad_frames += 1;
            return;
        };
        let Some(from) = self.segment(&f) else {
            self.stats.ignored_frames += 1;
            return;
        };
        let same_peer =
            |p: &Option<Peer>| p.is_some_and(|p| p.addr.ip == from.addr.ip && p.port == from.port);
        if f.flags & flags::RST != 0 {
            self.stats.ignored_frames += 1;
            return;
        }
        if f.flags & flags::SYN != 0 {
            match self.state {
                _ if f.flags & flags::ACK != 0 => self.stats.ignored_frames += 1,
                SenderState::Listen => {
                    self.peer = Some(from);
                    self.state = SenderState::SynReceived;
                    self.send_synack(now, tx);
                    self.deadline = Some(now + Duration::from_nanos(self.rto));
                }
                SenderState::SynReceived if same_peer(&self.peer) => {
                    // The client retransmitted its SYN: our SYN-ACK was lost.
                    self.synack_retransmitted = true;
                    self.send_synack(now, tx);
                }
                _ => self.stats.ignored_frames += 1,
            }
            return;
        }
        if !same_peer(&self.peer) || f.flags & flags::ACK == 0 {
            self.stats.ignored_frames += 1;
            return;
        }
        match self.state {
            SenderState::SynReceived => {
                if f.ack == self.cfg.sender_isn.wrapping_add(1) {
                    self.establish(now, tx);
                } else {
                    self.stats.ignored_frames += 1;
                }
            }
            SenderState::Established => self.on_ack(now, f.ack, tx),
            SenderState::Listen => self.stats.ignored_frames += 1,
        }
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        self.deadline = None;
        match self.state {
            SenderState::SynReceived => {
                self.synack_retransmitted = true;
                self.send_synack(now, tx);
                self.back_off();
                self.deadline = Some(now + Duration::from_nanos(self.rto));
            }
            SenderState::Established if self.una < self.max_sent => {
                self.stats.timeouts += 1;
                self.ssthresh = self.flight_half();
                self.cwnd = 1;
                self.ack_count = 0;
                self.dupacks = 0;
                self.in_recovery = false;
                self.timing = None;
                self.nxt = self.una;
                self.back_off();
                self.record(now, AckKind::Timeout);
                let round = u32::try_from(self.rounds.len()).unwrap_or(u32::MAX);
                self.send_window(now, round, tx);
            }
            _ => {}
        }
    }

    fn next_timer(&self) -> Option<SimTime> {
        self.deadline
    }

    fn is_done(&self) -> bool {
        self.state == SenderState::Established && self.una >= self.nsegs
    }
}

/// Counters of a [`RenoReceiver`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RenoReceiverStats {
    /// SYNs sent (more than one: retransmitted).
    pub syns_sent: u64,
    /// Data segments received (including duplicates).
    pub data_segments: u64,
    /// Data segments entirely below `rcv_nxt`.
    pub duplicate_segments: u64,
    /// Data segments that arrived above `rcv_nxt` and were buffered.
    pub out_of_order_segments: u64,
    /// ACKs sent.
    pub acks_sent: u64,
    /// In-order bytes that differ from the stream.
    pub mismatched_bytes: u64,
    /// Bytes received beyond the transfer size.
    pub overrun_bytes: u64,
    /// Largest number of bytes held out of order.
    pub max_ooo_bytes: u64,
    /// Frames that did not parse as valid IPv4/TCP.
    pub bad_frames: u64,
    /// Valid frames for another connection, or out of place.
    pub ignored_frames: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReceiverState {
    Closed,
    SynSent,
    Established,
}

/// The client side of the Reno reference: connects at start, receives
/// `size` bytes and checks each against the stream of `seed`.
#[derive(Debug)]
pub struct RenoReceiver {
    cfg: RenoConfig,
    flow: Flow,
    size: u64,
    seed: u64,
    state: ReceiverState,
    server_isn: u32,
    rcv_nxt: u64,
    ooo: BTreeMap<u64, Vec<u8>>,
    ooo_bytes: u64,
    syn_rto: u64,
    deadline: Option<SimTime>,
    started_at: Option<SimTime>,
    done_at: Option<SimTime>,
    stats: RenoReceiverStats,
}

impl RenoReceiver {
    /// A client for `flow` expecting `size` bytes of the stream of `seed`.
    pub fn new(flow: Flow, size: u64, seed: u64, cfg: RenoConfig) -> RenoReceiver {
        RenoReceiver {
            syn_rto: duration_nanos(cfg.initial_rto),
            cfg,
            flow,
            size,
            seed,
            state: ReceiverState::Closed,
            server_isn: 0,
            rcv_nxt: 0,
            ooo: BTreeMap::new(),
            ooo_bytes: 0,
            deadline: None,
            started_at: None,
            done_at: None,
            stats: RenoReceiverStats::default(),
        }
    }

    /// Bytes received in order so far.
    pub fn received(&self) -> u64 {
        self.rcv_nxt
    }

    /// In-order bytes received so far.
    pub fn delivered(&self) -> u64 {
        self.rcv_nxt
    }

    /// True when every byte arrived and matched the stream.
    pub fn bytes_ok(&self) -> bool {
        self.rcv_nxt == self.size
            && self.stats.mismatched_bytes == 0
            && self.stats.overrun_bytes == 0
    }

    /// Time from `on_start` (the SYN) to the last in-order byte.
    pub fn completion(&self) -> Option<Duration> {
        Some(self.done_at?.saturating_since(self.started_at?))
    }

    /// When the last byte arrived.
    pub fn done_at(&self) -> Option<SimTime> {
        self.done_at
    }

    /// Goodput in Mb/s: `size · 8 / completion`.
    pub fn goodput_mbps(&self) -> Option<f64> {
        let c = self.completion()?;
        (c > Duration::ZERO).then(|| self.size as f64 * 8.0 / c.as_secs_f64() / 1e6)
    }

    /// Counters.
    pub fn stats(&self) -> &RenoReceiverStats {
        &self.stats
    }

    fn send(&mut self, flags: u8, seq: u32, ack: u32, tx: &mut Tx) {
        let repr = tcp::Repr {
            src_port: self.flow.client_port,
            dst_port: self.flow.server_port,
            seq,
            ack,
            flags,
            window: WINDOW,
            options: &[],
        };
        if let Ok(f) = build_tcp_frame(self.flow.client, self.flow.server, &repr, &[]) {
            tx.send_owned(f);
        }
    }

    fn send_syn(&mut self, tx: &mut Tx) {
        self.stats.syns_sent += 1;
        self.send(flags::SYN, self.cfg.receiver_isn, 0, tx);
    }

    fn send_ack(&mut self, tx: &mut Tx) {
        self.stats.acks_sent += 1;
        let ack = self
            .server_isn
            .wrapping_add(1)
            .wrapping_add(self.rcv_nxt as u32);
        self.send(flags::ACK, self.cfg.receiver_isn.wrapping_add(1), ack, tx);
    }

    fn deliver(&mut self, bytes: &[u8]) {
        self.stats.mismatched_bytes += stream_mismatches(self.seed, self.rcv_nxt, bytes);
        self.rcv_nxt += bytes.len() as u64;
    }

    fn on_data(&mut self, now: SimTime, seq: u32, payload: &[u8]) {
        self.stats.data_segments += 1;
        let rel = seq.wrapping_sub(self.server_isn.wrapping_add(1));
        let d = rel.wrapping_sub(self.rcv_nxt as u32) as i32;
        let start = i128::from(self.rcv_nxt) + i128::from(d);
        if start < 0 {
            self.stats.ignored_frames += 1;
            return;
        }
        let start = start as u64;
        let mut payload = payload;
        let end = start + payload.len() as u64;
        if end > self.size {
            self.stats.overrun_bytes += end - self.size.max(start);
            payload = &payload[..self.size.saturating_sub(start) as usize];
        }
        if payload.is_empty() {
            return;
        }
        let end = start + payload.len() as u64;
        if end <= self.rcv_nxt {
            self.stats.duplicate_segments += 1;
        } else if start <= self.rcv_nxt {
            self.deliver(&payload[(self.rcv_nxt - start) as usize..]);
            while let Some(entry) = self.ooo.first_entry() {
                let at = *entry.key();
                if at > self.rcv_nxt {
                    break;
                }
                let bytes = entry.remove();
                self.ooo_bytes -= bytes.len() as u64;
                let end = at + bytes.len() as u64;
                if end > self.rcv_nxt {
                    self.deliver(&bytes[(self.rcv_nxt - at) as usize..]);
                }
            }
        } else {
            self.stats.out_of_order_segments += 1;
            let keep = self.ooo.get(&start).is_none_or(|b| b.len() < payload.len());
            if keep {
                let old = self.ooo.insert(start, payload.to_vec());
                self.ooo_bytes += payload.len() as u64;
                self.ooo_bytes -= old.map_or(0, |b| b.len() as u64);
                self.stats.max_ooo_bytes = self.stats.max_ooo_bytes.max(self.ooo_bytes);
            }
        }
        if self.done_at.is_none() && self.rcv_nxt >= self.size {
            self.done_at = Some(now);
        }
    }
}

impl Endpoint for RenoReceiver {
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        self.started_at = Some(now);
        self.state = ReceiverState::SynSent;
        self.send_syn(tx);
        self.deadline = Some(now + Duration::from_nanos(self.syn_rto));
    }

    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        let Ok(f) = parse_tcp_frame(frame) else {
            self.stats.bad_frames += 1;
            return;
        };
        let flow = &self.flow;
        if f.dst_ip != flow.client.ip
            || f.dst_port != flow.client_port
            || f.src_ip != flow.server.ip
            || f.src_port != flow.server_port
            || f.flags & flags::RST != 0
        {
            self.stats.ignored_frames += 1;
            return;
        }
        if f.has(flags::SYN | flags::ACK) {
            if f.ack != self.cfg.receiver_isn.wrapping_add(1) {
                self.stats.ignored_frames += 1;
                return;
            }
            match self.state {
                ReceiverState::SynSent => {
                    self.server_isn = f.seq;
                    self.state = ReceiverState::Established;
                    self.deadline = None;
                    if self.size == 0 {
                        self.done_at = Some(now);
                    }
                    self.send_ack(tx);
                }
                // Our handshake ACK was lost: repeat it.
                ReceiverState::Established if f.seq == self.server_isn => self.send_ack(tx),
                _ => self.stats.ignored_frames += 1,
            }
            return;
        }
        if self.state != ReceiverState::Established
            || f.flags & (flags::SYN | flags::ACK) != flags::ACK
            || f.payload.is_empty()
        {
            self.stats.ignored_frames += 1;
            return;
        }
        self.on_data(now, f.seq, f.payload);
        self.send_ack(tx);
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        if self.state == ReceiverState::SynSent && self.deadline.is_some_and(|d| now >= d) {
            self.send_syn(tx);
            let max = duration_nanos(self.cfg.max_rto).max(1);
            self.syn_rto = self.syn_rto.saturating_mul(2).min(max);
            self.deadline = Some(now + Duration::from_nanos(self.syn_rto));
        }
    }

    fn next_timer(&self) -> Option<SimTime> {
        self.deadline
    }

    fn is_done(&self) -> bool {
        self.done_at.is_some()
    }
}
