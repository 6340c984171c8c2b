//! Replay defence (paper §2.2, "Protection against replay"; DESIGN.md
//! "Replay").
//!
//! A continuation older than the horizon (by its server timestamp) is
//! refused outright; within the horizon, a fixed-size table keyed by the
//! continuation's MAC tag refuses the second use. The table is sized once,
//! independent of the number of clients: set-associative, 8 entries of
//! (fingerprint, timestamp) per 64-byte bucket (one cache line, one miss
//! per check). An entry whose timestamp has left the horizon is free again
//! (its tag would be refused as stale anyway), so the paper's periodic
//! purge happens in place. When a bucket is full of live entries, the
//! oldest is overwritten and counted in [`ReplayFilter::evictions`]: a
//! replay of an evicted tag goes undetected, so a rising count means the
//! table is too small for the packet rate × horizon.
//!
//! Check only tags that verified: the tag is then a PRF output, so bucket
//! choice and fingerprint are uniform and not under the client's control.
//! A fresh tag is wrongly reported as replayed only if its 32-bit
//! fingerprint collides with a live entry of its bucket (≤ 8 × 2^-32).

/// How far in the future (ms) a timestamp may be, to absorb clock skew
/// between replicas, before it is refused.
pub const FUTURE_TOLERANCE_MS: u32 = 1000;
/// Largest horizon accepted by [`ReplayFilter::new`] (about 12 days):
/// ages are compared as signed 32-bit wrapping differences.
pub const MAX_HORIZON_MS: u32 = 1 << 30;

const WAYS: usize = 8;

/// One cache line: 8 fingerprints (0 = empty) and their timestamps.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    fp: [u32; WAYS],
    ts: [u32; WAYS],
}

const _: () = assert!(size_of::<Bucket>() == 64);

impl Bucket {
    const EMPTY: Bucket = Bucket {
        fp: [0; WAYS],
        ts: [0; WAYS],
    };
}

/// The outcome of [`ReplayFilter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplayVerdict {
    /// First use within the horizon; now recorded.
    Fresh,
    /// Seen before within the horizon.
    Replayed,
    /// Older than the horizon.
    Stale,
    /// Timestamp further in the future than [`FUTURE_TOLERANCE_MS`].
    FromFuture,
}

impl ReplayVerdict {
    /// Stable name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReplayVerdict::Fresh => "fresh",
            ReplayVerdict::Replayed => "replayed",
            ReplayVerdict::Stale => "stale",
            ReplayVerdict::FromFuture => "from_future",
        }
    }

    /// Only [`ReplayVerdict::Fresh`] may be processed.
    pub const fn is_fresh(self) -> bool {
        matches!(self, ReplayVerdict::Fresh)
    }
}

/// A fixed-size table of recently used continuation tags.
#[derive(Clone)]
pub struct ReplayFilter {
    buckets: Box<[Bucket]>,
    mask: usize,
    horizon_ms: u32,
    evictions: u64,
}

impl core::fmt::Debug for ReplayFilter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayFilter")
            .field("entries", &self.capacity())
            .field("horizon_ms", &self.horizon_ms)
            .field("evictions", &self.evictions)
            .finish()
    }
}

/// Signed age, tolerant of the wrap of the 32-bit millisecond clock.
#[inline]
fn age(now: u32, ts: u32) -> i32 {
    now.wrapping_sub(ts) as i32
}

impl ReplayFilter {
    /// A table of at least `entries` entries (rounded up to a power of two,
    /// at least one bucket of 8) remembering tags for `horizon_ms`
    /// (clamped to [`MAX_HORIZON_MS`]). The only allocation the filter
    /// ever makes.
    pub fn new(entries: usize, horizon_ms: u32) -> ReplayFilter {
        let entries = entries
            .max(WAYS)
            .checked_next_power_of_two()
            .unwrap_or(1 << (usize::BITS - 1));
        let n = entries / WAYS;
        ReplayFilter {
            buckets: vec![Bucket::EMPTY; n].into_boxed_slice(),
            mask: n - 1,
            horizon_ms: horizon_ms.min(MAX_HORIZON_MS),
            evictions: 0,
        }
    }

    /// Judge the continuation with MAC `tag` and server `timestamp` at
    /// server time `now` (ms, wrapping); record it if fresh.
    pub fn check(&mut self, tag: &[u8; 16], timestamp: u32, now: u32) -> ReplayVerdict {
        let horizon = self.horizon_ms as i32;
        let tolerance = FUTURE_TOLERANCE_MS as i32;
        let a = age(now, timestamp);
        if a < -tolerance {
            return ReplayVerdict::FromFuture;
        }
        if a > horizon {
            return ReplayVerdict::Stale;
        }
        // Bucket from bytes 0..8, fingerprint from bytes 8..12.
        let mut lo = [0u8; 8];
        lo.copy_from_slice(&tag[..8]);
        let idx = (u64::from_le_bytes(lo) as usize) & self.mask;
        let fp = match u32::from_le_bytes([tag[8], tag[9], tag[10], tag[11]]) {
            0 => 1,
            v => v,
        };
        let bucket = &mut self.buckets[idx];
        let mut free = None;
        let (mut oldest, mut oldest_age) = (0, i32::MIN);
        for w in 0..WAYS {
            let efp = bucket.fp[w];
            let ea = age(now, bucket.ts[w]);
            if efp == 0 || ea < -tolerance || ea > horizon {
                free.get_or_insert(w);
            } else if efp == fp {
                return ReplayVerdict::Replayed;
            } else if ea > oldest_age {
                (oldest, oldest_age) = (w, ea);
            }
        }
        let slot = free.unwrap_or_else(|| {
            self.evictions += 1;
            oldest
        });
        bucket.fp[slot] = fp;
        bucket.ts[slot] = timestamp;
        ReplayVerdict::Fresh
    }

    /// Number of entries.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// The horizon in milliseconds.
    pub fn horizon_ms(&self) -> u32 {
        self.horizon_ms
    }

    /// Live entries overwritten to make room for a fresh tag since
    /// creation.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Bytes of the table (fixed at creation).
    pub fn memory_bytes(&self) -> usize {
        size_of_val(&*self.buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(i: u64) -> [u8; 16] {
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        t[8..12].copy_from_slice(&(i as u32 + 1).to_le_bytes());
        t
    }

    #[test]
    fn sizing() {
        let f = ReplayFilter::new(0, 10);
        assert_eq!(f.capacity(), 8);
        assert_eq!(f.memory_bytes(), 64);
        let f = ReplayFilter::new(1000, 10);
        assert_eq!(f.capacity(), 1024);
        assert_eq!(f.memory_bytes(), 1024 * 8);
        assert_eq!(ReplayFilter::new(8, u32::MAX).horizon_ms(), MAX_HORIZON_MS);
    }

    #[test]
    fn verdicts() {
        let mut f = ReplayFilter::new(1024, 5_000);
        let now = 1_000_000;
        assert_eq!(f.check(&tag(1), now - 100, now), ReplayVerdict::Fresh);
        assert_eq!(
            f.check(&tag(1), now - 100, now + 10),
            ReplayVerdict::Replayed
        );
        assert_eq!(
            f.check(&tag(1), now - 100, now + 4_900),
            ReplayVerdict::Replayed
        );
        // Past the horizon the same tag is stale, never fresh again.
        assert_eq!(
            f.check(&tag(1), now - 100, now + 4_901),
            ReplayVerdict::Stale
        );
        assert_eq!(f.check(&tag(2), now - 5_001, now), ReplayVerdict::Stale);
        assert_eq!(f.check(&tag(2), now - 5_000, now), ReplayVerdict::Fresh);
        assert_eq!(
            f.check(&tag(3), now + 1_001, now),
            ReplayVerdict::FromFuture
        );
        assert_eq!(f.check(&tag(3), now + 1_000, now), ReplayVerdict::Fresh);
        assert_eq!(f.check(&tag(3), now + 1_000, now), ReplayVerdict::Replayed);
        assert_eq!(f.evictions(), 0);
        assert!(ReplayVerdict::Fresh.is_fresh() && !ReplayVerdict::Replayed.is_fresh());
    }

    #[test]
    fn clock_wrap() {
        let mut f = ReplayFilter::new(64, 5_000);
        let ts = u32::MAX - 10;
        assert_eq!(f.check(&tag(9), ts, 20), ReplayVerdict::Fresh);
        assert_eq!(f.check(&tag(9), ts, 30), ReplayVerdict::Replayed);
        assert_eq!(f.check(&tag(9), ts, 4_990), ReplayVerdict::Stale);
    }

    #[test]
    fn full_bucket_evicts_oldest() {
        // One bucket: every tag lands in it.
        let mut f = ReplayFilter::new(8, 10_000);
        for i in 0..8 {
            assert_eq!(f.check(&tag(i), 100 + i as u32, 200), ReplayVerdict::Fresh);
        }
        assert_eq!(f.evictions(), 0);
        assert_eq!(f.check(&tag(8), 150, 200), ReplayVerdict::Fresh);
        assert_eq!(f.evictions(), 1);
        // tag(0) (timestamp 100, the oldest) was evicted; the rest remain.
        assert_eq!(f.check(&tag(1), 101, 200), ReplayVerdict::Replayed);
        assert_eq!(f.check(&tag(8), 150, 200), ReplayVerdict::Replayed);
        assert_eq!(f.check(&tag(0), 100, 200), ReplayVerdict::Fresh);
        assert_eq!(f.evictions(), 2);
        // Expired entries are reused without eviction.
        assert_eq!(f.check(&tag(20), 20_000, 20_000), ReplayVerdict::Fresh);
        assert_eq!(f.evictions(), 2);
    }

    #[test]
    fn zero_fingerprint_is_stored() {
        let mut f = ReplayFilter::new(8, 1_000);
        let t = [0u8; 16];
        assert_eq!(f.check(&t, 0, 0), ReplayVerdict::Fresh);
        assert_eq!(f.check(&t, 0, 0), ReplayVerdict::Replayed);
    }
}
