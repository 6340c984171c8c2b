//! Strategies that generate owned Trickles packets for the property tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use proptest::collection::vec;
use proptest::prelude::*;
use trickles_wire::trickles::continuation::{
    COMPACT_LEN, CONTINUATION_LEN, CompactBytes, ContinuationBytes,
};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::{SackBlock, SackProof};
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::trickles::{
    Body, Flags, Packet, Request, Response, ResponseCont, Resume, SkipRange, Syn, Versions,
};
use trickles_wire::{ConnId, KeyEpoch, PacketNumber};

/// Everything a packet borrows, owned.
#[derive(Debug, Clone)]
pub struct Owned {
    pub ty: u8,
    pub retx: bool,
    pub cont: ContinuationBytes,
    /// RESPONSE and SKIP with an odd nonce carry this compact form.
    pub compact: CompactBytes,
    pub group: Vec<ContinuationBytes>,
    pub orig: Vec<SackBlock>,
    pub retx_blocks: Vec<SackBlock>,
    pub uconts: Vec<Vec<u8>>,
    pub data: Vec<u8>,
    pub padding: usize,
    pub slot: u32,
    pub nonce: u32,
    pub skip: (u64, u64),
    pub versions: u16,
    pub mss: u16,
    pub conn: u64,
}

fn blocks(max: usize) -> impl Strategy<Value = Vec<SackBlock>> {
    vec((1u32..40, 0u32..40, any::<u32>()), 0..max).prop_map(|gaps| {
        let mut out = Vec::new();
        let mut next = 1u32;
        for (gap, len, proof) in gaps {
            let start = next + gap;
            let end = start + len;
            out.push(SackBlock {
                start: PacketNumber(start),
                end: PacketNumber(end),
                proof,
            });
            next = end + 2;
        }
        out
    })
}

fn ucont_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        any::<bool>(),
        any::<u64>(),
        any::<u64>(),
        vec(any::<u8>(), 0..64),
        any::<[u8; 16]>(),
    )
        .prop_map(|(epoch, out, a, b, app, mac)| {
            let (s, e) = (a.min(b), a.max(b));
            let mut buf = vec![0u8; UserCont::len_for(app.len())];
            let kind = if out { Kind::Output } else { Kind::Input };
            let n = UserCont::build(&mut buf, KeyEpoch(epoch), kind, s, e, &app).unwrap();
            buf[n - 16..].copy_from_slice(&mac);
            buf
        })
}

pub fn owned() -> impl Strategy<Value = Owned> {
    (
        (
            1u8..=11,
            any::<bool>(),
            vec(any::<u8>(), CONTINUATION_LEN),
            any::<u8>(),
            vec(any::<[u8; 32]>(), 1..4),
        ),
        (
            blocks(16),
            blocks(8),
            vec(ucont_bytes(), 0..4),
            vec(any::<u8>(), 0..300),
            0usize..200,
        ),
        (
            1u32..,
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u16>(),
            any::<u16>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (ty, retx, c1, c2, g),
                (orig, retx_blocks, uconts, data, padding),
                (slot, nonce, a, b, versions, mss, conn),
            )| {
                let mut cont = [0u8; CONTINUATION_LEN];
                cont.copy_from_slice(&c1);
                cont[0] ^= c2;
                let group = g
                    .iter()
                    .map(|x| {
                        let mut c = [0u8; CONTINUATION_LEN];
                        c[..32].copy_from_slice(x);
                        c[CONTINUATION_LEN - 32..].copy_from_slice(x);
                        c
                    })
                    .collect();
                let mut compact = [0u8; COMPACT_LEN];
                compact.copy_from_slice(&cont[CONTINUATION_LEN - COMPACT_LEN..]);
                Owned {
                    ty,
                    retx,
                    cont,
                    compact,
                    group,
                    orig,
                    retx_blocks,
                    uconts,
                    data,
                    padding,
                    slot,
                    nonce,
                    skip: (a.min(b), a.max(b)),
                    versions,
                    mss,
                    conn,
                }
            },
        )
}

/// Borrow `o` as a packet.
pub fn packet<'a>(o: &'a Owned, uconts: &'a [UserCont<'a>]) -> Packet<'a> {
    let whole = Response {
        slot: PacketNumber(o.slot),
        nonce: o.nonce,
        continuation: ResponseCont::Full(&o.cont),
        user_conts: List::Items(uconts),
    };
    // RESPONSE and SKIP: compact for odd nonces.
    let response = if o.nonce % 2 == 1 {
        Response {
            continuation: ResponseCont::Compact(&o.compact),
            ..whole
        }
    } else {
        whole
    };
    // A REQUEST sometimes carries its previous continuation (the group's
    // first one, if any); a TIMEOUT_REQUEST never does.
    let previous = (o.ty == 3).then(|| o.group.first()).flatten();
    let request = Request {
        continuation: &o.cont,
        previous,
        sack: SackProof {
            original: List::Items(&o.orig),
            retransmitted: List::Items(&o.retx_blocks),
        },
        user_conts: List::Items(uconts),
    };
    let body = match o.ty {
        1 => Body::Syn(Syn {
            versions: Versions(o.versions),
            mss: o.mss,
        }),
        2 => Body::FirstResponse(whole),
        3 => Body::Request(request),
        4 => Body::TimeoutRequest(
            Request {
                previous: None,
                ..request
            },
            Resume {
                offset: o.skip.0,
                held_from: o.skip.0 + (o.skip.1 - o.skip.0) / 2,
                held_to: o.skip.1,
            },
        ),
        5 => Body::Response(response),
        11 => Body::Context(&o.cont),
        6 => Body::ContinuationGroup(List::Items(group_refs(o))),
        7 => Body::Skip(
            response,
            SkipRange {
                from: o.skip.0,
                to: o.skip.1,
            },
        ),
        8 => Body::Close(&o.cont),
        9 => Body::CloseAck(ConnId(o.conn)),
        _ => Body::VersionReject(Versions(o.versions)),
    };
    let flags = if o.retx && matches!(o.ty, 5 | 7) {
        Flags::RETX
    } else if o.ty == 4 {
        Flags::with_attempt((o.nonce % 16) as u8)
    } else if previous.is_some() {
        Flags::PREVIOUS
    } else {
        Flags(0)
    };
    Packet {
        flags,
        body,
        data: &o.data,
        padding: if o.ty == 1 { o.padding } else { 0 },
    }
}

fn group_refs(o: &Owned) -> &'static [&'static ContinuationBytes] {
    // Leak a tiny vector per generated case: tests only.
    let v: Vec<&'static ContinuationBytes> =
        o.group.iter().map(|c| &*Box::leak(Box::new(*c))).collect();
    Box::leak(v.into_boxed_slice())
}

pub fn parse_uconts(o: &Owned) -> Vec<UserCont<'_>> {
    o.uconts
        .iter()
        .map(|b| UserCont::parse(b).unwrap())
        .collect()
}
