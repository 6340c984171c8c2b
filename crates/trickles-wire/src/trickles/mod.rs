//! The Trickles header at the start of the TCP payload (docs/protocol.md
//! §3–§4).
//!
//! ```text
//!  0      1      2             4             6             8
//! +------+------+-------------+-------------+-------------+----------------
//! | ver  | type | header_len  |  data_len   |    flags    | body ...
//! +------+------+-------------+-------------+-------------+----------------
//! ```
//!
//! The TCP payload is `header (header_len) | data (data_len) | padding`.
//! Padding (zero bytes) is allowed only in a SYN, which a client pads so the
//! server may answer with as many bytes as the SYN carried (no
//! amplification, paper §6.1). [`Packet::parse`] validates the whole header
//! once; afterwards every accessor and list iterator is infallible.

pub mod continuation;
pub mod list;
pub mod sack;
pub mod ucont;

use continuation::{COMPACT_LEN, CONTINUATION_LEN, CompactBytes, ContinuationBytes};
use list::List;
use sack::SackProof;
use ucont::UserCont;

use crate::tcp::flags as tcp_flags;
use crate::types::{ConnId, PacketNumber};

/// The protocol version this implementation speaks.
pub const VERSION: u8 = 1;
/// Length of the common header.
pub const COMMON_LEN: usize = 8;
/// Most transport continuations in one continuation group.
pub const MAX_GROUP: usize = 16;

/// Packet types (docs/protocol.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Client → server: open a connection, carrying request data.
    Syn = 1,
    /// Server → client: a response slot answering the SYN.
    FirstResponse = 2,
    /// Client → server: acknowledge a packet, request the next slots.
    Request = 3,
    /// Client → server: retransmit timeout; restart slow start.
    TimeoutRequest = 4,
    /// Server → client: one response slot with data.
    Response = 5,
    /// Server → client: transport continuations of trickles recreated in
    /// recovery, without data.
    ContinuationGroup = 6,
    /// Server → client: the object ended inside its reserved range.
    Skip = 7,
    /// Client → server: the client is done.
    Close = 8,
    /// Server → client: acknowledges a close.
    CloseAck = 9,
    /// Server → client: no common protocol version.
    VersionReject = 10,
    /// Server → client: a full continuation whose context the compact
    /// continuations of the answer's responses leave out.
    Context = 11,
}

impl PacketType {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Option<PacketType> {
        Some(match v {
            1 => PacketType::Syn,
            2 => PacketType::FirstResponse,
            3 => PacketType::Request,
            4 => PacketType::TimeoutRequest,
            5 => PacketType::Response,
            6 => PacketType::ContinuationGroup,
            7 => PacketType::Skip,
            8 => PacketType::Close,
            9 => PacketType::CloseAck,
            10 => PacketType::VersionReject,
            11 => PacketType::Context,
            _ => return None,
        })
    }

    /// True for packets a client sends.
    pub const fn is_from_client(self) -> bool {
        matches!(
            self,
            PacketType::Syn | PacketType::Request | PacketType::TimeoutRequest | PacketType::Close
        )
    }

    /// Check the TCP control flags fit this type (docs/protocol.md §4.1).
    pub fn check_tcp_flags(self, flags: u8) -> crate::Result<()> {
        let f = flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::FIN | tcp_flags::RST);
        let ok = match self {
            PacketType::Syn => f == tcp_flags::SYN,
            PacketType::FirstResponse => {
                f == tcp_flags::SYN | tcp_flags::ACK || f == tcp_flags::ACK
            }
            PacketType::Close | PacketType::CloseAck => f == tcp_flags::FIN | tcp_flags::ACK,
            _ => f == tcp_flags::ACK,
        };
        if ok {
            Ok(())
        } else {
            Err(crate::Error::BadTcpFlags)
        }
    }
}

/// Header flags (docs/protocol.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u16);

impl Flags {
    /// The response is a retransmission: its nonce comes from the
    /// retransmission key.
    pub const RETX: Flags = Flags(0x0001);
    /// REQUEST only: the body carries the continuation of the client's
    /// previous request as well (docs/protocol.md §4.4), so a lost request
    /// does not lose its trickle.
    pub const PREVIOUS: Flags = Flags(0x0002);
    /// TIMEOUT_REQUEST only: the retry number of this timeout request
    /// (0–15) in bits 8–11 (docs/protocol.md §3, §14).
    pub const ATTEMPT_MASK: Flags = Flags(0x0f00);
    /// TIMEOUT_REQUEST only: the client detected a lost retransmission
    /// (not a timer expiry); the server restarts without a second window
    /// reduction when the continuation shows the loss episode was already
    /// answered by one (docs/protocol.md §14.3).
    pub const LOST_RETRANSMISSION: Flags = Flags(0x0004);
    /// RESPONSE and SKIP only: the continuation is in compact form
    /// (docs/protocol.md §5.1). Structural: [`Packet::emit`] sets it from
    /// the body and [`Packet::parse`] turns it into
    /// [`ResponseCont::Compact`], so it never appears in `Packet::flags`.
    pub const COMPACT: Flags = Flags(0x0008);

    /// True if all bits of `other` are set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The retry number of a TIMEOUT_REQUEST.
    pub const fn attempt(self) -> u8 {
        ((self.0 & Flags::ATTEMPT_MASK.0) >> 8) as u8
    }

    /// Flags carrying retry number `attempt` (saturating at 15).
    pub const fn with_attempt(attempt: u8) -> Flags {
        let a = if attempt > 15 { 15 } else { attempt };
        Flags((a as u16) << 8)
    }
}

/// Set of protocol versions, bit `v` for version `v` (1..=15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Versions(pub u16);

impl Versions {
    /// The versions this implementation speaks.
    pub const SUPPORTED: Versions = Versions(1 << VERSION);

    /// The highest version in both sets.
    pub fn best_common(self, other: Versions) -> Option<u8> {
        let both = self.0 & other.0 & !1;
        (both != 0).then(|| 15 - both.leading_zeros() as u8)
    }
}

/// Body of a SYN (docs/protocol.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syn {
    /// Versions the client speaks.
    pub versions: Versions,
    /// Largest TCP payload the client accepts in one segment.
    pub mss: u16,
}

/// The transport continuation a response carries: whole, or in compact
/// form, without the fields of its context (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCont<'a> {
    /// All 76 bytes.
    Full(&'a ContinuationBytes),
    /// The 50 bytes of the compact form.
    Compact(&'a CompactBytes),
}

impl ResponseCont<'_> {
    /// Encoded length.
    pub const fn len(&self) -> usize {
        match self {
            ResponseCont::Full(_) => CONTINUATION_LEN,
            ResponseCont::Compact(_) => COMPACT_LEN,
        }
    }

    /// Never empty (for clippy's `len_without_is_empty`).
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The incarnation, in either form.
    pub fn incarnation(&self) -> u32 {
        match self {
            ResponseCont::Full(b) => continuation::be32(&b[continuation::field::INCARNATION]),
            ResponseCont::Compact(b) => {
                continuation::be32(&b[continuation::compact_field::INCARNATION])
            }
        }
    }

    /// The request number `k`, in either form.
    pub fn k(&self) -> PacketNumber {
        PacketNumber(match self {
            ResponseCont::Full(b) => continuation::be32(&b[continuation::field::K]),
            ResponseCont::Compact(b) => continuation::be32(&b[continuation::compact_field::K]),
        })
    }

    /// The whole continuation, if this is the full form.
    pub const fn full(&self) -> Option<&ContinuationBytes> {
        match self {
            ResponseCont::Full(b) => Some(b),
            ResponseCont::Compact(_) => None,
        }
    }
}

/// Body of a response slot: FIRST_RESPONSE, RESPONSE, SKIP (§4.3, §4.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Response<'a> {
    /// The slot whose stream bytes this packet carries.
    pub slot: PacketNumber,
    /// The slot's nonce `p_slot`.
    pub nonce: u32,
    /// The transport continuation of the trickle (always full in a
    /// FIRST_RESPONSE).
    pub continuation: ResponseCont<'a>,
    /// User continuations installed by the application.
    pub user_conts: List<'a, UserCont<'a>>,
}

/// The stream range a SKIP elides, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipRange {
    /// First skipped byte offset.
    pub from: u64,
    /// End of the skipped range, exclusive.
    pub to: u64,
}

/// Body of REQUEST and TIMEOUT_REQUEST (§4.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request<'a> {
    /// The continuation of the packet being acknowledged.
    pub continuation: &'a ContinuationBytes,
    /// REQUEST with flag [`Flags::PREVIOUS`]: the continuation the client
    /// returned in its previous request, again (answered only if that
    /// request was lost; the replay filter drops it otherwise).
    pub previous: Option<&'a ContinuationBytes>,
    /// What the client received.
    pub sack: SackProof<'a>,
    /// Output and input continuations for the requested bytes.
    pub user_conts: List<'a, UserCont<'a>>,
}

/// Where a timeout request asks the stream to resume (§4.4): the first
/// stream byte the client is missing, and the run of bytes it already holds
/// after that hole, which the server may skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// First missing stream byte.
    pub offset: u64,
    /// First byte of the run the client holds after the hole (the end of
    /// the hole); `≥ offset`.
    pub held_from: u64,
    /// End of that run (exclusive); `≥ held_from`.
    pub held_to: u64,
}

/// Encoded length of [`Resume`].
pub const RESUME_LEN: usize = 24;

/// A parsed or to-be-emitted packet body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Body<'a> {
    /// SYN with request data in `Packet::data`.
    Syn(Syn),
    /// Response slot answering the SYN.
    FirstResponse(Response<'a>),
    /// Client request.
    Request(Request<'a>),
    /// Client retransmit-timeout request, with where to resume.
    TimeoutRequest(Request<'a>, Resume),
    /// Response slot.
    Response(Response<'a>),
    /// Continuations of recreated trickles.
    ContinuationGroup(List<'a, &'a ContinuationBytes>),
    /// The object ended before the end of its range.
    Skip(Response<'a>, SkipRange),
    /// Client close, with a continuation proving the connection.
    Close(&'a ContinuationBytes),
    /// Server close acknowledgment.
    CloseAck(ConnId),
    /// No common version; the server's versions.
    VersionReject(Versions),
    /// The context of compact continuations that follow (§4.9).
    Context(&'a ContinuationBytes),
}

impl Body<'_> {
    /// The packet type of this body.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Body::Syn(_) => PacketType::Syn,
            Body::FirstResponse(_) => PacketType::FirstResponse,
            Body::Request(_) => PacketType::Request,
            Body::TimeoutRequest(..) => PacketType::TimeoutRequest,
            Body::Response(_) => PacketType::Response,
            Body::ContinuationGroup(_) => PacketType::ContinuationGroup,
            Body::Skip(..) => PacketType::Skip,
            Body::Close(_) => PacketType::Close,
            Body::CloseAck(_) => PacketType::CloseAck,
            Body::VersionReject(_) => PacketType::VersionReject,
            Body::Context(_) => PacketType::Context,
        }
    }

    /// The flags the body's encoding adds ([`Flags::COMPACT`]).
    fn structural_flags(&self) -> Flags {
        match self {
            Body::Response(r) | Body::Skip(r, _)
                if matches!(r.continuation, ResponseCont::Compact(_)) =>
            {
                Flags::COMPACT
            }
            _ => Flags(0),
        }
    }

    fn allowed_flags(&self) -> Flags {
        match self {
            Body::Response(_) | Body::Skip(..) => Flags::RETX,
            Body::TimeoutRequest(..) => Flags(Flags::ATTEMPT_MASK.0 | Flags::LOST_RETRANSMISSION.0),
            Body::Request(_) => Flags::PREVIOUS,
            _ => Flags(0),
        }
    }
}

/// A Trickles header with its data: the whole TCP payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Packet<'a> {
    /// Header flags.
    pub flags: Flags,
    /// The type-specific body.
    pub body: Body<'a>,
    /// Data after the header (request data, stream bytes, client input).
    pub data: &'a [u8],
    /// Zero bytes after the data (SYN only).
    pub padding: usize,
}

impl<'a> Packet<'a> {
    /// Parse a TCP payload. Validates every length, count, reserved field
    /// and flag; the result cannot panic on use.
    pub fn parse(payload: &'a [u8]) -> crate::Result<Packet<'a>> {
        let h = payload.get(..COMMON_LEN).ok_or(crate::Error::Truncated)?;
        if h[0] != VERSION {
            return Err(crate::Error::BadVersion);
        }
        let ty = PacketType::from_u8(h[1]).ok_or(crate::Error::BadType)?;
        let header_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let data_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let flags = Flags(u16::from_be_bytes([h[6], h[7]]));
        if header_len < COMMON_LEN {
            return Err(crate::Error::BadLength);
        }
        let header = payload.get(..header_len).ok_or(crate::Error::Truncated)?;
        let data = payload
            .get(header_len..header_len + data_len)
            .ok_or(crate::Error::Truncated)?;
        let padding_bytes = &payload[header_len + data_len..];
        let body_bytes = &header[COMMON_LEN..];
        let (body, used) = parse_body(ty, flags, body_bytes)?;
        if used != body_bytes.len() {
            return Err(crate::Error::BadLength);
        }
        let flags = Flags(flags.0 & !body.structural_flags().0);
        if flags.0 & !body.allowed_flags().0 != 0 {
            return Err(crate::Error::Reserved);
        }
        if !padding_bytes.is_empty() && ty != PacketType::Syn {
            return Err(crate::Error::BadLength);
        }
        if padding_bytes.iter().any(|&b| b != 0) {
            return Err(crate::Error::Reserved);
        }
        Ok(Packet {
            flags,
            body,
            data,
            padding: padding_bytes.len(),
        })
    }

    /// Length of the Trickles header (common header + body).
    pub fn header_len(&self) -> usize {
        COMMON_LEN + body_len(&self.body)
    }

    /// Length of the whole TCP payload [`Packet::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.data.len() + self.padding
    }

    /// Write the TCP payload into `buf`; returns bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> crate::Result<usize> {
        let total = self.emit_header(self.data.len(), buf)?;
        let header_len = self.header_len();
        buf[header_len..header_len + self.data.len()].copy_from_slice(self.data);
        Ok(total)
    }

    /// Write the TCP payload of this packet as if it carried `data_len`
    /// bytes of data (`self.data` is ignored), leaving the data bytes for
    /// the caller to write in place at `header_len()` (zero copy). Padding
    /// is zeroed. Returns the payload length.
    pub fn emit_header(&self, data_len: usize, buf: &mut [u8]) -> crate::Result<usize> {
        let header_len = self.header_len();
        let total = header_len + data_len + self.padding;
        if header_len > usize::from(u16::MAX) || data_len > usize::from(u16::MAX) {
            return Err(crate::Error::BadLength);
        }
        if self.flags.0 & !self.body.allowed_flags().0 != 0 {
            return Err(crate::Error::Reserved);
        }
        if self.padding != 0 && !matches!(self.body, Body::Syn(_)) {
            return Err(crate::Error::BadLength);
        }
        if let Body::Request(q) = &self.body
            && q.previous.is_some() != self.flags.contains(Flags::PREVIOUS)
        {
            return Err(crate::Error::Reserved);
        }
        if let Body::FirstResponse(r) = &self.body
            && r.continuation.full().is_none()
        {
            // The client has no context yet: a first response is whole.
            return Err(crate::Error::Reserved);
        }
        let out = buf.get_mut(..total).ok_or(crate::Error::BufferTooSmall)?;
        out[0] = VERSION;
        out[1] = self.body.packet_type() as u8;
        out[2..4].copy_from_slice(&(header_len as u16).to_be_bytes());
        out[4..6].copy_from_slice(&(data_len as u16).to_be_bytes());
        out[6..8].copy_from_slice(&(self.flags.0 | self.body.structural_flags().0).to_be_bytes());
        let written = emit_body(&self.body, &mut out[COMMON_LEN..header_len])?;
        debug_assert_eq!(COMMON_LEN + written, header_len);
        out[header_len + data_len..].fill(0);
        Ok(total)
    }
}

fn parse_body(ty: PacketType, flags: Flags, b: &[u8]) -> crate::Result<(Body<'_>, usize)> {
    Ok(match ty {
        PacketType::Syn => {
            let s = b.get(..8).ok_or(crate::Error::Truncated)?;
            if s[4..8] != [0; 4] {
                return Err(crate::Error::Reserved);
            }
            let syn = Syn {
                versions: Versions(u16::from_be_bytes([s[0], s[1]])),
                mss: u16::from_be_bytes([s[2], s[3]]),
            };
            (Body::Syn(syn), 8)
        }
        PacketType::FirstResponse => {
            let (r, n) = parse_response(b, false)?;
            (Body::FirstResponse(r), n)
        }
        PacketType::Response => {
            let (r, n) = parse_response(b, flags.contains(Flags::COMPACT))?;
            (Body::Response(r), n)
        }
        PacketType::Skip => {
            let (r, n) = parse_response_head(b, flags.contains(Flags::COMPACT))?;
            let s = b.get(n..n + 16).ok_or(crate::Error::Truncated)?;
            let range = SkipRange {
                from: continuation::be64(&s[0..8]),
                to: continuation::be64(&s[8..16]),
            };
            if range.to < range.from {
                return Err(crate::Error::BadLength);
            }
            let (user_conts, m) = parse_user_conts(&b[n + 16..])?;
            (Body::Skip(Response { user_conts, ..r }, range), n + 16 + m)
        }
        PacketType::Request | PacketType::TimeoutRequest => {
            let continuation = cont_at(b)?;
            let mut at = CONTINUATION_LEN;
            let resume = if ty == PacketType::TimeoutRequest {
                let r = b.get(at..at + RESUME_LEN).ok_or(crate::Error::Truncated)?;
                let resume = Resume {
                    offset: continuation::be64(&r[..8]),
                    held_from: continuation::be64(&r[8..16]),
                    held_to: continuation::be64(&r[16..24]),
                };
                if resume.held_from < resume.offset || resume.held_to < resume.held_from {
                    return Err(crate::Error::BadLength);
                }
                at += RESUME_LEN;
                Some(resume)
            } else {
                None
            };
            let previous = if ty == PacketType::Request && flags.contains(Flags::PREVIOUS) {
                let p = cont_at(b.get(at..).ok_or(crate::Error::Truncated)?)?;
                at += CONTINUATION_LEN;
                Some(p)
            } else {
                None
            };
            let (sack, n) = SackProof::parse(&b[at..])?;
            at += n;
            let (user_conts, m) = parse_user_conts(&b[at..])?;
            let req = Request {
                continuation,
                previous,
                sack,
                user_conts,
            };
            let body = match resume {
                Some(r) => Body::TimeoutRequest(req, r),
                None => Body::Request(req),
            };
            (body, at + m)
        }
        PacketType::ContinuationGroup => {
            let h = b.get(..4).ok_or(crate::Error::Truncated)?;
            let count = usize::from(h[0]);
            if h[1..4] != [0; 3] {
                return Err(crate::Error::Reserved);
            }
            if count == 0 || count > MAX_GROUP {
                return Err(crate::Error::TooMany);
            }
            let (list, n) = List::parse(&b[4..], count)?;
            (Body::ContinuationGroup(list), 4 + n)
        }
        PacketType::Close => (Body::Close(cont_at(b)?), CONTINUATION_LEN),
        PacketType::Context => (Body::Context(cont_at(b)?), CONTINUATION_LEN),
        PacketType::CloseAck => {
            let s = b.get(..8).ok_or(crate::Error::Truncated)?;
            (Body::CloseAck(ConnId(continuation::be64(s))), 8)
        }
        PacketType::VersionReject => {
            let s = b.get(..4).ok_or(crate::Error::Truncated)?;
            if s[2..4] != [0, 0] {
                return Err(crate::Error::Reserved);
            }
            (
                Body::VersionReject(Versions(u16::from_be_bytes([s[0], s[1]]))),
                4,
            )
        }
    })
}

fn cont_at(b: &[u8]) -> crate::Result<&ContinuationBytes> {
    b.get(..CONTINUATION_LEN)
        .and_then(|c| c.try_into().ok())
        .ok_or(crate::Error::Truncated)
}

/// Slot, nonce and continuation (full or `compact`): the part every
/// response slot shares.
fn parse_response_head(b: &[u8], compact: bool) -> crate::Result<(Response<'_>, usize)> {
    let h = b.get(..8).ok_or(crate::Error::Truncated)?;
    let slot = PacketNumber(continuation::be32(&h[0..4]));
    if slot.0 == 0 {
        return Err(crate::Error::BadLength);
    }
    let nonce = continuation::be32(&h[4..8]);
    let continuation = if compact {
        ResponseCont::Compact(
            b.get(8..8 + COMPACT_LEN)
                .and_then(|c| c.try_into().ok())
                .ok_or(crate::Error::Truncated)?,
        )
    } else {
        ResponseCont::Full(cont_at(&b[8..])?)
    };
    Ok((
        Response {
            slot,
            nonce,
            continuation,
            user_conts: List::empty(),
        },
        8 + continuation.len(),
    ))
}

fn parse_response(b: &[u8], compact: bool) -> crate::Result<(Response<'_>, usize)> {
    let (r, n) = parse_response_head(b, compact)?;
    let (user_conts, m) = parse_user_conts(&b[n..])?;
    Ok((Response { user_conts, ..r }, n + m))
}

fn parse_user_conts(b: &[u8]) -> crate::Result<(List<'_, UserCont<'_>>, usize)> {
    let h = b
        .get(..ucont::SECTION_HEADER_LEN)
        .ok_or(crate::Error::Truncated)?;
    let count = usize::from(h[0]);
    if h[1..4] != [0; 3] {
        return Err(crate::Error::Reserved);
    }
    if count > ucont::MAX_PER_PACKET {
        return Err(crate::Error::TooMany);
    }
    let (list, n) = List::parse(&b[ucont::SECTION_HEADER_LEN..], count)?;
    Ok((list, ucont::SECTION_HEADER_LEN + n))
}

fn user_conts_len(l: &List<'_, UserCont<'_>>) -> usize {
    ucont::SECTION_HEADER_LEN + l.encoded_len()
}

fn body_len(body: &Body<'_>) -> usize {
    match body {
        Body::Syn(_) | Body::CloseAck(_) => 8,
        Body::FirstResponse(r) | Body::Response(r) => {
            8 + r.continuation.len() + user_conts_len(&r.user_conts)
        }
        Body::Skip(r, _) => 8 + r.continuation.len() + 16 + user_conts_len(&r.user_conts),
        Body::Request(q) => {
            CONTINUATION_LEN * (1 + usize::from(q.previous.is_some()))
                + q.sack.encoded_len()
                + user_conts_len(&q.user_conts)
        }
        Body::TimeoutRequest(q, _) => {
            CONTINUATION_LEN + RESUME_LEN + q.sack.encoded_len() + user_conts_len(&q.user_conts)
        }
        Body::ContinuationGroup(l) => 4 + l.encoded_len(),
        Body::Close(_) | Body::Context(_) => CONTINUATION_LEN,
        Body::VersionReject(_) => 4,
    }
}

fn emit_user_conts(l: &List<'_, UserCont<'_>>, b: &mut [u8]) -> crate::Result<usize> {
    if l.len() > ucont::MAX_PER_PACKET {
        return Err(crate::Error::TooMany);
    }
    b[..4].copy_from_slice(&[l.len() as u8, 0, 0, 0]);
    Ok(4 + l.emit(&mut b[4..])?)
}

fn emit_response_head(r: &Response<'_>, b: &mut [u8]) -> crate::Result<usize> {
    if r.slot.0 == 0 {
        return Err(crate::Error::BadLength);
    }
    b[0..4].copy_from_slice(&r.slot.0.to_be_bytes());
    b[4..8].copy_from_slice(&r.nonce.to_be_bytes());
    match r.continuation {
        ResponseCont::Full(c) => b[8..8 + CONTINUATION_LEN].copy_from_slice(c),
        ResponseCont::Compact(c) => b[8..8 + COMPACT_LEN].copy_from_slice(c),
    }
    Ok(8 + r.continuation.len())
}

/// Emit `body` into `b`, which is exactly `body_len(body)` long.
fn emit_body(body: &Body<'_>, b: &mut [u8]) -> crate::Result<usize> {
    Ok(match body {
        Body::Syn(s) => {
            b[0..2].copy_from_slice(&s.versions.0.to_be_bytes());
            b[2..4].copy_from_slice(&s.mss.to_be_bytes());
            b[4..8].fill(0);
            8
        }
        Body::FirstResponse(r) | Body::Response(r) => {
            let n = emit_response_head(r, b)?;
            n + emit_user_conts(&r.user_conts, &mut b[n..])?
        }
        Body::Skip(r, range) => {
            if range.to < range.from {
                return Err(crate::Error::BadLength);
            }
            let n = emit_response_head(r, b)?;
            b[n..n + 8].copy_from_slice(&range.from.to_be_bytes());
            b[n + 8..n + 16].copy_from_slice(&range.to.to_be_bytes());
            n + 16 + emit_user_conts(&r.user_conts, &mut b[n + 16..])?
        }
        Body::Request(q) => {
            b[..CONTINUATION_LEN].copy_from_slice(q.continuation);
            let mut n = CONTINUATION_LEN;
            if let Some(p) = q.previous {
                b[n..n + CONTINUATION_LEN].copy_from_slice(p);
                n += CONTINUATION_LEN;
            }
            n += q.sack.emit(&mut b[n..])?;
            n + emit_user_conts(&q.user_conts, &mut b[n..])?
        }
        Body::TimeoutRequest(q, r) => {
            if r.held_from < r.offset || r.held_to < r.held_from {
                return Err(crate::Error::BadLength);
            }
            b[..CONTINUATION_LEN].copy_from_slice(q.continuation);
            let mut n = CONTINUATION_LEN;
            b[n..n + 8].copy_from_slice(&r.offset.to_be_bytes());
            b[n + 8..n + 16].copy_from_slice(&r.held_from.to_be_bytes());
            b[n + 16..n + 24].copy_from_slice(&r.held_to.to_be_bytes());
            n += RESUME_LEN;
            n += q.sack.emit(&mut b[n..])?;
            n + emit_user_conts(&q.user_conts, &mut b[n..])?
        }
        Body::ContinuationGroup(l) => {
            if l.is_empty() || l.len() > MAX_GROUP {
                return Err(crate::Error::TooMany);
            }
            b[..4].copy_from_slice(&[l.len() as u8, 0, 0, 0]);
            4 + l.emit(&mut b[4..])?
        }
        Body::Close(c) | Body::Context(c) => {
            b.copy_from_slice(&c[..]);
            CONTINUATION_LEN
        }
        Body::CloseAck(id) => {
            b.copy_from_slice(&id.0.to_be_bytes());
            8
        }
        Body::VersionReject(v) => {
            b[0..2].copy_from_slice(&v.0.to_be_bytes());
            b[2..4].fill(0);
            4
        }
    })
}
