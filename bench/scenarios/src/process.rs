//! The servers a scenario starts as separate processes (`trickled`,
//! nginx): stopped when dropped, also when the scenario fails, and read
//! from `/proc` for their memory and CPU time.

use std::process::Child;
use std::time::{Duration, Instant};

/// A server process, stopped (SIGTERM, then killed) when dropped.
#[derive(Debug)]
pub struct Daemon(pub Child);

impl Daemon {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// `Err` (with `name`) if it has exited.
    pub fn check_alive(&mut self, name: &str) -> Result<(), String> {
        match self.0.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => Err(format!("{name} exited: {st}")),
            Err(e) => Err(format!("{name}: {e}")),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        terminate(self.0.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines a process logged on standard error.
pub type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Start `cmd` and wait (at most `timeout`) until it logs a line holding
/// `ready` on standard error; everything it logs is kept.
pub fn spawn_ready(
    mut cmd: std::process::Command,
    ready: &'static str,
    timeout: Duration,
) -> Result<(Daemon, Log), String> {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {:?}: {e}", cmd.get_program()))?;
    let log = Log::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stderr, sink) = (child.stderr.take(), log.clone());
    std::thread::spawn(move || {
        let Some(stderr) = stderr else { return };
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(ready) {
                let _ = tx.send(());
            }
            if let Ok(mut l) = sink.lock() {
                l.push(line);
            }
        }
    });
    let mut daemon = Daemon(child);
    if rx.recv_timeout(timeout).is_err() {
        let _ = daemon.check_alive("it");
        let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
        return Err(format!(
            "{:?} did not log `{ready}` within {timeout:?}:\n{lines}",
            cmd.get_program()
        ));
    }
    Ok((daemon, log))
}

impl Daemon {
    /// SIGKILL, and wait until it is gone.
    pub fn kill_now(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGTERM through kill(1): no unsafe code outside the datapath.
fn terminate(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

/// `VmRSS` and `VmHWM` of `pid`, KiB.
pub fn memory_kib(pid: u32) -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`, fixed at 100
/// by the Linux ABI).
const USER_HZ: u64 = 100;

/// CPU time `pid` has used so far, user and system, all its threads,
/// those that ended included (`utime + stime` of `/proc/PID/stat`, 10 ms
/// resolution).
pub fn cpu_time(pid: u32) -> Result<Duration, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    // The command name (field 2) may hold spaces; fields count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| format!("unreadable {path}"))?;
    let field = |n: usize| -> Result<u64, String> {
        rest.split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no field {n} in {path}"))
    };
    let ticks = field(14)? + field(15)?;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// The child processes of `pid` (e.g. nginx's workers).
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// CPU time of `pid` and its children.
pub fn tree_cpu_time(pid: u32) -> Result<Duration, String> {
    let mut total = cpu_time(pid)?;
    for c in children(pid) {
        total += cpu_time(c).unwrap_or_default();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let (rss, hwm) = memory_kib(pid).unwrap_or_else(|e| panic!("{e}"));
        assert!(rss > 0 && hwm >= rss);
        let before = cpu_time(pid).unwrap_or_else(|e| panic!("{e}"));
        // Burn CPU until the counter moves (a few ticks), for at most 10 s.
        let start = Instant::now();
        let mut x = 0u64;
        let mut after = before;
        while after <= before && start.elapsed() < Duration::from_secs(10) {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            after = cpu_time(pid).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(after > before, "no CPU time counted in 10 s of spinning");
        assert!(memory_kib(u32::MAX).is_err());
    }
}
