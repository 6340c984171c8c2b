//! What the daemon's namespace tests share: running `trickled` (serve or
//! balance) as a process with its log captured, key files, scratch
//! directories, and reading a daemon's counters.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::panic,
    clippy::expect_used
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use trickles_xdp::netns::End;

pub const BIN: &str = env!("CARGO_BIN_EXE_trickled");

/// True when running as root; otherwise logs the skip.
pub fn root() -> bool {
    let ok = trickles_xdp::running_as_root();
    if !ok {
        eprintln!("SKIPPED: network namespaces and AF_XDP need root");
    }
    ok
}

/// A fresh directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trickled-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A key file for `epoch` whose keys are `fill` repeated.
pub fn write_keys(path: &Path, epoch: u8, fill: u8) {
    let hex = |b: u8| format!("{b:02x}").repeat(16);
    std::fs::write(
        path,
        format!(
            "epoch = {epoch}\nserver_key = \"{}\"\napp_key = \"{}\"\n",
            hex(fill),
            hex(fill.wrapping_add(1))
        ),
    )
    .unwrap();
}

/// A `trickled` process and the lines it logged.
pub struct Daemon {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// `trickled serve --interface <end's> ARGS` in `end`'s namespace,
    /// once it logs that it serves.
    pub fn start(end: &End, args: &[&str]) -> Daemon {
        let mut c = end.command(BIN);
        c.args(["serve", "--interface", &end.ifname]).args(args);
        Daemon::spawn(c, "serving;")
    }

    /// Run `cmd` (a `trickled` command line) until it logs `ready`.
    pub fn spawn(mut cmd: Command, ready: &'static str) -> Daemon {
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(ready) {
                    let _ = ready_tx.send(());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let d = Daemon { child, log };
        if ready_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            panic!("trickled did not start: {:?}", d.lines());
        }
        d
    }

    /// The lines logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.lines()
    }

    /// SIGTERM, then the exit status and the log.
    pub fn stop(mut self) -> (bool, Vec<String>) {
        self.signal("TERM");
        let mut status = None;
        for _ in 0..200 {
            if let Some(s) = self.child.try_wait().unwrap() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = status.unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("trickled did not stop within 10 s of SIGTERM");
        });
        std::thread::sleep(Duration::from_millis(100));
        (status.success(), self.lines())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True if an XDP program is attached to `end`'s interface.
pub fn xdp_attached(end: &End) -> bool {
    let out = Command::new("ip")
        .args(["-n", &end.netns, "link", "show", "dev", &end.ifname])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("xdp")
}

/// The sum of the daemon's counter lines starting with `prefix`, read
/// from its stats endpoint `listen` in `end`'s namespace (0 if the
/// daemon does not answer).
pub fn counter(end: &End, listen: &str, prefix: &str) -> u64 {
    let out = end
        .command(BIN)
        .args(["stats", "--raw", "--stats-listen", listen])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
