//! The rotation in the router's kernel: which replicas get the service
//! address's packets.
//!
//! - Always, a multipath route to the service address over the live
//!   replicas (`ip route replace VIP/32 nexthop via A nexthop via B`),
//!   hashed on the L4 4-tuple (`fib_multipath_hash_policy = 1`): kernel
//!   ECMP. Every packet of one flow goes to one replica, which is what the
//!   kernel TCP fallback (and anything but Trickles) needs.
//! - In spray mode, also an nftables rule on the ingress hook of the
//!   devices client traffic arrives on (netdev family, before routing)
//!   that forwards each Trickles-marked segment for the service ports
//!   (marker `FD 04 54 52` at TCP offset 20, docs/protocol.md §1) to a
//!   replica chosen by a hash of the client's address and port and of
//!   the request's run of 16 consecutive request numbers (the
//!   continuation's incarnation and `k / 16`, which REQUEST and
//!   TIMEOUT_REQUEST carry at fixed offsets, §4.4). Each packet is placed
//!   on its own, from its own bytes, with no connection table anywhere
//!   (per-packet load balancing, paper §6.3); runs rather than single
//!   requests because every switch of replica reorders responses, and the
//!   client pauses its requests until a hole fills (§14.4). A replayed
//!   request lands on the replica whose replay table saw the original,
//!   and so, but at the end of a run, does the previous continuation a
//!   request repeats (§9.2).
//!   Both hashes of the rule (next hop, device) use one fixed seed, so
//!   they agree.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// The nftables table the balancer owns.
pub const NFT_TABLE: &str = "trickles_balance";
/// Seed of the rule's hashes (any fixed value: both must agree).
const HASH_SEED: u32 = 0x5472_636b;
/// The request's run of 16 consecutive request numbers, as nftables raw
/// payload: the continuation (payload offset 8, after the TCP header and
/// the 4-byte marker: TCP offset 32) holds the incarnation at bytes
/// 12..16 and `k` at 16..20 (docs/protocol.md §4.4, §5); the top 28 bits
/// of `k` are `k / 16`.
const RUN_OF_REQUESTS: &str = "@th,352,32 . @th,384,28";

/// A replica as the router reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Its own address (not the service address).
    pub addr: Ipv4Addr,
    /// The router's device towards it.
    pub dev: String,
    /// The router's address on that device (the probes' source).
    pub src: Ipv4Addr,
}

/// The arguments of `ip` that route `vip` over `live` (multipath when
/// more than one).
pub fn route_args(vip: Ipv4Addr, live: &[&Replica]) -> Vec<String> {
    let mut args: Vec<String> = ["route", "replace", &format!("{vip}/32")]
        .iter()
        .map(|s| s.to_string())
        .collect();
    match live {
        [one] => args.extend([
            "via".into(),
            one.addr.to_string(),
            "dev".into(),
            one.dev.clone(),
        ]),
        many => {
            for r in many {
                args.extend([
                    "nexthop".into(),
                    "via".into(),
                    r.addr.to_string(),
                    "dev".into(),
                    r.dev.clone(),
                ]);
            }
        }
    }
    args
}

/// The nftables script that sprays marked segments for `ports` of `vip`
/// arriving on `ingress` over `live` (replacing the table atomically).
pub fn nft_script(vip: Ipv4Addr, ports: &[u16], ingress: &[String], live: &[&Replica]) -> String {
    let ports = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let target = match live {
        [one] => format!("fwd ip to {} device \"{}\"", one.addr, one.dev),
        many => {
            let hash = format!(
                "jhash ip saddr . tcp sport . {RUN_OF_REQUESTS} mod {} seed 0x{HASH_SEED:08x}",
                many.len()
            );
            let map = |f: &dyn Fn(&Replica) -> String| {
                many.iter()
                    .enumerate()
                    .map(|(i, r)| format!("{i} : {}", f(r)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "fwd ip to {hash} map {{ {} }} device {hash} map {{ {} }}",
                map(&|r| r.addr.to_string()),
                map(&|r| format!("\"{}\"", r.dev))
            )
        }
    };
    let mut s = format!(
        "table netdev {NFT_TABLE}\ndelete table netdev {NFT_TABLE}\ntable netdev {NFT_TABLE} {{\n"
    );
    for (i, dev) in ingress.iter().enumerate() {
        s.push_str(&format!(
            "  chain ingress_{i} {{\n    type filter hook ingress device \"{dev}\" priority -100; policy accept;\n    \
             ip daddr {vip} tcp dport {{ {ports} }} @th,160,32 0xfd045452 {target}\n  }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

/// Run `program args`, feeding `stdin`; its stderr as the error.
pub fn run(program: &str, args: &[String], stdin: Option<&str>) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
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

/// Install the rotation `live` (spray rules only when `ingress` is not
/// empty).
pub fn install(
    vip: Ipv4Addr,
    ports: &[u16],
    ingress: &[String],
    live: &[&Replica],
) -> Result<(), String> {
    run("ip", &route_args(vip, live), None)?;
    if !ingress.is_empty() {
        run(
            "nft",
            &["-f".into(), "-".into()],
            Some(&nft_script(vip, ports, ingress, live)),
        )?;
    }
    Ok(())
}

/// Remove what [`install`] put in place.
pub fn remove(vip: Ipv4Addr, spray: bool) -> Result<(), String> {
    let route = run(
        "ip",
        &["route".into(), "del".into(), format!("{vip}/32")],
        None,
    );
    let table = if spray {
        run(
            "nft",
            &[
                "delete".into(),
                "table".into(),
                "netdev".into(),
                NFT_TABLE.into(),
            ],
            None,
        )
    } else {
        Ok(())
    };
    route.and(table)
}

/// Where the router reaches `addr`: device and source address, from
/// `ip -j route get`.
pub fn resolve(addr: Ipv4Addr) -> Result<Replica, String> {
    let out = Command::new("ip")
        .args(["-j", "route", "get", &addr.to_string()])
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "no route to replica {addr}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("ip -j route get {addr}: {e}"))?;
    let route = json
        .get(0)
        .ok_or_else(|| format!("no route to replica {addr}"))?;
    let field = |k: &str| route.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    if field("gateway").is_some() {
        return Err(format!(
            "replica {addr} is not on a link of this router (its route goes through a gateway)"
        ));
    }
    let dev = field("dev").ok_or_else(|| format!("no device towards replica {addr}"))?;
    let src = field("prefsrc")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no source address towards replica {addr}"))?;
    Ok(Replica { addr, dev, src })
}

/// Hash on the L4 4-tuple for multipath routes in this namespace (so
/// kernel ECMP spreads flows, not just source and destination pairs).
pub fn use_l4_multipath_hash() -> Result<(), String> {
    std::fs::write("/proc/sys/net/ipv4/fib_multipath_hash_policy", "1")
        .map_err(|e| format!("setting net.ipv4.fib_multipath_hash_policy = 1: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replicas() -> Vec<Replica> {
        (1..=2u8)
            .map(|i| Replica {
                addr: Ipv4Addr::new(10, 0, i, 1),
                dev: format!("r-{i}"),
                src: Ipv4Addr::new(10, 0, i, 254),
            })
            .collect()
    }

    #[test]
    fn routes_are_multipath_over_the_live_replicas() {
        let r = replicas();
        let vip = Ipv4Addr::new(10, 9, 9, 9);
        assert_eq!(
            route_args(vip, &[&r[0], &r[1]]).join(" "),
            "route replace 10.9.9.9/32 nexthop via 10.0.1.1 dev r-1 nexthop via 10.0.2.1 dev r-2"
        );
        assert_eq!(
            route_args(vip, &[&r[1]]).join(" "),
            "route replace 10.9.9.9/32 via 10.0.2.1 dev r-2"
        );
    }

    #[test]
    fn the_spray_rule_hashes_marked_segments_with_one_seed() {
        let r = replicas();
        let vip = Ipv4Addr::new(10, 9, 9, 9);
        let s = nft_script(vip, &[80, 9000], &["r-c".into()], &[&r[0], &r[1]]);
        assert!(
            s.starts_with("table netdev trickles_balance\ndelete table netdev trickles_balance\n")
        );
        assert!(s.contains("hook ingress device \"r-c\""), "{s}");
        assert!(
            s.contains(
                "ip daddr 10.9.9.9 tcp dport { 80, 9000 } @th,160,32 0xfd045452 fwd ip to jhash"
            ),
            "{s}"
        );
        assert!(
            s.contains("map { 0 : 10.0.1.1, 1 : 10.0.2.1 } device jhash"),
            "{s}"
        );
        assert!(s.contains("map { 0 : \"r-1\", 1 : \"r-2\" }"), "{s}");
        assert_eq!(s.matches("seed 0x5472636b").count(), 2, "{s}");
        let one = nft_script(vip, &[80], &["r-c".into(), "r-d".into()], &[&r[1]]);
        assert!(one.contains("fwd ip to 10.0.2.1 device \"r-2\""), "{one}");
        assert!(one.contains("chain ingress_1"), "{one}");
    }
}
