//! `trickled` replicas as processes for the `failover` and `balance`
//! scenarios: serving the synthetic stream with one key file, the
//! balancer on the router, their counters, and a download's goodput over
//! time.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use trickles_xdp::netns::{End, Fleet};
use trickles_xdp::scenario::{Fetch, FetchReport, SERVER_PORT, fetch_many};

use crate::process::{Daemon, Log, spawn_ready};

/// Each daemon's stats endpoint, inside its own namespace.
pub const STATS: &str = "127.0.0.1:9464";
/// Seed of the synthetic stream downloaded.
pub const SEED: u64 = 17;

/// Write a key file into `dir` (fixed keys: a benchmark's).
pub fn key_file(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("keys.toml");
    std::fs::write(
        &path,
        format!(
            "epoch = 1\nserver_key = \"{}\"\napp_key = \"{}\"\n",
            "3c".repeat(16),
            "c3".repeat(16)
        ),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// `trickled serve` of the synthetic stream on port 80 in `end`, once it
/// serves.
pub fn serve(trickled: &Path, end: &End, keys: &Path) -> Result<Daemon, String> {
    let mut c = end.command(&trickled.display().to_string());
    c.args(["serve", "--interface", &end.ifname, "--queues", "0"])
        .args(["--service", &format!("{SERVER_PORT}=synthetic")])
        .args(["--stats-listen", STATS, "--key-file"])
        .arg(keys);
    spawn_ready(c, "serving;", Duration::from_secs(20)).map(|(d, _)| d)
}

/// `trickled serve`, started without waiting (a restart: the client's
/// stall includes the start-up).
pub fn serve_now(trickled: &Path, end: &End, keys: &Path) -> Result<Daemon, String> {
    let child = end
        .command(&trickled.display().to_string())
        .args(["serve", "--interface", &end.ifname, "--queues", "0"])
        .args(["--service", &format!("{SERVER_PORT}=synthetic")])
        .args(["--stats-listen", STATS, "--log", "warn", "--key-file"])
        .arg(keys)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", trickled.display()))?;
    Ok(Daemon(child))
}

/// `trickled balance` on the router of `fleet` over the servers
/// `replicas`, in `mode` ("ecmp" or "spray"), once it balances.
pub fn balancer(
    trickled: &Path,
    fleet: &Fleet,
    mode: &str,
    replicas: &[usize],
) -> Result<(Daemon, Log), String> {
    let mut c = fleet.router_command(&trickled.display().to_string());
    c.args(["balance", "--vip", &Fleet::VIP.to_string(), "--mode", mode]);
    for &i in replicas {
        c.args(["--replica", &fleet.servers[i].addr.to_string()]);
    }
    if mode == "spray" {
        c.args(["--ingress", &fleet.router_to_client]);
    }
    spawn_ready(c, "balancing;", Duration::from_secs(20))
}

/// The sum of a daemon's counter lines starting with `prefix` (0 if it
/// does not answer).
pub fn counter(trickled: &Path, end: &End, prefix: &str) -> u64 {
    end.command(&trickled.display().to_string())
        .args(["stats", "--raw", "--stats-listen", STATS])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// Requests a replica answered so far.
pub fn requests(trickled: &Path, end: &End) -> u64 {
    counter(trickled, end, "trickled_requests_total{")
}

/// A download running on its own thread.
#[derive(Debug)]
pub struct Running {
    /// Bytes received in order so far, over all connections.
    pub watch: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<Result<Vec<FetchReport>, String>>,
}

impl Running {
    /// Start `n` downloads of `size` bytes from `client` to `server`.
    pub fn start(client: &End, server: Ipv4Addr, size: u64, n: usize) -> Running {
        let watch = Arc::new(AtomicU64::new(0));
        let f = Fetch {
            watch: Some(watch.clone()),
            deadline: Duration::from_secs(120),
            ..Fetch::stream(size, SEED)
        };
        let client = client.clone();
        let thread = std::thread::spawn(move || {
            fetch_many(&client, server, &f, n).map_err(|e| format!("fetch: {e}"))
        });
        Running { watch, thread }
    }

    /// Wait until `bytes` have arrived (at most 60 s).
    pub fn wait_for(&self, bytes: u64) -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs(60);
        while self.watch.load(Ordering::Relaxed) < bytes {
            if Instant::now() > until || self.thread.is_finished() {
                return Err(format!("the download did not reach {bytes} bytes"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// The reports, once every download ended.
    pub fn finish(self) -> Result<Vec<FetchReport>, String> {
        self.thread
            .join()
            .map_err(|_| "the download thread panicked".to_string())?
    }
}

/// Every download complete and every byte as served.
pub fn intact(reports: &[FetchReport], size: u64) -> bool {
    reports.iter().all(|f| {
        f.complete
            && f.data.len() as u64 == size
            && trickles_core::synthetic::stream_mismatches(SEED, 0, &f.data) == 0
    })
}

/// Goodput over time from a download's progress: (seconds, Mb/s) every
/// `step`, each the bytes that arrived in order during the `window`
/// before it (a sliding window, so a hole's bytes that arrive at once
/// after a stall do not make one tall spike).
pub fn goodput_series(
    progress: &[(Duration, u64)],
    window: Duration,
    step: Duration,
) -> Vec<(f64, f64)> {
    let Some(&(end, _)) = progress.last() else {
        return Vec::new();
    };
    // Bytes in order at time t: the last sample at or before t.
    let at = |t: Duration| -> u64 {
        match progress.partition_point(|(s, _)| *s <= t) {
            0 => 0,
            i => progress[i - 1].1,
        }
    };
    let steps = (end.as_secs_f64() / step.as_secs_f64()).ceil() as u32 + 1;
    (0..=steps)
        .map(|i| {
            let t = step * i;
            let from = t.saturating_sub(window);
            let bytes = at(t) - at(from);
            let span = (t - from).as_secs_f64().max(1e-9);
            (t.as_secs_f64(), bytes as f64 * 8.0 / span / 1e6)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodput_is_a_sliding_window_rate() {
        let ms = Duration::from_millis;
        // 1 MB every 10 ms for 100 ms: 800 Mb/s, then a 100 ms stall.
        let p: Vec<(Duration, u64)> = (1..=10).map(|i| (ms(10 * i), 1_000_000 * i)).collect();
        let mut q = p.clone();
        q.push((ms(200), 10_000_000));
        let g = goodput_series(&q, ms(50), ms(10));
        assert_eq!(g.len(), 22);
        assert!((g[10].1 - 800.0).abs() < 1e-6, "{g:?}");
        assert_eq!(g[19].1, 0.0);
        assert!(goodput_series(&[], ms(50), ms(10)).is_empty());
    }
}
