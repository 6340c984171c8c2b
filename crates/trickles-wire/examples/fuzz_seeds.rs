//! Write seed inputs for the fuzz targets: one valid frame or payload per
//! packet type, IPv4 and IPv6, with and without VLAN tags.
//!
//! `cargo run -p trickles-wire --example fuzz_seeds -- fuzz/corpus`
//! (`cargo xtask fuzz` does this for you).

use std::net::IpAddr;
use std::path::PathBuf;

use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::continuation::{CONTINUATION_LEN, Continuation, ContinuationBytes};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::{SackBlock, SackProof};
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::trickles::{
    Body, Flags, Packet, PacketType, Request, Response, ResponseCont, Resume, SkipRange, Syn,
    Versions,
};
use trickles_wire::{ConnId, KeyEpoch, PacketNumber};

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let cont: ContinuationBytes = core::array::from_fn(|i| i as u8);
    let mut uc = [0u8; 64];
    let n = UserCont::build(
        &mut uc,
        KeyEpoch(1),
        Kind::Output,
        0,
        1 << 20,
        b"/index.html",
    )
    .map_err(std::io::Error::other)?;
    let ucont = UserCont::parse(&uc[..n]).map_err(std::io::Error::other)?;
    let uconts = [ucont];
    let blocks = [
        SackBlock {
            start: PacketNumber(1),
            end: PacketNumber(10),
            proof: 0xdead_beef,
        },
        SackBlock {
            start: PacketNumber(12),
            end: PacketNumber(20),
            proof: 0x1234_5678,
        },
    ];
    let group = [&cont, &cont];
    let response = Response {
        slot: PacketNumber(3),
        nonce: 7,
        continuation: ResponseCont::Full(&cont),
        user_conts: List::Items(&uconts),
    };
    let compact_cont = Continuation::decode(&cont).to_compact();
    let compact = Response {
        continuation: ResponseCont::Compact(&compact_cont),
        ..response
    };
    let request = Request {
        continuation: &cont,
        previous: None,
        sack: SackProof {
            original: List::Items(&blocks),
            retransmitted: List::Items(&blocks[..1]),
        },
        user_conts: List::Items(&uconts),
    };
    let bodies = [
        Body::Syn(Syn {
            versions: Versions::SUPPORTED,
            mss: 1448,
        }),
        Body::FirstResponse(response),
        Body::Request(request),
        Body::TimeoutRequest(
            request,
            Resume {
                offset: 2720,
                held_from: 5440,
                held_to: 9000,
            },
        ),
        Body::Response(response),
        Body::Response(compact),
        Body::Skip(compact, SkipRange { from: 300, to: 400 }),
        Body::Context(&cont),
        Body::ContinuationGroup(List::Items(&group)),
        Body::Skip(response, SkipRange { from: 100, to: 200 }),
        Body::Close(&cont),
        Body::CloseAck(ConnId(42)),
        Body::VersionReject(Versions::SUPPORTED),
        Body::Request(Request {
            previous: Some(&cont),
            ..request
        }),
    ];
    for dir in ["frame", "trickles_packet", "sections", "open_request"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let data = b"GET / HTTP/1.1\r\n\r\n";
    for (i, body) in bodies.iter().enumerate() {
        let ty = body.packet_type();
        let p = Packet {
            flags: match body {
                Body::Response(_) => Flags::RETX,
                Body::Request(r) if r.previous.is_some() => Flags::PREVIOUS,
                _ => Flags(0),
            },
            body: *body,
            data,
            padding: if ty == PacketType::Syn { 64 } else { 0 },
        };
        let mut payload = vec![0u8; p.buffer_len()];
        p.emit(&mut payload).map_err(std::io::Error::other)?;
        std::fs::write(
            root.join("trickles_packet").join(format!("seed-{i}")),
            &payload,
        )?;
        std::fs::write(
            root.join("sections").join(format!("seed-{i}")),
            &payload[8..],
        )?;
        let tcp_flags = match ty {
            PacketType::Syn => flags::SYN,
            PacketType::FirstResponse => flags::SYN | flags::ACK,
            PacketType::Close | PacketType::CloseAck => flags::FIN | flags::ACK,
            _ => flags::ACK,
        };
        for (j, (src, dst)) in [
            (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2])),
            (
                IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, 1]),
                IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, 2]),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let h = Headers {
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                src,
                dst,
                tcp: TcpFields {
                    src_port: 40000,
                    dst_port: 8080,
                    seq: 1,
                    ack: 2,
                    flags: tcp_flags,
                    window: 65535,
                },
                ttl: 64,
            };
            let mut f = vec![0u8; 4096];
            let len = frame::emit(&h, &p, &mut f).map_err(std::io::Error::other)?;
            f.truncate(len);
            std::fs::write(root.join("frame").join(format!("seed-{i}-{j}")), &f)?;
            // The same frame with an 802.1Q tag.
            let mut tagged = f[..12].to_vec();
            tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
            tagged.extend_from_slice(&f[12..]);
            std::fs::write(
                root.join("frame").join(format!("seed-{i}-{j}-vlan")),
                &tagged,
            )?;
        }
    }
    std::fs::write(
        root.join("sections").join("continuation"),
        &cont[..CONTINUATION_LEN],
    )?;
    std::fs::write(root.join("sections").join("ucont"), &uc[..n])?;
    println!("seeds written under {}", root.display());
    Ok(())
}
