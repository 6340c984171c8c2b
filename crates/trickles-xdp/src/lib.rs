//! The Trickles datapath: the XDP steering program and AF_XDP sockets.
//!
//! - [`program`]: loads `bpf/trickles_xdp.c` (built by clang in
//!   `build.rs`) with aya, attaches it to an interface, fills its maps and
//!   reads its counters; runs it on crafted frames with
//!   `BPF_PROG_TEST_RUN`.
//! - [`socket`], [`umem`], [`ring`]: AF_XDP sockets over `libc` (UMEM,
//!   fill/completion/RX/TX rings, copy/zero-copy detection, wakeups), the
//!   ring logic testable in memory.
//! - [`worker`]: one socket, one engine, one loop ([`FrameHandler`] is
//!   the sans-IO shape of the engines).
//! - [`runtime`]: one pinned worker per receive queue behind one program;
//!   [`keys`]: key rings shared by a server's workers, rotated without a
//!   lock on the packet path.
//! - [`clock`]: the servers' shared time base (wall clock), the same on
//!   every worker, restart and replica.
//! - [`pcap`]: what a worker receives and sends, to a pcap file.
//! - [`neighbour`]: interface index and MAC, ARP through the kernel.
//! - [`rawrate`]: the raw AF_XDP frame rate of a veth pair.
//! - [`scenario`]: whole downloads between two namespaces, Trickles over
//!   AF_XDP and kernel TCP as the baseline.
//! - [`netns`]: two namespaces joined by a veth pair, for tests, benchmarks
//!   and the demo.
//! - [`shared`]: the constants the program and user space share
//!   (`bpf/trickles_shared.h`), checked against the header by a test.
//!
//! Steering follows docs/protocol.md §1; the decision is the same as
//! [`trickles_wire::classify::classify`]. This is the only crate of the
//! workspace with `unsafe`, and every block carries a `// SAFETY:` note.

pub mod clock;
pub mod keys;
pub mod neighbour;
pub mod netns;
pub mod pcap;
pub mod program;
pub mod rawrate;
pub mod ring;
pub mod runtime;
pub mod scenario;
pub mod shared;
pub mod socket;
pub mod umem;
pub mod worker;

pub use program::{ProgramError, SteeringProgram, XdpMode};
pub use shared::{Stat, Stats};
pub use socket::{BindMode, Desc, ModeRequest, RingSizes, SocketConfig, XdpSocket};
pub use umem::{FramePool, Umem, UmemConfig};
pub use worker::{DropFault, FrameHandler, Worker, WorkerConfig, WorkerStats};

/// True if the process runs as root (the XDP program, AF_XDP sockets and
/// network namespaces need it; tests that need it skip, with a log line,
/// otherwise).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
