//! `trickled serve` as a process in a network namespace, fetched from by a
//! Trickles client on AF_XDP in the other (issue 5): the web server and
//! the synthetic stream, a key reload during a 100 MB transfer, a clean
//! stop on SIGTERM, and one-line refusals of misconfigurations that leave
//! nothing attached. Needs root; skips with a message otherwise.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod support;

use std::sync::Mutex;
use std::time::Duration;

use trickles_core::synthetic::{stream_mismatches, stream_request};
use trickles_xdp::netns::{End, NetnsPair};
use trickles_xdp::scenario::{Fetch, fetch};

use support::{BIN, Daemon, scratch, write_keys, xdp_attached};

/// One test at a time: they share two cores and count loaded programs.
static SERIAL: Mutex<()> = Mutex::new(());

fn get(pair: &NetnsPair, port: u16, request: Vec<u8>) -> trickles_xdp::scenario::FetchReport {
    fetch(
        &pair.a,
        &pair.b,
        &Fetch {
            port,
            request,
            fault: None,
            pcap: None,
            deadline: Duration::from_secs(60),
            queue: 0,
            watch: None,
        },
    )
    .unwrap()
}

/// Split an HTTP response into its status line and body.
fn http(data: &[u8]) -> (String, &[u8]) {
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&data[..end]).to_string();
    (
        head.lines().next().unwrap_or("").to_owned(),
        &data[end + 4..],
    )
}

fn pair() -> Option<NetnsPair> {
    if !trickles_xdp::running_as_root() {
        eprintln!("SKIPPED: network namespaces and AF_XDP need root");
        return None;
    }
    Some(NetnsPair::create().unwrap())
}

#[test]
fn serves_web_files_and_the_synthetic_stream_and_stops_cleanly() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let dir = scratch("web");
    let root = dir.join("www");
    std::fs::create_dir_all(root.join("d")).unwrap();
    let small: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i ^ (i >> 8)) as u8).collect();
    std::fs::write(root.join("small.txt"), &small).unwrap();
    std::fs::write(root.join("d/big.bin"), &big).unwrap();
    let keys = dir.join("keys.toml");
    write_keys(&keys, 1, 0x11);
    let web = format!("80=web:{}", root.display());
    let pcaps = dir.join("pcap");
    let daemon = Daemon::start(
        &pair.b,
        &[
            "--service",
            &web,
            "--service",
            "9000=synthetic",
            "--key-file",
            keys.to_str().unwrap(),
            "--stats-listen",
            "127.0.0.1:9464",
            "--pcap-dir",
            pcaps.to_str().unwrap(),
        ],
    );
    assert!(xdp_attached(&pair.b));

    for (path, want) in [("/small.txt", &small), ("/d/big.bin", &big)] {
        let f = get(
            &pair,
            80,
            format!("GET {path} HTTP/1.1\r\nHost: b\r\n\r\n").into_bytes(),
        );
        assert!(f.complete, "{path}: incomplete {:?}", f.engine);
        let (status, body) = http(&f.data);
        assert_eq!(status, "HTTP/1.1 200 OK", "{path}");
        assert!(body == want.as_slice(), "{path}: body differs");
    }
    let f = get(&pair, 80, b"GET /nope HTTP/1.1\r\n\r\n".to_vec());
    assert_eq!(http(&f.data).0, "HTTP/1.1 404 Not Found");
    let f = get(&pair, 9000, stream_request(3_000_000, 5).to_vec());
    assert!(f.complete && f.data.len() == 3_000_000 && stream_mismatches(5, 0, &f.data) == 0);

    // An ordinary TCP client (curl, no Trickles) on the same port gets the
    // same bytes from the kernel listener beside the service.
    for (path, want) in [("/small.txt", &small), ("/d/big.bin", &big)] {
        let out = pair
            .a
            .command("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                &format!("http://{}:80{path}", pair.b.addr),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == *want,
            "curl {path}: body differs ({} bytes)",
            out.stdout.len()
        );
    }

    // The counters, from the daemon's endpoint.
    let out = pair
        .b
        .command(BIN)
        .args(["stats", "--raw", "--stats-listen", "127.0.0.1:9464"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |prefix: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    assert!(out.status.success(), "trickled stats failed");
    assert!(value("trickled_requests_total{") > 100, "{text}");
    assert!(
        value("trickled_xdp_frames_total{verdict=\"steered\"}") > 100,
        "{text}"
    );
    assert!(value("trickled_syns_total{") >= 4, "{text}");

    let (ok, log) = daemon.stop();
    assert!(ok, "trickled exited with an error: {log:?}");
    assert!(log.iter().any(|l| l.contains("stopped;")), "{log:?}");
    assert!(!xdp_attached(&pair.b), "the XDP program stayed attached");
    let pcap = std::fs::metadata(pcaps.join("queue-0.pcap")).unwrap();
    assert!(pcap.len() > 1_000_000, "pcap of {} bytes", pcap.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_reload_during_a_100_mb_transfer_keeps_it_intact() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let dir = scratch("reload");
    let keys = dir.join("keys.toml");
    write_keys(&keys, 1, 0x21);
    let daemon = Daemon::start(
        &pair.b,
        &[
            "--service",
            "9000=synthetic",
            "--key-file",
            keys.to_str().unwrap(),
        ],
    );
    let (a, b) = (pair.a.clone(), pair.b.clone());
    let size = 100_000_000u64;
    let transfer = std::thread::spawn(move || {
        fetch(
            &a,
            &b,
            &Fetch {
                port: 9000,
                request: stream_request(size, 77).to_vec(),
                fault: None,
                pcap: None,
                deadline: Duration::from_secs(120),
                queue: 0,
                watch: None,
            },
        )
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(120));
    write_keys(&keys, 2, 0x31);
    daemon.signal("HUP");
    let f = transfer.join().unwrap();
    let (ok, log) = daemon.stop();
    let reloaded = log.iter().position(|l| l.contains("keys reloaded"));
    eprintln!("transfer {:?}, engine {:?}", f.elapsed, f.engine);
    assert!(reloaded.is_some(), "no reload logged: {log:?}");
    assert!(
        f.complete && f.data.len() as u64 == size,
        "incomplete: {:?}",
        f.engine
    );
    assert_eq!(stream_mismatches(77, 0, &f.data), 0);
    assert!(ok);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Run `trickled serve` with `args` in `end`'s namespace; its exit status
/// and stderr.
fn refuse(end: &End, args: &[&str]) -> (bool, String) {
    let out = end.command(BIN).arg("serve").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn misconfigurations_get_one_line_each_and_leave_nothing_attached() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pair) = pair() else { return };
    let dir = scratch("refuse");
    let keys = dir.join("keys.toml");
    write_keys(&keys, 1, 0x41);
    let bad_keys = dir.join("bad.toml");
    std::fs::write(&bad_keys, "epoch = 1\nserver_key = \"zz\"\n").unwrap();
    let k = keys.to_str().unwrap();
    let ifname = pair.b.ifname.as_str();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "no such interface",
            vec![
                "-i",
                "nope0",
                "--service",
                "9000=synthetic",
                "--key-file",
                k,
            ],
            "no such interface: nope0",
        ),
        (
            "queue out of range",
            vec![
                "-i",
                ifname,
                "--queues",
                "3",
                "--service",
                "9000=synthetic",
                "--key-file",
                k,
            ],
            "queue 3 is out of range",
        ),
        (
            "key file unreadable",
            vec![
                "-i",
                ifname,
                "--service",
                "9000=synthetic",
                "--key-file",
                "/nonexistent/keys.toml",
            ],
            "cannot read it",
        ),
        (
            "key file malformed",
            vec![
                "-i",
                ifname,
                "--service",
                "9000=synthetic",
                "--key-file",
                bad_keys.to_str().unwrap(),
            ],
            "key file",
        ),
        (
            "bad service",
            vec!["-i", ifname, "--service", "80=ftp", "--key-file", k],
            "unknown app",
        ),
        (
            "missing web root",
            vec![
                "-i",
                ifname,
                "--service",
                "80=web:/nonexistent/www",
                "--key-file",
                k,
            ],
            "document root",
        ),
    ];
    for (what, args, expect) in cases {
        let (ok, err) = refuse(&pair.b, &args);
        assert!(!ok, "{what}: exited 0");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: not one line: {err:?}");
        assert!(
            lines[0].starts_with("trickled: ") && lines[0].contains(expect),
            "{what}: {err:?}"
        );
        assert!(!xdp_attached(&pair.b), "{what}: left XDP attached");
    }
    // Not root.
    let out = pair
        .b
        .command("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "serve",
            "-i",
            ifname,
            "--service",
            "9000=synthetic",
            "--key-file",
            k,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.trim().lines().count() == 1 && err.contains("needs root"),
        "{err:?}"
    );
    // XDP attach refused: native XDP on a veth whose peer's MTU is above
    // what it allows.
    pair.set_mtu(9000).unwrap();
    let (ok, err) = refuse(
        &pair.b,
        &[
            "-i",
            ifname,
            "--xdp-mode",
            "driver",
            "--service",
            "9000=synthetic",
            "--key-file",
            k,
        ],
    );
    assert!(!ok, "attach with MTU 9000 succeeded");
    assert_eq!(err.trim().lines().count(), 1, "{err:?}");
    assert!(
        err.contains("trickled: ") && err.to_lowercase().contains("xdp"),
        "{err:?}"
    );
    assert!(!xdp_attached(&pair.b));
    std::fs::remove_dir_all(&dir).unwrap();
}
