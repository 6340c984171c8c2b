//! The replay filter's memory is fixed when it is built: ten million checks
//! of distinct tags allocate nothing and do not change its size. The same
//! allocator checks the other per-packet paths (seal, open, nonces, SACK)
//! and the whole server engine answering 100 000 connections.
//!
//! A counting global allocator needs `unsafe impl GlobalAlloc`; that is the
//! only unsafe code in this crate's tests, and the library itself forbids
//! it.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;
use trickles_core::crypto::{
    AppKey, Binding, KeyRing, MasterKey, ReplayFilter, ReplayVerdict, SackAccumulator, ServerKeys,
    open_continuation, open_user, packet_nonce, range_proof, seal_continuation, seal_user,
    verify_sack,
};
use trickles_wire::trickles::ucont::{Kind, UserCont};
use trickles_wire::{ConnId, KeyEpoch, PacketNumber};

thread_local! {
    /// Allocations made by this thread. Const-initialised and without a
    /// destructor, so touching it never allocates or registers anything.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down may still free or allocate.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// `System`, counting allocations per thread (other test threads and the
/// harness do not disturb the count).
struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which
// implements `GlobalAlloc` correctly, and returns its result; the only
// other thing done is incrementing a thread-local counter, which neither
// allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract, which we forward.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`,
        // with `layout`; the caller upholds the rest of the contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Distinct tags: bucket bits spread by a multiplicative hash, fingerprint
/// bits distinct for every `i` below 2^32.
fn tag(i: u64) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    t[8..12].copy_from_slice(&(i as u32).wrapping_add(1).to_le_bytes());
    t
}

const CHECKS: u64 = 10_000_000;

#[test]
fn ten_million_checks_allocate_nothing() {
    let started = Instant::now();
    // 64 Ki entries, 2 s horizon, 1000 checks per ms: ~2 M live tags
    // compete for 64 Ki entries, so every path is taken (insert into empty,
    // reuse of expired, eviction of live, stale refusal).
    let mut f = ReplayFilter::new(1 << 16, 2_000);
    assert_eq!(f.check(&tag(0), 0, 0), ReplayVerdict::Fresh);
    let memory = f.memory_bytes();
    let before = allocations();

    let mut verdicts = [0u64; 4];
    for i in 1..=CHECKS {
        let now = (i / 1000) as u32;
        // One in eight checks carries a timestamp beyond the horizon.
        let ts = if i % 8 == 0 {
            now.wrapping_sub(2_500)
        } else {
            now
        };
        let k = match f.check(&tag(i), ts, now) {
            ReplayVerdict::Fresh => 0,
            ReplayVerdict::Replayed => 1,
            ReplayVerdict::Stale => 2,
            ReplayVerdict::FromFuture => 3,
        };
        verdicts[k] += 1;
    }

    let after = allocations();
    assert_eq!(after - before, 0, "allocations during checks");
    assert_eq!(f.memory_bytes(), memory);
    assert_eq!(memory, (1 << 16) / 8 * 64);
    let [fresh, replayed, stale, future] = verdicts;
    assert_eq!(replayed, 0, "all tags are distinct");
    assert_eq!(future, 0);
    // i % 8 == 0 with i / 1000 >= 3 is stale; the first few thousand are not.
    assert!(stale > CHECKS / 8 - 1000 && stale <= CHECKS / 8);
    assert_eq!(fresh + stale, CHECKS);
    assert!(f.evictions() > 0);
    println!(
        "{CHECKS} checks in {:?}; {} evictions",
        started.elapsed(),
        f.evictions()
    );
}

#[test]
fn per_packet_paths_allocate_nothing() {
    let master = MasterKey::new([3; 16]);
    let mut ring = KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &master));
    ring.rotate(ServerKeys::from_master(KeyEpoch(2), &master))
        .unwrap();
    let apps = KeyRing::new(AppKey::from_master(KeyEpoch(1), &master));
    let b = Binding::new([192, 0, 2, 1].into(), 1234, 80);
    let conn = ConnId(77);
    let mut ucont = [0u8; 128];
    let n = UserCont::build(&mut ucont, KeyEpoch(0), Kind::Output, 0, 10, &[1; 40]).unwrap();

    let before = allocations();
    let mut acc = SackAccumulator::new();
    let mut c = [0u8; 76];
    for x in 1..=2_000u32 {
        c[12..16].copy_from_slice(&x.to_be_bytes());
        seal_continuation(ring.current(), &b, &mut c);
        assert!(open_continuation(&ring, &b, &c).is_ok());
        let retx = x % 7 == 0;
        let p = packet_nonce(ring.current(), conn, PacketNumber(x), retx);
        if x % 5 != 0 {
            let _ = acc.record(PacketNumber(x), p, retx);
        }
        if x % 64 == 0 {
            assert_eq!(verify_sack(ring.current(), conn, &acc.proof()), Ok(()));
            acc.forget_below(PacketNumber(x - 64));
        }
        let _ = range_proof(
            ring.current(),
            conn,
            PacketNumber(1),
            PacketNumber(x),
            false,
        );
        seal_user(apps.current(), &b, conn, &mut ucont[..n]).unwrap();
        let u = UserCont::parse(&ucont[..n]).unwrap();
        assert_eq!(open_user(&apps, &b, conn, &u), Ok(()));
    }
    assert_eq!(allocations() - before, 0);
}

/// Serves zeros: the smallest application.
struct Zeros;

impl trickles_core::server::Application for Zeros {
    fn open(
        &mut self,
        _request: &[u8],
        _app_data: &mut [u8; trickles_core::server::MAX_APP_DATA],
    ) -> Result<trickles_core::server::Opened, trickles_core::server::AppRefusal> {
        Ok(trickles_core::server::Opened::Output(
            trickles_core::server::Output {
                len: 1 << 20,
                app_data_len: 0,
            },
        ))
    }

    fn fill(
        &mut self,
        _: &[u8],
        _: u64,
        buf: &mut [u8],
    ) -> Result<(), trickles_core::server::AppRefusal> {
        buf.fill(0);
        Ok(())
    }
}

#[test]
fn server_answers_100k_connections_without_allocating() {
    use trickles_core::client::{Client, ClientConfig, Endpoints};
    use trickles_core::server::{ServerConfig, StreamServer};
    use trickles_wire::frame;

    let m = MasterKey::new([5; 16]);
    let mut server = StreamServer::new(
        ServerConfig::default(),
        KeyRing::new(ServerKeys::from_master(KeyEpoch(1), &m)),
        KeyRing::new(AppKey::from_master(KeyEpoch(1), &m)),
        Zeros,
    );
    let ends = Endpoints {
        local_mac: [2, 0, 0, 0, 0, 1],
        remote_mac: [2, 0, 0, 0, 0, 2],
        local: [10, 0, 0, 1].into(),
        local_port: 40_000,
        remote: [10, 0, 0, 2].into(),
        remote_port: ServerConfig::default().port,
    };
    let mut syn = Vec::new();
    Client::new(ClientConfig::default(), ends, 1, b"GET /")
        .start(trickles_core::Instant::from_millis(1), &mut |f| {
            syn = f.to_vec()
        });
    let template = frame::parse(&syn).unwrap();
    let mut buf = vec![0u8; 2048];
    let memory = server.memory_bytes();
    let mut answered = 0u64;
    let before = allocations();
    for i in 0..100_000u32 {
        let mut h = frame::Headers {
            src_mac: template.src_mac,
            dst_mac: template.dst_mac,
            src: [10, (i >> 16) as u8 + 1, (i >> 8) as u8, i as u8].into(),
            dst: template.dst,
            tcp: template.tcp,
            ttl: 64,
        };
        h.tcp.src_port = 1024 + (i % 60_000) as u16;
        let n = frame::emit(&h, &template.trickles, &mut buf).unwrap();
        server.handle(
            trickles_core::Instant::from_millis(2),
            &buf[..n],
            &mut |_| answered += 1,
        );
    }
    let allocated = allocations() - before;
    assert_eq!(server.stats().syns, 100_000);
    assert!(answered >= 100_000);
    assert_eq!(allocated, 0, "the server allocated while answering");
    assert_eq!(server.memory_bytes(), memory);
}
