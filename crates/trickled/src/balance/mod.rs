//! `trickled balance`: a stateless load balancer for Trickles replicas,
//! run on the router in front of them (paper §6.3: failover and
//! per-packet load balancing with no connection table).
//!
//! Every replica serves the same service address (the VIP, on its
//! loopback device) with the same key file. The balancer keeps the
//! router's kernel sending the VIP's packets to the live replicas
//! ([`rotation`]): by kernel ECMP per flow (`--mode ecmp`), or, for
//! Trickles segments, per packet (`--mode spray`, an nftables rule on the
//! ingress devices). It probes each replica through its datapath every
//! interval ([`probe`]) and takes a replica out of the rotation after a
//! few unanswered probes, back in after a few answered ones ([`health`]),
//! so a dead replica stops receiving traffic within
//! `down_after × interval`. Nothing is per connection: a replica that
//! gets a connection's packets for the first time answers them from
//! their continuations.

pub mod health;
pub mod probe;
pub mod rotation;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use health::{Health, Transition};
use probe::{ProbeId, Prober};
use rotation::Replica;

/// How packets of the service address are spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Kernel ECMP on the L4 hash: each flow (each Trickles connection)
    /// goes to one replica and moves when that replica fails.
    Ecmp,
    /// Each Trickles request to any live replica, chosen from the packet's
    /// own bytes (a hash of the client's address and port, the
    /// connection's incarnation and the request number / 16, so runs of 16
    /// requests go to one replica); no connection table. Other traffic by
    /// ECMP. Needs --ingress.
    Spray,
}

/// What `trickled balance` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceConfig {
    /// The service address every replica serves.
    pub vip: Ipv4Addr,
    /// Service ports (the first is probed).
    pub ports: Vec<u16>,
    /// The replicas' own addresses, each on a link of this router.
    pub replicas: Vec<Ipv4Addr>,
    /// Per flow or per packet.
    pub mode: Mode,
    /// Devices client traffic arrives on (spray mode).
    pub ingress: Vec<String>,
    /// Time between probes of a replica.
    pub interval: Duration,
    /// Unanswered probes in a row before a replica leaves the rotation.
    pub down_after: u32,
    /// Answered probes in a row before it comes back.
    pub up_after: u32,
}

impl BalanceConfig {
    /// Check what can be checked without touching the system.
    pub fn validate(&self) -> Result<(), String> {
        if self.replicas.is_empty() {
            return Err("no replica: give --replica ADDR at least once".into());
        }
        if self.ports.is_empty() || self.ports.contains(&0) {
            return Err("no service port: give --port PORT (not 0)".into());
        }
        let mut seen = self.replicas.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.replicas.len() {
            return Err("a replica is listed twice".into());
        }
        if self.mode == Mode::Spray && self.ingress.is_empty() {
            return Err(
                "--mode spray needs --ingress DEV: the device(s) client traffic arrives on".into(),
            );
        }
        if self.interval < Duration::from_millis(10) {
            return Err("--interval-ms must be at least 10".into());
        }
        Ok(())
    }

    /// The longest a dead replica stays in the rotation.
    pub fn detection_bound(&self) -> Duration {
        self.interval * (self.down_after.max(1) + 1)
    }
}

fn names(replicas: &[&Replica]) -> Vec<String> {
    replicas.iter().map(|r| r.addr.to_string()).collect()
}

/// Balance until `stop` is set, then remove what was installed.
pub fn run(cfg: &BalanceConfig, stop: &AtomicBool) -> Result<(), String> {
    cfg.validate()?;
    if !trickles_xdp::running_as_root() {
        return Err("trickled balance needs root (routes, nftables, raw sockets)".into());
    }
    let replicas = cfg
        .replicas
        .iter()
        .map(|&a| rotation::resolve(a))
        .collect::<Result<Vec<_>, _>>()?;
    for dev in &cfg.ingress {
        trickles_xdp::neighbour::ifindex(dev)
            .map_err(|_| format!("no such ingress device: {dev} (see `ip link`)"))?;
    }
    rotation::use_l4_multipath_hash()?;
    let mut prober = Prober::new()?;
    let mut health = vec![Health::new(cfg.down_after, cfg.up_after); replicas.len()];
    let spray = cfg.mode == Mode::Spray;
    let ingress: &[String] = if spray { &cfg.ingress } else { &[] };
    let all: Vec<&Replica> = replicas.iter().collect();
    rotation::install(cfg.vip, &cfg.ports, ingress, &all)?;
    tracing::info!(
        vip = %cfg.vip, ports = ?cfg.ports, mode = ?cfg.mode, replicas = ?names(&all),
        ingress = ?cfg.ingress, interval_ms = cfg.interval.as_millis() as u64,
        down_after = cfg.down_after, up_after = cfg.up_after,
        "balancing; a dead replica leaves the rotation within {} ms; SIGINT or SIGTERM stops",
        cfg.detection_bound().as_millis()
    );
    let ids: Vec<ProbeId> = replicas
        .iter()
        .enumerate()
        .map(|(i, r)| ProbeId {
            replica: r.addr,
            port: cfg.ports[0],
            local_port: 61_000 + i as u16,
        })
        .collect();
    let mut result = Ok(());
    while !stop.load(Ordering::Relaxed) {
        let round = Instant::now() + cfg.interval;
        for (id, r) in ids.iter().zip(&replicas) {
            if let Err(e) = prober.send(*id, r.src) {
                tracing::warn!(replica = %r.addr, error = %e, "probe not sent");
            }
        }
        let mut answered = vec![false; ids.len()];
        prober.collect(&ids, round, |i| answered[i] = true);
        let mut changed = false;
        for ((h, r), ok) in health.iter_mut().zip(&replicas).zip(&answered) {
            match h.record(*ok) {
                Some(Transition::Down) => {
                    changed = true;
                    tracing::warn!(replica = %r.addr, missed = cfg.down_after, "replica down: left the rotation");
                }
                Some(Transition::Up) => {
                    changed = true;
                    tracing::info!(replica = %r.addr, "replica up: back in the rotation");
                }
                None => {}
            }
        }
        if changed {
            let live: Vec<&Replica> = replicas
                .iter()
                .zip(&health)
                .filter(|(_, h)| h.is_up())
                .map(|(r, _)| r)
                .collect();
            // With none alive, keep sending to all (fail open): a replica
            // that comes back is then served at once.
            let target = if live.is_empty() { &all } else { &live };
            if live.is_empty() {
                tracing::error!("no replica answers; sending to all of them");
            }
            match rotation::install(cfg.vip, &cfg.ports, ingress, target) {
                Ok(()) => tracing::info!(rotation = ?names(target), "rotation changed"),
                Err(e) => {
                    result = Err(format!("changing the rotation: {e}"));
                    break;
                }
            }
        }
    }
    let removed = rotation::remove(cfg.vip, spray);
    match &removed {
        Ok(()) => tracing::info!("stopped; the route and rules are removed"),
        Err(e) => tracing::error!(error = %e, "could not remove everything on stop"),
    }
    result.and(removed)
}
