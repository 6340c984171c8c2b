//! `trickled serve`: check the configuration against the machine, attach
//! the steering program, run one pinned worker per queue with the
//! services, and live until SIGINT or SIGTERM; SIGHUP reloads the key
//! file (a new epoch; the previous key stays valid for the grace period,
//! so no connection is dropped). Every refusal is one line, returned as
//! an error before anything stays attached.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Serve until a signal says stop. `ready` is set once every worker runs.
pub fn serve(cfg: &ServeConfig, ready: Option<Arc<AtomicBool>>) -> Result<(), String> {
    let (keyfile, ifindex) = preflight(cfg)?;
    let keys = SharedKeys::new(keyfile.server_keys(), keyfile.app_key());
    let mut epoch = keyfile.epoch;
    drop(keyfile);
    // Build the engines once to surface app errors (a missing root) now.
    Services::new(&cfg.services, &keys).map_err(|e| e.to_string())?;

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
                    Services::new(&services, &worker_keys).unwrap_or_else(|e| {
                        tracing::error!(queue, error = %e, "cannot build the services");
                        Services::empty()
                    })
                },
                |_, _| {},
                &worker_stop,
                worker_board.as_ref(),
            )
        })
        .map_err(|e| format!("cannot start the workers: {e}"))?;

    let mut retire_at: Option<Instant> = None;
    let mut announced = false;
    while !workers.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        if !announced && started.load(Ordering::Relaxed) {
            announced = true;
            tracing::info!(
                interface = %cfg.interface, ifindex, queues = ?cfg.queues, cores = ?cfg.cores,
                services = ?cfg.services.iter().map(|s| (s.port, format!("{:?}", s.app))).collect::<Vec<_>>(),
                epoch = epoch.0,
                stats = ?cfg.stats_listen,
                "serving; SIGHUP reloads the key file, SIGINT or SIGTERM stops"
            );
            if let Some(r) = &ready {
                r.store(true, Ordering::Relaxed);
            }
        }
        if reload.swap(false, Ordering::Relaxed) {
            match KeyFile::load(&cfg.key_file) {
                Ok(k) if k.epoch == epoch => {
                    tracing::warn!(
                        epoch = epoch.0,
                        "key reload ignored: the key file still holds the current epoch"
                    );
                }
                Ok(k) => {
                    let rotated = keys
                        .rotate_server(k.server_keys())
                        .and_then(|()| keys.rotate_app(k.app_key()));
                    match rotated {
                        Ok(()) => {
                            tracing::info!(
                                from = epoch.0,
                                to = k.epoch.0,
                                grace_s = cfg.grace_period_s,
                                "keys reloaded"
                            );
                            epoch = k.epoch;
                            retire_at =
                                Some(Instant::now() + Duration::from_secs(cfg.grace_period_s));
                        }
                        Err(e) => tracing::error!(error = %e, "key reload refused"),
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "key reload failed; keeping the current keys")
                }
            }
        }
        if retire_at.is_some_and(|t| Instant::now() >= t) {
            retire_at = None;
            keys.retire_previous();
            tracing::info!(epoch = epoch.0, "previous key retired");
        }
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
