//! The single-producer, single-consumer rings AF_XDP shares with the
//! kernel (Documentation/networking/af_xdp.rst): fill and TX rings, which
//! user space produces into, and RX and completion rings, which it
//! consumes from.
//!
//! A ring is a power-of-two array of entries plus two free-running `u32`
//! indices, `producer` and `consumer`, and a `flags` word (bit 0: the
//! kernel needs a wakeup). Each side caches the other side's index and
//! re-reads it only when the cache says the ring looks full (producer) or
//! empty (consumer); entries are published with a release store of the
//! index and read after an acquire load of it, as libxdp's `xsk.h` does.
//!
//! The same code runs over kernel-mapped memory ([`crate::socket`]) and
//! over [`RingMemory`], an in-memory ring, so the index arithmetic
//! (wrap-around at 2^32 included) is tested without a kernel: an in-memory
//! ring has a producer and a consumer handle, and a test can play either
//! side.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// `XDP_RING_NEED_WAKEUP` (`<linux/if_xdp.h>`).
pub const NEED_WAKEUP: u32 = 1;

/// Where a ring's indices and entries live, and what keeps that memory
/// alive while a handle uses it.
pub(crate) struct RingParts<T> {
    pub(crate) producer: NonNull<AtomicU32>,
    pub(crate) consumer: NonNull<AtomicU32>,
    pub(crate) flags: NonNull<AtomicU32>,
    pub(crate) entries: NonNull<T>,
    /// Number of entries, a power of two.
    pub(crate) size: u32,
    /// Owns the memory the pointers point into (a mapping or a
    /// [`RingMemory`]).
    #[allow(dead_code)] // held, never read: it keeps the memory mapped
    pub(crate) keep_alive: Arc<dyn Send + Sync>,
}

impl<T> RingParts<T> {
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: `keep_alive` owns the memory, which holds an aligned
        // AtomicU32 at this address for as long as `self` exists.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }
    }

    fn slot(&self, index: u32) -> *mut T {
        let i = (index & (self.size - 1)) as usize;
        // SAFETY: `i < size` and the entry array has `size` entries.
        unsafe { self.entries.as_ptr().add(i) }
    }
}

/// The producing side of a ring (fill and TX rings in user space).
pub struct ProducerRing<T> {
    parts: RingParts<T>,
    /// Our producer index: entries below it are published or reserved.
    cached_producer: u32,
    /// The consumer index plus the ring size, as last read: we may
    /// produce up to (not including) it.
    cached_limit: u32,
    _not_sync: PhantomData<*const ()>,
}

// SAFETY: a ProducerRing is the only producer of its ring; moving it to
// another thread moves that role with it. The memory is kept alive by an
// `Arc` of a `Send + Sync` owner. It is not `Sync` (PhantomData of a raw
// pointer), so two threads never produce at once.
unsafe impl<T: Send> Send for ProducerRing<T> {}

impl<T: Copy> ProducerRing<T> {
    pub(crate) fn new(parts: RingParts<T>) -> ProducerRing<T> {
        let cached_producer = parts.producer().load(Ordering::Relaxed);
        let cached_limit = parts
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(parts.size);
        ProducerRing {
            parts,
            cached_producer,
            cached_limit,
            _not_sync: PhantomData,
        }
    }

    /// Number of entries.
    pub fn size(&self) -> u32 {
        self.parts.size
    }

    /// Free entries, at least `want` if the consumer has freed them
    /// (re-reads the consumer index only when the cache shows fewer).
    pub fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_limit.wrapping_sub(self.cached_producer);
        if free >= want {
            return free;
        }
        self.cached_limit = self
            .parts
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.parts.size);
        self.cached_limit.wrapping_sub(self.cached_producer)
    }

    /// Produce up to `max` entries taken from `next` (which returns `None`
    /// when it has no more) and publish them; returns how many. Never
    /// blocks and never allocates.
    pub fn produce(&mut self, max: u32, mut next: impl FnMut() -> Option<T>) -> u32 {
        let room = self.free(max).min(max);
        let mut n = 0;
        while n < room {
            let Some(item) = next() else { break };
            // SAFETY: the entry at `cached_producer + n` is free (below
            // the consumer index plus the size) and only we write it.
            unsafe {
                self.parts
                    .slot(self.cached_producer.wrapping_add(n))
                    .write(item)
            };
            n += 1;
        }
        if n > 0 {
            self.cached_producer = self.cached_producer.wrapping_add(n);
            self.parts
                .producer()
                .store(self.cached_producer, Ordering::Release);
        }
        n
    }

    /// Produce every entry of `items` that fits; returns how many.
    pub fn produce_slice(&mut self, items: &[T]) -> u32 {
        let mut it = items.iter().copied();
        self.produce(items.len().min(u32::MAX as usize) as u32, || it.next())
    }

    /// True if the consumer asked to be woken up (`XDP_RING_NEED_WAKEUP`).
    pub fn needs_wakeup(&self) -> bool {
        self.parts.flags().load(Ordering::Relaxed) & NEED_WAKEUP != 0
    }

    /// Entries produced but not yet consumed.
    pub fn outstanding(&self) -> u32 {
        self.cached_producer
            .wrapping_sub(self.parts.consumer().load(Ordering::Acquire))
    }
}

/// The consuming side of a ring (RX and completion rings in user space).
pub struct ConsumerRing<T> {
    parts: RingParts<T>,
    /// Our consumer index: entries below it are released.
    cached_consumer: u32,
    /// The producer index as last read: entries below it are readable.
    cached_producer: u32,
    _not_sync: PhantomData<*const ()>,
}

// SAFETY: as for ProducerRing: the only consumer of its ring.
unsafe impl<T: Send> Send for ConsumerRing<T> {}

impl<T: Copy> ConsumerRing<T> {
    pub(crate) fn new(parts: RingParts<T>) -> ConsumerRing<T> {
        let cached_consumer = parts.consumer().load(Ordering::Relaxed);
        let cached_producer = parts.producer().load(Ordering::Acquire);
        ConsumerRing {
            parts,
            cached_consumer,
            cached_producer,
            _not_sync: PhantomData,
        }
    }

    /// Number of entries.
    pub fn size(&self) -> u32 {
        self.parts.size
    }

    /// Entries ready to consume, re-reading the producer index only when
    /// the cache shows fewer than `want`.
    pub fn available(&mut self, want: u32) -> u32 {
        let ready = self.cached_producer.wrapping_sub(self.cached_consumer);
        if ready >= want.max(1) {
            return ready;
        }
        self.cached_producer = self.parts.producer().load(Ordering::Acquire);
        self.cached_producer.wrapping_sub(self.cached_consumer)
    }

    /// Consume up to `max` entries, handing each to `each` in ring order,
    /// then release them to the producer; returns how many.
    pub fn consume(&mut self, max: u32, mut each: impl FnMut(T)) -> u32 {
        let n = self.available(max).min(max);
        for i in 0..n {
            // SAFETY: the entry at `cached_consumer + i` is below the
            // producer index we read with acquire ordering, so the
            // producer finished writing it, and it is not released yet.
            let item = unsafe { self.parts.slot(self.cached_consumer.wrapping_add(i)).read() };
            each(item);
        }
        if n > 0 {
            self.cached_consumer = self.cached_consumer.wrapping_add(n);
            self.parts
                .consumer()
                .store(self.cached_consumer, Ordering::Release);
        }
        n
    }

    /// Ask the producer to wake us (what the kernel does on an RX or fill
    /// ring; used by in-memory tests playing the kernel's side).
    pub fn set_needs_wakeup(&self, on: bool) {
        if on {
            self.parts.flags().fetch_or(NEED_WAKEUP, Ordering::Relaxed);
        } else {
            self.parts
                .flags()
                .fetch_and(!NEED_WAKEUP, Ordering::Relaxed);
        }
    }
}

/// An in-memory ring: the indices and entries the kernel would map, for
/// tests and benchmarks of the ring logic without a kernel. One
/// [`ProducerRing`] and one [`ConsumerRing`] may be taken from it.
pub struct RingMemory<T> {
    producer: AtomicU32,
    consumer: AtomicU32,
    flags: AtomicU32,
    entries: Box<[UnsafeCell<T>]>,
}

// SAFETY: the entries are only touched through the producer and consumer
// handles, whose index protocol (release/acquire) orders every write
// before the read of the same entry; the indices are atomics.
unsafe impl<T: Send> Sync for RingMemory<T> {}

impl<T: Copy + Default + Send + 'static> RingMemory<T> {
    /// A ring of `size` entries (a power of two, at least 1) whose
    /// indices both start at `start` (so tests can start near the 2^32
    /// wrap-around).
    pub fn new(size: u32, start: u32) -> Option<Arc<RingMemory<T>>> {
        if size == 0 || !size.is_power_of_two() {
            return None;
        }
        Some(Arc::new(RingMemory {
            producer: AtomicU32::new(start),
            consumer: AtomicU32::new(start),
            flags: AtomicU32::new(0),
            entries: (0..size).map(|_| UnsafeCell::new(T::default())).collect(),
        }))
    }

    fn parts(self: &Arc<Self>) -> RingParts<T> {
        RingParts {
            producer: NonNull::from(&self.producer),
            consumer: NonNull::from(&self.consumer),
            flags: NonNull::from(&self.flags),
            // UnsafeCell<T> has the layout of T.
            entries: NonNull::from(&self.entries[0]).cast::<T>(),
            size: self.entries.len() as u32,
            keep_alive: self.clone(),
        }
    }

    /// The producer handle. Take it once: two producers would race.
    pub fn producer(self: &Arc<Self>) -> ProducerRing<T> {
        ProducerRing::new(self.parts())
    }

    /// The consumer handle. Take it once: two consumers would race.
    pub fn consumer(self: &Arc<Self>) -> ConsumerRing<T> {
        ConsumerRing::new(self.parts())
    }
}

impl<T> std::fmt::Debug for ProducerRing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerRing")
            .field("size", &self.parts.size)
            .field("producer", &self.cached_producer)
            .finish()
    }
}

impl<T> std::fmt::Debug for ConsumerRing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerRing")
            .field("size", &self.parts.size)
            .field("consumer", &self.cached_consumer)
            .finish()
    }
}

impl<T> std::fmt::Debug for RingMemory<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingMemory")
            .field("size", &self.entries.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_must_be_powers_of_two() {
        assert!(RingMemory::<u64>::new(0, 0).is_none());
        assert!(RingMemory::<u64>::new(3, 0).is_none());
        assert!(RingMemory::<u64>::new(4, 0).is_some());
    }

    #[test]
    fn a_full_ring_refuses_more_until_consumed() {
        let mem = RingMemory::<u64>::new(4, 0).unwrap();
        let mut p = mem.producer();
        let mut c = mem.consumer();
        assert_eq!(p.produce_slice(&[1, 2, 3, 4, 5, 6]), 4);
        assert_eq!(p.produce_slice(&[7]), 0);
        assert_eq!(p.outstanding(), 4);
        let mut got = Vec::new();
        assert_eq!(c.consume(2, |x| got.push(x)), 2);
        assert_eq!(p.produce_slice(&[7, 8, 9]), 2);
        assert_eq!(c.consume(10, |x| got.push(x)), 4);
        assert_eq!(got, [1, 2, 3, 4, 7, 8]);
        assert_eq!(c.consume(10, |x| got.push(x)), 0);
    }

    #[test]
    fn wakeup_flag_is_seen_by_the_producer() {
        let mem = RingMemory::<u64>::new(8, 0).unwrap();
        let p = mem.producer();
        let c = mem.consumer();
        assert!(!p.needs_wakeup());
        c.set_needs_wakeup(true);
        assert!(p.needs_wakeup());
        c.set_needs_wakeup(false);
        assert!(!p.needs_wakeup());
    }

    #[test]
    fn two_threads_pass_a_million_entries_in_order() {
        let mem = RingMemory::<u64>::new(64, u32::MAX - 1000).unwrap();
        let mut p = mem.producer();
        let mut c = mem.consumer();
        const N: u64 = 1_000_000;
        let producer = std::thread::spawn(move || {
            let mut next = 0u64;
            while next < N {
                p.produce(32, || {
                    (next < N).then(|| {
                        next += 1;
                        next - 1
                    })
                });
                std::hint::spin_loop();
            }
        });
        let mut expect = 0u64;
        while expect < N {
            c.consume(32, |x| {
                assert_eq!(x, expect);
                expect += 1;
            });
        }
        producer.join().unwrap();
    }

    proptest! {
        /// Any interleaving of produce and consume batches, starting
        /// anywhere (wrap-around included): entries come out in order,
        /// none lost or duplicated, never more than `size` in flight.
        #[test]
        fn fifo_under_any_batching(
            log_size in 0u32..7,
            start in any::<u32>(),
            ops in prop::collection::vec((any::<bool>(), 0u32..80), 1..200),
        ) {
            let size = 1u32 << log_size;
            let mem = RingMemory::<u64>::new(size, start).unwrap();
            let mut p = mem.producer();
            let mut c = mem.consumer();
            let (mut produced, mut consumed) = (0u64, 0u64);
            for (produce, n) in ops {
                if produce {
                    let before = produced;
                    let k = p.produce(n, || { produced += 1; Some(produced - 1) });
                    prop_assert_eq!(u64::from(k), produced - before);
                    prop_assert!(k <= n);
                } else {
                    c.consume(n, |x| { assert_eq!(x, consumed); consumed += 1; });
                }
                prop_assert!(produced - consumed <= u64::from(size));
                prop_assert_eq!(u64::from(p.outstanding()), produced - consumed);
            }
        }
    }
}
