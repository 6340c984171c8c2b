//! Scenario runner: one bulk transfer from a server to a client across a
//! dumbbell bottleneck, run for any client/server [`TransferPair`], so that
//! the Reno reference and the Trickles engines see the same topology and
//! seed in the same process.
//!
//! # Plugging in another pair
//!
//! Implement [`TransferPair`] for a struct owning the two endpoints (built
//! for [`TransferScenario::flow`], `size` and `seed`), then call
//! [`run_transfer`]. To make the CLI compare against Reno, return the pair
//! from [`trickles_pair`], the marked extension point.

use core::time::Duration;
use std::io::{self, Write};

use serde::Serialize;

use crate::endpoint::Endpoint;
use crate::link::LinkStats;
use crate::reno::{RenoConfig, RenoReceiver, RenoSender};
use crate::sim::{HostStats, RunLimits, Simulator, StopReason, StopWhen};
use crate::time::{SimTime, duration_nanos};
use crate::topology::{Dumbbell, DumbbellConfig, Flow};

/// A bulk transfer of `size` bytes from server 0 to client 0 of a 1 × 1
/// dumbbell.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferScenario {
    /// Bytes to transfer.
    pub size: u64,
    /// Bottleneck rate, bits per second.
    pub rate_bps: u64,
    /// Base round-trip time (propagation only).
    pub rtt: Duration,
    /// Random loss probability on the impaired bottleneck link(s).
    pub loss: f64,
    /// Reordering probability on the impaired bottleneck link(s).
    pub reorder: f64,
    /// Largest extra delay of a reordered frame.
    pub reorder_max: Duration,
    /// Duplication probability on the impaired bottleneck link(s).
    pub duplicate: f64,
    /// Bottleneck queue limit in bytes (`None`: one bandwidth-delay product,
    /// at least 64 KiB).
    pub queue_bytes: Option<u64>,
    /// Impair the client → server bottleneck (SYNs, ACKs, requests) too, not
    /// only the data direction.
    pub impair_reverse: bool,
    /// Bounds of the run (the stop condition is set by [`run_transfer`]).
    pub limits: RunLimits,
    /// After the client is done, keep running at most this long so the
    /// server can see the final ACKs (affects only the server's counters).
    pub linger: Duration,
}

impl TransferScenario {
    /// A clean transfer: no loss, reordering or duplication, default queue,
    /// default limits, reorder delay up to RTT/4 once enabled.
    pub fn new(size: u64, rate_bps: u64, rtt: Duration) -> TransferScenario {
        TransferScenario {
            size,
            rate_bps,
            rtt,
            loss: 0.0,
            reorder: 0.0,
            reorder_max: rtt / 4,
            duplicate: 0.0,
            queue_bytes: None,
            impair_reverse: true,
            limits: RunLimits::default(),
            linger: Duration::from_secs(2),
        }
    }

    /// The connection every pair must use.
    pub fn flow(&self) -> Flow {
        Flow::dumbbell(0, 0)
    }

    /// The topology.
    pub fn dumbbell(&self) -> DumbbellConfig {
        let mut cfg = DumbbellConfig::symmetric(1, 1, self.rate_bps, self.rtt);
        for (link, impaired) in [
            (&mut cfg.bottleneck_s2c, true),
            (&mut cfg.bottleneck_c2s, self.impair_reverse),
        ] {
            if let Some(q) = self.queue_bytes {
                link.queue_limit_bytes = Some(q);
            }
            if impaired {
                link.loss = self.loss;
                link.reorder = self.reorder;
                link.reorder_max = self.reorder_max;
                link.duplicate = self.duplicate;
            }
        }
        cfg
    }
}

/// A client/server pair that can run a [`TransferScenario`].
pub trait TransferPair {
    /// Short name used in reports ("reno", "trickles").
    fn name(&self) -> &'static str;
    /// The client endpoint (at [`Flow::client`], receives the data) and
    /// the server endpoint (at [`Flow::server`]), lent for one run. The
    /// client must report `is_done` once it holds all `size` bytes.
    fn endpoints(&mut self) -> (&mut dyn Endpoint, &mut dyn Endpoint);
    /// After the run: did the client get every byte, intact?
    fn bytes_ok(&self) -> bool;
    /// Pair-specific counters for the report.
    fn details(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// The Reno reference as a [`TransferPair`].
#[derive(Debug)]
pub struct RenoPair {
    /// The server side.
    pub sender: RenoSender,
    /// The client side.
    pub receiver: RenoReceiver,
}

impl RenoPair {
    /// Reno endpoints for `sc`, sending the stream of `seed`.
    pub fn new(sc: &TransferScenario, seed: u64, cfg: RenoConfig) -> RenoPair {
        let flow = sc.flow();
        RenoPair {
            sender: RenoSender::new(flow.server, flow.server_port, sc.size, seed, cfg.clone()),
            receiver: RenoReceiver::new(flow, sc.size, seed, cfg),
        }
    }
}

impl TransferPair for RenoPair {
    fn name(&self) -> &'static str {
        "reno"
    }
    fn endpoints(&mut self) -> (&mut dyn Endpoint, &mut dyn Endpoint) {
        (&mut self.receiver, &mut self.sender)
    }
    fn bytes_ok(&self) -> bool {
        self.receiver.bytes_ok()
    }
    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "sender": self.sender.stats(),
            "receiver": self.receiver.stats(),
        })
    }
}

/// The outcome of one [`run_transfer`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferResult {
    /// [`TransferPair::name`].
    pub pair: &'static str,
    /// The run's seed.
    pub seed: u64,
    /// Bytes to transfer.
    pub size: u64,
    /// The client got every byte, intact.
    pub bytes_ok: bool,
    /// The client did not finish (a limit was hit or the network went idle).
    pub stalled: bool,
    /// Why the transfer phase stopped (`done` when the client finished).
    pub stop_reason: StopReason,
    /// Simulated time from start (the client's first action) to the client
    /// reporting done.
    pub completion_ns: Option<u64>,
    /// The same in milliseconds.
    pub completion_ms: Option<f64>,
    /// `size · 8 / completion`, in Mb/s.
    pub goodput_mbps: Option<f64>,
    /// Simulated time at the end of the run (including the linger phase).
    pub sim_end_ns: u64,
    /// Events processed.
    pub events: u64,
    /// The bottleneck towards the client (data).
    pub bottleneck_s2c: LinkStats,
    /// The bottleneck towards the server (SYN, ACKs).
    pub bottleneck_c2s: LinkStats,
    /// Client host counters.
    pub client: HostStats,
    /// Server host counters.
    pub server: HostStats,
    /// Records written to the pcap, if one was requested.
    pub pcap_records: Option<u64>,
    /// [`TransferPair::details`].
    pub details: serde_json::Value,
}

/// Goodput in Mb/s of `size` bytes in `completion`.
pub fn goodput_mbps(size: u64, completion: SimTime) -> Option<f64> {
    (completion.0 > 0).then(|| size as f64 * 8.0 / completion.as_secs_f64() / 1e6)
}

/// Run `pair` over `sc` with `seed`. If `pcap` is given, every frame sent
/// or received by the client host is recorded to it. The run stops when
/// the client is done (then lingers up to `sc.linger` for the server), or
/// at a limit, which is reported as `stalled`, never a hang.
pub fn run_transfer(
    sc: &TransferScenario,
    seed: u64,
    pair: &mut dyn TransferPair,
    pcap: Option<&mut dyn Write>,
) -> io::Result<TransferResult> {
    run_transfer_with(sc, seed, pair, pcap, |_, _| {})
}

/// [`run_transfer`], with `configure` called on the built topology before
/// the run, e.g. to install drop hooks ([`Simulator::set_drop_hook`]) or
/// capture more hosts.
pub fn run_transfer_with(
    sc: &TransferScenario,
    seed: u64,
    pair: &mut dyn TransferPair,
    pcap: Option<&mut dyn Write>,
    configure: impl for<'s> FnOnce(&mut Simulator<'s>, &Dumbbell),
) -> io::Result<TransferResult> {
    let name = pair.name();
    let cfg = sc.dumbbell();
    let (client_ep, server_ep) = pair.endpoints();
    let mut sim = Simulator::new(seed);
    let d = Dumbbell::build(&mut sim, &cfg);
    configure(&mut sim, &d);
    let (client, server) = (d.clients[0], d.servers[0]);
    sim.set_endpoint(client, client_ep);
    sim.set_endpoint(server, server_ep);
    let capturing = pcap.is_some();
    if let Some(w) = pcap {
        sim.set_pcap(w)?;
        sim.capture_host(client);
    }
    let limits = RunLimits {
        stop: StopWhen::HostsDone(vec![client]),
        ..sc.limits.clone()
    };
    let transfer = sim.run(&limits);
    if transfer.reason == StopReason::Done {
        let until = SimTime(transfer.now.0.saturating_add(duration_nanos(sc.linger)));
        sim.run(&RunLimits {
            max_time: until.min(sc.limits.max_time),
            max_events: sc.limits.max_events,
            stop: StopWhen::AllDone,
        });
    }
    let pcap_records = if capturing {
        Some(sim.finish_pcap()?)
    } else {
        None
    };
    let done = sim.done_at(client);
    let mut r = TransferResult {
        pair: name,
        seed,
        size: sc.size,
        bytes_ok: false,
        stalled: done.is_none(),
        stop_reason: transfer.reason,
        completion_ns: done.map(|t| t.0),
        completion_ms: done.map(SimTime::as_millis_f64),
        goodput_mbps: done.and_then(|t| goodput_mbps(sc.size, t)),
        sim_end_ns: sim.now().0,
        events: sim.events(),
        bottleneck_s2c: sim.link_stats(d.bottleneck_s2c).clone(),
        bottleneck_c2s: sim.link_stats(d.bottleneck_c2s).clone(),
        client: sim.host_stats(client).clone(),
        server: sim.host_stats(server).clone(),
        pcap_records,
        details: serde_json::Value::Null,
    };
    drop(sim);
    r.bytes_ok = done.is_some() && pair.bytes_ok();
    r.details = pair.details();
    Ok(r)
}

/// The Trickles client/server pair for `sc` and `seed`: the real engines
/// of `trickles-core` ([`crate::trickles_pair`]).
pub fn trickles_pair(sc: &TransferScenario, seed: u64) -> Option<Box<dyn TransferPair>> {
    Some(Box::new(crate::trickles_pair::TricklesPair::new(sc, seed)))
}

/// Reno and (when available) Trickles over the same scenario and seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The Reno reference run.
    pub reno: TransferResult,
    /// The Trickles run, if [`trickles_pair`] provides a pair.
    pub trickles: Option<TransferResult>,
}

impl Comparison {
    /// Trickles goodput over Reno goodput, when both completed.
    pub fn ratio(&self) -> Option<f64> {
        let t = self.trickles.as_ref()?.goodput_mbps?;
        let r = self.reno.goodput_mbps?;
        (r > 0.0).then(|| t / r)
    }

    /// True when every pair that ran delivered every byte intact.
    pub fn bytes_ok(&self) -> bool {
        self.reno.bytes_ok && self.trickles.as_ref().is_none_or(|t| t.bytes_ok)
    }

    /// True when any pair that ran did not finish.
    pub fn stalled(&self) -> bool {
        self.reno.stalled || self.trickles.as_ref().is_some_and(|t| t.stalled)
    }
}

/// Run Reno with `reno` settings and then, if available, Trickles, over
/// the same scenario and seed. `pcap(name)` may return a writer for the
/// named pair's capture.
pub fn compare<'w>(
    sc: &TransferScenario,
    seed: u64,
    reno: RenoConfig,
    mut pcap: impl FnMut(&str) -> io::Result<Option<Box<dyn Write + 'w>>>,
) -> io::Result<Comparison> {
    let mut pair = RenoPair::new(sc, seed, reno);
    let mut w = pcap("reno")?;
    let reno = run_transfer(
        sc,
        seed,
        &mut pair,
        w.as_deref_mut().map(|w| w as &mut dyn Write),
    )?;
    let trickles = match trickles_pair(sc, seed) {
        Some(mut t) => {
            let mut w = pcap(t.name())?;
            Some(run_transfer(
                sc,
                seed,
                t.as_mut(),
                w.as_deref_mut().map(|w| w as &mut dyn Write),
            )?)
        }
        None => None,
    };
    Ok(Comparison { reno, trickles })
}
