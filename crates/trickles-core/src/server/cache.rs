//! The soft-state continuation cache (paper §5.1, "Socket caching").
//!
//! When memory is available the server may remember the continuations it
//! sealed, so that a request returning one is recognised by a table
//! lookup instead of a MAC verification and a decode. The cache is a
//! direct-mapped table fixed at start-up (DESIGN.md "State as a cache,
//! never as truth"): an entry is overwritten by any newer continuation
//! that maps to the same place, a miss falls back to the stateless path,
//! and a server with the cache off (the default, 0 entries) or with a cold
//! cache gives every client exactly the same answers.
//!
//! A hit requires the 76 received bytes to equal, byte for byte, bytes
//! this server sealed for the same client binding, and the key epoch to be
//! still in the ring, so it is exactly as trustworthy as the MAC check it
//! replaces.

use trickles_wire::trickles::continuation::{Continuation, ContinuationBytes, MAC_LEN};

use crate::crypto::{Binding, KeyRing, ServerKeys};

#[derive(Debug, Clone, Copy)]
struct Entry {
    bytes: ContinuationBytes,
    binding: Binding,
    cont: Continuation,
}

/// A fixed-size table from sealed continuation bytes to the decoded
/// continuation.
#[derive(Debug)]
pub struct ContinuationCache {
    entries: Box<[Option<Entry>]>,
}

impl ContinuationCache {
    /// A cache of `entries` entries, rounded up to a power of two; 0 turns
    /// it off.
    pub fn new(entries: usize) -> ContinuationCache {
        let n = if entries == 0 {
            0
        } else {
            entries.next_power_of_two()
        };
        ContinuationCache {
            entries: vec![None; n].into_boxed_slice(),
        }
    }

    /// True if the cache has entries.
    pub fn enabled(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Bytes held (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.entries)
    }

    fn index(&self, bytes: &ContinuationBytes) -> usize {
        // The MAC tag is a pseudo-random function of the contents: its
        // first bytes spread entries evenly, and no client can aim at a
        // slot without forging a tag.
        let tag = &bytes[bytes.len() - MAC_LEN..];
        let mut h = [0u8; 8];
        h.copy_from_slice(&tag[..8]);
        (u64::from_le_bytes(h) as usize) & (self.entries.len() - 1)
    }

    /// Remember a continuation just sealed for `binding`.
    pub fn insert(&mut self, binding: &Binding, bytes: &ContinuationBytes, cont: &Continuation) {
        if !self.enabled() {
            return;
        }
        let i = self.index(bytes);
        self.entries[i] = Some(Entry {
            bytes: *bytes,
            binding: *binding,
            cont: Continuation {
                mac: {
                    let mut m = [0u8; MAC_LEN];
                    m.copy_from_slice(&bytes[bytes.len() - MAC_LEN..]);
                    m
                },
                ..*cont
            },
        });
    }

    /// The decoded continuation if `bytes` is one this server sealed for
    /// `binding` and its key epoch is still valid.
    pub fn get(
        &self,
        binding: &Binding,
        bytes: &ContinuationBytes,
        keys: &KeyRing<ServerKeys>,
    ) -> Option<Continuation> {
        if !self.enabled() {
            return None;
        }
        let e = self.entries[self.index(bytes)].as_ref()?;
        (e.bytes == *bytes && e.binding == *binding && keys.get(e.cont.epoch).is_some())
            .then_some(e.cont)
    }

    /// Forget everything (e.g. under memory pressure); clients notice
    /// nothing but the server's CPU time.
    pub fn clear(&mut self) {
        self.entries.fill(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MasterKey, open_continuation, seal_continuation};
    use core::net::{IpAddr, Ipv4Addr};
    use trickles_wire::{ConnId, KeyEpoch, PacketNumber};

    #[test]
    fn hit_only_for_the_same_bytes_and_client() {
        let keys = KeyRing::new(ServerKeys::from_master(
            KeyEpoch(1),
            &MasterKey::new([3; 16]),
        ));
        let b = Binding::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 4000, 80);
        let other = Binding::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 4000, 80);
        let cont = Continuation {
            epoch: KeyEpoch(1),
            conn_id: ConnId(7),
            k: PacketNumber(5),
            ..Continuation::default()
        };
        let mut bytes = cont.to_bytes();
        seal_continuation(keys.current(), &b, &mut bytes);
        let mut cache = ContinuationCache::new(100);
        assert_eq!(
            cache.memory_bytes(),
            128 * core::mem::size_of::<Option<Entry>>()
        );
        assert!(cache.get(&b, &bytes, &keys).is_none());
        cache.insert(&b, &bytes, &cont);
        // A hit decodes to what the MAC path decodes.
        let opened = open_continuation(&keys, &b, &bytes).unwrap();
        assert_eq!(cache.get(&b, &bytes, &keys), Some(opened));
        assert!(cache.get(&other, &bytes, &keys).is_none());
        let mut flipped = bytes;
        flipped[10] ^= 1;
        assert!(cache.get(&b, &flipped, &keys).is_none());
        cache.clear();
        assert!(cache.get(&b, &bytes, &keys).is_none());
        // Off: never hits, holds nothing.
        let mut off = ContinuationCache::new(0);
        off.insert(&b, &bytes, &cont);
        assert!(off.get(&b, &bytes, &keys).is_none());
        assert_eq!(off.memory_bytes(), 0);
    }
}
