//! The key file: the server's and the application's 16-byte master keys
//! for one epoch (docs/protocol.md §8.1), in TOML:
//!
//! ```toml
//! epoch = 1
//! server_key = "000102030405060708090a0b0c0d0e0f"
//! app_key = "101112131415161718191a1b1c1d1e1f"
//! ```
//!
//! Every replica serving the same clients reads the same file. To rotate,
//! write the next epoch's keys and send the daemon SIGHUP: the previous
//! epoch stays valid for the grace period. `trickled keygen` writes a new
//! file from the operating system's randomness.

use std::path::Path;

use serde::Deserialize;
use trickles_core::crypto::{AppKey, MasterKey, ServerKeys};
use trickles_wire::KeyEpoch;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    epoch: u8,
    server_key: String,
    app_key: String,
}

/// The keys of one epoch, read from a key file.
pub struct KeyFile {
    /// The epoch.
    pub epoch: KeyEpoch,
    server: [u8; 16],
    app: [u8; 16],
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("epoch", &self.epoch.0)
            .finish_non_exhaustive()
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        self.server = [0; 16];
        self.app = [0; 16];
    }
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

impl KeyFile {
    /// Parse key-file text.
    pub fn parse(text: &str) -> Result<KeyFile, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        Ok(KeyFile {
            epoch: KeyEpoch(raw.epoch),
            server: hex16("server_key", &raw.server_key)?,
            app: hex16("app_key", &raw.app_key)?,
        })
    }

    /// Read and parse `path`; errors name the file.
    pub fn load(path: &Path) -> Result<KeyFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("key file {}: cannot read it: {e}", path.display()))?;
        KeyFile::parse(&text).map_err(|e| format!("key file {}: {e}", path.display()))
    }

    /// The server's working keys.
    pub fn server_keys(&self) -> ServerKeys {
        ServerKeys::from_master(self.epoch, &MasterKey::new(self.server))
    }

    /// The application's working key.
    pub fn app_key(&self) -> AppKey {
        AppKey::from_master(self.epoch, &MasterKey::new(self.app))
    }

    /// A new key file for `epoch` with keys from `/dev/urandom`.
    pub fn generate(epoch: u8) -> std::io::Result<String> {
        use std::io::Read;
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let text = format!(
            "# trickled key file (docs/protocol.md §8.1). Keep it secret; every replica\n\
             # serving the same clients needs the same file.\n\
             epoch = {epoch}\nserver_key = \"{}\"\napp_key = \"{}\"\n",
            hex(&bytes[..16]),
            hex(&bytes[16..])
        );
        bytes = [0; 32];
        let _ = bytes;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_and_refuses_with_reasons() {
        let good = "epoch = 3\nserver_key = \"000102030405060708090a0b0c0d0e0f\"\napp_key = \"101112131415161718191a1b1c1d1e1f\"\n";
        let k = KeyFile::parse(good).unwrap();
        assert_eq!(k.epoch, KeyEpoch(3));
        assert!(
            KeyFile::parse(&good.replace("0f\"", "\""))
                .unwrap_err()
                .contains("32 hex digits")
        );
        assert!(
            KeyFile::parse(&good.replace("0e0f", "0e0g"))
                .unwrap_err()
                .contains("hexadecimal")
        );
        assert!(
            KeyFile::parse("epoch = 1")
                .unwrap_err()
                .contains("server_key")
        );
        assert!(
            KeyFile::parse(&format!("{good}extra = 1\n"))
                .unwrap_err()
                .contains("extra")
        );
        assert!(KeyFile::parse(&good.replace("epoch = 3", "epoch = 300")).is_err());
    }

    #[test]
    fn generated_files_parse() {
        let text = KeyFile::generate(7).unwrap();
        assert_eq!(KeyFile::parse(&text).unwrap().epoch, KeyEpoch(7));
    }
}
