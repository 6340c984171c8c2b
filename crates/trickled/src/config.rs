//! `trickled serve`'s configuration: a TOML file (examples under
//! `configs/`) and command-line flags, which override the file. Validated
//! into a [`ServeConfig`] before anything is attached, so every mistake
//! is one line naming the field.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::ranges;

/// What a service on a port runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSpec {
    /// The synthetic stream: a request names a length and a seed
    /// (`trickles_core::synthetic`); for benchmarks and tests.
    Synthetic,
    /// The stateless web server over the files under `root`.
    Web {
        /// Document root.
        root: PathBuf,
    },
}

/// One Trickles service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// TCP port.
    pub port: u16,
    /// Application.
    pub app: AppSpec,
}

/// XDP attach mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum XdpModeSpec {
    /// Driver (native) mode, or generic mode where the driver has none.
    #[default]
    Auto,
    /// Driver mode only.
    Driver,
    /// Generic (skb) mode.
    Skb,
}

/// AF_XDP bind mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum BindSpec {
    /// Zero-copy where the driver supports it, copy otherwise.
    #[default]
    Auto,
    /// Copy mode.
    Copy,
    /// Zero-copy or fail.
    Zerocopy,
}

/// Replay-table entries per worker and service unless configured: 8 MiB,
/// the 10 s horizon of about 100 000 requests a second (one worker at
/// 1 Gb/s and more) without eviction.
pub const DEFAULT_REPLAY_ENTRIES: usize = 1 << 20;
const MIN_REPLAY_ENTRIES: usize = 1 << 10;
const MAX_REPLAY_ENTRIES: usize = 1 << 28;

/// The configuration file's layout.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Interface name.
    pub interface: Option<String>,
    /// Receive queues, e.g. "0-3".
    pub queues: Option<String>,
    /// Cores to pin the workers to, one per queue, e.g. "2-5".
    pub cores: Option<String>,
    /// Key file.
    pub key_file: Option<PathBuf>,
    /// Log filter (tracing `EnvFilter` syntax: "info", "trickled=debug").
    pub log: Option<String>,
    /// Address of the Prometheus endpoint, e.g. "127.0.0.1:9464".
    pub stats_listen: Option<SocketAddr>,
    /// XDP attach mode.
    pub xdp_mode: Option<XdpModeSpec>,
    /// AF_XDP bind mode.
    pub bind_mode: Option<BindSpec>,
    /// Seconds the previous key stays valid after a reload.
    pub grace_period_s: Option<u64>,
    /// Directory for one pcap file per worker.
    pub pcap_dir: Option<PathBuf>,
    /// Replay-table entries per worker and service.
    pub replay_entries: Option<usize>,
    /// Services.
    #[serde(default, rename = "service")]
    pub services: Vec<FileService>,
}

/// A `[[service]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileService {
    /// Port.
    pub port: u16,
    /// "web" or "synthetic".
    pub app: String,
    /// Document root (web).
    pub root: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Interface.
    pub interface: String,
    /// Receive queues, one worker each.
    pub queues: Vec<u32>,
    /// Core of each worker (same length as `queues`), or empty: unpinned.
    pub cores: Vec<usize>,
    /// Key file.
    pub key_file: PathBuf,
    /// Log filter.
    pub log: String,
    /// Prometheus endpoint.
    pub stats_listen: Option<SocketAddr>,
    /// XDP attach mode.
    pub xdp_mode: XdpModeSpec,
    /// AF_XDP bind mode.
    pub bind_mode: BindSpec,
    /// Grace period of a replaced key, seconds.
    pub grace_period_s: u64,
    /// pcap directory.
    pub pcap_dir: Option<PathBuf>,
    /// Replay-table entries per worker and service (docs/protocol.md
    /// §9.2).
    pub replay_entries: usize,
    /// Services, ports distinct.
    pub services: Vec<Service>,
}

/// Parse `--service PORT=APP[:ROOT]` (`80=web:/srv/www`, `9000=synthetic`).
pub fn parse_service(spec: &str) -> Result<Service, String> {
    let (port, app) = spec
        .split_once('=')
        .ok_or_else(|| format!("service `{spec}`: expected PORT=APP, e.g. 80=web:/srv/www"))?;
    let port: u16 = port
        .trim()
        .parse()
        .map_err(|_| format!("service `{spec}`: `{port}` is not a port"))?;
    let (name, root) = match app.split_once(':') {
        Some((n, r)) => (n, Some(PathBuf::from(r))),
        None => (app, None),
    };
    service(port, name, root).map_err(|e| format!("service `{spec}`: {e}"))
}

fn service(port: u16, app: &str, root: Option<PathBuf>) -> Result<Service, String> {
    if port == 0 {
        return Err("port 0 cannot be served".into());
    }
    let app = match (app, root) {
        ("synthetic", None) => AppSpec::Synthetic,
        ("synthetic", Some(_)) => return Err("the synthetic app takes no root".into()),
        ("web", Some(root)) => AppSpec::Web { root },
        ("web", None) => return Err("the web app needs a document root (web:/srv/www)".into()),
        (other, _) => return Err(format!("unknown app `{other}` (apps: web, synthetic)")),
    };
    Ok(Service { port, app })
}

/// Command-line values that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--interface`.
    pub interface: Option<String>,
    /// `--queues`.
    pub queues: Option<String>,
    /// `--cores`.
    pub cores: Option<String>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--log`.
    pub log: Option<String>,
    /// `--stats-listen`.
    pub stats_listen: Option<SocketAddr>,
    /// `--xdp-mode`.
    pub xdp_mode: Option<XdpModeSpec>,
    /// `--bind-mode`.
    pub bind_mode: Option<BindSpec>,
    /// `--pcap-dir`.
    pub pcap_dir: Option<PathBuf>,
    /// `--replay-entries`.
    pub replay_entries: Option<usize>,
    /// `--service` (replace the file's services when given).
    pub services: Vec<String>,
}

impl ServeConfig {
    /// Merge `file` (if any) and `over`, and validate.
    pub fn build(file: Option<FileConfig>, over: Overrides) -> Result<ServeConfig, String> {
        let f = file.unwrap_or_default();
        let interface = over
            .interface
            .or(f.interface)
            .ok_or("no interface: give --interface or `interface` in the config")?;
        let queues = ranges::parse(&over.queues.or(f.queues).unwrap_or_else(|| "0".into()))
            .map_err(|e| format!("queues: {e}"))?;
        let cores: Vec<usize> = match over.cores.or(f.cores) {
            Some(spec) => ranges::parse(&spec)
                .map_err(|e| format!("cores: {e}"))?
                .into_iter()
                .map(|c| c as usize)
                .collect(),
            None => Vec::new(),
        };
        if !cores.is_empty() && cores.len() != queues.len() {
            return Err(format!(
                "cores: {} cores for {} queues; give one core per queue",
                cores.len(),
                queues.len()
            ));
        }
        let key_file = over
            .key_file
            .or(f.key_file)
            .ok_or("no key file: give --key-file or `key_file` in the config (make one with `trickled keygen`)")?;
        let services = if over.services.is_empty() {
            f.services
                .into_iter()
                .map(|s| {
                    service(s.port, &s.app, s.root)
                        .map_err(|e| format!("service on port {}: {e}", s.port))
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            over.services
                .iter()
                .map(|s| parse_service(s))
                .collect::<Result<Vec<_>, _>>()?
        };
        if services.is_empty() {
            return Err("no service: give --service PORT=APP or a [[service]] table".into());
        }
        for (i, s) in services.iter().enumerate() {
            if services[..i].iter().any(|t| t.port == s.port) {
                return Err(format!("port {} is served twice", s.port));
            }
        }
        let replay_entries = over
            .replay_entries
            .or(f.replay_entries)
            .unwrap_or(DEFAULT_REPLAY_ENTRIES);
        if !(MIN_REPLAY_ENTRIES..=MAX_REPLAY_ENTRIES).contains(&replay_entries) {
            return Err(format!(
                "replay_entries: {replay_entries} is out of range ({MIN_REPLAY_ENTRIES}-{MAX_REPLAY_ENTRIES})"
            ));
        }
        Ok(ServeConfig {
            interface,
            queues,
            cores,
            key_file,
            log: over.log.or(f.log).unwrap_or_else(|| "info".into()),
            stats_listen: over.stats_listen.or(f.stats_listen),
            xdp_mode: over.xdp_mode.or(f.xdp_mode).unwrap_or_default(),
            bind_mode: over.bind_mode.or(f.bind_mode).unwrap_or_default(),
            grace_period_s: f.grace_period_s.unwrap_or(600),
            pcap_dir: over.pcap_dir.or(f.pcap_dir),
            replay_entries,
            services,
        })
    }

    /// Read a config file.
    pub fn read_file(path: &std::path::Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("config {}: cannot read it: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config {}: {}", path.display(), e.message()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn over(services: &[&str]) -> Overrides {
        Overrides {
            interface: Some("eth0".into()),
            key_file: Some("/k".into()),
            services: services.iter().map(|s| s.to_string()).collect(),
            ..Overrides::default()
        }
    }

    #[test]
    fn services_parse_and_conflicts_are_refused() {
        let c = ServeConfig::build(None, over(&["80=web:/srv", "9000=synthetic"])).unwrap();
        assert_eq!(c.services.len(), 2);
        assert_eq!(c.queues, vec![0]);
        assert!(
            ServeConfig::build(None, over(&["80=web"]))
                .unwrap_err()
                .contains("document root")
        );
        assert!(
            ServeConfig::build(None, over(&["80=ftp"]))
                .unwrap_err()
                .contains("unknown app")
        );
        assert!(
            ServeConfig::build(None, over(&["80=synthetic", "80=synthetic"]))
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            ServeConfig::build(None, over(&[]))
                .unwrap_err()
                .contains("no service")
        );
        let mut o = over(&["1=synthetic"]);
        o.queues = Some("0-3".into());
        o.cores = Some("0-1".into());
        assert!(
            ServeConfig::build(None, o)
                .unwrap_err()
                .contains("one core per queue")
        );
    }

    #[test]
    fn the_file_fills_what_flags_leave() {
        let f: FileConfig = toml::from_str(
            "interface = \"veth0\"\nqueues = \"0-1\"\nkey_file = \"/etc/k\"\n[[service]]\nport = 80\napp = \"web\"\nroot = \"/srv\"\n",
        )
        .unwrap();
        let c = ServeConfig::build(Some(f), Overrides::default()).unwrap();
        assert_eq!(c.interface, "veth0");
        assert_eq!(c.queues, vec![0, 1]);
        assert_eq!(
            c.services[0].app,
            AppSpec::Web {
                root: "/srv".into()
            }
        );
        assert!(toml::from_str::<FileConfig>("interfce = \"x\"").is_err());
    }

    #[test]
    fn the_replay_table_size_has_a_default_a_flag_and_bounds() {
        let c = ServeConfig::build(None, over(&["80=synthetic"])).unwrap();
        assert_eq!(c.replay_entries, DEFAULT_REPLAY_ENTRIES);
        let f: FileConfig = toml::from_str("replay_entries = 4096\n").unwrap();
        let c = ServeConfig::build(Some(f), over(&["80=synthetic"])).unwrap();
        assert_eq!(c.replay_entries, 4096);
        let mut o = over(&["80=synthetic"]);
        o.replay_entries = Some(8);
        assert!(
            ServeConfig::build(None, o)
                .unwrap_err()
                .contains("replay_entries: 8 is out of range")
        );
    }
}

#[cfg(test)]
mod example_configs {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every example under configs/ parses and validates.
    #[test]
    fn the_examples_are_valid() {
        for name in ["web.toml", "bench.toml"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../configs")
                .join(name);
            let file = ServeConfig::read_file(&path).unwrap();
            ServeConfig::build(Some(file), Overrides::default()).unwrap();
        }
        let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../configs/example-keys.toml");
        crate::keyfile::KeyFile::load(&keys).unwrap();
    }
}
