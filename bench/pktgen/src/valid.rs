//! Minting legitimate REQUESTs for `pktgen --mode valid`, sans IO.
//!
//! pktgen holds the server's key file, so it can do what only the server
//! may: seal transport continuations (docs/protocol.md §5, §8.2), compute
//! packet nonces and SACK proofs (§6) and seal user continuations (§7).
//! It uses that to send, from many simulated clients, REQUESTs (§4.4) the
//! server verifies and answers, as an open-loop load generator.
//!
//! 1. **Probe** ([`probe_syn`], [`Probe::from_frame`]). The continuation's
//!    timestamp is the server's own clock (ms since the worker started,
//!    mod 2^32, §5, §9), and its shape (slot geometry §12, congestion
//!    piece §14) and the application's output continuation are the
//!    server's choice. So pktgen first sends one real, padded SYN (§4.2)
//!    from [`PROBE_PORT`] and reads the FIRST_RESPONSE of slot 1 (§4.3):
//!    its transport continuation is the template, its output user
//!    continuation the application state every client returns, and its
//!    timestamp minus pktgen's clock at receipt the clock offset (an
//!    estimate that lags the server by the one-way delay: the past is
//!    safe, the replay horizon is seconds).
//! 2. **Per client** ([`Minter::new`]): client `c` sends from port
//!    `20000 + c` (so at most [`MAX_CLIENTS`]) with connection id
//!    `mix(seed ^ mix(c))`. Its REQUEST returns the probe's slot-1
//!    continuation with that `conn_id` and incarnation 0, sealed under
//!    `K_mac` for the client's binding (§8.2); a SACK proof of one
//!    original range `[sack_floor, k]` (for slot 1: `[1, 1]`, what a real
//!    client holds when it answers its first packet), whose proof is
//!    `r_floor ^ r_{k+1}` under `K_nonce` in the client's nonce domain
//!    (§6.1, §6.3); and the probe's output continuation re-sealed under
//!    `K_app` for the client's binding and `conn_id` (§8.2). That proof
//!    declares no loss (§14.1), so the server answers request `k` with
//!    slots `k + w(k−1) ..= k + w(k)` (for `k = 1` and the default
//!    initial window 2: slots 3 and 4, two RESPONSE frames).
//! 3. **Per frame** ([`Minter::mint`]): the client's frame is copied, the
//!    continuation's timestamp set to the server's clock now, the
//!    continuation re-sealed (one AES-CMAC of five blocks) and the TCP
//!    checksum recomputed. The server's replay table keys on the
//!    continuation's MAC (§9), so a client sends at most one request per
//!    server millisecond (two would be the same bytes): [`Minter::mint_next`]
//!    goes round the clients and stops when the next one has already sent
//!    in this millisecond, which caps the rate at `clients × 1000` pps.
//!
//! What the server enforces on such a request, in this order
//! (crates/trickles-core `server::Server::request_core`): a frame that
//! parses, with valid checksums, to the served port; a continuation MAC
//! that verifies for the source address and ports under a held epoch;
//! mode not TERMINAL; a timestamp no older than the replay horizon
//! (10 s by default) and at most 1 s in the future, with a MAC the replay
//! table has not seen (it is recorded here, so a copy whose proof or user
//! continuation is then refused still spends the continuation); every
//! SACK range proof verifying in the continuation's nonce domain; a proof
//! that does not contradict the continuation (`inconsistent_sack`); and,
//! since the output has started (`origin_slot ≠ 0`), an output user
//! continuation that opens for this binding and `conn_id`. Nothing ties
//! `conn_id` to the SYN that created it: the server keeps no state, so a
//! continuation sealed under its key is as good as one it made.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use trickled::keyfile::KeyFile;
use trickles_core::crypto::{
    Binding, KeyRing, NonceDomain, OpenError, ServerKeys, open_continuation, open_user,
    range_proof, seal_continuation, seal_user,
};
use trickles_core::server::mode;
use trickles_core::synthetic::mix;
use trickles_wire::checksum::{Checksum, IPPROTO_TCP, pseudo_header_v4};
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::continuation::{
    CONTINUATION_LEN, Continuation, ContinuationBytes, field,
};
use trickles_wire::trickles::list::List;
use trickles_wire::trickles::sack::{SackBlock, SackProof};
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::trickles::{Body, Flags, Packet, Request, Syn, Versions};
use trickles_wire::{ConnId, PacketNumber};

/// Source port of the probe SYN.
pub const PROBE_PORT: u16 = 19_999;
/// Source port of client 0; client `c` uses `FIRST_PORT + c`.
pub const FIRST_PORT: u16 = 20_000;
/// Most simulated clients: one source port each, 20000–64999.
pub const MAX_CLIENTS: u32 = CLIENTS_PER_ADDRESS * 16;
/// Simulated clients per source address (ports 20000 … 64999).
pub const CLIENTS_PER_ADDRESS: u32 = 45_000;

/// Client `c`'s source address and port: client `c` uses address
/// `src + c / CLIENTS_PER_ADDRESS` and port `FIRST_PORT + c % CLIENTS_PER_ADDRESS`.
pub fn client_endpoint(src: Ipv4Addr, c: u32) -> (Ipv4Addr, u16) {
    let addr = Ipv4Addr::from(u32::from(src).wrapping_add(c / CLIENTS_PER_ADDRESS));
    (addr, FIRST_PORT + (c % CLIENTS_PER_ADDRESS) as u16)
}
/// IP packet length of the probe SYN: padded to a 1500-byte MTU like a
/// real client's (§4.2), so that the answer carries stream bytes.
pub const PROBE_SYN_IP_LEN: usize = 1500;

/// Offset of the TCP header in the frames pktgen emits (untagged
/// Ethernet, IPv4 without options).
const TCP_AT: usize = 14 + 20;
/// Offset of a REQUEST's continuation: TCP header and marker (24), common
/// header (8), §2, §3, §4.4.
const CONT_AT: usize = TCP_AT + 24 + 8;

/// Both ends, as pktgen sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// Our MAC.
    pub src_mac: [u8; 6],
    /// The next hop's MAC.
    pub dst_mac: [u8; 6],
    /// Our first address (clients beyond [`CLIENTS_PER_ADDRESS`] use the
    /// next ones, [`client_endpoint`]).
    pub src: Ipv4Addr,
    /// The server.
    pub dst: SocketAddrV4,
}

impl Endpoints {
    fn headers(&self, src: Ipv4Addr, src_port: u16, seq: u32, ack: u32, tcp_flags: u8) -> Headers {
        Headers {
            src_mac: self.src_mac,
            dst_mac: self.dst_mac,
            src: IpAddr::V4(src),
            dst: IpAddr::V4(*self.dst.ip()),
            tcp: TcpFields {
                src_port,
                dst_port: self.dst.port(),
                seq,
                ack,
                flags: tcp_flags,
                window: u16::MAX,
            },
            ttl: 64,
        }
    }

    fn binding(&self, src: Ipv4Addr, src_port: u16) -> Binding {
        Binding::new(IpAddr::V4(src), src_port, self.dst.port())
    }
}

/// The probe SYN from [`PROBE_PORT`] with initial sequence number `isn`,
/// carrying `request` and padded to [`PROBE_SYN_IP_LEN`] bytes of IP.
pub fn probe_syn(ends: &Endpoints, isn: u32, request: &[u8]) -> Result<Vec<u8>, String> {
    // IPv4 (20), TCP (20), marker (4), SYN header (16).
    let headers = 20 + 20 + 4 + 16;
    let p = Packet {
        flags: Flags(0),
        body: Body::Syn(Syn {
            versions: Versions::SUPPORTED,
            mss: 1456,
        }),
        data: request,
        padding: PROBE_SYN_IP_LEN.saturating_sub(headers + request.len()),
    };
    let mut buf = vec![0u8; 14 + PROBE_SYN_IP_LEN.max(headers + request.len())];
    let n = frame::emit(
        &ends.headers(ends.src, PROBE_PORT, isn, 0, flags::SYN),
        &p,
        &mut buf,
    )
    .map_err(|e| format!("cannot build the probe SYN: {e:?}"))?;
    buf.truncate(n);
    Ok(buf)
}

/// What the probe's answer teaches: the FIRST_RESPONSE of slot 1.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Its transport continuation, sealed for the probe's binding.
    pub continuation: ContinuationBytes,
    /// Its output user continuation, sealed for the probe's binding and
    /// connection.
    pub output: Vec<u8>,
    /// The probe's binding: our address, [`PROBE_PORT`], the server port.
    pub binding: Binding,
    /// Stream bytes slot 1 carried.
    pub slot_bytes: u32,
    /// Request bytes the server consumed from the SYN (from its TCP ack).
    pub consumed: u32,
    /// Server clock minus ours, in ms (wrapping).
    pub clock_offset_ms: u32,
}

impl Probe {
    /// Learn from `frame`, received when our clock read `local_ms`, if it
    /// is the slot-1 FIRST_RESPONSE to the probe (sent with ISN `isn`);
    /// `Ok(None)` for any other frame.
    pub fn from_frame(frame: &[u8], isn: u32, local_ms: u32) -> Result<Option<Probe>, String> {
        let Ok(f) = frame::parse(frame) else {
            return Ok(None);
        };
        if f.tcp.dst_port != PROBE_PORT {
            return Ok(None);
        }
        let r = match f.trickles.body {
            Body::FirstResponse(r) if r.slot == PacketNumber(1) => r,
            Body::VersionReject(_) => {
                return Err("the server rejected the probe SYN's protocol version".into());
            }
            _ => return Ok(None),
        };
        let output = r
            .user_conts
            .iter()
            .find(|u| u.kind() == Kind::Output)
            .ok_or(
                "the probe's answer carries no output continuation (the request must fit in \
                 the SYN: valid mode does not send more input)",
            )?;
        let IpAddr::V4(client) = f.dst else {
            return Err("the probe's answer is not IPv4".into());
        };
        let Some(whole) = r.continuation.full() else {
            return Err("the probe's first response has no whole continuation".into());
        };
        let timestamp = Continuation::decode(whole).timestamp;
        Ok(Some(Probe {
            continuation: *whole,
            output: output.as_bytes().to_vec(),
            binding: Binding::new(IpAddr::V4(client), PROBE_PORT, f.tcp.src_port),
            slot_bytes: f.trickles.data.len() as u32,
            consumed: f.tcp.ack.wrapping_sub(isn.wrapping_add(1)),
            clock_offset_ms: timestamp.wrapping_sub(local_ms),
        }))
    }

    /// The server's clock (ms, §5) when ours reads `local_ms`.
    pub fn server_ms(&self, local_ms: u32) -> u32 {
        local_ms.wrapping_add(self.clock_offset_ms)
    }
}

/// One simulated client's request frame, minus the timestamp and MAC.
#[derive(Debug, Clone)]
struct Client {
    binding: Binding,
    pseudo: Checksum,
    frame: Vec<u8>,
    /// Server ms of its last request (two in one ms would be replays).
    last_ms: Option<u32>,
}

/// The per-client REQUEST templates and the server key that seals them.
#[derive(Debug)]
pub struct Minter {
    keys: ServerKeys,
    clients: Vec<Client>,
    frame_len: usize,
    next: usize,
}

fn open_error(what: &str, e: OpenError, file: u8, theirs: u8) -> String {
    match e {
        OpenError::UnknownEpoch => {
            format!("the server seals under key epoch {theirs}, the key file holds epoch {file}")
        }
        OpenError::BadMac => format!(
            "the key file's {what} is not the server's (the probe's answer does not verify \
             under it)"
        ),
    }
}

impl Minter {
    /// Check `probe` against `keys` (both MACs must verify: the key file
    /// is the server's) and build the request of each of `clients`
    /// clients, connection ids derived from `seed`.
    pub fn new(
        keys: &KeyFile,
        probe: &Probe,
        ends: &Endpoints,
        clients: u32,
        seed: u64,
    ) -> Result<Minter, String> {
        if clients == 0 || clients > MAX_CLIENTS {
            return Err(format!(
                "--clients must be 1 to {MAX_CLIENTS} in valid mode"
            ));
        }
        let server = keys.server_keys();
        let app = keys.app_key();
        let file_epoch = keys.epoch.0;
        let probe_cont = open_continuation(
            &KeyRing::new(server.clone()),
            &probe.binding,
            &probe.continuation,
        )
        .map_err(|e| {
            open_error(
                "server_key",
                e,
                file_epoch,
                probe.continuation[field::EPOCH],
            )
        })?;
        let probe_out = UserCont::parse(&probe.output)
            .map_err(|_| "the probe's output continuation does not parse")?;
        open_user(
            &KeyRing::new(app.clone()),
            &probe.binding,
            probe_cont.conn_id,
            &probe_out,
        )
        .map_err(|e| open_error("app_key", e, file_epoch, probe_out.epoch().0))?;
        if probe_cont.mode != mode::NORMAL {
            return Err(format!(
                "the probe's continuation has mode {}, not NORMAL",
                probe_cont.mode
            ));
        }
        let floor = probe_cont.sack_floor.0.max(1);
        let k = probe_cont.k.0;
        if k < floor {
            return Err(format!(
                "the probe's continuation has k {k} below its SACK floor {floor}"
            ));
        }
        let mut out = Vec::with_capacity(clients as usize);
        let mut buf = [0u8; 2048];
        for c in 0..clients {
            let (src, port) = client_endpoint(ends.src, c);
            let binding = ends.binding(src, port);
            let conn = ConnId(mix(seed ^ mix(u64::from(c))));
            // The probe's continuation, now this client's (§5).
            let mut cont = probe.continuation;
            cont[field::CONN_ID].copy_from_slice(&conn.0.to_be_bytes());
            cont[field::INCARNATION].copy_from_slice(&0u32.to_be_bytes());
            seal_continuation(&server, &binding, &mut cont);
            // What the client received: packets floor..=k (§6).
            let domain = NonceDomain {
                conn,
                incarnation: 0,
            };
            let received = [SackBlock {
                start: PacketNumber(floor),
                end: PacketNumber(k),
                proof: range_proof(&server, domain, PacketNumber(floor), PacketNumber(k), false),
            }];
            // The output continuation, re-sealed for this client (§8.2).
            let mut output = probe.output.clone();
            seal_user(&app, &binding, conn, &mut output)
                .map_err(|_| "the probe's output continuation is malformed")?;
            let uconts = [UserCont::parse(&output)
                .map_err(|_| "the probe's output continuation is malformed")?];
            let p = Packet {
                flags: Flags(0),
                body: Body::Request(Request {
                    continuation: &cont,
                    previous: None,
                    sack: SackProof {
                        original: List::Items(&received),
                        retransmitted: List::empty(),
                    },
                    user_conts: List::Items(&uconts),
                }),
                data: &[],
                padding: 0,
            };
            // TCP numbers as a real client's (§2): not checked by anyone.
            let isn = u32::from(port) << 8;
            let seq = isn.wrapping_add(1).wrapping_add(probe.consumed);
            let ack = (conn.0 as u32)
                .wrapping_add(1)
                .wrapping_add(probe.slot_bytes);
            let n = frame::emit(&ends.headers(src, port, seq, ack, flags::ACK), &p, &mut buf)
                .map_err(|e| format!("cannot build a request: {e:?}"))?;
            let frame = buf[..n].to_vec();
            // The continuation is where `mint` rewrites it.
            match frame::parse(&frame).map(|f| f.trickles.body) {
                Ok(Body::Request(r))
                    if frame.get(CONT_AT..CONT_AT + CONTINUATION_LEN)
                        == Some(&r.continuation[..]) => {}
                _ => return Err("a minted request does not parse back".into()),
            }
            out.push(Client {
                binding,
                pseudo: pseudo_header_v4(src, *ends.dst.ip(), IPPROTO_TCP, (n - TCP_AT) as u16),
                frame,
                last_ms: None,
            });
        }
        let frame_len = out.first().map_or(0, |c| c.frame.len());
        if out.iter().any(|c| c.frame.len() != frame_len) {
            return Err("minted requests differ in length".into());
        }
        Ok(Minter {
            keys: server,
            clients: out,
            frame_len,
            next: 0,
        })
    }

    /// Number of simulated clients.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Length of every minted frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Write client `c`'s request, stamped `server_ms` (the server's clock
    /// now, [`Probe::server_ms`]), into `out`; its length. `None` if `c`
    /// already sent at `server_ms` or later (the server would drop the
    /// second as a replay), or if `c` or `out` is out of range.
    pub fn mint(&mut self, c: usize, server_ms: u32, out: &mut [u8]) -> Option<usize> {
        let client = self.clients.get_mut(c)?;
        if client
            .last_ms
            .is_some_and(|last| server_ms.wrapping_sub(last) as i32 <= 0)
        {
            return None;
        }
        let len = client.frame.len();
        let out = out.get_mut(..len)?;
        out.copy_from_slice(&client.frame);
        let cont: &mut ContinuationBytes = out
            .get_mut(CONT_AT..CONT_AT + CONTINUATION_LEN)?
            .try_into()
            .ok()?;
        cont[field::TIMESTAMP].copy_from_slice(&server_ms.to_be_bytes());
        seal_continuation(&self.keys, &client.binding, cont);
        trickles_wire::tcp::Packet::new_unchecked(&mut out[TCP_AT..]).fill_checksum(client.pseudo);
        client.last_ms = Some(server_ms);
        Some(len)
    }

    /// The next client's request in turn (round robin), stamped
    /// `server_ms`; `None` once every client has sent in this millisecond
    /// (`server_ms` must not go backwards).
    pub fn mint_next(&mut self, server_ms: u32, out: &mut [u8]) -> Option<usize> {
        let c = self.next;
        let n = self.mint(c, server_ms, out)?;
        self.next = (c + 1) % self.clients.len().max(1);
        Some(n)
    }
}

/// True if `frame` is a Trickles RESPONSE (an answer to a request).
pub fn is_response(frame: &[u8]) -> bool {
    frame::parse(frame).is_ok_and(|f| matches!(f.trickles.body, Body::Response(_)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use trickles_core::Instant;
    use trickles_core::server::{DropReason, ServerConfig, StreamServer};
    use trickles_core::synthetic::{StreamApp, stream_request};

    const KEYS: &str = "epoch = 3\nserver_key = \"000102030405060708090a0b0c0d0e0f\"\napp_key = \"101112131415161718191a1b1c1d1e1f\"\n";
    const ISN: u32 = 0x1234_5678;
    /// The server's clock when it answers the probe, and ours then.
    const SERVER_MS: u64 = 7_000;
    const LOCAL_MS: u32 = 100;

    fn ends() -> Endpoints {
        Endpoints {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 9000),
        }
    }

    fn server(keys: &str) -> StreamServer<StreamApp> {
        let k = KeyFile::parse(keys).unwrap();
        StreamServer::new(
            ServerConfig {
                port: 9000,
                ..ServerConfig::default()
            },
            KeyRing::new(k.server_keys()),
            KeyRing::new(k.app_key()),
            StreamApp,
        )
    }

    /// The server answers the probe SYN; what pktgen learns from it.
    fn probe(s: &mut StreamServer<StreamApp>) -> Probe {
        let syn = probe_syn(&ends(), ISN, &stream_request(1 << 20, 9)).unwrap();
        assert_eq!(syn.len(), 14 + PROBE_SYN_IP_LEN);
        let mut answers = Vec::new();
        s.handle(Instant::from_millis(SERVER_MS), &syn, &mut |f| {
            answers.push(f.to_vec())
        });
        assert!(
            answers.len() >= 2,
            "{} FIRST_RESPONSE frames",
            answers.len()
        );
        // Any order; only slot 1 teaches.
        let learnt: Vec<Probe> = answers
            .iter()
            .rev()
            .filter_map(|f| Probe::from_frame(f, ISN, LOCAL_MS).unwrap())
            .collect();
        assert_eq!(learnt.len(), 1);
        learnt.into_iter().next().unwrap()
    }

    /// Feed `frame` at server ms `at`; the RESPONSE frames it brought.
    fn feed(s: &mut StreamServer<StreamApp>, at: u32, frame: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        s.handle(
            Instant::from_millis(u64::from(at)).plus_micros(300),
            frame,
            &mut |f| out.push(f.to_vec()),
        );
        out.into_iter().filter(|f| is_response(f)).collect()
    }

    #[test]
    fn minted_requests_are_answered_for_every_client_and_timestamp() {
        let mut s = server(KEYS);
        let p = probe(&mut s);
        assert_eq!(p.server_ms(LOCAL_MS), SERVER_MS as u32);
        assert_eq!(p.consumed, 16);
        let keys = KeyFile::parse(KEYS).unwrap();
        let mut m = Minter::new(&keys, &p, &ends(), 40, 77).unwrap();
        let mut buf = [0u8; 2048];
        let mut requests = 0;
        // Every client, at several of its own timestamps.
        for step in 0..3u32 {
            let now = p.server_ms(LOCAL_MS + 1 + step);
            for c in 0..m.clients() {
                let n = m.mint(c, now, &mut buf).unwrap();
                assert_eq!(n, m.frame_len());
                let answers = feed(&mut s, now, &buf[..n]);
                requests += 1;
                assert_eq!(answers.len(), 2, "client {c} at {now}: slots 3 and 4");
                for a in &answers {
                    let f = frame::parse(a).unwrap();
                    assert_eq!(f.tcp.dst_port, FIRST_PORT + c as u16);
                    assert_eq!(f.dst, IpAddr::V4(ends().src));
                }
                // Once per client per millisecond.
                assert_eq!(m.mint(c, now, &mut buf), None);
            }
        }
        let st = s.stats();
        assert_eq!(st.total_drops(), 0, "{st:?}");
        assert_eq!(st.requests, requests);
        assert_eq!(st.slots_sent, 2 + 2 * requests);
    }

    #[test]
    fn mint_next_goes_round_the_clients_once_per_millisecond() {
        let mut s = server(KEYS);
        let p = probe(&mut s);
        let mut m = Minter::new(&KeyFile::parse(KEYS).unwrap(), &p, &ends(), 3, 1).unwrap();
        let mut buf = [0u8; 2048];
        for ms in [SERVER_MS as u32 + 1, SERVER_MS as u32 + 2] {
            let mut ports = Vec::new();
            while let Some(n) = m.mint_next(ms, &mut buf) {
                ports.push(frame::parse(&buf[..n]).unwrap().tcp.src_port);
                assert_eq!(feed(&mut s, ms, &buf[..n]).len(), 2);
            }
            assert_eq!(ports, [20_000, 20_001, 20_002]);
        }
        assert_eq!(s.stats().total_drops(), 0);
    }

    #[test]
    fn a_flipped_bit_or_a_replay_is_dropped() {
        let mut s = server(KEYS);
        let p = probe(&mut s);
        let mut m = Minter::new(&KeyFile::parse(KEYS).unwrap(), &p, &ends(), 1, 5).unwrap();
        let mut buf = [0u8; 2048];
        let n = m.frame_len();
        let sack_at = CONT_AT + CONTINUATION_LEN;
        // (byte, reason): the continuation's k, its MAC, the SACK proof,
        // the output continuation's MAC (the last byte of the frame). Each
        // from a new millisecond: the replay table records a continuation
        // whose MAC verifies before the proof and the user continuation
        // are checked, so a frame failing those spends it.
        let cases = [
            (CONT_AT + 17, DropReason::BadMac),
            (CONT_AT + 70, DropReason::BadMac),
            (sack_at + 4 + 8, DropReason::BadSackProof),
            (n - 1, DropReason::NoOutputContinuation),
        ];
        let mut now = SERVER_MS as u32;
        for (at, reason) in cases {
            now += 1;
            assert_eq!(m.mint(0, now, &mut buf), Some(n));
            let mut bad = buf[..n].to_vec();
            bad[at] ^= 0x04;
            trickles_wire::tcp::Packet::new_unchecked(&mut bad[TCP_AT..]).fill_checksum(
                pseudo_header_v4(
                    ends().src,
                    *ends().dst.ip(),
                    IPPROTO_TCP,
                    (n - TCP_AT) as u16,
                ),
            );
            let before = s.stats().drops(reason);
            assert!(feed(&mut s, now, &bad).is_empty(), "byte {at}");
            assert_eq!(s.stats().drops(reason), before + 1, "byte {at}");
        }
        // The genuine frame of the last millisecond was spent by its
        // corrupted copy.
        assert!(feed(&mut s, now, &buf[..n]).is_empty());
        assert_eq!(s.stats().drops(DropReason::Replayed), 1);
        // A flipped bit without a checksum fix: malformed.
        now += 1;
        m.mint(0, now, &mut buf).unwrap();
        let mut bad = buf[..n].to_vec();
        bad[CONT_AT + 30] ^= 1;
        assert!(feed(&mut s, now, &bad).is_empty());
        assert_eq!(s.stats().drops(DropReason::Malformed), 1);
        // The genuine one once, then never again.
        assert_eq!(feed(&mut s, now, &buf[..n]).len(), 2);
        assert!(feed(&mut s, now, &buf[..n]).is_empty());
        assert_eq!(s.stats().drops(DropReason::Replayed), 2);
        // Slots 1, 2 (the probe) and 3, 4 (the one answered request).
        assert_eq!(s.stats().slots_sent, 4);
    }

    #[test]
    fn the_key_file_must_be_the_servers() {
        let mut s = server(KEYS);
        let p = probe(&mut s);
        let other = |from: &str, to: &str| KeyFile::parse(&KEYS.replace(from, to)).unwrap();
        let e = Minter::new(&other("0e0f\"", "0e0e\""), &p, &ends(), 1, 1).unwrap_err();
        assert!(e.contains("server_key"), "{e}");
        let e = Minter::new(&other("1e1f\"", "1e1e\""), &p, &ends(), 1, 1).unwrap_err();
        assert!(e.contains("app_key"), "{e}");
        let e = Minter::new(&other("epoch = 3", "epoch = 4"), &p, &ends(), 1, 1).unwrap_err();
        assert!(e.contains("epoch 3") && e.contains("epoch 4"), "{e}");
        let keys = KeyFile::parse(KEYS).unwrap();
        assert!(Minter::new(&keys, &p, &ends(), MAX_CLIENTS + 1, 1).is_err());
        let src = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(client_endpoint(src, 0), (src, FIRST_PORT));
        assert_eq!(
            client_endpoint(src, CLIENTS_PER_ADDRESS - 1),
            (src, FIRST_PORT + (CLIENTS_PER_ADDRESS - 1) as u16)
        );
        assert_eq!(
            client_endpoint(src, CLIENTS_PER_ADDRESS + 3),
            (Ipv4Addr::new(10, 0, 0, 2), FIRST_PORT + 3)
        );
    }
}
