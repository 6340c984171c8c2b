//! Two network namespaces joined by a veth pair: the test and benchmark
//! bed of the datapath (and the demo's). Made with iproute2's `ip`, entered
//! by a thread with `setns(2)`, removed on drop.
//!
//! Names are unique per process and per pair (`<prefix><pid>-<n>`), so
//! concurrent runs do not collide; the prefix (environment variable
//! `TRICKLES_NETNS_PREFIX`, default `trk`) lets a supervisor remove
//! everything a run left behind if the run is killed before its drops run
//! (`cargo xtask netns-test` does). Deleting a namespace deletes the veth
//! end inside it, and the kernel detaches XDP programs whose bpf_link
//! closes with the process, so nothing outlives a pair.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Environment variable naming the prefix of namespace names.
pub const PREFIX_ENV: &str = "TRICKLES_NETNS_PREFIX";

/// One end of a [`NetnsPair`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Namespace name (`/run/netns/<name>`).
    pub netns: String,
    /// Interface name inside the namespace.
    pub ifname: String,
    /// IPv4 address (a /24 shared with the other end).
    pub addr: Ipv4Addr,
    /// MAC address.
    pub mac: [u8; 6],
    /// The next hop towards other subnets (`None`: every peer is on-link,
    /// as in a [`NetnsPair`]).
    pub gateway: Option<Ipv4Addr>,
}

impl End {
    /// Run `f` on a new thread inside this end's namespace (sockets it
    /// opens stay in the namespace). Fails if the thread cannot enter it.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<NsThread<T>> {
        let ns = self.netns.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name(format!("netns-{ns}"))
            .spawn(move || match enter(&ns) {
                Ok(()) => {
                    let _ = ready_tx.send(Ok(()));
                    Some(f())
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    None
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("namespace thread died"))??;
        Ok(NsThread(handle))
    }

    /// `ip netns exec <ns> <program> <args>`: a command inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns, program]);
        c
    }

    /// This end's interface index (inside its namespace).
    pub fn ifindex(&self) -> io::Result<u32> {
        let out = self
            .command("cat")
            .arg(format!("/sys/class/net/{}/ifindex", self.ifname))
            .output()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("no ifindex for {}", self.ifname)))
    }
}

/// A thread running inside a namespace ([`End::run`]).
#[derive(Debug)]
pub struct NsThread<T>(std::thread::JoinHandle<Option<T>>);

impl<T> NsThread<T> {
    /// Wait for the thread; an error if it panicked.
    pub fn join(self) -> io::Result<T> {
        match self.0.join() {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(io::Error::other("the thread could not enter its namespace")),
            Err(_) => Err(io::Error::other("the namespace thread panicked")),
        }
    }

    /// True once the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

/// Move the calling thread into network namespace `name`.
pub fn enter(name: &str) -> io::Result<()> {
    let f = File::open(format!("/run/netns/{name}"))?;
    // SAFETY: setns on a valid namespace fd; it changes only the calling
    // thread's network namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Two namespaces `a` and `b` joined by a veth pair, up, addressed
/// 10.77.0.1/24 (a) and 10.77.0.2/24 (b). Removed on drop.
#[derive(Debug)]
pub struct NetnsPair {
    /// The first end.
    pub a: End,
    /// The second end.
    pub b: End,
    created: Vec<String>,
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running `ip` (iproute2): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl NetnsPair {
    /// Create the pair, one queue per direction. Needs root.
    pub fn create() -> io::Result<NetnsPair> {
        NetnsPair::create_with_queues(1)
    }

    /// Create the pair with `queues` receive and transmit queues on each
    /// veth end (a frame sent on queue q of one end arrives on queue q of
    /// the other).
    pub fn create_with_queues(queues: u32) -> io::Result<NetnsPair> {
        let id = stem("");
        let mut pair = NetnsPair {
            a: End {
                netns: format!("{id}a"),
                ifname: "veth-a".to_owned(),
                addr: Ipv4Addr::new(10, 77, 0, 1),
                mac: [0x02, 0x00, 0x00, 0x77, 0x00, 0x01],
                gateway: None,
            },
            b: End {
                netns: format!("{id}b"),
                ifname: "veth-b".to_owned(),
                addr: Ipv4Addr::new(10, 77, 0, 2),
                mac: [0x02, 0x00, 0x00, 0x77, 0x00, 0x02],
                gateway: None,
            },
            created: Vec::new(),
        };
        for end in [&pair.a, &pair.b] {
            ip(&["netns", "add", &end.netns])?;
            pair.created.push(end.netns.clone());
        }
        let mac = mac_text;
        let (a, b) = (&pair.a, &pair.b);
        // Create both ends directly inside their namespaces: nothing is
        // ever left in the caller's namespace.
        let q = queues.max(1).to_string();
        #[rustfmt::skip]
        ip(&[
            "-n", &a.netns, "link", "add", &a.ifname, "address", &mac(a.mac),
            "numtxqueues", &q, "numrxqueues", &q,
            "type", "veth", "peer", "name", &b.ifname, "netns", &b.netns, "address", &mac(b.mac),
            "numtxqueues", &q, "numrxqueues", &q,
        ])?;
        for end in [a, b] {
            let cidr = format!("{}/24", end.addr);
            ip(&["-n", &end.netns, "addr", "add", &cidr, "dev", &end.ifname])?;
            ip(&["-n", &end.netns, "link", "set", "lo", "up"])?;
            ip(&["-n", &end.netns, "link", "set", &end.ifname, "up"])?;
        }
        Ok(pair)
    }

    /// Set the MTU of both ends.
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        for end in [&self.a, &self.b] {
            ip(&[
                "-n",
                &end.netns,
                "link",
                "set",
                &end.ifname,
                "mtu",
                &mtu.to_string(),
            ])?;
        }
        Ok(())
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in self.created.drain(..) {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("netns: could not remove {ns}: {e}");
            }
        }
    }
}

/// A unique namespace-name stem for this process (`<prefix><pid>-<tag><n>`).
fn stem(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let prefix = std::env::var(PREFIX_ENV).unwrap_or_else(|_| "trk".to_owned());
    format!("{prefix}{}-{tag}{n}", std::process::id())
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A client and `n` servers behind a router, each in its own namespace:
/// the bed of bottleneck scenarios (one server) and of replicas (several
/// servers sharing a service address). Removed on drop.
///
/// ```text
/// client 10.80.1.1/24 ── r-c 10.80.1.254  router  r-i 10.80.(2+i).254 ── server i 10.80.(2+i).1/24
/// ```
///
/// Every server also holds the service address [`Fleet::VIP`] on its
/// loopback device (so its kernel TCP answers it too); the router has no
/// route to it until one is made (`trickled balance`, or
/// [`Fleet::route_vip_to`]). Client and servers route everything through
/// the router; the router forwards.
#[derive(Debug)]
pub struct Fleet {
    /// The client (gateway: the router).
    pub client: End,
    /// The servers (gateway: the router).
    pub servers: Vec<End>,
    /// The router's namespace.
    pub router: String,
    /// The router's device towards the client.
    pub router_to_client: String,
    /// The router's device towards each server.
    pub router_to_servers: Vec<String>,
    created: Vec<String>,
}

impl Fleet {
    /// The service address the servers share.
    pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 1);

    /// Create the namespaces, links and routes. Needs root.
    pub fn create(servers: usize) -> io::Result<Fleet> {
        let n = servers.clamp(1, 200);
        let id = stem("f");
        let end = |netns: String, ifname: &str, net: u8| End {
            netns,
            ifname: ifname.to_owned(),
            addr: Ipv4Addr::new(10, 80, net, 1),
            mac: [0x02, 0, 0, 0x80, net, 1],
            gateway: Some(Ipv4Addr::new(10, 80, net, 254)),
        };
        let mut f = Fleet {
            client: end(format!("{id}c"), "veth-c", 1),
            servers: (0..n)
                .map(|i| end(format!("{id}s{i}"), "veth-s", 2 + i as u8))
                .collect(),
            router: format!("{id}r"),
            router_to_client: "r-c".into(),
            router_to_servers: (0..n).map(|i| format!("r-{i}")).collect(),
            created: Vec::new(),
        };
        let names: Vec<String> = std::iter::once(f.router.clone())
            .chain(std::iter::once(f.client.netns.clone()))
            .chain(f.servers.iter().map(|s| s.netns.clone()))
            .collect();
        for ns in names {
            ip(&["netns", "add", &ns])?;
            f.created.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        let links = std::iter::once((&f.client, &f.router_to_client))
            .chain(f.servers.iter().zip(&f.router_to_servers));
        for (e, peer) in links {
            let gw = e.gateway.unwrap_or(e.addr);
            #[rustfmt::skip]
            ip(&["-n", &e.netns, "link", "add", &e.ifname, "address", &mac_text(e.mac),
                 "type", "veth", "peer", "name", peer, "netns", &f.router])?;
            ip(&[
                "-n",
                &e.netns,
                "addr",
                "add",
                &format!("{}/24", e.addr),
                "dev",
                &e.ifname,
            ])?;
            ip(&["-n", &e.netns, "link", "set", &e.ifname, "up"])?;
            ip(&[
                "-n",
                &e.netns,
                "route",
                "add",
                "default",
                "via",
                &gw.to_string(),
            ])?;
            ip(&[
                "-n",
                &f.router,
                "addr",
                "add",
                &format!("{gw}/24"),
                "dev",
                peer,
            ])?;
            ip(&["-n", &f.router, "link", "set", peer, "up"])?;
        }
        for s in &f.servers {
            ip(&[
                "-n",
                &s.netns,
                "addr",
                "add",
                &format!("{}/32", Fleet::VIP),
                "dev",
                "lo",
            ])?;
        }
        let forward = Command::new("ip")
            .args([
                "netns",
                "exec",
                &f.router,
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
            ])
            .status()?;
        if !forward.success() {
            return Err(io::Error::other(
                "could not turn on forwarding in the router",
            ));
        }
        Ok(f)
    }

    /// Route the service address to server `i` alone (no balancer).
    pub fn route_vip_to(&self, i: usize) -> io::Result<()> {
        let s = self
            .servers
            .get(i)
            .ok_or_else(|| io::Error::other(format!("no server {i}")))?;
        let vip = format!("{}/32", Fleet::VIP);
        ip(&[
            "-n",
            &self.router,
            "route",
            "replace",
            &vip,
            "via",
            &s.addr.to_string(),
        ])
    }

    /// `ip netns exec <router> <program>`: a command in the router.
    pub fn router_command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.router, program]);
        c
    }

    /// Put a token-bucket bottleneck of `mbit` Mb/s with a queue of
    /// `latency_ms` on the router's device towards the client (AF_XDP
    /// transmit bypasses the sender's qdiscs, so a bottleneck that sees
    /// every flow must sit in a kernel that forwards them).
    pub fn set_bottleneck(&self, mbit: u32, latency_ms: u32) -> io::Result<()> {
        let dev = self.router_to_client.as_str();
        ip(&["-n", &self.router, "link", "set", dev, "mtu", "1500"])?;
        let rate = format!("{mbit}mbit");
        let latency = format!("{latency_ms}ms");
        #[rustfmt::skip]
        let out = Command::new("tc")
            .args(["-n", &self.router, "qdisc", "replace", "dev", dev, "root", "tbf",
                   "rate", &rate, "burst", "32kb", "latency", &latency])
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "tc qdisc replace ... tbf: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// `tc -s qdisc` of the bottleneck (sent, dropped, overlimits).
    pub fn bottleneck_stats(&self) -> String {
        Command::new("tc")
            .args([
                "-n",
                &self.router,
                "-s",
                "qdisc",
                "show",
                "dev",
                &self.router_to_client,
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for ns in self.created.drain(..) {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("netns: could not remove {ns}: {e}");
            }
        }
    }
}

/// Names of the namespaces that exist now and start with `prefix`.
pub fn list_with_prefix(prefix: &str) -> io::Result<Vec<String>> {
    let out = Command::new("ip").args(["netns", "list"]).output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect())
}
