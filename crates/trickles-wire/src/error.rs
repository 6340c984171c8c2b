//! Parse and emit errors.
//!
//! Errors are small `Copy` values so that the datapath can count drops by
//! reason without formatting or allocating (DESIGN.md: "a counted and logged
//! drop for every malformed ... packet").

use core::fmt;

/// Why a buffer could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the structure it should hold.
    Truncated,
    /// A length field disagrees with the buffer or with another field.
    BadLength,
    /// A version field holds a version this implementation does not speak.
    BadVersion,
    /// A type or kind field holds an unknown value.
    BadType,
    /// Reserved bits or bytes are not zero, or an unknown flag is set.
    Reserved,
    /// A count exceeds the protocol's limit.
    TooMany,
    /// The frame is well formed but not of a kind this crate handles
    /// (non-IP EtherType, IP fragment, IPv6 extension header, not TCP).
    Unsupported,
    /// The TCP segment does not carry the Trickles marking option.
    NotTrickles,
    /// The TCP flags do not fit the Trickles packet type.
    BadTcpFlags,
    /// An output buffer is too small for what was to be emitted.
    BufferTooSmall,
    /// An IPv4 header or TCP checksum is wrong.
    BadChecksum,
}

impl Error {
    /// A short, stable name, used as a metric label and in logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::BadLength => "bad_length",
            Error::BadVersion => "bad_version",
            Error::BadType => "bad_type",
            Error::Reserved => "reserved_nonzero",
            Error::TooMany => "too_many",
            Error::Unsupported => "unsupported",
            Error::NotTrickles => "not_trickles",
            Error::BadTcpFlags => "bad_tcp_flags",
            Error::BufferTooSmall => "buffer_too_small",
            Error::BadChecksum => "bad_checksum",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for Error {}
