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
    /// Log lines as plain text (no colours off a terminal) or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Full sync of each source, then consume its CloudTrail stream until SIGINT/SIGTERM.
    /// Several processes may run on one PostgreSQL database (they share the stream's shards);
    /// a SQLite database is written by one process at a time.
    Sync {
        /// Config files or folders of *.yml/*.yaml.
        #[arg(required = true)]
        config: Vec<PathBuf>,
        /// When a SQLite database is in use by another process, wait for it instead of exiting.
        #[arg(long)]
        wait: bool,
        /// Serve Prometheus metrics (/metrics), liveness (/healthz) and readiness (/readyz).
        #[arg(long, value_name = "HOST:PORT")]
        metrics_addr: Option<std::net::SocketAddr>,
        /// /readyz fails when a shard this worker owns has made no progress for this long.
        #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_age)]
        ready_stall: std::time::Duration,
    },
    /// The fleet of each streaming source: per shard its owner, checkpoint, lag and lease
    /// expiry; per worker what it holds; the fleet's jobs.
    Status {
        #[arg(required = true)]
        config: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
    },
    /// The change history, newest first: who changed what, when, and which columns.
    History {
        #[arg(required = true)]
        config: Vec<PathBuf>,
        /// Only this table (`aws_ec2_security_groups`).
        #[arg(long)]
        table: Option<String>,
        /// Only this resource id (`sg-0abc`).
        #[arg(long)]
        id: Option<String>,
        /// Only changes of this recent past: `30m`, `24h`, `7d`.
        #[arg(long, value_parser = parse_age)]
        since: Option<std::time::Duration>,
        /// Only changes made by this principal ARN (any of the events coalesced into one).
        #[arg(long)]
        principal: Option<String>,
        /// At most this many changes.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
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

/// A duration argument (`--since`, `--ready-stall`) as config files write them (`24h`, `7d`).
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    trailsync_config::parse_duration(text).map_err(|e| e.to_string())
}
