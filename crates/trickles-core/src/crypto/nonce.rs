//! Packet nonces and range proofs (paper §2.2, "Maintaining state
//! integrity"; DESIGN.md "Nonces and SACK proofs").
//!
//! `r_i` is the first four bytes (big-endian) of
//! `AES_K(conn_id (8, BE) || i mod 2^32 (4, BE) || incarnation (4, BE))`.
//! The pair (conn_id, incarnation) is the [`NonceDomain`]: a retransmit
//! timeout starts a new incarnation, so packet numbers can restart without
//! any nonce ever repeating. Packet numbers are `u32` and start at 1, so
//! `i` ranges over `1..=2^32`; `r_{2^32}` (needed for the nonce of packet
//! `u32::MAX`) shares its block with `r_0`, which no packet uses, so no two
//! used indices share an `r`.
//!
//! Packet `x` carries `p_x = r_x ^ r_{x+1}`; the XOR of the nonces of
//! `[m, n]` telescopes to `r_m ^ r_{n+1}`. Originals use the nonce key,
//! retransmissions the retransmit-nonce key, so a retransmission's nonce
//! says nothing about the original's. `r_0` exists but no packet 0 does.

use aes::Aes128Enc;
use aes::cipher::BlockCipherEncrypt;
use trickles_wire::{ConnId, PacketNumber};

/// The space nonces are drawn from: one connection in one incarnation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NonceDomain {
    /// Connection identifier.
    pub conn: ConnId,
    /// Incarnation of the packet numbering (renewed by retransmit timeouts).
    pub incarnation: u32,
}

impl From<ConnId> for NonceDomain {
    /// Incarnation 0 of `conn`.
    fn from(conn: ConnId) -> NonceDomain {
        NonceDomain {
            conn,
            incarnation: 0,
        }
    }
}

use super::keys::ServerKeys;

/// One AES block.
pub(crate) type Block = aes::Block;

/// The PRF input of `r_i`.
#[inline]
pub(crate) fn r_block(d: NonceDomain, i: u64) -> Block {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&d.conn.0.to_be_bytes());
    b[8..12].copy_from_slice(&(i as u32).to_be_bytes());
    b[12..].copy_from_slice(&d.incarnation.to_be_bytes());
    b.into()
}

/// `r` from an encrypted block.
#[inline]
pub(crate) fn r_word(b: &Block) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The nonce key for originals or retransmissions.
#[inline]
pub(crate) fn nonce_cipher(keys: &ServerKeys, retransmission: bool) -> &Aes128Enc {
    if retransmission {
        &keys.retx_nonce
    } else {
        &keys.nonce
    }
}

/// `r_a ^ r_b`, both blocks in one `encrypt_blocks` call.
#[inline]
fn r_xor(cipher: &Aes128Enc, d: NonceDomain, a: u64, b: u64) -> u32 {
    let mut blocks = [r_block(d, a), r_block(d, b)];
    cipher.encrypt_blocks(&mut blocks);
    r_word(&blocks[0]) ^ r_word(&blocks[1])
}

/// The nonce `p_x = r_x ^ r_{x+1}` of packet `x` of connection `conn`
/// (of its retransmission if `retransmission`).
pub fn packet_nonce(
    keys: &ServerKeys,
    domain: impl Into<NonceDomain>,
    x: PacketNumber,
    retransmission: bool,
) -> u32 {
    let x = u64::from(x.0);
    r_xor(nonce_cipher(keys, retransmission), domain.into(), x, x + 1)
}

/// The proof `r_m ^ r_{n+1}` of having received every packet of `[m, n]`
/// (the XOR of their nonces). Meaningful for `1 <= m <= n`.
pub fn range_proof(
    keys: &ServerKeys,
    domain: impl Into<NonceDomain>,
    m: PacketNumber,
    n: PacketNumber,
    retransmission: bool,
) -> u32 {
    r_xor(
        nonce_cipher(keys, retransmission),
        domain.into(),
        u64::from(m.0),
        u64::from(n.0) + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::MasterKey;
    use trickles_wire::KeyEpoch;

    fn keys() -> ServerKeys {
        ServerKeys::from_master(KeyEpoch(1), &MasterKey::new([0x11; 16]))
    }

    #[test]
    fn block_layout() {
        let d = NonceDomain {
            conn: ConnId(0x0102_0304_0506_0708),
            incarnation: 0x1122_3344,
        };
        let b = r_block(d, 0x0a0b_0c0d);
        assert_eq!(
            b[..],
            [
                1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0x11, 0x22, 0x33, 0x44
            ]
        );
        // r_{2^32} shares r_0's block; r_0 is never used.
        let top = r_block(ConnId(1).into(), 1 << 32);
        assert_eq!(top, r_block(ConnId(1).into(), 0));
        assert_ne!(top, r_block(ConnId(1).into(), 1));
        // Incarnations are separate domains.
        let other = NonceDomain {
            incarnation: 1,
            ..d
        };
        assert_ne!(r_block(d, 5), r_block(other, 5));
    }

    #[test]
    fn nonces_telescope() {
        let k = keys();
        let conn = ConnId(77);
        for (m, n) in [(1u32, 1u32), (1, 10), (5, 300), (u32::MAX - 3, u32::MAX)] {
            for retx in [false, true] {
                let xor = (m..=n).fold(0, |acc, x| {
                    acc ^ packet_nonce(&k, conn, PacketNumber(x), retx)
                });
                assert_eq!(
                    xor,
                    range_proof(&k, conn, PacketNumber(m), PacketNumber(n), retx)
                );
            }
        }
    }

    #[test]
    fn keys_and_connections_separate() {
        let k = keys();
        let x = PacketNumber(5);
        let a = packet_nonce(&k, ConnId(1), x, false);
        assert_ne!(a, packet_nonce(&k, ConnId(1), x, true));
        assert_ne!(a, packet_nonce(&k, ConnId(2), x, false));
        let other = ServerKeys::from_master(KeyEpoch(2), &MasterKey::new([0x11; 16]));
        assert_ne!(a, packet_nonce(&other, ConnId(1), x, false));
        // Deterministic.
        assert_eq!(a, packet_nonce(&keys(), ConnId(1), x, false));
    }
}
