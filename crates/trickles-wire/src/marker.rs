//! The Trickles marking option: an RFC 6994 experimental TCP option.
//!
//! Every Trickles segment carries, as the *first* TCP option, the four bytes
//! `FD 04 54 52`: kind 253 (RFC 4727 experimental), length 4, and the 16-bit
//! experiment identifier [`EXID`] (RFC 6994 §3). Its position is fixed so
//! that the XDP program can test it with one 32-bit load at TCP offset 20
//! (docs/protocol.md §1). The constants here mirror `bpf/trickles_shared.h`;
//! a test checks that the two agree.

/// TCP option kind for shared experimental options (RFC 6994).
pub const OPTION_KIND: u8 = 253;
/// Length of the marking option.
pub const OPTION_LEN: u8 = 4;
/// Our RFC 6994 experiment identifier (ASCII "TR").
pub const EXID: u16 = 0x5452;
/// The marking option as it appears on the wire.
pub const MARKER: [u8; 4] = [OPTION_KIND, OPTION_LEN, (EXID >> 8) as u8, EXID as u8];
/// The option bytes a Trickles segment carries: the marker only (one 32-bit
/// word, so the TCP data offset is 6).
pub const TCP_OPTIONS: &[u8] = &MARKER;
/// Offset of the marker from the start of the TCP header.
pub const MARKER_OFFSET: usize = 20;

/// True if `options` (the TCP option bytes) start with the marker.
pub fn is_marked(options: &[u8]) -> bool {
    options.get(..4) == Some(&MARKER[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_bytes() {
        assert_eq!(MARKER, [0xfd, 0x04, 0x54, 0x52]);
        assert!(is_marked(&[0xfd, 0x04, 0x54, 0x52, 1, 1, 1, 1]));
        assert!(!is_marked(&[1, 0xfd, 0x04, 0x54, 0x52]));
        assert!(!is_marked(&[0xfd, 0x04, 0x54]));
    }
}

#[cfg(test)]
mod shared_header {
    /// `bpf/trickles_shared.h` is the one source of truth for what the XDP
    /// program and user space share; this test keeps the Rust mirror equal.
    #[test]
    fn shared_header_matches() {
        let header = include_str!("../../../bpf/trickles_shared.h");
        let define = |name: &str| -> u32 {
            let line = header
                .lines()
                .find(|l| l.split_whitespace().nth(1) == Some(name))
                .unwrap_or_else(|| panic!("{name} missing from trickles_shared.h"));
            let value = line.split_whitespace().nth(2).unwrap();
            match value.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                None => value.parse().unwrap(),
            }
        };
        assert_eq!(define("TRICKLES_OPT_KIND"), u32::from(super::OPTION_KIND));
        assert_eq!(define("TRICKLES_OPT_LEN"), u32::from(super::OPTION_LEN));
        assert_eq!(define("TRICKLES_EXID"), u32::from(super::EXID));
        assert_eq!(
            define("TRICKLES_MARKER_OFFSET") as usize,
            super::MARKER_OFFSET
        );
        assert_eq!(
            define("TRICKLES_MAX_VLAN_TAGS") as usize,
            crate::ethernet::MAX_VLAN_TAGS
        );
    }
}
