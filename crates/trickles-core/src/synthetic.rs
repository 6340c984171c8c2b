//! The synthetic stream: a deterministic byte stream named by a length and
//! a seed, and the stateless application that serves it (paper §3: the
//! application's state rides in the output continuation, here 16 bytes).
//!
//! Used wherever a transfer must be checked byte for byte without storing
//! it: the simulator, the datapath tests, the packet generator and the
//! daemon's benchmark service. A receiver recomputes any byte from
//! `(seed, offset)`, so corruption, misplacement or duplication shows.

use crate::server::{AppRefusal, Application, MAX_APP_DATA, Opened, Output};

/// SplitMix64 finalizer (a bijective 64-bit mixer; also used to derive
/// per-connection values from a run's seed).
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn word(seed: u64, index: u64) -> [u8; 8] {
    mix(seed ^ mix(index)).to_le_bytes()
}

/// Byte `offset` of the deterministic application stream of `seed`: what a
/// sender transmits and a receiver checks, so corruption, misplacement or
/// duplication of payload bytes is detected.
pub fn stream_byte(seed: u64, offset: u64) -> u8 {
    word(seed, offset / 8)[(offset % 8) as usize]
}

/// Fill `buf` with the stream bytes starting at `offset`.
pub fn fill_stream(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut off = offset;
    let mut i = 0;
    while i < buf.len() {
        let w = word(seed, off / 8);
        let start = (off % 8) as usize;
        let n = (8 - start).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&w[start..start + n]);
        i += n;
        off += n as u64;
    }
}

/// Number of bytes of `buf` that differ from the stream at `offset`.
pub fn stream_mismatches(seed: u64, offset: u64, buf: &[u8]) -> u64 {
    let mut off = offset;
    let mut bad = 0;
    let mut i = 0;
    while i < buf.len() {
        let w = word(seed, off / 8);
        let start = (off % 8) as usize;
        let n = (8 - start).min(buf.len() - i);
        bad += buf[i..i + n]
            .iter()
            .zip(&w[start..start + n])
            .filter(|(a, b)| a != b)
            .count() as u64;
        i += n;
        off += n as u64;
    }
    bad
}

/// The application serving synthetic streams: the request names a length
/// and a seed, the output is `stream_byte(seed, offset)`.
///
/// A request may also carry a body (see [`stream_request_with_body`]): its
/// bytes are folded into the seed, so the output proves the server read
/// every byte of it, through input continuations when it spans several
/// packets (paper §4.2).
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamApp;

/// FNV-1a over `bytes`, continuing from `h`.
fn fold(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Digest of a partly read request: size, seed, total length, hash so far.
const DIGEST_LEN: usize = 8 + 8 + 4 + 8;

impl StreamApp {
    fn finish(
        size: u64,
        seed: u64,
        hash: Option<u64>,
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Opened {
        let seed = hash.map_or(seed, |h| seed ^ h);
        app_data[..8].copy_from_slice(&size.to_be_bytes());
        app_data[8..16].copy_from_slice(&seed.to_be_bytes());
        Opened::Output(Output {
            len: size,
            app_data_len: 16,
        })
    }

    /// Read `input` (bytes `consumed..` of a request of `total` bytes).
    fn read(
        size: u64,
        seed: u64,
        total: u64,
        hash: u64,
        consumed: u64,
        input: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Opened {
        let want = total.saturating_sub(consumed).min(input.len() as u64) as usize;
        let hash = fold(hash, &input[..want]);
        let consumed = consumed + want as u64;
        if consumed >= total {
            return StreamApp::finish(size, seed, Some(hash), app_data);
        }
        app_data[..8].copy_from_slice(&size.to_be_bytes());
        app_data[8..16].copy_from_slice(&seed.to_be_bytes());
        app_data[16..20].copy_from_slice(&(total as u32).to_be_bytes());
        app_data[20..28].copy_from_slice(&hash.to_be_bytes());
        Opened::NeedInput {
            consumed,
            digest_len: DIGEST_LEN,
        }
    }
}

fn be64(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_be_bytes(x)
}

impl Application for StreamApp {
    fn open(
        &mut self,
        request: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        if request.len() == 16 {
            return Ok(StreamApp::finish(
                be64(request),
                be64(&request[8..]),
                None,
                app_data,
            ));
        }
        let head = request.get(..20).ok_or(AppRefusal)?;
        let total = u64::from(u32::from_be_bytes([head[16], head[17], head[18], head[19]]));
        if total < 20 {
            return Err(AppRefusal);
        }
        Ok(StreamApp::read(
            be64(head),
            be64(&head[8..]),
            total,
            FNV_START,
            20,
            &request[20..],
            app_data,
        ))
    }

    fn more_input(
        &mut self,
        digest: &[u8],
        consumed: u64,
        input: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        let d = digest.get(..DIGEST_LEN).ok_or(AppRefusal)?;
        let total = u64::from(u32::from_be_bytes([d[16], d[17], d[18], d[19]]));
        Ok(StreamApp::read(
            be64(d),
            be64(&d[8..]),
            total,
            be64(&d[20..]),
            consumed,
            input,
            app_data,
        ))
    }

    fn fill(&mut self, app_data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), AppRefusal> {
        let seed: [u8; 8] = app_data
            .get(8..16)
            .and_then(|s| s.try_into().ok())
            .ok_or(AppRefusal)?;
        fill_stream(u64::from_be_bytes(seed), offset, buf);
        Ok(())
    }
}

/// A request for `size` bytes whose stream seed is `seed` folded with
/// every byte of `body` (what [`StreamApp`] serves for it), and that seed.
pub fn stream_request_with_body(size: u64, seed: u64, body: &[u8]) -> (Vec<u8>, u64) {
    let total = 20 + body.len();
    let mut r = Vec::with_capacity(total);
    r.extend_from_slice(&size.to_be_bytes());
    r.extend_from_slice(&seed.to_be_bytes());
    r.extend_from_slice(&(total as u32).to_be_bytes());
    r.extend_from_slice(body);
    (r, seed ^ fold(FNV_START, body))
}

/// The request a client sends for `size` bytes of stream `seed`.
pub fn stream_request(size: u64, seed: u64) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[..8].copy_from_slice(&size.to_be_bytes());
    r[8..].copy_from_slice(&seed.to_be_bytes());
    r
}
