//! Addresses a datapath endpoint needs from the kernel: an interface's
//! index and MAC address, and the MAC address of an IPv4 neighbour.
//!
//! Neighbour resolution is not a manual step: [`resolve_ipv4`] lets the
//! kernel do ARP (RFC 826) by sending one UDP datagram to the neighbour's
//! discard port through an ordinary socket (ARP passes the XDP program,
//! docs/protocol.md §1), then reads the kernel's neighbour table. Every
//! call acts in the calling thread's network namespace.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// Index of interface `ifname` in the calling thread's namespace.
pub fn ifindex(ifname: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name with NUL"))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {ifname}: {}", io::Error::last_os_error()),
        ));
    }
    Ok(index)
}

/// MAC address of interface `ifname` (SIOCGIFHWADDR).
pub fn mac_address(ifname: &str) -> io::Result<[u8; 6]> {
    let bytes = ifname.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // Any socket of the namespace will do for the ioctl.
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads `ifr_name` and writes `ifr_hwaddr` of a
    // live ifreq on a valid socket.
    let r = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::SIOCGIFHWADDR,
            &mut req,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFHWADDR the union holds `ifru_hwaddr`.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (m, d) in mac.iter_mut().zip(data) {
        *m = d as u8;
    }
    Ok(mac)
}

/// The kernel's ARP entry for `ip` on `ifname`, if complete
/// (`/proc/thread-self/net/arp`, flag ATF_COM).
pub fn lookup_ipv4(ifname: &str, ip: Ipv4Addr) -> io::Result<Option<[u8; 6]>> {
    let table = std::fs::read_to_string("/proc/thread-self/net/arp")?;
    Ok(parse_arp_table(&table, ifname, ip))
}

fn parse_arp_table(table: &str, ifname: &str, ip: Ipv4Addr) -> Option<[u8; 6]> {
    // IP address  HW type  Flags  HW address  Mask  Device
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[0].parse::<Ipv4Addr>().ok()? != ip || f[5] != ifname {
            return None;
        }
        let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
        if flags & 0x2 == 0 {
            return None; // incomplete
        }
        let mut mac = [0u8; 6];
        let mut parts = f[3].split(':');
        for m in &mut mac {
            *m = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        Some(mac)
    })
}

/// The MAC address of neighbour `ip` on `ifname`: from the kernel's table,
/// after letting the kernel resolve it if needed; gives up after
/// `timeout`.
pub fn resolve_ipv4(ifname: &str, ip: Ipv4Addr, timeout: Duration) -> io::Result<[u8; 6]> {
    if let Some(mac) = lookup_ipv4(ifname, ip)? {
        return Ok(mac);
    }
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    let start = Instant::now();
    let mut next_probe = start;
    loop {
        if Instant::now() >= next_probe {
            // Port 9 (discard): the datagram only exists to make the
            // kernel resolve the address; its loss does not matter.
            let _ = sock.send_to(b"trickles: resolving neighbour", SocketAddrV4::new(ip, 9));
            next_probe += Duration::from_millis(200);
        }
        if let Some(mac) = lookup_ipv4(ifname, ip)? {
            return Ok(mac);
        }
        if start.elapsed() >= timeout {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no ARP answer from {ip} on {ifname} within {timeout:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_complete_entries_only() {
        let table = "IP address       HW type     Flags       HW address            Mask     Device\n\
                     10.77.0.2        0x1         0x2         02:00:00:77:00:02     *        veth-a\n\
                     10.77.0.3        0x1         0x0         00:00:00:00:00:00     *        veth-a\n";
        let ip = |x| Ipv4Addr::new(10, 77, 0, x);
        assert_eq!(
            parse_arp_table(table, "veth-a", ip(2)),
            Some([2, 0, 0, 0x77, 0, 2])
        );
        assert_eq!(parse_arp_table(table, "veth-b", ip(2)), None);
        assert_eq!(parse_arp_table(table, "veth-a", ip(3)), None);
        assert_eq!(parse_arp_table(table, "veth-a", ip(4)), None);
    }
}
