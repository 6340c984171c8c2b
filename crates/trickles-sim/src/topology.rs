//! Ready-made topologies: two hosts joined by a link each way, and a
//! dumbbell of N clients and M servers around one bottleneck.

use core::net::Ipv4Addr;
use core::time::Duration;

use serde::Serialize;
use trickles_wire::ethernet::MacAddr;

use crate::link::{LinkConfig, MIN_DEFAULT_QUEUE_BYTES};
use crate::sim::{HostId, LinkId, RouterId, Simulator};

/// A host's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct HostAddr {
    /// IPv4 address; routers forward by it.
    pub ip: Ipv4Addr,
    /// MAC address (routers do not rewrite MACs: frames carry the end
    /// hosts' MACs end to end, as on one switched segment).
    pub mac: MacAddr,
}

impl HostAddr {
    /// Build from parts.
    pub const fn new(ip: Ipv4Addr, mac: MacAddr) -> HostAddr {
        HostAddr { ip, mac }
    }
}

/// Two hosts and the link each way between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoHosts {
    /// First host.
    pub a: HostId,
    /// Second host.
    pub b: HostId,
    /// Link from `a` to `b`.
    pub ab: LinkId,
    /// Link from `b` to `a`.
    pub ba: LinkId,
}

impl TwoHosts {
    /// Default address of host `a` (10.0.0.1, 02:00:00:00:00:01).
    pub const A: HostAddr = HostAddr::new(Ipv4Addr::new(10, 0, 0, 1), [2, 0, 0, 0, 0, 1]);
    /// Default address of host `b` (10.0.0.2, 02:00:00:00:00:02).
    pub const B: HostAddr = HostAddr::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);

    /// Add hosts `a` and `b` with a link each way.
    pub fn build(
        sim: &mut Simulator<'_>,
        a: HostAddr,
        b: HostAddr,
        ab: LinkConfig,
        ba: LinkConfig,
    ) -> TwoHosts {
        let ha = sim.add_host("a", a);
        let hb = sim.add_host("b", b);
        let ab = sim.add_link("a->b", ha, hb, ab);
        let ba = sim.add_link("b->a", hb, ha, ba);
        TwoHosts {
            a: ha,
            b: hb,
            ab,
            ba,
        }
    }
}

/// Parameters of a dumbbell.
///
/// ```text
/// client i ──access──┐                         ┌──access── server j
///                    left ══bottleneck══ right
/// client k ──access──┘                         └──access── server l
/// ```
/// Every host has an uplink and a downlink configured as `access`. The
/// bottleneck is a pair of links: `bottleneck_c2s` (left → right, towards
/// the servers) and `bottleneck_s2c` (right → left, towards the clients).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DumbbellConfig {
    /// Number of client hosts (left side).
    pub clients: usize,
    /// Number of server hosts (right side).
    pub servers: usize,
    /// Access links (each host's uplink and downlink).
    pub access: LinkConfig,
    /// Bottleneck towards the servers.
    pub bottleneck_c2s: LinkConfig,
    /// Bottleneck towards the clients.
    pub bottleneck_s2c: LinkConfig,
}

impl DumbbellConfig {
    /// One-way propagation delay of each access link in
    /// [`DumbbellConfig::symmetric`].
    pub const ACCESS_DELAY: Duration = Duration::from_micros(1);
    /// Queue of each access link in [`DumbbellConfig::symmetric`]: large
    /// enough that access links never drop, so the bottleneck is the only
    /// congestion point.
    pub const ACCESS_QUEUE_BYTES: u64 = 64 << 20;

    /// A clean dumbbell whose base round-trip time (propagation only) is
    /// exactly `rtt`: access links run at max(10 × rate, 1 Gb/s) with
    /// [`Self::ACCESS_DELAY`]; each bottleneck link has rate `rate_bps`,
    /// one-way delay `rtt/2 − 2 × ACCESS_DELAY` and a drop-tail queue of
    /// one bandwidth-delay product (`rate × rtt / 8`, at least 64 KiB).
    pub fn symmetric(clients: usize, servers: usize, rate_bps: u64, rtt: Duration) -> Self {
        let access_rate = rate_bps.saturating_mul(10).max(1_000_000_000);
        let access = LinkConfig::new(access_rate, Self::ACCESS_DELAY)
            .with_queue_limit(Self::ACCESS_QUEUE_BYTES);
        let one_way = (rtt / 2).saturating_sub(Self::ACCESS_DELAY * 2);
        let bdp = u128::from(rate_bps) * rtt.as_nanos() / 8 / 1_000_000_000;
        let queue = u64::try_from(bdp)
            .unwrap_or(u64::MAX)
            .max(MIN_DEFAULT_QUEUE_BYTES);
        let bottleneck = LinkConfig::new(rate_bps, one_way).with_queue_limit(queue);
        DumbbellConfig {
            clients,
            servers,
            access,
            bottleneck_c2s: bottleneck.clone(),
            bottleneck_s2c: bottleneck,
        }
    }

    /// Address of client `i`: 10.1.x.y with x.y = i + 1, MAC 02:00:01:00:x:y.
    pub fn client_addr(i: usize) -> HostAddr {
        addr(1, i)
    }

    /// Address of server `i`: 10.2.x.y with x.y = i + 1, MAC 02:00:02:00:x:y.
    pub fn server_addr(i: usize) -> HostAddr {
        addr(2, i)
    }
}

fn addr(side: u8, i: usize) -> HostAddr {
    let n = (i + 1) as u16;
    let [x, y] = n.to_be_bytes();
    HostAddr::new(Ipv4Addr::new(10, side, x, y), [2, 0, side, 0, x, y])
}

/// The ids of a built dumbbell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dumbbell {
    /// Client hosts, in index order.
    pub clients: Vec<HostId>,
    /// Server hosts, in index order.
    pub servers: Vec<HostId>,
    /// The clients' router.
    pub left: RouterId,
    /// The servers' router.
    pub right: RouterId,
    /// Bottleneck left → right (towards the servers).
    pub bottleneck_c2s: LinkId,
    /// Bottleneck right → left (towards the clients).
    pub bottleneck_s2c: LinkId,
    /// Each client's uplink (client → left).
    pub client_up: Vec<LinkId>,
    /// Each client's downlink (left → client).
    pub client_down: Vec<LinkId>,
    /// Each server's uplink (server → right).
    pub server_up: Vec<LinkId>,
    /// Each server's downlink (right → server).
    pub server_down: Vec<LinkId>,
}

impl Dumbbell {
    /// Add the dumbbell's hosts, routers, links and routes to `sim`.
    pub fn build(sim: &mut Simulator<'_>, cfg: &DumbbellConfig) -> Dumbbell {
        let left = sim.add_router("left");
        let right = sim.add_router("right");
        let c2s = sim.add_link("bottleneck c2s", left, right, cfg.bottleneck_c2s.clone());
        let s2c = sim.add_link("bottleneck s2c", right, left, cfg.bottleneck_s2c.clone());
        let mut d = Dumbbell {
            clients: Vec::new(),
            servers: Vec::new(),
            left,
            right,
            bottleneck_c2s: c2s,
            bottleneck_s2c: s2c,
            client_up: Vec::new(),
            client_down: Vec::new(),
            server_up: Vec::new(),
            server_down: Vec::new(),
        };
        for i in 0..cfg.clients {
            let a = DumbbellConfig::client_addr(i);
            let h = sim.add_host(&format!("client{i}"), a);
            d.client_up
                .push(sim.add_link(&format!("client{i} up"), h, left, cfg.access.clone()));
            let down = sim.add_link(&format!("client{i} down"), left, h, cfg.access.clone());
            d.client_down.push(down);
            sim.add_route(left, a.ip, down);
            sim.add_route(right, a.ip, s2c);
            d.clients.push(h);
        }
        for i in 0..cfg.servers {
            let a = DumbbellConfig::server_addr(i);
            let h = sim.add_host(&format!("server{i}"), a);
            d.server_up
                .push(sim.add_link(&format!("server{i} up"), h, right, cfg.access.clone()));
            let down = sim.add_link(&format!("server{i} down"), right, h, cfg.access.clone());
            d.server_down.push(down);
            sim.add_route(right, a.ip, down);
            sim.add_route(left, a.ip, c2s);
            d.servers.push(h);
        }
        d
    }

    /// Add one more server host at `addr` on the servers' side, with an
    /// uplink `up` (host → right router) and a downlink `down` (right
    /// router → host), and a route for `addr` at the left router into the
    /// bottleneck. The right router gets **no** route to it: the caller
    /// decides how the right router reaches `addr` (several hosts may share
    /// one address, as replicas of one service do; see
    /// [`Simulator::add_route`], [`Simulator::add_round_robin_route`]).
    /// Returns its index in [`Dumbbell::servers`].
    pub fn add_server_host(
        &mut self,
        sim: &mut Simulator<'_>,
        name: &str,
        addr: HostAddr,
        up: LinkConfig,
        down: LinkConfig,
    ) -> usize {
        let h = sim.add_host(name, addr);
        self.server_up
            .push(sim.add_link(&format!("{name} up"), h, self.right, up));
        self.server_down
            .push(sim.add_link(&format!("{name} down"), self.right, h, down));
        sim.add_route(self.left, addr.ip, self.bottleneck_c2s);
        self.servers.push(h);
        self.servers.len() - 1
    }
}

/// The addresses and ports of one client/server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Flow {
    /// The client (the side that sends the SYN and receives the data).
    pub client: HostAddr,
    /// The client's port.
    pub client_port: u16,
    /// The server (the side that sends the data).
    pub server: HostAddr,
    /// The server's port.
    pub server_port: u16,
}

impl Flow {
    /// Client port used by [`Flow::dumbbell`].
    pub const CLIENT_PORT: u16 = 40_000;
    /// Server port used by [`Flow::dumbbell`].
    pub const SERVER_PORT: u16 = 80;

    /// Client `client` to server `server` of a dumbbell, on the default ports.
    pub fn dumbbell(client: usize, server: usize) -> Flow {
        Flow {
            client: DumbbellConfig::client_addr(client),
            client_port: Self::CLIENT_PORT,
            server: DumbbellConfig::server_addr(server),
            server_port: Self::SERVER_PORT,
        }
    }

    /// Host `a` (client) to host `b` (server) of [`TwoHosts`] defaults.
    pub fn two_hosts() -> Flow {
        Flow {
            client: TwoHosts::A,
            client_port: Self::CLIENT_PORT,
            server: TwoHosts::B,
            server_port: Self::SERVER_PORT,
        }
    }
}
