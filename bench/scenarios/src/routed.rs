//! Three namespaces in a line, client ⇄ router ⇄ server, for scenarios
//! that need a bottleneck: AF_XDP transmit bypasses the sender's qdiscs,
//! so the bottleneck (a `tc tbf` qdisc) sits on the router's interface
//! towards the client, where every flow, kernel or Trickles, is forwarded
//! by the router's kernel (issue 6, `friendliness`).
//!
//! Addresses: client 10.78.1.1/24 via 10.78.1.254; server 10.78.2.1/24
//! via 10.78.2.254. Namespace names start with `TRICKLES_NETNS_PREFIX`
//! (so `cargo xtask`'s reaper removes them if this process dies); they
//! are removed on drop.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use trickles_xdp::netns::{End, PREFIX_ENV};

/// client ⇄ router ⇄ server.
#[derive(Debug)]
pub struct Routed {
    /// The client's end (gateway: the router).
    pub client: End,
    /// The server's end (gateway: the router).
    pub server: End,
    /// The router's namespace.
    pub router: String,
    /// The router's interface towards the client (the bottleneck's place).
    pub router_to_client: String,
    created: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Routed {
    /// Create the three namespaces and two veth pairs. Needs root.
    pub fn create() -> Result<Routed, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = std::env::var(PREFIX_ENV).unwrap_or_else(|_| "trk".to_owned());
        let id = format!("{prefix}{}-r{n}", std::process::id());
        let mut r = Routed {
            client: End {
                netns: format!("{id}c"),
                ifname: "veth-c".into(),
                addr: Ipv4Addr::new(10, 78, 1, 1),
                mac: [0x02, 0, 0, 0x78, 1, 1],
                gateway: Some(Ipv4Addr::new(10, 78, 1, 254)),
            },
            server: End {
                netns: format!("{id}s"),
                ifname: "veth-s".into(),
                addr: Ipv4Addr::new(10, 78, 2, 1),
                mac: [0x02, 0, 0, 0x78, 2, 1],
                gateway: Some(Ipv4Addr::new(10, 78, 2, 254)),
            },
            router: format!("{id}r"),
            router_to_client: "r-c".into(),
            created: Vec::new(),
        };
        for ns in [&r.client.netns, &r.server.netns, &r.router] {
            ip(&["netns", "add", ns])?;
            r.created.push(ns.clone());
        }
        let (c, s, rt) = (r.client.clone(), r.server.clone(), r.router.clone());
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        #[rustfmt::skip]
        ip(&["-n", &c.netns, "link", "add", &c.ifname, "address", &mac(c.mac),
             "type", "veth", "peer", "name", "r-c", "netns", &rt])?;
        #[rustfmt::skip]
        ip(&["-n", &s.netns, "link", "add", &s.ifname, "address", &mac(s.mac),
             "type", "veth", "peer", "name", "r-s", "netns", &rt])?;
        for (ns, ifname, cidr) in [
            (&c.netns, c.ifname.as_str(), "10.78.1.1/24"),
            (&s.netns, s.ifname.as_str(), "10.78.2.1/24"),
            (&rt, "r-c", "10.78.1.254/24"),
            (&rt, "r-s", "10.78.2.254/24"),
        ] {
            ip(&["-n", ns, "addr", "add", cidr, "dev", ifname])?;
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "-n",
            &c.netns,
            "route",
            "add",
            "default",
            "via",
            "10.78.1.254",
        ])?;
        ip(&[
            "-n",
            &s.netns,
            "route",
            "add",
            "default",
            "via",
            "10.78.2.254",
        ])?;
        run(
            "ip",
            &[
                "netns",
                "exec",
                &rt,
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
            ],
        )?;
        Ok(r)
    }

    /// Put a token-bucket bottleneck of `mbit` Mb/s with a queue of
    /// `latency_ms` on the router's interface towards the client.
    pub fn set_bottleneck(&self, mbit: u32, latency_ms: u32) -> Result<(), String> {
        #[rustfmt::skip]
        ip(&["-n", &self.router, "link", "set", "r-c", "mtu", "1500"])?;
        run(
            "tc",
            &[
                "-n",
                &self.router,
                "qdisc",
                "replace",
                "dev",
                "r-c",
                "root",
                "tbf",
                "rate",
                &format!("{mbit}mbit"),
                "burst",
                "32kb",
                "latency",
                &format!("{latency_ms}ms"),
            ],
        )
    }

    /// `tc -s qdisc` of the bottleneck (sent, dropped, overlimits).
    pub fn bottleneck_stats(&self) -> String {
        Command::new("tc")
            .args(["-n", &self.router, "-s", "qdisc", "show", "dev", "r-c"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

impl Drop for Routed {
    fn drop(&mut self) {
        for ns in self.created.drain(..) {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("routed: could not remove {ns}: {e}");
            }
        }
    }
}
