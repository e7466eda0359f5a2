//! trailsync as a library: a configured source, built from its config and run.
//!
//! [`Source::build`] does in one place what `trailsync sync` needs before any work starts, in
//! the manner of Vector's `SourceConfig::build`: it connects and migrates the destinations,
//! resolves the AWS accounts, and assembles the engine's plan, inventory and stream. [`Source::run`]
//! then runs the full sync and consumes the stream until cancelled. The binary is a thin shell
//! over this (and over the command modules that print things).

pub mod metrics;
mod source;
mod status;

pub use source::{Source, SourceError};
pub use status::{FleetStatus, StatusError, change_history, fleet_status};
