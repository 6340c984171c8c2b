//! The stateful client engine (paper §4).
//!
//! The client keeps everything the server does not: the continuations it
//! receives (each one is used at once, for one request), the SACK proof of
//! the current incarnation (with the prefix property: a packet once
//! reported lost stays lost in every later proof), the output continuation,
//! the reassembly of the stream, an RFC 6298 retransmission timer, and the
//! retry count of timeout requests. It predicts which slots each request
//! will bring by running the server's own congestion step (paper §4.3), and
//! uses that prediction for RTT samples.
//!
//! Like the server it is sans-IO: frames and the current time come in,
//! frames go out through a callback, and [`Client::next_timer`] says when to
//! call [`Client::on_timer`].

pub mod proof;
pub mod rtt;

use core::net::IpAddr;
use std::collections::BTreeMap;
use std::vec::Vec;

use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags as tcp_flags;
use trickles_wire::trickles::continuation::{Context, ContextKey, Continuation, ContinuationBytes};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::trickles::{
    Body, Flags, Packet, Request, Response, ResponseCont, Resume, Syn, Versions,
};
use trickles_wire::{ConnId, ethernet, ipv4, ipv6, marker, tcp};

use crate::cc::{self, CcConfig, LossView};
use crate::geometry::Geometry;
use crate::server::mode;
use crate::time::Instant;
use proof::ProofStore;
use rtt::RttEstimator;
use trickles_wire::trickles::sack::{SackBlock, SackProof};

/// Client configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// The server's congestion control (used to predict responses).
    pub cc: CcConfig,
    /// Largest TCP payload the client accepts.
    pub mss: u16,
    /// IP bytes the SYN is padded to, so the answer may carry data (the
    /// server never answers with more bytes than the SYN had).
    pub syn_ip_len: usize,
    /// Retransmission timer bounds (µs).
    pub initial_rto: u64,
    /// Smallest RTO (µs).
    pub min_rto: u64,
    /// Largest RTO (µs).
    pub max_rto: u64,
    /// Largest output stream the client accepts to hold in memory; a
    /// larger one announced by the server is refused.
    pub max_output_len: u64,
    /// Each request also carries the continuation of the request before
    /// it (docs/protocol.md §4.4), so one lost request does not lose a
    /// trickle (76 bytes more per request).
    pub carry_previous: bool,
    /// Delayed acknowledgments (paper §5, off by default): answer two
    /// responses with one request carrying both continuations, or one
    /// alone after `delayed_ack_timeout`. Halves the requests; replaces
    /// `carry_previous` (the second slot of the request is taken).
    pub delayed_acks: bool,
    /// Longest wait for a second response (µs).
    pub delayed_ack_timeout: u64,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            cc: CcConfig::default(),
            mss: 1456,
            syn_ip_len: 1500,
            initial_rto: 1_000_000,
            min_rto: 200_000,
            max_rto: 60_000_000,
            max_output_len: 1 << 32,
            carry_previous: true,
            delayed_acks: false,
            delayed_ack_timeout: 40_000,
        }
    }
}

/// The two ends of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// Client MAC.
    pub local_mac: ethernet::MacAddr,
    /// Next-hop MAC towards the server.
    pub remote_mac: ethernet::MacAddr,
    /// Client address.
    pub local: IpAddr,
    /// Client port.
    pub local_port: u16,
    /// Server address.
    pub remote: IpAddr,
    /// Server port.
    pub remote_port: u16,
}

/// Client counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Response frames received.
    pub responses: u64,
    /// Requests sent.
    pub requests: u64,
    /// Timeout requests sent.
    pub timeouts: u64,
    /// SYNs sent.
    pub syns: u64,
    /// Stream bytes received more than once.
    pub duplicate_bytes: u64,
    /// Frames ignored (not for this connection, malformed).
    pub ignored: u64,
    /// Lost retransmissions detected, each answered by an immediate
    /// timeout request.
    pub lost_retransmissions: u64,
    /// Response packets received a second time (not continued).
    pub duplicate_responses: u64,
    /// Compact responses dropped because their context had not arrived
    /// (its CONTEXT packet was lost, or they came after the engine
    /// forgot it).
    pub missing_context: u64,
    /// Times requests were held back because a hole might be reordering
    /// (docs/protocol.md §14.4).
    pub reorder_holds: u64,
    /// Holds that ended because the missing packet arrived (reordering,
    /// not loss).
    pub reorder_filled: u64,
    /// Originals that arrived after a proof had declared them lost: the
    /// reordering allowance was too short (it grows).
    pub spurious_losses: u64,
}

/// Contexts of compact continuations the client remembers (protocol.md
/// §5.1): the current incarnation's, and a few older ones for responses
/// that arrive late.
const CONTEXTS: usize = 4;

/// Most steps of the reordering allowance (8 × the base allowance).
const MAX_REORDER_STEPS: u32 = 8;
/// Holds in a row that the missing packet ended before the allowance
/// shrinks by one step (RFC 8985 keeps a grown window for 16 recoveries;
/// a hole is far more frequent than a recovery).
const REORDER_STEP_DECAY: u32 = 256;

/// Duplicate responses after which the client stops carrying its previous
/// request's continuation (protocol.md §4.4).
pub const DUPLICATES_BEFORE_NO_PREVIOUS: u64 = 8;

/// The client engine for one connection fetching one output stream.
#[derive(Debug)]
pub struct Client {
    cfg: ClientConfig,
    ends: Endpoints,
    isn: u32,
    request: Vec<u8>,
    /// Request bytes the SYN carried.
    syn_len: usize,
    /// The newest input continuation (paper §4.2) while the server reads
    /// the request, and the request offset it resumes at.
    input_cont: Option<Vec<u8>>,
    input_offset: u64,
    /// Stream bytes handed to the reader.
    read: u64,
    conn: Option<ConnId>,
    incarnation: u32,
    output: Option<Vec<u8>>,
    total: Option<u64>,
    data: Vec<u8>,
    /// Received byte intervals [start, end), merged.
    have: BTreeMap<u64, u64>,
    delivered: u64,
    sack: ProofStore,
    /// Scratch lists for building proofs.
    blocks: (Vec<SackBlock>, Vec<SackBlock>),
    latest: Option<ContinuationBytes>,
    timeout_pending: bool,
    attempt: u8,
    rtt: RttEstimator,
    deadline: Option<Instant>,
    expected: BTreeMap<(u32, u32), Instant>,
    /// Retransmissions the client's requests will bring (predicted like
    /// `expected`), by slot, with the time of the request that asks for
    /// each.
    retx_expected: BTreeMap<u32, Instant>,
    /// The continuation the last request returned, and its incarnation.
    previous_request: Option<(u32, ContinuationBytes)>,
    /// Set once duplicate answers show that previous continuations are
    /// answered although their requests arrived.
    previous_disabled: bool,
    /// Delayed acknowledgments: a continuation waiting for a second one,
    /// and when to give up waiting.
    held: Option<(u32, ContinuationBytes)>,
    delack_deadline: Option<Instant>,
    closed: bool,
    /// Contexts learnt from full continuations, newest at `next_context - 1`.
    contexts: [Option<(ContextKey, Context)>; CONTEXTS],
    next_context: usize,
    /// An original arrived below the highest one received: the path
    /// reorders (docs/protocol.md §14.4).
    reordering_seen: bool,
    /// Continuations whose requests wait for a hole to fill, in arrival
    /// order, and when they stop waiting.
    reorder_queue: Vec<ContinuationBytes>,
    reorder_deadline: Option<Instant>,
    /// The reordering allowance in units of the base allowance (1..=8):
    /// one more for each spurious loss, one less after 256 holds in a row
    /// that the missing packet ended (RFC 8985 §6.2, adapting reo_wnd).
    reorder_steps: u32,
    reorder_fills_in_a_row: u32,
    stats: ClientStats,
}

impl Client {
    /// A client that will send `request` in its SYN.
    pub fn new(cfg: ClientConfig, ends: Endpoints, isn: u32, request: &[u8]) -> Client {
        Client {
            cfg,
            ends,
            isn,
            request: request.to_vec(),
            syn_len: 0,
            input_cont: None,
            input_offset: 0,
            read: 0,
            conn: None,
            incarnation: 0,
            output: None,
            total: None,
            data: Vec::new(),
            have: BTreeMap::new(),
            delivered: 0,
            sack: ProofStore::default(),
            blocks: (Vec::new(), Vec::new()),
            latest: None,
            timeout_pending: false,
            attempt: 0,
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            deadline: None,
            expected: BTreeMap::new(),
            retx_expected: BTreeMap::new(),
            previous_request: None,
            previous_disabled: false,
            held: None,
            delack_deadline: None,
            closed: false,
            contexts: [None; CONTEXTS],
            next_context: 0,
            reordering_seen: false,
            reorder_queue: Vec::new(),
            reorder_deadline: None,
            reorder_steps: 1,
            reorder_fills_in_a_row: 0,
            stats: ClientStats::default(),
        }
    }

    /// Send the SYN.
    pub fn start(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        self.send_syn(now, tx);
    }

    /// True once every byte of the output stream is in.
    pub fn is_done(&self) -> bool {
        self.total.is_some_and(|t| self.delivered >= t)
    }

    /// The stream received so far (complete when [`Client::is_done`]).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Length of the output stream, once known.
    pub fn total_len(&self) -> Option<u64> {
        self.total
    }

    /// Contiguous bytes received from the start.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes ready for [`Client::read`].
    pub fn readable(&self) -> usize {
        (self.delivered - self.read) as usize
    }

    /// Read response bytes in order (the stream API): copies up to
    /// `buf.len()` of the bytes received contiguously and not yet read;
    /// returns how many. 0 with [`Client::is_eof`] means the end.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.readable());
        let from = self.read as usize;
        buf[..n].copy_from_slice(&self.data[from..from + n]);
        self.read += n as u64;
        n
    }

    /// True once every byte of the response has been read.
    pub fn is_eof(&self) -> bool {
        self.is_done() && self.read == self.delivered
    }

    /// Request bytes the server has consumed so far, as its newest input
    /// continuation says (the SYN's bytes before any).
    pub fn request_consumed(&self) -> u64 {
        if self.output.is_some() {
            self.request.len() as u64
        } else {
            self.input_offset
        }
    }

    /// Counters.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Smoothed RTT (µs), once measured.
    pub fn srtt(&self) -> Option<u64> {
        self.rtt.srtt()
    }

    /// When [`Client::on_timer`] wants to run.
    pub fn next_timer(&self) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        [self.deadline, self.delack_deadline, self.reorder_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// The retransmission timer fired.
    pub fn on_timer(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        if self.delack_deadline.is_some_and(|d| now >= d) {
            self.flush_held(now, tx);
        }
        if self.reorder_deadline.is_some_and(|d| now >= d) {
            // The hole outlived the reordering allowance: a loss.
            self.release_held_requests(now, tx);
        }
        if self.is_done() || self.deadline.is_none_or(|d| now < d) {
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        match self.latest {
            None => self.send_syn(now, tx),
            Some(c) => self.send_timeout(now, &c, false, tx),
        }
    }

    /// A frame arrived.
    pub fn on_frame(&mut self, now: Instant, bytes: &[u8], tx: &mut dyn FnMut(&[u8])) {
        let Ok(f) = frame::parse(bytes) else {
            self.stats.ignored += 1;
            return;
        };
        if f.tcp.dst_port != self.ends.local_port
            || f.tcp.src_port != self.ends.remote_port
            || f.src != self.ends.remote
        {
            self.stats.ignored += 1;
            return;
        }
        // Until a connection is adopted, only an answer to this engine's
        // own SYN counts (RFC 9293 §3.10.7.3: a SYN-ACK must acknowledge
        // our ISN): a late frame of an earlier connection from the same
        // port would otherwise be taken for this one's first response.
        if self.conn.is_none()
            && f.tcp.ack != self.isn.wrapping_add(1).wrapping_add(self.syn_len as u32)
        {
            self.stats.ignored += 1;
            return;
        }
        match f.trickles.body {
            Body::FirstResponse(r) | Body::Response(r) => {
                let Some(bytes) = self.whole(&r.continuation) else {
                    self.stats.missing_context += 1;
                    return;
                };
                let retx = f.trickles.flags.contains(Flags::RETX);
                self.on_response(now, &r, &bytes, retx, f.trickles.data, tx);
            }
            Body::Context(bytes) => {
                let cont = Continuation::decode(bytes);
                if self.conn == Some(cont.conn_id) {
                    self.learn_context(&cont);
                } else {
                    self.stats.ignored += 1;
                }
            }
            _ => self.stats.ignored += 1,
        }
    }

    /// The whole continuation of a response: as sent, or a compact one
    /// completed with its context (protocol.md §5.1); `None` if that
    /// context is unknown.
    fn whole(&self, c: &ResponseCont<'_>) -> Option<ContinuationBytes> {
        match c {
            ResponseCont::Full(b) => Some(**b),
            ResponseCont::Compact(b) => {
                let key = ContextKey::of_compact(b);
                let (_, ctx) = self.contexts.iter().flatten().find(|(k, _)| *k == key)?;
                Some(Continuation::from_compact(b, ctx).to_bytes())
            }
        }
    }

    /// Remember the context of a full continuation of this connection.
    fn learn_context(&mut self, cont: &Continuation) {
        let entry = (cont.context_key(), cont.context());
        if let Some(e) = self
            .contexts
            .iter_mut()
            .flatten()
            .find(|(k, _)| *k == entry.0)
        {
            *e = entry;
            return;
        }
        self.contexts[self.next_context % CONTEXTS] = Some(entry);
        self.next_context = self.next_context.wrapping_add(1);
    }

    fn on_response(
        &mut self,
        now: Instant,
        r: &Response<'_>,
        bytes: &ContinuationBytes,
        retx: bool,
        data: &[u8],
        tx: &mut dyn FnMut(&[u8]),
    ) {
        self.stats.responses += 1;
        let cont = Continuation::decode(bytes);
        match self.conn {
            None => {
                self.conn = Some(cont.conn_id);
                self.incarnation = cont.incarnation;
            }
            Some(c) if c != cont.conn_id => {
                self.stats.ignored += 1;
                return;
            }
            Some(_) => {}
        }
        if r.continuation.full().is_some() {
            self.learn_context(&cont);
        }
        // The output continuation: the first one announces the stream;
        // a later one for the same stream (the application may install a
        // new one on any packet) replaces it.
        if let Some(u) = r.user_conts.iter().find(|u| u.kind() == Kind::Output) {
            match self.total {
                None if u.valid_start() == 0 && u.valid_end() <= self.cfg.max_output_len => {
                    self.output = Some(u.as_bytes().to_vec());
                    self.total = Some(u.valid_end());
                    self.data = vec![0; usize::try_from(u.valid_end()).unwrap_or(0)];
                    self.input_cont = None;
                }
                Some(t)
                    if u.valid_start() == 0
                        && u.valid_end() == t
                        && self.output.as_deref() != Some(u.as_bytes()) =>
                {
                    self.output = Some(u.as_bytes().to_vec());
                }
                _ => {}
            }
        }
        // An input continuation: the server read the request up to its
        // `valid_start` and wants the rest (paper §4.2).
        let mut input_asked = false;
        if self.output.is_none()
            && let Some(u) = r.user_conts.iter().find(|u| u.kind() == Kind::Input)
            && u.valid_start() >= self.input_offset
        {
            if u.valid_start() > self.input_offset || self.input_cont.is_none() {
                self.attempt = 0;
                self.deadline = Some(now.plus_micros(self.rtt.rto()));
            }
            self.input_offset = u.valid_start();
            self.input_cont = Some(u.as_bytes().to_vec());
            input_asked = true;
        }
        // A packet of a newer incarnation answers our timeout request.
        let current = if cont.incarnation == self.incarnation {
            true
        } else if self.timeout_pending {
            self.incarnation = cont.incarnation;
            self.sack.clear();
            self.expected.clear();
            self.retx_expected.clear();
            self.held = None;
            self.delack_deadline = None;
            self.drop_held_requests();
            self.timeout_pending = false;
            true
        } else {
            false
        };
        let n = r.slot.0;
        let before = self.delivered;
        self.store(Geometry::of(&cont).slot(n).0, data);
        // The timer measures progress of the contiguous stream, as TCP's
        // measures snd_una: a hole that fast retransmit did not fill ends
        // in a timeout and a resume at the hole.
        if self.delivered > before {
            self.attempt = 0;
            self.deadline = Some(now.plus_micros(self.rtt.rto()));
        }
        if !current {
            return;
        }
        let sent = self.expected.remove(&(self.incarnation, n));
        if let Some(sent) = sent
            && !retx
        {
            self.rtt.sample(now.micros_since(sent));
        }
        let retx_sent = self.retx_expected.remove(&n);
        let requested_at = if retx { retx_sent } else { sent };
        // A second copy of a packet (duplicated by the network, or answered
        // by two replicas that do not share a replay table) must not start
        // a second trickle: requests for it could reach another replica and
        // be answered again, and again.
        if self.sack.has(n, retx) {
            self.stats.duplicate_responses += 1;
            if self.stats.duplicate_responses >= DUPLICATES_BEFORE_NO_PREVIOUS {
                // Evidence that copies of earlier requests are answered too
                // (no shared replay table behind a sprayer): stop sending
                // them, as they would double the traffic.
                self.previous_disabled = true;
            }
            return;
        }
        if !retx && n < self.sack.highest_original() {
            self.reordering_seen = true;
            if self.sack.declared_lost(n) {
                self.stats.spurious_losses += 1;
                self.reorder_steps = (self.reorder_steps + 1).min(MAX_REORDER_STEPS);
                self.reorder_fills_in_a_row = 0;
            }
        }
        self.record_nonce(n, r.nonce, retx);
        self.latest = Some(*bytes);
        if self.is_done() {
            self.finish(now, bytes, tx);
            return;
        }
        if let Some(at) = requested_at
            && self.retransmission_lost(at)
        {
            // Restart at once instead of idling until the RTO (docs/protocol.md
            // §14.3): the hole would otherwise only be filled by the timer.
            self.stats.lost_retransmissions += 1;
            self.send_timeout(now, bytes, true, tx);
            return;
        }
        // After a timeout request the old incarnation's trickles end here,
        // as TCP's outstanding segments are written off by its timeout:
        // continuing them would compete with the restart.
        // Before the output starts, only the trickle that carries the
        // newest input continuation goes on, carrying more input; the
        // others end (their slots hold no stream bytes).
        let reading = Geometry::of(&cont).origin_slot == 0 && self.output.is_none();
        if cont.mode != mode::TERMINAL && !self.timeout_pending && (!reading || input_asked) {
            if self.reorder_queue.is_empty()
                && !(self.reordering_seen && self.sack.has_unreported_hole())
            {
                self.answer_response(now, bytes, tx);
            } else {
                self.reorder_queue.push(*bytes);
                if self.reorder_deadline.is_none() {
                    self.stats.reorder_holds += 1;
                    self.reorder_deadline = Some(now.plus_micros(self.reordering_allowance()));
                }
            }
        }
        if !self.reorder_queue.is_empty() && !self.sack.has_unreported_hole() {
            // The missing packet came: reordering, not loss.
            self.stats.reorder_filled += 1;
            self.reorder_fills_in_a_row += 1;
            if self.reorder_fills_in_a_row >= REORDER_STEP_DECAY {
                self.reorder_fills_in_a_row = 0;
                self.reorder_steps = (self.reorder_steps - 1).max(1);
            }
            self.release_held_requests(now, tx);
        }
        if self.deadline.is_none() {
            self.deadline = Some(now.plus_micros(self.rtt.rto()));
        }
    }

    /// Lost-retransmission detection (in the spirit of RFC 8985, RACK): a
    /// packet asked for by a request sent at `at` has arrived, yet a
    /// retransmission asked for by a request sent clearly earlier (more
    /// than a quarter of the smoothed RTT, the reordering allowance) has
    /// not. Packets leave the server in request order, so that
    /// retransmission (or the request asking for it) is lost, and only a
    /// timeout restart can fill its hole; the restart waits until every
    /// other retransmission asked for has arrived or is overdue too.
    fn retransmission_lost(&self, at: Instant) -> bool {
        if self.timeout_pending || self.output.is_none() {
            return false;
        }
        let allowance = self.reordering_allowance();
        // Restart only once no other retransmission of the round is still
        // on its way: a restart abandons the round, and its holes would
        // have to be sent again.
        let overdue = self
            .retx_expected
            .values()
            .filter(|&&x| x.plus_micros(allowance) < at)
            .count();
        overdue > 0 && overdue == self.retx_expected.len()
    }

    /// How long a packet may trail one sent after it before it counts as
    /// lost: a quarter of the smoothed RTT, at least 1 ms (RFC 8985's
    /// reordering window), times the steps spurious losses added.
    fn reordering_allowance(&self) -> u64 {
        self.rtt.srtt().map_or(0, |s| s / 4).max(1_000) * u64::from(self.reorder_steps)
    }

    /// Send the requests held for a hole, in the order their responses
    /// came (docs/protocol.md §14.4).
    fn release_held_requests(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        self.reorder_deadline = None;
        let mut queue = core::mem::take(&mut self.reorder_queue);
        for c in &queue {
            self.answer_response(now, c, tx);
        }
        queue.clear();
        self.reorder_queue = queue;
    }

    /// Forget the requests held for a hole (their incarnation ended).
    fn drop_held_requests(&mut self) {
        self.reorder_queue.clear();
        self.reorder_deadline = None;
    }

    /// Store stream bytes at `offset`; true if any were new.
    fn store(&mut self, offset: u64, bytes: &[u8]) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        let end = (offset + bytes.len() as u64).min(total);
        if offset >= end {
            return false;
        }
        let new = self.insert_interval(offset, end);
        if new > 0 {
            let (a, b) = (offset as usize, end as usize);
            self.data[a..b].copy_from_slice(&bytes[..b - a]);
        }
        self.stats.duplicate_bytes += (end - offset) - new;
        while let Some((&s, &e)) = self.have.range(..=self.delivered).next_back() {
            if s <= self.delivered && e > self.delivered {
                self.delivered = e;
            } else {
                break;
            }
        }
        new > 0
    }

    /// Merge [start, end) into the received set; returns how many bytes
    /// were not there before.
    fn insert_interval(&mut self, start: u64, end: u64) -> u64 {
        let (mut lo, mut hi, mut covered) = (start, end, 0);
        let touching: Vec<(u64, u64)> = self
            .have
            .range(..=end)
            .filter(|&(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            covered += e.min(end).saturating_sub(s.max(start));
            self.have.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.have.insert(lo, hi);
        (end - start) - covered
    }

    fn record_nonce(&mut self, n: u32, nonce: u32, retx: bool) {
        self.sack.record(n, nonce, retx);
    }

    /// Answer a response: request its trickle's next slots, or, with
    /// delayed acknowledgments, hold it until a second response arrives
    /// and answer both with one request (paper §5; the held continuation
    /// rides as the request's "previous" one, protocol.md §4.4).
    fn answer_response(
        &mut self,
        now: Instant,
        bytes: &ContinuationBytes,
        tx: &mut dyn FnMut(&[u8]),
    ) {
        if !self.cfg.delayed_acks || self.output.is_none() {
            let previous = self
                .previous_request
                .filter(|(inc, _)| {
                    self.cfg.carry_previous && !self.previous_disabled && *inc == self.incarnation
                })
                .filter(|_| self.output.is_some())
                .map(|(_, b)| b);
            self.send_request(now, bytes, previous, tx);
            return;
        }
        match self.held.take() {
            Some((inc, held)) if inc == self.incarnation => {
                self.delack_deadline = None;
                self.send_request(now, bytes, Some(held), tx);
            }
            _ => {
                self.held = Some((self.incarnation, *bytes));
                self.delack_deadline = Some(now.plus_micros(self.cfg.delayed_ack_timeout));
            }
        }
    }

    /// Send the held continuation alone (the delayed-ACK timer fired).
    fn flush_held(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        self.delack_deadline = None;
        if let Some((inc, held)) = self.held.take()
            && inc == self.incarnation
            && !self.timeout_pending
        {
            self.send_request(now, &held, None, tx);
        }
    }

    fn send_request(
        &mut self,
        now: Instant,
        bytes: &ContinuationBytes,
        previous: Option<ContinuationBytes>,
        tx: &mut dyn FnMut(&[u8]),
    ) {
        let cont = Continuation::decode(bytes);
        let prev = previous.map(|b| Continuation::decode(&b));
        // The proof must serve both continuations: build it from the
        // lower of their floors (ranges below a continuation's floor are
        // ignored by the server for that continuation).
        let floor = prev.map_or(cont.sack_floor.0, |p| p.sack_floor.0.min(cont.sack_floor.0));
        let (mut original, mut retransmitted) = core::mem::take(&mut self.blocks);
        self.sack.build(floor, &mut original, &mut retransmitted);
        let proof = SackProof {
            original: List::Items(&original),
            retransmitted: List::Items(&retransmitted),
        };
        // Predict the slots this request brings, for RTT samples and
        // lost-retransmission detection.
        for c in prev.iter().chain(core::iter::once(&cont)) {
            let trickle = crate::server::trickle_of(c);
            if let Ok(plan) = cc::step(
                &self.cfg.cc,
                &trickle,
                &LossView::new(proof.original, c.sack_floor),
            ) {
                for s in plan.send.iter().flat_map(|s| s.iter()) {
                    self.expected.entry((self.incarnation, s)).or_insert(now);
                }
                for s in plan.retransmit.iter().flat_map(|s| s.iter()) {
                    self.retx_expected.entry(s).or_insert(now);
                }
            }
        }
        while self.expected.len() > 65_536 {
            self.expected.pop_first();
        }
        while self.retx_expected.len() > 65_536 {
            self.retx_expected.pop_first();
        }
        let uc = self.output.as_deref().or(self.input_cont.as_deref());
        if let Some(Ok(u)) = uc.map(UserCont::parse) {
            let uconts = [u];
            let request = Request {
                continuation: bytes,
                previous: previous.as_ref(),
                sack: proof,
                user_conts: List::Items(&uconts),
            };
            let flags = if previous.is_some() {
                Flags::PREVIOUS
            } else {
                Flags(0)
            };
            let p = self.with_input(Body::Request(request), flags);
            if self.emit(&p, tcp_flags::ACK, tx) {
                self.stats.requests += 1;
            }
        }
        self.previous_request = Some((self.incarnation, *bytes));
        self.blocks = (original, retransmitted);
    }

    /// A packet with `body` carrying the next request bytes the server
    /// asked for (none once the output has started), as many as fit in
    /// the client's MSS.
    fn with_input<'p>(&'p self, body: Body<'p>, flags: Flags) -> Packet<'p> {
        let mut p = Packet {
            flags,
            body,
            data: &[],
            padding: 0,
        };
        if self.output.is_none() && self.input_cont.is_some() {
            let from = (self.input_offset as usize).min(self.request.len());
            let room = usize::from(self.cfg.mss).saturating_sub(p.header_len());
            let to = from.saturating_add(room).min(self.request.len());
            p.data = &self.request[from..to];
        }
        p
    }

    /// A TIMEOUT_REQUEST; `lost_retransmission` when the client detected one
    /// rather than its timer expiring.
    fn send_timeout(
        &mut self,
        now: Instant,
        bytes: &ContinuationBytes,
        lost_retransmission: bool,
        tx: &mut dyn FnMut(&[u8]),
    ) {
        let Some(uc) = self.output.clone().or_else(|| self.input_cont.clone()) else {
            return;
        };
        let Ok(u) = UserCont::parse(&uc) else {
            return;
        };
        let uconts = [u];
        let floor = Continuation::decode(bytes).sack_floor.0;
        let (mut original, mut retransmitted) = core::mem::take(&mut self.blocks);
        self.sack.build(floor, &mut original, &mut retransmitted);
        let proof = SackProof {
            original: List::Items(&original),
            retransmitted: List::Items(&retransmitted),
        };
        let p = self.with_input(
            Body::TimeoutRequest(
                Request {
                    continuation: bytes,
                    previous: None,
                    sack: proof,
                    user_conts: List::Items(&uconts),
                },
                self.resume_point(),
            ),
            Flags(
                Flags::with_attempt(self.attempt.saturating_sub(1)).0
                    | if lost_retransmission {
                        Flags::LOST_RETRANSMISSION.0
                    } else {
                        0
                    },
            ),
        );
        if self.emit(&p, tcp_flags::ACK, tx) {
            self.stats.timeouts += 1;
            self.timeout_pending = true;
        }
        self.drop_held_requests();
        self.blocks = (original, retransmitted);
        self.arm_backoff(now);
    }

    /// Arm the timer for the next retry: RTO doubled per attempt (RFC 6298
    /// §5.5), at most the largest RTO.
    fn arm_backoff(&mut self, now: Instant) {
        let backoff = self
            .rtt
            .rto()
            .saturating_mul(1u64 << self.attempt.min(16))
            .min(self.cfg.max_rto);
        self.deadline = Some(now.plus_micros(backoff));
    }

    /// Where to resume after a timeout: the first missing byte, and the
    /// run of bytes held after that hole.
    fn resume_point(&self) -> Resume {
        let (held_from, held_to) = self
            .have
            .range(self.delivered + 1..)
            .next()
            .map_or((self.delivered, self.delivered), |(&s, &e)| (s, e));
        Resume {
            offset: self.delivered,
            held_from,
            held_to,
        }
    }

    fn send_syn(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        let ip_hdr = match self.ends.remote {
            IpAddr::V4(_) => ipv4::HEADER_LEN,
            IpAddr::V6(_) => ipv6::HEADER_LEN,
        };
        // The SYN carries as much of the request as fits in its padded
        // size (and the MSS); the server asks for the rest with input
        // continuations.
        let headers = ip_hdr + tcp::HEADER_LEN + marker::TCP_OPTIONS.len() + 16;
        let room =
            self.cfg.syn_ip_len.max(headers + 1).min(
                ip_hdr + tcp::HEADER_LEN + marker::TCP_OPTIONS.len() + usize::from(self.cfg.mss),
            ) - headers;
        self.syn_len = self.request.len().min(room);
        let padding = self.cfg.syn_ip_len.saturating_sub(headers + self.syn_len);
        let request = core::mem::take(&mut self.request);
        let p = Packet {
            flags: Flags(0),
            body: Body::Syn(Syn {
                versions: Versions::SUPPORTED,
                mss: self.cfg.mss,
            }),
            data: &request[..self.syn_len],
            padding,
        };
        if self.emit(&p, tcp_flags::SYN, tx) {
            self.stats.syns += 1;
        }
        self.request = request;
        self.arm_backoff(now);
    }

    fn finish(&mut self, _now: Instant, bytes: &ContinuationBytes, tx: &mut dyn FnMut(&[u8])) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.deadline = None;
        self.drop_held_requests();
        let p = Packet {
            flags: Flags(0),
            body: Body::Close(bytes),
            data: &[],
            padding: 0,
        };
        self.emit(&p, tcp_flags::FIN | tcp_flags::ACK, tx);
    }

    fn emit(&self, p: &Packet<'_>, flags: u8, tx: &mut dyn FnMut(&[u8])) -> bool {
        let isn_s = self.conn.map_or(0, |c| c.0 as u32);
        let seq = if flags & tcp_flags::SYN != 0 {
            self.isn
        } else {
            self.isn.wrapping_add(1).wrapping_add(self.syn_len as u32)
        };
        let h = Headers {
            src_mac: self.ends.local_mac,
            dst_mac: self.ends.remote_mac,
            src: self.ends.local,
            dst: self.ends.remote,
            tcp: TcpFields {
                src_port: self.ends.local_port,
                dst_port: self.ends.remote_port,
                seq,
                ack: if flags & tcp_flags::SYN != 0 {
                    0
                } else {
                    isn_s.wrapping_add(1).wrapping_add(self.delivered as u32)
                },
                flags,
                window: u16::MAX,
            },
            ttl: 64,
        };
        let mut buf = [0u8; 2048];
        match frame::emit(&h, p, &mut buf) {
            Ok(n) => {
                tx(&buf[..n]);
                true
            }
            Err(_) => false,
        }
    }
}
