//! Keys: master keys, the keys derived from them, and key rings that keep
//! the previous epoch alive during a rotation (paper §2.2: "a secret key
//! known only to the server and its replicas").
//!
//! Every working key is derived from a 16-byte master key with the KDF in
//! counter mode of NIST SP 800-108r1 §4.1, AES-CMAC (RFC 4493) as the PRF,
//! one iteration (L = 128 bits):
//!
//! ```text
//! K_label = CMAC(master, 0x01 || label || 0x00 || context || 0x00 0x80)
//! ```
//!
//! with the ASCII labels below and the key epoch byte as the context, so
//! every epoch and every use gets an independent key. Master keys come from
//! outside (this crate has no randomness); the server's is shared by every
//! replica, the application's by every instance of the application.

use aes::Aes128Enc;
use aes::cipher::KeyInit;
use core::fmt;
use trickles_wire::KeyEpoch;
use zeroize::Zeroize;

use super::cmac::{AesCmac, Cmac, KEY_LEN};

/// KDF label of the transport-continuation MAC key.
pub const LABEL_CONTINUATION_MAC: &[u8] = b"trickles v1 continuation mac";
/// KDF label of the key of original-transmission nonces.
pub const LABEL_NONCE: &[u8] = b"trickles v1 nonce";
/// KDF label of the key of retransmission nonces.
pub const LABEL_RETRANSMIT_NONCE: &[u8] = b"trickles v1 retransmit nonce";
/// KDF label of the user-continuation MAC key.
pub const LABEL_USER_CONTINUATION: &[u8] = b"trickles v1 user continuation";

/// A 128-bit master key. Never printed; wiped when dropped.
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    /// Wrap key bytes (from a key file, a KMS, a test...).
    pub const fn new(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey(bytes)
    }

    /// Derive the 128-bit key for `label` in `epoch` (SP 800-108 counter
    /// mode, see the module docs).
    fn derive(&self, label: &[u8], epoch: KeyEpoch) -> DerivedKey {
        let prf = Cmac::new(&self.0);
        DerivedKey(prf.mac(&[&[0x01], label, &[0x00], &[epoch.0], &[0x00, 0x80]]))
    }
}

impl From<[u8; KEY_LEN]> for MasterKey {
    fn from(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey(bytes)
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Derived key bytes, wiped once the working key is built from them.
struct DerivedKey([u8; KEY_LEN]);

impl Drop for DerivedKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A key that belongs to one epoch, so it can live in a [`KeyRing`].
pub trait EpochKey {
    /// The epoch this key seals under.
    fn epoch(&self) -> KeyEpoch;
}

/// The server's working keys for one epoch.
#[derive(Clone)]
pub struct ServerKeys {
    epoch: KeyEpoch,
    /// MAC key of transport continuations.
    pub(crate) mac: Cmac,
    /// PRF key of original-transmission nonces.
    pub(crate) nonce: Aes128Enc,
    /// PRF key of retransmission nonces.
    pub(crate) retx_nonce: Aes128Enc,
}

impl ServerKeys {
    /// Derive the keys of `epoch` from the server master key.
    pub fn from_master(epoch: KeyEpoch, master: &MasterKey) -> ServerKeys {
        let mac = master.derive(LABEL_CONTINUATION_MAC, epoch);
        let nonce = master.derive(LABEL_NONCE, epoch);
        let retx = master.derive(LABEL_RETRANSMIT_NONCE, epoch);
        ServerKeys {
            epoch,
            mac: Cmac::new(&mac.0),
            nonce: Aes128Enc::new(&nonce.0.into()),
            retx_nonce: Aes128Enc::new(&retx.0.into()),
        }
    }

    /// The epoch these keys seal under.
    pub fn epoch(&self) -> KeyEpoch {
        self.epoch
    }
}

impl EpochKey for ServerKeys {
    fn epoch(&self) -> KeyEpoch {
        self.epoch
    }
}

impl fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKeys")
            .field("epoch", &self.epoch.0)
            .finish_non_exhaustive()
    }
}

/// An application's key for sealing user continuations in one epoch.
#[derive(Clone)]
pub struct AppKey {
    epoch: KeyEpoch,
    pub(crate) mac: Cmac,
}

impl AppKey {
    /// Derive the key of `epoch` from the application's master key.
    pub fn from_master(epoch: KeyEpoch, master: &MasterKey) -> AppKey {
        let k = master.derive(LABEL_USER_CONTINUATION, epoch);
        AppKey {
            epoch,
            mac: Cmac::new(&k.0),
        }
    }

    /// The epoch this key seals under.
    pub fn epoch(&self) -> KeyEpoch {
        self.epoch
    }
}

impl EpochKey for AppKey {
    fn epoch(&self) -> KeyEpoch {
        self.epoch
    }
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKey")
            .field("epoch", &self.epoch.0)
            .finish_non_exhaustive()
    }
}

/// The current key and, during a rotation's grace period, the previous one.
///
/// Seal with [`KeyRing::current`]; open with [`KeyRing::get`] on the epoch
/// byte of what arrived. Two keys at most, in place: no allocation.
#[derive(Debug, Clone)]
pub struct KeyRing<K> {
    current: K,
    previous: Option<K>,
}

/// [`KeyRing::rotate`] was given a key of the epoch already current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochInUse(pub KeyEpoch);

impl fmt::Display for EpochInUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key epoch {} is already current", self.0.0)
    }
}

impl std::error::Error for EpochInUse {}

impl<K: EpochKey> KeyRing<K> {
    /// A ring holding only `current`.
    pub const fn new(current: K) -> KeyRing<K> {
        KeyRing {
            current,
            previous: None,
        }
    }

    /// The key to seal with.
    pub fn current(&self) -> &K {
        &self.current
    }

    /// The previous key, while its grace period lasts.
    pub fn previous(&self) -> Option<&K> {
        self.previous.as_ref()
    }

    /// The key of `epoch`, if it is current or previous.
    pub fn get(&self, epoch: KeyEpoch) -> Option<&K> {
        if self.current.epoch() == epoch {
            Some(&self.current)
        } else {
            self.previous.as_ref().filter(|k| k.epoch() == epoch)
        }
    }

    /// Make `next` current; the current key becomes the previous one and
    /// the old previous key is dropped (and wiped).
    ///
    /// Refuses a key of the current epoch: two keys under one epoch byte
    /// would make everything sealed under one of them unopenable.
    pub fn rotate(&mut self, next: K) -> Result<(), EpochInUse> {
        if next.epoch() == self.current.epoch() {
            return Err(EpochInUse(next.epoch()));
        }
        self.previous = Some(core::mem::replace(&mut self.current, next));
        Ok(())
    }

    /// End the grace period: drop the previous key.
    pub fn retire_previous(&mut self) {
        self.previous = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::cmac::CrateCmac;

    #[test]
    fn kdf_is_sp800_108_counter_mode() {
        let master = MasterKey::new([7; 16]);
        let mut msg = vec![0x01];
        msg.extend_from_slice(LABEL_NONCE);
        msg.extend_from_slice(&[0x00, 42, 0x00, 0x80]);
        let want = CrateCmac::new(&[7; 16]).mac(&[&msg]);
        assert_eq!(master.derive(LABEL_NONCE, KeyEpoch(42)).0, want);
    }

    #[test]
    fn derived_keys_are_distinct() {
        let master = MasterKey::new([9; 16]);
        let labels = [
            LABEL_CONTINUATION_MAC,
            LABEL_NONCE,
            LABEL_RETRANSMIT_NONCE,
            LABEL_USER_CONTINUATION,
        ];
        let mut seen = Vec::new();
        for label in labels {
            for epoch in [0, 1, 255] {
                let k = master.derive(label, KeyEpoch(epoch)).0;
                assert!(!seen.contains(&k));
                assert_ne!(k, [9; 16]);
                seen.push(k);
            }
        }
    }

    #[test]
    fn debug_prints_no_secrets() {
        let master = MasterKey::new([0xab; 16]);
        assert_eq!(format!("{master:?}"), "MasterKey(..)");
        let keys = ServerKeys::from_master(KeyEpoch(3), &master);
        let ring = KeyRing::new(keys);
        let s = format!("{ring:?}");
        assert!(s.contains("epoch: 3"), "{s}");
        assert!(!s.contains("ab") && !s.contains("171"), "{s}");
        let app = AppKey::from_master(KeyEpoch(4), &master);
        assert_eq!(format!("{app:?}"), "AppKey { epoch: 4, .. }");
    }

    #[test]
    fn ring_rotation() {
        let master = MasterKey::new([1; 16]);
        let key = |e| AppKey::from_master(KeyEpoch(e), &master);
        let mut ring = KeyRing::new(key(1));
        assert_eq!(ring.current().epoch(), KeyEpoch(1));
        assert!(ring.get(KeyEpoch(1)).is_some());
        assert!(ring.get(KeyEpoch(2)).is_none());
        assert_eq!(ring.rotate(key(1)), Err(EpochInUse(KeyEpoch(1))));
        assert!(ring.previous().is_none());
        ring.rotate(key(2)).unwrap();
        assert_eq!(ring.current().epoch(), KeyEpoch(2));
        assert_eq!(ring.get(KeyEpoch(1)).map(AppKey::epoch), Some(KeyEpoch(1)));
        assert_eq!(ring.get(KeyEpoch(2)).map(AppKey::epoch), Some(KeyEpoch(2)));
        ring.rotate(key(3)).unwrap();
        assert!(ring.get(KeyEpoch(1)).is_none());
        assert!(ring.get(KeyEpoch(2)).is_some());
        ring.retire_previous();
        assert!(ring.get(KeyEpoch(2)).is_none());
        assert!(ring.get(KeyEpoch(3)).is_some());
        // Epochs wrap; reusing a retired epoch is allowed.
        ring.rotate(key(1)).unwrap();
        assert_eq!(ring.current().epoch(), KeyEpoch(1));
    }
}
