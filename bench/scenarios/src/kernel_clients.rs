//! The kernel-TCP side of `clients` (paper §6.1, Fig. 11): the same N
//! slow clients against nginx on kernel TCP, and what the server then
//! holds: nginx's resident memory (master and worker) and the kernel's
//! memory for its sockets.
//!
//! `tcp-slow-clients` (this package) in the client namespace opens N
//! connections, sends one GET of a large file on each and reads
//! [`READ_BYTES`] at a time round robin at the Trickles side's request
//! rate, then holds every connection open while the server is measured.
//!
//! One process may hold at most [`PER_PROCESS`] connections: this
//! machine's hard limit is 20 000 descriptors per process and the
//! benchmark cannot raise it (no `CAP_SYS_RESOURCE`). So the clients are
//! split over as many `tcp-slow-clients` processes as needed, and nginx
//! gets as many workers (`listen ... reuseport` spreads the connections
//! evenly), each with `worker_connections` [`PER_PROCESS`] plus room and
//! `open_file_cache` (without it each download holds its own descriptor
//! of the file, two per connection). nginx's memory is that of all its
//! processes. The client namespace's sockets get 4 KiB receive buffers
//! (`tcp_rmem`, per namespace): the clients are slow, and their own
//! buffers, on the same machine, count against the same global `tcp_mem`
//! limits as the server's. Whether the kernel reached memory pressure is
//! reported with each figure.
//!
//! Kernel socket memory of the server: the buffer memory each of its
//! established sockets is charged (`ss -m`: rmem_alloc + wmem_queued +
//! forward_alloc + opt_mem), plus one `tcp_sock` object (its slab object
//! size) per socket; the file, inode and dentry of each socket are left
//! out, so this is a lower bound.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};
use trickles_xdp::netns::{End, NetnsPair};

use crate::process::{Daemon, children, memory_kib};

/// The server's ports: two, so that 100 000 clients from one address
/// fit in the client's port range.
const PORTS: [u16; 2] = [8080, 8081];
/// Bytes taken by each read (the two response frames of a Trickles
/// request).
pub const READ_BYTES: usize = 2720;
/// The file each client downloads (never finished at this pace).
const FILE_BYTES: usize = 10_000_000;
/// Connections per client process and, on average, per nginx worker.
pub const PER_PROCESS: u32 = 12_500;
/// File descriptors each of those processes may hold.
const NOFILE: u32 = 16_384;

/// What the kernel side measured for one N.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelMemory {
    /// nginx's master and worker VmRSS, KiB.
    pub nginx_rss_kib: u64,
    /// Server sockets' buffers and `tcp_sock` objects, KiB.
    pub socket_kib: u64,
    /// Established server sockets counted.
    pub sockets: u64,
    /// The kernel's TCP memory (all namespaces) reached `tcp_mem`'s
    /// pressure threshold.
    pub pressure: bool,
}

/// Sum of `r + w + f + o` over every `skmem:(...)` of `ss -m` output, and
/// the number of sockets.
pub fn skmem_bytes(ss: &str) -> (u64, u64) {
    let mut total = 0u64;
    let mut sockets = 0u64;
    for part in ss.split("skmem:(").skip(1) {
        let fields = part.split(')').next().unwrap_or("");
        sockets += 1;
        for f in fields.split(',') {
            let (name, value) = f.split_at(f.find(|c: char| c.is_ascii_digit()).unwrap_or(f.len()));
            if matches!(name, "r" | "w" | "f" | "o") {
                total += value.parse::<u64>().unwrap_or(0);
            }
        }
    }
    (total, sockets)
}

/// The object size of the `TCP` slab (a `tcp_sock`), bytes.
fn tcp_sock_bytes() -> u64 {
    std::fs::read_to_string("/proc/slabinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("TCP "))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `TCP: ... mem PAGES` of /proc/net/sockstat (global), and `tcp_mem`'s
/// pressure threshold, pages.
fn tcp_pages(end: &End) -> Result<(u64, u64), String> {
    let out = end
        .command("cat")
        .arg("/proc/net/sockstat")
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mem = text
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| l.split_whitespace().skip_while(|w| *w != "mem").nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no TCP mem in sockstat: {text}"))?;
    let limits =
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_mem").map_err(|e| e.to_string())?;
    let pressure = limits
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or("unreadable tcp_mem")?;
    Ok((mem, pressure))
}

fn sysctl(end: &End, setting: &str) -> Result<(), String> {
    let st = end
        .command("sysctl")
        .args(["-q", "-w", setting])
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("sysctl -w {setting} failed in {}", end.netns));
    }
    Ok(())
}

/// Set up the pair for the kernel side: a wide client port range, small
/// client receive buffers, a long server accept queue; the file to serve.
pub fn prepare(pair: &NetnsPair, dir: &Path) -> Result<(), String> {
    sysctl(&pair.a, "net.ipv4.ip_local_port_range=10000 64999")?;
    sysctl(&pair.a, "net.ipv4.tcp_rmem=4096 4096 4096")?;
    sysctl(&pair.b, "net.core.somaxconn=65535")?;
    sysctl(&pair.b, "net.ipv4.tcp_max_syn_backlog=65535")?;
    let www = dir.join("www");
    std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
    std::fs::write(www.join("big.bin"), vec![b'x'; FILE_BYTES]).map_err(|e| e.to_string())
}

/// Processes needed for `n` connections, [`PER_PROCESS`] at most each.
fn processes(n: u32) -> u32 {
    n.div_ceil(PER_PROCESS).max(1)
}

fn nginx_conf(dir: &Path, pair: &NetnsPair, n: u32) -> String {
    let d = dir.display();
    let listen: String = PORTS
        .iter()
        .map(|p| format!("listen {}:{p} backlog=65535 reuseport; ", pair.b.addr))
        .collect();
    format!(
        "worker_processes {};\ndaemon off;\nuser root;\npid {d}/nginx.pid;\n\
         worker_rlimit_nofile {NOFILE};\nerror_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections {}; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  open_file_cache max=64 inactive=600s;\n  keepalive_timeout 600s;\n  send_timeout 600s;\n  \
         default_type application/octet-stream;\n  types {{ }}\n  \
         server {{ {listen}root {d}/www; }}\n}}\n",
        processes(n),
        NOFILE - 256
    )
}

/// N slow clients against nginx; what the server holds with all of them
/// connected. `rate` and `seconds` as the Trickles side's.
pub fn measure(
    pair: &NetnsPair,
    dir: &Path,
    n: u32,
    slow_clients: &Path,
    rate: u64,
    seconds: u32,
) -> Result<(KernelMemory, Value), String> {
    let conf = dir.join("nginx-clients.conf");
    std::fs::write(&conf, nginx_conf(dir, pair, n)).map_err(|e| e.to_string())?;
    let child = pair
        .b
        .command("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting nginx (apt-get install nginx): {e}"))?;
    let mut nginx = Daemon(child);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    nginx.check_alive("nginx")?;
    let ports: Vec<String> = PORTS.iter().map(u16::to_string).collect();
    let k = processes(n);
    let mut clients = Vec::new();
    for i in 0..k {
        let share = n / k + u32::from(i < n % k);
        let child = pair
            .a
            .command("prlimit")
            .arg(format!("--nofile={NOFILE}:{NOFILE}"))
            .arg("--")
            .arg(slow_clients)
            .args([
                "--server",
                &pair.b.addr.to_string(),
                "--ports",
                &ports.join(","),
            ])
            .args(["--clients", &share.to_string()])
            .args(["--rate", &(rate / u64::from(k)).to_string()])
            .args(["--read-bytes", &READ_BYTES.to_string()])
            .args(["--seconds", &seconds.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", slow_clients.display()))?;
        clients.push(Daemon(child));
    }
    let mut summaries = Vec::new();
    for c in &mut clients {
        let mut line = String::new();
        if let Some(out) = c.0.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
        }
        let summary: Value = serde_json::from_str(line.trim())
            .map_err(|_| "tcp-slow-clients ended without its summary (see its error above)")?;
        summaries.push(summary);
    }
    // Every connection is open now: measure the server.
    nginx.check_alive("nginx")?;
    let mut rss = memory_kib(nginx.pid())?.0;
    for c in children(nginx.pid()) {
        rss += memory_kib(c)?.0;
    }
    let ss = pair
        .b
        .command("ss")
        .args(["-tmnH", "state", "established"])
        .output()
        .map_err(|e| e.to_string())?;
    let (buffers, sockets) = skmem_bytes(&String::from_utf8_lossy(&ss.stdout));
    let (tcp_pages, pressure_pages) = tcp_pages(&pair.b)?;
    let socket_kib = (buffers + sockets * tcp_sock_bytes()) / 1024;
    // Let the clients go, then the server.
    for c in &mut clients {
        if let Some(mut stdin) = c.0.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
    }
    drop(clients);
    drop(nginx);
    let m = KernelMemory {
        nginx_rss_kib: rss,
        socket_kib,
        sockets,
        pressure: tcp_pages >= pressure_pages,
    };
    Ok((
        m,
        json!({
            "nginx_rss_kib": rss,
            "socket_buffer_bytes": buffers,
            "tcp_sock_bytes": tcp_sock_bytes(),
            "server_sockets": sockets,
            "socket_kib": socket_kib,
            "tcp_mem_pages_all_namespaces": tcp_pages,
            "tcp_mem_pressure_pages": pressure_pages,
            "pressure": m.pressure,
            "nginx_workers": k,
            "client_processes": summaries,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_charged_socket_memory_of_ss_output() {
        let ss = "0 0 10.77.0.2:8080 10.77.0.1:40000\n\t skmem:(r0,rb131072,t0,tb46080,f1024,w17408,o0,bl0,d0)\n\
                  0 0 10.77.0.2:8081 10.77.0.1:40001\n\t skmem:(r2304,rb4096,t1,tb46080,f0,w0,o40,bl0,d3)\n";
        assert_eq!(skmem_bytes(ss), (1024 + 17408 + 2304 + 40, 2));
        assert_eq!(skmem_bytes(""), (0, 0));
    }
}
