//! The raw AF_XDP frame rate of a veth pair: one socket sends the same
//! marked frame as fast as the TX ring takes it, the other receives and
//! counts, no protocol in between. Measured in the same run as a Trickles
//! transfer, it is the ceiling the transfer's goodput is compared with.
//! Bounded in frames and in time.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use trickles_wire::frame::{self, Headers, TcpFields};
use trickles_wire::tcp::flags;
use trickles_wire::trickles::{Body, Flags, Packet, Syn, Versions};

use crate::netns::{End, NetnsPair};
use crate::program::{SteeringProgram, XdpMode};
use crate::socket::{Desc, ModeRequest, RingSizes, SocketConfig, XdpSocket};
use crate::umem::{FramePool, Umem, UmemConfig};
use crate::{neighbour, program::ProgramError};

/// The port the measurement's frames go to.
pub const PORT: u16 = 9;

/// What a measurement saw at the receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawRate {
    /// Frames received.
    pub frames: u64,
    /// Seconds from the first to the last frame received.
    pub seconds: f64,
    /// Bytes per frame (Ethernet header to end of payload).
    pub frame_len: usize,
    /// Frames the sender put on its TX ring.
    pub sent: u64,
}

impl RawRate {
    /// Frames per second.
    pub fn pps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.frames as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Frame bits per second (Ethernet frames, without preamble and FCS).
    pub fn bits_per_second(&self) -> f64 {
        self.pps() * self.frame_len as f64 * 8.0
    }
}

fn to_io(e: ProgramError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Attach the steering program to `end`, serve `port`, and open a socket
/// on queue 0 bound into it: the datapath of one end.
pub fn open_datapath(
    end: &End,
    port: u16,
    umem: UmemConfig,
    tx_budget: u32,
) -> io::Result<(SteeringProgram, XdpSocket)> {
    open_datapath_on(end, port, umem, tx_budget, 0)
}

/// [`open_datapath`] with the socket on receive queue `queue` (frames it
/// sends leave by the same queue).
pub fn open_datapath_on(
    end: &End,
    port: u16,
    umem: UmemConfig,
    tx_budget: u32,
    queue: u32,
) -> io::Result<(SteeringProgram, XdpSocket)> {
    let ifindex = neighbour::ifindex(&end.ifname)?;
    let mut prog = SteeringProgram::load().map_err(to_io)?;
    prog.attach(ifindex, XdpMode::Driver)
        .or_else(|_| prog.attach(ifindex, XdpMode::Skb))
        .map_err(to_io)?;
    prog.serve_port(port).map_err(to_io)?;
    let socket = XdpSocket::open(
        &SocketConfig {
            ifindex,
            queue,
            rings: RingSizes::default(),
            mode: ModeRequest::Auto,
            tx_budget,
        },
        Umem::new(umem)?,
    )?;
    prog.bind_socket(queue, &socket).map_err(to_io)?;
    Ok((prog, socket))
}

/// A marked SYN frame of `frame_len` bytes from `from` to `to`, `port`.
fn probe_frame(
    from: &End,
    to: &End,
    to_mac: [u8; 6],
    port: u16,
    frame_len: usize,
) -> io::Result<Vec<u8>> {
    let h = Headers {
        src_mac: from.mac,
        dst_mac: to_mac,
        src: IpAddr::V4(from.addr),
        dst: IpAddr::V4(to.addr),
        tcp: TcpFields {
            src_port: 40009,
            dst_port: port,
            seq: 1,
            ack: 0,
            flags: flags::SYN,
            window: 65535,
        },
        ttl: 64,
    };
    let bare = 14 + 20 + 24 + 16;
    let p = Packet {
        flags: Flags(0),
        body: Body::Syn(Syn {
            versions: Versions::SUPPORTED,
            mss: 1448,
        }),
        data: &[],
        padding: frame_len.saturating_sub(bare),
    };
    let mut buf = vec![0u8; 2048];
    let n = frame::emit(&h, &p, &mut buf).map_err(|e| io::Error::other(format!("{e:?}")))?;
    buf.truncate(n);
    Ok(buf)
}

/// From the calling thread, which must be in `from`'s namespace: send
/// marked frames of `frame_len` bytes to `to`'s `port` over AF_XDP as fast
/// as the TX ring takes them, for `duration` or `max_frames`, whichever
/// comes first. Returns the frames put on the TX ring.
pub fn send_probes(
    from: &End,
    to: &End,
    port: u16,
    frame_len: usize,
    duration: Duration,
    max_frames: u64,
) -> io::Result<u64> {
    let (_prog, mut socket) = open_datapath(from, 40009, UmemConfig::default(), 0)?;
    let to_mac = neighbour::resolve_ipv4(&from.ifname, to.addr, Duration::from_secs(3))?;
    let frame = probe_frame(from, to, to_mac, port, frame_len)?;
    let mut pool = FramePool::new(socket.umem());
    // Every frame of the UMEM holds the probe; completed frames are sent
    // again as they are.
    let mut frames = Vec::with_capacity(pool.len());
    while let Some(addr) = pool.alloc() {
        let buf = socket
            .umem_mut()
            .bytes_mut(addr, frame.len())
            .ok_or_else(|| io::Error::other("probe frame too long"))?;
        buf.copy_from_slice(&frame);
        frames.push(addr);
    }
    for f in &frames {
        pool.release(*f);
    }
    let len = frame.len() as u32;
    let (mut sent, start) = (0u64, Instant::now());
    while sent < max_frames && start.elapsed() < duration {
        socket.complete(&mut pool, u32::MAX);
        let room = (max_frames - sent).min(u64::from(u32::MAX)) as u32;
        sent += u64::from(socket.transmit(room, || {
            pool.alloc().map(|addr| Desc {
                addr,
                len,
                options: 0,
            })
        }));
        socket.kick_tx()?;
    }
    Ok(sent)
}

/// Send frames of `frame_len` bytes from `pair.a` to `pair.b` for
/// `duration` (at most `max_frames`) and count what arrives.
pub fn measure(
    pair: &NetnsPair,
    frame_len: usize,
    duration: Duration,
    max_frames: u64,
) -> io::Result<RawRate> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    let b = pair.b.clone();
    let stop_rx = stop.clone();
    let receiver = pair.b.run(move || -> io::Result<(u64, f64)> {
        let (_prog, mut socket) = match open_datapath(&b, PORT, UmemConfig::default(), 0) {
            Ok(d) => d,
            Err(e) => {
                let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e);
            }
        };
        let mut pool = FramePool::new(socket.umem());
        let _ = ready_tx.send(Ok(()));
        let (mut frames, mut first, mut last) = (0u64, None, Instant::now());
        let deadline = Instant::now() + duration + Duration::from_secs(5);
        while !stop_rx.load(Ordering::Relaxed) && Instant::now() < deadline {
            let free = pool.len() as u32;
            socket.fill(&mut pool, free);
            let mut got = [0u64; 256];
            let mut n = 0;
            socket.receive(256, |d: Desc| {
                got[n] = d.addr;
                n += 1;
            });
            if n == 0 {
                socket.wait_rx(1)?;
                continue;
            }
            let now = Instant::now();
            first.get_or_insert(now);
            last = now;
            frames += n as u64;
            for addr in &got[..n] {
                pool.release(socket.umem().frame_of(*addr));
            }
        }
        let seconds = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
        Ok((frames, seconds))
    })?;
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| io::Error::other("receiver did not start"))??;

    let (a, b) = (pair.a.clone(), pair.b.clone());
    let sender = pair
        .a
        .run(move || send_probes(&a, &b, PORT, frame_len, duration, max_frames))?;
    let sent = sender.join()??;
    // Let the last frames land, then stop the receiver.
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let (frames, seconds) = receiver.join()??;
    Ok(RawRate {
        frames,
        seconds,
        frame_len,
        sent,
    })
}
