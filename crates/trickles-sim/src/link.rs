//! Unidirectional links: a drop-tail FIFO in front of a transmitter of fixed
//! rate, followed by a propagation delay and optional impairments (random
//! loss, reordering, duplication, injected drops).
//!
//! # Model
//!
//! A frame offered to a link that is down (see
//! `sim::NetChange::LinkDown`) is dropped ([`LinkStats::dropped_down`]).
//! Otherwise it first passes the drop hook (an injected fault, counted in
//! [`LinkStats::dropped_hook`]). It then joins
//! the FIFO: if the transmitter is busy and the bytes already *waiting*
//! (not counting the frame being serialized) plus this frame exceed the
//! queue limit, the frame is dropped ([`LinkStats::dropped_queue`]). Otherwise
//! it is serialized after everything ahead of it, taking
//! `ceil(len · 8 · 10⁹ / rate_bps)` ns; serialization counts the frame bytes
//! as given (no preamble, FCS or inter-frame gap). A frame then is lost on
//! the wire with probability `loss` (it still used the transmitter). A
//! surviving frame is duplicated with probability `duplicate`; each copy
//! arrives `delay` after its serialization ends, plus, with probability
//! `reorder`, an extra delay drawn uniformly from `[0, reorder_max]`, so it
//! can overtake or be overtaken by its neighbours.
//!
//! Random draws happen only for impairments whose probability is non-zero,
//! in a fixed order per frame (loss, duplicate, reorder per copy), from the
//! simulator's single RNG.

use core::time::Duration;
use std::collections::VecDeque;

use rand::RngExt;
use serde::Serialize;

use crate::time::{SimTime, duration_nanos};

/// Smallest default queue limit.
pub const MIN_DEFAULT_QUEUE_BYTES: u64 = 64 * 1024;

/// Parameters of one unidirectional link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkConfig {
    /// Transmit rate in bits per second; 0 means infinitely fast.
    pub rate_bps: u64,
    /// One-way propagation delay.
    #[serde(serialize_with = "ser_duration_ns")]
    pub delay: Duration,
    /// Drop-tail limit on the bytes waiting behind the frame in service.
    /// `None`: the bandwidth-delay product of a round trip over this link
    /// and a symmetric return (`rate · 2 · delay / 8`), at least
    /// [`MIN_DEFAULT_QUEUE_BYTES`].
    pub queue_limit_bytes: Option<u64>,
    /// Probability that a frame is lost on the wire.
    pub loss: f64,
    /// Probability that a frame gets an extra random delay.
    pub reorder: f64,
    /// Largest extra delay of a reordered frame.
    #[serde(serialize_with = "ser_duration_ns")]
    pub reorder_max: Duration,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
}

fn ser_duration_ns<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration_nanos(*d))
}

impl LinkConfig {
    /// A clean link of `rate_bps` and one-way `delay` with the default queue.
    pub fn new(rate_bps: u64, delay: Duration) -> LinkConfig {
        LinkConfig {
            rate_bps,
            delay,
            queue_limit_bytes: None,
            loss: 0.0,
            reorder: 0.0,
            reorder_max: Duration::ZERO,
            duplicate: 0.0,
        }
    }

    /// Set the queue limit in bytes.
    pub fn with_queue_limit(mut self, bytes: u64) -> LinkConfig {
        self.queue_limit_bytes = Some(bytes);
        self
    }

    /// Set the random loss probability.
    pub fn with_loss(mut self, p: f64) -> LinkConfig {
        self.loss = p;
        self
    }

    /// Delay a fraction `p` of frames by up to `max` extra.
    pub fn with_reorder(mut self, p: f64, max: Duration) -> LinkConfig {
        self.reorder = p;
        self.reorder_max = max;
        self
    }

    /// Duplicate a fraction `p` of frames.
    pub fn with_duplicate(mut self, p: f64) -> LinkConfig {
        self.duplicate = p;
        self
    }

    /// The queue limit in force (explicit or default).
    pub fn queue_limit(&self) -> u64 {
        self.queue_limit_bytes.unwrap_or_else(|| {
            let bdp = u128::from(self.rate_bps) * 2 * self.delay.as_nanos() / 8 / 1_000_000_000;
            u64::try_from(bdp)
                .unwrap_or(u64::MAX)
                .max(MIN_DEFAULT_QUEUE_BYTES)
        })
    }

    /// Serialization time of `len` bytes, rounded up to whole nanoseconds.
    pub fn serialization_ns(&self, len: usize) -> u64 {
        if self.rate_bps == 0 {
            return 0;
        }
        let bits = len as u128 * 8 * 1_000_000_000;
        u64::try_from(bits.div_ceil(u128::from(self.rate_bps))).unwrap_or(u64::MAX)
    }
}

/// Counters of one link. Every frame offered is counted once in
/// `frames_in` and ends in exactly one of `dropped_down`, `dropped_hook`,
/// `dropped_queue`, `lost` or delivered (`frames_out` counts copies, so duplicates add one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Frames offered to the link.
    pub frames_in: u64,
    /// Bytes offered to the link.
    pub bytes_in: u64,
    /// Frames dropped by the drop-tail queue.
    pub dropped_queue: u64,
    /// Frames dropped by the injected drop hook.
    pub dropped_hook: u64,
    /// Frames offered while the link was down.
    pub dropped_down: u64,
    /// Frames lost at random on the wire.
    pub lost: u64,
    /// Frames delivered twice (each counts one extra in `frames_out`).
    pub duplicated: u64,
    /// Frame copies that got an extra reordering delay.
    pub reordered: u64,
    /// Frame copies delivered to the far end.
    pub frames_out: u64,
    /// Bytes delivered to the far end.
    pub bytes_out: u64,
    /// Largest number of bytes ever waiting in the queue.
    pub max_queue_bytes: u64,
    /// Total time the transmitter spent serializing, in ns.
    pub busy_ns: u64,
}

/// A hook deciding, per frame offered, whether to drop it (true = drop).
pub type DropHook<'a> = Box<dyn FnMut(&[u8]) -> bool + 'a>;

/// The state of a link's transmitter and queue.
pub(crate) struct LinkState<'a> {
    pub(crate) cfg: LinkConfig,
    limit: u64,
    busy_until: SimTime,
    /// Start times and lengths of frames waiting for the transmitter.
    waiting: VecDeque<(SimTime, u64)>,
    waiting_bytes: u64,
    pub(crate) stats: LinkStats,
    pub(crate) hook: Option<DropHook<'a>>,
    /// False while the link is down: every frame offered is dropped.
    pub(crate) up: bool,
}

impl<'a> LinkState<'a> {
    pub(crate) fn new(cfg: LinkConfig) -> LinkState<'a> {
        let limit = cfg.queue_limit();
        LinkState {
            cfg,
            limit,
            busy_until: SimTime::ZERO,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            stats: LinkStats::default(),
            hook: None,
            up: true,
        }
    }

    /// Bytes waiting for the transmitter at `now`.
    pub(crate) fn queued_bytes(&mut self, now: SimTime) -> u64 {
        while let Some(&(start, len)) = self.waiting.front() {
            if start > now {
                break;
            }
            self.waiting.pop_front();
            self.waiting_bytes -= len;
        }
        self.waiting_bytes
    }

    /// Offer `frame` at `now`; push the arrival time of every copy that
    /// will reach the far end into `out`.
    pub(crate) fn offer<R: rand::Rng>(
        &mut self,
        now: SimTime,
        frame: &[u8],
        rng: &mut R,
        out: &mut Vec<SimTime>,
    ) {
        let len = frame.len() as u64;
        self.stats.frames_in += 1;
        self.stats.bytes_in += len;
        if !self.up {
            self.stats.dropped_down += 1;
            return;
        }
        if let Some(hook) = self.hook.as_mut()
            && hook(frame)
        {
            self.stats.dropped_hook += 1;
            return;
        }
        let queued = self.queued_bytes(now);
        let busy = self.busy_until > now;
        if busy && queued.saturating_add(len) > self.limit {
            self.stats.dropped_queue += 1;
            return;
        }
        let start = self.busy_until.max(now);
        let ser = self.cfg.serialization_ns(frame.len());
        let finish = SimTime(start.0.saturating_add(ser));
        self.busy_until = finish;
        self.stats.busy_ns = self.stats.busy_ns.saturating_add(ser);
        if start > now {
            self.waiting.push_back((start, len));
            self.waiting_bytes += len;
            self.stats.max_queue_bytes = self.stats.max_queue_bytes.max(self.waiting_bytes);
        }
        if self.cfg.loss > 0.0 && rng.random::<f64>() < self.cfg.loss {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.cfg.duplicate > 0.0 && rng.random::<f64>() < self.cfg.duplicate {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        let base = finish + self.cfg.delay;
        for _ in 0..copies {
            let mut at = base;
            if self.cfg.reorder > 0.0 && rng.random::<f64>() < self.cfg.reorder {
                let max = duration_nanos(self.cfg.reorder_max);
                at = SimTime(at.0.saturating_add(rng.random_range(0..=max)));
                self.stats.reordered += 1;
            }
            self.stats.frames_out += 1;
            self.stats.bytes_out += len;
            out.push(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_queue_is_bdp_with_floor() {
        let l = LinkConfig::new(100_000_000, Duration::from_millis(10));
        assert_eq!(l.queue_limit(), 250_000);
        let l = LinkConfig::new(1_000_000, Duration::from_millis(1));
        assert_eq!(l.queue_limit(), MIN_DEFAULT_QUEUE_BYTES);
        assert_eq!(l.clone().with_queue_limit(7).queue_limit(), 7);
    }

    #[test]
    fn serialization_rounds_up() {
        let l = LinkConfig::new(8_000_000, Duration::ZERO);
        assert_eq!(l.serialization_ns(1000), 1_000_000);
        let l = LinkConfig::new(3, Duration::ZERO);
        assert_eq!(l.serialization_ns(1), 2_666_666_667);
        assert_eq!(LinkConfig::new(0, Duration::ZERO).serialization_ns(1500), 0);
    }
}
