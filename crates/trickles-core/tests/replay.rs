//! The replay filter against a simple model (a map of every tag seen).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::HashMap;
use trickles_core::crypto::replay::FUTURE_TOLERANCE_MS;
use trickles_core::crypto::{ReplayFilter, ReplayVerdict};

const HORIZON: u32 = 5_000;

fn tag(id: u8) -> [u8; 16] {
    // Tags are MAC outputs: give each id unrelated bytes.
    let mut t = [0u8; 16];
    let mut v = u128::from(id)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    for b in &mut t {
        v = v.rotate_left(8) ^ (v >> 3);
        *b = v as u8;
    }
    t
}

proptest! {
    /// With room to spare (no evictions), the filter answers exactly as a
    /// map of every tag seen would: stale beyond the horizon, from the
    /// future beyond the tolerance, replayed while a previous use is within
    /// the horizon, fresh otherwise.
    #[test]
    fn matches_model(
        start in any::<u32>(),
        steps in vec((0u8..24, 0u32..1500, -1500i32..7000), 1..300),
    ) {
        let mut f = ReplayFilter::new(4096, HORIZON);
        let mut seen: HashMap<u8, u32> = HashMap::new();
        let mut now = start;
        let live = |now: u32, ts: u32| {
            let age = now.wrapping_sub(ts) as i32;
            age >= -(FUTURE_TOLERANCE_MS as i32) && age <= HORIZON as i32
        };
        for (id, advance, back) in steps {
            now = now.wrapping_add(advance);
            let ts = now.wrapping_sub(back as u32);
            let age = back;
            let want = if age < -(FUTURE_TOLERANCE_MS as i32) {
                ReplayVerdict::FromFuture
            } else if age > HORIZON as i32 {
                ReplayVerdict::Stale
            } else if seen.get(&id).is_some_and(|&old| live(now, old)) {
                ReplayVerdict::Replayed
            } else {
                seen.insert(id, ts);
                ReplayVerdict::Fresh
            };
            prop_assert_eq!(f.check(&tag(id), ts, now), want, "id {} ts {} now {}", id, ts, now);
        }
        prop_assert_eq!(f.evictions(), 0);
    }

    /// However small the table, a tag replayed right away is caught, and
    /// verdicts on stale or future tags never depend on the table.
    #[test]
    fn immediate_replay_caught(ids in vec(any::<u8>(), 1..200), entries in 0usize..64) {
        let mut f = ReplayFilter::new(entries, HORIZON);
        let now = 1_000_000;
        for id in ids {
            let t = tag(id);
            let first = f.check(&t, now, now);
            prop_assert!(first == ReplayVerdict::Fresh || first == ReplayVerdict::Replayed);
            prop_assert_eq!(f.check(&t, now, now), ReplayVerdict::Replayed);
            prop_assert_eq!(f.check(&t, now - HORIZON - 1, now), ReplayVerdict::Stale);
            prop_assert_eq!(f.check(&t, now + FUTURE_TOLERANCE_MS + 1, now), ReplayVerdict::FromFuture);
        }
    }
}
