//! Ethernet II frames (IEEE 802.3 clause 3) with up to two VLAN tags
//! (IEEE 802.1Q C-tag 0x8100, 802.1ad S-tag 0x88a8).
//!
//! [`Frame`] is a checked view; [`Frame::network`] skips any VLAN tags and
//! returns the EtherType and offset of the network header, which is what the
//! classifier (and the XDP program, `bpf/trickles_xdp.c`) needs.

/// Length of the untagged Ethernet header.
pub const HEADER_LEN: usize = 14;
/// Length of one VLAN tag.
pub const VLAN_TAG_LEN: usize = 4;
/// At most this many VLAN tags are skipped (QinQ).
pub const MAX_VLAN_TAGS: usize = 2;

/// EtherType values this stack cares about.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag.
    pub const QINQ: u16 = 0x88a8;
}

mod field {
    use core::ops::Range;
    pub(super) const DST: Range<usize> = 0..6;
    pub(super) const SRC: Range<usize> = 6..12;
    pub(super) const ETHERTYPE: Range<usize> = 12..14;
}

/// A MAC address.
pub type MacAddr = [u8; 6];

/// A checked view of an Ethernet frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

/// Where the network-layer header starts after the VLAN tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkHeader {
    /// The EtherType after all VLAN tags.
    pub ethertype: u16,
    /// Offset of the network header from the start of the frame.
    pub offset: usize,
    /// Number of VLAN tags skipped.
    pub vlan_tags: usize,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wrap `buffer` without checks; call [`Frame::check_len`] before use.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wrap `buffer` after checking it holds at least the untagged header.
    pub fn new_checked(buffer: T) -> crate::Result<Frame<T>> {
        let f = Frame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Ensure the buffer holds the untagged header.
    pub fn check_len(&self) -> crate::Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(crate::Error::Truncated);
        }
        Ok(())
    }

    /// Destination MAC address.
    pub fn dst_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }

    /// Source MAC address.
    pub fn src_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }

    /// The outer EtherType (a VLAN TPID if the frame is tagged).
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Skip up to [`MAX_VLAN_TAGS`] tags and locate the network header.
    /// A frame with more tags, or truncated inside a tag, is an error.
    pub fn network(&self) -> crate::Result<NetworkHeader> {
        let buf = self.buffer.as_ref();
        let mut ethertype = self.ethertype();
        let mut offset = HEADER_LEN;
        let mut vlan_tags = 0;
        while ethertype == ethertype::VLAN || ethertype == ethertype::QINQ {
            if vlan_tags == MAX_VLAN_TAGS {
                return Err(crate::Error::Unsupported);
            }
            let tag = buf
                .get(offset..offset + VLAN_TAG_LEN)
                .ok_or(crate::Error::Truncated)?;
            ethertype = u16::from_be_bytes([tag[2], tag[3]]);
            offset += VLAN_TAG_LEN;
            vlan_tags += 1;
        }
        Ok(NetworkHeader {
            ethertype,
            offset,
            vlan_tags,
        })
    }

    /// Consume the view and return the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Set the destination MAC address.
    pub fn set_dst_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }

    /// Set the source MAC address.
    pub fn set_src_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }

    /// Set the outer EtherType.
    pub fn set_ethertype(&mut self, t: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
    }
}

/// An untagged Ethernet header, for emitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// EtherType.
    pub ethertype: u16,
}

impl Repr {
    /// Parse the outer header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Repr {
        Repr {
            dst: frame.dst_addr(),
            src: frame.src_addr(),
            ethertype: frame.ethertype(),
        }
    }

    /// Bytes [`Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> crate::Result<()> {
        let buf = buf
            .get_mut(..HEADER_LEN)
            .ok_or(crate::Error::BufferTooSmall)?;
        let mut f = Frame::new_unchecked(buf);
        f.set_dst_addr(self.dst);
        f.set_src_addr(self.src);
        f.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_two_tags_and_refuses_three() {
        let mut f = [0u8; 30];
        f[12..14].copy_from_slice(&ethertype::QINQ.to_be_bytes());
        f[16..18].copy_from_slice(&ethertype::VLAN.to_be_bytes());
        f[20..22].copy_from_slice(&ethertype::IPV6.to_be_bytes());
        let n = Frame::new_checked(&f[..]).unwrap().network().unwrap();
        assert_eq!(
            n,
            NetworkHeader {
                ethertype: ethertype::IPV6,
                offset: 22,
                vlan_tags: 2
            }
        );
        f[20..22].copy_from_slice(&ethertype::VLAN.to_be_bytes());
        assert_eq!(
            Frame::new_checked(&f[..]).unwrap().network(),
            Err(crate::Error::Unsupported)
        );
        assert_eq!(
            Frame::new_checked(&f[..15]).unwrap().network(),
            Err(crate::Error::Truncated)
        );
    }
}
