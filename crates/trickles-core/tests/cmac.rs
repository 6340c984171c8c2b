//! The hand-rolled CMAC and the `cmac` crate agree on every input (RFC 4493
//! vectors are unit tests in `src/crypto/cmac.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;
use trickles_core::crypto::cmac::{AesCmac, Cmac, CrateCmac, HandCmac};

proptest! {
    #[test]
    fn implementations_agree(
        key in any::<[u8; 16]>(),
        parts in vec(vec(any::<u8>(), 0..80), 0..6),
    ) {
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let whole = parts.concat();
        let hand = HandCmac::new(&key);
        let krate = CrateCmac::new(&key);
        let want = krate.mac(&[&whole]);
        prop_assert_eq!(krate.mac(&slices), want);
        prop_assert_eq!(hand.mac(&slices), want);
        prop_assert_eq!(hand.mac(&[&whole]), want);
        prop_assert_eq!(Cmac::new(&key).mac(&slices), want);
    }

    #[test]
    fn mac_exact_agrees(key in any::<[u8; 16]>(), msg in vec(any::<u8>(), 64)) {
        let msg: [u8; 64] = msg.try_into().unwrap();
        let want = CrateCmac::new(&key).mac(&[&msg]);
        prop_assert_eq!(HandCmac::new(&key).mac_exact(&msg), want);
        prop_assert_eq!(CrateCmac::new(&key).mac_exact(&msg), want);
        let (a, b) = msg.split_at(20);
        prop_assert_eq!(HandCmac::new(&key).mac(&[a, b]), want);
    }

    #[test]
    fn different_keys_differ(k1 in any::<[u8; 16]>(), k2 in any::<[u8; 16]>(), msg in vec(any::<u8>(), 0..100)) {
        prop_assume!(k1 != k2);
        prop_assert_ne!(HandCmac::new(&k1).mac(&[&msg]), HandCmac::new(&k2).mac(&[&msg]));
    }
}
