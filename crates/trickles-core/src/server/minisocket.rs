//! Minisockets: the transient events the stateless server hands to its
//! application (paper §3.1–§3.3, Figure 8).
//!
//! A [`Minisocket`] is created from one client packet after every check has
//! passed, and is consumed by exactly one operation on the
//! [`Server`](super::Server): `send` / `sendv` / `send_with` (answer with
//! data), `ask_input` (answer with an input continuation only), `drop_event`
//! or `refuse` (answer nothing). Like the paper's minisocket it is a
//! transient TCP control block: it knows which response slots congestion
//! control allows this packet to trigger ([`Minisocket::segments`]) and
//! the stream bytes each must carry, so the application cannot send more
//! than the window allows.
//!
//! A minisocket borrows the frame it came from. [`Minisocket::detach`]
//! copies it into a fixed-size owned [`Detached`] (to answer later, e.g.
//! after a disk read, on the same server); `Server::extract` seals it under
//! the server key into an [`Extracted`] event that any replica holding the
//! key can `install` (paper §3.3: `msk_extractEvents` /
//! `msk_insertEvents`).

use trickles_wire::frame::{self, Headers};
use trickles_wire::trickles::Body;
use trickles_wire::trickles::continuation::{Context, ContextKey};
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::{ConnId, KeyEpoch};

use crate::cc::{Piece, Slots};
use crate::crypto::Binding;
use crate::geometry::Geometry;
use crate::time::Instant;

/// Largest frame a minisocket can be detached or extracted with.
pub const MAX_FRAME: usize = 2048;

/// Largest application data of a user continuation the application
/// installs (the wire allows 512; the engine keeps its buffers fixed).
pub const MAX_APP_DATA: usize = 64;

/// Most per-packet user continuations one minisocket can install.
pub const MAX_EXTRA_UCONTS: usize = 2;

/// Which event a minisocket reports (paper §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A SYN: a new connection with its first request bytes.
    Open,
    /// A request (or timeout request) continuing a connection.
    Request,
    /// The client closed the connection (already acknowledged).
    Close,
}

/// A user continuation the application asks the engine to build and seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UcontSpec {
    /// Output or input.
    pub kind: Kind,
    /// Output: first stream byte; input: input bytes consumed.
    pub valid_start: u64,
    /// Output: end of the range (exclusive); input: 0 or a bound.
    pub valid_end: u64,
    app_data: [u8; MAX_APP_DATA],
    app_len: u8,
}

impl UcontSpec {
    /// An output continuation generating `[valid_start, valid_end)` from
    /// `app_data`; `None` if `app_data` is longer than [`MAX_APP_DATA`] or
    /// the range is reversed.
    pub fn output(valid_start: u64, valid_end: u64, app_data: &[u8]) -> Option<UcontSpec> {
        UcontSpec::new(Kind::Output, valid_start, valid_end, app_data)
    }

    /// An input continuation recording `consumed` bytes of client input,
    /// with `digest` (the application's summary of them).
    pub fn input(consumed: u64, digest: &[u8]) -> Option<UcontSpec> {
        UcontSpec::new(Kind::Input, consumed, consumed, digest)
    }

    fn new(kind: Kind, valid_start: u64, valid_end: u64, data: &[u8]) -> Option<UcontSpec> {
        if data.len() > MAX_APP_DATA || valid_end < valid_start {
            return None;
        }
        let mut app_data = [0; MAX_APP_DATA];
        app_data[..data.len()].copy_from_slice(data);
        Some(UcontSpec {
            kind,
            valid_start,
            valid_end,
            app_data,
            app_len: data.len() as u8,
        })
    }

    /// The application data.
    pub fn app_data(&self) -> &[u8] {
        &self.app_data[..usize::from(self.app_len)]
    }
}

/// One response packet a minisocket will send, with the stream bytes it
/// must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Packet number (slot) of the response.
    pub slot: u32,
    /// First stream byte.
    pub offset: u64,
    /// Stream bytes (may be 0 for an answer to a SYN that only carries a
    /// continuation).
    pub len: u64,
    /// True for a retransmission.
    pub retransmission: bool,
}

/// What the engine decided for one event: the slots, continuations and
/// geometry of the answer. Everything but borrowed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Core {
    pub kind: EventKind,
    /// When the packet was received (the time the plan was made for).
    pub received: Instant,
    /// Headers of the answer (addresses already swapped).
    pub headers: Headers,
    pub binding: Binding,
    pub conn: ConnId,
    pub incarnation: u32,
    /// Key epoch of the answer's continuations and nonces: the epoch of
    /// the incarnation (docs/protocol.md §8.1).
    pub epoch: KeyEpoch,
    pub geometry: Geometry,
    /// New-data slots and the trickle state their continuations carry.
    pub fresh: Option<Slots>,
    pub fresh_piece: Piece,
    pub fresh_floor: u32,
    pub fresh_mode: u8,
    /// Retransmitted slots (terminal continuations).
    pub retx: Option<Slots>,
    pub retx_piece: Piece,
    pub retx_floor: u32,
    /// Valid range of the output the segments are clipped to.
    pub output_range: Option<(u64, u64)>,
    /// OPEN only: IP bytes of the SYN (the answer's budget), the largest
    /// initial window, the slot length and the scratch budget per frame.
    pub syn_ip_len: u32,
    pub initial_cwnd: u32,
    pub slot_len: u16,
    /// A timeout request (the answer starts a new incarnation).
    pub timeout: bool,
    /// Positions, in the request's user-continuation list, of the output
    /// and input continuations the engine verified.
    pub output_index: Option<u8>,
    pub input_index: Option<u8>,
    /// Output continuation the application installed.
    pub new_output: Option<UcontSpec>,
    /// Per-packet user continuations: (segment index, continuation).
    pub extra: [Option<(u8, UcontSpec)>; MAX_EXTRA_UCONTS],
    /// 0: the event of the request's own continuation; 1: of the previous
    /// continuation it carried.
    pub which: u8,
    /// The context of the request's continuation: the client has it, so
    /// answers in the same context send compact continuations alone;
    /// answers in another one send a CONTEXT packet first (protocol.md
    /// §5.1). `None` for a SYN.
    pub request_context: Option<(ContextKey, Context)>,
}

/// A transient event descriptor (paper §3.2). Consumed by one operation on
/// the [`Server`](super::Server).
#[derive(Debug, Clone, Copy)]
pub struct Minisocket<'a> {
    pub(crate) core: Core,
    pub(crate) frame: &'a [u8],
    pub(crate) input: &'a [u8],
    pub(crate) output: Option<UserCont<'a>>,
    pub(crate) input_cont: Option<UserCont<'a>>,
}

/// The application installed more per-packet continuations than
/// [`MAX_EXTRA_UCONTS`], or named a segment that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyUconts;

impl<'a> Minisocket<'a> {
    /// OPEN, REQUEST or CLOSE.
    pub fn kind(&self) -> EventKind {
        self.core.kind
    }

    /// The connection.
    pub fn conn_id(&self) -> ConnId {
        self.core.conn
    }

    /// The client endpoint (address, port) and the served port.
    pub fn binding(&self) -> &Binding {
        &self.core.binding
    }

    /// When the packet was received.
    pub fn received(&self) -> Instant {
        self.core.received
    }

    /// Client input this event carries: the SYN's request bytes, or the
    /// data of a request (paper §3.2: receive operations return only the
    /// input of the associated event).
    pub fn input(&self) -> &'a [u8] {
        self.input
    }

    /// The client's output continuation for the requested bytes, verified
    /// under the application key.
    pub fn output(&self) -> Option<UserCont<'a>> {
        self.output
    }

    /// The client's input continuation (paper §4.2), verified.
    pub fn input_cont(&self) -> Option<UserCont<'a>> {
        self.input_cont
    }

    /// True while the connection has not started its output: the request
    /// carries input for an application that asked for more (paper §4.2).
    pub fn awaiting_output(&self) -> bool {
        self.core.kind == EventKind::Open
            || (self.core.geometry.origin_slot == 0 && self.core.new_output.is_none())
    }

    /// True if the event answers a retransmit timeout.
    pub fn is_timeout(&self) -> bool {
        self.core.timeout
    }

    /// Install the output continuation of the stream: required before
    /// sending on an OPEN event, and on the request that starts output
    /// after input continuations; on other requests it replaces the
    /// client's output continuation from these packets on. Every new-data
    /// packet of the answer carries it.
    pub fn set_output(&mut self, spec: UcontSpec) {
        self.core.new_output = Some(spec);
        if self.core.kind == EventKind::Open {
            self.core.output_range = Some((spec.valid_start, spec.valid_end));
            self.plan_open();
        } else if self.core.geometry.origin_slot == 0 {
            // Output starts with this answer's first new slot (protocol.md
            // §12, "Output that starts later").
            if let Some(f) = self.core.fresh {
                self.core.geometry = Geometry {
                    origin_slot: f.first,
                    origin_offset: spec.valid_start,
                    first_slots: 0,
                    first_slot_len: 0,
                    slot_len: self.core.slot_len,
                    skip: 0,
                };
            }
            self.core.output_range = Some((spec.valid_start, spec.valid_end));
        } else {
            self.core.output_range = Some((spec.valid_start, spec.valid_end));
        }
    }

    /// Attach a user continuation to the `index`-th packet of the answer
    /// (paper §3.3, `msk_setucont`).
    pub fn set_ucont(&mut self, index: usize, spec: UcontSpec) -> Result<(), TooManyUconts> {
        let index = u8::try_from(index).map_err(|_| TooManyUconts)?;
        let slot = self
            .core
            .extra
            .iter_mut()
            .find(|e| e.is_none_or(|(i, _)| i == index))
            .ok_or(TooManyUconts)?;
        *slot = Some((index, spec));
        Ok(())
    }

    /// The packets of the answer that carry stream bytes, in send order
    /// (new data first, then retransmissions), each clipped to the output's
    /// valid range. Their total length is what `send` expects.
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        self.all_segments().filter(|s| s.len > 0)
    }

    /// Total stream bytes of [`Minisocket::segments`].
    pub fn wanted_len(&self) -> u64 {
        self.segments().map(|s| s.len).sum()
    }

    /// Every packet of the answer, including those without stream bytes
    /// (which the engine only sends in answer to a SYN).
    pub(crate) fn all_segments(&self) -> impl Iterator<Item = Segment> + '_ {
        let c = &self.core;
        let fresh = c
            .fresh
            .into_iter()
            .flat_map(|s| s.iter())
            .map(|n| (n, false));
        let retx = c.retx.into_iter().flat_map(|s| s.iter()).map(|n| (n, true));
        fresh.chain(retx).map(move |(n, retransmission)| {
            let (offset, len) = c.geometry.slot(n);
            let (lo, hi) = c.output_range.unwrap_or((0, 0));
            let start = offset.max(lo);
            let end = (offset + len).min(hi);
            Segment {
                slot: n,
                offset: start,
                len: end.saturating_sub(start),
                retransmission,
            }
        })
    }

    /// OPEN: size the answer to the SYN once the output continuation (and
    /// so the per-frame overhead) is known (protocol.md §4.2, §12).
    fn plan_open(&mut self) {
        let c = &mut self.core;
        let uc_len = c
            .new_output
            .map_or(0, |s| UserCont::len_for(usize::from(s.app_len)));
        let overhead = super::frame_overhead(&c.headers.dst) + uc_len;
        let syn_ip_len = c.syn_ip_len as usize;
        let window = c.initial_cwnd.min((syn_ip_len / overhead) as u32);
        c.fresh = Slots::new(1, window);
        let per_packet = syn_ip_len / window.max(1) as usize;
        let s0 = per_packet
            .saturating_sub(overhead)
            .min(usize::from(c.slot_len));
        c.fresh_piece.start_cwnd = window.max(1);
        c.geometry = Geometry {
            origin_slot: 1,
            origin_offset: c.output_range.map_or(0, |r| r.0),
            first_slots: window.min(255) as u8,
            first_slot_len: s0 as u16,
            slot_len: c.slot_len,
            skip: 0,
        };
    }

    /// Copy into an owned, fixed-size event that outlives the frame (paper
    /// §3.3, `msk_detach`). `None` if the frame is larger than
    /// [`MAX_FRAME`].
    pub fn detach(&self) -> Option<Detached> {
        let mut frame = [0u8; MAX_FRAME];
        frame
            .get_mut(..self.frame.len())?
            .copy_from_slice(self.frame);
        Some(Detached {
            core: self.core,
            frame,
            len: self.frame.len() as u16,
        })
    }
}

/// A minisocket that owns a copy of its frame.
#[derive(Clone)]
pub struct Detached {
    pub(crate) core: Core,
    pub(crate) frame: [u8; MAX_FRAME],
    pub(crate) len: u16,
}

impl core::fmt::Debug for Detached {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Detached")
            .field("kind", &self.core.kind)
            .field("conn", &self.core.conn)
            .field("len", &self.len)
            .finish()
    }
}

impl Detached {
    /// The minisocket again, borrowing this copy.
    pub fn minisocket(&self) -> Minisocket<'_> {
        let frame = &self.frame[..usize::from(self.len)];
        let (input, output, input_cont) = borrowed_parts(frame, &self.core);
        Minisocket {
            core: self.core,
            frame,
            input,
            output,
            input_cont,
        }
    }
}

/// The borrowed parts of a minisocket, found again in its frame (which the
/// engine has already checked, so parsing cannot fail; if it did, the parts
/// are empty).
pub(crate) fn borrowed_parts<'a>(
    bytes: &'a [u8],
    core: &Core,
) -> (&'a [u8], Option<UserCont<'a>>, Option<UserCont<'a>>) {
    let Ok(f) = frame::parse(bytes) else {
        return (&[], None, None);
    };
    let pick = |index: Option<u8>| match (f.trickles.body, index) {
        (Body::Request(r) | Body::TimeoutRequest(r, _), Some(i)) => {
            r.user_conts.iter().nth(usize::from(i))
        }
        _ => None,
    };
    (
        f.trickles.data,
        pick(core.output_index),
        pick(core.input_index),
    )
}

/// An event sealed for another worker or machine (paper §3.3,
/// `msk_extractEvents`): the frame, the time it was received and a MAC
/// under the server key. Only a holder of the key can make one; `install`
/// re-derives the minisocket from it.
#[derive(Clone)]
pub struct Extracted {
    pub(crate) bytes: [u8; EXTRACTED_MAX],
    pub(crate) len: u16,
}

/// Largest extracted event: header, frame, MAC.
pub const EXTRACTED_MAX: usize = EXTRACTED_HEADER + MAX_FRAME + 16;
/// Bytes before the frame in an extracted event (docs/protocol.md §16).
pub const EXTRACTED_HEADER: usize = 16;

impl Extracted {
    /// The serialised event (send it anywhere).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::fmt::Debug for Extracted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Extracted").field("len", &self.len).finish()
    }
}

/// The events one frame yields: none, one, or two (a request that also
/// carries its predecessor's continuation, docs/protocol.md §4.4).
#[derive(Debug, Default)]
pub struct Events<'a> {
    pub(crate) first: Option<Minisocket<'a>>,
    pub(crate) second: Option<Minisocket<'a>>,
}

impl<'a> Events<'a> {
    /// Number of events left.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + usize::from(self.second.is_some())
    }

    /// True if no event is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Minisocket<'a>;

    fn next(&mut self) -> Option<Minisocket<'a>> {
        self.first.take().or_else(|| self.second.take())
    }
}
