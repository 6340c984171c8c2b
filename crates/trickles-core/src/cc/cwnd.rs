//! TCPCwnd(k): TCP Reno's congestion window after k acknowledgments, in
//! O(1) (paper §2.5 "Slow start and congestion avoidance", Figure 5;
//! DESIGN.md "TCPCwnd").
//!
//! A connection's history is cut at every loss into loss-free *pieces*; a
//! piece is fully described by its initial conditions ([`Piece`]): the
//! request number where it starts (TCPBase), the window there (startCwnd)
//! and the slow-start threshold. Within a piece Reno grows the window by
//! one packet per acknowledgment while `cwnd < ssthresh` (slow start) and
//! by one packet per `cwnd` acknowledgments afterwards (congestion
//! avoidance, RFC 5681 §3.1 in packets). After `j` congestion-avoidance
//! acknowledgments starting at window `w0`, the window `w` is the largest
//! with `w(w−1)/2 ≤ j + w0(w0−1)/2`, i.e.
//!
//! ```text
//! w = floor((1 + isqrt(1 + 8j + 4·w0·(w0 − 1))) / 2)
//! ```
//!
//! The tests check this against a step-by-step Reno model for every
//! `k < 10 000` over a wide grid of parameters.

/// Initial conditions of one loss-free piece of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Piece {
    /// TCPBase: the request number at which the window is `start_cwnd`.
    pub base: u32,
    /// Window at `base`, in packets (≥ 1).
    pub start_cwnd: u32,
    /// Slow-start threshold, in packets.
    pub ssthresh: u32,
}

impl Piece {
    /// TCPCwnd(k): the window after acknowledgment `k`. Requests at or
    /// before `base` see `start_cwnd`.
    pub fn cwnd(&self, k: u32) -> u32 {
        let start = self.start_cwnd.max(1);
        let acks = u64::from(k.saturating_sub(self.base));
        let (w0, j) = if start < self.ssthresh {
            let slow = u64::from(self.ssthresh - start);
            if acks <= slow {
                return start + acks as u32;
            }
            (self.ssthresh, acks - slow)
        } else {
            (start, acks)
        };
        let w0 = u128::from(w0);
        let d = 1 + 8 * u128::from(j) + 4 * w0 * (w0 - 1);
        // floor((1 + isqrt(d)) / 2) == ceil(isqrt(d) / 2)
        let w = d.isqrt().div_ceil(2);
        u32::try_from(w).unwrap_or(u32::MAX)
    }

    /// The smallest request number after `k` at which the window differs
    /// from `cwnd(k)`, or `None` if that is beyond `u32`.
    pub fn next_change(&self, k: u32) -> Option<u32> {
        let start = self.start_cwnd.max(1);
        let k = k.max(self.base);
        let acks = u64::from(k - self.base);
        if start < self.ssthresh && acks < u64::from(self.ssthresh - start) {
            return k.checked_add(1);
        }
        // Congestion avoidance from w0 after `slow` acknowledgments.
        let (w0, slow) = if start < self.ssthresh {
            (self.ssthresh, u64::from(self.ssthresh - start))
        } else {
            (start, 0)
        };
        let w = u64::from(self.cwnd(k));
        let w0 = u64::from(w0);
        // Acknowledgments past `slow` after which the window reaches w + 1.
        let j = u128::from(w + 1) * u128::from(w) / 2 - u128::from(w0) * u128::from(w0 - 1) / 2;
        let at = u128::from(self.base) + u128::from(slow) + j;
        u32::try_from(at).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// TCP Reno, one acknowledgment at a time (RFC 5681 §3.1, in packets):
    /// the reference the closed form must match.
    struct RenoModel {
        cwnd: u32,
        ssthresh: u32,
        acked_in_round: u32,
    }

    impl RenoModel {
        fn new(p: &Piece) -> RenoModel {
            RenoModel {
                cwnd: p.start_cwnd.max(1),
                ssthresh: p.ssthresh,
                acked_in_round: 0,
            }
        }

        fn ack(&mut self) {
            if self.cwnd < self.ssthresh {
                self.cwnd += 1;
            } else {
                self.acked_in_round += 1;
                if self.acked_in_round >= self.cwnd {
                    self.cwnd += 1;
                    self.acked_in_round = 0;
                }
            }
        }
    }

    fn check_piece(p: Piece, upto: u32) {
        let mut model = RenoModel::new(&p);
        let mut expected_next = None;
        for k in p.base..p.base + upto {
            if k > p.base {
                model.ack();
            }
            assert_eq!(p.cwnd(k), model.cwnd, "{p:?} k={k}");
            if let Some(next) = expected_next {
                if k < next {
                    assert_eq!(p.cwnd(k), p.cwnd(k - 1), "{p:?} changed early at {k}");
                } else {
                    assert_ne!(p.cwnd(k), p.cwnd(k - 1), "{p:?} did not change at {k}");
                }
            }
            if expected_next.is_none_or(|n| k >= n) {
                expected_next = p.next_change(k);
            }
        }
    }

    #[test]
    fn design_worked_example() {
        // DESIGN.md: startCwnd 2, ssthresh 4 → w(0)=2, w(1)=3, w(2)=4,
        // w(3)=4, and 4 more acknowledgments to reach 5.
        let p = Piece {
            base: 0,
            start_cwnd: 2,
            ssthresh: 4,
        };
        let w: Vec<u32> = (0..8).map(|k| p.cwnd(k)).collect();
        assert_eq!(w, [2, 3, 4, 4, 4, 4, 5, 5]);
        assert_eq!(p.next_change(2), Some(6));
    }

    #[test]
    fn matches_reno_on_a_wide_grid() {
        for start in [1u32, 2, 3, 4, 7, 10, 31, 64, 100] {
            for ssthresh in [0u32, 1, 2, 3, 4, 5, 8, 16, 33, 64, 100, 1000, u32::MAX] {
                check_piece(
                    Piece {
                        base: 0,
                        start_cwnd: start,
                        ssthresh,
                    },
                    10_000,
                );
                check_piece(
                    Piece {
                        base: 123_456,
                        start_cwnd: start,
                        ssthresh,
                    },
                    2_000,
                );
            }
        }
    }

    #[test]
    fn large_windows_and_bases_do_not_overflow() {
        let p = Piece {
            base: u32::MAX - 10,
            start_cwnd: u32::MAX / 2,
            ssthresh: 2,
        };
        assert!(p.cwnd(u32::MAX) >= u32::MAX / 2);
        let p = Piece {
            base: 0,
            start_cwnd: 1,
            ssthresh: u32::MAX,
        };
        assert_eq!(p.cwnd(u32::MAX), u32::MAX);
        assert_eq!(p.next_change(u32::MAX), None);
    }

    proptest! {
        #[test]
        fn matches_reno_for_random_pieces(start in 1u32..200, ssthresh in 0u32..400, base in 0u32..1_000_000) {
            check_piece(Piece { base, start_cwnd: start, ssthresh }, 10_000);
        }
    }
}
