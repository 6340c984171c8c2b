//! Sealing and opening continuations: round trips, tamper detection over
//! every bit, binding, key rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::net::IpAddr;
use proptest::collection::vec;
use proptest::prelude::*;
use trickles_core::crypto::{
    AppKey, Binding, KeyRing, MasterKey, OpenError, ServerKeys, open_continuation, open_user,
    seal_continuation, seal_user,
};
use trickles_wire::trickles::continuation::{
    CONTINUATION_LEN, Continuation, ContinuationBytes, SEALED_LEN,
};
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::{ConnId, KeyEpoch};

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn arb_binding() -> impl Strategy<Value = Binding> {
    (arb_ip(), any::<u16>(), any::<u16>()).prop_map(|(ip, c, s)| Binding::new(ip, c, s))
}

fn arb_continuation() -> impl Strategy<Value = ContinuationBytes> {
    vec(any::<u8>(), CONTINUATION_LEN).prop_map(|v| v.try_into().unwrap())
}

/// Number of bits of a binding: address, client port, server port.
const BINDING_BITS: usize = 160;

/// `b` with bit `k` flipped.
fn flip_binding(b: &Binding, k: usize) -> Binding {
    let mut b = *b;
    match k {
        0..128 => b.client[k / 8] ^= 1 << (k % 8),
        128..144 => b.client_port ^= 1 << (k - 128),
        _ => b.server_port ^= 1 << (k - 144),
    }
    b
}

fn server_ring(master: [u8; 16], epoch: u8) -> KeyRing<ServerKeys> {
    KeyRing::new(ServerKeys::from_master(
        KeyEpoch(epoch),
        &MasterKey::new(master),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every single-bit change of the 60 bytes (epoch, body, MAC) or of the
    /// binding (address, either port) is detected.
    #[test]
    fn continuation_tamper_detected(
        master in any::<[u8; 16]>(),
        epoch in any::<u8>(),
        mut c in arb_continuation(),
        b in arb_binding(),
    ) {
        let ring = server_ring(master, epoch);
        seal_continuation(ring.current(), &b, &mut c);
        prop_assert_eq!(c[0], epoch);
        let opened = open_continuation(&ring, &b, &c);
        prop_assert_eq!(opened, Ok(Continuation::decode(&c)));
        for bit in 0..CONTINUATION_LEN * 8 {
            let mut t = c;
            t[bit / 8] ^= 1 << (bit % 8);
            let want = if bit < 8 { OpenError::UnknownEpoch } else { OpenError::BadMac };
            prop_assert_eq!(open_continuation(&ring, &b, &t), Err(want), "bit {}", bit);
        }
        for k in 0..BINDING_BITS {
            let other = flip_binding(&b, k);
            prop_assert_eq!(open_continuation(&ring, &other, &c), Err(OpenError::BadMac), "binding bit {}", k);
        }
    }

    /// A continuation sealed under another master key with the same epoch
    /// byte does not open.
    #[test]
    fn continuation_wrong_key(
        m1 in any::<[u8; 16]>(),
        m2 in any::<[u8; 16]>(),
        epoch in any::<u8>(),
        mut c in arb_continuation(),
        b in arb_binding(),
    ) {
        prop_assume!(m1 != m2);
        seal_continuation(server_ring(m1, epoch).current(), &b, &mut c);
        prop_assert_eq!(open_continuation(&server_ring(m2, epoch), &b, &c), Err(OpenError::BadMac));
    }

    /// Sealed under the previous epoch: opens after one rotation, not after
    /// the previous key is retired or rotated out.
    #[test]
    fn continuation_rotation(
        master in any::<[u8; 16]>(),
        (e0, e1, e2) in (any::<u8>(), any::<u8>(), any::<u8>())
            .prop_filter("distinct successive epochs", |(a, b, c)| a != b && b != c),
        mut c0 in arb_continuation(),
        mut c1 in arb_continuation(),
        b in arb_binding(),
    ) {
        let m = MasterKey::new(master);
        let keys = |e| ServerKeys::from_master(KeyEpoch(e), &m);
        let mut ring = KeyRing::new(keys(e0));
        seal_continuation(ring.current(), &b, &mut c0);
        prop_assert!(open_continuation(&ring, &b, &c0).is_ok());

        ring.rotate(keys(e1)).unwrap();
        prop_assert_eq!(ring.current().epoch(), KeyEpoch(e1));
        prop_assert_eq!(open_continuation(&ring, &b, &c0), Ok(Continuation::decode(&c0)));
        seal_continuation(ring.current(), &b, &mut c1);
        prop_assert_eq!(c1[0], e1);
        prop_assert!(open_continuation(&ring, &b, &c1).is_ok());

        let mut retired = ring.clone();
        retired.retire(KeyEpoch(e0));
        prop_assert_eq!(open_continuation(&retired, &b, &c0), Err(OpenError::UnknownEpoch));
        prop_assert!(open_continuation(&retired, &b, &c1).is_ok());

        ring.rotate(keys(e2)).unwrap();
        // Earlier epochs stay accepted until they are retired.
        prop_assert!(open_continuation(&ring, &b, &c0).is_ok());
        ring.retire(KeyEpoch(e0));
        if e2 == e0 {
            // The epoch byte wrapped around to e0 under the same master
            // key: that is e0's key again (the KDF is deterministic).
            prop_assert!(open_continuation(&ring, &b, &c0).is_ok());
        } else {
            prop_assert_eq!(open_continuation(&ring, &b, &c0), Err(OpenError::UnknownEpoch));
        }
        prop_assert!(open_continuation(&ring, &b, &c1).is_ok());
    }

    /// Same for user continuations, including the connection id.
    #[test]
    fn user_tamper_detected(
        master in any::<[u8; 16]>(),
        epoch in any::<u8>(),
        input in any::<bool>(),
        start in any::<u64>(),
        span in 0u64..1 << 40,
        app in vec(any::<u8>(), 0..48),
        conn in any::<u64>(),
        b in arb_binding(),
    ) {
        let ring = KeyRing::new(AppKey::from_master(KeyEpoch(epoch), &MasterKey::new(master)));
        let kind = if input { Kind::Input } else { Kind::Output };
        let mut buf = [0u8; 128];
        let n = UserCont::build(&mut buf, KeyEpoch(epoch.wrapping_add(1)), kind, start, start.saturating_add(span), &app).unwrap();
        let raw = &mut buf[..n];
        seal_user(ring.current(), &b, ConnId(conn), raw).unwrap();
        prop_assert_eq!(raw[0], epoch);
        let open = |raw: &[u8], b: &Binding, conn: u64| -> Result<(), OpenError> {
            match UserCont::parse(raw) {
                // A flip that breaks the framing is refused by the parser.
                Err(_) => Err(OpenError::BadMac),
                Ok(u) => open_user(&ring, b, ConnId(conn), &u),
            }
        };
        prop_assert_eq!(open(raw, &b, conn), Ok(()));
        for bit in 0..n * 8 {
            let mut t = raw.to_vec();
            t[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(open(&t, &b, conn).is_err(), "bit {}", bit);
        }
        for k in 0..64 {
            prop_assert_eq!(open(raw, &b, conn ^ (1 << k)), Err(OpenError::BadMac), "conn bit {}", k);
        }
        for k in 0..BINDING_BITS {
            prop_assert_eq!(open(raw, &flip_binding(&b, k), conn), Err(OpenError::BadMac), "binding bit {}", k);
        }
    }

    /// User continuations rotate like transport ones.
    #[test]
    fn user_rotation(
        master in any::<[u8; 16]>(),
        e0 in any::<u8>(),
        app in vec(any::<u8>(), 0..32),
        b in arb_binding(),
    ) {
        let m = MasterKey::new(master);
        let e1 = e0.wrapping_add(1);
        let mut ring = KeyRing::new(AppKey::from_master(KeyEpoch(e0), &m));
        let mut buf = [0u8; 128];
        let n = UserCont::build(&mut buf, KeyEpoch(0), Kind::Output, 0, 100, &app).unwrap();
        seal_user(ring.current(), &b, ConnId(7), &mut buf[..n]).unwrap();
        let u = UserCont::parse(&buf[..n]).unwrap();
        ring.rotate(AppKey::from_master(KeyEpoch(e1), &m)).unwrap();
        prop_assert_eq!(open_user(&ring, &b, ConnId(7), &u), Ok(()));
        ring.retire(KeyEpoch(e0));
        prop_assert_eq!(open_user(&ring, &b, ConnId(7), &u), Err(OpenError::UnknownEpoch));
    }
}

#[test]
fn transport_and_user_keys_are_separate() {
    // The same master key used for both must not let a transport MAC stand
    // in for a user one: the KDF labels differ.
    let master = MasterKey::new([0x42; 16]);
    let b = Binding::new(IpAddr::from([192, 0, 2, 1]), 1000, 80);
    let server = KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &master));
    let app = KeyRing::new(AppKey::from_master(KeyEpoch(1), &master));
    let mut buf = [0u8; 128];
    let n = UserCont::build(&mut buf, KeyEpoch(1), Kind::Output, 0, 0, &[]).unwrap();
    seal_user(app.current(), &b, ConnId(1), &mut buf[..n]).unwrap();
    let mut c = [0u8; CONTINUATION_LEN];
    seal_continuation(server.current(), &b, &mut c);
    assert_ne!(c[SEALED_LEN..], buf[n - 16..n]);
}
