//! Counted lists of variable- or fixed-size items inside the Trickles
//! header (SACK blocks, user continuations, continuation groups).
//!
//! A [`List`] is either the encoded bytes of a parsed packet or a slice of
//! items the caller wants to emit; both iterate the same way, so a parsed
//! packet can be emitted again and compared with its source without
//! allocating.

use core::fmt;

/// An item that can live in a [`List`].
pub trait WireItem<'a>: Copy {
    /// Decode one item from the start of `buf`, returning it and its length.
    fn decode(buf: &'a [u8]) -> crate::Result<(Self, usize)>;
    /// Encoded length of this item.
    fn encoded_len(&self) -> usize;
    /// Encode into `buf`, which is exactly [`WireItem::encoded_len`] long.
    fn encode(&self, buf: &mut [u8]);
}

/// A counted list of items, encoded or not.
#[derive(Clone, Copy)]
pub enum List<'a, T> {
    /// Validated encoded bytes holding `count` items back to back.
    Encoded {
        /// The bytes of all items.
        bytes: &'a [u8],
        /// Number of items.
        count: usize,
    },
    /// Items to emit.
    Items(&'a [T]),
}

impl<'a, T: WireItem<'a>> List<'a, T> {
    /// The empty list.
    pub const fn empty() -> List<'a, T> {
        List::Items(&[])
    }

    /// Validate `count` items at the start of `buf`; returns the list and
    /// the number of bytes it spans.
    pub fn parse(buf: &'a [u8], count: usize) -> crate::Result<(List<'a, T>, usize)> {
        let mut at = 0;
        for _ in 0..count {
            let rest = buf.get(at..).ok_or(crate::Error::Truncated)?;
            let (_, len) = T::decode(rest)?;
            at += len;
        }
        Ok((
            List::Encoded {
                bytes: &buf[..at],
                count,
            },
            at,
        ))
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            List::Encoded { count, .. } => *count,
            List::Items(items) => items.len(),
        }
    }

    /// True if the list has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total encoded length.
    pub fn encoded_len(&self) -> usize {
        match self {
            List::Encoded { bytes, .. } => bytes.len(),
            List::Items(items) => items.iter().map(WireItem::encoded_len).sum(),
        }
    }

    /// Iterate over the items.
    pub fn iter(&self) -> Iter<'a, T> {
        match *self {
            List::Encoded { bytes, count } => Iter::Encoded { bytes, left: count },
            List::Items(items) => Iter::Items(items.iter()),
        }
    }

    /// Encode all items into `buf`; returns bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> crate::Result<usize> {
        let mut at = 0;
        for item in self.iter() {
            let len = item.encoded_len();
            let dst = buf
                .get_mut(at..at + len)
                .ok_or(crate::Error::BufferTooSmall)?;
            item.encode(dst);
            at += len;
        }
        Ok(at)
    }
}

/// Iterator over a [`List`].
#[derive(Debug)]
pub enum Iter<'a, T> {
    /// Over encoded bytes.
    Encoded {
        /// Bytes not yet decoded.
        bytes: &'a [u8],
        /// Items not yet yielded.
        left: usize,
    },
    /// Over a slice.
    Items(core::slice::Iter<'a, T>),
}

impl<'a, T: WireItem<'a>> Iterator for Iter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Iter::Encoded { bytes, left } => {
                if *left == 0 {
                    return None;
                }
                // The bytes were validated by `List::parse`, so decoding
                // cannot fail here; a failure ends the iteration.
                let (item, len) = T::decode(bytes).ok()?;
                *bytes = bytes.get(len..)?;
                *left -= 1;
                Some(item)
            }
            Iter::Items(it) => it.next().copied(),
        }
    }
}

impl<'a, T: WireItem<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: WireItem<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
