//! The per-trickle step (paper §2.5): for one request, which response
//! slots to send, which lost slots to retransmit, and the TCPCwnd piece
//! their continuations carry.
//!
//! Packet numbering (DESIGN.md "Packet numbering"): with `w = TCPCwnd`,
//! request `k` is answered by slots `k + w(k−1) ..= k + w(k)`: one slot
//! continues the trickle, `w(k) − w(k−1)` are splits, and in steady state
//! exactly `w` packets are in flight.
//!
//! **Fast retransmit/recovery.** Let `L` be the first loss the request's
//! SACK proof declares at or after the continuation's floor, `W =
//! w(L − 1)` the window when it was sent (cwndAtLoss) and `newCwnd =
//! max(W / 2, min(2, W − 1), 1)` (Reno's halving; never below 1 and never
//! up to W itself). Requests before `L` produced slots up to `base' = L −
//! 1 + W`. Every request `k ≥ L` belongs to the *recovery round*: it sends
//! new slots above `base'` only from position `k − L ≥ W − newCwnd` on
//! (the survivors; earlier positions terminate, lossOffset too small:
//! paper test (a)), and every retransmission before it takes one of those
//! sends (the pipe of SACK recovery). A request that follows a run of lost
//! slots `[f, k − 1]` also sends the survivors those lost requests would
//! have sent (paper rule (b)) and retransmits the run (bounded by the burst
//! limit). The retransmission's continuation is terminal.
//!
//! **Restoring the window.** The next round counts from its proof the `n`
//! survivors the recovery round really sent and runs the *restore piece*
//! `(base', n, newCwnd)` with floor `base' + 1` (paper §2.5: ssthresh =
//! newCwnd). Reno leaves fast recovery with `newCwnd` packets in flight;
//! Trickles has only the `n` survivors, since retransmissions end their
//! trickles, and when more than half a window was lost the
//! retransmissions take all but one of the round's sends (`n = 1`). So
//! the survivors' own acknowledgments each grow the window by `m =
//! min(⌈(newCwnd − n) / n⌉, max(1, ⌊(burst_limit − 1) / n⌋))` instead of
//! one ([`Piece::increment`]), then slow start goes on (one per
//! acknowledgment), then congestion avoidance. So the restore round adds
//! `min(newCwnd − n, max(n, ≈ burst_limit − 1))` packets: the window is
//! back at `newCwnd` one round trip after the recovery round when that is
//! at most one burst (or slow start's doubling) away, and otherwise
//! `log2` round trips of slow start are saved by starting from about one
//! burst. The bound keeps the few survivors, which arrive close together,
//! from each sending a burst at once: a restore round is never burstier
//! than slow start plus one request's burst, and never carries more than
//! `newCwnd` new packets (docs/architecture.md gives the measurements).
//! The continuation carries one bit for it (flag RESTORE,
//! [`Piece::restore`]); `m` follows from the piece and the burst limit.
//! docs/protocol.md §14 has worked examples.
//!
//! **Retransmit timeout.** Client-driven (paper §2.5): the first slot the
//! client is missing, `a`, restarts the stream in a new incarnation with
//! ssthresh `max(w(a − 1) / 2, 2)` and a window of one packet.

use super::cwnd::Piece;
use super::loss::LossView;

/// Congestion-control parameters, the same on every replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcConfig {
    /// Window answering the SYN, in packets.
    pub initial_cwnd: u32,
    /// ssthresh of a new connection.
    pub initial_ssthresh: u32,
    /// Window after a retransmit timeout.
    pub timeout_cwnd: u32,
    /// Largest window; TCPCwnd is clamped to it.
    pub max_cwnd: u32,
    /// Most slots one request may send as new data, and most it may
    /// retransmit. It also bounds the boost of a restore piece
    /// ([`CcConfig::max_increment`]).
    pub burst_limit: u32,
}

impl Default for CcConfig {
    fn default() -> CcConfig {
        CcConfig {
            initial_cwnd: 2,
            initial_ssthresh: u32::MAX,
            timeout_cwnd: 1,
            max_cwnd: 8192,
            burst_limit: 16,
        }
    }
}

impl CcConfig {
    /// Most packets a restore round may add beyond slow start's one per
    /// acknowledgment ([`Piece::increment`]): one request's burst, the slot
    /// that continues its trickle and `burst_limit − 1` splits.
    pub fn max_increment(&self) -> u32 {
        self.burst_limit.saturating_sub(1).max(1)
    }

    /// TCPCwnd(k) of `piece`, clamped to the largest window.
    pub fn cwnd(&self, piece: &Piece, k: u32) -> u32 {
        piece
            .cwnd(k, self.max_increment())
            .min(self.max_cwnd.max(1))
    }
}

/// What the continuation of a request says about its trickle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trickle {
    /// The request number.
    pub k: u32,
    /// The current piece. For a survivor of a recovery round
    /// (`recovering`), `base` and `ssthresh` are set and `start_cwnd` is
    /// derived from the proof.
    pub piece: Piece,
    /// The SACK floor (for a survivor: the first loss of the round).
    pub floor: u32,
    /// `Some(L)` for the survivor of a recovery round whose first loss was
    /// `L`: the window it starts from depends on losses the round's early
    /// requests could not see, so the next round computes it.
    pub recovering: Option<u32>,
}

/// An inclusive range of packet numbers, never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    /// First packet number.
    pub first: u32,
    /// Last packet number (inclusive).
    pub last: u32,
}

impl Slots {
    /// `first..=last`, or `None` if empty.
    pub fn new(first: u32, last: u32) -> Option<Slots> {
        (first >= 1 && first <= last).then_some(Slots { first, last })
    }

    /// Number of slots.
    pub fn len(&self) -> u32 {
        self.last - self.first + 1
    }

    /// Always false: a `Slots` is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Iterate over the packet numbers.
    pub fn iter(&self) -> core::ops::RangeInclusive<u32> {
        self.first..=self.last
    }

    /// The first `n` slots.
    fn take(self, n: u32) -> Option<Slots> {
        Slots::new(
            self.first,
            self.last.min(self.first.saturating_add(n.max(1) - 1)),
        )
    }
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Piece the continuations of the new slots carry.
    pub piece: Piece,
    /// SACK floor the continuations of the new slots carry.
    pub floor: u32,
    /// Slots to send with new continuations (each continues a trickle).
    pub send: Option<Slots>,
    /// Lost slots to retransmit (terminal continuations).
    pub retransmit: Option<Slots>,
    /// True if this request is in fast recovery.
    pub recovery: bool,
    /// `Some(L)`: the new slots are survivors of a recovery round with first
    /// loss `L`; their continuations carry [`Trickle::recovering`].
    pub recovering: Option<u32>,
}

/// Why a request cannot be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepError {
    /// The proof contradicts the continuation (a loss the continuation's
    /// trickle could not have seen, or a request number out of range):
    /// a client breaking the prefix property.
    Inconsistent,
}

impl StepError {
    /// Stable name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            StepError::Inconsistent => "sack_inconsistent",
        }
    }
}

/// The window answering a SYN: slots `1..=initial_cwnd` of a piece that
/// starts at request 0.
pub fn answer_syn(cfg: &CcConfig) -> Plan {
    let piece = Piece {
        base: 0,
        start_cwnd: cfg.initial_cwnd.max(1),
        ssthresh: cfg.initial_ssthresh,
        restore: false,
    };
    Plan {
        piece,
        floor: 1,
        send: Slots::new(1, cfg.cwnd(&piece, 0)),
        retransmit: None,
        recovery: false,
        recovering: None,
    }
}

/// The recovery round after first loss `first_loss` of a window of `w`:
/// new-data slots the requests up to position `p` (request `first_loss +
/// p`) have sent in all. Position `p` may send once `p ≥ w − newCwnd` (the
/// survivors, paper test (a)); every retransmission before it takes one
/// of those sends (the pipe of SACK recovery, RFC 6675), but the first
/// survivor always sends one new slot so that the connection goes on.
fn recovery_sends(w: u32, new_cwnd: u32, first_loss: u32, p: i64, loss: &LossView<'_>) -> u32 {
    let zone = i64::from(w) - i64::from(new_cwnd);
    if p < zone.max(1) {
        return 0;
    }
    let budget = (p - zone + 1) as u32;
    let retransmissions = loss.lost_between(first_loss, first_loss.saturating_add(p as u32 - 1));
    budget.saturating_sub(retransmissions).max(1)
}

/// The piece and floor a request runs in: its continuation's, or for a
/// survivor of a recovery round, the piece that round left.
fn resolve(t: &Trickle, loss: &LossView<'_>) -> Result<(Piece, u32), StepError> {
    match t.recovering {
        None => Ok((t.piece, t.floor)),
        Some(l) => {
            if l == 0 || l > t.piece.base || t.k <= t.piece.base {
                return Err(StepError::Inconsistent);
            }
            Ok((recovered_piece(t, l, loss), t.piece.base.saturating_add(1)))
        }
    }
}

/// A survivor's piece: the restore piece with `base'`, ssthresh `newCwnd`,
/// and the start window the recovery round actually left (at least one
/// trickle).
fn recovered_piece(t: &Trickle, first_loss: u32, loss: &LossView<'_>) -> Piece {
    let base = t.piece.base;
    let new_cwnd = t.piece.ssthresh;
    let w = base.saturating_sub(first_loss) + 1;
    let view = loss.with_floor(first_loss);
    let last = view
        .last_received_between(first_loss.saturating_add(1), base)
        .map_or(0, |x| i64::from(x - first_loss));
    Piece {
        base,
        start_cwnd: recovery_sends(w, new_cwnd, first_loss, last, &view).max(1),
        ssthresh: new_cwnd,
        restore: true,
    }
}

/// Answer request `t.k` given the losses its proof declares.
pub fn step(cfg: &CcConfig, t: &Trickle, loss: &LossView<'_>) -> Result<Plan, StepError> {
    let mut plan = step_in_piece(cfg, t, loss)?;
    // A survivor of a recovery round that directly follows slots of that
    // round (at or after its first loss `L`) which were lost too is the
    // first request after them, as §14.2 asks of the one that retransmits
    // a run; its new floor lies past them, so without this nobody would,
    // and only a timeout would fill the hole. Same loss episode: no second
    // window reduction (as NewReno/SACK recovery), unless the run reaches
    // into the new piece, which `step_in_piece` treats as a new loss.
    if let Some(l) = t.recovering {
        let view = loss.with_floor(l);
        if view.received(t.k)
            && let Some((f, last)) = view.lost_run_before(t.k)
        {
            plan.retransmit = Slots::new(f, last).and_then(|s| s.take(cfg.burst_limit));
        }
    }
    Ok(plan)
}

/// The step within the trickle's piece (after settling a recovery round).
fn step_in_piece(cfg: &CcConfig, t: &Trickle, loss: &LossView<'_>) -> Result<Plan, StepError> {
    let k = t.k;
    if k == 0 {
        return Err(StepError::Inconsistent);
    }
    let (piece, floor) = resolve(t, loss)?;
    let loss = loss.with_floor(floor);
    let Some(first_loss) = loss.first_loss(k) else {
        // Slow start / congestion avoidance: continue and split.
        let first = k.saturating_add(cfg.cwnd(&piece, k - 1));
        let last = k.saturating_add(cfg.cwnd(&piece, k));
        return Ok(Plan {
            piece,
            floor,
            send: Slots::new(first, last).and_then(|s| s.take(cfg.burst_limit)),
            retransmit: None,
            recovery: false,
            recovering: None,
        });
    };
    // Fast retransmit / recovery.
    let w_at_loss = cfg.cwnd(&piece, first_loss.saturating_sub(1));
    let new_cwnd = (w_at_loss / 2)
        .max(2.min(w_at_loss.saturating_sub(1)))
        .max(1);
    let base = (first_loss - 1).saturating_add(w_at_loss);
    if k > base {
        return Err(StepError::Inconsistent);
    }
    let run = loss.lost_run_before(k);
    let first_request = run.map_or(k, |(f, _)| f);
    let p = i64::from(k) - i64::from(first_loss);
    let p_prev = i64::from(first_request) - i64::from(first_loss) - 1;
    let before = recovery_sends(w_at_loss, new_cwnd, first_loss, p_prev, &loss);
    let upto = recovery_sends(w_at_loss, new_cwnd, first_loss, p, &loss);
    let send = Slots::new(base.saturating_add(before + 1), base.saturating_add(upto))
        .and_then(|s| s.take(cfg.burst_limit));
    // Retransmit the run this request is the first to follow; a request
    // whose own packet was declared lost (reordering) retransmits nothing.
    let retransmit = match run {
        Some((f, l)) if loss.received(k) => Slots::new(f, l).and_then(|s| s.take(cfg.burst_limit)),
        _ => None,
    };
    Ok(Plan {
        piece: Piece {
            base,
            start_cwnd: new_cwnd,
            ssthresh: new_cwnd,
            restore: false,
        },
        floor: first_loss,
        send,
        retransmit,
        recovery: true,
        recovering: Some(first_loss),
    })
}

/// The answer to a retransmit-timeout request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutPlan {
    /// First packet the client is missing in the old incarnation: the
    /// stream restarts at its first byte.
    pub resume_from: u32,
    /// Piece of the new incarnation.
    pub piece: Piece,
    /// Slots of the new incarnation to send now (from 1).
    pub send: Slots,
}

/// Restart after a retransmit timeout (paper §2.5 "Retransmit timeout").
pub fn timeout(cfg: &CcConfig, t: &Trickle, loss: &LossView<'_>) -> TimeoutPlan {
    let (piece, floor) = resolve(t, loss).unwrap_or((
        Piece {
            base: t.piece.base,
            start_cwnd: t.piece.ssthresh,
            ssthresh: t.piece.ssthresh,
            restore: false,
        },
        t.floor,
    ));
    let loss = loss.with_floor(floor);
    let a = loss.first_missing().max(floor.max(1));
    let w = cfg.cwnd(&piece, a.saturating_sub(1));
    let piece = Piece {
        base: 0,
        start_cwnd: cfg.timeout_cwnd.max(1),
        ssthresh: (w / 2).max(2),
        restore: false,
    };
    let n = cfg.cwnd(&piece, 0).min(cfg.burst_limit.max(1));
    TimeoutPlan {
        resume_from: a,
        piece,
        send: Slots { first: 1, last: n },
    }
}

/// Restart after a lost retransmission in a loss episode whose window
/// reduction the trickle already carries (`reduced`: a survivor, a
/// retransmission or a restore piece of that episode): like a timeout (new
/// incarnation from slot 1) but with ssthresh the episode's `newCwnd`
/// instead of half of it, a first window of one burst (at most `newCwnd`)
/// instead of one packet, and slow start from there. SACK TCP retransmits a lost
/// retransmission again in the same recovery without reducing its window
/// a second time; a stateless server cannot resend it from the old round,
/// so it restarts, but keeps the reduction at one per episode. Without
/// `reduced` this is [`timeout`].
pub fn restart(cfg: &CcConfig, t: &Trickle, loss: &LossView<'_>, reduced: bool) -> TimeoutPlan {
    let plan = timeout(cfg, t, loss);
    if !reduced {
        return plan;
    }
    let ssthresh = t.piece.ssthresh.clamp(2, cfg.max_cwnd.max(2));
    let piece = Piece {
        base: 0,
        start_cwnd: cfg.burst_limit.clamp(1, ssthresh),
        ssthresh,
        restore: true,
    };
    let n = cfg.cwnd(&piece, 0).min(cfg.burst_limit.max(1));
    TimeoutPlan {
        piece,
        send: Slots { first: 1, last: n },
        ..plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use trickles_wire::PacketNumber;
    use trickles_wire::trickles::list::List;
    use trickles_wire::trickles::sack::SackBlock;

    fn ranges(received: &BTreeSet<u32>) -> Vec<SackBlock> {
        let mut out: Vec<SackBlock> = Vec::new();
        for &x in received {
            match out.last_mut() {
                Some(b) if b.end.0 + 1 == x => b.end = PacketNumber(x),
                _ => out.push(SackBlock {
                    start: PacketNumber(x),
                    end: PacketNumber(x),
                    proof: 0,
                }),
            }
        }
        out
    }

    /// The trickle of slot `y` sent by `plan`, as the server writes it.
    fn next_trickle(plan: &Plan, y: u32) -> Trickle {
        Trickle {
            k: y,
            piece: Piece {
                start_cwnd: plan.recovering.unwrap_or(plan.piece.start_cwnd),
                ..plan.piece
            },
            floor: plan.floor,
            recovering: plan.recovering,
        }
    }

    fn no_loss_step(cfg: &CcConfig, t: &Trickle) -> Plan {
        step(cfg, t, &LossView::new(List::empty(), PacketNumber(t.floor))).unwrap()
    }

    #[test]
    fn design_worked_example() {
        // startCwnd 2, ssthresh 4: SYN → 1,2; request 1 → 3,4; 2 → 5,6;
        // 3 → 7; steady state request k → k + 4.
        let cfg = CcConfig {
            initial_cwnd: 2,
            initial_ssthresh: 4,
            ..CcConfig::default()
        };
        let syn = answer_syn(&cfg);
        assert_eq!(syn.send, Slots::new(1, 2));
        let t = |k| Trickle {
            k,
            piece: syn.piece,
            floor: 1,
            recovering: None,
        };
        assert_eq!(no_loss_step(&cfg, &t(1)).send, Slots::new(3, 4));
        assert_eq!(no_loss_step(&cfg, &t(2)).send, Slots::new(5, 6));
        assert_eq!(no_loss_step(&cfg, &t(3)).send, Slots::new(7, 7));
        assert_eq!(no_loss_step(&cfg, &t(4)).send, Slots::new(8, 8));
        // Four acknowledgments at w = 4 grow the window to 5 at k = 6.
        assert_eq!(no_loss_step(&cfg, &t(6)).send, Slots::new(10, 11));
    }

    /// A packet-level closed loop without timing: every received response
    /// immediately becomes a request carrying the proof of everything
    /// received so far. Returns the slots sent per round and checks that
    /// no slot is ever sent as new data twice.
    fn run_rounds(cfg: &CcConfig, rounds: usize, lost: &BTreeSet<u32>) -> Vec<Vec<u32>> {
        run_rounds_checked(cfg, rounds, lost, lost.is_empty())
    }

    fn run_rounds_checked(
        cfg: &CcConfig,
        rounds: usize,
        lost: &BTreeSet<u32>,
        no_skips: bool,
    ) -> Vec<Vec<u32>> {
        closed_loop(cfg, rounds, lost, no_skips).0
    }

    /// [`run_rounds_checked`], also returning the retransmissions sent in
    /// each round (alongside that round's new slots), and checking that no
    /// request sends more than the burst limit.
    fn closed_loop(
        cfg: &CcConfig,
        rounds: usize,
        lost: &BTreeSet<u32>,
        no_skips: bool,
    ) -> (Vec<Vec<u32>>, Vec<u32>) {
        let syn = answer_syn(cfg);
        let mut round: Vec<(u32, Trickle)> = syn
            .send
            .unwrap()
            .iter()
            .map(|x| (x, next_trickle(&syn, x)))
            .collect();
        let mut sent_once = BTreeSet::new();
        // Slots arrive in increasing order, so the proof grows at its end.
        let mut blocks: Vec<SackBlock> = Vec::new();
        let mut per_round = Vec::new();
        let mut retx_per_round = vec![0];
        for x in round.iter().map(|(x, _)| *x) {
            assert!(sent_once.insert(x));
        }
        for _ in 0..rounds {
            per_round.push(round.iter().map(|(x, _)| *x).collect());
            let mut next = Vec::new();
            let mut retx = 0;
            for (x, t) in &round {
                if lost.contains(x) {
                    continue;
                }
                match blocks.last_mut() {
                    Some(b) if b.end.0 + 1 == *x => b.end = PacketNumber(*x),
                    _ => blocks.push(SackBlock {
                        start: PacketNumber(*x),
                        end: PacketNumber(*x),
                        proof: 0,
                    }),
                }
                let view = LossView::new(List::Items(&blocks), PacketNumber(t.floor));
                let plan = step(cfg, t, &view).unwrap();
                if let Some(s) = plan.send {
                    assert!(s.len() <= cfg.burst_limit.max(1), "{plan:?}");
                    for y in s.iter() {
                        assert!(sent_once.insert(y), "slot {y} sent twice");
                        next.push((y, next_trickle(&plan, y)));
                    }
                }
                retx += plan.retransmit.map_or(0, |s| s.len());
            }
            next.sort_by_key(|(x, _)| *x);
            round = next;
            retx_per_round.push(retx);
        }
        // Every slot up to the highest one sent was sent exactly once.
        if let Some(&max) = sent_once.iter().next_back().filter(|_| no_skips) {
            assert_eq!(sent_once.len() as u32, max, "a slot number was skipped");
        }
        retx_per_round.truncate(per_round.len());
        (per_round, retx_per_round)
    }

    /// Reno in rounds: the window at each round boundary.
    fn reno_rounds(cfg: &CcConfig, rounds: usize) -> Vec<u32> {
        let (mut cwnd, ssthresh, mut acked) = (cfg.initial_cwnd, cfg.initial_ssthresh, 0u32);
        let mut out = Vec::new();
        for _ in 0..rounds {
            out.push(cwnd);
            let in_round = cwnd;
            for _ in 0..in_round {
                if cwnd >= cfg.max_cwnd {
                    break;
                }
                if cwnd < ssthresh {
                    cwnd += 1;
                } else {
                    acked += 1;
                    if acked >= cwnd {
                        cwnd += 1;
                        acked = 0;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn loss_free_rounds_match_reno() {
        for (iw, ssthresh) in [(1, u32::MAX), (2, 4), (2, 16), (3, 7), (10, 20), (4, 2)] {
            let cfg = CcConfig {
                initial_cwnd: iw,
                initial_ssthresh: ssthresh,
                max_cwnd: 300,
                burst_limit: 64,
                ..CcConfig::default()
            };
            let ours: Vec<u32> = run_rounds(&cfg, 30, &BTreeSet::new())
                .iter()
                .map(|r| r.len() as u32)
                .collect();
            assert_eq!(ours, reno_rounds(&cfg, 30), "iw {iw} ssthresh {ssthresh}");
        }
    }

    #[test]
    fn single_loss_halves_the_window() {
        // Congestion avoidance at w = 8, then slot 40 is lost.
        let cfg = CcConfig {
            initial_cwnd: 8,
            initial_ssthresh: 8,
            ..CcConfig::default()
        };
        let rounds = run_rounds(&cfg, 12, &BTreeSet::from([40]));
        let sizes: Vec<usize> = rounds.iter().map(Vec::len).collect();
        let at = rounds.iter().position(|r| r.contains(&40)).unwrap();
        // Slot 40 is sent at w = 12 (congestion avoidance from 8). The
        // recovery round sends newCwnd − 1 = 5 new slots (plus the
        // retransmission, which the closed loop does not count): 6 packets,
        // as Reno's fast recovery. The next round starts from 5 survivors
        // and slow-starts to ssthresh 6 at once; then the window grows by
        // one per round, as Reno's does after fast recovery.
        assert_eq!(sizes[..at + 1], [8, 9, 10, 11, 12], "{sizes:?}");
        assert_eq!(sizes[at + 1..at + 5], [5, 6, 7, 8], "{sizes:?}");
    }

    #[test]
    fn recovery_worked_example() {
        // The example of docs/protocol.md §14: w = 8 in congestion
        // avoidance, slot 10 lost.
        // w(9) = 8: congestion avoidance from 8, four acknowledgments in.
        let piece = Piece {
            base: 5,
            start_cwnd: 8,
            ssthresh: 8,
            restore: false,
        };
        let cfg = CcConfig::default();
        let mut received: BTreeSet<u32> = (1..=9).collect();
        let mut answers = BTreeMap::new();
        for k in 11..=17 {
            received.insert(k);
            let blocks = ranges(&received);
            let view = LossView::new(List::Items(&blocks), PacketNumber(1));
            let plan = step(
                &cfg,
                &Trickle {
                    k,
                    piece,
                    floor: 1,
                    recovering: None,
                },
                &view,
            )
            .unwrap();
            answers.insert(k, plan);
        }
        // w(9) = 8 → base' = 17, newCwnd = 4; survivors carry the first
        // loss (floor 10) so the next round can count the round's losses.
        let p = answers[&11];
        assert_eq!(
            (p.piece.base, p.piece.ssthresh, p.floor, p.recovering),
            (17, 4, 10, Some(10))
        );
        assert_eq!(p.retransmit, Slots::new(10, 10));
        // Positions 1..3 terminate; from position 4 the survivors may send
        // 1, 2, 3, 4 slots in all, less the one retransmission: 18, -, 19, 20.
        for k in 11..=13 {
            assert_eq!(answers[&k].send, None, "k={k}");
        }
        assert_eq!(answers[&14].send, Slots::new(18, 18));
        assert_eq!(answers[&15].send, None);
        assert_eq!(answers[&16].send, Slots::new(19, 19));
        assert_eq!(answers[&17].send, Slots::new(20, 20));
        assert!(answers.values().skip(1).all(|p| p.retransmit.is_none()));
        // Next round: the survivor of slot 18 derives the restore piece
        // (17, 3, 4) from its proof (three survivors were sent); its boost
        // is m = ⌈1/3⌉ = 1, as Reno's slow start: request 18 → 21, 22.
        let mut received: BTreeSet<u32> = (1..=9).chain(11..=18).collect();
        received.insert(10); // the retransmission arrived (not an original)
        received.remove(&10);
        let blocks = ranges(&received);
        let view = LossView::new(List::Items(&blocks), PacketNumber(10));
        let next = step(
            &cfg,
            &Trickle {
                k: 18,
                piece: Piece {
                    start_cwnd: 10,
                    ..p.piece
                },
                floor: 10,
                recovering: Some(10),
            },
            &view,
        )
        .unwrap();
        assert_eq!(
            (next.piece.base, next.piece.start_cwnd, next.piece.ssthresh),
            (17, 3, 4)
        );
        assert!(next.piece.restore);
        assert_eq!(next.floor, 18);
        assert_eq!(next.send, Slots::new(21, 22));
    }

    #[test]
    fn heavy_loss_worked_example() {
        // The second example of docs/protocol.md §14.2: as above (w(9) = 8,
        // newCwnd = 4, base' = 17), but every other slot from 10 is lost:
        // 10, 12, 14, 16.
        let piece = Piece {
            base: 5,
            start_cwnd: 8,
            ssthresh: 8,
            restore: false,
        };
        let cfg = CcConfig::default();
        let mut received: BTreeSet<u32> = (1..=9).collect();
        let mut answers = BTreeMap::new();
        for k in [11, 13, 15, 17] {
            received.insert(k);
            let blocks = ranges(&received);
            let view = LossView::new(List::Items(&blocks), PacketNumber(1));
            let t = Trickle {
                k,
                piece,
                floor: 1,
                recovering: None,
            };
            answers.insert(k, step(&cfg, &t, &view).unwrap());
        }
        // Each request retransmits the slot before it; Rx(5) = 3 ≥ the two
        // sends positions 4 and 5 allow, so only the survivor every round
        // keeps is sent (by request 15): slot 18.
        for (k, send) in [(11, None), (13, None), (15, Slots::new(18, 18)), (17, None)] {
            assert_eq!(answers[&k].send, send, "k={k}");
            assert_eq!(answers[&k].retransmit, Slots::new(k - 1, k - 1), "k={k}");
        }
        // Next round: one survivor, n = 1. The restore piece (17, 1, 4)
        // grows by m = min(⌈3/1⌉, 15) = 3 on its acknowledgment: request 18
        // sends 19..=22, newCwnd packets one round trip after the loss
        // (Reno's slow start from one packet would send 19, 20).
        received.insert(18);
        let blocks = ranges(&received);
        let view = LossView::new(List::Items(&blocks), PacketNumber(10));
        let survivor = next_trickle(&answers[&15], 18);
        let next = step(&cfg, &survivor, &view).unwrap();
        assert_eq!(
            next.piece,
            Piece {
                base: 17,
                start_cwnd: 1,
                ssthresh: 4,
                restore: true,
            }
        );
        assert_eq!(
            (next.floor, next.send, next.retransmit),
            (18, Slots::new(19, 22), None)
        );
        // Request 19 carries the restore piece (flag RESTORE): w(18) = 4 =
        // newCwnd, congestion avoidance, so it sends one slot, 23.
        received.insert(19);
        let blocks = ranges(&received);
        let view = LossView::new(List::Items(&blocks), PacketNumber(18));
        let after = step(&cfg, &next_trickle(&next, 19), &view).unwrap();
        assert_eq!(after.send, Slots::new(23, 23));
        assert_eq!(after.piece, next.piece);
    }

    #[test]
    fn a_restart_after_a_lost_retransmission_keeps_one_reduction() {
        let cfg = CcConfig::default();
        let blocks = [SackBlock {
            start: PacketNumber(20),
            end: PacketNumber(30),
            proof: 0,
        }];
        let view = LossView::new(List::Items(&blocks), PacketNumber(20));
        let survivor = Trickle {
            k: 30,
            piece: Piece {
                base: 25,
                start_cwnd: 22,
                ssthresh: 40,
                restore: true,
            },
            floor: 20,
            recovering: None,
        };
        let fast = restart(&cfg, &survivor, &view, true);
        assert_eq!(fast.piece.ssthresh, 40);
        assert_eq!(fast.piece.start_cwnd, cfg.burst_limit);
        assert_eq!(fast.send, Slots::new(1, cfg.burst_limit).unwrap());
        // Not yet reduced in this episode: exactly a timeout (ssthresh
        // halved from the window, one packet).
        let slow = restart(&cfg, &survivor, &view, false);
        assert_eq!(slow, timeout(&cfg, &survivor, &view));
        assert_eq!(slow.send, Slots::new(1, 1).unwrap());
        // A small episode window bounds the first burst.
        let small = Trickle {
            piece: Piece {
                ssthresh: 5,
                ..survivor.piece
            },
            ..survivor
        };
        assert_eq!(
            restart(&cfg, &small, &view, true).send,
            Slots::new(1, 5).unwrap()
        );
    }

    #[test]
    fn a_survivor_retransmits_the_last_slots_of_its_round() {
        // The worked example with slot 17 (the round's last pre-recovery
        // slot) lost as well: request 17 never comes, so the first request
        // after it is survivor 18, whose new floor (18) is past it. It
        // must retransmit 17, without a second window reduction.
        let cfg = CcConfig::default();
        let received: BTreeSet<u32> = (1..=9).chain(11..=16).chain([18]).collect();
        let blocks = ranges(&received);
        let view = LossView::new(List::Items(&blocks), PacketNumber(10));
        let survivor = Trickle {
            k: 18,
            piece: Piece {
                base: 17,
                start_cwnd: 10,
                ssthresh: 4,
                restore: false,
            },
            floor: 10,
            recovering: Some(10),
        };
        let next = step(&cfg, &survivor, &view).unwrap();
        assert_eq!(next.retransmit, Slots::new(17, 17));
        assert_eq!(next.piece.ssthresh, 4);
        assert!(!next.recovery);
        // With 17 received, nothing is retransmitted.
        let received: BTreeSet<u32> = (1..=9).chain(11..=18).collect();
        let blocks = ranges(&received);
        let view = LossView::new(List::Items(&blocks), PacketNumber(10));
        assert_eq!(step(&cfg, &survivor, &view).unwrap().retransmit, None);
    }

    #[test]
    fn a_second_loss_takes_a_survivors_place() {
        // As above, but slot 16 is also lost: request 17 retransmits 16,
        // and that retransmission takes one of the round's sends, so the
        // round sends 18 and 19 only.
        let piece = Piece {
            base: 5,
            start_cwnd: 8,
            ssthresh: 8,
            restore: false,
        };
        let cfg = CcConfig::default();
        let received: BTreeSet<u32> = (1..=9).chain(11..=15).chain([17]).collect();
        let blocks = ranges(&received);
        let view = LossView::new(List::Items(&blocks), PacketNumber(1));
        let p = step(
            &cfg,
            &Trickle {
                k: 17,
                piece,
                floor: 1,
                recovering: None,
            },
            &view,
        )
        .unwrap();
        assert_eq!(p.send, Slots::new(19, 19));
        assert_eq!(p.retransmit, Slots::new(16, 16));
    }

    #[test]
    fn a_request_beyond_the_recovery_window_is_inconsistent() {
        let piece = Piece {
            base: 5,
            start_cwnd: 8,
            ssthresh: 8,
            restore: false,
        };
        let received: BTreeSet<u32> = (1..=9).chain([30]).collect();
        let blocks = ranges(&received);
        let view = LossView::new(List::Items(&blocks), PacketNumber(1));
        let r = step(
            &CcConfig::default(),
            &Trickle {
                k: 30,
                piece,
                floor: 1,
                recovering: None,
            },
            &view,
        );
        assert_eq!(r, Err(StepError::Inconsistent));
    }

    #[test]
    fn timeout_restarts_with_half_the_window() {
        let piece = Piece {
            base: 5,
            start_cwnd: 8,
            ssthresh: 8,
            restore: false,
        };
        let received: BTreeSet<u32> = (1..=9).chain(11..=12).collect();
        let blocks = ranges(&received);
        let view = LossView::new(List::Items(&blocks), PacketNumber(1));
        let p = timeout(
            &CcConfig::default(),
            &Trickle {
                k: 12,
                piece,
                floor: 1,
                recovering: None,
            },
            &view,
        );
        assert_eq!(p.resume_from, 10);
        assert_eq!(
            p.piece,
            Piece {
                base: 0,
                start_cwnd: 1,
                ssthresh: 4,
                restore: false,
            }
        );
        assert_eq!(p.send, Slots { first: 1, last: 1 });
    }

    #[test]
    fn losing_the_tail_of_the_loss_window_skips_no_slot() {
        // w = 8 (iw 8, ssthresh 8): slot 4 lost opens the recovery window
        // (4, 11]; slot 11, its last, is lost too. The next round counts
        // the survivors actually sent from its proof, so no slot number is
        // skipped (the closed loop checks it).
        let cfg = CcConfig {
            initial_cwnd: 8,
            initial_ssthresh: 8,
            ..CcConfig::default()
        };
        let rounds = run_rounds_checked(&cfg, 6, &BTreeSet::from([4, 11]), true);
        assert!(rounds.iter().flatten().any(|&x| x > 20), "{rounds:?}");
    }

    /// Congestion avoidance at 24 packets, then two of every three slots
    /// of one round lost (slots 50..=75, sent at w = 26).
    fn heavy_loss(iw: u32) -> (CcConfig, BTreeSet<u32>) {
        let cfg = CcConfig {
            initial_cwnd: iw,
            initial_ssthresh: iw,
            ..CcConfig::default()
        };
        // The round that starts at slot iw + (iw + 1) + 1.
        let from = 2 * iw + 2;
        let w = iw + 2;
        let lost = (from..from + w).filter(|x| (x - from) % 3 < 2).collect();
        (cfg, lost)
    }

    #[test]
    fn more_than_half_a_window_lost_restores_new_cwnd_in_a_round_trip() {
        // w = 26, 18 of 26 slots lost: newCwnd = 13. The retransmissions
        // take all the recovery round's sends but the one survivor it
        // always sends (16 retransmissions, one new slot; the last two
        // lost slots, 74 and 75, have no request after them in the round,
        // so the survivor's request retransmits them). That request runs
        // the restore piece (75, 1, 13): m = min(12, 15) = 12, so the next
        // round carries newCwnd = 13 new packets (Reno's slow start from
        // one survivor would send 2, 4, 8, 13), and congestion avoidance
        // goes on from there. No request sends more than the burst limit
        // (the closed loop checks it).
        let (cfg, lost) = heavy_loss(24);
        assert_eq!(lost.len(), 18);
        let (rounds, retx) = closed_loop(&cfg, 9, &lost, true);
        let sizes: Vec<usize> = rounds.iter().map(Vec::len).collect();
        assert_eq!(sizes, [24, 25, 26, 1, 13, 14, 15, 16, 17], "{rounds:?}");
        assert_eq!(retx, [0, 0, 0, 16, 2, 0, 0, 0, 0]);
        assert_eq!(rounds[4], (77..=89).collect::<Vec<u32>>());
    }

    #[test]
    fn a_restore_adds_at_most_one_burst_then_slow_starts() {
        // w = 102, 68 of 102 slots lost: newCwnd = 51, one survivor. Its
        // request may add at most burst_limit − 1 = 15 packets (m = 15, one
        // burst), then slow start takes the window to 51: 16, 32, 51.
        let (cfg, lost) = heavy_loss(100);
        let (rounds, retx) = closed_loop(&cfg, 9, &lost, true);
        let sizes: Vec<usize> = rounds.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 101, 102, 1, 16, 32, 51, 52, 53], "{rounds:?}");
        assert_eq!(retx[3..], [68, 0, 0, 0, 0, 0]);
    }

    proptest::proptest! {
        /// Whatever responses are lost, no slot is ever sent as new data
        /// twice and none is skipped (the closed loop asserts both).
        #[test]
        fn random_losses_never_duplicate_or_skip_slots(
            iw in 1u32..8,
            ssthresh in 2u32..40,
            lost in proptest::collection::btree_set(3u32..400, 0..12),
        ) {
            let cfg = CcConfig { initial_cwnd: iw, initial_ssthresh: ssthresh, burst_limit: 64, ..CcConfig::default() };
            run_rounds_checked(&cfg, 40, &lost, true);
        }

        /// The same with large windows, many losses and small burst limits,
        /// so that restore pieces with bounded boosts follow recoveries.
        #[test]
        fn heavy_losses_never_duplicate_or_skip_slots(
            iw in 1u32..60,
            ssthresh in 2u32..120,
            burst in 2u32..24,
            lost in proptest::collection::btree_set(3u32..600, 0..80),
        ) {
            let cfg = CcConfig { initial_cwnd: iw, initial_ssthresh: ssthresh, burst_limit: burst, ..CcConfig::default() };
            run_rounds_checked(&cfg, 40, &lost, true);
        }
    }
}
