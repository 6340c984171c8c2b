//! The main part of `cargo xtask demo` (issue 5): two network namespaces
//! joined by a veth pair; `trickled` in one serving a generated file tree;
//! from the other, `trickles get` and curl through `trickles proxy` fetch
//! every file and the bytes are compared; the throughput and the server's
//! memory are printed; then the server is killed with SIGKILL in the
//! middle of a download and started again with the same key file, and
//! the download finishes intact (no per-connection state was lost,
//! because there was none); everything is torn down, also on failure or Ctrl-C
//! (the namespaces by their drop and by xtask's reaper, trickled by its
//! SIGINT handler). The last line is a one-line summary. Needs root.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use trickles_xdp::netns::NetnsPair;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn content(len: usize, salt: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 4);
    let mut x = 0x2545_f491u32 ^ salt;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The sibling binary `name` of this example (target/<profile>/).
fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the build directory")?;
    let p = dir.join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} is not built (cargo build --release -p trickled)",
            p.display()
        ))
    }
}

fn main() -> ExitCode {
    if !trickles_xdp::running_as_root() {
        println!("daemon demo skipped: network namespaces, XDP and AF_XDP need root");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let trickled = sibling("trickled")?;
    let trickles = sibling("trickles")?;
    let pair = NetnsPair::create().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("trickles-demo-{}", std::process::id()));
    let _cleanup = Cleanup(dir.clone());
    let root = dir.join("www");
    std::fs::create_dir_all(root.join("docs")).map_err(|e| e.to_string())?;
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "index.html",
            b"<html><body>Served by trickled: no per-connection state.</body></html>\n".to_vec(),
        ),
        ("docs/1m.bin", content(1_000_000, 1)),
        ("big/100m.bin", content(100_000_000, 2)),
    ];
    for (name, bytes) in &files {
        let p = root.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&p, bytes).map_err(|e| e.to_string())?;
    }
    let keys = dir.join("keys.toml");
    let out = std::process::Command::new(&trickled)
        .arg("keygen")
        .output()
        .map_err(|e| e.to_string())?;
    std::fs::write(&keys, &out.stdout).map_err(|e| e.to_string())?;

    println!(
        "== trickled between namespaces {} ({} {}) and {} ({} {})",
        pair.a.netns, pair.a.ifname, pair.a.addr, pair.b.netns, pair.b.ifname, pair.b.addr
    );
    let (server, _first_log) = start_server(&pair, &trickled, &keys, &root)?;
    let pid = server.0.id();
    let rss_before = rss_kib(pid).unwrap_or(0);
    println!(
        "  trickled (pid {pid}) serves {} on {}:80; {} KiB resident",
        root.display(),
        pair.b.addr,
        rss_before
    );

    let mut all_identical = true;
    let mut get_rate = 0.0;
    let mut total_bytes = 0usize;
    println!("== trickles get, from {}", pair.a.netns);
    for (name, want) in &files {
        let out = dir.join(format!("get-{}", name.replace('/', "_")));
        let t = Instant::now();
        let r = pair
            .a
            .command(trickles.to_str().ok_or("path")?)
            .args(["get", "-q", &format!("http://{}/{name}", pair.b.addr), "-o"])
            .arg(&out)
            .output()
            .map_err(|e| e.to_string())?;
        let secs = t.elapsed().as_secs_f64();
        let same = r.status.success() && std::fs::read(&out).is_ok_and(|b| b == *want);
        all_identical &= same;
        total_bytes += want.len();
        if want.len() >= 100_000_000 {
            get_rate = want.len() as f64 * 8.0 / secs / 1e9;
        }
        println!(
            "  /{name:<14} {:>11} bytes in {secs:6.3} s (process start included) {}",
            want.len(),
            if same { "identical" } else { "DIFFERENT" }
        );
        if !r.status.success() {
            println!("    {}", String::from_utf8_lossy(&r.stderr).trim());
        }
    }

    println!(
        "== curl through trickles proxy (127.0.0.1:8080 in {})",
        pair.a.netns
    );
    let proxy = Proc(
        pair.a
            .command(trickles.to_str().ok_or("path")?)
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:8080",
                "--server",
                &format!("{}:80", pair.b.addr),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut proxy_rate = 0.0;
    for (name, want) in &files {
        let out = dir.join(format!("proxy-{}", name.replace('/', "_")));
        let t = Instant::now();
        let r = pair
            .a
            .command("curl")
            .args(["-sS", "--fail", "--max-time", "120", "-o"])
            .arg(&out)
            .arg(format!("http://127.0.0.1:8080/{name}"))
            .output()
            .map_err(|e| format!("curl: {e}"))?;
        let secs = t.elapsed().as_secs_f64();
        let same = r.status.success() && std::fs::read(&out).is_ok_and(|b| b == *want);
        all_identical &= same;
        total_bytes += want.len();
        if want.len() >= 100_000_000 {
            proxy_rate = want.len() as f64 * 8.0 / secs / 1e9;
        }
        println!(
            "  /{name:<14} {:>11} bytes in {secs:6.3} s {}",
            want.len(),
            if same { "identical" } else { "DIFFERENT" }
        );
    }
    drop(proxy);

    let text = stats_text(&pair, &trickled)?;
    let sum = |prefix: &str| counter(&text, prefix);
    let rss_after = rss_kib(pid).unwrap_or(0);
    println!("== the server");
    println!(
        "  {} connections, {} requests answered, {} frames steered to user space, {} packets refused",
        sum("trickled_syns_total{"),
        sum("trickled_requests_total{"),
        sum("trickled_xdp_frames_total{verdict=\"steered\"}"),
        sum("trickled_drops_total{")
    );
    println!(
        "  engine memory {} KiB (fixed); process resident {} KiB before the fetches, {} KiB after",
        sum("trickled_engine_memory_bytes{") / 1024,
        rss_before,
        rss_after
    );

    // A crash in the middle of a download: the client keeps the state.
    let (big_name, big) = (RESTART_FILE, content(RESTART_FILE_LEN, 3));
    let big_path = root.join(big_name);
    std::fs::write(&big_path, &big).map_err(|e| e.to_string())?;
    println!("== SIGKILL and restart of trickled during a download of /{big_name}");
    let out = dir.join("get-restart.bin");
    let before = counter(&stats_text(&pair, &trickled)?, "trickled_requests_total{");
    let t = Instant::now();
    let mut get = Proc(
        pair.a
            .command(trickles.to_str().ok_or("path")?)
            .args([
                "get",
                "-q",
                &format!("http://{}/{big_name}", pair.b.addr),
                "-o",
            ])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let answered = wait_for_requests(&pair, &trickled, before + KILL_AFTER_REQUESTS)? - before;
    let killed_after = t.elapsed();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    drop(server);
    println!(
        "  killed trickled (pid {pid}) with SIGKILL {:.2} s into the download, after {answered} requests",
        killed_after.as_secs_f64()
    );
    let (server, rx) = start_server(&pair, &trickled, &keys, &root)?;
    let pid = server.0.id();
    println!(
        "  started it again (pid {pid}) with the same key file, {:.2} s into the download",
        t.elapsed().as_secs_f64()
    );
    let (status, stderr) = get.wait_with_stderr()?;
    let secs = t.elapsed().as_secs_f64();
    let survived = status.success() && std::fs::read(&out).is_ok_and(|b| b == big);
    all_identical &= survived;
    total_bytes += big.len();
    println!(
        "  /{big_name:<14} {:>11} bytes in {secs:6.3} s across the restart {}",
        big.len(),
        if survived { "identical" } else { "DIFFERENT" }
    );
    if !status.success() {
        println!("    {}", stderr.trim());
    }
    let text = stats_text(&pair, &trickled)?;
    println!(
        "  the new process answered {} requests; refused {} made before it started (predates_start)",
        counter(&text, "trickled_requests_total{"),
        counter(
            &text,
            "trickled_drops_total{queue=\"0\",port=\"80\",reason=\"predates_start\"}"
        )
    );

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let mut stopped = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && line.contains("stopped;")
        {
            stopped = true;
            break;
        }
    }
    println!(
        "  SIGTERM: {}",
        if stopped {
            "stopped, XDP program detached"
        } else {
            "did not log its stop"
        }
    );
    drop(server);
    println!(
        "summary: {:.1} MB fetched between namespaces, {}, trickles get {get_rate:.2} Gb/s, curl via proxy {proxy_rate:.2} Gb/s, server RSS {} MiB, {}",
        total_bytes as f64 / 1e6,
        if all_identical {
            "all identical"
        } else {
            "SOME DIFFERENT"
        },
        rss_after / 1024,
        if survived {
            "a download survived a SIGKILL and restart of the server"
        } else {
            "a download did NOT survive a restart of the server"
        }
    );
    Ok(all_identical && stopped)
}

/// The file downloaded across the restart, and its length: large enough
/// that the download is still running when the kill comes.
const RESTART_FILE: &str = "big/restart.bin";
const RESTART_FILE_LEN: usize = 300_000_000;
/// Requests the server answers before it is killed (about 30 MB).
const KILL_AFTER_REQUESTS: u64 = 20_000;

impl Proc {
    /// Wait for the process to exit: its status and standard error.
    fn wait_with_stderr(&mut self) -> Result<(std::process::ExitStatus, String), String> {
        let mut err = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            std::io::Read::read_to_string(&mut stderr, &mut err).map_err(|e| e.to_string())?;
        }
        let status = self.0.wait().map_err(|e| e.to_string())?;
        Ok((status, err))
    }
}

/// Start `trickled serve` of the web files under `root` in the server
/// namespace and wait until it logs that it serves; its log lines.
fn start_server(
    pair: &NetnsPair,
    trickled: &Path,
    keys: &Path,
    root: &Path,
) -> Result<(Proc, Receiver<String>), String> {
    let mut server = pair
        .b
        .command(trickled.to_str().ok_or("path")?)
        .args(["serve", "--interface", &pair.b.ifname, "--key-file"])
        .arg(keys)
        .args(["--service", &format!("80=web:{}", root.display())])
        .args(["--stats-listen", "127.0.0.1:9464", "--log", "info"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting trickled: {e}"))?;
    let stderr = server.stderr.take().ok_or("no stderr")?;
    let server = Proc(server);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            if line.contains("ERROR") || line.starts_with("trickled:") {
                return Err(line);
            }
            if line.contains("serving;") {
                return Ok((server, rx));
            }
        }
    }
    Err("trickled did not start within 20 s".into())
}

/// The server's Prometheus text.
fn stats_text(pair: &NetnsPair, trickled: &Path) -> Result<String, String> {
    let stats = pair
        .b
        .command(trickled.to_str().ok_or("path")?)
        .args(["stats", "--raw", "--stats-listen", "127.0.0.1:9464"])
        .output()
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&stats.stdout).into_owned())
}

/// The sum of the counter lines of `text` that start with `prefix`.
fn counter(text: &str, prefix: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Wait (at most 30 s) until the server has answered `n` requests since
/// it started; how many it had.
fn wait_for_requests(pair: &NetnsPair, trickled: &Path, n: u64) -> Result<u64, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let answered = counter(&stats_text(pair, trickled)?, "trickled_requests_total{");
        if answered >= n {
            return Ok(answered);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "the server did not answer {n} requests within 30 s"
    ))
}

/// Removes the demo's directory, also on failure.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
