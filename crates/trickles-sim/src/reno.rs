//! Reference TCP Reno over real Ethernet/IPv4/TCP frames (no Trickles
//! marker): the yardstick the Trickles engines are compared against.
//!
//! Two variants, chosen by [`RenoConfig::sack`]:
//!
//! * **SACK Reno** (the default): RFC 5681 slow start and congestion
//!   avoidance with SACK (RFC 2018), conservative SACK-based loss recovery
//!   (RFC 6675) with NewReno's rule that one recovery repairs a whole
//!   window, and detection of lost retransmissions (as Linux's
//!   `tcp_mark_lost_retrans`): in essence what Linux does when it runs Reno
//!   instead of CUBIC, the paper's baseline.
//! * **Classic Reno** (`sack: false` on either side): RFC 5681 fast
//!   retransmit and fast recovery with window inflation, no SACK. A window
//!   that loses several segments usually ends in a timeout and go-back-N.
//!
//! The endpoints:
//!
//! * [`RenoReceiver`] is the client: it sends a SYN at start, completes the
//!   handshake, acknowledges every data segment at once with a cumulative
//!   ACK (no delayed ACKs), with SACK blocks when SACK is in use, buffers
//!   out-of-order data, and checks every byte against
//!   [`stream_byte`](crate::packet::stream_byte).
//! * [`RenoSender`] is the server: it answers the SYN with a SYN-ACK, and
//!   when the handshake ACK arrives sends `size` stream bytes in segments of
//!   `mss` bytes with Reno congestion control counted in packets.
//!
//! # Congestion control common to both (RFC 5681, RFC 6298, in packets)
//!
//! * `cwnd` starts at [`RenoConfig::initial_cwnd`] (default 2, as in the
//!   paper), `ssthresh` at [`RenoConfig::initial_ssthresh`] (default
//!   "infinite").
//! * An ACK that advances `snd_una` ("new ACK") outside recovery: in slow
//!   start (`cwnd < ssthresh`) `cwnd += 1`; in congestion avoidance a
//!   counter of new ACKs reaches `cwnd`, then `cwnd += 1` and the counter
//!   resets. ACKs are counted, not acknowledged bytes (no ABC, RFC 3465).
//! * RTO per RFC 6298: SRTT/RTTVAR from one timed segment at a time, never
//!   a retransmitted one (Karn), `RTO = max(min_rto, SRTT + max(G,
//!   4·RTTVAR))`, doubled on each timeout up to `max_rto`. On timeout
//!   `cwnd = 1` and slow start resumes. The SYN-ACK → ACK exchange gives
//!   the first sample.
//! * The sender ignores the receiver's window (the receiver buffers any
//!   amount), so only congestion control limits it.
//!
//! Without losses the two variants send the same segments in the same
//! rounds with the same `cwnd` (the SYN and SYN-ACK differ by the 4-byte
//! SACK-permitted option, which shifts times by its serialization).
//!
//! # Classic Reno (`sack: false`)
//!
//! * The sender may send while `snd_nxt − snd_una < cwnd`.
//! * The 3rd duplicate ACK: `ssthresh = max(flight / 2, 2)` with
//!   `flight = snd_nxt − snd_una` in segments, retransmit `snd_una`,
//!   `cwnd = ssthresh + 3`, enter fast recovery; each further duplicate ACK
//!   inflates `cwnd` by one. The first new ACK (full or partial) deflates
//!   `cwnd` to `ssthresh` and ends recovery (classic Reno, not NewReno).
//! * Timeout: `ssthresh = max(flight / 2, 2)`, go back N from `snd_una`.
//!
//! # SACK Reno (`sack: true`, the default)
//!
//! Negotiation (RFC 2018 §2): the receiver's SYN carries SACK-permitted
//! (`NOP NOP 4 2`); the sender answers with it only if its own
//! configuration has `sack`, and SACK is used when the SYN-ACK carries it.
//! Otherwise both sides run classic Reno.
//!
//! Receiver (RFC 2018 §3–4): every ACK sent while out-of-order data is held
//! carries a SACK option (`NOP NOP 5 len`, so the header stays a whole
//! number of 32-bit words) with up to 3 blocks, each a maximal contiguous
//! range of held data: first the range holding the segment that triggered
//! the ACK, then the other ranges, most recently changed first. It never
//! reneges on SACKed data. Not implemented: D-SACK (RFC 2883).
//!
//! Sender, a scoreboard of the outstanding segments (SACKed, lost,
//! retransmitted), in segments:
//!
//! * `IsLost(s)` (RFC 6675 §4): at least DupThresh
//!   ([`RenoConfig::dupack_threshold`], 3) SACKed segments above `s`. A
//!   segment stays lost until it is SACKed or acknowledged.
//! * `pipe` (RFC 6675 §4 `SetPipe`): over the unSACKed outstanding
//!   segments, one if not lost plus one if a retransmission of it is in
//!   flight (a per-segment retransmitted mark instead of `HighRxt`, as
//!   Linux's packets-in-flight count does).
//! * The sender transmits while `pipe < cwnd`, in and out of recovery (as
//!   Linux does; with nothing SACKed or lost `pipe = snd_nxt − snd_una`),
//!   choosing each segment by `NextSeg()` (RFC 6675 §4): (1) the lowest
//!   lost, unSACKed segment not already retransmitted, else (2) new data,
//!   else (3) in recovery, the lowest unSACKed, unretransmitted segment
//!   below the highest SACKed one. Rule 4 (rescue retransmission) is not
//!   implemented. Segments SACKed before recovery starts let new data out,
//!   which is the effect of limited transmit (RFC 3042).
//! * A duplicate ACK counts towards DupThresh only if it SACKs new data
//!   (RFC 6675 §2). Recovery starts (RFC 6675 §5) on an ACK after which
//!   `DupAcks ≥ DupThresh` or `IsLost(snd_una)`, unless in recovery already
//!   or after a timeout with `snd_una < RecoveryPoint`: `RecoveryPoint =
//!   HighData`, `ssthresh = cwnd = max(FlightSize / 2, 2)` with `FlightSize
//!   = min(snd_nxt − snd_una, cwnd)`, i.e. without segments sent beyond
//!   `cwnd` thanks to SACKed ones (RFC 5681 §3.2, RFC 6675 §5 step 4.2),
//!   and `snd_una` is retransmitted at once whatever `pipe` says (step
//!   4.3).
//! * In recovery `cwnd` stays at `ssthresh` (no inflation, no growth, no
//!   PRR, RFC 6937); a partial ACK keeps recovery going (NewReno
//!   semantics); recovery ends when `snd_una ≥ RecoveryPoint`, after one
//!   window reduction however many segments the window lost.
//! * Lost retransmissions: a retransmitted segment that is not SACKed when
//!   some segment at or above `HighData` at the time of the retransmission
//!   (so first sent after it) is SACKed, is marked lost again and resent by
//!   rule (1), in the same recovery and without another reduction (Linux's
//!   `tcp_mark_lost_retrans`; RACK, RFC 8985, does this by time instead).
//! * RTT samples also come from the SACK of the timed segment.
//! * Timeout: `ssthresh = max((snd_nxt − snd_una) / 2, 2)`, `cwnd = 1`,
//!   retransmitted marks cleared and every unSACKed outstanding segment
//!   marked lost; slow start then resends them lowest first and never
//!   resends a SACKed segment. The scoreboard is kept, as Linux does (RFC
//!   2018 says to clear it in case the receiver reneged; RFC 6675 §5.1
//!   notes that keeping it is accepted; this receiver never reneges).
//!   `RecoveryPoint = HighData` and no fast recovery starts before
//!   `snd_una ≥ RecoveryPoint` (RFC 6675 §5.1).
//!
//! Not implemented in either variant: timestamps, D-SACK-based undo of
//! spurious recoveries (RFC 2883, RFC 3708, Eifel), RACK-TLP (RFC 8985),
//! tail-loss probes, early retransmit (RFC 5827), PRR (RFC 6937), delayed
//! ACKs, and flow control. A lost last segment is found by the timeout.
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
use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use trickles_wire::tcp::{self, flags};

use crate::endpoint::{Endpoint, Tx};
use crate::packet::{
    SACK_PERMITTED_OPTION, build_tcp_frame, fill_stream, has_sack_permitted, parse_tcp_frame,
    push_sack_option, sack_blocks, stream_mismatches,
};
use crate::time::{SimTime, duration_nanos};
use crate::topology::{Flow, HostAddr};

/// Window advertised by both sides (the sender ignores it).
const WINDOW: u16 = 65_535;
/// Largest MSS that fits an IPv4 packet.
const MAX_MSS: usize = 65_535 - 40;
/// SACK blocks the receiver puts on one ACK (RFC 2018 §3 allows 4 without
/// the timestamp option; 3 is what a stack with timestamps sends).
const SACK_BLOCKS_PER_ACK: usize = 3;

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
    /// Offer (receiver) and accept (sender) SACK: RFC 2018 options and
    /// RFC 6675 loss recovery with lost-retransmission detection. When
    /// either side has it off, both run classic RFC 5681 Reno.
    pub sack: bool,
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
            sack: true,
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
    /// Segments the sender believes are in the network after the event:
    /// RFC 6675 `pipe` with SACK, `in_flight` without.
    pub pipe: u64,
    /// In fast recovery after the event.
    pub in_recovery: bool,
}

/// Counters and final state of a [`RenoSender`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RenoSenderStats {
    /// Data segments transmitted (including retransmissions).
    pub data_segments_sent: u64,
    /// Data segments retransmitted (fast retransmit, SACK recovery, and
    /// go-back-N or retransmissions after a timeout).
    pub retransmitted_segments: u64,
    /// Fast retransmits (with SACK: entries into RFC 6675 loss recovery).
    pub fast_retransmits: u64,
    /// SACK was negotiated on this connection.
    pub sack: bool,
    /// Segments newly covered by a SACK block.
    pub sacked_segments: u64,
    /// Retransmissions found lost (a segment sent after one was SACKed
    /// while it was not) and sent again without a timeout.
    pub lost_retransmissions: u64,
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

/// SACK scoreboard entry of one outstanding segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SegState {
    /// Covered by a SACK block.
    sacked: bool,
    /// Deemed lost: `IsLost` of RFC 6675, everything not SACKed at a
    /// timeout, or a lost retransmission.
    lost: bool,
    /// A retransmission of it is in the network.
    rexmit: bool,
    /// `max_sent` when it was last retransmitted: SACK of any segment at or
    /// above this one means a later transmission got through.
    rexmit_hi: u64,
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
    // SACK (RFC 2018 / RFC 6675), when negotiated.
    sack: bool,
    /// Scoreboard of segments `una..max_sent`.
    board: VecDeque<SegState>,
    /// One past the highest SACKed segment (at most `una` when none).
    high_sacked: u64,
    /// RFC 6675 `pipe`, in segments.
    pipe: u64,
    /// RFC 6675 `RecoveryPoint` (`max_sent` at entry into recovery or at a
    /// timeout).
    recovery_point: u64,
    /// After a timeout, until `una ≥ recovery_point` (no fast recovery).
    in_loss: bool,
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
            sack: false,
            board: VecDeque::new(),
            high_sacked: 0,
            pipe: 0,
            recovery_point: 0,
            in_loss: false,
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
            sack: self.sack,
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
                pipe: if self.sack {
                    self.pipe
                } else {
                    self.nxt - self.una
                },
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
            options: if self.sack {
                &SACK_PERMITTED_OPTION
            } else {
                &[]
            },
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

    /// One new ACK outside recovery (RFC 5681, counted in packets): slow
    /// start adds one segment, congestion avoidance one per window of ACKs.
    fn grow_window(&mut self) {
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(1);
        } else {
            self.ack_count += 1;
            if self.ack_count >= self.cwnd {
                self.cwnd = self.cwnd.saturating_add(1);
                self.ack_count = 0;
            }
        }
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
        if self.sack {
            self.sack_send(now, 0, tx);
        } else {
            self.send_window(now, 0, tx);
        }
    }

    /// Stream offset of sequence number `seq`, if it is not below `snd_una`
    /// by more than 2^31.
    fn offset(&self, seq: u32) -> Option<u64> {
        let una_bytes = (self.una * self.mss as u64).min(self.size);
        let rel = seq.wrapping_sub(self.cfg.sender_isn.wrapping_add(1));
        let d = rel.wrapping_sub(una_bytes as u32) as i32;
        u64::try_from(i128::from(una_bytes) + i128::from(d)).ok()
    }

    /// Mark the segments the SACK blocks of `options` cover; the number
    /// newly SACKed. Blocks not above `snd_una` or beyond what was sent
    /// (D-SACK, stale or bogus) are ignored.
    fn apply_sack(&mut self, now: SimTime, options: &[u8]) -> u64 {
        let mss = self.mss as u64;
        let una_bytes = (self.una * mss).min(self.size);
        let sent_bytes = (self.max_sent * mss).min(self.size);
        let mut newly = 0;
        for (left, right) in sack_blocks(options) {
            let (Some(lo), Some(hi)) = (self.offset(left), self.offset(right)) else {
                continue;
            };
            if lo >= hi || hi <= una_bytes || hi > sent_bytes {
                continue;
            }
            let first = lo.max(una_bytes).div_ceil(mss).max(self.una);
            let end = if hi >= self.size {
                self.nsegs
            } else {
                hi / mss
            };
            for seg in first..end.min(self.max_sent) {
                let Some(st) = self.board.get_mut((seg - self.una) as usize) else {
                    break;
                };
                if st.sacked {
                    continue;
                }
                st.sacked = true;
                newly += 1;
                self.high_sacked = self.high_sacked.max(seg + 1);
                if let Some((timed, at)) = self.timing
                    && timed == seg
                {
                    self.timing = None;
                    self.rtt_sample(now.0.saturating_sub(at.0));
                }
            }
        }
        self.stats.sacked_segments += newly;
        newly
    }

    /// One pass over the scoreboard from the top: mark `IsLost` segments
    /// (RFC 6675 §4: at least DupThresh SACKed segments above), detect lost
    /// retransmissions, and recompute `pipe` (RFC 6675 §4 `SetPipe`, with a
    /// per-segment retransmitted mark in place of `HighRxt`, as Linux does).
    fn update_scoreboard(&mut self) {
        let thresh = u64::from(self.cfg.dupack_threshold.max(1));
        let high = self.high_sacked;
        let mut sacked_above = 0;
        let mut pipe = 0;
        let mut relost = 0;
        for st in self.board.iter_mut().rev() {
            if st.sacked {
                sacked_above += 1;
                continue;
            }
            if sacked_above >= thresh {
                st.lost = true;
            }
            if st.rexmit && high > st.rexmit_hi {
                st.rexmit = false;
                st.lost = true;
                relost += 1;
            }
            pipe += u64::from(!st.lost) + u64::from(st.rexmit);
        }
        self.stats.lost_retransmissions += relost;
        self.pipe = pipe;
    }

    /// RFC 6675 `NextSeg()`: the first lost, unSACKed segment not already
    /// retransmitted (rule 1), else new data (rule 2), else in recovery an
    /// unSACKed, unretransmitted segment below the highest SACK (rule 3).
    /// `lost_at` and `hole_at` are scan cursors kept across calls.
    fn next_seg(&self, lost_at: &mut u64, hole_at: &mut u64) -> Option<u64> {
        let state = |seg: u64| self.board[(seg - self.una) as usize];
        while *lost_at < self.max_sent {
            let st = state(*lost_at);
            if !st.sacked && st.lost && !st.rexmit {
                return Some(*lost_at);
            }
            *lost_at += 1;
        }
        if self.max_sent < self.nsegs {
            return Some(self.max_sent);
        }
        if self.in_recovery {
            while *hole_at < self.high_sacked.min(self.max_sent) {
                let st = state(*hole_at);
                if !st.sacked && !st.lost && !st.rexmit {
                    return Some(*hole_at);
                }
                *hole_at += 1;
            }
        }
        None
    }

    /// Send `seg` (new or a retransmission) and account for it in `pipe`.
    fn transmit(&mut self, seg: u64, now: SimTime, round: u32, tx: &mut Tx) {
        self.send_segment(seg, round, tx);
        if seg < self.max_sent {
            self.stats.retransmitted_segments += 1;
            let high = self.max_sent;
            if let Some(st) = self.board.get_mut((seg - self.una) as usize) {
                st.rexmit = true;
                st.rexmit_hi = high;
            }
            if self.timing.is_some_and(|(t, _)| t == seg) {
                self.timing = None;
            }
        } else {
            if self.timing.is_none() {
                self.timing = Some((seg, now));
            }
            self.max_sent = seg + 1;
            self.nxt = self.max_sent;
            self.board.push_back(SegState::default());
        }
        self.pipe += 1;
    }

    /// Transmit while `pipe < cwnd` (RFC 6675 §5 step C).
    fn sack_send(&mut self, now: SimTime, round: u32, tx: &mut Tx) {
        let (mut lost_at, mut hole_at) = (self.una, self.una);
        while self.pipe < u64::from(self.cwnd) {
            let Some(seg) = self.next_seg(&mut lost_at, &mut hole_at) else {
                break;
            };
            self.transmit(seg, now, round, tx);
        }
        if self.deadline.is_none() && self.una < self.max_sent {
            self.deadline = Some(now + Duration::from_nanos(self.rto));
        }
    }

    /// RFC 6675 §5 step 4: enter loss recovery.
    fn enter_recovery(&mut self, now: SimTime, round: u32, tx: &mut Tx) {
        self.stats.fast_retransmits += 1;
        self.recovery_point = self.max_sent;
        // FlightSize without the segments sent beyond cwnd because SACKed
        // ones left the pipe (limited transmit, RFC 5681 §3.2 / RFC 6675 §5).
        let flight = (self.max_sent - self.una).min(u64::from(self.cwnd));
        self.ssthresh = u32::try_from(flight / 2).unwrap_or(u32::MAX).max(2);
        self.cwnd = self.ssthresh;
        self.ack_count = 0;
        self.in_recovery = true;
        let mut resend = false;
        if let Some(st) = self.board.front_mut() {
            st.lost = true;
            resend = !st.sacked && !st.rexmit;
        }
        self.update_scoreboard();
        // (4.3) The first segment goes out whatever `pipe` says.
        if resend {
            self.transmit(self.una, now, round, tx);
        }
    }

    fn on_ack_sack(&mut self, now: SimTime, ack: u32, options: &[u8], tx: &mut Tx) {
        self.stats.acks_received += 1;
        let Some(seg) = self.acked(ack) else {
            self.record(now, AckKind::Old);
            return;
        };
        let kind = if seg > self.una {
            if let Some((timed, at)) = self.timing
                && seg > timed
            {
                self.timing = None;
                self.rtt_sample(now.0.saturating_sub(at.0));
            }
            self.ack_round = self.seg_round.get(seg as usize - 1).copied().unwrap_or(0);
            let n = usize::try_from(seg - self.una).unwrap_or(usize::MAX);
            self.board.drain(..n.min(self.board.len()));
            self.una = seg;
            self.nxt = self.nxt.max(seg);
            if self.in_recovery {
                // NewReno: a partial ACK keeps recovery going; cwnd stays
                // at ssthresh throughout (no inflation).
                if self.una >= self.recovery_point {
                    self.cwnd = self.ssthresh;
                    self.in_recovery = false;
                    self.ack_count = 0;
                }
            } else {
                self.grow_window();
            }
            if self.in_loss && self.una >= self.recovery_point {
                self.in_loss = false;
            }
            self.dupacks = 0;
            self.deadline =
                (self.una < self.max_sent).then(|| now + Duration::from_nanos(self.rto));
            AckKind::New
        } else if seg == self.una && self.una < self.max_sent {
            self.stats.dupacks_received += 1;
            AckKind::Duplicate
        } else {
            AckKind::Old
        };
        let newly = self.apply_sack(now, options);
        if kind == AckKind::Duplicate && newly > 0 {
            // RFC 6675: a duplicate ACK counts when it SACKs new data.
            self.dupacks += 1;
        }
        self.update_scoreboard();
        let round = self.ack_round + 1;
        if !self.in_recovery
            && !self.in_loss
            && self.una < self.max_sent
            && (self.dupacks >= self.cfg.dupack_threshold
                || self.board.front().is_some_and(|st| st.lost))
        {
            self.enter_recovery(now, round, tx);
        }
        self.record(now, kind);
        if kind != AckKind::Old || newly > 0 {
            self.sack_send(now, round, tx);
        }
    }

    /// RFC 6298 timeout with SACK: halve, slow start from one segment, and
    /// resend everything not SACKed, lowest first.
    fn on_timeout_sack(&mut self, now: SimTime, tx: &mut Tx) {
        self.stats.timeouts += 1;
        self.ssthresh = self.flight_half();
        self.cwnd = 1;
        self.ack_count = 0;
        self.dupacks = 0;
        self.in_recovery = false;
        self.in_loss = true;
        self.recovery_point = self.max_sent;
        self.timing = None;
        for st in &mut self.board {
            st.rexmit = false;
            st.lost |= !st.sacked;
        }
        self.update_scoreboard();
        self.back_off();
        self.record(now, AckKind::Timeout);
        let round = u32::try_from(self.rounds.len()).unwrap_or(u32::MAX);
        self.sack_send(now, round, tx);
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
            } else {
                self.grow_window();
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
                    self.sack = self.cfg.sack && has_sack_permitted(f.options);
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
            SenderState::Established if self.sack => self.on_ack_sack(now, f.ack, f.options, tx),
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
            SenderState::Established if self.sack && self.una < self.max_sent => {
                self.on_timeout_sack(now, tx);
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
    /// SACK was negotiated on this connection.
    pub sack: bool,
    /// Of the ACKs, those that carried SACK blocks.
    pub sack_acks_sent: u64,
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
    sack: bool,
    /// Byte ranges held out of order (maximal, disjoint), most recently
    /// changed first: the SACK blocks to report (RFC 2018 §4).
    sack_ranges: Vec<(u64, u64)>,
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
            sack: false,
            sack_ranges: Vec::new(),
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

    fn send(&mut self, flags: u8, seq: u32, ack: u32, options: &[u8], tx: &mut Tx) {
        let repr = tcp::Repr {
            src_port: self.flow.client_port,
            dst_port: self.flow.server_port,
            seq,
            ack,
            flags,
            window: WINDOW,
            options,
        };
        if let Ok(f) = build_tcp_frame(self.flow.client, self.flow.server, &repr, &[]) {
            tx.send_owned(f);
        }
    }

    fn send_syn(&mut self, tx: &mut Tx) {
        self.stats.syns_sent += 1;
        let options: &[u8] = if self.cfg.sack {
            &SACK_PERMITTED_OPTION
        } else {
            &[]
        };
        self.send(flags::SYN, self.cfg.receiver_isn, 0, options, tx);
    }

    fn send_ack(&mut self, tx: &mut Tx) {
        self.stats.acks_sent += 1;
        let ack = self
            .server_isn
            .wrapping_add(1)
            .wrapping_add(self.rcv_nxt as u32);
        let mut options = Vec::new();
        if self.sack && !self.sack_ranges.is_empty() {
            let base = self.server_isn.wrapping_add(1);
            let mut blocks = [(0, 0); SACK_BLOCKS_PER_ACK];
            let n = self.sack_ranges.len().min(SACK_BLOCKS_PER_ACK);
            for (b, &(l, r)) in blocks.iter_mut().zip(&self.sack_ranges) {
                *b = (base.wrapping_add(l as u32), base.wrapping_add(r as u32));
            }
            push_sack_option(&mut options, &blocks[..n]);
            self.stats.sack_acks_sent += 1;
        }
        self.send(
            flags::ACK,
            self.cfg.receiver_isn.wrapping_add(1),
            ack,
            &options,
            tx,
        );
    }

    /// Out-of-order bytes `start..end` arrived: the range holding them
    /// (merged with its neighbours) becomes the first SACK block.
    fn note_sack_range(&mut self, start: u64, end: u64) {
        let (mut lo, mut hi) = (start, end);
        self.sack_ranges.retain(|&(l, r)| {
            if r < lo || l > hi {
                return true;
            }
            lo = lo.min(l);
            hi = hi.max(r);
            false
        });
        self.sack_ranges.insert(0, (lo, hi));
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
            let rcv_nxt = self.rcv_nxt;
            self.sack_ranges.retain(|&(_, r)| r > rcv_nxt);
        } else {
            self.stats.out_of_order_segments += 1;
            if self.sack {
                self.note_sack_range(start, end);
            }
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
                    self.sack = self.cfg.sack && has_sack_permitted(f.options);
                    self.stats.sack = self.sack;
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
