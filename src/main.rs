//! The `factorio-isr` binary; see `cli` for commands and exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    factorio_isr::logging::init();
    factorio_isr::cli::main(std::env::args_os().skip(1))
}
