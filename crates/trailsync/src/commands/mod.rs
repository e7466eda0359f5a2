//! One module per subcommand.

mod explain;
mod sync;
mod tables;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sync { config } => sync::run(&config),
        Command::Validate { config } => Ok(validate::run(&config)),
        Command::Tables { format } => tables::run(format),
        Command::Explain { file, format } => explain::run(file.as_deref(), format),
    }
}
