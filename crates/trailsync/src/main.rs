//! `trailsync`: a thin shell over the workspace's libraries. See README.md.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes of SPEC section 2.
pub(crate) const EXIT_RUNTIME: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(&cli);
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line: what went wrong, with its causes; no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn init_logging(cli: &cli::Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("TRAILSYNC_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!("warn,trailsync={default},trailsync_engine={default},trailsync_aws={default},trailsync_destination={default}"))
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        // One JSON object per line: time, level, message and fields (for log shippers).
        cli::LogFormat::Json => logs.json().with_current_span(false).init(),
        cli::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .init(),
    }
}
