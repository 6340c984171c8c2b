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
  demo                 Run the demo: build, seal, send and verify Trickles packets
                       (the foundation demo until the daemon lands; see README.md)
  test                 Run every test in the workspace (what CI runs)
  lint                 cargo fmt --check and cargo clippy -D warnings
  fuzz [SECS] [TARGET] Seed and run the cargo-fuzz targets (nightly), SECS each
                       (default 600); all targets unless one is named
  bench [NAME]         Run the criterion benchmarks (default: crypto)
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
        "trickles-core",
        "--example",
        "demo",
        "--",
    ]);
    c.args(args);
    run(c)
}

fn test() -> Result<(), String> {
    let mut c = cargo();
    c.args(["test", "--workspace", "--all-targets"]);
    run(c)?;
    let mut c = cargo();
    c.args(["test", "--workspace", "--doc"]);
    run(c)
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

fn bench(args: &[String]) -> Result<(), String> {
    let name = args.first().map(String::as_str).unwrap_or("crypto");
    let mut c = cargo();
    c.args(["bench", "-p", "trickles-core", "--bench", name]);
    run(c)
}
