//! `cargo xtask`: the one place that runs the project's tasks.
//!
//! Each task is a thin sequence of cargo (and later clang, ip, namespace)
//! commands; every command is printed before it runs, and the first failure
//! stops the task with its exit status.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
cargo xtask <task> [args]

Tasks:
  demo                 Run the demo: Trickles frames byte by byte, the server's
                       checks, a simulated transfer against TCP Reno; then (as
                       root) trickled in one network namespace serving a file
                       tree, fetched from another with trickles get and with curl
                       through trickles proxy, bytes compared, throughput and the
                       server's memory printed
  test                 Run every test in the workspace, then netns-test (what CI
                       runs); installs clang, libbpf-dev, iproute2, iputils-ping
                       with apt-get when missing and run as root
  netns-test           The datapath and daemon tests between network namespaces,
                       release build: BPF verdicts, a 100 MB AF_XDP download against
                       the raw frame rate, 1% injected loss, kernel traffic beside
                       it, no allocation per packet, trickled serving, reloading
                       keys, refusing misconfigurations, the client tools; a
                       daemon killed and restarted mid-download, replicas behind
                       trickled balance (a replica killed under ECMP and under
                       per-packet spraying, the spray's balance, a rolling key
                       rotation, replayed requests); and a pktgen flood of
                       forged, malformed and replayed requests.
                       Needs root. Removes every namespace it made, even if the
                       tests crash or are interrupted
  lint                 cargo fmt --check and cargo clippy -D warnings
  fuzz [SECS] [TARGET] Seed and run the cargo-fuzz targets (nightly), SECS each
                       (default 600); all targets unless one is named
  bench <NAME> [--runs N]
                       A benchmark, N runs (default 5), medians written under
                       bench/results/:
                         micro   criterion suites (wire, crypto, engine) -> crypto.md
                         engine  the server engine alone, request -> response,
                                 with full verification -> engine.json
                         bulk    (root) 1 and 4 downloads on a veth pair: Trickles
                                 on AF_XDP vs kernel Reno/CUBIC, offloads off and
                                 default, and the raw AF_XDP rate -> bulk.json
                         objects (root) a new connection per request, 1-500 KB:
                                 trickled vs nginx + wrk -> objects.json
                         clients (root) 1k-100k clients: trickled's memory vs
                                 nginx + kernel sockets -> clients.json
                         flood   (root) a download while pktgen floods forged,
                                 malformed and replayed requests -> flood.json
                         friendliness (root) one Trickles flow vs N kernel Reno
                                 flows through a bottleneck -> friendliness.json
                         failover (root) a download across trickled's SIGKILL and
                                 restart, and across a replica killed under
                                 ECMP and under per-packet spraying -> failover.json
                         balance (root) one and four connections sprayed per
                                 packet over two replicas vs one -> balance.json
                       Scenarios create and remove their own namespaces, also when
                       they fail
  bench-datapath [RUNS] The datapath benchmark (root): per run, on a fresh veth pair
                       between namespaces, the raw AF_XDP frame rate, a 100 MB
                       Trickles download over AF_XDP and a kernel TCP download;
                       medians of RUNS runs (default 5) to bench/results/datapath.md
  help                 This text
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match task {
        "demo" => demo(rest),
        "test" => test(),
        "netns-test" => netns_test().map(drop),
        "bench-datapath" => bench_datapath(rest),
        "lint" => lint(),
        "fuzz" => fuzz(rest),
        "bench" => bench(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // xtask/ lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut cmd: Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn demo(args: &[String]) -> Result<(), String> {
    let mut c = cargo();
    c.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "trickles-sim",
        "--example",
        "demo",
        "--",
    ]);
    c.args(args);
    run(c)?;
    // The real thing: trickled and the client tools between two
    // namespaces (the last line is the summary).
    if !is_root() {
        println!("daemon demo skipped: namespaces, XDP and AF_XDP need root");
        return Ok(());
    }
    ensure_system_packages()?;
    let mut c = cargo();
    c.args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "trickled",
        "--bins",
        "--example",
        "demo",
    ]);
    run(c)?;
    with_netns_reaper(|prefix| {
        let target = env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        let mut c = Command::new(target.join("release/examples/demo"));
        c.env(NETNS_PREFIX_ENV, prefix);
        run(c)
    })
}

fn test() -> Result<(), String> {
    ensure_system_packages()?;
    let mut totals = (0u64, 0u64);
    let mut c = cargo();
    c.args(["test", "--workspace", "--doc"]);
    let doc = run_counting(c, &mut totals);
    let all = with_netns_reaper(|prefix| {
        let mut c = cargo();
        c.args(["test", "--workspace", "--all-targets"])
            .env(NETNS_PREFIX_ENV, prefix);
        run_counting(c, &mut totals)
    });
    let netns = netns_test().map(|(passed, failed)| {
        totals.0 += passed;
        totals.1 += failed;
    });
    // One closing line for the whole suite (doc tests and every target).
    println!("tests: {} passed, {} failed", totals.0, totals.1);
    doc.and(all).and(netns)
}

/// Environment variable that names the prefix of the namespaces tests
/// make (`trickles_xdp::netns::PREFIX_ENV`).
const NETNS_PREFIX_ENV: &str = "TRICKLES_NETNS_PREFIX";

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Namespaces whose names start with `prefix`.
fn namespaces_with(prefix: &str) -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|n| n.starts_with(prefix))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Run `f` with a namespace prefix unique to this run, while a reaper
/// process outside our process group waits for us to exit (however we
/// exit: success, failure, Ctrl-C, kill) and then deletes every namespace
/// with that prefix. Deleting a namespace deletes the veth end inside it;
/// XDP programs go with the test process's bpf_links. Afterwards, any
/// namespace left behind is removed and reported as a failure.
fn with_netns_reaper<T>(f: impl FnOnce(&str) -> Result<T, String>) -> Result<T, String> {
    use std::os::unix::process::CommandExt;
    let prefix = format!("trkx{}-", std::process::id());
    if is_root() {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             for ns in $(ip netns list | awk '{{print $1}}' | grep '^{prefix}'); do ip netns del \"$ns\"; done",
            pid = std::process::id()
        );
        // Its own process group: a Ctrl-C to ours does not reach it.
        let spawned = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn();
        if let Err(e) = spawned {
            return Err(format!("could not start the namespace reaper: {e}"));
        }
    }
    let result = f(&prefix);
    let left = namespaces_with(&prefix);
    if left.is_empty() {
        return result;
    }
    for ns in &left {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
    result.and(Err(format!(
        "tests left namespaces behind: {left:?} (removed)"
    )))
}

/// `cargo xtask bench-datapath [RUNS]`.
fn bench_datapath(args: &[String]) -> Result<(), String> {
    ensure_system_packages()?;
    if !is_root() {
        return Err("bench-datapath needs root (namespaces, XDP, AF_XDP)".into());
    }
    let runs = args.first().map_or("5", String::as_str).to_owned();
    with_netns_reaper(|prefix| {
        let mut c = cargo();
        c.args([
            "run",
            "--release",
            "-p",
            "trickles-xdp",
            "--example",
            "datapath_bench",
            "--",
            "--runs",
            &runs,
            "--out",
            "bench/results/datapath.md",
        ])
        .env(NETNS_PREFIX_ENV, prefix);
        run(c)
    })
}

/// `cargo xtask netns-test`: the datapath's kernel tests in a release
/// build. Returns the (passed, failed) counts.
fn netns_test() -> Result<(u64, u64), String> {
    ensure_system_packages()?;
    if !is_root() {
        eprintln!("xtask: netns-test SKIPPED: namespaces, XDP and AF_XDP need root");
        return Ok((0, 0));
    }
    let mut totals = (0u64, 0u64);
    with_netns_reaper(|prefix| {
        let mut c = cargo();
        c.args([
            "test",
            "--release",
            "-p",
            "trickles-xdp",
            "--test",
            "bpf_verdicts",
            "--test",
            "netns",
            "--test",
            "no_alloc",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NETNS_PREFIX_ENV, prefix);
        let xdp = run_counting(c, &mut totals);
        // The replay test of `fleet` sends with pktgen.
        let mut c = cargo();
        c.args(["build", "--release", "-p", "pktgen"]);
        run(c)?;
        let mut c = cargo();
        c.args([
            "test",
            "--release",
            "-p",
            "trickled",
            "--test",
            "daemon",
            "--test",
            "tools",
            "--test",
            "fleet",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NETNS_PREFIX_ENV, prefix);
        let daemon = run_counting(c, &mut totals);
        let mut c = cargo();
        c.args([
            "test",
            "--release",
            "-p",
            "pktgen",
            "--test",
            "flood",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NETNS_PREFIX_ENV, prefix);
        let flood = run_counting(c, &mut totals);
        xdp.and(daemon).and(flood)
    })?;
    let veths = Command::new("ip")
        .args(["-o", "link", "show", "type", "veth"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if veths.contains("veth-a") || veths.contains("veth-b") {
        return Err(format!(
            "a test veth was left in the root namespace:\n{veths}"
        ));
    }
    let mut c = cargo();
    c.args([
        "run",
        "--release",
        "-q",
        "-p",
        "trickles-xdp",
        "--example",
        "leftovers",
    ]);
    run(c).map_err(|e| format!("XDP programs were left loaded: {e}"))?;
    println!(
        "netns-test: {} passed, {} failed; no namespace, veth or XDP program left behind",
        totals.0, totals.1
    );
    Ok(totals)
}

/// System packages the datapath tests need: (command or file that shows
/// it is installed, Debian package).
const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    ("clang", "clang"),
    ("/usr/include/bpf/bpf_helpers.h", "libbpf-dev"),
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("curl", "curl"),
    ("python3", "python3"),
    ("setpriv", "util-linux"),
    ("nft", "nftables"),
];

/// Install the packages of [`SYSTEM_PACKAGES`] that are missing (as root,
/// with apt-get, saying so), or say what to install.
fn ensure_system_packages() -> Result<(), String> {
    ensure_packages(SYSTEM_PACKAGES)
}

/// What the scenario benchmarks need beyond [`SYSTEM_PACKAGES`].
const BENCH_PACKAGES: &[(&str, &str)] = &[
    ("ethtool", "ethtool"),
    ("tc", "iproute2"),
    ("nginx", "nginx"),
    ("wrk", "wrk"),
];

/// Install the missing ones of `packages` ((probe, Debian package)).
fn ensure_packages(packages: &[(&str, &str)]) -> Result<(), String> {
    let present = |probe: &str| {
        if probe.starts_with('/') {
            Path::new(probe).exists()
        } else {
            Command::new("sh")
                .args(["-c", &format!("command -v {probe}")])
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }
    };
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(probe, _)| !present(probe))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() || !present("apt-get") {
        return Err(format!(
            "the XDP datapath tests need these packages: {} (Debian: apt-get install {})",
            missing.join(", "),
            missing.join(" ")
        ));
    }
    eprintln!(
        "xtask: installing {} (needed to build and test the XDP program)",
        missing.join(" ")
    );
    let mut update = Command::new("apt-get");
    update.args(["update", "-q"]);
    run(update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(install)
}

/// Run a `cargo test` command, echo its output, and add up the counts of
/// its `test result:` lines into `totals` (passed, failed).
fn run_counting(mut cmd: Command, totals: &mut (u64, u64)) -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    eprintln!("xtask: running {cmd:?}");
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let count = |word: &str| -> u64 {
                    rest.split(';')
                        .find_map(|part| {
                            let part = part
                                .trim()
                                .trim_start_matches("ok. ")
                                .trim_start_matches("FAILED. ");
                            part.strip_suffix(word).and_then(|n| n.trim().parse().ok())
                        })
                        .unwrap_or(0)
                };
                totals.0 += count(" passed");
                totals.1 += count(" failed");
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn lint() -> Result<(), String> {
    let mut c = cargo();
    c.args(["fmt", "--all", "--", "--check"]);
    run(c)?;
    let mut c = cargo();
    c.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(c)
}

const FUZZ_TARGETS: &[&str] = &["frame", "trickles_packet", "sections", "open_request"];

fn fuzz(args: &[String]) -> Result<(), String> {
    let secs: u64 = match args.first() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("fuzz: `{s}` is not a number of seconds"))?,
        None => 600,
    };
    let targets: Vec<&str> = match args.get(1) {
        Some(t) if FUZZ_TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => {
            return Err(format!(
                "fuzz: unknown target `{t}`; targets: {FUZZ_TARGETS:?}"
            ));
        }
        None => FUZZ_TARGETS.to_vec(),
    };
    let corpus = root().join("fuzz/corpus");
    let mut c = cargo();
    c.args([
        "run",
        "--quiet",
        "-p",
        "trickles-wire",
        "--example",
        "fuzz_seeds",
        "--",
    ]);
    c.arg(&corpus);
    run(c)?;
    for t in targets {
        let mut c = Command::new("cargo");
        c.current_dir(root().join("fuzz"));
        c.args(["+nightly", "fuzz", "run", t])
            .arg(corpus.join(t))
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            .arg("-max_len=4096")
            .arg("-print_final_stats=1");
        run(c)?;
    }
    Ok(())
}

/// The micro-benchmark suites: (package, bench target).
const MICRO_BENCHES: &[(&str, &str)] = &[
    ("trickles-wire", "wire"),
    ("trickles-core", "crypto"),
    ("trickles-core", "engine"),
];

/// The scenarios `trickles-bench` runs.
const SCENARIOS: &[&str] = &[
    "bulk",
    "objects",
    "clients",
    "flood",
    "friendliness",
    "failover",
    "balance",
];

/// `cargo xtask bench <name> [--runs N]`.
fn bench(args: &[String]) -> Result<(), String> {
    let usage = || {
        format!(
            "usage: cargo xtask bench <micro|engine|{}> [--runs N]",
            SCENARIOS.join("|")
        )
    };
    let name = args.first().ok_or_else(usage)?.as_str();
    let runs: usize = match &args[1..] {
        [] => 5,
        [flag, n] if flag == "--runs" => n
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("bench: `{n}` is not a positive number of runs"))?,
        _ => return Err(usage()),
    };
    match name {
        "micro" => bench_micro(runs),
        "engine" => bench_engine(runs),
        s if SCENARIOS.contains(&s) => bench_scenario(s, runs),
        _ => Err(usage()),
    }
}

/// Run criterion suites `runs` times; name -> each run's median (ns).
fn criterion_medians(
    suites: &[(&str, &str)],
    runs: usize,
) -> Result<std::collections::BTreeMap<String, Vec<f64>>, String> {
    let criterion_dir = root().join("target/criterion");
    let mut medians: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for run_no in 1..=runs {
        let _ = std::fs::remove_dir_all(&criterion_dir);
        for (pkg, name) in suites {
            let mut c = cargo();
            c.args(["bench", "-p", pkg, "--bench", name, "--", "--noplot"]);
            run(c)?;
        }
        collect_medians(&criterion_dir, &criterion_dir, &mut medians)?;
        eprintln!("xtask: bench run {run_no}/{runs} done");
    }
    Ok(medians)
}

fn bench_micro(runs: usize) -> Result<(), String> {
    let medians = criterion_medians(MICRO_BENCHES, runs)?;
    let out = root().join("bench/results/crypto.md");
    let table = medians_table(&medians);
    let text = format!(
        "{}\n## Results\n\nMachine: {}, {} cores. Command: `cargo xtask bench micro --runs {runs}` ({runs} runs; each cell is the \
         median over the runs of criterion's per-run median). Nothing else ran on the machine.\n\n{table}",
        read_preamble(&out),
        cpu_model(),
        cores(),
    );
    std::fs::write(&out, text).map_err(|e| format!("writing {}: {e}", out.display()))?;
    println!("{table}");
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0)
}

/// The engine benchmark's criterion id.
const ENGINE_BENCH: &str = "engine/request_to_response";

/// `cargo xtask bench engine`: requests per second per core of the server
/// engine, from criterion's per-run medians.
fn bench_engine(runs: usize) -> Result<(), String> {
    let medians = criterion_medians(&[("trickles-core", "engine")], runs)?;
    let ns = medians
        .get(ENGINE_BENCH)
        .ok_or_else(|| format!("criterion reported no `{ENGINE_BENCH}`"))?;
    let mut sorted = ns.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    let doc = serde_json::json!({
        "scenario": "engine",
        "command": format!("cargo xtask bench engine --runs {runs}"),
        "machine": format!("{}, {} cores", cpu_model(), cores()),
        "what": "crates/trickles-core/benches/engine.rs: requests captured from a loss-free 400 MB in-memory \
                 transfer replayed into fresh server engines, each answered with full verification \
                 (continuation MAC, replay table, SACK proof) and sealed responses of 1514-byte frames; \
                 one thread",
        "summary": {
            "engine_requests_per_s_per_core": 1e9 / median,
            "ns_per_request": median,
            "runs": runs,
        },
        "runs": ns.iter().enumerate().map(|(i, ns)| serde_json::json!({
            "run": i + 1, "ns_per_request": ns, "requests_per_s": 1e9 / ns,
        })).collect::<Vec<_>>(),
    });
    let out = root().join("bench/results/engine.json");
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n";
    std::fs::write(&out, text).map_err(|e| format!("writing {}: {e}", out.display()))?;
    println!(
        "engine: {median:.1} ns per request -> response, {:.0} requests/s on one core (median of {runs} runs)",
        1e9 / median
    );
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}

/// `cargo xtask bench <scenario>`: the release `trickles-bench` (and the
/// pktgen and trickled binaries it drives) under the namespace reaper.
fn bench_scenario(name: &str, runs: usize) -> Result<(), String> {
    ensure_system_packages()?;
    ensure_packages(BENCH_PACKAGES)?;
    if !is_root() {
        return Err(format!("bench {name} needs root (namespaces, XDP, AF_XDP)"));
    }
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "trickles-bench",
        "-p",
        "pktgen",
        "-p",
        "trickled",
    ]);
    run(build)?;
    let bin = root().join("target/release/trickles-bench");
    with_netns_reaper(|prefix| {
        let mut c = Command::new(&bin);
        c.args([name, "--runs", &runs.to_string(), "--out"])
            .arg(root().join("bench/results"))
            .env(NETNS_PREFIX_ENV, prefix);
        run(c)
    })
}

/// Keep the hand-written part of a results file (everything before
/// `## Results`).
fn read_preamble(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.find("## Results") {
        Some(i) => text[..i].trim_end().to_string() + "\n",
        None => "# Micro-benchmarks\n".to_string(),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Walk target/criterion and take `median.point_estimate` (ns) from every
/// `new/estimates.json`.
fn collect_medians(
    root: &Path,
    dir: &Path,
    out: &mut std::collections::BTreeMap<String, Vec<f64>>,
) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let est = path.join("new/estimates.json");
        if est.is_file() {
            let text =
                std::fs::read_to_string(&est).map_err(|e| format!("{}: {e}", est.display()))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", est.display()))?;
            let median = v["median"]["point_estimate"]
                .as_f64()
                .ok_or_else(|| format!("{}: no median", est.display()))?;
            let name = path
                .strip_prefix(root)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            out.entry(name).or_default().push(median);
        } else if path.file_name().is_some_and(|n| n != "report") {
            collect_medians(root, &path, out)?;
        }
    }
    Ok(())
}

fn medians_table(m: &std::collections::BTreeMap<String, Vec<f64>>) -> String {
    let mut t =
        String::from("| benchmark | median (ns) | per-run medians (ns) |\n|---|---:|---|\n");
    for (name, runs) in m {
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let all: Vec<String> = runs.iter().map(|x| format!("{x:.1}")).collect();
        t.push_str(&format!(
            "| `{name}` | {median:.1} | {} |\n",
            all.join(", ")
        ));
    }
    t
}
