//! The key file: the server's and the application's 16-byte master keys
//! (docs/protocol.md §8.1) of the epoch the daemon seals with, and of up
//! to [`MAX_ACCEPTED`] other epochs it also accepts, in TOML:
//!
//! ```toml
//! epoch = 2
//! server_key = "000102030405060708090a0b0c0d0e0f"
//! app_key = "101112131415161718191a1b1c1d1e1f"
//!
//! [[accept]]            # optional, repeatable
//! epoch = 3
//! server_key = "202122232425262728292a2b2c2d2e2f"
//! app_key = "303132333435363738393a3b3c3d3e3f"
//! ```
//!
//! Every replica serving the same clients reads the same file. A fleet
//! rotates in two steps so that no replica ever meets an epoch it does
//! not know (docs/operations.md "Keys across a fleet"): first every
//! replica learns the next epoch as accepted ([`KeyFile::with_next`],
//! `trickled keygen --next FILE`), then every replica seals with it
//! ([`KeyFile::promoted`], `trickled keygen --promote FILE`), the old
//! epoch staying accepted. `trickled keygen` writes a new file from the
//! operating system's randomness.

use std::path::Path;

use serde::Deserialize;
use trickles_core::crypto::{AppKey, MasterKey, ServerKeys};
use trickles_wire::KeyEpoch;

/// Epochs a key file may list besides the current one.
pub const MAX_ACCEPTED: usize = 2;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEpoch {
    epoch: u8,
    server_key: String,
    app_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    epoch: u8,
    server_key: String,
    app_key: String,
    #[serde(default)]
    accept: Vec<RawEpoch>,
}

/// The two master keys of one epoch; wiped when dropped.
pub struct EpochSecrets {
    /// The epoch.
    pub epoch: KeyEpoch,
    server: [u8; 16],
    app: [u8; 16],
}

impl std::fmt::Debug for EpochSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochSecrets")
            .field("epoch", &self.epoch.0)
            .finish_non_exhaustive()
    }
}

impl Drop for EpochSecrets {
    fn drop(&mut self) {
        self.server = [0; 16];
        self.app = [0; 16];
    }
}

impl EpochSecrets {
    fn parse(epoch: u8, server_key: &str, app_key: &str) -> Result<EpochSecrets, String> {
        Ok(EpochSecrets {
            epoch: KeyEpoch(epoch),
            server: hex16("server_key", server_key)?,
            app: hex16("app_key", app_key)?,
        })
    }

    fn random(epoch: KeyEpoch) -> std::io::Result<EpochSecrets> {
        use std::io::Read;
        let mut s = EpochSecrets {
            epoch,
            server: [0; 16],
            app: [0; 16],
        };
        let mut random = std::fs::File::open("/dev/urandom")?;
        random.read_exact(&mut s.server)?;
        random.read_exact(&mut s.app)?;
        Ok(s)
    }

    fn copy(&self) -> EpochSecrets {
        EpochSecrets {
            epoch: self.epoch,
            server: self.server,
            app: self.app,
        }
    }

    /// The server's working keys of this epoch.
    pub fn server_keys(&self) -> ServerKeys {
        ServerKeys::from_master(self.epoch, &MasterKey::new(self.server))
    }

    /// The application's working key of this epoch.
    pub fn app_key(&self) -> AppKey {
        AppKey::from_master(self.epoch, &MasterKey::new(self.app))
    }

    fn write(&self, out: &mut String) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        out.push_str(&format!(
            "epoch = {}\nserver_key = \"{}\"\napp_key = \"{}\"\n",
            self.epoch.0,
            hex(&self.server),
            hex(&self.app)
        ));
    }
}

/// The keys of a key file: the epoch to seal with and the others accepted.
#[derive(Debug)]
pub struct KeyFile {
    /// The epoch to seal with.
    pub epoch: KeyEpoch,
    current: EpochSecrets,
    /// Other epochs accepted, in the file's order.
    pub accepted: Vec<EpochSecrets>,
}

fn hex16(field: &str, s: &str) -> Result<[u8; 16], String> {
    let s = s.trim();
    if s.len() != 32 {
        return Err(format!(
            "{field} must be 32 hex digits (16 bytes), not {} characters",
            s.len()
        ));
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("{field} is not hexadecimal"))?;
    }
    Ok(out)
}

const HEADER: &str = "# trickled key file (docs/protocol.md §8.1). Keep it secret; every replica\n\
                      # serving the same clients needs the same file.\n";

impl KeyFile {
    /// Parse key-file text.
    pub fn parse(text: &str) -> Result<KeyFile, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let current = EpochSecrets::parse(raw.epoch, &raw.server_key, &raw.app_key)?;
        if raw.accept.len() > MAX_ACCEPTED {
            return Err(format!(
                "at most {MAX_ACCEPTED} [[accept]] epochs, not {}",
                raw.accept.len()
            ));
        }
        let mut accepted: Vec<EpochSecrets> = Vec::with_capacity(raw.accept.len());
        for a in &raw.accept {
            let e = EpochSecrets::parse(a.epoch, &a.server_key, &a.app_key)
                .map_err(|e| format!("[[accept]] epoch {}: {e}", a.epoch))?;
            if e.epoch == current.epoch || accepted.iter().any(|o| o.epoch == e.epoch) {
                return Err(format!("epoch {} is listed twice", a.epoch));
            }
            accepted.push(e);
        }
        Ok(KeyFile {
            epoch: current.epoch,
            current,
            accepted,
        })
    }

    /// Read and parse `path`; errors name the file.
    pub fn load(path: &Path) -> Result<KeyFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("key file {}: cannot read it: {e}", path.display()))?;
        KeyFile::parse(&text).map_err(|e| format!("key file {}: {e}", path.display()))
    }

    /// The current epoch's keys.
    pub fn current(&self) -> &EpochSecrets {
        &self.current
    }

    /// The server's working keys of the current epoch.
    pub fn server_keys(&self) -> ServerKeys {
        self.current.server_keys()
    }

    /// The application's working key of the current epoch.
    pub fn app_key(&self) -> AppKey {
        self.current.app_key()
    }

    /// Every epoch the file lists, the current one first.
    pub fn epochs(&self) -> Vec<KeyEpoch> {
        std::iter::once(self.epoch)
            .chain(self.accepted.iter().map(|a| a.epoch))
            .collect()
    }

    /// The file as text (what [`KeyFile::parse`] reads back).
    pub fn to_text(&self) -> String {
        let mut out = HEADER.to_owned();
        self.current.write(&mut out);
        for a in &self.accepted {
            out.push_str("\n# also accepted, never used to seal\n[[accept]]\n");
            a.write(&mut out);
        }
        out
    }

    /// A new key file for `epoch` with keys from `/dev/urandom`.
    pub fn generate(epoch: u8) -> std::io::Result<String> {
        let file = KeyFile {
            epoch: KeyEpoch(epoch),
            current: EpochSecrets::random(KeyEpoch(epoch))?,
            accepted: Vec::new(),
        };
        Ok(file.to_text())
    }

    /// Step one of a rolling rotation: this file's current keys and new
    /// random keys of the next epoch (one past every epoch listed), which
    /// every replica should accept before any seals with them. Other
    /// accepted epochs (the old epoch of the rotation before) are left out.
    pub fn with_next(&self) -> std::io::Result<KeyFile> {
        let listed = self.epochs();
        let mut next = self.epoch.0.wrapping_add(1);
        while listed.contains(&KeyEpoch(next)) {
            next = next.wrapping_add(1);
        }
        Ok(KeyFile {
            epoch: self.epoch,
            current: self.current.copy(),
            accepted: vec![EpochSecrets::random(KeyEpoch(next))?],
        })
    }

    /// Step two: seal with the last accepted epoch; the current one stays
    /// accepted (connections made under it continue on every replica,
    /// also after a restart). An error if no epoch is accepted.
    pub fn promoted(&self) -> Result<KeyFile, String> {
        let next = self.accepted.last().ok_or(
            "the key file accepts no other epoch to promote (run `trickled keygen --next` first)",
        )?;
        Ok(KeyFile {
            epoch: next.epoch,
            current: next.copy(),
            accepted: vec![self.current.copy()],
        })
    }
}

/// Write `text` to `path` readable by its owner only (0600), through a
/// temporary file in the same directory renamed over it: a daemon
/// reloading the file sees the old one or the new one, never a part.
pub fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = "epoch = 3\nserver_key = \"000102030405060708090a0b0c0d0e0f\"\napp_key = \"101112131415161718191a1b1c1d1e1f\"\n";

    #[test]
    fn parses_and_refuses_with_reasons() {
        let k = KeyFile::parse(GOOD).unwrap();
        assert_eq!(k.epoch, KeyEpoch(3));
        assert!(k.accepted.is_empty());
        assert!(
            KeyFile::parse(&GOOD.replace("0f\"", "\""))
                .unwrap_err()
                .contains("32 hex digits")
        );
        assert!(
            KeyFile::parse(&GOOD.replace("0e0f", "0e0g"))
                .unwrap_err()
                .contains("hexadecimal")
        );
        assert!(
            KeyFile::parse("epoch = 1")
                .unwrap_err()
                .contains("server_key")
        );
        assert!(
            KeyFile::parse(&format!("{GOOD}extra = 1\n"))
                .unwrap_err()
                .contains("extra")
        );
        assert!(KeyFile::parse(&GOOD.replace("epoch = 3", "epoch = 300")).is_err());
    }

    #[test]
    fn accepted_epochs_parse_and_are_checked() {
        let with = |epochs: &[u8]| {
            let mut t = GOOD.to_owned();
            for e in epochs {
                t.push_str(&format!(
                    "[[accept]]\nepoch = {e}\nserver_key = \"{}\"\napp_key = \"{}\"\n",
                    "ab".repeat(16),
                    "cd".repeat(16)
                ));
            }
            t
        };
        let k = KeyFile::parse(&with(&[4])).unwrap();
        assert_eq!(k.epochs(), vec![KeyEpoch(3), KeyEpoch(4)]);
        assert!(KeyFile::parse(&with(&[3])).unwrap_err().contains("twice"));
        assert!(
            KeyFile::parse(&with(&[4, 4]))
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            KeyFile::parse(&with(&[4, 5, 6]))
                .unwrap_err()
                .contains("at most 2")
        );
        let bad = with(&[4]).replace(&"ab".repeat(16), "ab");
        assert!(KeyFile::parse(&bad).unwrap_err().contains("epoch 4"));
    }

    #[test]
    fn written_key_files_are_private_and_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("trickled-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.toml");
        std::fs::write(&path, "old").unwrap();
        write_private(&path, GOOD).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), GOOD);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        assert!(write_private(&dir.join("missing/keys.toml"), GOOD).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn generated_files_parse() {
        let text = KeyFile::generate(7).unwrap();
        assert_eq!(KeyFile::parse(&text).unwrap().epoch, KeyEpoch(7));
    }

    #[test]
    fn a_rolling_rotation_accepts_then_promotes_and_keeps_the_old_epoch() {
        let first = KeyFile::parse(GOOD).unwrap();
        let staged = KeyFile::parse(&first.with_next().unwrap().to_text()).unwrap();
        assert_eq!(staged.epochs(), vec![KeyEpoch(3), KeyEpoch(4)]);
        // The current keys are unchanged; the next ones are new.
        assert_eq!(staged.current().server, first.current().server);
        let promoted = KeyFile::parse(&staged.promoted().unwrap().to_text()).unwrap();
        assert_eq!(promoted.epochs(), vec![KeyEpoch(4), KeyEpoch(3)]);
        assert_eq!(promoted.current().server, staged.accepted[0].server);
        assert_eq!(promoted.accepted[0].app, first.current().app);
        // The rotation after drops epoch 3 and skips listed epochs.
        let again = promoted.with_next().unwrap();
        assert_eq!(again.epochs(), vec![KeyEpoch(4), KeyEpoch(5)]);
        assert!(first.promoted().unwrap_err().contains("--next"));
        let wrap = KeyFile::parse(&GOOD.replace("epoch = 3", "epoch = 255")).unwrap();
        assert_eq!(wrap.with_next().unwrap().epochs()[1], KeyEpoch(0));
    }
}
