//! What the XDP program and user space share: map names, sizes and the
//! counter indices of `bpf/trickles_shared.h` (docs/protocol.md §1). A test
//! parses the header and compares, so the two cannot drift apart.

use trickles_wire::classify::{PassReason, Verdict};

/// Name of the XSKMAP (receive queue index → AF_XDP socket).
pub const XSKS_MAP: &str = "trickles_xsks";
/// Name of the served-ports hash map (destination port → non-zero).
pub const PORTS_MAP: &str = "trickles_ports";
/// Name of the per-CPU counter array.
pub const STATS_MAP: &str = "trickles_stats";
/// Name of the XDP program in the object file.
pub const PROGRAM: &str = "trickles_steer";
/// Entries of the XSKMAP: the largest receive queue index plus one.
pub const MAX_QUEUES: u32 = 64;
/// Entries of the ports map.
pub const MAX_PORTS: u32 = 256;

/// One per-CPU counter of the program: what it did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Stat {
    /// Redirected to the AF_XDP socket of its receive queue.
    Steered = 0,
    /// Would be steered, but no socket is bound to its queue: passed.
    SteerNoSocket = 1,
    /// Passed: not IPv4 or IPv6.
    PassNotIp = 2,
    /// Passed: truncated or inconsistent lengths.
    PassMalformed = 3,
    /// Passed: an IPv4 fragment.
    PassFragment = 4,
    /// Passed: not TCP.
    PassNotTcp = 5,
    /// Passed: TCP without the Trickles marker.
    PassNotMarked = 6,
    /// Passed: marked, but the port is not served.
    PassPortNotServed = 7,
}

impl Stat {
    /// Number of counters.
    pub const COUNT: usize = 8;
    /// Every counter, in index order.
    pub const ALL: [Stat; Stat::COUNT] = [
        Stat::Steered,
        Stat::SteerNoSocket,
        Stat::PassNotIp,
        Stat::PassMalformed,
        Stat::PassFragment,
        Stat::PassNotTcp,
        Stat::PassNotMarked,
        Stat::PassPortNotServed,
    ];

    /// Stable name for logs and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stat::Steered => "steered",
            Stat::SteerNoSocket => "steer_no_socket",
            Stat::PassNotIp => "pass_not_ip",
            Stat::PassMalformed => "pass_malformed",
            Stat::PassFragment => "pass_fragment",
            Stat::PassNotTcp => "pass_not_tcp",
            Stat::PassNotMarked => "pass_not_marked",
            Stat::PassPortNotServed => "pass_port_not_served",
        }
    }

    /// The counter the program bumps for a frame the Rust classifier
    /// judges `verdict`, given whether a socket is bound to its queue.
    pub fn for_verdict(verdict: Verdict, socket_bound: bool) -> Stat {
        match verdict {
            Verdict::Steer if socket_bound => Stat::Steered,
            Verdict::Steer => Stat::SteerNoSocket,
            Verdict::Pass(PassReason::NotIp) => Stat::PassNotIp,
            Verdict::Pass(PassReason::Malformed) => Stat::PassMalformed,
            Verdict::Pass(PassReason::Fragment) => Stat::PassFragment,
            Verdict::Pass(PassReason::NotTcp) => Stat::PassNotTcp,
            Verdict::Pass(PassReason::NotMarked) => Stat::PassNotMarked,
            Verdict::Pass(PassReason::PortNotServed) => Stat::PassPortNotServed,
        }
    }
}

/// The program's counters, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats(pub [u64; Stat::COUNT]);

impl Stats {
    /// The value of one counter.
    pub fn get(&self, stat: Stat) -> u64 {
        self.0[stat as usize]
    }

    /// Frames passed to the kernel, for any reason.
    pub fn passed(&self) -> u64 {
        self.0.iter().sum::<u64>() - self.get(Stat::Steered)
    }

    /// Counter-wise difference `self − earlier` (counters only grow).
    pub fn since(&self, earlier: &Stats) -> Stats {
        let mut d = [0; Stat::COUNT];
        for (i, v) in d.iter_mut().enumerate() {
            *v = self.0[i].saturating_sub(earlier.0[i]);
        }
        Stats(d)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn define(header: &str, name: &str) -> u32 {
        let line = header
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from trickles_shared.h"));
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    }

    #[test]
    fn shared_header_matches() {
        let header = include_str!("../../../bpf/trickles_shared.h");
        let names = [
            "TRICKLES_STAT_STEERED",
            "TRICKLES_STAT_STEER_NO_SOCKET",
            "TRICKLES_STAT_PASS_NOT_IP",
            "TRICKLES_STAT_PASS_MALFORMED",
            "TRICKLES_STAT_PASS_FRAGMENT",
            "TRICKLES_STAT_PASS_NOT_TCP",
            "TRICKLES_STAT_PASS_NOT_MARKED",
            "TRICKLES_STAT_PASS_PORT_NOT_SERVED",
        ];
        for (stat, name) in Stat::ALL.iter().zip(names) {
            assert_eq!(define(header, name), *stat as u32, "{name}");
        }
        assert_eq!(define(header, "TRICKLES_STAT_COUNT") as usize, Stat::COUNT);
        assert_eq!(define(header, "TRICKLES_MAX_QUEUES"), MAX_QUEUES);
        assert_eq!(define(header, "TRICKLES_MAX_PORTS"), MAX_PORTS);
        let source = include_str!("../../../bpf/trickles_xdp.c");
        for name in [XSKS_MAP, PORTS_MAP, STATS_MAP, PROGRAM] {
            assert!(source.contains(name), "{name} missing from trickles_xdp.c");
        }
    }
}
