//! Server counters: every dropped packet is counted by reason (DESIGN.md
//! "a counted and logged drop for every malformed, forged, stale or
//! replayed packet").

/// Why the server dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The frame did not parse (any wire error).
    Malformed,
    /// Not addressed to the served port.
    WrongPort,
    /// A packet type only a server sends.
    NotARequest,
    /// The continuation's key epoch is unknown.
    UnknownEpoch,
    /// The continuation's MAC is wrong (forged, corrupted, other client).
    BadMac,
    /// Older than the replay horizon.
    Stale,
    /// Timestamped in the future.
    FromFuture,
    /// Seen before within the horizon.
    Replayed,
    /// A retransmission's continuation, which ends its trickle.
    Terminal,
    /// The SACK proof does not verify.
    BadSackProof,
    /// The SACK proof contradicts the continuation.
    InconsistentSack,
    /// No valid output continuation for the requested slots.
    NoOutputContinuation,
    /// The application refused the request.
    AppRefused,
    /// A timeout retry sent too early for its attempt number.
    EarlyRetry,
    /// A request whose continuation was made before this engine's replay
    /// memory began (a restarted server: docs/protocol.md §9.2).
    PredatesStart,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 15] = [
        DropReason::Malformed,
        DropReason::WrongPort,
        DropReason::NotARequest,
        DropReason::UnknownEpoch,
        DropReason::BadMac,
        DropReason::Stale,
        DropReason::FromFuture,
        DropReason::Replayed,
        DropReason::Terminal,
        DropReason::BadSackProof,
        DropReason::InconsistentSack,
        DropReason::NoOutputContinuation,
        DropReason::AppRefused,
        DropReason::EarlyRetry,
        DropReason::PredatesStart,
    ];

    /// Stable metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::WrongPort => "wrong_port",
            DropReason::NotARequest => "not_a_request",
            DropReason::UnknownEpoch => "unknown_epoch",
            DropReason::BadMac => "bad_mac",
            DropReason::Stale => "stale",
            DropReason::FromFuture => "from_future",
            DropReason::Replayed => "replayed",
            DropReason::Terminal => "terminal",
            DropReason::BadSackProof => "bad_sack_proof",
            DropReason::InconsistentSack => "inconsistent_sack",
            DropReason::NoOutputContinuation => "no_output_continuation",
            DropReason::AppRefused => "app_refused",
            DropReason::EarlyRetry => "early_retry",
            DropReason::PredatesStart => "predates_start",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Server counters, fixed size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Frames handed to the engine.
    pub frames_in: u64,
    /// Frames the engine emitted.
    pub frames_out: u64,
    /// SYNs answered.
    pub syns: u64,
    /// Requests answered (including timeout requests).
    pub requests: u64,
    /// Timeout requests answered.
    pub timeouts: u64,
    /// Loss episodes entered (fast recoveries: requests that retransmit a
    /// round's first loss).
    pub recoveries: u64,
    /// Slots sent as new data.
    pub slots_sent: u64,
    /// Slots retransmitted.
    pub slots_retransmitted: u64,
    /// Stream bytes sent.
    pub bytes_sent: u64,
    /// Minisocket events handed to the application.
    pub events: u64,
    /// CLOSE events.
    pub closes: u64,
    /// Events the application ignored (`drop_event`).
    pub events_dropped: u64,
    /// Answers that failed (wrong length, refused fill, frame too large).
    pub send_errors: u64,
    /// Answers that asked the client for more input.
    pub input_requests: u64,
    /// Events sealed for another replica.
    pub events_extracted: u64,
    /// Events installed from another replica.
    pub events_installed: u64,
    /// Previous-request continuations answered (their request was lost).
    pub previous_answered: u64,
    /// Previous-request continuations already answered (the usual case).
    pub previous_duplicates: u64,
    /// Previous-request continuations refused for another reason.
    pub previous_refused: u64,
    /// CONTEXT packets sent (answers that start a new context).
    pub contexts_sent: u64,
    /// Replay-table entries overwritten while still within the horizon:
    /// a replay of one of them would go undetected (docs/protocol.md §9).
    pub replay_evictions: u64,
    /// Continuations recognised by the soft-state cache (no MAC check).
    pub cache_hits: u64,
    /// Continuations the cache did not hold (cache on only).
    pub cache_misses: u64,
    drops: [u64; DropReason::ALL.len()],
}

impl ServerStats {
    /// Count one drop.
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r.index()] += 1;
    }

    /// Drops for one reason.
    pub fn drops(&self, r: DropReason) -> u64 {
        self.drops[r.index()]
    }

    /// All drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}
