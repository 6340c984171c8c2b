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
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = std::env::var(PREFIX_ENV).unwrap_or_else(|_| "trk".to_owned());
        let id = format!("{prefix}{}-{n}", std::process::id());
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
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
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
