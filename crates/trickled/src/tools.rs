//! `trickles get` and `trickles proxy`: HTTP over Trickles from the
//! command line, and for unmodified socket programs (curl, wget, a
//! browser) through a local reverse proxy. Both fall back to ordinary TCP
//! when the server does not speak Trickles, and say so in the log.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fetch::{self, FetchEvent, Job};

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host as written.
    pub host: String,
    /// Port (80 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parse `s`; only `http://` URLs.
    pub fn parse(s: &str) -> Result<Url, String> {
        let rest = s
            .strip_prefix("http://")
            .ok_or_else(|| format!("{s}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse().map_err(|_| format!("{s}: `{p}` is not a port"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("{s}: no host"));
        }
        Ok(Url {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// The server's IPv4 address and port.
    pub fn resolve(&self) -> Result<SocketAddrV4, String> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", self.host))?
            .find_map(|a| match a {
                SocketAddr::V4(v4) => Some(v4),
                SocketAddr::V6(_) => None,
            })
            .ok_or_else(|| {
                format!(
                    "{}: no IPv4 address (the Trickles datapath speaks IPv4)",
                    self.host
                )
            })
    }

    /// The GET request for it.
    pub fn request(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: trickles/{}\r\nConnection: close\r\n\r\n",
            self.path,
            self.host,
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes()
    }
}

/// The client datapath of a process, started on first use for the route
/// to the first server.
#[derive(Debug)]
pub struct Datapath {
    jobs: Sender<Job>,
    route_to: Ipv4Addr,
}

impl Datapath {
    /// Start it for the route to `server`.
    pub fn start(server: Ipv4Addr) -> Result<Datapath, String> {
        let route = fetch::route_to(server).map_err(|e| e.to_string())?;
        tracing::debug!(?route, "route");
        let (jobs, _thread) = fetch::start(&route).map_err(|e| e.to_string())?;
        Ok(Datapath {
            jobs,
            route_to: server,
        })
    }

    /// Fetch `request` from `server`; the events arrive on the receiver.
    pub fn submit(
        &self,
        server: SocketAddrV4,
        request: Vec<u8>,
    ) -> Result<std::sync::mpsc::Receiver<FetchEvent>, String> {
        if *server.ip() != self.route_to {
            return Err(format!(
                "this datapath serves {}, not {}",
                self.route_to,
                server.ip()
            ));
        }
        let (events, rx) = channel();
        self.jobs
            .send(Job {
                server,
                request,
                events,
            })
            .map_err(|_| "the datapath thread has stopped".to_string())?;
        Ok(rx)
    }
}

/// Where a response goes: the raw bytes (head and body), as they come.
pub trait Sink {
    /// The next bytes.
    fn bytes(&mut self, b: &[u8]) -> io::Result<()>;
    /// The length of the whole response, once known.
    fn total(&mut self, _len: u64) {}
}

/// How a fetch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Over Trickles.
    Trickles,
    /// Over ordinary TCP, the server not answering the Trickles SYN.
    FellBackToTcp,
}

/// Fetch `request` from `server` into `sink`, over Trickles, or over TCP
/// when the server does not speak it.
pub fn fetch_into(
    dp: &Datapath,
    server: SocketAddrV4,
    request: &[u8],
    sink: &mut dyn Sink,
) -> Result<Outcome, String> {
    let events = dp.submit(server, request.to_vec())?;
    loop {
        match events.recv() {
            Ok(FetchEvent::Total(t)) => sink.total(t),
            Ok(FetchEvent::Data(d)) => sink
                .bytes(&d)
                .map_err(|e| format!("writing the response: {e}"))?,
            Ok(FetchEvent::Done) => return Ok(Outcome::Trickles),
            Ok(FetchEvent::Failed(e)) => return Err(e),
            Ok(FetchEvent::Fallback) => {
                tracing::warn!(%server, "no Trickles answer to the SYN; falling back to ordinary TCP");
                tcp_fetch(server, request, sink)?;
                return Ok(Outcome::FellBackToTcp);
            }
            Err(_) => return Err("the datapath thread stopped".into()),
        }
    }
}

/// The same request over the kernel's TCP.
fn tcp_fetch(server: SocketAddrV4, request: &[u8], sink: &mut dyn Sink) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&server.into(), Duration::from_secs(5))
        .map_err(|e| format!("TCP connection to {server}: {e}"))?;
    s.set_read_timeout(Some(fetch::STALL_AFTER))
        .map_err(|e| e.to_string())?;
    s.write_all(request)
        .map_err(|e| format!("TCP request to {server}: {e}"))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("TCP response from {server}: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        sink.bytes(&buf[..n])
            .map_err(|e| format!("writing the response: {e}"))?;
    }
}

/// Splits an HTTP response into its head (status checked) and body,
/// writing the body to `out` and showing progress.
#[derive(Debug)]
pub struct HttpBody<W: Write> {
    head: Vec<u8>,
    in_body: bool,
    /// Status code, once the head is in.
    pub status: Option<u16>,
    /// The status line.
    pub status_line: String,
    out: W,
    /// Body bytes written.
    pub body_bytes: u64,
    total: Option<u64>,
    progress: Option<Progress>,
}

#[derive(Debug)]
struct Progress {
    start: Instant,
    last: Instant,
}

impl<W: Write> HttpBody<W> {
    /// Write bodies to `out`; show progress on stderr if `progress`.
    pub fn new(out: W, progress: bool) -> HttpBody<W> {
        let now = Instant::now();
        HttpBody {
            head: Vec::new(),
            in_body: false,
            status: None,
            status_line: String::new(),
            out,
            body_bytes: 0,
            total: None,
            progress: progress.then_some(Progress {
                start: now,
                last: now,
            }),
        }
    }

    /// Flush the output and end the progress line.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        if let Some(p) = &self.progress
            && p.last != p.start
        {
            eprintln!();
        }
        Ok(self.out)
    }

    fn show(&mut self) {
        let Some(p) = &mut self.progress else { return };
        if p.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        p.last = Instant::now();
        let secs = p.start.elapsed().as_secs_f64().max(1e-3);
        let mb = self.body_bytes as f64 / 1e6;
        let rate = self.body_bytes as f64 * 8.0 / secs / 1e9;
        match self.total {
            Some(t) if t > 0 => {
                let pct = (self.body_bytes as f64 / t as f64 * 100.0).min(100.0);
                let filled = (pct / 5.0) as usize;
                eprint!(
                    "\r[{}{}] {pct:5.1}% {mb:9.1} MB {rate:6.2} Gb/s",
                    "#".repeat(filled),
                    " ".repeat(20 - filled.min(20))
                );
            }
            _ => eprint!("\r{mb:9.1} MB {rate:6.2} Gb/s"),
        }
    }
}

impl<W: Write> Sink for HttpBody<W> {
    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        if self.in_body {
            self.out.write_all(b)?;
            self.body_bytes += b.len() as u64;
            self.show();
            return Ok(());
        }
        self.head.extend_from_slice(b);
        let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.head.len() > 64 * 1024 {
                return Err(io::Error::other("response head longer than 64 KiB"));
            }
            return Ok(());
        };
        let head = String::from_utf8_lossy(&self.head[..end]).into_owned();
        self.status_line = head.lines().next().unwrap_or("").to_owned();
        self.status = self
            .status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok());
        self.total = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        });
        self.in_body = true;
        let rest = self.head.split_off(end + 4);
        self.bytes(&rest)
    }
}

/// Writes raw response bytes to a socket (the proxy).
struct Passthrough<'a>(&'a mut TcpStream);

impl Sink for Passthrough<'_> {
    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.0.write_all(b)
    }
}

/// `trickles proxy`: accept ordinary TCP connections on `listen`, read one
/// HTTP request from each, fetch it from `server` over Trickles (or TCP if
/// the server does not speak it), and pass the response back. Runs until
/// `stop`.
pub fn proxy(listen: SocketAddr, server: SocketAddrV4, stop: &AtomicBool) -> Result<(), String> {
    let dp = Arc::new(Mutex::new(Datapath::start(*server.ip())?));
    let listener = TcpListener::bind(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    tracing::info!(%listen, %server, "proxying HTTP to a Trickles server");
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut s, peer)) => {
                let dp = dp.clone();
                std::thread::spawn(move || {
                    if let Err(e) = proxy_one(&mut s, &dp, server) {
                        tracing::warn!(%peer, error = %e, "proxied request failed");
                        let _ = s.write_all(
                            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    Ok(())
}

fn proxy_one(s: &mut TcpStream, dp: &Mutex<Datapath>, server: SocketAddrV4) -> Result<(), String> {
    s.set_nonblocking(false).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut req = Vec::new();
    let mut buf = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        if req.len() > 16 * 1024 {
            return Err("request head longer than 16 KiB".into());
        }
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("reading the request: {e}"))?;
        if n == 0 {
            return Err("the client closed before its request ended".into());
        }
        req.extend_from_slice(&buf[..n]);
    }
    let events = dp
        .lock()
        .map_err(|_| "datapath lock poisoned".to_string())?
        .submit(server, req.clone())?;
    let mut sink = Passthrough(s);
    loop {
        match events.recv() {
            Ok(FetchEvent::Data(d)) => sink.bytes(&d).map_err(|e| e.to_string())?,
            Ok(FetchEvent::Total(_)) => {}
            Ok(FetchEvent::Done) => return Ok(()),
            Ok(FetchEvent::Failed(e)) => return Err(e),
            Ok(FetchEvent::Fallback) => {
                tracing::warn!(%server, "no Trickles answer to the SYN; falling back to ordinary TCP");
                return tcp_fetch(server, &req, &mut sink);
            }
            Err(_) => return Err("the datapath thread stopped".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://10.0.0.2:8080/a/b?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("10.0.0.2", 8080, "/a/b?x=1")
        );
        assert_eq!(Url::parse("http://h").unwrap().path, "/");
        assert!(Url::parse("https://h/").is_err());
        assert!(Url::parse("http://:80/").is_err());
        assert!(Url::parse("http://h:x/").is_err());
    }

    #[test]
    fn the_body_is_split_from_the_head_across_chunks() {
        let mut b = HttpBody::new(Vec::new(), false);
        for chunk in [
            &b"HTTP/1.1 200 OK\r\nContent-Le"[..],
            b"ngth: 5\r\n\r",
            b"\nhel",
            b"lo",
        ] {
            b.bytes(chunk).unwrap();
        }
        assert_eq!(b.status, Some(200));
        assert_eq!(b.total, Some(5));
        assert_eq!(b.finish().unwrap(), b"hello");
    }
}
