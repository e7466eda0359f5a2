//! SQL destinations: SQLite (the embedded default) and PostgreSQL.
//!
//! A [`Destination`](trailsync_core::Destination) keeps the catalog's tables in a database and applies [`WriteBatch`]es to
//! them. The contract the engine builds on:
//!
//! - **One batch, one transaction.** [`Destination::write`] applies upserts, deletes and stream
//!   checkpoints together or not at all, so a checkpoint never runs ahead of the rows it covers
//!   and a crash at any moment loses no change (records after the checkpoint are read again).
//! - **Never a step back.** A batch first reads (and on PostgreSQL locks) the stored rows it
//!   replaces; a stored row observed later than the batch (`_cq_sync_time`) is neither
//!   overwritten nor deleted. Each checkpoint is written only if its lease epoch is still the
//!   stored one, else the batch fails with [`trailsync_core::LeaseLost`]: a worker that lost a
//!   shard cannot move its checkpoint, and checkpoints only move forward.
//! - **Leases** ([`trailsync_core::Leases`]) live in `_trailsync_checkpoints` beside the
//!   positions, with `_trailsync_workers` and `_trailsync_jobs`; see [`own`] for every table
//!   trailsync keeps of its own.
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
//! # async fn example(resources: Vec<trailsync_catalog::Resource>) -> Result<(), trailsync_core::DestinationError> {
//! use trailsync_core::{DestinationKind, WriteBatch, WriteMode};
//! use trailsync_destination::connect;
//!
//! let destination = connect(DestinationKind::Sqlite, "./inventory.db", WriteMode::OverwriteDeleteStale).await?;
//! destination.migrate(trailsync_catalog::TABLES).await?;
//! let mut batch = WriteBatch::new("aws", chrono::Utc::now());
//! batch.upserts = resources;
//! let summary = destination.write(&batch).await?;
//! # Ok(()) }
//! ```

mod errors;
mod history;
mod lease;
pub mod own;
mod plan;
pub mod postgres;
mod sql;
pub mod sqlite;

use trailsync_core::{Destination, DestinationError, DestinationKind, WriteMode, WriteSummary};

pub use errors::{Context, Error, Operation};
pub use postgres::PostgresDestination;
pub use sqlite::SqliteDestination;

/// Opens a destination and creates its checkpoint table.
///
/// SQLite: `connection_string` is a file path (parent folders are created), a `file:` URI, or
/// `:memory:`. PostgreSQL: a `postgres://` URL or `key=value` string; plain TCP (no TLS).
pub async fn connect(
    kind: DestinationKind,
    connection_string: &str,
    mode: WriteMode,
) -> Result<Box<dyn Destination>, DestinationError> {
    Ok(match kind {
        DestinationKind::Sqlite => {
            Box::new(SqliteDestination::open(connection_string, mode).await?)
        }
        DestinationKind::Postgres => {
            Box::new(PostgresDestination::connect(connection_string, mode).await?)
        }
    })
}

/// Stored checkpoints, read back: shard -> position. A value that is no position is an error
/// naming the shard rather than a silent restart from elsewhere.
fn positions(
    rows: Vec<(String, String)>,
) -> Result<std::collections::HashMap<String, trailsync_core::Position>, Error> {
    rows.into_iter()
        .map(|(shard, stored)| {
            let position = lease::position(&shard, &stored)?;
            Ok((shard, position))
        })
        .collect()
}

/// Adds the counts of the steps of a plan as they execute.
#[derive(Default)]
struct Tally(WriteSummary);

impl Tally {
    /// Counts a step's rows; a checkpoint that changed nothing means its lease was lost, and
    /// fails the transaction.
    fn add(&mut self, effect: plan::Effect<'_>, rows: u64) -> Result<(), Error> {
        match effect {
            plan::Effect::Upserted => self.0.rows_upserted += rows,
            plan::Effect::Deleted => self.0.rows_deleted += rows,
            plan::Effect::Uncounted => {}
            plan::Effect::Checkpoint { shard_id, epoch } if rows == 0 => {
                return Err(Error::LeaseLost(trailsync_core::LeaseLost {
                    shard_id: shard_id.to_string(),
                    epoch,
                }));
            }
            plan::Effect::Checkpoint { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
