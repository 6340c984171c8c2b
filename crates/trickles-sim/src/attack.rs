//! The `attack` scenario (issue 3): a legitimate transfer while the client
//! side also sends tampered, stolen, replayed and loss-hiding requests
//! (paper §2.2). The server must answer none of them and the transfer must
//! arrive intact.
//!
//! The attacker rides along the real client: after every fourth request it
//! sends
//! - **forged**: the request with one bit of its continuation flipped (the
//!   sealed `ssthresh`), checksums fixed so it is not merely malformed;
//! - **stolen**: the request from another client port (the continuation is
//!   bound to the original port);
//! - **replayed**: an exact copy of an earlier request;
//! - **loss-hiding**: instead of the honest request, the same request with
//!   its SACK proof claiming packets the client did not receive (two ranges
//!   merged over their gap, or the last range extended by one); the client
//!   loses that trickle, as a liar should.
//!
//! The server side counts, for every frame the attacker injected, whether
//! the engine answered it (`forged_accepted`, which must be 0).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::Serialize;
use trickles_wire::frame::{self, Headers};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::{SackBlock, SackProof};
use trickles_wire::trickles::{Body, Packet, Request};

use crate::endpoint::{Endpoint, Tx};
use crate::scenario::{TransferPair, TransferScenario};
use crate::time::SimTime;
use crate::trickles_pair::{TricklesClient, TricklesPair, TricklesServer};

/// Attack frames injected, by bytes; a replay's bytes equal a legitimate
/// request's, so the count says how many arrivals of those bytes beyond the
/// first are attacks.
#[derive(Debug, Default)]
struct Ledger {
    injected: HashMap<Vec<u8>, u32>,
    legit: HashMap<Vec<u8>, u32>,
    sent: AttackCounts,
    answered: u64,
}

/// Attack frames sent, by kind.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct AttackCounts {
    /// Continuations with a flipped bit.
    pub forged: u64,
    /// Continuations sent from another port.
    pub stolen: u64,
    /// Exact copies of earlier requests.
    pub replayed: u64,
    /// Proofs claiming packets not received.
    pub loss_hiding: u64,
}

impl AttackCounts {
    /// All attack frames.
    pub fn total(&self) -> u64 {
        self.forged + self.stolen + self.replayed + self.loss_hiding
    }
}

/// The client with an attacker riding along.
#[derive(Debug)]
pub struct AttackingClient {
    inner: TricklesClient,
    ledger: Rc<RefCell<Ledger>>,
    requests: u64,
    earlier: Option<Vec<u8>>,
}

impl AttackingClient {
    fn pass(&mut self, out: Tx, tx: &mut Tx) {
        for f in out.frames() {
            if let Ok(p) = frame::parse(f)
                && let Body::Request(r) = p.trickles.body
            {
                self.requests += 1;
                if self.requests.is_multiple_of(4) && self.attack(f, &p, &r, tx) {
                    // The loss-hiding version went out instead of it.
                    continue;
                }
            }
            tx.send(f);
            *self
                .ledger
                .borrow_mut()
                .legit
                .entry(f.to_vec())
                .or_default() += 1;
        }
    }

    fn inject(&self, kind: fn(&mut AttackCounts) -> &mut u64, f: Vec<u8>, tx: &mut Tx) {
        tx.send(&f);
        let mut ledger = self.ledger.borrow_mut();
        *kind(&mut ledger.sent) += 1;
        *ledger.injected.entry(f).or_default() += 1;
    }

    /// Send the attack variants of request `bytes`; true if a loss-hiding
    /// version replaced it.
    fn attack(&mut self, bytes: &[u8], p: &frame::Frame<'_>, r: &Request<'_>, tx: &mut Tx) -> bool {
        let h = Headers {
            src_mac: p.src_mac,
            dst_mac: p.dst_mac,
            src: p.src,
            dst: p.dst,
            tcp: p.tcp,
            ttl: 64,
        };
        // Forged: ssthresh (continuation byte 28) changed.
        let mut cont = *r.continuation;
        cont[28] ^= 0x40;
        let forged = Request {
            continuation: &cont,
            ..*r
        };
        if let Some(f) = emit(&h, &p.trickles, Body::Request(forged)) {
            self.inject(|c| &mut c.forged, f, tx);
        }
        // Stolen: the same request from another port.
        let mut other = h;
        other.tcp.src_port = h.tcp.src_port.wrapping_add(1);
        if let Some(f) = emit(&other, &p.trickles, Body::Request(*r)) {
            self.inject(|c| &mut c.stolen, f, tx);
        }
        // Replayed: an earlier request, byte for byte.
        if let Some(f) = self.earlier.replace(bytes.to_vec()) {
            self.inject(|c| &mut c.replayed, f, tx);
        }
        // Loss-hiding, sent instead of the honest request (so it carries a
        // fresh continuation): claim the gap between the first two ranges,
        // or one packet past the last.
        let blocks: Vec<SackBlock> = r.sack.original.iter().collect();
        let mut lie = blocks.clone();
        if blocks.len() >= 2 {
            lie[0] = SackBlock {
                start: blocks[0].start,
                end: blocks[1].end,
                proof: blocks[0].proof ^ blocks[1].proof,
            };
            lie.remove(1);
        } else if let Some(last) = lie.last_mut() {
            last.end.0 += 1;
        } else {
            return false;
        }
        let sack = SackProof {
            original: List::Items(&lie),
            retransmitted: r.sack.retransmitted,
        };
        let hidden = Request { sack, ..*r };
        match emit(&h, &p.trickles, Body::Request(hidden)) {
            Some(f) => {
                self.inject(|c| &mut c.loss_hiding, f, tx);
                true
            }
            None => false,
        }
    }
}

fn emit(h: &Headers, like: &Packet<'_>, body: Body<'_>) -> Option<Vec<u8>> {
    let p = Packet { body, ..*like };
    let mut buf = vec![0u8; 2048];
    let n = frame::emit(h, &p, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

impl Endpoint for AttackingClient {
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        let mut out = Tx::default();
        self.inner.on_start(now, &mut out);
        self.pass(out, tx);
    }

    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        let mut out = Tx::default();
        self.inner.on_frame(now, frame, &mut out);
        self.pass(out, tx);
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        let mut out = Tx::default();
        self.inner.on_timer(now, &mut out);
        self.pass(out, tx);
    }

    fn next_timer(&self) -> Option<SimTime> {
        self.inner.next_timer()
    }

    fn is_done(&self) -> bool {
        self.inner.is_done()
    }
}

/// The server, counting answers to injected frames.
#[derive(Debug)]
pub struct WatchedServer {
    inner: TricklesServer,
    ledger: Rc<RefCell<Ledger>>,
    arrivals: HashMap<Vec<u8>, u32>,
}

impl Endpoint for WatchedServer {
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        let seen = self.arrivals.entry(frame.to_vec()).or_default();
        *seen += 1;
        let ledger = self.ledger.borrow();
        let legit = ledger.legit.get(frame).copied().unwrap_or(0);
        let is_attack = ledger.injected.contains_key(frame) && *seen > legit;
        drop(ledger);
        let mut out = Tx::default();
        self.inner.on_frame(now, frame, &mut out);
        if is_attack && !out.frames().is_empty() {
            self.ledger.borrow_mut().answered += 1;
        }
        for f in out.frames() {
            tx.send(f);
        }
    }

    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        self.inner.on_timer(now, tx);
    }

    fn next_timer(&self) -> Option<SimTime> {
        self.inner.next_timer()
    }
}

/// The attack scenario's pair.
#[derive(Debug)]
pub struct AttackPair {
    client: AttackingClient,
    server: WatchedServer,
    ledger: Rc<RefCell<Ledger>>,
    check: TricklesPair,
}

impl AttackPair {
    /// A transfer for `sc` with the attacker riding along.
    pub fn new(sc: &TransferScenario, seed: u64) -> AttackPair {
        let ledger = Rc::new(RefCell::new(Ledger::default()));
        let base = TricklesPair::new(sc, seed);
        let check = TricklesPair::new(sc, seed);
        let TricklesPair { client, server, .. } = base;
        AttackPair {
            client: AttackingClient {
                inner: client,
                ledger: ledger.clone(),
                requests: 0,
                earlier: None,
            },
            server: WatchedServer {
                inner: server,
                ledger: ledger.clone(),
                arrivals: HashMap::new(),
            },
            ledger,
            check,
        }
    }

    /// Attack frames sent, by kind.
    pub fn sent(&self) -> AttackCounts {
        self.ledger.borrow().sent
    }

    /// Attack frames the server answered (must be 0).
    pub fn forged_accepted(&self) -> u64 {
        self.ledger.borrow().answered
    }

    /// Server drops by reason.
    pub fn dropped_by_reason(&self) -> serde_json::Map<String, serde_json::Value> {
        crate::trickles_pair::drops_by_reason(self.server.inner.server.stats())
    }
}

impl TransferPair for AttackPair {
    fn name(&self) -> &'static str {
        "trickles-under-attack"
    }

    fn endpoints(&mut self) -> (&mut dyn Endpoint, &mut dyn Endpoint) {
        (&mut self.client, &mut self.server)
    }

    fn bytes_ok(&self) -> bool {
        self.check.bytes_ok_of(&self.client.inner)
    }
}
