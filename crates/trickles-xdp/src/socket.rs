//! An AF_XDP socket bound to one receive queue of one interface, with its
//! own UMEM and four rings (Documentation/networking/af_xdp.rst): written
//! directly over the syscalls (`socket`, `setsockopt`, `getsockopt`,
//! `mmap`, `bind`, `sendto`, `poll`), as s2n-quic-xdp does, instead of
//! through libxdp.
//!
//! Facts of the machines we run on, which the code handles:
//! - veth has no zero-copy mode: binding with `XDP_ZEROCOPY` fails with
//!   `EOPNOTSUPP`, and binding with neither flag silently gives copy mode.
//!   [`XdpSocket::open`] tries zero-copy first (unless told not to),
//!   falls back to copy mode and reports the mode it got
//!   ([`BindMode`], read back with `XDP_OPTIONS`).
//! - In copy mode the TX ring always needs a wakeup (`sendto`), which
//!   returns `EAGAIN`/`EBUSY` under pressure: that is retried later, not
//!   an error.
//! - `XDP_MAX_TX_SKB_BUDGET` (Linux 6.17+) raises the copy-mode TX batch;
//!   it is set when the kernel knows it and skipped otherwise.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use crate::ring::{ConsumerRing, ProducerRing, RingParts};
use crate::umem::{FramePool, Mapping, Umem};

/// `XDP_MAX_TX_SKB_BUDGET` (Linux 6.17, `<linux/if_xdp.h>`; newer than the
/// headers of Debian 12).
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// A frame descriptor of the RX and TX rings (`struct xdp_desc`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Desc {
    /// Address of the frame's first byte in the UMEM.
    pub addr: u64,
    /// Frame length in bytes.
    pub len: u32,
    /// Option flags (`XDP_PKT_CONTD`, …); zero here.
    pub options: u32,
}

/// How the kernel moves frames between the NIC and the UMEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// The NIC's DMA writes the UMEM directly.
    ZeroCopy,
    /// The kernel copies each frame (veth, drivers without zero-copy).
    Copy,
}

impl BindMode {
    /// Stable name for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            BindMode::ZeroCopy => "zero-copy",
            BindMode::Copy => "copy",
        }
    }
}

/// Which bind modes to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeRequest {
    /// Zero-copy if the driver supports it, copy otherwise.
    #[default]
    Auto,
    /// Copy mode only.
    Copy,
    /// Zero-copy or fail.
    ZeroCopy,
}

/// Ring sizes (entries, powers of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSizes {
    /// RX ring.
    pub rx: u32,
    /// TX ring.
    pub tx: u32,
    /// Fill ring.
    pub fill: u32,
    /// Completion ring.
    pub completion: u32,
}

impl Default for RingSizes {
    fn default() -> RingSizes {
        RingSizes {
            rx: 2048,
            tx: 2048,
            fill: 2048,
            completion: 2048,
        }
    }
}

/// What to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketConfig {
    /// Interface index.
    pub ifindex: u32,
    /// Receive queue of the interface.
    pub queue: u32,
    /// Ring sizes.
    pub rings: RingSizes,
    /// Bind modes to try.
    pub mode: ModeRequest,
    /// `XDP_MAX_TX_SKB_BUDGET` to ask for in copy mode (0: leave the
    /// kernel's default).
    pub tx_budget: u32,
}

/// The kernel's per-socket counters (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Frames dropped for reasons other than an invalid descriptor.
    pub rx_dropped: u64,
    /// Invalid RX descriptors.
    pub rx_invalid_descs: u64,
    /// Invalid TX descriptors.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the TX ring was empty when the kernel looked.
    pub tx_ring_empty_descs: u64,
}

/// An AF_XDP socket with its UMEM and rings.
#[derive(Debug)]
pub struct XdpSocket {
    fd: OwnedFd,
    umem: Umem,
    rx: ConsumerRing<Desc>,
    tx: ProducerRing<Desc>,
    fill: ProducerRing<u64>,
    completion: ConsumerRing<u64>,
    mode: BindMode,
    tx_budget_set: bool,
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size we pass.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn getsockopt<T: Default>(fd: RawFd, name: libc::c_int) -> io::Result<(T, usize)> {
    let mut value = T::default();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, a live
    // `T` of that size, and updates `len`.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    })?;
    Ok((value, len as usize))
}

/// Zero-initialised kernel structs for `getsockopt` (all plain integers,
/// so all-zero is a valid value).
macro_rules! zeroed_wrapper {
    ($name:ident, $ty:ty) => {
        #[repr(transparent)]
        struct $name($ty);
        impl Default for $name {
            fn default() -> Self {
                // SAFETY: the struct holds only integers; zero is valid.
                $name(unsafe { std::mem::zeroed() })
            }
        }
    };
}
zeroed_wrapper!(Wrapper, libc::xdp_mmap_offsets);
zeroed_wrapper!(XdpOptions, libc::xdp_options);
zeroed_wrapper!(Statistics, libc::xdp_statistics);

/// Map one ring and describe it.
fn map_ring<T>(
    fd: RawFd,
    off: &libc::xdp_ring_offset,
    size: u32,
    pgoff: i64,
) -> io::Result<RingParts<T>> {
    let len = off.desc as usize + size as usize * size_of::<T>();
    let map = Arc::new(Mapping::new(len, Some(fd), pgoff)?);
    let base = map.as_ptr();
    let at = |o: u64| -> io::Result<NonNull<u8>> {
        // SAFETY: the kernel's offsets lie within the ring's mapping,
        // whose length covers the entry array after `desc`.
        NonNull::new(unsafe { base.add(o as usize) }).ok_or_else(|| io::Error::other("null ring"))
    };
    Ok(RingParts {
        producer: at(off.producer)?.cast::<AtomicU32>(),
        consumer: at(off.consumer)?.cast::<AtomicU32>(),
        flags: at(off.flags)?.cast::<AtomicU32>(),
        entries: at(off.desc)?.cast::<T>(),
        size,
        keep_alive: map,
    })
}

impl XdpSocket {
    /// Open a socket on `config.queue` of `config.ifindex` with a UMEM of
    /// its own. Needs CAP_NET_RAW (root).
    pub fn open(config: &SocketConfig, umem: Umem) -> io::Result<XdpSocket> {
        let r = config.rings;
        for (name, n) in [
            ("rx", r.rx),
            ("tx", r.tx),
            ("fill", r.fill),
            ("completion", r.completion),
        ] {
            if n == 0 || !n.is_power_of_two() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} ring size {n} is not a power of two"),
                ));
            }
        }
        // SAFETY: plain socket creation; the result is checked.
        let raw =
            cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let c = umem.config();
        let reg = libc::xdp_umem_reg {
            addr: umem.base() as u64,
            len: umem.len() as u64,
            chunk_size: c.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(raw, libc::XDP_UMEM_REG, &reg)?;
        setsockopt(raw, libc::XDP_UMEM_FILL_RING, &r.fill)?;
        setsockopt(raw, libc::XDP_UMEM_COMPLETION_RING, &r.completion)?;
        setsockopt(raw, libc::XDP_RX_RING, &r.rx)?;
        setsockopt(raw, libc::XDP_TX_RING, &r.tx)?;
        let (Wrapper(off), len) = getsockopt::<Wrapper>(raw, libc::XDP_MMAP_OFFSETS)?;
        if len != size_of::<libc::xdp_mmap_offsets>() {
            return Err(io::Error::other(
                "kernel without ring flags (pre-5.4 XDP_MMAP_OFFSETS); need Linux 5.4+",
            ));
        }
        let rx = ConsumerRing::new(map_ring::<Desc>(
            raw,
            &off.rx,
            r.rx,
            libc::XDP_PGOFF_RX_RING,
        )?);
        let tx = ProducerRing::new(map_ring::<Desc>(
            raw,
            &off.tx,
            r.tx,
            libc::XDP_PGOFF_TX_RING,
        )?);
        let fill = ProducerRing::new(map_ring::<u64>(
            raw,
            &off.fr,
            r.fill,
            libc::XDP_UMEM_PGOFF_FILL_RING as i64,
        )?);
        let completion = ConsumerRing::new(map_ring::<u64>(
            raw,
            &off.cr,
            r.completion,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING as i64,
        )?);

        let bind = |flags: u16| -> io::Result<()> {
            let addr = libc::sockaddr_xdp {
                sxdp_family: libc::AF_XDP as u16,
                sxdp_flags: flags | libc::XDP_USE_NEED_WAKEUP,
                sxdp_ifindex: config.ifindex,
                sxdp_queue_id: config.queue,
                sxdp_shared_umem_fd: 0,
            };
            // SAFETY: `addr` is a valid sockaddr_xdp of the size we pass.
            cvt(unsafe {
                libc::bind(
                    raw,
                    (&addr as *const libc::sockaddr_xdp).cast(),
                    size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            })
            .map(drop)
        };
        match config.mode {
            ModeRequest::ZeroCopy => bind(libc::XDP_ZEROCOPY)?,
            ModeRequest::Copy => bind(libc::XDP_COPY)?,
            ModeRequest::Auto => match bind(libc::XDP_ZEROCOPY) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
                    ) =>
                {
                    bind(libc::XDP_COPY)?
                }
                Err(e) => return Err(e),
            },
        }
        let (opts, _) = getsockopt::<XdpOptions>(raw, libc::XDP_OPTIONS)?;
        let mode = if opts.0.flags & libc::XDP_OPTIONS_ZEROCOPY != 0 {
            BindMode::ZeroCopy
        } else {
            BindMode::Copy
        };
        let tx_budget_set = mode == BindMode::Copy
            && config.tx_budget > 0
            && setsockopt(raw, XDP_MAX_TX_SKB_BUDGET, &config.tx_budget).is_ok();
        Ok(XdpSocket {
            fd,
            umem,
            rx,
            tx,
            fill,
            completion,
            mode,
            tx_budget_set,
        })
    }

    /// The mode the kernel bound the socket in.
    pub fn mode(&self) -> BindMode {
        self.mode
    }

    /// True if `XDP_MAX_TX_SKB_BUDGET` was accepted.
    pub fn tx_budget_set(&self) -> bool {
        self.tx_budget_set
    }

    /// The shared memory.
    pub fn umem(&self) -> &Umem {
        &self.umem
    }

    /// The shared memory, for writing frames to send.
    pub fn umem_mut(&mut self) -> &mut Umem {
        &mut self.umem
    }

    /// Hand up to `max` free frames from `pool` to the kernel for
    /// receiving; returns how many.
    pub fn fill(&mut self, pool: &mut FramePool, max: u32) -> u32 {
        self.fill.produce(max, || pool.alloc())
    }

    /// Received frames: up to `max` descriptors, each handed to `each`.
    /// The frame then belongs to the caller until it is sent or released
    /// to a pool.
    pub fn receive(&mut self, max: u32, each: impl FnMut(Desc)) -> u32 {
        self.rx.consume(max, each)
    }

    /// Queue frames for transmission (the caller owns them and wrote
    /// them); returns how many fit. Call [`XdpSocket::kick_tx`] after.
    pub fn transmit(&mut self, max: u32, next: impl FnMut() -> Option<Desc>) -> u32 {
        self.tx.produce(max, next)
    }

    /// Free TX ring entries.
    pub fn tx_free(&mut self) -> u32 {
        self.tx.free(self.tx.size())
    }

    /// Wake the kernel to send what the TX ring holds, if it asked to be
    /// woken, until the ring is drained or the kernel says it is busy. In
    /// copy mode one wakeup sends at most one TX budget (32 frames unless
    /// `XDP_MAX_TX_SKB_BUDGET` raised it), synchronously, so a batch larger
    /// than that needs several. `EAGAIN`, `EBUSY`, `ENOBUFS` and
    /// `ENETDOWN` mean "busy, try again later" and are not errors.
    pub fn kick_tx(&mut self) -> io::Result<()> {
        // Bounded: a full ring needs at most size/32 wakeups.
        let mut tries = self.tx.size() / 32 + 2;
        while self.tx.needs_wakeup() && self.tx.outstanding() > 0 && tries > 0 {
            tries -= 1;
            // SAFETY: a zero-length send on our own socket; no buffer is
            // read.
            let r = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN) => Ok(()),
                    _ => Err(e),
                };
            }
        }
        Ok(())
    }

    /// Frames the kernel finished sending: each goes back to `pool`;
    /// returns how many.
    pub fn complete(&mut self, pool: &mut FramePool, max: u32) -> u32 {
        let umem = &self.umem;
        self.completion.consume(max, |addr| {
            pool.release(umem.frame_of(addr));
        })
    }

    /// Frames on the TX ring that the kernel has not taken yet.
    pub fn tx_outstanding(&self) -> u32 {
        self.tx.outstanding()
    }

    /// True if the fill ring asks for a wakeup (the kernel ran out of
    /// frames to receive into); [`XdpSocket::wait_rx`] provides it.
    pub fn fill_needs_wakeup(&self) -> bool {
        self.fill.needs_wakeup()
    }

    /// Wait up to `timeout_ms` for received frames (poll); true if the RX
    /// ring has some.
    pub fn wait_rx(&mut self, timeout_ms: i32) -> io::Result<bool> {
        if self.rx.available(1) > 0 {
            return Ok(true);
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        Ok(self.rx.available(1) > 0)
    }

    /// The kernel's counters for this socket.
    pub fn stats(&self) -> io::Result<SocketStats> {
        let (s, _) = getsockopt::<Statistics>(self.fd.as_raw_fd(), libc::XDP_STATISTICS)?;
        let s = s.0;
        Ok(SocketStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}

impl AsRawFd for XdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
