//! User continuations (docs/protocol.md §7; paper §4.1–§4.3).
//!
//! Standardised continuation formats that the client understands well
//! enough to pick the right one for a request: an *output* continuation
//! generates response bytes in `[valid_start, valid_end)`; an *input*
//! continuation records how much client input the application has consumed
//! (`valid_start`) and a digest of it in its opaque data. The application
//! data is opaque to everyone but the application, and the whole is sealed
//! under the application's key with the same helper as transport
//! continuations.

use super::continuation::MAC_LEN;
use super::list::WireItem;
use crate::types::KeyEpoch;

/// Length of the fixed part before the application data.
pub const FIXED_LEN: usize = 20;
/// Largest application data one user continuation may carry.
pub const MAX_APP_LEN: usize = 512;
/// Most user continuations one packet may carry.
pub const MAX_PER_PACKET: usize = 4;
/// Length of the section header (count + 3 reserved bytes).
pub const SECTION_HEADER_LEN: usize = 4;

/// What a user continuation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Generates output bytes `[valid_start, valid_end)`.
    Output,
    /// Resumes consuming client input at `valid_start`.
    Input,
}

impl Kind {
    /// Wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Kind::Output => 1,
            Kind::Input => 2,
        }
    }

    /// From the wire value.
    pub const fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Output),
            2 => Some(Kind::Input),
            _ => None,
        }
    }
}

/// A checked view of one encoded user continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCont<'a> {
    raw: &'a [u8],
}

impl<'a> UserCont<'a> {
    /// Check `buf` starts with a well-formed user continuation and view it.
    pub fn parse(buf: &'a [u8]) -> crate::Result<UserCont<'a>> {
        let fixed = buf.get(..FIXED_LEN).ok_or(crate::Error::Truncated)?;
        if Kind::from_u8(fixed[1]).is_none() {
            return Err(crate::Error::BadType);
        }
        let app_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if app_len > MAX_APP_LEN {
            return Err(crate::Error::TooMany);
        }
        let total = FIXED_LEN + app_len + MAC_LEN;
        let raw = buf.get(..total).ok_or(crate::Error::Truncated)?;
        let u = UserCont { raw };
        if u.valid_end() < u.valid_start() {
            return Err(crate::Error::BadLength);
        }
        Ok(u)
    }

    /// Write a user continuation with a zero MAC into `buf`; seal it
    /// afterwards (the MAC goes in the last [`MAC_LEN`] bytes). Returns its
    /// length.
    pub fn build(
        buf: &mut [u8],
        epoch: KeyEpoch,
        kind: Kind,
        valid_start: u64,
        valid_end: u64,
        app_data: &[u8],
    ) -> crate::Result<usize> {
        if app_data.len() > MAX_APP_LEN || valid_end < valid_start {
            return Err(crate::Error::BadLength);
        }
        let total = FIXED_LEN + app_data.len() + MAC_LEN;
        let b = buf.get_mut(..total).ok_or(crate::Error::BufferTooSmall)?;
        b[0] = epoch.0;
        b[1] = kind.to_u8();
        b[2..4].copy_from_slice(&(app_data.len() as u16).to_be_bytes());
        b[4..12].copy_from_slice(&valid_start.to_be_bytes());
        b[12..20].copy_from_slice(&valid_end.to_be_bytes());
        b[FIXED_LEN..FIXED_LEN + app_data.len()].copy_from_slice(app_data);
        b[FIXED_LEN + app_data.len()..].fill(0);
        Ok(total)
    }

    /// Encoded length of a user continuation with `app_len` bytes of data.
    pub const fn len_for(app_len: usize) -> usize {
        FIXED_LEN + app_len + MAC_LEN
    }

    /// Key epoch of the MAC.
    pub fn epoch(&self) -> KeyEpoch {
        KeyEpoch(self.raw[0])
    }

    /// Output or input.
    pub fn kind(&self) -> Kind {
        // Checked in `parse`.
        Kind::from_u8(self.raw[1]).unwrap_or(Kind::Output)
    }

    /// First byte (output) or consumed input bytes (input).
    pub fn valid_start(&self) -> u64 {
        super::continuation::be64(&self.raw[4..12])
    }

    /// End of the valid range, exclusive.
    pub fn valid_end(&self) -> u64 {
        super::continuation::be64(&self.raw[12..20])
    }

    /// Opaque application data.
    pub fn app_data(&self) -> &'a [u8] {
        &self.raw[FIXED_LEN..self.raw.len() - MAC_LEN]
    }

    /// The bytes covered by the MAC.
    pub fn sealed_bytes(&self) -> &'a [u8] {
        &self.raw[..self.raw.len() - MAC_LEN]
    }

    /// The MAC tag.
    pub fn mac(&self) -> &'a [u8] {
        &self.raw[self.raw.len() - MAC_LEN..]
    }

    /// The whole encoding.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

impl<'a> WireItem<'a> for UserCont<'a> {
    fn decode(buf: &'a [u8]) -> crate::Result<(Self, usize)> {
        let u = UserCont::parse(buf)?;
        Ok((u, u.raw.len()))
    }

    fn encoded_len(&self) -> usize {
        self.raw.len()
    }

    fn encode(&self, buf: &mut [u8]) {
        buf.copy_from_slice(self.raw);
    }
}
