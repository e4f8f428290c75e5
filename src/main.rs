//! The `keepwatch` binary: argument parsing and wiring (see src/cli.rs). All the
//! analysis is library code.

mod cli;
mod progress;

fn main() {
    std::process::exit(cli::main());
}
