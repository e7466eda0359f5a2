//! One module per subcommand.

mod explain;
mod history;
mod status;
mod sync;
mod tables;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

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
