//! Writing the inventory: one transaction per batch, rows and checkpoints together.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use trailsync_catalog::{Deletion, Resource, Table, Value};

use crate::{
    Attribution, BoxError, ChangeQuery, ChangeRecord, LeaseLost, Leases, Position, SkippedChange,
};

/// A database trailsync keeps its inventory in, and the [`Leases`] of the workers writing to it.
/// Implemented by `trailsync-destination`, whose crate docs spell out the guarantees.
#[async_trait]
pub trait Destination: Leases + Send + Sync {
    /// Creates missing tables and adds missing columns from the catalog; never drops data.
    /// Also creates trailsync's own tables (checkpoints, skipped changes). Parents and children may come in any order.
    async fn migrate(&self, tables: &[&'static Table]) -> Result<(), DestinationError>;

    /// Applies one batch atomically, in one transaction: child replacement and upserts, then
    /// deletes, then skipped changes, then checkpoints. On error nothing of the batch is kept.
    /// When a batch writes one row twice the last write wins; a resource both written and
    /// deleted ends deleted.
    ///
    /// Never a step back: a stored row whose `_cq_sync_time` is later than the batch's (a newer
    /// observation committed by another worker) is neither overwritten nor deleted, and a
    /// checkpoint whose epoch is no longer its lease's fails the batch with [`LeaseLost`]
    /// (see [`DestinationError::lease_lost`]).
    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, DestinationError>;

    /// Deletes the rows of `table` written by `source` before `before` (their `_cq_sync_time`
    /// is older), restricted to rows whose `filter` columns equal the given values (e.g.
    /// `account_id`, `region`), together with the rows below them in child tables. Returns
    /// how many rows were deleted, children included.
    async fn delete_stale(
        &self,
        table: &'static Table,
        source: &str,
        before: DateTime<Utc>,
        filter: &[(&'static str, Value)],
    ) -> Result<u64, DestinationError>;

    /// The checkpoints of one source and stream: shard id -> the committed position.
    async fn checkpoints(
        &self,
        source: &str,
        stream_arn: &str,
    ) -> Result<HashMap<String, Position>, DestinationError>;

    /// The change history (`trailsync_changes`) matching `query`, newest first.
    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<ChangeRecord>, DestinationError>;

    /// Deletes up to `limit` history rows committed before `before`; returns how many. Called
    /// repeatedly until it returns less than `limit`, so that no transaction grows large.
    async fn prune_changes(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, DestinationError>;
}

/// Everything one transaction applies.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteBatch {
    /// Stamped into `_cq_source_name` of every row written.
    pub source_name: String,
    /// Stamped into `_cq_sync_time` of every row written.
    pub sync_time: DateTime<Utc>,
    pub upserts: Vec<Resource>,
    pub deletes: Vec<Deletion>,
    /// Changes given up on, recorded in `trailsync_skipped` (at `sync_time`).
    pub skipped: Vec<SkippedChange>,
    pub checkpoints: Vec<Checkpoint>,
    /// Record each resource change in `trailsync_changes` (with its old and new values).
    pub history: bool,
    /// What caused the changes, for the history.
    pub attribution: Attribution,
}

impl WriteBatch {
    /// An empty batch of `source_name` at `sync_time`.
    pub fn new(source_name: impl Into<String>, sync_time: DateTime<Utc>) -> WriteBatch {
        WriteBatch {
            source_name: source_name.into(),
            sync_time,
            upserts: Vec::new(),
            deletes: Vec::new(),
            skipped: Vec::new(),
            checkpoints: Vec::new(),
            history: false,
            attribution: Attribution::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.deletes.is_empty()
            && self.skipped.is_empty()
            && self.checkpoints.is_empty()
    }
}

/// How far one shard of a stream has been applied, written by the holder of its lease.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    pub source_name: String,
    pub stream_arn: String,
    pub shard_id: String,
    pub position: Position,
    /// The epoch of the writer's lease: the write fails unless it is still the stored one (or
    /// newer, on a destination that does not keep the leases).
    pub epoch: u64,
}

/// What a committed batch changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Rows inserted or updated, parents and children.
    pub rows_upserted: u64,
    /// Rows removed by the batch's deletions, their children included (children replaced by
    /// an upsert are not counted).
    pub rows_deleted: u64,
}

/// CloudQuery's `write_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// Upsert by primary key; rows not seen by a full sync are deleted afterwards.
    #[default]
    OverwriteDeleteStale,
    /// Upsert by primary key; nothing is deleted for being stale.
    Overwrite,
    /// Insert only, tables without a primary key: every write adds rows (history).
    Append,
}

impl WriteMode {
    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::OverwriteDeleteStale => "overwrite-delete-stale",
            WriteMode::Overwrite => "overwrite",
            WriteMode::Append => "append",
        }
    }

    /// Whether tables have a primary key and rows are upserted.
    pub fn is_keyed(self) -> bool {
        !matches!(self, WriteMode::Append)
    }
}

impl fmt::Display for WriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `write_mode` that is not one of the three CloudQuery names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}; expected overwrite-delete-stale, overwrite or append")]
pub struct UnknownWriteMode(pub String);

impl FromStr for WriteMode {
    type Err = UnknownWriteMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "overwrite-delete-stale" => Ok(WriteMode::OverwriteDeleteStale),
            "overwrite" => Ok(WriteMode::Overwrite),
            "append" => Ok(WriteMode::Append),
            other => Err(UnknownWriteMode(other.to_string())),
        }
    }
}

/// Which database a destination is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// CloudQuery's `sqlite` plugin: `connection_string` is a file path.
    Sqlite,
    /// CloudQuery's `postgresql` plugin: `connection_string` is a URL or key=value string.
    Postgres,
}

impl DestinationKind {
    /// CloudQuery's plugin name.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Sqlite => "sqlite",
            DestinationKind::Postgres => "postgresql",
        }
    }
}

impl fmt::Display for DestinationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A destination `path` that names no supported database.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown destination plugin {0:?}; expected sqlite or postgresql, optionally as cloudquery/NAME or NAME@VERSION"
)]
pub struct UnknownDestinationKind(pub String);

impl FromStr for DestinationKind {
    type Err = UnknownDestinationKind;

    /// A CloudQuery plugin `path`: `sqlite` or `postgresql` (or `postgres`), optionally prefixed
    /// with `cloudquery/` and suffixed with `@VERSION`.
    fn from_str(path: &str) -> Result<Self, Self::Err> {
        let name = path.strip_prefix("cloudquery/").unwrap_or(path);
        let name = name.split_once('@').map_or(name, |(name, _version)| name);
        match name {
            "sqlite" => Ok(DestinationKind::Sqlite),
            "postgresql" | "postgres" => Ok(DestinationKind::Postgres),
            _ => Err(UnknownDestinationKind(path.to_string())),
        }
    }
}

/// What kind of failure a [`DestinationError`] is: what the engine does about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The database is unreachable, busy, restarting or lost the connection: pause, try again.
    Unavailable,
    /// The database will refuse this whatever we wait for: a batch it rejects, a schema it
    /// cannot migrate, a connection string it cannot use. Stop with a message.
    Refused,
    /// A checkpoint's lease passed to another worker: write the batch again without it, and
    /// stop reading that shard.
    LeaseLost,
}

/// Why a destination call failed. Nothing of a failed [`Destination::write`] was committed.
///
/// The message (the wrapped error's) is complete on one line and names the table when there is
/// one; the wrapped error is reachable with [`DestinationError::downcast_ref`].
#[derive(Debug)]
pub struct DestinationError {
    kind: ErrorKind,
    error: BoxError,
}

impl DestinationError {
    pub fn new(kind: ErrorKind, error: impl Into<BoxError>) -> DestinationError {
        DestinationError {
            kind,
            error: error.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }

    /// A checkpoint of the batch named a lease epoch that is no longer current.
    pub fn lease_lost(lost: LeaseLost) -> DestinationError {
        DestinationError::new(ErrorKind::LeaseLost, lost)
    }

    /// Which lease was lost, when that is what failed.
    pub fn lost_lease(&self) -> Option<&LeaseLost> {
        self.downcast_ref()
    }

    /// The destination's own error, for callers that know its type.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self.error.downcast_ref::<Named>() {
            Some(named) => named.error.downcast_ref(),
            None => self.error.downcast_ref(),
        }
    }

    /// The error of one of several destinations, named: `destination inventory: ...`.
    pub fn named(self, name: &str) -> DestinationError {
        DestinationError {
            kind: self.kind,
            error: Box::new(Named {
                name: name.to_string(),
                error: self.error,
            }),
        }
    }
}

/// An error of one destination among several: its message prefixed with the name, its cause
/// chain (and type, for [`DestinationError::downcast_ref`]) kept.
#[derive(Debug)]
struct Named {
    name: String,
    error: BoxError,
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "destination {}: {}", self.name, self.error)
    }
}

impl std::error::Error for Named {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl fmt::Display for DestinationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for DestinationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_paths_name_the_database() {
        for path in ["sqlite", "cloudquery/sqlite", "cloudquery/sqlite@v2.4.0"] {
            assert_eq!(path.parse(), Ok(DestinationKind::Sqlite), "{path}");
        }
        for path in ["postgresql", "postgres", "cloudquery/postgresql@v8.0.1"] {
            assert_eq!(path.parse(), Ok(DestinationKind::Postgres), "{path}");
        }
        assert!("cloudquery/mysql".parse::<DestinationKind>().is_err());
    }

    #[test]
    fn write_modes_parse_their_config_names() {
        for mode in [
            WriteMode::OverwriteDeleteStale,
            WriteMode::Overwrite,
            WriteMode::Append,
        ] {
            assert_eq!(mode.as_str().parse(), Ok(mode));
        }
        assert!("upsert".parse::<WriteMode>().is_err());
    }

    #[test]
    fn a_named_error_keeps_its_cause() {
        let lost = LeaseLost {
            shard_id: "shardId-000000000001".into(),
            epoch: 3,
        };
        let named = DestinationError::lease_lost(lost.clone()).named("inventory");
        assert_eq!(named.kind(), ErrorKind::LeaseLost);
        assert_eq!(named.lost_lease(), Some(&lost));
    }

    #[test]
    fn a_named_error_keeps_its_kind() {
        let error = DestinationError::new(ErrorKind::Unavailable, "connection refused");
        let named = error.named("inventory");
        assert!(named.is_retryable());
        assert_eq!(
            named.to_string(),
            "destination inventory: connection refused"
        );
    }
}
