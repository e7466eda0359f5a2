use std::path::PathBuf;
use std::process::ExitCode;

use crate::EXIT_USAGE;

/// Prints every problem, one per line, and exits 2 if there were any; warnings (fields accepted
/// for CloudQuery compatibility without effect) are printed and do not fail.
pub fn run(paths: &[PathBuf]) -> ExitCode {
    match trailsync_config::load(paths) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            println!(
                "ok: {} source(s), {} destination(s)",
                config.sources.len(),
                config.destinations.len()
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            for d in &diagnostics.0 {
                eprintln!("{d}");
            }
            eprintln!("{} problem(s) found", diagnostics.0.len());
            ExitCode::from(EXIT_USAGE)
        }
    }
}
