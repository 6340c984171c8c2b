//! The stateless web server (paper §6.2): HTTP/1.1 GET of the files under
//! a document root, the request riding in the SYN. The response (status
//! line, headers, body) is one output stream whose every byte can be
//! regenerated from the 64 bytes of application data in the output
//! continuation, so retransmissions and failover need no server memory:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | kind: 1 file, 2 error |
//! | 1 | reserved |
//! | 2–3 | status code (error) |
//! | 4–11 | file size |
//! | 12–19 | inode |
//! | 20–27 | device |
//! | 28–35 | modification time, ns since the epoch |
//! | 36–43 | FNV-1a hash of the path below the root |
//!
//! The headers follow from the size (or the status) alone. To read the
//! body the server needs the file: it keeps a bounded cache of open files
//! by path hash (state as a cache, never as truth); on a miss it looks the
//! hash up by walking the root. Before and after each read it compares the
//! file's inode, device, size and modification time with the
//! continuation's: a file that changed under a continuation is refused
//! (the client gets no mixed bytes; it times out and reports the error).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use trickles_core::server::{AppRefusal, Application, MAX_APP_DATA, Opened, Output};

const KIND_FILE: u8 = 1;
const KIND_ERROR: u8 = 2;
/// Open files kept.
const OPEN_FILES: usize = 256;
/// Files examined when looking a path hash up by walking the root.
const WALK_LIMIT: usize = 100_000;

/// FNV-1a, 64 bits.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What identifies one version of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    size: u64,
    ino: u64,
    dev: u64,
    mtime_ns: u64,
}

impl Identity {
    fn of(m: &std::fs::Metadata) -> Identity {
        Identity {
            size: m.len(),
            ino: m.ino(),
            dev: m.dev(),
            mtime_ns: (m.mtime() as u64)
                .wrapping_mul(1_000_000_000)
                .wrapping_add(m.mtime_nsec() as u64),
        }
    }
}

fn be64(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_be_bytes(x)
}

/// The response head for a file of `size` bytes.
fn file_head(size: u64) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )
}

/// The whole response for an error `status`.
fn error_response(status: u16) -> String {
    let reason = match status {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let body = format!("{status} {reason}\n");
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The path below the root a request line asks for, if well formed:
/// `GET /a/b HTTP/1.x`, no `..`, no query.
fn requested_path(request: &[u8]) -> Result<String, u16> {
    let line_end = request
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(400u16)?;
    let line = std::str::from_utf8(&request[..line_end]).map_err(|_| 400u16)?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    if parts.next().is_some() || !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(400);
    }
    if method != Some("GET") {
        return Err(405);
    }
    let target = target.ok_or(400u16)?;
    let path = target.split('?').next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(400);
    }
    let rel = path.trim_start_matches('/');
    if Path::new(rel)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(if rel.is_empty() { 404 } else { 400 });
    }
    Ok(rel.to_owned())
}

/// The stateless web server application.
#[derive(Debug)]
pub struct WebApp {
    root: PathBuf,
    /// Open files by path hash, with the identity seen when opened.
    open: HashMap<u64, (File, PathBuf)>,
}

impl WebApp {
    /// Serve the files under `root` (which must be a directory).
    pub fn new(root: &Path) -> io::Result<WebApp> {
        let meta = std::fs::metadata(root).map_err(|e| {
            io::Error::new(e.kind(), format!("document root {}: {e}", root.display()))
        })?;
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("document root {} is not a directory", root.display()),
            ));
        }
        Ok(WebApp {
            root: root.to_owned(),
            open: HashMap::with_capacity(OPEN_FILES),
        })
    }

    fn error(status: u16, app_data: &mut [u8; MAX_APP_DATA]) -> Opened {
        app_data[0] = KIND_ERROR;
        app_data[2..4].copy_from_slice(&status.to_be_bytes());
        Opened::Output(Output {
            len: error_response(status).len() as u64,
            app_data_len: 4,
        })
    }

    /// The path whose hash is `hash`, by walking the root (bounded).
    fn find(&self, hash: u64) -> Option<PathBuf> {
        let mut stack = vec![self.root.clone()];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).ok()?.flatten() {
                seen += 1;
                if seen > WALK_LIMIT {
                    return None;
                }
                let path = entry.path();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => stack.push(path),
                    Ok(t) if t.is_file() => {
                        let rel = path.strip_prefix(&self.root).ok()?;
                        if fnv(rel.to_string_lossy().as_bytes()) == hash {
                            return Some(path);
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// The open file of `hash`, opening (and finding) it if needed.
    fn file(&mut self, hash: u64) -> Result<&File, AppRefusal> {
        if !self.open.contains_key(&hash) {
            let path = self.find(hash).ok_or(AppRefusal)?;
            let f = File::open(&path).map_err(|_| AppRefusal)?;
            if self.open.len() >= OPEN_FILES {
                // Any entry will do: it is a cache.
                if let Some(k) = self.open.keys().next().copied() {
                    self.open.remove(&k);
                }
            }
            self.open.insert(hash, (f, path));
        }
        self.open.get(&hash).map(|(f, _)| f).ok_or(AppRefusal)
    }
}

impl Application for WebApp {
    fn open(
        &mut self,
        request: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        let rel = match requested_path(request) {
            Ok(r) => r,
            Err(status) => return Ok(WebApp::error(status, app_data)),
        };
        let path = self.root.join(&rel);
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => return Ok(WebApp::error(404, app_data)),
        };
        let id = Identity::of(&meta);
        let hash = fnv(rel.as_bytes());
        app_data[0] = KIND_FILE;
        app_data[4..12].copy_from_slice(&id.size.to_be_bytes());
        app_data[12..20].copy_from_slice(&id.ino.to_be_bytes());
        app_data[20..28].copy_from_slice(&id.dev.to_be_bytes());
        app_data[28..36].copy_from_slice(&id.mtime_ns.to_be_bytes());
        app_data[36..44].copy_from_slice(&hash.to_be_bytes());
        Ok(Opened::Output(Output {
            len: file_head(id.size).len() as u64 + id.size,
            app_data_len: 44,
        }))
    }

    fn fill(&mut self, app_data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), AppRefusal> {
        match app_data.first() {
            Some(&KIND_ERROR) => {
                let d = app_data.get(2..4).ok_or(AppRefusal)?;
                let response = error_response(u16::from_be_bytes([d[0], d[1]]));
                copy_range(response.as_bytes(), offset, buf)
            }
            Some(&KIND_FILE) => {
                let d = app_data.get(..44).ok_or(AppRefusal)?;
                let want = Identity {
                    size: be64(&d[4..]),
                    ino: be64(&d[12..]),
                    dev: be64(&d[20..]),
                    mtime_ns: be64(&d[28..]),
                };
                let head = file_head(want.size);
                let head_len = head.len() as u64;
                let mut at = 0usize;
                if offset < head_len {
                    let n = copy_range_len(head.as_bytes(), offset, buf)?;
                    at = n;
                }
                if at == buf.len() {
                    return Ok(());
                }
                let file_off = (offset + at as u64).saturating_sub(head_len);
                let f = self.file(be64(&d[36..]))?;
                let same = |f: &File| f.metadata().is_ok_and(|m| Identity::of(&m) == want);
                if !same(f) {
                    return Err(AppRefusal);
                }
                let mut done = at;
                while done < buf.len() {
                    let n = f
                        .read_at(&mut buf[done..], file_off + (done - at) as u64)
                        .map_err(|_| AppRefusal)?;
                    if n == 0 {
                        return Err(AppRefusal);
                    }
                    done += n;
                }
                // Changed while we read: the bytes may be mixed.
                if !same(f) {
                    return Err(AppRefusal);
                }
                Ok(())
            }
            _ => Err(AppRefusal),
        }
    }
}

/// Copy `src[offset..]` into the start of `buf`; the number copied.
fn copy_range_len(src: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppRefusal> {
    let start = usize::try_from(offset).map_err(|_| AppRefusal)?;
    let avail = src.get(start..).ok_or(AppRefusal)?;
    let n = avail.len().min(buf.len());
    buf[..n].copy_from_slice(&avail[..n]);
    Ok(n)
}

/// Fill all of `buf` from `src[offset..]`.
fn copy_range(src: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), AppRefusal> {
    if copy_range_len(src, offset, buf)? == buf.len() {
        Ok(())
    } else {
        Err(AppRefusal)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn root() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "trickled-web-{}-{}",
            std::process::id(),
            fnv(format!("{:?}", std::thread::current().id()).as_bytes())
        ));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(
            d.join("sub/a.bin"),
            (0..5000u32).map(|i| i as u8).collect::<Vec<_>>(),
        )
        .unwrap();
        d
    }

    fn whole(app: &mut WebApp, data: &[u8], len: u64, chunk: usize) -> Result<Vec<u8>, AppRefusal> {
        let mut out = vec![0u8; len as usize];
        for (i, c) in out.chunks_mut(chunk).enumerate() {
            app.fill(data, (i * chunk) as u64, c)?;
        }
        Ok(out)
    }

    fn open(app: &mut WebApp, req: &str) -> ([u8; MAX_APP_DATA], u64) {
        let mut d = [0u8; MAX_APP_DATA];
        match app.open(req.as_bytes(), &mut d).unwrap() {
            Opened::Output(o) => (d, o.len),
            Opened::NeedInput { .. } => panic!("needs input"),
        }
    }

    #[test]
    fn serves_a_file_from_any_offset_and_errors_for_bad_requests() {
        let r = root();
        let mut app = WebApp::new(&r).unwrap();
        let (d, len) = open(&mut app, "GET /sub/a.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        let bytes = whole(&mut app, &d, len, 1360).unwrap();
        let text = String::from_utf8_lossy(&bytes[..40]).to_string();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 5000"),
            "{text}"
        );
        let head = file_head(5000).len();
        assert!(bytes[head..].iter().enumerate().all(|(i, &b)| b == i as u8));
        // A fresh app (another replica, or after a restart) finds the file
        // by walking the root.
        let mut other = WebApp::new(&r).unwrap();
        assert_eq!(whole(&mut other, &d, len, 999).unwrap(), bytes);
        for (req, status) in [
            ("GET /missing HTTP/1.1\r\n\r\n", "404"),
            ("GET /../etc/passwd HTTP/1.1\r\n\r\n", "400"),
            ("POST /sub/a.bin HTTP/1.1\r\n\r\n", "405"),
            ("nonsense", "400"),
            ("GET /sub HTTP/1.1\r\n\r\n", "404"),
        ] {
            let (d, len) = open(&mut app, req);
            let bytes = whole(&mut app, &d, len, 7).unwrap();
            assert!(
                String::from_utf8_lossy(&bytes).starts_with(&format!("HTTP/1.1 {status}")),
                "{req}"
            );
        }
        std::fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn a_changed_file_is_refused_not_mixed() {
        let r = root();
        let mut app = WebApp::new(&r).unwrap();
        let (d, len) = open(&mut app, "GET /sub/a.bin HTTP/1.1\r\n\r\n");
        let mut first = vec![0u8; 500];
        app.fill(&d, 0, &mut first).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(r.join("sub/a.bin"), vec![9u8; 6000]).unwrap();
        assert!(whole(&mut app, &d, len, 1360).is_err());
        std::fs::remove_dir_all(&r).unwrap();
    }
}
