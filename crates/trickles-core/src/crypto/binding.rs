//! What a continuation's MAC binds it to besides its own bytes: the
//! client's address and port and the server port (DESIGN.md "Integrity":
//! "a continuation cannot be replayed from elsewhere").
//!
//! The server *address* is deliberately not bound: every replica, and every
//! address of an anycast or load-balanced service, must accept the same
//! continuation (paper §2.2: the key is "known only to the server and its
//! replicas"), and a server behind a translating balancer may not even see
//! the address the client used. The server port is bound so a continuation
//! of one service cannot be spent on another service of the same key.

use core::net::IpAddr;

/// Encoded length of a [`Binding`].
pub const BINDING_LEN: usize = 20;

/// The connection endpoints a MAC covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding {
    /// Client address as IPv6; an IPv4 address is stored IPv4-mapped
    /// (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), so a client bound over IPv4
    /// and the same client seen as an IPv4-mapped address on a dual-stack
    /// socket are the same binding.
    pub client: [u8; 16],
    /// Client port.
    pub client_port: u16,
    /// Server port.
    pub server_port: u16,
}

impl Binding {
    /// The binding of a client endpoint to a server port.
    pub fn new(client: IpAddr, client_port: u16, server_port: u16) -> Binding {
        let client = match client {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        Binding {
            client,
            client_port,
            server_port,
        }
    }

    /// `client (16) || client_port (2, BE) || server_port (2, BE)`.
    pub fn to_bytes(&self) -> [u8; BINDING_LEN] {
        let mut b = [0u8; BINDING_LEN];
        b[..16].copy_from_slice(&self.client);
        b[16..18].copy_from_slice(&self.client_port.to_be_bytes());
        b[18..20].copy_from_slice(&self.server_port.to_be_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ipv4_is_mapped() {
        let b = Binding::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 0x1234, 443);
        assert_eq!(
            b.to_bytes(),
            [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7, 0x12, 0x34, 0x01, 0xbb
            ]
        );
        let mapped: Ipv6Addr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(Binding::new(IpAddr::V6(mapped), 0x1234, 443), b);
    }

    #[test]
    fn ipv6_is_verbatim() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b = Binding::new(IpAddr::V6(a), 1, 2);
        assert_eq!(b.client, a.octets());
        assert_eq!(&b.to_bytes()[16..], &[0, 1, 0, 2]);
    }
}
