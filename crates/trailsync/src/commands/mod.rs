//! One module per subcommand.

mod explain;
mod history;
mod status;
mod sync;
mod tables;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use trailsync_config::Config;

use crate::EXIT_USAGE;
use crate::cli::{Cli, Command};

/// Loads the config at `paths`; on a mistake, prints every diagnostic and gives the exit code.
fn load(paths: &[PathBuf]) -> Result<Config, ExitCode> {
    trailsync_config::load(paths).map_err(|diagnostics| {
        for d in &diagnostics.0 {
            eprintln!("{d}");
        }
        ExitCode::from(EXIT_USAGE)
    })
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sync {
            config,
            wait,
            metrics_addr,
            ready_stall,
        } => sync::run(
            &config,
            sync::Options {
                wait,
                metrics_addr,
                ready_stall,
            },
        ),
        Command::Status { config, format } => status::run(&config, format),
        Command::History {
            config,
            table,
            id,
            since,
            principal,
            limit,
            format,
        } => history::run(
            &config,
            history::Filter {
                table,
                id,
                since,
                principal,
                limit,
            },
            format,
        ),
        Command::Validate { config } => Ok(validate::run(&config)),
        Command::Tables { format } => tables::run(format),
        Command::Explain { file, format } => explain::run(file.as_deref(), format),
    }
}
