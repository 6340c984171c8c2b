//! The UMEM: one memory area, cut into equal frames, that an AF_XDP socket
//! and the kernel share (Documentation/networking/af_xdp.rst, "UMEM"), and
//! the pool of frames user space currently owns.
//!
//! A frame is named by its byte offset in the area (its *address*, as in
//! the rings' descriptors). The kernel may hand back an address inside a
//! frame (after its headroom); [`Umem::frame_of`] rounds it down.

use std::io;
use std::ptr::NonNull;
use std::sync::Arc;

/// An anonymous or file mapping, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; who may touch which byte is decided
// by the ring protocol, not by the owner of the mapping.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Map `len` bytes of `fd` at `offset` shared (rings), or anonymous
    /// private memory when `fd` is `None` (the UMEM area).
    pub(crate) fn new(len: usize, fd: Option<i32>, offset: i64) -> io::Result<Mapping> {
        let (flags, fd) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
            ),
        };
        // SAFETY: a fresh mapping at an address of the kernel's choice; no
        // existing memory is affected. The result is checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and nothing
        // refers to the mapping any more (its owners hold it in an Arc).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Size and count of the UMEM's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UmemConfig {
    /// Bytes per frame: a power of two from 2048 to the page size (the
    /// kernel's aligned-chunk rule). 2048 holds a 1514-byte frame after the
    /// kernel's 256-byte headroom.
    pub frame_size: u32,
    /// Number of frames.
    pub frame_count: u32,
}

impl Default for UmemConfig {
    /// 8192 frames of 2048 bytes (16 MiB): half for receiving (the fill
    /// ring's 2048 plus as many waiting in the RX ring and the worker), half
    /// for sending.
    fn default() -> UmemConfig {
        UmemConfig {
            frame_size: 2048,
            frame_count: 8192,
        }
    }
}

/// The shared memory area.
#[derive(Debug, Clone)]
pub struct Umem {
    area: Arc<Mapping>,
    config: UmemConfig,
}

impl Umem {
    /// Map an area of `frame_size × frame_count` bytes.
    pub fn new(config: UmemConfig) -> io::Result<Umem> {
        if !(2048..=4096).contains(&config.frame_size)
            || !config.frame_size.is_power_of_two()
            || config.frame_count == 0
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "UMEM frames must be 2048 or 4096 bytes and at least one (got {} × {})",
                    config.frame_count, config.frame_size
                ),
            ));
        }
        let len = config.frame_size as usize * config.frame_count as usize;
        Ok(Umem {
            area: Arc::new(Mapping::new(len, None, 0)?),
            config,
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> UmemConfig {
        self.config
    }

    /// Start of the area (for `XDP_UMEM_REG`).
    pub(crate) fn base(&self) -> *mut u8 {
        self.area.as_ptr()
    }

    /// Length of the area in bytes.
    pub fn len(&self) -> usize {
        self.area.len()
    }

    /// Always false: an area has at least one frame.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The frame that contains address `addr`.
    pub fn frame_of(&self, addr: u64) -> u64 {
        addr & !u64::from(self.config.frame_size - 1)
    }

    fn check(&self, addr: u64, len: usize) -> Option<usize> {
        let start = usize::try_from(addr).ok()?;
        let frame_end = self.frame_of(addr) as usize + self.config.frame_size as usize;
        (start.checked_add(len)? <= frame_end && frame_end <= self.len()).then_some(start)
    }

    /// The `len` bytes at `addr`, if they lie within one frame.
    ///
    /// The caller must own the frame (it came from the RX ring or the
    /// pool and was not handed back), as the ring protocol requires; the
    /// kernel does not write frames user space owns.
    pub fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let start = self.check(addr, len)?;
        // SAFETY: `start + len` lies within the mapping (checked), which
        // lives as long as `self`; the frame is owned by the caller, so
        // nobody writes it during the borrow.
        Some(unsafe { std::slice::from_raw_parts(self.base().add(start), len) })
    }

    /// The `len` bytes at `addr` for writing, if they lie within one frame.
    pub fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let start = self.check(addr, len)?;
        // SAFETY: as for `bytes`; `&mut self` keeps this handle from
        // lending the same bytes twice.
        Some(unsafe { std::slice::from_raw_parts_mut(self.base().add(start), len) })
    }
}

/// Frames user space owns and may hand to the fill ring or fill for TX.
/// Fixed capacity: it never allocates after [`FramePool::new`].
#[derive(Debug)]
pub struct FramePool {
    free: Vec<u64>,
    capacity: usize,
}

impl FramePool {
    /// A pool owning every frame of `umem`.
    pub fn new(umem: &Umem) -> FramePool {
        FramePool::with_frames(umem, 0..umem.config().frame_count)
    }

    /// A pool owning frames `frames` (indices) of `umem`; out-of-range
    /// indices are ignored.
    pub fn with_frames(umem: &Umem, frames: std::ops::Range<u32>) -> FramePool {
        let c = umem.config();
        let free: Vec<u64> = frames
            .filter(|&i| i < c.frame_count)
            .rev()
            .map(|i| u64::from(i) * u64::from(c.frame_size))
            .collect();
        FramePool {
            capacity: free.len(),
            free,
        }
    }

    /// Take a free frame.
    pub fn alloc(&mut self) -> Option<u64> {
        self.free.pop()
    }

    /// Give a frame back. Returns false (and drops it) if the pool is
    /// full, which means a frame was returned twice.
    pub fn release(&mut self, frame: u64) -> bool {
        if self.free.len() == self.capacity {
            return false;
        }
        self.free.push(frame);
        true
    }

    /// Frames in the pool.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// True if no frame is free.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// Frames the pool holds when all are free.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_are_bounded_by_their_frame() {
        let mut u = Umem::new(UmemConfig {
            frame_size: 2048,
            frame_count: 4,
        })
        .unwrap();
        assert_eq!(u.len(), 8192);
        assert_eq!(u.frame_of(2048 + 300), 2048);
        assert!(u.bytes(2048 + 256, 1792).is_some());
        assert!(u.bytes(2048 + 256, 1793).is_none());
        assert!(u.bytes(6144, 2048).is_some());
        assert!(u.bytes(8192, 1).is_none());
        u.bytes_mut(4096, 4).unwrap().copy_from_slice(b"abcd");
        assert_eq!(u.bytes(4096, 4).unwrap(), b"abcd");
    }

    #[test]
    fn bad_configs_are_refused() {
        for (size, count) in [(1000, 4), (8192, 4), (2048, 0), (3072, 4)] {
            assert!(
                Umem::new(UmemConfig {
                    frame_size: size,
                    frame_count: count
                })
                .is_err()
            );
        }
    }

    #[test]
    fn the_pool_hands_out_each_frame_once() {
        let u = Umem::new(UmemConfig {
            frame_size: 4096,
            frame_count: 8,
        })
        .unwrap();
        let mut p = FramePool::new(&u);
        let mut got: Vec<u64> = std::iter::from_fn(|| p.alloc()).collect();
        assert_eq!(got.len(), 8);
        got.sort_unstable();
        assert_eq!(got, (0..8).map(|i| i * 4096).collect::<Vec<_>>());
        for f in &got {
            assert!(p.release(*f));
        }
        assert!(!p.release(0), "a ninth frame means a double release");
    }
}
