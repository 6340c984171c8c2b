//! The XDP program and the Rust classifier agree on every crafted frame
//! (docs/protocol.md §1): the program runs under `BPF_PROG_TEST_RUN` and
//! the counter it bumps must be the one `Stat::for_verdict` derives from
//! `trickles_wire::classify::classify`; every frame not steered is passed.
//! Needs root (CAP_BPF); skips with a message otherwise.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;
use trickles_wire::classify::classify;
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::{Body, Flags, Packet, Syn, Versions};
use trickles_xdp::program::action;
use trickles_xdp::{Stat, SteeringProgram};

const PORT: u16 = 8080;
const ETH_HEADER_LEN: usize = 14;

fn syn_frame(src: IpAddr, dst: IpAddr, dst_port: u16) -> Vec<u8> {
    let p = Packet {
        flags: Flags(0),
        body: Body::Syn(Syn {
            versions: Versions::SUPPORTED,
            mss: 1448,
        }),
        data: b"GET /index.html HTTP/1.1\r\n\r\n",
        padding: 40,
    };
    let h = Headers {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src,
        dst,
        tcp: TcpFields {
            src_port: 40000,
            dst_port,
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
    syn_frame([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), PORT)
}

fn v6() -> Vec<u8> {
    let a = |x| IpAddr::from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, x]);
    syn_frame(a(1), a(2), PORT)
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

fn patched(f: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut g = f.to_vec();
    g[at..at + bytes.len()].copy_from_slice(bytes);
    g
}

/// Frames covering every branch of docs/protocol.md §1, by name.
fn crafted() -> Vec<(String, Vec<u8>)> {
    let l3 = ETH_HEADER_LEN;
    let tcp4 = l3 + 20;
    let tcp6 = l3 + 40;
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("ipv4".into(), v4()),
        ("ipv6".into(), v6()),
        ("ipv4 one vlan tag".into(), with_vlan(&v4(), 1)),
        ("ipv6 two vlan tags".into(), with_vlan(&v6(), 2)),
        ("three vlan tags".into(), with_vlan(&v4(), 3)),
        (
            "ipv4 wrong port".into(),
            syn_frame([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), PORT + 1),
        ),
        ("ipv4 trailing padding".into(), [v4(), vec![0; 20]].concat()),
        ("arp".into(), patched(&v4(), 12, &0x0806u16.to_be_bytes())),
        (
            "802.3 length field".into(),
            patched(&v4(), 12, &0x0100u16.to_be_bytes()),
        ),
        ("udp".into(), patched(&v4(), l3 + 9, &[17])),
        ("icmp".into(), patched(&v4(), l3 + 9, &[1])),
        ("more fragments".into(), patched(&v4(), l3 + 6, &[0x20, 0])),
        ("fragment offset".into(), patched(&v4(), l3 + 6, &[0, 1])),
        ("don't fragment".into(), patched(&v4(), l3 + 6, &[0x40, 0])),
        ("ipv4 version 6".into(), patched(&v4(), l3, &[0x65])),
        ("ihl 4".into(), patched(&v4(), l3, &[0x44])),
        ("ihl 15".into(), patched(&v4(), l3, &[0x4f])),
        (
            "total length 19".into(),
            patched(&v4(), l3 + 2, &19u16.to_be_bytes()),
        ),
        (
            "total length 40".into(),
            patched(&v4(), l3 + 2, &40u16.to_be_bytes()),
        ),
        (
            "total length 44".into(),
            patched(&v4(), l3 + 2, &44u16.to_be_bytes()),
        ),
        (
            "total length beyond frame".into(),
            patched(&v4(), l3 + 2, &1500u16.to_be_bytes()),
        ),
        ("ipv6 hop-by-hop".into(), patched(&v6(), l3 + 6, &[0])),
        ("ipv6 version 4".into(), patched(&v6(), l3, &[0x46])),
        (
            "ipv6 payload beyond frame".into(),
            patched(&v6(), l3 + 4, &1500u16.to_be_bytes()),
        ),
        (
            "ipv6 payload 20".into(),
            patched(&v6(), l3 + 4, &20u16.to_be_bytes()),
        ),
        (
            "ipv6 payload 23".into(),
            patched(&v6(), l3 + 4, &23u16.to_be_bytes()),
        ),
        (
            "tcp data offset 4".into(),
            patched(&v4(), tcp4 + 12, &[4 << 4]),
        ),
        (
            "tcp data offset 5".into(),
            patched(&v4(), tcp4 + 12, &[5 << 4]),
        ),
        (
            "tcp data offset 15".into(),
            patched(&v4(), tcp4 + 12, &[15 << 4]),
        ),
        (
            "ipv6 tcp data offset 5".into(),
            patched(&v6(), tcp6 + 12, &[5 << 4]),
        ),
    ];
    for (i, x) in [0xfeu8, 0x08, 0x00, 0x53].into_iter().enumerate() {
        out.push((
            format!("marker byte {i} wrong"),
            patched(&v4(), tcp4 + 20 + i, &[x]),
        ));
        out.push((
            format!("ipv6 marker byte {i} wrong"),
            patched(&v6(), tcp6 + 20 + i, &[x]),
        ));
    }
    // Truncated at every length the kernel accepts (it refuses frames
    // shorter than an Ethernet header).
    for (name, f) in [
        ("ipv4", v4()),
        ("ipv6", v6()),
        ("vlan", with_vlan(&v4(), 2)),
    ] {
        for cut in ETH_HEADER_LEN..f.len() {
            out.push((format!("{name} cut at {cut}"), f[..cut].to_vec()));
        }
    }
    out
}

/// Run `frame` through the program; return the single counter it bumped
/// and its action.
fn run(prog: &mut SteeringProgram, frame: &[u8]) -> (Stat, u32) {
    let before = prog.stats().unwrap();
    let act = prog.test_run(frame).unwrap();
    let delta = prog.stats().unwrap().since(&before);
    let bumped: Vec<Stat> = Stat::ALL
        .into_iter()
        .filter(|s| delta.get(*s) > 0)
        .collect();
    assert_eq!(bumped.len(), 1, "counters bumped: {bumped:?} ({delta:?})");
    assert_eq!(delta.get(bumped[0]), 1);
    (bumped[0], act)
}

fn expect_agreement(prog: &mut SteeringProgram, name: &str, frame: &[u8]) {
    let verdict = classify(frame, |p| p == PORT);
    let want = Stat::for_verdict(verdict, false);
    let (got, act) = run(prog, frame);
    assert_eq!(
        got, want,
        "{name}: program counted {got:?}, classifier says {verdict:?}"
    );
    // No socket is bound in a test run, so even a steered frame is passed.
    assert_eq!(act, action::PASS, "{name}: action {act}");
}

fn program() -> Option<SteeringProgram> {
    if !trickles_xdp::running_as_root() {
        eprintln!("SKIPPED: loading an XDP program needs root (CAP_BPF)");
        return None;
    }
    let mut prog = SteeringProgram::load().unwrap_or_else(|e| panic!("{e}"));
    prog.serve_port(PORT).unwrap();
    Some(prog)
}

/// One program for all proptest cases (loading takes a verifier pass).
fn shared_program() -> Option<&'static Mutex<SteeringProgram>> {
    static PROGRAM: OnceLock<Option<Mutex<SteeringProgram>>> = OnceLock::new();
    PROGRAM.get_or_init(|| program().map(Mutex::new)).as_ref()
}

#[test]
fn program_and_classifier_agree_on_crafted_frames() {
    let Some(mut prog) = program() else { return };
    let frames = crafted();
    let mut seen = std::collections::BTreeSet::new();
    for (name, f) in &frames {
        expect_agreement(&mut prog, name, f);
        seen.insert(Stat::for_verdict(classify(f, |p| p == PORT), false));
    }
    // The crafted set reaches every counter a test run can reach.
    let reachable: Vec<Stat> = Stat::ALL
        .into_iter()
        .filter(|s| *s != Stat::Steered)
        .collect();
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), reachable);
    eprintln!("{} crafted frames agree", frames.len());
}

#[test]
fn unserving_a_port_passes_its_frames() {
    let Some(mut prog) = program() else { return };
    assert_eq!(run(&mut prog, &v4()).0, Stat::SteerNoSocket);
    prog.unserve_port(PORT).unwrap();
    assert_eq!(run(&mut prog, &v4()).0, Stat::PassPortNotServed);
    prog.unserve_port(PORT).unwrap(); // removing twice is not an error
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Random corruption of valid frames: the two still agree.
    #[test]
    fn program_and_classifier_agree_on_corrupted_frames(
        base in 0usize..4,
        edits in prop::collection::vec((0usize..200, any::<u8>()), 1..4),
        cut in prop::option::of(14usize..200),
    ) {
        let Some(prog) = shared_program() else { return Ok(()) };
        let mut prog = prog.lock().unwrap();
        let mut f = [v4(), v6(), with_vlan(&v4(), 1), with_vlan(&v6(), 2)][base].clone();
        for (at, x) in edits {
            let at = at % f.len();
            f[at] = x;
        }
        if let Some(c) = cut {
            f.truncate(c.max(ETH_HEADER_LEN));
        }
        expect_agreement(&mut prog, "corrupted", &f);
    }
}

#[test]
fn classifier_marks_short_frames_malformed() {
    // The kernel refuses test runs shorter than an Ethernet header; a NIC
    // never delivers one. The classifier's side of that contract:
    for cut in 0..ETH_HEADER_LEN {
        assert_eq!(
            Stat::for_verdict(classify(&v4()[..cut], |_| true), false),
            Stat::PassMalformed
        );
    }
}
