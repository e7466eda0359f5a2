//! SQL destinations: SQLite (the embedded default) and PostgreSQL.
//!
//! A [`Destination`] keeps the catalog's tables in a database and applies [`WriteBatch`]es to
//! them. The contract the engine builds on:
//!
//! - **One batch, one transaction.** [`Destination::write`] applies upserts, deletes and stream
//!   checkpoints together or not at all, so a checkpoint never runs ahead of the rows it covers
//!   and a crash at any moment loses no change (records after the checkpoint are read again).
//! - **Children are replaced with their parent.** For each [`ChildRows`](trailsync_catalog::ChildRows)
//!   of a resource, the rows the database held under that parent (and below them, at any depth)
//!   are deleted before the new ones are inserted. Child tables the resource does not list are
//!   left alone.
//! - **Deletes cascade.** A [`Deletion`] or [`Destination::delete_stale`] removes the matching
//!   rows and every row below them in the migrated child tables. Children are found through the
//!   tables given to [`Destination::migrate`], so migrate before writing (the engine does).
//! - **Values are always bound parameters**; identifiers come only from the catalog and are
//!   quoted. Nothing read from AWS ever becomes SQL text.
//!
//! Write modes ([`WriteMode`]): the two overwrite modes create tables with the catalog's
//! primary key and upsert (`INSERT ... ON CONFLICT (key) DO UPDATE`); `append` creates them
//! without a key and only ever inserts, keeping every version of every row (no upsert, no child
//! replacement; deletions still delete). [`Destination::delete_stale`] does what it says in
//! every mode: the engine calls it only for `overwrite-delete-stale`.
//!
//! Column types: PostgreSQL `text`, `bigint`, `boolean`, `double precision`, `timestamptz`,
//! `jsonb`, `text[]`, `uuid`. SQLite `TEXT`, `INTEGER` (also booleans, 0/1) and `REAL`; JSON and
//! text lists as JSON text, ids as hyphenated uuid text, instants as RFC 3339 UTC text with six
//! fractional digits (`2026-11-24T10:00:00.123456Z`), a fixed width so that text order is time
//! order.
//!
//! Migrations only add: missing tables, missing columns (nullable), missing indexes. A column
//! that exists with another type is logged and kept; an existing table whose primary key differs
//! from the catalog's is an error in the overwrite modes, as upserts cannot work on it. Writes
//! into PostgreSQL still work where an existing table (one made by CloudQuery, say) has
//! `timestamp` or `text` columns for instants and ids.
//!
//! ```no_run
//! # async fn example(resources: Vec<trailsync_catalog::Resource>) -> Result<(), trailsync_destination::DestinationError> {
//! use trailsync_destination::{Kind, WriteBatch, WriteMode, connect};
//!
//! let destination = connect(Kind::Sqlite, "./inventory.db", WriteMode::OverwriteDeleteStale).await?;
//! destination.migrate(trailsync_catalog::TABLES).await?;
//! let mut batch = WriteBatch::new("aws", chrono::Utc::now());
//! batch.upserts = resources;
//! let summary = destination.write(&batch).await?;
//! # Ok(()) }
//! ```

mod errors;
mod plan;
pub mod postgres;
mod sql;
pub mod sqlite;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use trailsync_catalog::{Deletion, Resource, Table, Value};

pub use errors::{Context, DestinationError, Operation};
pub use postgres::PostgresDestination;
pub use sqlite::SqliteDestination;

/// A database trailsync keeps its inventory in. See the crate docs for the guarantees.
#[async_trait::async_trait]
pub trait Destination: Send + Sync {
    /// Creates missing tables and adds missing columns from the catalog; never drops data.
    /// Also creates the checkpoint table. Parents and children may come in any order.
    async fn migrate(&self, tables: &[&'static Table]) -> Result<(), DestinationError>;

    /// Applies one batch atomically, in one transaction: child replacement and upserts, then
    /// deletes, then checkpoints. On error nothing of the batch is kept. When a batch writes one
    /// row twice the last write wins; a resource both written and deleted ends deleted.
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

    /// The checkpoints of one source and stream: shard id -> last committed sequence number.
    async fn checkpoints(
        &self,
        source: &str,
        stream_arn: &str,
    ) -> Result<HashMap<String, String>, DestinationError>;
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
    pub checkpoints: Vec<Checkpoint>,
}

impl WriteBatch {
    /// An empty batch of `source_name` at `sync_time`.
    pub fn new(source_name: impl Into<String>, sync_time: DateTime<Utc>) -> WriteBatch {
        WriteBatch {
            source_name: source_name.into(),
            sync_time,
            upserts: Vec::new(),
            deletes: Vec::new(),
            checkpoints: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty() && self.checkpoints.is_empty()
    }
}

/// How far one shard of a stream has been applied. Upserted: the last one written wins.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    pub source_name: String,
    pub stream_arn: String,
    pub shard_id: String,
    pub sequence_number: String,
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
    pub(crate) fn is_keyed(self) -> bool {
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
#[error("unknown write mode {0:?}: expected overwrite-delete-stale, overwrite or append")]
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
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgresql",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A destination `path` that names no supported database.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown destination {0:?}: expected sqlite or postgresql (optionally cloudquery/...)")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    /// Accepts the destination `path` of a CloudQuery config: `sqlite`, `postgresql`, with or
    /// without the `cloudquery/` prefix (and `postgres`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("cloudquery/").unwrap_or(s) {
            "sqlite" => Ok(Kind::Sqlite),
            "postgresql" | "postgres" => Ok(Kind::Postgres),
            _ => Err(UnknownKind(s.to_string())),
        }
    }
}

/// Opens a destination and creates its checkpoint table.
///
/// SQLite: `connection_string` is a file path (parent folders are created), a `file:` URI, or
/// `:memory:`. PostgreSQL: a `postgres://` URL or `key=value` string; plain TCP (no TLS).
pub async fn connect(
    kind: Kind,
    connection_string: &str,
    mode: WriteMode,
) -> Result<Box<dyn Destination>, DestinationError> {
    Ok(match kind {
        Kind::Sqlite => Box::new(SqliteDestination::open(connection_string, mode).await?),
        Kind::Postgres => Box::new(PostgresDestination::connect(connection_string, mode).await?),
    })
}

/// Adds the counts of the steps of a plan as they execute.
#[derive(Default)]
struct Tally(WriteSummary);

impl Tally {
    fn add(&mut self, effect: plan::Effect, rows: u64) {
        match effect {
            plan::Effect::Upserted => self.0.rows_upserted += rows,
            plan::Effect::Deleted => self.0.rows_deleted += rows,
            plan::Effect::Uncounted => {}
        }
    }
}

#[cfg(test)]
mod tests;
