//! A legitimate 100 MB download while pktgen floods the same server with
//! forged, malformed and replayed requests (issue 6, `flood`): the
//! download completes intact, every flood frame is dropped and counted by
//! reason, and none is answered. Needs root; skips with a message
//! otherwise.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use trickles_core::server::DropReason;
use trickles_core::synthetic::stream_mismatches;
use trickles_xdp::netns::NetnsPair;
use trickles_xdp::runtime::{QueuePlan, serve_queues};
use trickles_xdp::scenario::{Fetch, SERVER_PORT, demo_server, fetch};

const PKTGEN: &str = env!("CARGO_BIN_EXE_pktgen");

#[test]
fn a_flood_of_forged_malformed_and_replayed_requests_is_dropped_and_never_answered() {
    if !trickles_xdp::running_as_root() {
        eprintln!("SKIPPED: network namespaces and AF_XDP need root");
        return;
    }
    // Two queues: the legitimate client on queue 0, pktgen on queue 1;
    // a server worker on each.
    let pair = NetnsPair::create_with_queues(2).unwrap();
    let dir = std::env::temp_dir().join(format!("pktgen-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (b, stop_s) = (pair.b.clone(), stop.clone());
    let server = pair
        .b
        .run(move || {
            let plan = QueuePlan::new(&b.ifname, vec![0, 1], vec![SERVER_PORT]);
            serve_queues(&plan, |_| demo_server(), &stop_s).unwrap()
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let get = |size: u64, seed: u64, pcap: Option<std::path::PathBuf>, queue: u32| {
        fetch(
            &pair.a,
            &pair.b,
            &Fetch {
                pcap,
                queue,
                ..Fetch::stream(size, seed)
            },
        )
        .unwrap()
    };
    // Real requests to replay later, through queue 0. A NIC's RSS sends
    // every frame of a flow to one queue, so a replay reaches the worker
    // whose replay table saw the original; the flood follows the same
    // queue, and the legitimate download takes the other.
    let capture = dir.join("client.pcap");
    let warm = get(2_000_000, 3, Some(capture.clone()), 0);
    assert!(warm.complete);

    // The legitimate download starts first (its XDP program must be on the
    // interface before pktgen's socket is bound), then the flood.
    let (a_end, b_end) = (pair.a.clone(), pair.b.clone());
    let legit = std::thread::spawn(move || {
        fetch(
            &a_end,
            &b_end,
            &Fetch {
                queue: 1,
                ..Fetch::stream(100_000_000, 9)
            },
        )
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let flood = pair
        .a
        .command(PKTGEN)
        .args([
            "--interface",
            &pair.a.ifname,
            "--queue",
            "0",
            "--no-rx",
            "--mode",
            "mix",
        ])
        .args([
            "--dst",
            &format!("{}:{SERVER_PORT}", pair.b.addr),
            "--seconds",
            "4",
        ])
        .arg("--replay")
        .arg(&capture)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let legit = legit.join().unwrap();
    let flood = flood.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    let reports = server.join().unwrap();
    let summary = String::from_utf8_lossy(&flood.stdout);
    eprintln!(
        "pktgen: {}{}",
        summary.trim(),
        String::from_utf8_lossy(&flood.stderr)
    );
    assert!(flood.status.success(), "pktgen failed");
    assert!(
        legit.complete
            && legit.data.len() == 100_000_000
            && stream_mismatches(9, 0, &legit.data) == 0
    );
    eprintln!("legitimate 100 MB under the flood: {:?}", legit.elapsed);

    for (r, s) in &reports {
        eprintln!(
            "server queue {}: {:?}\n  engine {:?}",
            r.queue,
            r.stats,
            s.stats()
        );
    }
    // Queue 0's worker saw the warm-up and the flood: it may have answered
    // no more requests than the warm-up client sent, and no SYN but its.
    let (r0, s0) = reports.iter().find(|(r, _)| r.queue == 0).unwrap();
    let st = s0.stats();
    eprintln!("warm-up client {:?}", warm.engine);
    assert!(
        r0.stats.rx_frames > 100_000,
        "the flood did not arrive: {:?}",
        r0.stats
    );
    assert!(
        st.requests <= warm.engine.requests,
        "flood requests were answered: {} answered, the warm-up client sent {}",
        st.requests,
        warm.engine.requests
    );
    assert!(st.syns <= warm.engine.syns, "flood SYNs were answered");
    for reason in [
        DropReason::BadMac,
        DropReason::Malformed,
        DropReason::Replayed,
    ] {
        assert!(
            st.drops(reason) > 0,
            "no {} drop counted: {st:?}",
            reason.as_str()
        );
    }
    assert!(
        st.total_drops() + st.requests + st.syns + st.closes >= st.frames_in,
        "a frame was neither answered nor dropped and counted: {st:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
