//! Time as the caller supplies it: the core never reads a clock.

/// Microseconds since an arbitrary epoch chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms * 1000)
    }

    /// The server clock written into continuations: milliseconds modulo
    /// 2^32 (docs/protocol.md §5).
    pub const fn wire_millis(self) -> u32 {
        (self.0 / 1000) as u32
    }

    /// `self + us` microseconds.
    pub const fn plus_micros(self, us: u64) -> Instant {
        Instant(self.0.saturating_add(us))
    }

    /// Microseconds from `earlier` to `self` (0 if `earlier` is later).
    pub const fn micros_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}
