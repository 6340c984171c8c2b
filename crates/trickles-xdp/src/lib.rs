//! The Trickles datapath: the XDP steering program and AF_XDP sockets.
//!
//! - [`program`]: loads `bpf/trickles_xdp.c` (built by clang in
//!   `build.rs`) with aya, attaches it to an interface, fills its maps and
//!   reads its counters; runs it on crafted frames with
//!   `BPF_PROG_TEST_RUN`.
//! - [`shared`]: the constants the program and user space share
//!   (`bpf/trickles_shared.h`), checked against the header by a test.
//!
//! Steering follows docs/protocol.md §1; the decision is the same as
//! [`trickles_wire::classify::classify`]. This is the only crate of the
//! workspace with `unsafe`, and every block carries a `// SAFETY:` note.

pub mod program;
pub mod shared;

pub use program::{ProgramError, SteeringProgram, XdpMode};
pub use shared::{Stat, Stats};

/// True if the process runs as root (the XDP program, AF_XDP sockets and
/// network namespaces need it; tests that need it skip, with a log line,
/// otherwise).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
