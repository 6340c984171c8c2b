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

/// Keys other than the current one a ring holds: the previous key during
/// a rotation's grace period, and the next one while a fleet rolls over
/// to it (docs/operations.md "Keys across a fleet").
pub const OTHER_KEYS: usize = 3;

/// The key to seal with and up to [`OTHER_KEYS`] others that are only
/// accepted: the previous epoch's during its grace period, the next
/// epoch's while other replicas may already seal with it.
///
/// Seal with [`KeyRing::current`]; open with [`KeyRing::get`] on the epoch
/// byte of what arrived. Fixed size, in place: no allocation.
#[derive(Debug, Clone)]
pub struct KeyRing<K> {
    current: K,
    /// Accepted keys, the one added first at the front.
    others: [Option<K>; OTHER_KEYS],
}

/// [`KeyRing::rotate`] or [`KeyRing::accept`] was given a key of the epoch
/// already current.
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
            others: [None, None, None],
        }
    }

    /// The key to seal with.
    pub fn current(&self) -> &K {
        &self.current
    }

    /// The keys accepted besides the current one, the one added first
    /// first.
    pub fn accepted(&self) -> impl Iterator<Item = &K> {
        self.others.iter().flatten()
    }

    /// The key of `epoch`, if the ring holds it.
    pub fn get(&self, epoch: KeyEpoch) -> Option<&K> {
        if self.current.epoch() == epoch {
            Some(&self.current)
        } else {
            self.accepted().find(|k| k.epoch() == epoch)
        }
    }

    /// Take the accepted key of `epoch` out of the ring.
    fn take(&mut self, epoch: KeyEpoch) -> Option<K> {
        let at = self
            .others
            .iter()
            .position(|k| k.as_ref().is_some_and(|k| k.epoch() == epoch))?;
        let key = self.others[at].take();
        self.others[at..].rotate_left(1);
        key
    }

    /// Add `key` to the accepted keys (replacing one of the same epoch);
    /// when they are full the one added first is dropped (and wiped).
    fn push(&mut self, key: K) {
        drop(self.take(key.epoch()));
        if self.others[OTHER_KEYS - 1].is_some() {
            self.others[0] = None;
            self.others.rotate_left(1);
        }
        if let Some(slot) = self.others.iter_mut().find(|k| k.is_none()) {
            *slot = Some(key);
        }
    }

    /// Make `next` current; the current key stays accepted (the previous
    /// key of a rotation, until [`KeyRing::retire`]).
    ///
    /// Refuses a key of the current epoch: two keys under one epoch byte
    /// would make everything sealed under one of them unopenable.
    pub fn rotate(&mut self, next: K) -> Result<(), EpochInUse> {
        if next.epoch() == self.current.epoch() {
            return Err(EpochInUse(next.epoch()));
        }
        drop(self.take(next.epoch()));
        let old = core::mem::replace(&mut self.current, next);
        self.push(old);
        Ok(())
    }

    /// Also accept `key`, without sealing with it: the next epoch, which
    /// other replicas may already seal with during a rolling rotation.
    pub fn accept(&mut self, key: K) -> Result<(), EpochInUse> {
        if key.epoch() == self.current.epoch() {
            return Err(EpochInUse(key.epoch()));
        }
        self.push(key);
        Ok(())
    }

    /// Stop accepting `epoch` (never the current key); its key is wiped.
    pub fn retire(&mut self, epoch: KeyEpoch) {
        drop(self.take(epoch));
    }

    /// Stop accepting every key but the current one.
    pub fn retire_all_others(&mut self) {
        self.others = [None, None, None];
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
        let epochs = |r: &KeyRing<AppKey>| r.accepted().map(|k| k.epoch().0).collect::<Vec<_>>();
        let mut ring = KeyRing::new(key(1));
        assert_eq!(ring.current().epoch(), KeyEpoch(1));
        assert!(ring.get(KeyEpoch(1)).is_some());
        assert!(ring.get(KeyEpoch(2)).is_none());
        assert_eq!(ring.rotate(key(1)), Err(EpochInUse(KeyEpoch(1))));
        assert_eq!(ring.accept(key(1)), Err(EpochInUse(KeyEpoch(1))));
        assert!(epochs(&ring).is_empty());
        ring.rotate(key(2)).unwrap();
        assert_eq!(ring.current().epoch(), KeyEpoch(2));
        assert_eq!(ring.get(KeyEpoch(1)).map(AppKey::epoch), Some(KeyEpoch(1)));
        assert_eq!(ring.get(KeyEpoch(2)).map(AppKey::epoch), Some(KeyEpoch(2)));
        ring.retire(KeyEpoch(1));
        assert!(ring.get(KeyEpoch(1)).is_none());
        // Retiring the current epoch does nothing.
        ring.retire(KeyEpoch(2));
        assert!(ring.get(KeyEpoch(2)).is_some());
        // A rolling rotation: the next key is accepted first, then made
        // current (moved, not duplicated).
        ring.accept(key(3)).unwrap();
        assert_eq!(ring.current().epoch(), KeyEpoch(2));
        assert!(ring.get(KeyEpoch(3)).is_some());
        ring.rotate(key(3)).unwrap();
        assert_eq!(ring.current().epoch(), KeyEpoch(3));
        assert_eq!(epochs(&ring), vec![2]);
        // Full: the key added first goes.
        for e in [4, 5, 6] {
            ring.accept(key(e)).unwrap();
        }
        assert_eq!(epochs(&ring), vec![4, 5, 6]);
        assert!(ring.get(KeyEpoch(2)).is_none());
        ring.retire(KeyEpoch(5));
        assert_eq!(epochs(&ring), vec![4, 6]);
        ring.retire_all_others();
        assert!(epochs(&ring).is_empty());
        // Epochs wrap; reusing a retired epoch is allowed.
        ring.rotate(key(1)).unwrap();
        assert_eq!(ring.current().epoch(), KeyEpoch(1));
    }
}
