//! The `clients` (Fig. 9), `failover` (Fig. 16) and `balance` (Fig. 17)
//! scenarios on small, fast settings, and their command-line forms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use trickles_sim::balance::{self, BalanceConfig, Bottleneck};
use trickles_sim::clients::{self, ClientsConfig};
use trickles_sim::failover::{self, FailoverConfig};

fn small_clients(n: usize) -> ClientsConfig {
    ClientsConfig {
        object_bytes: 200_000,
        duration: Duration::from_millis(1500),
        ..ClientsConfig::new(n)
    }
}

#[test]
fn clients_fetch_intact_objects_at_renos_pace() {
    let mut state = Vec::new();
    for n in 2..=4 {
        let r = clients::run(&small_clients(n), 1);
        assert!(r.bytes_ok && r.reno_bytes_ok, "{n} clients: {r:?}");
        // Every client completed objects, each over a fresh connection.
        assert!(r.objects_completed >= 2 * n as u64, "{n} clients: {r:?}");
        assert!(r.connections > r.objects_completed, "{r:?}");
        assert!(r.reno_objects_completed >= 2 * n as u64, "{r:?}");
        let ratio = r.ratio.unwrap();
        assert!((0.7..1.4).contains(&ratio), "{n} clients: ratio {ratio}");
        assert!(r.aggregate_mbps < r.rate_mbit, "{r:?}");
        assert!(r.jain_index > 0.9, "{r:?}");
        // The Trickles server's memory does not move; a TCP server holds
        // state for each open connection.
        assert_eq!(r.server_state_bytes_start, r.server_state_bytes_end);
        assert!((1..=n).contains(&r.reno_peak_connections), "{r:?}");
        assert!(r.reno_server_state_bytes > 0);
        state.push((r.server_state_bytes, r.reno_server_state_bytes));
    }
    assert!(state.iter().all(|s| s.0 == state[0].0), "{state:?}");
    assert!(state[2].1 > state[0].1, "{state:?}");
}

#[test]
fn clients_runs_depend_on_the_seed_only() {
    let cfg = ClientsConfig {
        duration: Duration::from_millis(800),
        ..small_clients(2)
    };
    assert_eq!(clients::run(&cfg, 3), clients::run(&cfg, 3));
    // The seed staggers the clients' starts.
    assert_ne!(
        clients::run(&cfg, 3).aggregate_mbps,
        clients::run(&cfg, 4).aggregate_mbps
    );
}

fn small_failover(outage_ms: u64) -> FailoverConfig {
    FailoverConfig {
        size: 2_000_000,
        at: Duration::from_millis(200),
        outage: Duration::from_millis(outage_ms),
        ..FailoverConfig::new()
    }
}

#[test]
fn failover_to_a_replica_delivers_every_byte() {
    for outage in [0, 100] {
        let r = failover::run(&small_failover(outage), 1);
        assert!(
            r.bytes_ok && r.bytes_ok_no_failover,
            "outage {outage}: {r:?}"
        );
        assert!(r.switched_mid_transfer, "{r:?}");
        assert!(r.delivered_at_failover > 0 && r.delivered_at_failover < 2_000_000);
        // Both replicas served the one connection.
        assert!(
            r.replica_a_requests > 0 && r.replica_b_requests > 0,
            "{r:?}"
        );
        let (with, without) = (
            r.completion_ms.unwrap(),
            r.completion_ms_no_failover.unwrap(),
        );
        assert!(with >= without, "{r:?}");
        // The stall is finite: at most the outage plus one timeout.
        assert!(r.stall_ms < outage as f64 + 1000.0, "{r:?}");
        assert!(r.stall_ms >= outage as f64, "{r:?}");
        // A stateful server cannot do this: Reno stops at the failover.
        assert!(
            !r.reno_completed && r.reno_bytes_delivered < 2_000_000,
            "{r:?}"
        );
        assert!(r.reno_completion_ms_no_failover.is_some());
    }
    // With an outage, requests were lost at the dead replica and the client
    // resumed by timeout.
    let r = failover::run(&small_failover(100), 1);
    assert!(
        r.dropped_at_dead_replica > 0 && r.client_timeouts > 0,
        "{r:?}"
    );
    assert!(r.completion_ms.unwrap() > r.completion_ms_no_failover.unwrap() + 100.0);
}

fn small_balance(bottleneck: Bottleneck) -> BalanceConfig {
    BalanceConfig {
        object_bytes: 200_000,
        duration: Duration::from_millis(1500),
        bottleneck,
        ..BalanceConfig::new()
    }
}

#[test]
fn balance_sprays_both_connections_over_both_replicas() {
    for b in [Bottleneck::Replica, Bottleneck::Shared] {
        let r = balance::run(&small_balance(b), 1);
        assert!(r.bytes_ok, "{b:?}: {r:?}");
        assert!(r.objects_completed >= 2, "{b:?}: {r:?}");
        // Each replica answered requests of each client.
        for per_client in &r.server_requests_by_client {
            assert!(per_client.iter().all(|&n| n > 0), "{b:?}: {r:?}");
        }
        let by_client: Vec<u64> = r
            .server_requests_by_client
            .iter()
            .map(|v| v.iter().sum())
            .collect();
        assert_eq!(by_client, r.server_requests);
        // Round robin: the replicas got the same number of frames, give or
        // take one.
        assert!(
            r.frames_to_server[0].abs_diff(r.frames_to_server[1]) <= 1,
            "{r:?}"
        );
        assert!(r.jain_index >= 0.9, "{b:?}: {r:?}");
        assert!(r.client_mbps.iter().all(|&m| m > 0.0));
    }
}

fn cli(args: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_trickles-sim"))
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v = if code == 0 {
        serde_json::from_str(&stdout).unwrap()
    } else {
        serde_json::Value::Null
    };
    (code, v)
}

#[test]
fn cli_prints_one_json_object_per_scenario() {
    let (code, v) = cli(&[
        "clients",
        "--clients",
        "2",
        "--object-bytes",
        "100000",
        "--seconds",
        "0.5",
        "--seed",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0);
    for key in [
        "aggregate_mbps",
        "reno_aggregate_mbps",
        "ratio",
        "objects_completed",
        "bytes_ok",
        "server_state_bytes",
        "server_state_bytes_start",
        "server_state_bytes_end",
        "reno_server_state_bytes",
    ] {
        assert!(v.get(key).is_some(), "clients: no {key} in {v}");
    }
    assert_eq!(v["scenario"], "clients");
    assert_eq!(v["bytes_ok"], true);

    let (code, v) = cli(&[
        "failover", "--size", "500000", "--at-ms", "100", "--seed", "2", "--json",
    ]);
    assert_eq!(code, 0);
    for key in [
        "bytes_ok",
        "stall_ms",
        "completion_ms",
        "completion_ms_no_failover",
    ] {
        assert!(v.get(key).is_some(), "failover: no {key} in {v}");
    }
    assert_eq!(v["bytes_ok"], true);

    let (code, v) = cli(&[
        "balance",
        "--object-bytes",
        "100000",
        "--seconds",
        "0.5",
        "--seed",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0);
    for key in ["jain_index", "client_mbps", "server_requests", "bytes_ok"] {
        assert!(v.get(key).is_some(), "balance: no {key} in {v}");
    }
    assert_eq!(v["client_mbps"].as_array().unwrap().len(), 2);

    // Usage errors exit with 2.
    assert_eq!(cli(&["clients", "--clients", "0"]).0, 2);
    assert_eq!(cli(&["failover", "--at-ms", "-1"]).0, 2);
    assert_eq!(cli(&["balance", "--bottleneck", "nowhere"]).0, 2);
}
