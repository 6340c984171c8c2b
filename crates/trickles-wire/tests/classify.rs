//! The steering verdict matrix (docs/protocol.md §1): valid frames steer,
//! everything else passes to the kernel with the right reason.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::IpAddr;

use trickles_wire::classify::{PassReason, Verdict, classify};
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::{Body, Flags, Packet, Syn, Versions};

const PORT: u16 = 8080;

fn serves(p: u16) -> bool {
    p == PORT
}

fn syn_frame(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let p = Packet {
        flags: Flags(0),
        body: Body::Syn(Syn {
            versions: Versions::SUPPORTED,
            mss: 1448,
        }),
        data: b"GET /index.html HTTP/1.1\r\n\r\n",
        padding: 100,
    };
    let h = Headers {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src,
        dst,
        tcp: TcpFields {
            src_port: 40000,
            dst_port: PORT,
            seq: 1000,
            ack: 0,
            flags: flags::SYN,
            window: 65535,
        },
        ttl: 64,
    };
    let mut buf = vec![0u8; 2048];
    let n = frame::emit(&h, &p, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn v4() -> Vec<u8> {
    syn_frame([10, 0, 0, 1].into(), [10, 0, 0, 2].into())
}

fn v6() -> Vec<u8> {
    syn_frame(
        [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1].into(),
        [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2].into(),
    )
}

fn with_vlan(f: &[u8], tags: usize) -> Vec<u8> {
    let mut out = f[..12].to_vec();
    for i in 0..tags {
        let tpid: u16 = if i + 1 < tags { 0x88a8 } else { 0x8100 };
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    out.extend_from_slice(&f[12..]);
    out
}

#[test]
fn valid_frames_steer_and_parse() {
    for f in [v4(), v6(), with_vlan(&v4(), 1), with_vlan(&v6(), 2)] {
        assert_eq!(classify(&f, serves), Verdict::Steer);
        assert!(frame::parse(&f).is_ok());
    }
}

#[test]
fn three_vlan_tags_pass() {
    assert_eq!(
        classify(&with_vlan(&v4(), 3), serves),
        Verdict::Pass(PassReason::NotIp)
    );
}

#[test]
fn every_truncation_passes_and_fails_to_parse() {
    for f in [v4(), v6(), with_vlan(&v4(), 1)] {
        for cut in 0..f.len() {
            let v = classify(&f[..cut], serves);
            assert!(matches!(v, Verdict::Pass(_)), "cut {cut}: {v:?}");
            assert!(frame::parse(&f[..cut]).is_err(), "cut {cut} parsed");
        }
    }
}

#[test]
fn wrong_port_passes() {
    assert_eq!(
        classify(&v4(), |p| p == PORT + 1),
        Verdict::Pass(PassReason::PortNotServed)
    );
}

#[test]
fn wrong_or_misplaced_option_passes() {
    let f = v4();
    let opt = 14 + 20 + 20;
    for (i, x) in [(0usize, 0xfeu8), (1, 0x08), (2, 0x00), (3, 0x53)] {
        let mut g = f.clone();
        g[opt + i] = x;
        assert_eq!(
            classify(&g, serves),
            Verdict::Pass(PassReason::NotMarked),
            "byte {i}"
        );
        assert_eq!(
            frame::parse(&g).err(),
            Some(trickles_wire::Error::NotTrickles)
        );
    }
    // Data offset 5: the marker bytes become payload.
    let mut g = f.clone();
    g[14 + 20 + 12] = 5 << 4;
    assert_eq!(classify(&g, serves), Verdict::Pass(PassReason::NotMarked));
}

#[test]
fn non_tcp_fragments_and_arp_pass() {
    let mut udp = v4();
    udp[14 + 9] = 17;
    assert_eq!(classify(&udp, serves), Verdict::Pass(PassReason::NotTcp));
    let mut frag = v4();
    frag[14 + 6] = 0x20; // More Fragments
    assert_eq!(classify(&frag, serves), Verdict::Pass(PassReason::Fragment));
    let mut ext = v6();
    ext[14 + 6] = 0; // hop-by-hop options header
    assert_eq!(classify(&ext, serves), Verdict::Pass(PassReason::NotTcp));
    let mut arp = v4();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(classify(&arp, serves), Verdict::Pass(PassReason::NotIp));
}

#[test]
fn corrupted_checksums_are_refused_by_the_parser() {
    let f = v4();
    let mut g = f.clone();
    let last = g.len() - 1;
    g[last] ^= 1; // a padding byte of the SYN
    assert_eq!(
        frame::parse(&g).err(),
        Some(trickles_wire::Error::BadChecksum)
    );
    let mut g = f.clone();
    g[14 + 8] ^= 1; // TTL: IPv4 header checksum
    assert_eq!(
        frame::parse(&g).err(),
        Some(trickles_wire::Error::BadChecksum)
    );
    // Steering does not look at checksums.
    assert_eq!(classify(&g, serves), Verdict::Steer);
}

#[test]
fn tcp_flags_must_fit_the_type() {
    let mut g = v4();
    g[14 + 20 + 13] = flags::ACK;
    // The checksum now disagrees too, but flags are checked after the
    // checksum: fix it first.
    let seg_len = g.len() - 34;
    let pseudo = trickles_wire::checksum::pseudo_header_v4(
        [10, 0, 0, 1].into(),
        [10, 0, 0, 2].into(),
        6,
        seg_len as u16,
    );
    trickles_wire::tcp::Packet::new_unchecked(&mut g[34..]).fill_checksum(pseudo);
    assert_eq!(
        frame::parse(&g).err(),
        Some(trickles_wire::Error::BadTcpFlags)
    );
}
