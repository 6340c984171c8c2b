//! Liveness probes of replicas through their Trickles datapath.
//!
//! A probe is a Trickles SYN (docs/protocol.md §4.2) that lists only a
//! version no server speaks, sent over a raw IPv4 socket to the replica's
//! own address on the service port. The replica's XDP program steers it
//! to a worker, whose engine answers VERSION_REJECT (§4.8, smaller than
//! the SYN, no cryptography, no application): an answer shows that the
//! program is attached, the worker polls and the engine runs. A replica
//! whose daemon died answers nothing (its kernel may answer with a RST,
//! which is not a Trickles packet and does not count).

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::trickles::{Body, Flags, Packet, PacketType, Syn, Versions};
use trickles_wire::{ethernet, tcp};

/// The version bit a probe lists: one no server speaks, so the answer is
/// always VERSION_REJECT.
const PROBE_VERSIONS: Versions = Versions(1 << 15);

/// A raw socket that sends probes and sees their answers.
#[derive(Debug)]
pub struct Prober {
    socket: Socket,
    seq: u32,
}

/// One probe in flight: whose answer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeId {
    /// The replica probed.
    pub replica: Ipv4Addr,
    /// Its service port.
    pub port: u16,
    /// Our source port.
    pub local_port: u16,
}

impl Prober {
    /// A raw TCP socket (needs CAP_NET_RAW).
    pub fn new() -> Result<Prober, String> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))
            .map_err(|e| format!("raw socket for health probes (needs root): {e}"))?;
        socket
            .set_header_included_v4(true)
            .map_err(|e| format!("IP_HDRINCL: {e}"))?;
        Ok(Prober { socket, seq: 1 })
    }

    /// Send one probe from `src` (this router's address towards the
    /// replica).
    pub fn send(&mut self, id: ProbeId, src: Ipv4Addr) -> Result<(), String> {
        self.seq = self.seq.wrapping_add(1);
        let headers = Headers {
            src_mac: [0; 6],
            dst_mac: [0; 6],
            src: IpAddr::V4(src),
            dst: IpAddr::V4(id.replica),
            tcp: TcpFields {
                src_port: id.local_port,
                dst_port: id.port,
                seq: self.seq,
                ack: 0,
                flags: tcp::flags::SYN,
                window: 65535,
            },
            ttl: 64,
        };
        let packet = Packet {
            flags: Flags(0),
            body: Body::Syn(Syn {
                versions: PROBE_VERSIONS,
                mss: 1460,
            }),
            data: &[],
            padding: 0,
        };
        let mut buf = [0u8; 128];
        let len = frame::emit(&headers, &packet, &mut buf).map_err(|e| format!("probe: {e:?}"))?;
        let to = SockAddr::from(SocketAddrV4::new(id.replica, 0));
        self.socket
            .send_to(&buf[ethernet::HEADER_LEN..len], &to)
            .map_err(|e| format!("probe to {}: {e}", id.replica))?;
        Ok(())
    }

    /// Wait until `deadline` for answers; `answered(i)` for each probe of
    /// `ids` answered.
    pub fn collect(&mut self, ids: &[ProbeId], deadline: Instant, mut answered: impl FnMut(usize)) {
        // An Ethernet header in front, so that the frame parser reads the
        // raw socket's IPv4 packets.
        let mut buf = [0u8; 2048];
        buf[12..14].copy_from_slice(&ethernet::ethertype::IPV4.to_be_bytes());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            if self
                .socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .is_err()
            {
                return;
            }
            let n = match (&self.socket).read(&mut buf[ethernet::HEADER_LEN..]) {
                Ok(n) => n,
                Err(_) => continue,
            };
            let Ok(f) = frame::parse(&buf[..ethernet::HEADER_LEN + n]) else {
                continue;
            };
            if f.trickles.body.packet_type() != PacketType::VersionReject {
                continue;
            }
            if let Some(i) = ids.iter().position(|id| {
                f.src == IpAddr::V4(id.replica)
                    && f.tcp.src_port == id.port
                    && f.tcp.dst_port == id.local_port
            }) {
                answered(i);
            }
        }
    }
}
