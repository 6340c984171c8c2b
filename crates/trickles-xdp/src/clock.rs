//! The servers' time base (docs/protocol.md §9.1): the clock a server
//! engine stamps into continuations and judges their age by.
//!
//! A continuation made by one worker may come back to another worker, to
//! the same daemon after a restart, or to another replica (paper §1,
//! §6.3), so every server must read the same clock: the system's wall
//! clock (`CLOCK_REALTIME`, microseconds since the Unix epoch), which
//! replicas keep synchronised with NTP or PTP. Within one process the
//! clock never runs backwards: after a backward step it holds still until
//! the wall clock catches up, so a worker never finds its own recent
//! continuations "from the future".

use std::time::{SystemTime, UNIX_EPOCH};

use trickles_core::Instant;

/// Microseconds since the Unix epoch by the system's wall clock (0 if the
/// clock is set before 1970).
pub fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One worker's view of the servers' time base: the wall clock, held
/// still (never stepping back) within the worker.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerClock {
    last: u64,
}

impl ServerClock {
    /// A clock that starts at the current wall time.
    pub fn new() -> ServerClock {
        ServerClock {
            last: wall_micros(),
        }
    }

    /// The current time: the wall clock, or the last time read if the wall
    /// clock has stepped back since.
    pub fn now(&mut self) -> Instant {
        self.advance(wall_micros())
    }

    /// Take a wall-clock reading `micros`; what [`ServerClock::now`] does
    /// with the system clock.
    pub fn advance(&mut self, micros: u64) -> Instant {
        self.last = self.last.max(micros);
        Instant(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_is_unix_time() {
        // 2020-01-01 .. 2200-01-01: a clock that started at process start
        // (the old per-worker epoch) would read seconds, not decades.
        let us = wall_micros();
        assert!(us > 1_577_836_800_000_000 && us < 7_258_118_400_000_000);
    }

    #[test]
    fn a_backward_step_holds_the_clock_until_it_catches_up() {
        let mut c = ServerClock { last: 0 };
        assert_eq!(c.advance(5_000), Instant(5_000));
        assert_eq!(c.advance(2_000), Instant(5_000));
        assert_eq!(c.advance(4_999), Instant(5_000));
        assert_eq!(c.advance(6_000), Instant(6_000));
    }
}
