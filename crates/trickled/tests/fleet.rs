//! Stateless in practice, on the real datapath (paper §1, §6.3): a
//! daemon killed and restarted mid-download, a graceful restart under
//! `trickles get`, replicas behind a router with `trickled balance` (a
//! replica killed under ECMP and under per-packet spraying, the spray's
//! balance), a rolling key rotation across replicas during eight
//! downloads, and what a captured request gets when replayed to the
//! other replica and after a restart (docs/protocol.md §9.2). Needs
//! root; skips with a message otherwise.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trickles_core::synthetic::stream_mismatches;
use trickles_xdp::netns::{End, Fleet, NetnsPair};
use trickles_xdp::scenario::{Fetch, FetchReport, SERVER_PORT, fetch_many};

use support::{BIN, Daemon, counter, root, scratch, write_keys};

/// One test at a time: they share two cores.
static SERIAL: Mutex<()> = Mutex::new(());

const STATS: &str = "127.0.0.1:9464";
const SEED: u64 = 31;

/// `trickled serve` of the synthetic stream on port 80 with `keys`.
fn serve(end: &End, keys: &Path) -> Daemon {
    Daemon::start(
        end,
        &[
            "--service",
            &format!("{SERVER_PORT}=synthetic"),
            "--key-file",
            keys.to_str().unwrap(),
            "--stats-listen",
            STATS,
        ],
    )
}

/// Downloads of `size` bytes each over `n` connections from `client` to
/// `server`, on a thread; `watch` counts the bytes received so far.
fn download(
    client: &End,
    server: std::net::Ipv4Addr,
    size: u64,
    n: usize,
) -> (Arc<AtomicU64>, std::thread::JoinHandle<Vec<FetchReport>>) {
    let watch = Arc::new(AtomicU64::new(0));
    let f = Fetch {
        watch: Some(watch.clone()),
        deadline: Duration::from_secs(90),
        ..Fetch::stream(size, SEED)
    };
    let client = client.clone();
    let t = std::thread::spawn(move || fetch_many(&client, server, &f, n).unwrap());
    (watch, t)
}

/// Wait until `watch` reaches `bytes` (at most 60 s).
fn wait_for(watch: &AtomicU64, bytes: u64) {
    let until = Instant::now() + Duration::from_secs(60);
    while watch.load(Ordering::Relaxed) < bytes {
        assert!(
            Instant::now() < until,
            "the download did not reach {bytes} bytes"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn intact(reports: &[FetchReport], size: u64) -> bool {
    reports.iter().all(|f| {
        f.complete && f.data.len() as u64 == size && stream_mismatches(SEED, 0, &f.data) == 0
    })
}

#[test]
fn a_daemon_killed_mid_download_and_started_again_finishes_it() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    let pair = NetnsPair::create().unwrap();
    let dir = scratch("restart");
    let keys = dir.join("keys.toml");
    write_keys(&keys, 1, 0x51);
    let first = serve(&pair.b, &keys);
    // Old enough that a clock starting at each process's start (the
    // earlier design) would make the new process refuse everything for
    // seconds.
    std::thread::sleep(Duration::from_millis(2500));
    let size = 100_000_000;
    let (watch, t) = download(&pair.a, pair.b.addr, size, 1);
    wait_for(&watch, 25_000_000);
    let killed_at = watch.load(Ordering::Relaxed);
    first.kill();
    let second = serve(&pair.b, &keys);
    let f = t.join().unwrap();
    let stall = f[0].longest_stall();
    eprintln!(
        "killed after {killed_at} bytes; {:?} in all; longest stall {stall:?}; client {:?}",
        f[0].elapsed, f[0].engine
    );
    assert!(intact(&f, size), "not intact: {:?}", f[0].engine);
    // The bar of `stall_ms_restart`; a debug build's daemon takes several
    // times longer to start, and the client's timer backs off meanwhile.
    let bound = Duration::from_millis(if cfg!(debug_assertions) { 3000 } else { 1000 });
    assert!(stall <= bound, "stall {stall:?}");
    let after = counter(&pair.b, STATS, "trickled_requests_total{");
    assert!(after > 100, "the new process answered {after} requests");
    let (ok, _) = second.stop();
    assert!(ok);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_graceful_restart_keeps_a_trickles_get_intact() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    let pair = NetnsPair::create().unwrap();
    let dir = scratch("upgrade");
    let keys = dir.join("keys.toml");
    write_keys(&keys, 1, 0x61);
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let body: Vec<u8> = (0..100_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(www.join("f.bin"), &body).unwrap();
    let web = format!("80=web:{}", www.display());
    let args = [
        "--service",
        web.as_str(),
        "--key-file",
        keys.to_str().unwrap(),
    ];
    let old = Daemon::start(&pair.b, &args);
    let out = dir.join("got.bin");
    let mut get = pair
        .a
        .command(env!("CARGO_BIN_EXE_trickles"))
        .args(["get", "-q", &format!("http://{}/f.bin", pair.b.addr), "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 20_000_000 {
        assert!(Instant::now() < until, "the download did not start");
        assert!(
            get.try_wait().unwrap().is_none(),
            "trickles get ended early"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // An upgrade in place: SIGTERM, then the (new) binary again.
    let (ok, log) = old.stop();
    assert!(ok, "{log:?}");
    let new = Daemon::start(&pair.b, &args);
    let status = get.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut get.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "trickles get failed: {err}");
    assert!(!err.contains("falling back"), "{err}");
    assert!(std::fs::read(&out).unwrap() == body, "bytes differ");
    drop(new);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Replicas behind a router, each running `trickled serve`, and the
/// balancer on the router.
struct Replicated {
    fleet: Fleet,
    daemons: Vec<Option<Daemon>>,
    balancer: Daemon,
    keys: std::path::PathBuf,
}

fn replicated(name: &str, mode: &str) -> Replicated {
    let fleet = Fleet::create(2).unwrap();
    let dir = scratch(name);
    let keys = dir.join("keys.toml");
    write_keys(&keys, 1, 0x71);
    let daemons = fleet
        .servers
        .iter()
        .map(|s| Some(serve(s, &keys)))
        .collect();
    let mut cmd = fleet.router_command(BIN);
    cmd.args(["balance", "--vip", &Fleet::VIP.to_string(), "--mode", mode]);
    for s in &fleet.servers {
        cmd.args(["--replica", &s.addr.to_string()]);
    }
    if mode == "spray" {
        cmd.args(["--ingress", &fleet.router_to_client]);
    }
    let balancer = Daemon::spawn(cmd, "balancing;");
    Replicated {
        fleet,
        daemons,
        balancer,
        keys,
    }
}

impl Replicated {
    fn requests(&self, i: usize) -> u64 {
        counter(&self.fleet.servers[i], STATS, "trickled_requests_total{")
    }

    fn drops(&self, i: usize, reason: &str) -> u64 {
        counter(
            &self.fleet.servers[i],
            STATS,
            &format!("trickled_drops_total{{queue=\"0\",port=\"80\",reason=\"{reason}\"}}"),
        )
    }

    /// Kill replica `i` when the client has `at` bytes; the download's
    /// reports and the balancer's log.
    fn kill_during(&mut self, i: usize, size: u64, at: u64) -> Vec<FetchReport> {
        let (watch, t) = download(&self.fleet.client, Fleet::VIP, size, 1);
        wait_for(&watch, at);
        self.daemons[i].take().unwrap().kill();
        t.join().unwrap()
    }
}

fn check_failover(r: &Replicated, f: &[FetchReport], killed: usize, size: u64) {
    let stall = f[0].longest_stall();
    let log = r.balancer.lines();
    eprintln!(
        "{:?} in all, longest stall {stall:?}, client {:?}\nbalancer: {log:#?}",
        f[0].elapsed, f[0].engine
    );
    assert!(intact(f, size), "not intact: {:?}", f[0].engine);
    let dead = r.fleet.servers[killed].addr.to_string();
    assert!(
        log.iter()
            .any(|l| l.contains("replica down") && l.contains(&dead)),
        "the balancer did not take {dead} out"
    );
    // Detection (3 probes, 100 ms apart) plus the client's next timeout
    // retry: 600 ms in the benchmark; a debug build's client and daemons
    // are slower.
    let bound = Duration::from_millis(if cfg!(debug_assertions) { 3000 } else { 1500 });
    assert!(stall <= bound, "stall {stall:?}");
}

#[test]
fn a_replica_killed_under_ecmp_hands_its_connection_to_the_other() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    let mut r = replicated("ecmp", "ecmp");
    let size = 150_000_000;
    let (watch, t) = download(&r.fleet.client, Fleet::VIP, size, 1);
    wait_for(&watch, 30_000_000);
    // ECMP keeps the connection on one replica: kill that one.
    let serving = usize::from(r.requests(1) > r.requests(0));
    assert_eq!(r.requests(1 - serving), 0, "ECMP split one flow");
    r.daemons[serving].take().unwrap().kill();
    let f = t.join().unwrap();
    check_failover(&r, &f, serving, size);
    assert!(
        r.requests(1 - serving) > 100,
        "the other replica took nothing"
    );
}

#[test]
fn a_replica_killed_under_per_packet_spraying_leaves_the_transfer_intact() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    let mut r = replicated("spray-kill", "spray");
    let size = 150_000_000;
    let f = r.kill_during(0, size, 30_000_000);
    check_failover(&r, &f, 0, size);
}

#[test]
fn per_packet_spraying_gives_each_replica_its_share_of_one_connection() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    let r = replicated("spray", "spray");
    let size = 100_000_000;
    let (_, t) = download(&r.fleet.client, Fleet::VIP, size, 1);
    let f = t.join().unwrap();
    assert!(intact(&f, size), "not intact: {:?}", f[0].engine);
    let (a, b) = (r.requests(0) as f64, r.requests(1) as f64);
    let share = a.min(b) / (a + b);
    eprintln!(
        "requests {a} / {b}: smallest share {share:.3}; {:?}; client {:?}",
        f[0].elapsed, f[0].engine
    );
    assert!(share >= 0.4, "shares {a} / {b}");
}

/// `trickled keygen ARGS -o keys` in the test's namespace.
fn keygen(keys: &Path, step: &str) {
    let out = std::process::Command::new(BIN)
        .args(["keygen", step])
        .arg(keys)
        .arg("-o")
        .arg(keys)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keygen {step}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SIGHUP replica `i` and wait until it logs the reload.
fn reload(r: &Replicated, i: usize) {
    let d = r.daemons[i].as_ref().unwrap();
    let before = d
        .lines()
        .iter()
        .filter(|l| l.contains("keys reloaded"))
        .count();
    d.signal("HUP");
    let until = Instant::now() + Duration::from_secs(10);
    while d
        .lines()
        .iter()
        .filter(|l| l.contains("keys reloaded"))
        .count()
        == before
    {
        assert!(Instant::now() < until, "replica {i} did not reload");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_rolling_key_rotation_across_replicas_breaks_no_download() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    let r = replicated("rotate", "spray");
    // Step one: every replica accepts the next epoch.
    keygen(&r.keys, "--next");
    reload(&r, 0);
    reload(&r, 1);
    // Step two begins: replica 0 seals with it; the downloads start while
    // the replicas disagree on the current epoch, so their connections
    // are opened under both.
    keygen(&r.keys, "--promote");
    reload(&r, 0);
    let (size, n) = (40_000_000, 8);
    let (watch, t) = download(&r.fleet.client, Fleet::VIP, size, n);
    wait_for(&watch, size * n as u64 / 3);
    reload(&r, 1);
    let f = t.join().unwrap();
    let broken = f
        .iter()
        .filter(|f| !intact(std::slice::from_ref(f), size))
        .count();
    let unknown = r.drops(0, "unknown_epoch") + r.drops(1, "unknown_epoch");
    eprintln!(
        "{broken} of {n} broken; unknown-epoch drops {unknown}; times {:?}",
        f.iter().map(|f| f.elapsed).collect::<Vec<_>>()
    );
    assert_eq!(broken, 0);
    assert_eq!(unknown, 0, "a replica met an epoch it did not know");
    for d in r.daemons.iter().flatten() {
        assert!(
            d.lines()
                .iter()
                .any(|l| l.contains("keys reloaded") && l.contains("to=2")),
            "{:?}",
            d.lines()
        );
    }
}

/// pktgen replaying the requests captured in `pcap` as they are (to the
/// service address) from `device` in namespace `netns`, each once, to the
/// on-link neighbour `via`; its summary line.
fn replay(netns: &str, device: &str, via: std::net::Ipv4Addr, pcap: &Path, count: u64) -> String {
    // The workspace's pktgen, built beside trickled (`cargo xtask
    // netns-test` builds it first).
    let pktgen = Path::new(BIN).with_file_name("pktgen");
    assert!(
        pktgen.exists(),
        "{} is not built (cargo build -p pktgen)",
        pktgen.display()
    );
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(&pktgen)
        .args(["--interface", device, "--no-rx", "--mode", "replay"])
        .args(["--dst", &format!("{via}:{SERVER_PORT}")])
        .args([
            "--count",
            &count.to_string(),
            "--seconds",
            "5",
            "--rate",
            "20000",
        ])
        .arg("--replay")
        .arg(pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pktgen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_replayed_request_gets_what_the_protocol_promises() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    let fleet = Fleet::create(2).unwrap();
    let dir = scratch("replay");
    let keys = dir.join("keys.toml");
    write_keys(&keys, 1, 0x81);
    let mut daemons: Vec<Daemon> = fleet.servers.iter().map(|s| serve(s, &keys)).collect();
    fleet.route_vip_to(0).unwrap();
    let pcap = dir.join("client.pcap");
    let size = 10_000_000;
    let f = fetch_many(
        &fleet.client,
        Fleet::VIP,
        &Fetch {
            pcap: Some(pcap.clone()),
            ..Fetch::stream(size, SEED)
        },
        1,
    )
    .unwrap();
    assert!(intact(&f, size));
    let sent = f[0].engine.requests;
    eprintln!("captured {sent} requests in {:?}", f[0].elapsed);
    let at = |i: usize, what: &str| {
        let prefix = match what {
            "answered" => "trickled_requests_total{".to_owned(),
            "frames_in" => "trickled_frames_in_total{".to_owned(),
            "evictions" => "trickled_replay_evictions_total{".to_owned(),
            reason => {
                format!("trickled_drops_total{{queue=\"0\",port=\"80\",reason=\"{reason}\"}}")
            }
        };
        counter(&fleet.servers[i], STATS, &prefix)
    };
    // Workers publish their counters every 100 ms.
    std::thread::sleep(Duration::from_millis(300));
    let answered_a = at(0, "answered");
    let (gateway, other) = (fleet.client.gateway.unwrap(), fleet.servers[1].addr);
    // 1. Through the service address, to the replica that answered them:
    //    every one dropped as replayed.
    // Requests lost on the way the first time never reached the table:
    // to the server they are new, not replays.
    let unseen = (sent + 1).saturating_sub(at(0, "frames_in"));
    let s = replay(
        &fleet.client.netns,
        &fleet.client.ifname,
        gateway,
        &pcap,
        sent,
    );
    eprintln!("replay to the same replica ({unseen} never arrived the first time): {s}");
    // No request is answered twice: what the replay got answered is what
    // never arrived (or was refused) the first time.
    let (again, evicted_a) = (at(0, "answered") - answered_a, at(0, "evictions"));
    assert!(
        answered_a + again <= sent + 1 + evicted_a,
        "{again} replayed requests were answered, {answered_a} the first time, {sent} sent"
    );
    assert!(
        again <= unseen + unseen / 10 + 2,
        "{again} replayed requests were answered, {unseen} never arrived"
    );
    let replayed = at(0, "replayed");
    assert!(
        replayed + unseen >= sent * 98 / 100,
        "replayed drops {replayed}"
    );
    // 2. To the other replica, which never saw them: answered once each...
    let s = replay(
        &fleet.router,
        &fleet.router_to_servers[1],
        other,
        &pcap,
        sent,
    );
    // Every request that reached it was answered, or refused as stale when
    // older than the replay horizon (10 s; a slow debug build can take that
    // long). A debug build may also miss frames its ring had no room for.
    let (arrived_b, answered_b, stale_b) = (at(1, "frames_in"), at(1, "answered"), at(1, "stale"));
    eprintln!(
        "replay to the other replica: {arrived_b} arrived, {answered_b} answered, {stale_b} stale: {s}"
    );
    assert!(
        answered_b + stale_b >= arrived_b * 98 / 100,
        "the other replica answered {answered_b} of {arrived_b}, {stale_b} stale"
    );
    assert!(
        answered_b >= sent / 4,
        "the other replica answered {answered_b} of {sent} ({stale_b} stale)"
    );
    // ...and never again: a second replay is answered only for requests
    // that did not arrive the first time, or that its table evicted
    // (counted).
    replay(
        &fleet.router,
        &fleet.router_to_servers[1],
        other,
        &pcap,
        sent,
    );
    let (again, evicted) = (at(1, "answered") - answered_b, at(1, "evictions"));
    let missed_b = sent.saturating_sub(arrived_b);
    let replayed_b = at(1, "replayed");
    eprintln!(
        "the other replica, again: {again} answered ({missed_b} missed the first time), \
         {replayed_b} replayed, {evicted} evictions"
    );
    assert!(
        again <= missed_b + evicted,
        "{again} answered again, {missed_b} missed the first time, {evicted} evicted"
    );
    let arrived_again = at(1, "frames_in") - arrived_b;
    assert!(
        replayed_b + again + (at(1, "stale") - stale_b) >= arrived_again * 98 / 100,
        "second replay: {arrived_again} arrived, {replayed_b} replayed, {again} answered"
    );
    // 3. The first replica restarted: nothing made before it started is
    //    answered.
    daemons.remove(0).kill();
    daemons.insert(0, serve(&fleet.servers[0], &keys));
    replay(
        &fleet.client.netns,
        &fleet.client.ifname,
        gateway,
        &pcap,
        sent,
    );
    assert_eq!(at(0, "answered"), 0, "the restarted replica answered");
    assert!(at(0, "predates_start") >= sent * 9 / 10);
    eprintln!(
        "{sent} requests captured; other replica answered {answered_b}; restarted: {} predates_start",
        at(0, "predates_start")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
