//! The client tools against the daemon, between two network namespaces
//! (issue 5): `trickles get` and curl through `trickles proxy` fetch 1 KB,
//! 1 MB and 100 MB files byte-identical, as does plain curl from the
//! daemon's kernel listener on the same port; `trickles get` falls back
//! to TCP against a server without Trickles; a file changed during a
//! transfer gives the client an error, never mixed bytes. Needs root;
//! skips with a message otherwise.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use trickles_xdp::netns::{End, NetnsPair};

const TRICKLED: &str = env!("CARGO_BIN_EXE_trickled");
const TRICKLES: &str = env!("CARGO_BIN_EXE_trickles");
static SERIAL: Mutex<()> = Mutex::new(());

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn content(len: usize, salt: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut x = 0x9e37_79b9u32 ^ salt;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Start trickled in `end` serving `root` on port 80; wait until it serves.
fn daemon(end: &End, root: &Path, keys: &Path) -> Killed {
    let mut child = end
        .command(TRICKLED)
        .args([
            "serve",
            "--interface",
            &end.ifname,
            "--key-file",
            keys.to_str().unwrap(),
        ])
        .args(["--service", &format!("80=web:{}", root.display())])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving;") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("trickled did not start");
    Killed(child)
}

/// The served files: name and content.
type Files = Vec<(String, Vec<u8>)>;

fn setup(name: &str) -> Option<(NetnsPair, PathBuf, Files)> {
    if !trickles_xdp::running_as_root() {
        eprintln!("SKIPPED: network namespaces and AF_XDP need root");
        return None;
    }
    let pair = NetnsPair::create().unwrap();
    let dir = std::env::temp_dir().join(format!("trickles-tools-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(
        dir.join("keys.toml"),
        "epoch = 1\nserver_key = \"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\"\napp_key = \"a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5\"\n",
    )
    .unwrap();
    let files: Files = [
        ("1k.bin", 1_000),
        ("1m.bin", 1_000_000),
        ("100m.bin", 100_000_000),
    ]
    .iter()
    .enumerate()
    .map(|(i, (n, len))| (n.to_string(), content(*len, i as u32)))
    .collect();
    for (n, c) in &files {
        std::fs::write(dir.join("www").join(n), c).unwrap();
    }
    Some((pair, dir, files))
}

#[test]
fn get_proxy_and_plain_curl_fetch_identical_files() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((pair, dir, files)) = setup("fetch") else {
        return;
    };
    let _d = daemon(&pair.b, &dir.join("www"), &dir.join("keys.toml"));
    let server = pair.b.addr;

    for (name, want) in &files {
        let out = dir.join(format!("get-{name}"));
        let r = pair
            .a
            .command(TRICKLES)
            .args([
                "get",
                "-q",
                &format!("http://{server}/{name}"),
                "-o",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "trickles get {name}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(
            std::fs::read(&out).unwrap() == *want,
            "trickles get {name}: bytes differ"
        );
        assert!(
            !String::from_utf8_lossy(&r.stderr).contains("falling back"),
            "{name} fell back to TCP"
        );
    }

    let curl = |url: String, out: &Path| {
        pair.a
            .command("curl")
            .args([
                "-sS",
                "--fail",
                "--max-time",
                "60",
                "-o",
                out.to_str().unwrap(),
                &url,
            ])
            .output()
            .unwrap()
    };
    // Plain curl: the kernel listener beside the service, same port.
    for (name, want) in &files {
        let out = dir.join(format!("curl-{name}"));
        let r = curl(format!("http://{server}:80/{name}"), &out);
        assert!(
            r.status.success(),
            "curl {name}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(
            std::fs::read(&out).unwrap() == *want,
            "curl {name}: bytes differ"
        );
    }
    // curl through the proxy: Trickles between the namespaces.
    let proxy = Killed(
        pair.a
            .command(TRICKLES)
            .args([
                "--log",
                "info",
                "proxy",
                "--listen",
                "127.0.0.1:8080",
                "--server",
                &format!("{server}:80"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    for (name, want) in &files {
        let out = dir.join(format!("proxy-{name}"));
        let r = curl(format!("http://127.0.0.1:8080/{name}"), &out);
        assert!(
            r.status.success(),
            "curl via proxy {name}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(
            std::fs::read(&out).unwrap() == *want,
            "curl via proxy {name}: bytes differ"
        );
    }
    drop(proxy);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn get_falls_back_to_tcp_when_the_server_has_no_trickles() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((pair, dir, files)) = setup("fallback") else {
        return;
    };
    // An ordinary HTTP server, no trickled.
    let _http = Killed(
        pair.b
            .command("python3")
            .args([
                "-m",
                "http.server",
                "8081",
                "--bind",
                &pair.b.addr.to_string(),
                "--directory",
            ])
            .arg(dir.join("www"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(800));
    let out = dir.join("fallback-1m");
    let r = pair
        .a
        .command(TRICKLES)
        .args([
            "get",
            "-q",
            &format!("http://{}:8081/1m.bin", pair.b.addr),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "trickles get: {stderr}");
    assert!(
        stderr.contains("falling back to ordinary TCP"),
        "no fallback logged: {stderr}"
    );
    assert!(std::fs::read(&out).unwrap() == files[1].1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_changed_during_a_transfer_gives_an_error_not_mixed_bytes() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((pair, dir, files)) = setup("change") else {
        return;
    };
    let _d = daemon(&pair.b, &dir.join("www"), &dir.join("keys.toml"));
    // Stream to stdout so the test sees how far the transfer got.
    let mut child = Killed(
        pair.a
            .command(TRICKLES)
            .args(["get", "-q", &format!("http://{}/100m.bin", pair.b.addr)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = child.0.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    // Once the first megabytes are in, rewrite the file in place.
    while got.len() < 5_000_000 {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "the transfer ended before the change");
        got.extend_from_slice(&buf[..n]);
    }
    std::fs::write(dir.join("www/100m.bin"), content(100_000_000, 99)).unwrap();
    stdout.read_to_end(&mut got).unwrap();
    let status = child.0.wait().unwrap();
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let original = &files[2].1;
    assert!(
        !status.success(),
        "trickles get succeeded although the file changed"
    );
    assert!(err.contains("trickles: "), "{err}");
    assert!(got.len() < original.len(), "the whole old file arrived");
    assert!(
        got == original[..got.len()],
        "bytes of the new version were mixed in"
    );
    eprintln!(
        "error after {} of {} bytes: {}",
        got.len(),
        original.len(),
        err.trim()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
