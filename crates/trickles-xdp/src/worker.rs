//! A worker: one AF_XDP socket (one receive queue), one engine, one loop.
//! Receive a batch, hand each frame to the engine, put its answers on the
//! TX ring of the same socket, recycle frames; nothing shared with other
//! workers and nothing allocated per packet (DESIGN.md "per-core workers").
//!
//! The engine is anything with the sans-IO shape of the Trickles engines
//! ([`FrameHandler`]): a frame and the time in, frames out. The server
//! engine ([`trickles_core::server::StreamServer`]) and the client engine
//! ([`trickles_core::client::Client`]) implement it here.
//!
//! Frames of the UMEM are split between receiving and sending: the first
//! `rx_frames` belong to the receive pool, which keeps the fill ring full,
//! the rest to the transmit pool, to which the completion ring returns
//! them. A burst of arrivals can never starve transmission, nor the
//! reverse.

use std::io;

use trickles_core::Instant;
use trickles_core::client::Client;
use trickles_core::server::{Application, StreamServer};
use trickles_core::synthetic::mix;

use crate::pcap::PcapFile;
use crate::socket::{Desc, XdpSocket};
use crate::umem::FramePool;

/// Largest frame a worker handles (a UMEM frame of 2048 bytes minus the
/// kernel's 256-byte headroom is 1792; 2048 leaves room for 4096 frames).
pub const MAX_FRAME: usize = 2048;

/// The sans-IO engine a worker drives.
pub trait FrameHandler {
    /// A frame arrived at `now`; answers go to `tx`.
    fn on_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8]));
    /// The time from [`FrameHandler::next_timer`] has come.
    fn on_timer(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        let _ = (now, tx);
    }
    /// When the engine next wants [`FrameHandler::on_timer`].
    fn next_timer(&self) -> Option<Instant> {
        None
    }
    /// True when the engine has finished (a client with all its bytes).
    fn is_done(&self) -> bool {
        false
    }
}

impl<A: Application> FrameHandler for StreamServer<A> {
    fn on_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8])) {
        self.handle(now, frame, tx);
    }
}

impl FrameHandler for Client {
    fn on_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8])) {
        Client::on_frame(self, now, frame, tx);
    }
    fn on_timer(&mut self, now: Instant, tx: &mut dyn FnMut(&[u8])) {
        Client::on_timer(self, now, tx);
    }
    fn next_timer(&self) -> Option<Instant> {
        Client::next_timer(self)
    }
    fn is_done(&self) -> bool {
        Client::is_done(self)
    }
}

/// Drop a fraction of received frames before the engine sees them: the
/// loss a test injects (this machine has no netem). Seeded, so a run's
/// losses repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropFault {
    /// Frames dropped per million received.
    pub per_million: u32,
    /// Seed of the drop pattern.
    pub seed: u64,
}

/// Worker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Most frames received per batch.
    pub batch: u32,
    /// Frames of the UMEM reserved for receiving (the rest send).
    pub rx_frames: u32,
    /// Injected receive loss.
    pub fault: Option<DropFault>,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            batch: 64,
            rx_frames: 4096,
            fault: None,
        }
    }
}

/// Worker counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Frames received (before fault injection).
    pub rx_frames: u64,
    /// Frames put on the TX ring.
    pub tx_frames: u64,
    /// Answers dropped because no frame was free (all in flight).
    pub tx_no_frame: u64,
    /// Answers dropped because they did not fit a frame.
    pub tx_too_long: u64,
    /// Received frames dropped by the injected fault.
    pub fault_dropped: u64,
    /// Received frames longer than [`MAX_FRAME`] (dropped).
    pub rx_too_long: u64,
    /// Times the TX ring was full and answers waited.
    pub tx_ring_full: u64,
    /// Loop iterations that found work.
    pub busy_polls: u64,
    /// Frames written to the pcap file.
    pub pcap_records: u64,
    /// pcap writes that failed (the first failure stops the capture).
    pub pcap_errors: u64,
}

/// The socket and everything on its transmit side: the frames for
/// answers, the answers waiting for the TX ring, the counters and the
/// capture. The engine's `tx` callback borrows only this.
#[derive(Debug)]
struct Port {
    socket: XdpSocket,
    /// Frames for answers; the completion ring returns them here.
    pool: FramePool,
    /// Answers written into frames, waiting for the TX ring.
    staged: Vec<Desc>,
    stats: WorkerStats,
    /// Where received and sent frames are recorded, if anywhere.
    pcap: Option<PcapFile>,
}

impl Port {
    /// Write `frame` to the capture, if one is on; stop capturing at the
    /// first error.
    fn record(&mut self, frame: &[u8]) {
        if let Some(p) = &mut self.pcap {
            if p.write(frame).is_ok() {
                self.stats.pcap_records += 1;
            } else {
                self.stats.pcap_errors += 1;
                self.pcap = None;
            }
        }
    }

    /// Move staged answers onto the TX ring, as many as fit.
    fn flush_staged(&mut self) {
        let staged = &self.staged;
        let mut i = 0;
        let sent = self.socket.transmit(staged.len() as u32, || {
            let d = staged.get(i).copied();
            i += 1;
            d
        }) as usize;
        self.stats.tx_frames += sent as u64;
        if sent < self.staged.len() {
            self.stats.tx_ring_full += 1;
        }
        self.staged.drain(..sent);
    }

    /// A free transmit frame: from the pool, or, when every one is on the
    /// TX ring or being sent, after pushing the staged ones out, waking
    /// the kernel and taking back what it finished (in copy mode a wakeup
    /// sends synchronously): backpressure rather than a drop.
    fn free_frame(&mut self) -> Option<u64> {
        if let Some(a) = self.pool.alloc() {
            return Some(a);
        }
        self.flush_staged();
        let _ = self.socket.kick_tx();
        self.socket.complete(&mut self.pool, u32::MAX);
        self.pool.alloc()
    }

    /// Copy one answer into a free frame and stage it for the TX ring.
    fn stage(&mut self, frame: &[u8]) {
        if frame.len() > MAX_FRAME {
            self.stats.tx_too_long += 1;
            return;
        }
        if self.staged.len() == self.staged.capacity() {
            // Only when every frame is staged, i.e. the TX ring is stuck.
            self.stats.tx_no_frame += 1;
            return;
        }
        let Some(addr) = self.free_frame() else {
            self.stats.tx_no_frame += 1;
            return;
        };
        match self.socket.umem_mut().bytes_mut(addr, frame.len()) {
            Some(buf) => {
                buf.copy_from_slice(frame);
                self.record(frame);
                self.staged.push(Desc {
                    addr,
                    len: frame.len() as u32,
                    options: 0,
                });
            }
            None => {
                self.pool.release(addr);
                self.stats.tx_too_long += 1;
            }
        }
    }

    /// Put staged answers on the TX ring and wake the kernel while the
    /// ring holds frames it has not taken (in copy mode each wakeup sends
    /// at most one TX budget, 32 frames by default).
    fn flush(&mut self) -> io::Result<()> {
        if !self.staged.is_empty() {
            self.flush_staged();
        }
        if self.socket.tx_outstanding() > 0 {
            self.socket.kick_tx()
        } else {
            Ok(())
        }
    }
}

/// One socket, one engine.
#[derive(Debug)]
pub struct Worker<H> {
    port: Port,
    /// Frames for the fill ring; received frames return here.
    rx_pool: FramePool,
    handler: H,
    config: WorkerConfig,
    /// Copy of the frame being handled (the engine's answers are written
    /// into other frames of the same UMEM while it reads this one).
    scratch: Box<[u8; MAX_FRAME]>,
}

impl<H: FrameHandler> Worker<H> {
    /// A worker over `socket` driving `handler`.
    pub fn new(socket: XdpSocket, handler: H, config: WorkerConfig) -> Worker<H> {
        let frames = socket.umem().config().frame_count;
        let rx_frames = config.rx_frames.clamp(1, frames.saturating_sub(1).max(1));
        let rx_pool = FramePool::with_frames(socket.umem(), 0..rx_frames);
        let pool = FramePool::with_frames(socket.umem(), rx_frames..frames);
        let staged = Vec::with_capacity(pool.capacity().max(1));
        Worker {
            port: Port {
                socket,
                pool,
                staged,
                stats: WorkerStats::default(),
                pcap: None,
            },
            rx_pool,
            handler,
            config,
            scratch: Box::new([0; MAX_FRAME]),
        }
    }

    /// Record every frame received (before fault injection) and sent
    /// from now on in `pcap`.
    pub fn set_pcap(&mut self, pcap: PcapFile) {
        self.port.pcap = Some(pcap);
    }

    /// Flush the pcap file, if any.
    pub fn flush_pcap(&mut self) -> io::Result<()> {
        self.port.pcap.as_mut().map_or(Ok(()), PcapFile::flush)
    }

    /// The engine.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The engine, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The engine, ending the worker (its socket closes).
    pub fn into_handler(self) -> H {
        self.handler
    }

    /// The socket.
    pub fn socket(&self) -> &XdpSocket {
        &self.port.socket
    }

    /// Counters.
    pub fn stats(&self) -> WorkerStats {
        self.port.stats
    }

    /// Let the engine send its first frames (a client's SYN).
    pub fn start(&mut self, start: impl FnOnce(&mut H, &mut dyn FnMut(&[u8]))) -> io::Result<()> {
        let port = &mut self.port;
        start(&mut self.handler, &mut |frame| port.stage(frame));
        self.port.flush()
    }

    /// One iteration: recycle completed frames, lend frames for receiving,
    /// handle up to one batch of received frames, fire a due timer, and
    /// transmit. Returns the number of frames received.
    pub fn poll(&mut self, now: Instant) -> io::Result<u32> {
        let port = &mut self.port;
        port.socket.complete(&mut port.pool, u32::MAX);
        self.refill();
        let received = self.receive(now);
        if let Some(t) = self.handler.next_timer()
            && t <= now
        {
            let port = &mut self.port;
            self.handler.on_timer(now, &mut |frame| port.stage(frame));
        }
        self.port.flush()?;
        if received > 0 {
            self.port.stats.busy_polls += 1;
        }
        Ok(received)
    }

    /// Block up to `timeout_ms` for received frames (or until the engine's
    /// timer, whichever is sooner, given the current time `now`).
    pub fn wait(&mut self, now: Instant, timeout_ms: i32) -> io::Result<()> {
        let until_timer = self
            .handler
            .next_timer()
            .map(|t| (t.micros_since(now) / 1000) as i32)
            .unwrap_or(timeout_ms);
        self.port
            .socket
            .wait_rx(timeout_ms.min(until_timer).max(0))?;
        Ok(())
    }

    fn refill(&mut self) {
        let free = self.rx_pool.len() as u32;
        if free > 0 {
            self.port.socket.fill(&mut self.rx_pool, free);
        }
    }

    fn receive(&mut self, now: Instant) -> u32 {
        let mut descs = [Desc::default(); 256];
        let max = self.config.batch.clamp(1, descs.len() as u32);
        let mut n = 0usize;
        self.port.socket.receive(max, |d| {
            descs[n] = d;
            n += 1;
        });
        self.port.stats.rx_frames += n as u64;
        for d in &descs[..n] {
            let len = d.len as usize;
            let port = &mut self.port;
            let scratch = &mut self.scratch;
            let umem = port.socket.umem();
            let copied = umem.bytes(d.addr, len.min(MAX_FRAME)).map(|b| {
                scratch[..b.len()].copy_from_slice(b);
                b.len()
            });
            self.rx_pool.release(umem.frame_of(d.addr));
            let Some(copied) = copied else { continue };
            port.record(&scratch[..copied]);
            if len > MAX_FRAME {
                port.stats.rx_too_long += 1;
                continue;
            }
            let fault = self.config.fault.is_some_and(|f| {
                mix(f.seed ^ port.stats.rx_frames.wrapping_add(d.addr)) % 1_000_000
                    < u64::from(f.per_million)
            });
            if fault {
                port.stats.fault_dropped += 1;
                continue;
            }
            self.handler
                .on_frame(now, &scratch[..len], &mut |frame| port.stage(frame));
        }
        n as u32
    }

    /// Put staged answers on the TX ring and wake the kernel while the
    /// ring holds frames it has not taken.
    pub fn flush(&mut self) -> io::Result<()> {
        self.port.flush()
    }

    /// Frames waiting for the TX ring or for the kernel to finish them.
    pub fn tx_pending(&self) -> usize {
        self.port.staged.len() + self.port.socket.tx_outstanding() as usize
    }
}
