//! TCPCwnd(k): TCP Reno's congestion window after k acknowledgments, in
//! O(1) (paper §2.5 "Slow start and congestion avoidance", Figure 5;
//! DESIGN.md "TCPCwnd").
//!
//! A connection's history is cut at every loss into loss-free *pieces*; a
//! piece is fully described by its initial conditions ([`Piece`]): the
//! request number where it starts (TCPBase), the window there (startCwnd),
//! the slow-start threshold, and whether it *restores* the window after a
//! recovery round. Within a piece Reno grows the window by one packet per
//! acknowledgment while `cwnd < ssthresh` (slow start) and by one packet
//! per `cwnd` acknowledgments afterwards (congestion avoidance, RFC 5681
//! §3.1 in packets).
//!
//! A restore piece starts from the `n = startCwnd` survivors of a recovery
//! round, with ssthresh = newCwnd (docs/protocol.md §14.2). Its first `n`
//! acknowledgments, the survivors' own, each grow the window by
//!
//! ```text
//! m = min(⌈(ssthresh − n) / n⌉, max(1, ⌊max_increment / n⌋))    (m ≥ 1)
//! ```
//!
//! instead of one: the survivors' round trip brings the window back to
//! ssthresh, but adds at most `max(n, max_increment)` packets to it (one
//! request's burst more than slow start would), so a window that recovery
//! left at a few packets is back at about the burst limit one round trip
//! later instead of `log2` round trips of slow start, without the large
//! bursts of few survivors each sending many packets at once. Later
//! acknowledgments grow it as slow start does. Ordinary pieces have
//! `m = 1`.
//!
//! With `a = k − base` acknowledgments, `b = min(n, ⌈(ssthresh − n) / m⌉)`
//! of them boosted, `w1 = min(ssthresh, n + m·b)` and `s = b + ssthresh −
//! w1` of them in slow start (for `n = startCwnd < ssthresh`):
//!
//! ```text
//! w = n + m·a                                            if a ≤ b
//! w = w1 + (a − b)                                       if b < a ≤ s
//! w = floor((1 + isqrt(1 + 8j + 4·w0·(w0 − 1))) / 2)     otherwise,
//!     with w0 = ssthresh and j = a − s
//! ```
//!
//! (the last line: after `j` congestion-avoidance acknowledgments from
//! window `w0`, `w` is the largest with `w(w−1)/2 ≤ j + w0(w0−1)/2`; a
//! piece that starts at or above ssthresh has `s = 0` and `w0 = start`).
//!
//! The tests check this against a step-by-step Reno model (with the same
//! boosted acknowledgments) for every `k < 10 000` over a wide grid of
//! parameters.

/// Initial conditions of one loss-free piece of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Piece {
    /// TCPBase: the request number at which the window is `start_cwnd`.
    pub base: u32,
    /// Window at `base`, in packets (≥ 1).
    pub start_cwnd: u32,
    /// Slow-start threshold, in packets.
    pub ssthresh: u32,
    /// A restore piece (the one after a recovery round): its first
    /// `start_cwnd` acknowledgments grow the window by
    /// [`Piece::increment`] each instead of one. The continuation carries
    /// it as flag RESTORE (docs/protocol.md §5).
    pub restore: bool,
}

impl Piece {
    /// `m`, the growth per acknowledgment of the first `start_cwnd`
    /// acknowledgments: 1 for an ordinary piece; for a restore piece
    /// `⌈(ssthresh − n) / n⌉` with `n = start_cwnd`, at least 1 and at most
    /// `⌊max_increment / n⌋` (so those `n` acknowledgments add at most
    /// `max(n, max_increment)` packets).
    pub fn increment(&self, max_increment: u32) -> u32 {
        let n = self.start_cwnd.max(1);
        if !self.restore || n >= self.ssthresh {
            return 1;
        }
        (self.ssthresh - n)
            .div_ceil(n)
            .min(max_increment / n)
            .max(1)
    }

    /// The slow-start schedule `(m, b, w1, s, w0)`: the first `b`
    /// acknowledgments grow by `m` each (reaching `w1`), the next ones by
    /// one until `s` acknowledgments reach ssthresh; congestion avoidance
    /// then starts from `w0`.
    fn ramp(&self, max_increment: u32) -> (u64, u64, u64, u64, u32) {
        let start = self.start_cwnd.max(1);
        if start >= self.ssthresh {
            return (1, 0, u64::from(start), 0, start);
        }
        let m = u64::from(self.increment(max_increment));
        let (n, ss) = (u64::from(start), u64::from(self.ssthresh));
        let b = n.min((ss - n).div_ceil(m));
        let w1 = (n + m * b).min(ss);
        (m, b, w1, b + (ss - w1), self.ssthresh)
    }

    /// TCPCwnd(k): the window after acknowledgment `k`. Requests at or
    /// before `base` see `start_cwnd`. `max_increment` bounds a restore
    /// piece's boost ([`Piece::increment`]); it does not matter for other
    /// pieces.
    pub fn cwnd(&self, k: u32, max_increment: u32) -> u32 {
        let start = u64::from(self.start_cwnd.max(1));
        let acks = u64::from(k.saturating_sub(self.base));
        let (m, b, w1, slow, w0) = self.ramp(max_increment);
        if acks <= b {
            return (start + m * acks).min(w1) as u32;
        }
        if acks <= slow {
            return (w1 + (acks - b)) as u32;
        }
        let j = acks - slow;
        let w0 = u128::from(w0);
        let d = 1 + 8 * u128::from(j) + 4 * w0 * (w0 - 1);
        // floor((1 + isqrt(d)) / 2) == ceil(isqrt(d) / 2)
        let w = d.isqrt().div_ceil(2);
        u32::try_from(w).unwrap_or(u32::MAX)
    }

    /// The smallest request number after `k` at which the window differs
    /// from `cwnd(k, max_increment)`, or `None` if that is beyond `u32`.
    pub fn next_change(&self, k: u32, max_increment: u32) -> Option<u32> {
        let k = k.max(self.base);
        let acks = u64::from(k - self.base);
        let (_, _, _, slow, w0) = self.ramp(max_increment);
        if acks < slow {
            return k.checked_add(1);
        }
        // Congestion avoidance from w0 after `slow` acknowledgments.
        let w = u64::from(self.cwnd(k, max_increment));
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

    /// No bound on a restore piece's boost.
    const NO_CAP: u32 = u32::MAX;

    /// TCP Reno, one acknowledgment at a time (RFC 5681 §3.1, in packets),
    /// except that in slow start each of the first `start_cwnd`
    /// acknowledgments grows the window by `m` (a restore piece's boost;
    /// `m = 1` is Reno), never past ssthresh: the reference the closed form
    /// must match.
    struct RenoModel {
        cwnd: u32,
        ssthresh: u32,
        m: u32,
        boosted: u32,
        acked_in_round: u32,
    }

    impl RenoModel {
        fn new(p: &Piece, m: u32) -> RenoModel {
            RenoModel {
                cwnd: p.start_cwnd.max(1),
                ssthresh: p.ssthresh,
                m,
                boosted: p.start_cwnd.max(1),
                acked_in_round: 0,
            }
        }

        fn ack(&mut self) {
            if self.cwnd < self.ssthresh {
                let m = if self.boosted > 0 { self.m } else { 1 };
                self.boosted = self.boosted.saturating_sub(1);
                self.cwnd = self.cwnd.saturating_add(m).min(self.ssthresh);
            } else {
                self.acked_in_round += 1;
                if self.acked_in_round >= self.cwnd {
                    self.cwnd += 1;
                    self.acked_in_round = 0;
                }
            }
        }
    }

    fn check_piece(p: Piece, upto: u32, cap: u32) {
        let m = p.increment(cap);
        assert!(m >= 1, "{p:?} m={m}");
        if m > 1 {
            // The boosted acknowledgments add at most `cap` packets.
            assert!(
                u64::from(m) * u64::from(p.start_cwnd) <= u64::from(cap),
                "{p:?} m={m}"
            );
        }
        let mut model = RenoModel::new(&p, m);
        let mut expected_next = None;
        for k in p.base..p.base + upto {
            if k > p.base {
                model.ack();
            }
            assert_eq!(p.cwnd(k, cap), model.cwnd, "{p:?} cap={cap} k={k}");
            if let Some(next) = expected_next {
                if k < next {
                    assert_eq!(
                        p.cwnd(k, cap),
                        p.cwnd(k - 1, cap),
                        "{p:?} changed early at {k}"
                    );
                } else {
                    assert_ne!(
                        p.cwnd(k, cap),
                        p.cwnd(k - 1, cap),
                        "{p:?} did not change at {k}"
                    );
                }
            }
            if expected_next.is_none_or(|n| k >= n) {
                expected_next = p.next_change(k, cap);
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
            restore: false,
        };
        let w: Vec<u32> = (0..8).map(|k| p.cwnd(k, NO_CAP)).collect();
        assert_eq!(w, [2, 3, 4, 4, 4, 4, 5, 5]);
        assert_eq!(p.next_change(2, NO_CAP), Some(6));
    }

    #[test]
    fn restore_reaches_ssthresh_after_start_acknowledgments() {
        // Three survivors, newCwnd 10, burst limit 16: m = min(⌈7/3⌉,
        // ⌊15/3⌋) = 3, so 3, 6, 9, then 10 (not 12) after the three
        // survivors' acknowledgments; congestion avoidance from 10 then
        // takes ten more to reach 11.
        let p = Piece {
            base: 100,
            start_cwnd: 3,
            ssthresh: 10,
            restore: true,
        };
        assert_eq!(p.increment(15), 3);
        let w: Vec<u32> = (99..=104).map(|k| p.cwnd(k, 15)).collect();
        assert_eq!(w, [3, 3, 6, 9, 10, 10]);
        assert_eq!(p.next_change(101, 15), Some(102));
        assert_eq!(p.next_change(103, 15), Some(113));
        assert_eq!(p.cwnd(112, 15), 10);
        assert_eq!(p.cwnd(113, 15), 11);
        // The same piece without the restore bit is Reno's slow start.
        let reno = Piece {
            restore: false,
            ..p
        };
        assert_eq!(reno.increment(15), 1);
        let w: Vec<u32> = (100..=108).map(|k| reno.cwnd(k, 15)).collect();
        assert_eq!(w, [3, 4, 5, 6, 7, 8, 9, 10, 10]);
    }

    #[test]
    fn restore_boost_is_bounded_then_slow_start() {
        // One survivor, newCwnd 250, burst limit 16: m = 15, so its
        // acknowledgment brings the window to 16 (one request's burst);
        // then slow start, one per acknowledgment, reaches 250 after 234
        // more; then congestion avoidance.
        let p = Piece {
            base: 1000,
            start_cwnd: 1,
            ssthresh: 250,
            restore: true,
        };
        assert_eq!(p.increment(15), 15);
        let w: Vec<u32> = (1000..=1003).map(|k| p.cwnd(k, 15)).collect();
        assert_eq!(w, [1, 16, 17, 18]);
        assert_eq!(p.cwnd(1234, 15), 249);
        assert_eq!(p.cwnd(1235, 15), 250);
        assert_eq!(p.next_change(1001, 15), Some(1002));
        assert_eq!(p.next_change(1235, 15), Some(1235 + 250));
        // Unbounded, the one survivor's acknowledgment restores it at once.
        assert_eq!(p.increment(u32::MAX), 249);
        assert_eq!(p.cwnd(1001, NO_CAP), 250);
        // Four survivors: m = min(⌈96/4⌉, ⌊15/4⌋) = 3, so their four
        // acknowledgments add 12 (4, 7, 10, 13, 16), then slow start.
        let four = Piece {
            start_cwnd: 4,
            ssthresh: 100,
            ..p
        };
        assert_eq!(four.increment(15), 3);
        let w: Vec<u32> = (1000..=1006).map(|k| four.cwnd(k, 15)).collect();
        assert_eq!(w, [4, 7, 10, 13, 16, 17, 18]);
        // Twenty survivors: the bound leaves m = 1, Reno's slow start.
        let twenty = Piece {
            start_cwnd: 20,
            ..four
        };
        assert_eq!(twenty.increment(15), 1);
        assert_eq!(twenty.cwnd(1020, 15), 40);
        // A restore piece that starts at ssthresh is congestion avoidance.
        let full = Piece {
            start_cwnd: 250,
            ..p
        };
        assert_eq!(full.increment(15), 1);
        assert_eq!(full.cwnd(1250, 15), 251);
    }

    #[test]
    fn matches_reno_on_a_wide_grid() {
        for start in [1u32, 2, 3, 4, 7, 10, 31, 64, 100] {
            for ssthresh in [0u32, 1, 2, 3, 4, 5, 8, 16, 33, 64, 100, 1000, u32::MAX] {
                for (restore, cap) in [
                    (false, NO_CAP),
                    (true, NO_CAP),
                    (true, 15),
                    (true, 63),
                    (true, 2),
                    (true, 0),
                ] {
                    check_piece(
                        Piece {
                            base: 0,
                            start_cwnd: start,
                            ssthresh,
                            restore,
                        },
                        10_000,
                        cap,
                    );
                    check_piece(
                        Piece {
                            base: 123_456,
                            start_cwnd: start,
                            ssthresh,
                            restore,
                        },
                        2_000,
                        cap,
                    );
                }
            }
        }
    }

    #[test]
    fn large_windows_and_bases_do_not_overflow() {
        let p = Piece {
            base: u32::MAX - 10,
            start_cwnd: u32::MAX / 2,
            ssthresh: 2,
            restore: false,
        };
        assert!(p.cwnd(u32::MAX, NO_CAP) >= u32::MAX / 2);
        for restore in [false, true] {
            let p = Piece {
                base: 0,
                start_cwnd: 1,
                ssthresh: u32::MAX,
                restore,
            };
            assert_eq!(p.cwnd(u32::MAX, NO_CAP), u32::MAX);
            assert_eq!(p.next_change(u32::MAX, NO_CAP), None);
        }
        let p = Piece {
            base: 0,
            start_cwnd: 2,
            ssthresh: u32::MAX,
            restore: true,
        };
        assert_eq!(p.cwnd(2, NO_CAP), u32::MAX);
        assert_eq!(p.cwnd(4, 1 << 30), (1 << 30) + 4);
    }

    proptest! {
        #[test]
        fn matches_reno_for_random_pieces(
            start in 1u32..200,
            ssthresh in 0u32..400,
            base in 0u32..1_000_000,
            restore: bool,
            cap in 1u32..40,
        ) {
            check_piece(Piece { base, start_cwnd: start, ssthresh, restore }, 10_000, cap);
        }

        /// Unbounded, `n` survivors' acknowledgments restore the window.
        #[test]
        fn restore_takes_start_acknowledgments(start in 1u32..500, extra in 1u32..2000, base in 0u32..1_000_000) {
            let p = Piece { base, start_cwnd: start, ssthresh: start + extra, restore: true };
            prop_assert_eq!(p.cwnd(base + start, NO_CAP), start + extra);
            prop_assert!(p.cwnd(base + start - 1, NO_CAP) <= start + extra);
        }
    }
}
