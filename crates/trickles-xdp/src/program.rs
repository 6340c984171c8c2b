//! The XDP steering program (`bpf/trickles_xdp.c`, docs/protocol.md §1):
//! load it with aya, attach it to an interface, tell it which ports and
//! sockets it serves, read its counters, and run it on crafted frames.
//!
//! The program is attached through a bpf_link, which the kernel detaches
//! when the last file descriptor closes: dropping [`SteeringProgram`], or
//! the process dying, leaves no program behind on the interface.

use std::fmt;
use std::os::fd::AsRawFd;

use aya::Ebpf;
use aya::maps::{HashMap, MapError, PerCpuArray, XskMap};
pub use aya::programs::XdpMode;
use aya::programs::{TestRun, TestRunOptions, Xdp};

use crate::shared::{self, Stat, Stats};

/// The object file `build.rs` compiled (empty when clang was missing).
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trickles_xdp.o"));

/// XDP action codes (`enum xdp_action` in `<linux/bpf.h>`).
pub mod action {
    /// The program failed.
    pub const ABORTED: u32 = 0;
    /// Drop the frame.
    pub const DROP: u32 = 1;
    /// Give the frame to the kernel stack.
    pub const PASS: u32 = 2;
    /// Send the frame back out of the interface.
    pub const TX: u32 = 3;
    /// Redirect (here: into an AF_XDP socket).
    pub const REDIRECT: u32 = 4;
}

/// Why the steering program could not be loaded or used.
#[derive(Debug)]
pub enum ProgramError {
    /// clang was not found when the crate was built, so there is no object.
    NotBuilt,
    /// The kernel refused the object (verifier, permissions, BTF).
    Load(aya::EbpfError),
    /// Loading, attaching or test-running the program failed.
    Program(aya::programs::ProgramError),
    /// A map operation failed.
    Map(MapError),
    /// The object lacks a map or program this crate expects.
    Missing(&'static str),
    /// A receive queue index beyond the XSKMAP.
    QueueOutOfRange(u32),
    /// The kernel refused to attach the program to an interface.
    Attach {
        /// Interface index.
        ifindex: u32,
        /// Mode asked for.
        mode: XdpMode,
        /// What the kernel said.
        source: aya::programs::ProgramError,
    },
}

/// `e` and every error it wraps, joined by ": ".
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramError::NotBuilt => write!(
                f,
                "the XDP program was not built: clang was missing when trickles-xdp was compiled \
                 (apt-get install clang libbpf-dev, then rebuild)"
            ),
            ProgramError::Load(e) => write!(f, "loading the XDP object: {}", chain(e)),
            ProgramError::Program(e) => write!(f, "XDP program: {}", chain(e)),
            ProgramError::Map(e) => write!(f, "XDP map: {}", chain(e)),
            ProgramError::Attach {
                ifindex,
                mode,
                source,
            } => write!(
                f,
                "the kernel refused to attach the XDP program to interface index {ifindex} in {} mode: {}",
                match mode {
                    XdpMode::Default => "default",
                    XdpMode::Skb => "generic (skb)",
                    XdpMode::Driver => "driver",
                    XdpMode::Hardware => "hardware",
                },
                chain(source)
            )
            .and_then(|()| match source {
                aya::programs::ProgramError::SyscallError(e)
                    if e.io_error.raw_os_error() == Some(libc::ERANGE) =>
                {
                    write!(
                        f,
                        " (a veth refuses driver-mode XDP when its peer's MTU is above 3506: \
                         lower the MTU or use generic mode)"
                    )
                }
                _ => Ok(()),
            }),
            ProgramError::Missing(name) => write!(f, "the XDP object has no `{name}`"),
            ProgramError::QueueOutOfRange(q) => write!(
                f,
                "receive queue {q} is beyond the program's {} queues",
                shared::MAX_QUEUES
            ),
        }
    }
}

impl std::error::Error for ProgramError {}

impl From<aya::programs::ProgramError> for ProgramError {
    fn from(e: aya::programs::ProgramError) -> Self {
        ProgramError::Program(e)
    }
}

impl From<MapError> for ProgramError {
    fn from(e: MapError) -> Self {
        ProgramError::Map(e)
    }
}

/// How many steering programs are loaded in the kernel now, by any
/// process (the name the object gives them). After every process using
/// the datapath has exited this is 0: the kernel frees a program with
/// its last file descriptor or link.
pub fn loaded_steering_programs() -> Result<usize, ProgramError> {
    let mut n = 0;
    for info in aya::programs::loaded_programs() {
        // The kernel keeps the first 15 bytes of a program's name.
        if info?.name_as_str() == Some(&shared::PROGRAM[..shared::PROGRAM.len().min(15)]) {
            n += 1;
        }
    }
    Ok(n)
}

/// The loaded steering program; detached from every interface on drop.
#[derive(Debug)]
pub struct SteeringProgram {
    ebpf: Ebpf,
}

impl SteeringProgram {
    /// True if `build.rs` found clang and compiled the program.
    pub fn is_built() -> bool {
        !OBJECT.is_empty()
    }

    /// Load the program into the kernel (needs CAP_BPF and CAP_NET_ADMIN).
    pub fn load() -> Result<SteeringProgram, ProgramError> {
        if !Self::is_built() {
            return Err(ProgramError::NotBuilt);
        }
        let mut ebpf = Ebpf::load(OBJECT).map_err(ProgramError::Load)?;
        let xdp: &mut Xdp = ebpf
            .program_mut(shared::PROGRAM)
            .ok_or(ProgramError::Missing(shared::PROGRAM))?
            .try_into()?;
        xdp.load()?;
        Ok(SteeringProgram { ebpf })
    }

    fn xdp(&mut self) -> Result<&mut Xdp, ProgramError> {
        Ok(self
            .ebpf
            .program_mut(shared::PROGRAM)
            .ok_or(ProgramError::Missing(shared::PROGRAM))?
            .try_into()?)
    }

    /// Attach to the interface with index `ifindex` in `mode`. The program
    /// stays attached until `self` is dropped.
    pub fn attach(&mut self, ifindex: u32, mode: XdpMode) -> Result<(), ProgramError> {
        self.xdp()?
            .attach_to_if_index(ifindex, mode)
            .map_err(|source| ProgramError::Attach {
                ifindex,
                mode,
                source,
            })?;
        Ok(())
    }

    /// Steer marked segments to TCP destination port `port`.
    pub fn serve_port(&mut self, port: u16) -> Result<(), ProgramError> {
        let map = self
            .ebpf
            .map_mut(shared::PORTS_MAP)
            .ok_or(ProgramError::Missing(shared::PORTS_MAP))?;
        let mut ports: HashMap<_, u16, u8> = HashMap::try_from(map)?;
        ports.insert(port, 1, 0)?;
        Ok(())
    }

    /// Stop steering port `port` (its segments go to the kernel again).
    pub fn unserve_port(&mut self, port: u16) -> Result<(), ProgramError> {
        let map = self
            .ebpf
            .map_mut(shared::PORTS_MAP)
            .ok_or(ProgramError::Missing(shared::PORTS_MAP))?;
        let mut ports: HashMap<_, u16, u8> = HashMap::try_from(map)?;
        match ports.remove(&port) {
            Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deliver frames steered on receive queue `queue` to the AF_XDP
    /// socket `socket`.
    pub fn bind_socket(&mut self, queue: u32, socket: &impl AsRawFd) -> Result<(), ProgramError> {
        if queue >= shared::MAX_QUEUES {
            return Err(ProgramError::QueueOutOfRange(queue));
        }
        let map = self
            .ebpf
            .map_mut(shared::XSKS_MAP)
            .ok_or(ProgramError::Missing(shared::XSKS_MAP))?;
        let mut xsks = XskMap::try_from(map)?;
        xsks.set(queue, socket.as_raw_fd(), 0)?;
        Ok(())
    }

    /// The counters, summed over CPUs.
    pub fn stats(&self) -> Result<Stats, ProgramError> {
        let map = self
            .ebpf
            .map(shared::STATS_MAP)
            .ok_or(ProgramError::Missing(shared::STATS_MAP))?;
        let counters: PerCpuArray<_, u64> = PerCpuArray::try_from(map)?;
        let mut out = Stats::default();
        for stat in Stat::ALL {
            let per_cpu = counters.get(&(stat as u32), 0)?;
            out.0[stat as usize] = per_cpu.iter().sum();
        }
        Ok(out)
    }

    /// Run the program once on `frame` with `BPF_PROG_TEST_RUN` (receive
    /// queue 0) and return its XDP action ([`action`]). The kernel refuses
    /// frames shorter than an Ethernet header.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<u32, ProgramError> {
        let xdp = self.xdp()?;
        let opts = TestRunOptions {
            data_in: Some(frame),
            ..TestRunOptions::default()
        };
        Ok(xdp.test_run(opts)?.return_value)
    }
}
