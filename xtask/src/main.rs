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
                       checks, and a simulated transfer against TCP Reno with the
                       server's memory (until the daemon lands; see README.md)
  test                 Run every test in the workspace (what CI runs)
  lint                 cargo fmt --check and cargo clippy -D warnings
  fuzz [SECS] [TARGET] Seed and run the cargo-fuzz targets (nightly), SECS each
                       (default 600); all targets unless one is named
  bench [RUNS]         Run the criterion micro-benchmarks (wire parse/checksum and
                       crypto) RUNS times (default 3) and write the median of the
                       per-run medians to bench/results/crypto.md
  help                 This text
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match task {
        "demo" => demo(rest),
        "test" => test(),
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
    run(c)
}

fn test() -> Result<(), String> {
    ensure_system_packages()?;
    let mut totals = (0u64, 0u64);
    let mut c = cargo();
    c.args(["test", "--workspace", "--doc"]);
    let doc = run_counting(c, &mut totals);
    let mut c = cargo();
    c.args(["test", "--workspace", "--all-targets"]);
    let all = run_counting(c, &mut totals);
    // One closing line for the whole suite (doc tests and every target).
    println!("tests: {} passed, {} failed", totals.0, totals.1);
    doc.and(all)
}

/// System packages the datapath tests need: (command or file that shows
/// it is installed, Debian package).
const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    ("clang", "clang"),
    ("/usr/include/bpf/bpf_helpers.h", "libbpf-dev"),
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
];

/// Install the packages of [`SYSTEM_PACKAGES`] that are missing (as root,
/// with apt-get, saying so), or say what to install.
fn ensure_system_packages() -> Result<(), String> {
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
    let missing: Vec<&str> = SYSTEM_PACKAGES
        .iter()
        .filter(|(probe, _)| !present(probe))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !is_root || !present("apt-get") {
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
const MICRO_BENCHES: &[(&str, &str)] = &[("trickles-wire", "wire"), ("trickles-core", "crypto")];

fn bench(args: &[String]) -> Result<(), String> {
    let runs: usize = match args.first() {
        Some(s) => s
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("bench: `{s}` is not a positive number of runs"))?,
        None => 3,
    };
    let criterion_dir = root().join("target/criterion");
    // name -> median (ns) of each run
    let mut medians: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for run_no in 1..=runs {
        let _ = std::fs::remove_dir_all(&criterion_dir);
        for (pkg, name) in MICRO_BENCHES {
            let mut c = cargo();
            c.args(["bench", "-p", pkg, "--bench", name, "--", "--noplot"]);
            run(c)?;
        }
        collect_medians(&criterion_dir, &criterion_dir, &mut medians)?;
        eprintln!("xtask: bench run {run_no}/{runs} done");
    }
    let out = root().join("bench/results/crypto.md");
    let table = medians_table(&medians);
    let text = format!(
        "{}\n## Results\n\nMachine: {}, {} cores. Command: `cargo xtask bench {runs}` ({runs} runs; each cell is the \
         median over the runs of criterion's per-run median). Nothing else ran on the machine.\n\n{table}",
        read_preamble(&out),
        cpu_model(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
    );
    std::fs::write(&out, text).map_err(|e| format!("writing {}: {e}", out.display()))?;
    println!("{table}");
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
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
