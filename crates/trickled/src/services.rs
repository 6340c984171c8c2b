//! The engines one worker runs: one stateless server per service port,
//! each following the daemon's shared keys, and the frame dispatch
//! between them by TCP destination port (the XDP program steers only
//! served ports, so every frame has one).

use std::sync::Arc;

use trickles_core::Instant;
use trickles_core::server::{
    AppRefusal, Application, MAX_APP_DATA, Opened, ServerConfig, ServerStats, StreamServer,
};
use trickles_core::synthetic::StreamApp;
use trickles_wire::{ethernet, ipv4, ipv6, tcp};
use trickles_xdp::FrameHandler;
use trickles_xdp::keys::{KeyedServer, SharedKeys};

use crate::config::{AppSpec, Service};
use crate::web::WebApp;

/// The applications the daemon serves.
#[derive(Debug)]
pub enum AnyApp {
    /// The synthetic stream.
    Synthetic(StreamApp),
    /// The stateless web server.
    Web(WebApp),
}

impl Application for AnyApp {
    fn open(
        &mut self,
        request: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        match self {
            AnyApp::Synthetic(a) => a.open(request, app_data),
            AnyApp::Web(a) => a.open(request, app_data),
        }
    }

    fn more_input(
        &mut self,
        digest: &[u8],
        consumed: u64,
        input: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        match self {
            AnyApp::Synthetic(a) => a.more_input(digest, consumed, input, app_data),
            AnyApp::Web(a) => a.more_input(digest, consumed, input, app_data),
        }
    }

    fn fill(&mut self, app_data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), AppRefusal> {
        match self {
            AnyApp::Synthetic(a) => a.fill(app_data, offset, buf),
            AnyApp::Web(a) => a.fill(app_data, offset, buf),
        }
    }
}

/// The TCP destination port of an Ethernet frame, if it is TCP over IPv4
/// or IPv6 (up to two VLAN tags).
pub fn dst_port(frame: &[u8]) -> Option<u16> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    let net = eth.network().ok()?;
    let l3 = frame.get(net.offset..)?;
    let segment = match net.ethertype {
        ethernet::ethertype::IPV4 => l3.get(ipv4::Packet::new_checked(l3).ok()?.header_len()..)?,
        ethernet::ethertype::IPV6 => l3.get(ipv6::HEADER_LEN..)?,
        _ => return None,
    };
    Some(tcp::Packet::new_checked(segment).ok()?.dst_port())
}

/// One server engine per service.
#[derive(Debug)]
pub struct Services {
    servers: Vec<(u16, KeyedServer<AnyApp>)>,
    /// Frames for no served port.
    pub unrouted: u64,
}

impl Services {
    /// Engines for `services`, following `keys`, each with a replay table
    /// of `replay_entries`.
    pub fn new(
        services: &[Service],
        keys: &Arc<SharedKeys>,
        replay_entries: usize,
    ) -> std::io::Result<Services> {
        let mut servers = Vec::with_capacity(services.len());
        for s in services {
            let app = match &s.app {
                AppSpec::Synthetic => AnyApp::Synthetic(StreamApp),
                AppSpec::Web { root } => AnyApp::Web(WebApp::new(root)?),
            };
            let (_, server_keys, app_keys) = keys.snapshot();
            let engine = StreamServer::new(
                ServerConfig {
                    port: s.port,
                    replay_entries,
                    ..ServerConfig::default()
                },
                server_keys,
                app_keys,
                app,
            );
            servers.push((s.port, KeyedServer::new(engine, keys.clone())));
        }
        Ok(Services {
            servers,
            unrouted: 0,
        })
    }

    /// No service (frames are counted as unrouted).
    pub fn empty() -> Services {
        Services {
            servers: Vec::new(),
            unrouted: 0,
        }
    }

    /// Start every engine's replay memory at `now`, on the servers' time
    /// base: requests made before it (by a predecessor of this process)
    /// are refused (docs/protocol.md §9.2).
    pub fn set_replay_floor(&mut self, now: Instant) {
        for (_, s) in &mut self.servers {
            s.engine_mut().server_mut().set_replay_floor(now);
        }
    }

    /// Each service's port and engine counters.
    pub fn stats(&self) -> impl Iterator<Item = (u16, &ServerStats)> {
        self.servers.iter().map(|(p, s)| (*p, s.engine().stats()))
    }

    /// Bytes the engines hold (fixed at start-up).
    pub fn memory_bytes(&self) -> usize {
        self.servers
            .iter()
            .map(|(_, s)| s.engine().memory_bytes())
            .sum()
    }
}

impl FrameHandler for Services {
    fn on_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8])) {
        let port = dst_port(frame);
        match self.servers.iter_mut().find(|(p, _)| Some(*p) == port) {
            Some((_, server)) => server.on_frame(now, frame, tx),
            None => self.unrouted += 1,
        }
    }
}
