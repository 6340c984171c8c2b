//! Sealing and opening continuations (paper §2.2, "Maintaining state
//! integrity"; docs/protocol.md §5 and §7).
//!
//! A transport continuation's tag is
//! `CMAC(K_mac, binding (20) || bytes 0..60 (60))`, exactly five AES
//! blocks, stored in bytes 60..76. Byte 0 is the key epoch, so it is both
//! covered by the tag and used to pick the key when opening.
//!
//! A user continuation's tag is
//! `CMAC(K_app, binding (20) || conn_id (8, BE) || sealed bytes)` in its last
//! 16 bytes, with its epoch in byte 0. The connection id is bound because
//! user continuations do not carry it themselves.
//!
//! Tags are compared in constant time (`subtle`).

use core::fmt;
use subtle::ConstantTimeEq;
use trickles_wire::ConnId;
use trickles_wire::trickles::continuation::{
    Continuation, ContinuationBytes, MAC_LEN, SEALED_LEN, field,
};
use trickles_wire::trickles::ucont::UserCont;

use super::binding::{BINDING_LEN, Binding};
use super::cmac::{AesCmac, Tag};
use super::keys::{AppKey, KeyRing, ServerKeys};

/// Why a continuation did not open. Every variant is a forged, corrupted or
/// expired-key packet; count and drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenError {
    /// The epoch byte names neither the current nor the previous key.
    UnknownEpoch,
    /// The tag does not match.
    BadMac,
}

impl OpenError {
    /// Stable name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            OpenError::UnknownEpoch => "unknown_epoch",
            OpenError::BadMac => "bad_mac",
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpenError::UnknownEpoch => "continuation sealed under an unknown key epoch",
            OpenError::BadMac => "continuation MAC does not verify",
        })
    }
}

impl std::error::Error for OpenError {}

/// [`seal_user`] was not given exactly one well-formed user continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MalformedUserCont;

impl fmt::Display for MalformedUserCont {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not exactly one well-formed user continuation")
    }
}

impl std::error::Error for MalformedUserCont {}

fn continuation_tag(keys: &ServerKeys, b: &Binding, c: &ContinuationBytes) -> Tag {
    let mut msg = [0u8; BINDING_LEN + SEALED_LEN];
    msg[..BINDING_LEN].copy_from_slice(&b.to_bytes());
    msg[BINDING_LEN..].copy_from_slice(&c[..SEALED_LEN]);
    keys.mac.mac_exact(&msg)
}

/// Seal a transport continuation in place: write the epoch of `keys` into
/// byte 0 and the tag into bytes 60..76.
pub fn seal_continuation(keys: &ServerKeys, b: &Binding, c: &mut ContinuationBytes) {
    c[field::EPOCH] = keys.epoch().0;
    let tag = continuation_tag(keys, b, c);
    c[field::MAC].copy_from_slice(&tag);
}

/// Verify a transport continuation received from the client bound by `b`
/// and decode it.
pub fn open_continuation(
    ring: &KeyRing<ServerKeys>,
    b: &Binding,
    c: &ContinuationBytes,
) -> Result<Continuation, OpenError> {
    let epoch = trickles_wire::KeyEpoch(c[field::EPOCH]);
    let keys = ring.get(epoch).ok_or(OpenError::UnknownEpoch)?;
    let tag = continuation_tag(keys, b, c);
    if bool::from(tag.ct_eq(&c[field::MAC])) {
        Ok(Continuation::decode(c))
    } else {
        Err(OpenError::BadMac)
    }
}

fn user_tag(key: &AppKey, b: &Binding, conn: ConnId, sealed: &[u8]) -> Tag {
    key.mac.mac(&[&b.to_bytes(), &conn.0.to_be_bytes(), sealed])
}

/// Seal a user continuation in place. `raw` must be exactly one encoded
/// user continuation, as written by `UserCont::build`; its epoch byte is
/// set to that of `key` and its last 16 bytes receive the tag.
pub fn seal_user(
    key: &AppKey,
    b: &Binding,
    conn: ConnId,
    raw: &mut [u8],
) -> Result<(), MalformedUserCont> {
    let len = raw.len();
    match UserCont::parse(raw) {
        Ok(u) if u.as_bytes().len() == len => {}
        _ => return Err(MalformedUserCont),
    }
    raw[0] = key.epoch().0;
    let (sealed, mac) = raw.split_at_mut(len - MAC_LEN);
    mac.copy_from_slice(&user_tag(key, b, conn, sealed));
    Ok(())
}

/// Verify a user continuation received on connection `conn` from the
/// client bound by `b`.
pub fn open_user(
    ring: &KeyRing<AppKey>,
    b: &Binding,
    conn: ConnId,
    u: &UserCont<'_>,
) -> Result<(), OpenError> {
    let key = ring.get(u.epoch()).ok_or(OpenError::UnknownEpoch)?;
    let tag = user_tag(key, b, conn, u.sealed_bytes());
    if bool::from(tag.ct_eq(u.mac())) {
        Ok(())
    } else {
        Err(OpenError::BadMac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::MasterKey;
    use core::net::{IpAddr, Ipv4Addr};
    use trickles_wire::KeyEpoch;
    use trickles_wire::trickles::ucont::Kind;

    fn binding() -> Binding {
        Binding::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000, 80)
    }

    #[test]
    fn tag_layout() {
        // The tag is CMAC over binding || bytes 0..60 (the 80-byte fast
        // path agrees with the general one).
        let master = MasterKey::new([5; 16]);
        let keys = ServerKeys::from_master(KeyEpoch(9), &master);
        let mut c = [0x5a; 76];
        seal_continuation(&keys, &binding(), &mut c);
        assert_eq!(c[0], 9);
        let want = keys.mac.mac(&[&binding().to_bytes(), &c[..60]]);
        assert_eq!(c[60..], want);
    }

    #[test]
    fn seal_user_rejects_malformed() {
        let key = AppKey::from_master(KeyEpoch(1), &MasterKey::new([3; 16]));
        let mut buf = [0u8; 64];
        let n = UserCont::build(&mut buf, KeyEpoch(0), Kind::Output, 0, 10, b"abc").unwrap();
        // Trailing bytes, truncation and garbage are refused.
        assert_eq!(
            seal_user(&key, &binding(), ConnId(1), &mut buf[..n + 1]),
            Err(MalformedUserCont)
        );
        assert_eq!(
            seal_user(&key, &binding(), ConnId(1), &mut buf[..n - 1]),
            Err(MalformedUserCont)
        );
        assert_eq!(
            seal_user(&key, &binding(), ConnId(1), &mut []),
            Err(MalformedUserCont)
        );
        seal_user(&key, &binding(), ConnId(1), &mut buf[..n]).unwrap();
        assert_eq!(buf[0], 1);
        let u = UserCont::parse(&buf[..n]).unwrap();
        let ring = KeyRing::new(key);
        assert_eq!(open_user(&ring, &binding(), ConnId(1), &u), Ok(()));
        assert_eq!(
            open_user(&ring, &binding(), ConnId(2), &u),
            Err(OpenError::BadMac)
        );
    }

    #[test]
    fn error_names() {
        assert_eq!(OpenError::UnknownEpoch.as_str(), "unknown_epoch");
        assert_eq!(OpenError::BadMac.as_str(), "bad_mac");
        assert!(OpenError::BadMac.to_string().contains("MAC"));
    }
}
