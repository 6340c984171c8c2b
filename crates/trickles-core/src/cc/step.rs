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
//! 1 + W`. Every request `k ≥ L` belongs to the new piece `(base',
//! newCwnd, newCwnd)` with floor `base' + 1`: it sends slot `k + newCwnd`
//! if that is above `base'` (a *survivor*) and otherwise terminates
//! (lossOffset `k − L` is too small: paper test (a)). A request that
//! follows a run of lost slots `[f, k − 1]` also sends the survivors those
//! lost requests would have sent (paper rule (b)) and retransmits the run
//! (bounded by the burst limit). After the recovery round exactly
//! `newCwnd` trickles remain, and congestion avoidance resumes from
//! `newCwnd` (ssthresh = startCwnd = newCwnd, paper §2.5).
//!
//! Deviation from Reno, kept deliberately simple: the retransmission is not
//! one of the `newCwnd` survivors but comes on top of them for one round
//! trip (Reno sends `newCwnd − 1` new segments plus the retransmission).
//! Its continuation is terminal. docs/protocol.md §14 has a worked example.
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
    /// retransmit.
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
    /// TCPCwnd(k) of `piece`, clamped to the largest window.
    pub fn cwnd(&self, piece: &Piece, k: u32) -> u32 {
        piece.cwnd(k).min(self.max_cwnd.max(1))
    }
}

/// What the continuation of a request says about its trickle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trickle {
    /// The request number.
    pub k: u32,
    /// The current piece.
    pub piece: Piece,
    /// The SACK floor.
    pub floor: u32,
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
    };
    Plan {
        piece,
        floor: 1,
        send: Slots::new(1, cfg.cwnd(&piece, 0)),
        retransmit: None,
        recovery: false,
    }
}

/// Answer request `t.k` given the losses its proof declares.
pub fn step(cfg: &CcConfig, t: &Trickle, loss: &LossView<'_>) -> Result<Plan, StepError> {
    let k = t.k;
    if k == 0 {
        return Err(StepError::Inconsistent);
    }
    let Some(first_loss) = loss.first_loss(k) else {
        // Slow start / congestion avoidance: continue and split.
        let first = k.saturating_add(cfg.cwnd(&t.piece, k - 1));
        let last = k.saturating_add(cfg.cwnd(&t.piece, k));
        return Ok(Plan {
            piece: t.piece,
            floor: t.floor,
            send: Slots::new(first, last).and_then(|s| s.take(cfg.burst_limit)),
            retransmit: None,
            recovery: false,
        });
    };
    // Fast retransmit / recovery.
    let w_at_loss = cfg.cwnd(&t.piece, first_loss.saturating_sub(1));
    let new_cwnd = (w_at_loss / 2)
        .max(2.min(w_at_loss.saturating_sub(1)))
        .max(1);
    let base = (first_loss - 1).saturating_add(w_at_loss);
    if k > base {
        return Err(StepError::Inconsistent);
    }
    let piece = Piece {
        base,
        start_cwnd: new_cwnd,
        ssthresh: new_cwnd,
    };
    let run = loss.lost_run_before(k);
    let first_request = run.map_or(k, |(f, _)| f);
    let send = Slots::new(
        first_request
            .saturating_add(new_cwnd)
            .max(base.saturating_add(1)),
        k.saturating_add(new_cwnd),
    )
    .and_then(|s| s.take(cfg.burst_limit));
    // Retransmit the run this request is the first to follow; a request
    // whose own packet was declared lost (reordering) retransmits nothing.
    let retransmit = match run {
        Some((f, l)) if loss.received(k) => Slots::new(f, l).and_then(|s| s.take(cfg.burst_limit)),
        _ => None,
    };
    Ok(Plan {
        piece,
        floor: base.saturating_add(1),
        send,
        retransmit,
        recovery: true,
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
    let a = loss.first_missing().max(t.floor.max(1));
    let w = cfg.cwnd(&t.piece, a.saturating_sub(1));
    let piece = Piece {
        base: 0,
        start_cwnd: cfg.timeout_cwnd.max(1),
        ssthresh: (w / 2).max(2),
    };
    let n = cfg.cwnd(&piece, 0).min(cfg.burst_limit.max(1));
    TimeoutPlan {
        resume_from: a,
        piece,
        send: Slots { first: 1, last: n },
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
        let syn = answer_syn(cfg);
        let mut round: Vec<(u32, Trickle)> = syn
            .send
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x,
                    Trickle {
                        k: x,
                        piece: syn.piece,
                        floor: syn.floor,
                    },
                )
            })
            .collect();
        let mut sent_once = BTreeSet::new();
        // Slots arrive in increasing order, so the proof grows at its end.
        let mut blocks: Vec<SackBlock> = Vec::new();
        let mut per_round = Vec::new();
        for x in round.iter().map(|(x, _)| *x) {
            assert!(sent_once.insert(x));
        }
        for _ in 0..rounds {
            per_round.push(round.iter().map(|(x, _)| *x).collect());
            let mut next = Vec::new();
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
                    for y in s.iter() {
                        assert!(sent_once.insert(y), "slot {y} sent twice");
                        next.push((
                            y,
                            Trickle {
                                k: y,
                                piece: plan.piece,
                                floor: plan.floor,
                            },
                        ));
                    }
                }
            }
            next.sort_by_key(|(x, _)| *x);
            round = next;
        }
        // Every slot up to the highest one sent was sent exactly once.
        if let Some(&max) = sent_once.iter().next_back().filter(|_| no_skips) {
            assert_eq!(sent_once.len() as u32, max, "a slot number was skipped");
        }
        per_round
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
        // recovery round carries the newCwnd = 6 survivors (the
        // retransmission is not a trickle); the window then stays at 6 for
        // one round and grows by one per round of acknowledgments, as
        // Reno's does after fast recovery.
        assert_eq!(sizes[..at + 1], [8, 9, 10, 11, 12], "{sizes:?}");
        assert_eq!(sizes[at + 1..at + 5], [6, 6, 7, 8], "{sizes:?}");
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
        };
        let cfg = CcConfig::default();
        let mut received: BTreeSet<u32> = (1..=9).collect();
        let mut answers = BTreeMap::new();
        for k in 11..=17 {
            received.insert(k);
            let blocks = ranges(&received);
            let view = LossView::new(List::Items(&blocks), PacketNumber(1));
            let plan = step(&cfg, &Trickle { k, piece, floor: 1 }, &view).unwrap();
            answers.insert(k, plan);
        }
        // w(9) = 8 → base' = 17, newCwnd = 4.
        let p = answers[&11];
        assert_eq!((p.piece.base, p.piece.start_cwnd, p.floor), (17, 4, 18));
        assert_eq!(p.retransmit, Slots::new(10, 10));
        // lossOffset 1..4 terminate; 5..7 survive (slots 18..20) and rule
        // (b) is not needed.
        for k in 11..=13 {
            assert_eq!(answers[&k].send, None, "k={k}");
        }
        assert_eq!(answers[&14].send, Slots::new(18, 18));
        assert_eq!(answers[&15].send, Slots::new(19, 19));
        assert_eq!(answers[&17].send, Slots::new(21, 21));
        assert!(answers.values().skip(1).all(|p| p.retransmit.is_none()));
        // Next round, in the new piece: request 18 → 22.
        let next = no_loss_step(
            &cfg,
            &Trickle {
                k: 18,
                piece: p.piece,
                floor: 18,
            },
        );
        assert_eq!(next.send, Slots::new(22, 22));
    }

    #[test]
    fn lost_survivor_is_recreated_by_the_next_request() {
        // As above, but slot 16 is also lost: request 17 sends 20 (for 16)
        // and 21 (its own) and retransmits 16.
        let piece = Piece {
            base: 5,
            start_cwnd: 8,
            ssthresh: 8,
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
            },
            &view,
        )
        .unwrap();
        assert_eq!(p.send, Slots::new(20, 21));
        assert_eq!(p.retransmit, Slots::new(16, 16));
    }

    #[test]
    fn a_request_beyond_the_recovery_window_is_inconsistent() {
        let piece = Piece {
            base: 5,
            start_cwnd: 8,
            ssthresh: 8,
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
            },
            &view,
        );
        assert_eq!(p.resume_from, 10);
        assert_eq!(
            p.piece,
            Piece {
                base: 0,
                start_cwnd: 1,
                ssthresh: 4
            }
        );
        assert_eq!(p.send, Slots { first: 1, last: 1 });
    }

    #[test]
    fn tail_of_the_loss_window_lost_skips_a_survivor() {
        // w = 8 from slot 1 (iw 8, ssthresh 8): slot 4 lost opens the
        // recovery window (4, 11]; slot 11, its last, is lost too, so the
        // survivor it would have sent (11 + 4 = 15) is never sent.
        let cfg = CcConfig {
            initial_cwnd: 8,
            initial_ssthresh: 8,
            ..CcConfig::default()
        };
        let rounds = run_rounds_checked(&cfg, 4, &BTreeSet::from([4, 11]), false);
        let sent: BTreeSet<u32> = rounds.iter().flatten().copied().collect();
        assert!(!sent.contains(&15), "{rounds:?}");
        assert!(sent.contains(&14) && sent.contains(&16), "{rounds:?}");
    }

    proptest::proptest! {
        /// Whatever responses are lost, no slot is ever sent as new data
        /// twice (the closed loop asserts it). Slots can be skipped: when
        /// the last slot of a loss window is lost too, no request of the
        /// old piece is left to recreate its survivor, and the client sees
        /// the skipped slot as one more loss (see
        /// `tail_of_the_loss_window_lost_skips_a_survivor`).
        #[test]
        fn random_losses_never_duplicate_or_skip_slots(
            iw in 1u32..8,
            ssthresh in 2u32..40,
            lost in proptest::collection::btree_set(3u32..400, 0..12),
        ) {
            let cfg = CcConfig { initial_cwnd: iw, initial_ssthresh: ssthresh, burst_limit: 64, ..CcConfig::default() };
            run_rounds(&cfg, 40, &lost);
        }
    }
}
