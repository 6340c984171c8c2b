//! pcap output and the `trickles-sim` command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use trickles_sim::packet::parse_tcp_frame;
use trickles_sim::pcap;
use trickles_sim::reno::RenoConfig;
use trickles_sim::scenario::{RenoPair, TransferScenario, run_transfer};

#[test]
fn pcap_has_header_and_one_record_per_frame() {
    let mut sc = TransferScenario::new(200_000, 50_000_000, Duration::from_millis(10));
    sc.loss = 0.01;
    sc.duplicate = 0.01;
    let mut pair = RenoPair::new(&sc, 5, RenoConfig::default());
    let mut buf = Vec::new();
    let r = run_transfer(&sc, 5, &mut pair, Some(&mut buf)).unwrap();
    assert!(r.bytes_ok);
    // Global header: nanosecond magic (little-endian), v2.4, snaplen, Ethernet.
    assert_eq!(&buf[0..4], &0xa1b2_3c4du32.to_le_bytes());
    assert_eq!(&buf[4..8], &[2, 0, 4, 0]);
    assert_eq!(&buf[8..16], &[0; 8]);
    assert_eq!(&buf[16..20], &65_535u32.to_le_bytes());
    assert_eq!(&buf[20..24], &1u32.to_le_bytes());
    let records = pcap::read(&buf).unwrap();
    // The client host is captured: every frame it sent or received.
    let frames = r.client.frames_sent + r.client.frames_received;
    assert_eq!(records.len() as u64, frames);
    assert_eq!(r.pcap_records, Some(frames));
    assert!(records.windows(2).all(|w| w[0].at <= w[1].at));
    let flow = sc.flow();
    let (mut to_client, mut from_client) = (0, 0);
    for rec in &records {
        assert_eq!(rec.orig_len as usize, rec.data.len());
        let p = parse_tcp_frame(&rec.data).unwrap();
        if p.dst_ip == flow.client.ip {
            to_client += 1;
        } else {
            assert_eq!(p.src_ip, flow.client.ip);
            from_client += 1;
        }
    }
    assert_eq!(
        (from_client, to_client),
        (r.client.frames_sent, r.client.frames_received)
    );
}

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trickles-sim"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn cli_transfer_prints_one_reproducible_json_object() {
    let args = [
        "transfer",
        "--size",
        "300000",
        "--rate",
        "20",
        "--rtt",
        "10",
        "--loss",
        "0.01",
        "--reorder",
        "0.01",
        "--dup",
        "0.01",
        "--seed",
        "3",
        "--json",
    ];
    let (code, out) = cli(&args);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bytes_ok"], true);
    assert_eq!(v["stalled"], false);
    assert_eq!(v["seed"], 3);
    assert!(v["reno_mbps"].as_f64().unwrap() > 0.0);
    assert!(v["reno_mbps"].as_f64().unwrap() < 20.0);
    assert!(v["completion_ms"].as_f64().unwrap() > 10.0);
    assert!(v["links"]["bottleneck_s2c"]["frames_in"].as_u64().unwrap() > 200);
    // The Trickles engines ran over the same links and seed.
    assert_eq!(v["trickles"]["bytes_ok"], true);
    assert!(v["trickles_mbps"].as_f64().unwrap() > 0.0);
    let ratio = v["ratio"].as_f64().unwrap();
    let expect = v["trickles_mbps"].as_f64().unwrap() / v["reno_mbps"].as_f64().unwrap();
    assert!((ratio - expect).abs() < 1e-9);
    let (_, again) = cli(&args);
    assert_eq!(out, again);

    let dir = std::env::temp_dir().join(format!("trickles-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("run.pcap");
    let (code, _) = cli(&[
        "transfer",
        "--size",
        "20000",
        "--pcap",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let bytes = std::fs::read(&file).unwrap();
    assert!(pcap::read(&bytes).unwrap().len() > 20);
    std::fs::remove_dir_all(&dir).unwrap();

    let (code, _) = cli(&["transfer", "--loss", "1.5"]);
    assert_eq!(code, 2);
    // A run cut short by a limit is reported, with a failing status.
    let (code, out) = cli(&["transfer", "--loss", "0.6", "--max-time", "2", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["stalled"].as_bool(), v["bytes_ok"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(v["reno"]["stop_reason"], "time_limit");
}
