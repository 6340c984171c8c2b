//! Prints how many Trickles steering programs the kernel holds; exits 1 if
//! any. `cargo xtask netns-test` runs it after the tests to show that they
//! left no XDP program behind. Needs root.
//!
//! `--all` also lists every loaded program; `--self-check` loads one
//! steering program first (so the check must report it: proof that the
//! check can fail).

fn main() {
    let _held = if std::env::args().any(|a| a == "--self-check") {
        match trickles_xdp::SteeringProgram::load() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("leftovers: cannot load the steering program: {e}");
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    if std::env::args().any(|a| a == "--all") {
        for info in aya::programs::loaded_programs().flatten() {
            println!("{:?} {:?}", info.id(), info.name_as_str());
        }
    }
    match trickles_xdp::program::loaded_steering_programs() {
        Ok(0) => println!("no trickles_steer program loaded"),
        Ok(n) => {
            println!("{n} trickles_steer program(s) still loaded");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("leftovers: cannot list BPF programs: {e}");
            std::process::exit(2);
        }
    }
}
