use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Keeps a SQL inventory of AWS resources fresh from CloudTrail events.
#[derive(Debug, Parser)]
#[command(name = "trailsync", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log detail (-v debug, -vv trace); TRAILSYNC_LOG takes a full filter.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Full sync of each source, then consume its CloudTrail stream until SIGINT/SIGTERM.
    Sync {
        /// Config files or folders of *.yml/*.yaml.
        #[arg(required = true)]
        config: Vec<PathBuf>,
    },
    /// Check config files and print every problem with its file and field; exit 0 or 2.
    Validate {
        #[arg(required = true)]
        config: Vec<PathBuf>,
    },
    /// The catalog: every table, its parent/children, primary key, columns and events.
    Tables {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show what sync would do for events read from FILE (or stdin: `-` or nothing).
    Explain {
        file: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}
