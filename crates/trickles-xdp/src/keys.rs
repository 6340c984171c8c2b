//! Keys shared by every worker of a server, rotated without a lock on the
//! packet path (DESIGN.md "Integrity": epochs with a grace period).
//!
//! Each worker owns a copy of the key rings inside its engine, so sealing
//! and verifying never touch shared memory. A rotation writes the new rings
//! under a mutex and bumps a generation counter; each worker compares the
//! counter (one atomic load) before each frame and, only when it changed,
//! copies the new rings into its engine. Continuations sealed under the
//! previous epoch stay valid during the grace period on every worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use trickles_core::Instant;
use trickles_core::crypto::keys::EpochInUse;
use trickles_core::crypto::{AppKey, KeyRing, ServerKeys};
use trickles_core::server::{Application, StreamServer};
use trickles_wire::KeyEpoch;

use crate::worker::FrameHandler;

/// The server's key rings, shared by its workers.
#[derive(Debug)]
pub struct SharedKeys {
    generation: AtomicU64,
    rings: Mutex<(KeyRing<ServerKeys>, KeyRing<AppKey>)>,
}

impl SharedKeys {
    /// Rings holding `server` and `app` as current keys.
    pub fn new(server: ServerKeys, app: AppKey) -> Arc<SharedKeys> {
        Arc::new(SharedKeys {
            generation: AtomicU64::new(0),
            rings: Mutex::new((KeyRing::new(server), KeyRing::new(app))),
        })
    }

    /// Number of changes so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn change<T>(&self, f: impl FnOnce(&mut (KeyRing<ServerKeys>, KeyRing<AppKey>)) -> T) -> T {
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut rings);
        self.generation.fetch_add(1, Ordering::Release);
        out
    }

    /// Make `next` the current server key; the old one stays accepted
    /// until [`SharedKeys::retire`].
    pub fn rotate_server(&self, next: ServerKeys) -> Result<(), EpochInUse> {
        self.change(|r| r.0.rotate(next))
    }

    /// Make `next` the current application key.
    pub fn rotate_app(&self, next: AppKey) -> Result<(), EpochInUse> {
        self.change(|r| r.1.rotate(next))
    }

    /// Also accept (never seal with) the server and application keys of
    /// another epoch: the next one of a rolling rotation, or an older one
    /// still in use.
    pub fn accept(&self, server: ServerKeys, app: AppKey) -> Result<(), EpochInUse> {
        self.change(|r| r.0.accept(server).and_then(|()| r.1.accept(app)))
    }

    /// Stop accepting `epoch` (the current epoch stays).
    pub fn retire(&self, epoch: KeyEpoch) {
        self.change(|r| {
            r.0.retire(epoch);
            r.1.retire(epoch);
        });
    }

    /// The current epoch and the others accepted.
    pub fn epochs(&self) -> (KeyEpoch, Vec<KeyEpoch>) {
        let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        (
            rings.0.current().epoch(),
            rings.0.accepted().map(|k| k.epoch()).collect(),
        )
    }

    /// A copy of the rings and the generation they belong to.
    pub fn snapshot(&self) -> (u64, KeyRing<ServerKeys>, KeyRing<AppKey>) {
        let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        (self.generation(), rings.0.clone(), rings.1.clone())
    }
}

/// A server engine that follows [`SharedKeys`].
#[derive(Debug)]
pub struct KeyedServer<A> {
    engine: StreamServer<A>,
    keys: Arc<SharedKeys>,
    seen: u64,
}

impl<A: Application> KeyedServer<A> {
    /// Wrap `engine`, installing the current shared keys into it.
    pub fn new(mut engine: StreamServer<A>, keys: Arc<SharedKeys>) -> KeyedServer<A> {
        let (seen, server, app) = keys.snapshot();
        *engine.server_mut().keys_mut() = server;
        *engine.server_mut().app_keys_mut() = app;
        KeyedServer { engine, keys, seen }
    }

    /// The engine.
    pub fn engine(&self) -> &StreamServer<A> {
        &self.engine
    }

    /// The engine, to change (keys installed by [`KeyedServer::new`] and
    /// followed on every frame are best left to it).
    pub fn engine_mut(&mut self) -> &mut StreamServer<A> {
        &mut self.engine
    }

    /// The key generation this engine runs with.
    pub fn generation(&self) -> u64 {
        self.seen
    }

    fn follow(&mut self) {
        if self.keys.generation() == self.seen {
            return;
        }
        let (seen, server, app) = self.keys.snapshot();
        *self.engine.server_mut().keys_mut() = server;
        *self.engine.server_mut().app_keys_mut() = app;
        self.seen = seen;
    }
}

impl<A: Application> FrameHandler for KeyedServer<A> {
    fn on_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8])) {
        self.follow();
        self.engine.handle(now, frame, tx);
    }
}
