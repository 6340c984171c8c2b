//! Dual serving: ordinary TCP clients on a Trickles port reach an ordinary
//! kernel listener that the daemon opens for the same service, so no
//! client is turned away. The XDP program steers only Trickles-marked
//! segments; a plain SYN to the port goes to the kernel, which hands the
//! connection to this listener. The bytes come from the same application
//! code (`open`, then `fill` over the whole response), so they are the
//! same bytes a Trickles client gets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use trickles_core::server::{Application, MAX_APP_DATA, Opened};
use trickles_core::synthetic::StreamApp;

use crate::config::{AppSpec, Service};
use crate::web::WebApp;

/// Most connections served at once per service; more wait in the backlog.
const MAX_CONNECTIONS: usize = 64;
/// Largest request head read.
const MAX_REQUEST: usize = 8192;

/// Open a kernel listener for `service` on `0.0.0.0:port` and serve it on
/// background threads until `stop`.
pub fn listen(
    service: &Service,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let addr = SocketAddr::from(([0, 0, 0, 0], service.port));
    let listener = TcpListener::bind(addr).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("kernel TCP listener on port {}: {e}", service.port),
        )
    })?;
    listener.set_nonblocking(true)?;
    let app = service.app.clone();
    let port = service.port;
    std::thread::Builder::new().name(format!("trickled-tcp{port}")).spawn(move || {
        let active = Arc::new(AtomicUsize::new(0));
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, peer)) if active.load(Ordering::Relaxed) < MAX_CONNECTIONS => {
                    active.fetch_add(1, Ordering::Relaxed);
                    let (app, active) = (app.clone(), active.clone());
                    let spawned = std::thread::Builder::new()
                        .name(format!("trickled-tcp{port}-conn"))
                        .spawn(move || {
                            if let Err(e) = serve_one(s, &app) {
                                tracing::debug!(port, %peer, error = %e, "kernel TCP connection ended");
                            }
                            active.fetch_sub(1, Ordering::Relaxed);
                        });
                    if spawned.is_err() {
                        tracing::warn!(port, "cannot start a connection thread");
                    }
                }
                Ok((s, _)) => drop(s), // over the limit: refuse by closing
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    })
}

fn serve_one(mut s: TcpStream, spec: &AppSpec) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut app: Box<dyn Application> = match spec {
        AppSpec::Synthetic => Box::new(StreamApp),
        AppSpec::Web { root } => Box::new(WebApp::new(root)?),
    };
    // The request: a whole HTTP head, or the synthetic app's 16 bytes.
    let mut req = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let done = match spec {
            AppSpec::Web { .. } => req.windows(4).any(|w| w == b"\r\n\r\n"),
            AppSpec::Synthetic => req.len() >= 16,
        };
        if done {
            break;
        }
        if req.len() >= MAX_REQUEST {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        req.extend_from_slice(&buf[..n]);
    }
    if matches!(spec, AppSpec::Synthetic) {
        req.truncate(16);
    }
    let mut app_data = [0u8; MAX_APP_DATA];
    let len = match app.open(&req, &mut app_data) {
        Ok(Opened::Output(o)) => o.len,
        _ => return Err(std::io::Error::other("request refused")),
    };
    let mut chunk = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(chunk.len() as u64) as usize;
        app.fill(&app_data, off, &mut chunk[..n])
            .map_err(|_| std::io::Error::other("the file changed during the response"))?;
        s.write_all(&chunk[..n])?;
        off += n as u64;
    }
    Ok(())
}
