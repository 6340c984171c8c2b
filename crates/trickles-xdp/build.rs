#![allow(clippy::expect_used, clippy::panic)] // a build script reports failure by panicking

//! Builds `bpf/trickles_xdp.c` with clang into `$OUT_DIR/trickles_xdp.o`,
//! which `src/program.rs` embeds. Without clang the crate still builds
//! (so the simulator and the engines never need it): the object is empty
//! and loading it returns `ProgramError::NotBuilt` naming what to install.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let bpf_dir = manifest.join("../../bpf");
    let source = bpf_dir.join("trickles_xdp.c");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("trickles_xdp.o");
    println!("cargo:rerun-if-changed={}", source.display());
    println!(
        "cargo:rerun-if-changed={}",
        bpf_dir.join("trickles_shared.h").display()
    );
    println!("cargo:rerun-if-env-changed=CLANG");

    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_owned());
    // Debian keeps <asm/types.h> under the multiarch include directory.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = format!("/usr/include/{arch}-linux-gnu");
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .arg(format!("-I{multiarch}"))
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to build {} ({s})", source.display()),
        Err(e) => {
            println!(
                "cargo:warning=trickles-xdp: `{clang}` not found ({e}); the XDP program is not built. \
                 Install clang and libbpf-dev (apt-get install clang libbpf-dev) to run the datapath."
            );
            std::fs::write(&out, b"").expect("write empty object");
            // A path that never exists: cargo reruns this script on every
            // build until clang is found, so installing it is enough.
            let sentinel = out.with_file_name("clang-was-missing");
            println!("cargo:rerun-if-changed={}", sentinel.display());
        }
    }
}
