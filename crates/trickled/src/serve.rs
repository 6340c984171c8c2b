//! `trickled serve`: check the configuration against the machine, attach
//! the steering program, run one pinned worker per queue with the
//! services, and live until SIGINT or SIGTERM; SIGHUP reloads the key
//! file (a new epoch; the previous key stays valid for the grace period,
//! so no connection is dropped). Every refusal is one line, returned as
//! an error before anything stays attached.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use trickles_core::crypto::keys::EpochInUse;
use trickles_wire::KeyEpoch;
use trickles_xdp::clock::ServerClock;
use trickles_xdp::keys::SharedKeys;
use trickles_xdp::runtime::{self, QueuePlan};
use trickles_xdp::{ModeRequest, UmemConfig, WorkerConfig, XdpMode, neighbour};

use crate::config::{BindSpec, ServeConfig, XdpModeSpec};
use crate::keyfile::KeyFile;
use crate::services::Services;
use crate::stats::{Board, serve_http};

/// Check what can be checked before attaching anything.
fn preflight(cfg: &ServeConfig) -> Result<(KeyFile, u32), String> {
    if !trickles_xdp::running_as_root() {
        return Err("trickled serve needs root (XDP, AF_XDP and BPF maps need CAP_NET_ADMIN, CAP_BPF and CAP_NET_RAW)".into());
    }
    if !trickles_xdp::SteeringProgram::is_built() {
        return Err("the XDP program was not built: clang was missing when trickled was compiled (apt-get install clang libbpf-dev, then rebuild)".into());
    }
    let keys = KeyFile::load(&cfg.key_file)?;
    let ifindex = neighbour::ifindex(&cfg.interface)
        .map_err(|_| format!("no such interface: {} (see `ip link`)", cfg.interface))?;
    let queues = runtime::rx_queue_count(&cfg.interface)
        .map_err(|e| format!("interface {}: {e}", cfg.interface))?;
    if let Some(q) = cfg.queues.iter().find(|&&q| q >= queues) {
        return Err(format!(
            "queue {q} is out of range: {} has {queues} receive queue{} (0-{})",
            cfg.interface,
            if queues == 1 { "" } else { "s" },
            queues - 1
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(c) = cfg.cores.iter().find(|&&c| c >= cpus) {
        return Err(format!(
            "core {c} is out of range: this machine has {cpus} (0-{})",
            cpus - 1
        ));
    }
    Ok((keys, ifindex))
}

/// Make the shared rings hold what `file` lists: its current epoch to
/// seal with, its other epochs accepted. Returns the epochs the rings
/// still accept that the file no longer lists (to retire after the grace
/// period, so connections made under them can finish).
fn apply_key_file(keys: &SharedKeys, file: &KeyFile) -> Result<Vec<KeyEpoch>, String> {
    let refused = |e: EpochInUse| format!("key file refused: {e}");
    if keys.epochs().0 != file.epoch {
        keys.rotate_server(file.server_keys()).map_err(refused)?;
        keys.rotate_app(file.app_key()).map_err(refused)?;
    }
    for a in &file.accepted {
        keys.accept(a.server_keys(), a.app_key()).map_err(refused)?;
    }
    let listed = file.epochs();
    let (_, accepted) = keys.epochs();
    Ok(accepted
        .into_iter()
        .filter(|e| !listed.contains(e))
        .collect())
}

/// Serve until a signal says stop. `ready` is set once every worker runs.
pub fn serve(cfg: &ServeConfig, ready: Option<Arc<AtomicBool>>) -> Result<(), String> {
    let (keyfile, ifindex) = preflight(cfg)?;
    let keys = SharedKeys::new(keyfile.server_keys(), keyfile.app_key());
    apply_key_file(&keys, &keyfile)?;
    let mut epoch = keyfile.epoch;
    let accepted: Vec<KeyEpoch> = keyfile.accepted.iter().map(|a| a.epoch).collect();
    drop(keyfile);
    // Build the engines once to surface app errors (a missing root) now.
    Services::new(&cfg.services, &keys, 1024).map_err(|e| e.to_string())?;

    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())
        .map_err(|e| format!("signal handler: {e}"))?;

    let plan = QueuePlan {
        ifname: cfg.interface.clone(),
        queues: cfg.queues.clone(),
        cores: cfg.cores.clone(),
        ports: cfg.services.iter().map(|s| s.port).collect(),
        xdp_mode: match cfg.xdp_mode {
            XdpModeSpec::Auto => None,
            XdpModeSpec::Driver => Some(XdpMode::Driver),
            XdpModeSpec::Skb => Some(XdpMode::Skb),
        },
        bind: match cfg.bind_mode {
            BindSpec::Auto => ModeRequest::Auto,
            BindSpec::Copy => ModeRequest::Copy,
            BindSpec::Zerocopy => ModeRequest::ZeroCopy,
        },
        umem: UmemConfig::default(),
        worker: WorkerConfig::default(),
        tx_budget: 0,
        pcap_dir: cfg.pcap_dir.clone(),
    };
    if let Some(dir) = &cfg.pcap_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("pcap directory {}: {e}", dir.display()))?;
    }
    let board = Arc::new(Board::default());
    // Ordinary TCP clients of the same ports get the same bytes from the
    // kernel's TCP.
    let mut listeners = Vec::new();
    for s in &cfg.services {
        listeners.push(crate::kernel::listen(s, stop.clone()).map_err(|e| e.to_string())?);
    }
    let stats_server = match cfg.stats_listen {
        Some(addr) => {
            Some(serve_http(addr, board.clone(), stop.clone()).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let worker_keys = keys.clone();
    let services = cfg.services.clone();
    let replay_entries = cfg.replay_entries;
    let worker_stop = stop.clone();
    let worker_board = board.clone();
    let started = Arc::new(AtomicBool::new(false));
    let started_w = started.clone();
    let workers = std::thread::Builder::new()
        .name("trickled-workers".into())
        .spawn(move || {
            runtime::serve_queues_started(
                &plan,
                |queue| {
                    started_w.store(true, Ordering::Relaxed);
                    tracing::debug!(queue, "worker started");
                    // Checked above: a root that vanished since is the
                    // only failure, and then the worker serves nothing.
                    let mut engines = Services::new(&services, &worker_keys, replay_entries)
                        .unwrap_or_else(|e| {
                            tracing::error!(queue, error = %e, "cannot build the services");
                            Services::empty()
                        });
                    // What a predecessor of this process answered is
                    // unknown here: its requests are not answered again.
                    engines.set_replay_floor(ServerClock::new().now());
                    engines
                },
                |_, _| {},
                &worker_stop,
                worker_board.as_ref(),
            )
        })
        .map_err(|e| format!("cannot start the workers: {e}"))?;

    let mut retiring: Vec<(KeyEpoch, Instant)> = Vec::new();
    let mut announced = false;
    while !workers.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        if !announced && started.load(Ordering::Relaxed) {
            announced = true;
            tracing::info!(
                interface = %cfg.interface, ifindex, queues = ?cfg.queues, cores = ?cfg.cores,
                services = ?cfg.services.iter().map(|s| (s.port, format!("{:?}", s.app))).collect::<Vec<_>>(),
                epoch = epoch.0,
                accepted = ?accepted.iter().map(|e| e.0).collect::<Vec<_>>(),
                stats = ?cfg.stats_listen,
                "serving; SIGHUP reloads the key file, SIGINT or SIGTERM stops"
            );
            if let Some(r) = &ready {
                r.store(true, Ordering::Relaxed);
            }
        }
        if reload.swap(false, Ordering::Relaxed) {
            match KeyFile::load(&cfg.key_file).and_then(|k| apply_key_file(&keys, &k)) {
                Ok(unlisted) => {
                    let grace = Duration::from_secs(cfg.grace_period_s);
                    retiring.retain(|(e, _)| unlisted.contains(e));
                    for e in unlisted {
                        if !retiring.iter().any(|(r, _)| *r == e) {
                            retiring.push((e, Instant::now() + grace));
                        }
                    }
                    let (current, accepted) = keys.epochs();
                    tracing::info!(
                        from = epoch.0,
                        to = current.0,
                        accepted = ?accepted.iter().map(|e| e.0).collect::<Vec<_>>(),
                        retiring = ?retiring.iter().map(|(e, _)| e.0).collect::<Vec<_>>(),
                        grace_s = cfg.grace_period_s,
                        "keys reloaded"
                    );
                    epoch = current;
                }
                Err(e) => {
                    tracing::error!(error = %e, "key reload failed; keeping the current keys")
                }
            }
        }
        let now = Instant::now();
        for (e, _) in retiring.iter().filter(|(_, at)| now >= *at) {
            keys.retire(*e);
            tracing::info!(epoch = e.0, "key epoch retired: no longer accepted");
        }
        retiring.retain(|(_, at)| now < *at);
    }
    let reports = workers
        .join()
        .map_err(|_| "a worker panicked".to_string())?
        .map_err(|e| e.to_string());
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = stats_server {
        let _ = h.join();
    }
    for h in listeners {
        let _ = h.join();
    }
    let reports = reports?;
    for (r, s) in &reports {
        for (port, st) in s.stats() {
            tracing::info!(
                queue = r.queue,
                port,
                frames_in = r.stats.rx_frames,
                frames_out = r.stats.tx_frames,
                requests = st.requests,
                drops = st.total_drops(),
                mode = r.mode.as_str(),
                "worker stopped"
            );
        }
    }
    tracing::info!("stopped; the XDP program is detached and the UMEMs freed");
    Ok(())
}
