//! AES-128-CMAC (RFC 4493): the MAC over continuations (paper §2.2,
//! "Maintaining state integrity") and the PRF of the key derivation.
//!
//! Two implementations of one trait, [`AesCmac`]:
//!
//! - [`CrateCmac`] wraps RustCrypto's `cmac` crate;
//! - [`HandCmac`] is RFC 4493 §2.4 written directly on `aes::Aes128Enc`,
//!   with the subkeys K1 and K2 (§2.3) computed once per key.
//!
//! Both take the message as a list of byte slices (MAC'd as their
//! concatenation) so callers never assemble a buffer, and neither
//! allocates. They agree on every input (RFC 4493 §4 vectors below, random
//! inputs in `tests/cmac.rs`); [`Cmac`] names the one the rest of the crate
//! uses.

use aes::Aes128Enc;
use aes::cipher::consts::U16;
use aes::cipher::{
    BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, KeyInit,
};
use core::fmt;
use zeroize::Zeroize;

/// Length of a CMAC key.
pub const KEY_LEN: usize = 16;
/// Length of a CMAC tag (untruncated).
pub const TAG_LEN: usize = 16;
/// A CMAC tag.
pub type Tag = [u8; TAG_LEN];

/// The CMAC used by `keys`, `seal` and everything above them.
///
/// `HandCmac` is the default because, for the 80-byte transport-continuation
/// message (binding + sealed bytes, five whole blocks), it runs exactly the
/// five chained AES calls CMAC needs, inlined in a single backend dispatch,
/// while the `cmac` crate re-derives K1/K2 with an extra AES call on every
/// `finalize` and goes through the `digest` block buffer. Measured 3.9×
/// faster (bench/results/crypto.md, `cmac_80B/*`); if the crate ever wins,
/// point this alias at [`CrateCmac`]: outputs are identical, so nothing
/// else changes (not even sealed continuations in flight).
pub type Cmac = HandCmac;

/// AES-128-CMAC over the concatenation of byte slices.
pub trait AesCmac: Clone {
    /// Key the MAC.
    fn new(key: &[u8; KEY_LEN]) -> Self;

    /// CMAC of `parts[0] || parts[1] || ...`.
    fn mac(&self, parts: &[&[u8]]) -> Tag;

    /// CMAC of one message; fastest when it is a whole number of blocks
    /// (a sealed transport continuation and its binding are five).
    fn mac_exact(&self, msg: &[u8]) -> Tag {
        self.mac(&[msg])
    }
}

/// RFC 4493 CMAC on `aes::Aes128Enc` with precomputed subkeys.
#[derive(Clone)]
pub struct HandCmac {
    cipher: Aes128Enc,
    k1: [u8; 16],
    k2: [u8; 16],
}

impl HandCmac {
    /// The subkeys (K1, K2) of RFC 4493 §2.3.
    #[cfg(test)]
    fn subkeys(&self) -> ([u8; 16], [u8; 16]) {
        (self.k1, self.k2)
    }
}

impl AesCmac for HandCmac {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        let cipher = Aes128Enc::new(&(*key).into());
        // RFC 4493 §2.3: L = AES_K(0^128), K1 = dbl(L), K2 = dbl(K1).
        let mut l = [0u8; 16];
        cipher.encrypt_block((&mut l).into());
        let k1 = dbl(&l);
        let k2 = dbl(&k1);
        l.zeroize();
        HandCmac { cipher, k1, k2 }
    }

    fn mac(&self, parts: &[&[u8]]) -> Tag {
        let mut out = [0u8; TAG_LEN];
        self.cipher.encrypt_with_backend(Chain {
            parts,
            k1: &self.k1,
            k2: &self.k2,
            out: &mut out,
        });
        out
    }

    fn mac_exact(&self, msg: &[u8]) -> Tag {
        if msg.is_empty() || !msg.len().is_multiple_of(16) {
            return self.mac(&[msg]);
        }
        let mut out = [0u8; TAG_LEN];
        self.cipher.encrypt_with_backend(ChainBlocks {
            msg,
            k1: &self.k1,
            out: &mut out,
        });
        out
    }
}

impl Drop for HandCmac {
    fn drop(&mut self) {
        // The AES round keys wipe themselves (`aes/zeroize`).
        self.k1.zeroize();
        self.k2.zeroize();
    }
}

impl fmt::Debug for HandCmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandCmac { .. }")
    }
}

/// Doubling in GF(2^128) (RFC 4493 §2.3), without secret-dependent branches.
fn dbl(b: &[u8; 16]) -> [u8; 16] {
    let v = u128::from_be_bytes(*b);
    let reduce = 0u128.wrapping_sub(v >> 127) & 0x87;
    ((v << 1) ^ reduce).to_be_bytes()
}

#[inline(always)]
fn xor_into(acc: &mut [u8; 16], x: &[u8]) {
    for (a, b) in acc.iter_mut().zip(x) {
        *a ^= *b;
    }
}

/// The CBC-MAC chain of RFC 4493 §2.4 over a list of slices, run inside one
/// backend dispatch so every AES call inlines with its target features.
struct Chain<'a> {
    parts: &'a [&'a [u8]],
    k1: &'a [u8; 16],
    k2: &'a [u8; 16],
    out: &'a mut [u8; 16],
}

impl BlockSizeUser for Chain<'_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for Chain<'_> {
    #[inline(always)]
    fn call<B: BlockCipherEncBackend<BlockSize = U16>>(self, backend: &B) {
        let mut state = [0u8; 16];
        // The block being assembled. It is only processed once more input
        // follows, because the last block is treated differently (M_last).
        let mut buf = [0u8; 16];
        let mut fill = 0usize;
        for part in self.parts {
            let mut rest: &[u8] = part;
            while !rest.is_empty() {
                if fill == 16 {
                    xor_into(&mut state, &buf);
                    backend.encrypt_block_inplace((&mut state).into());
                    fill = 0;
                }
                // Whole blocks straight from the input, keeping at least one
                // byte back in case this is the end of the message.
                while fill == 0 && rest.len() > 16 {
                    xor_into(&mut state, &rest[..16]);
                    backend.encrypt_block_inplace((&mut state).into());
                    rest = &rest[16..];
                }
                let take = (16 - fill).min(rest.len());
                buf[fill..fill + take].copy_from_slice(&rest[..take]);
                fill += take;
                rest = &rest[take..];
            }
        }
        if fill == 16 {
            xor_into(&mut state, &buf);
            xor_into(&mut state, self.k1);
        } else {
            buf[fill] = 0x80;
            buf[fill + 1..].fill(0);
            xor_into(&mut state, &buf);
            xor_into(&mut state, self.k2);
        }
        backend.encrypt_block_inplace((&mut state).into());
        *self.out = state;
    }
}

/// [`Chain`] specialised to a complete 4-block message: no buffering, no
/// padding, K1 on the last block.
struct ChainBlocks<'a> {
    /// A non-empty whole number of blocks.
    msg: &'a [u8],
    k1: &'a [u8; 16],
    out: &'a mut [u8; 16],
}

impl BlockSizeUser for ChainBlocks<'_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for ChainBlocks<'_> {
    #[inline(always)]
    fn call<B: BlockCipherEncBackend<BlockSize = U16>>(self, backend: &B) {
        let mut state = [0u8; 16];
        let mut blocks = self.msg.chunks_exact(16).peekable();
        while let Some(block) = blocks.next() {
            xor_into(&mut state, block);
            if blocks.peek().is_none() {
                // RFC 4493 §2.4: a complete last block is XORed with K1.
                xor_into(&mut state, self.k1);
            }
            backend.encrypt_block_inplace((&mut state).into());
        }
        *self.out = state;
    }
}

/// CMAC from the `cmac` crate (RustCrypto), keyed with a shared reference to
/// one expanded AES key so a MAC copies no key material.
#[derive(Clone)]
pub struct CrateCmac {
    cipher: Aes128Enc,
}

impl AesCmac for CrateCmac {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        CrateCmac {
            cipher: Aes128Enc::new(&(*key).into()),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Tag {
        use ::cmac::Mac as _;
        use ::cmac::digest::common::InnerInit as _;
        let mut m = ::cmac::Cmac::<&Aes128Enc>::inner_init(&self.cipher);
        for part in parts {
            m.update(part);
        }
        m.finalize().into_bytes().into()
    }
}

impl fmt::Debug for CrateCmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CrateCmac { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let s: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        assert_eq!(s.len(), 2 * N);
        let mut out = [0u8; N];
        for (o, pair) in out.iter_mut().zip(s.chunks(2)) {
            *o = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
        }
        out
    }

    const KEY: &str = "2b7e1516 28aed2a6 abf71588 09cf4f3c";
    const MSG: &str = "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
                       30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710";

    /// RFC 4493 §4: (message length, tag).
    const VECTORS: [(usize, &str); 4] = [
        (0, "bb1d6929 e9593728 7fa37d12 9b756746"),
        (16, "070a16b4 6b4d4144 f79bdd9d d04a287c"),
        (40, "dfa66747 de9ae630 30ca3261 1497c827"),
        (64, "51f0bebf 7e3b9d92 fc497417 79363cfe"),
    ];

    fn check_vectors<C: AesCmac>() {
        let key = hex::<16>(KEY);
        let msg = hex::<64>(MSG);
        let c = C::new(&key);
        for (len, tag) in VECTORS {
            let want = hex::<16>(tag);
            let m = &msg[..len];
            assert_eq!(c.mac(&[m]), want, "len {len}");
            // Any split of the message gives the same tag.
            for cut in 0..=len {
                assert_eq!(
                    c.mac(&[&m[..cut], &[], &m[cut..]]),
                    want,
                    "len {len} cut {cut}"
                );
            }
        }
        assert_eq!(c.mac_exact(&msg), hex::<16>(VECTORS[3].1));
        assert_eq!(c.mac(&[]), hex::<16>(VECTORS[0].1));
    }

    #[test]
    fn rfc4493_vectors_hand() {
        check_vectors::<HandCmac>();
    }

    #[test]
    fn rfc4493_vectors_crate() {
        check_vectors::<CrateCmac>();
    }

    #[test]
    fn rfc4493_subkeys() {
        let c = HandCmac::new(&hex::<16>(KEY));
        let (k1, k2) = c.subkeys();
        assert_eq!(k1, hex::<16>("fbeed618 35713366 7c85e08f 7236a8de"));
        assert_eq!(k2, hex::<16>("f7ddac30 6ae266cc f90bc11e e46d513b"));
    }

    #[test]
    fn debug_hides_keys() {
        let c = HandCmac::new(&[0x41; 16]);
        assert_eq!(format!("{c:?}"), "HandCmac { .. }");
        assert_eq!(
            format!("{:?}", CrateCmac::new(&[0x41; 16])),
            "CrateCmac { .. }"
        );
    }
}
