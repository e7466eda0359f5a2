//! One source writing to several destinations, as CloudQuery's `destinations: [a, b]`.
//!
//! [`Fanout`] is itself a [`Destination`], so the engine stays unaware of it. Each batch is
//! applied to every destination in turn, each in its own transaction with the checkpoints, so a
//! destination's checkpoints always cover exactly its own rows. Reading back, a shard resumes
//! from the lowest checkpoint across destinations (from the default start if one lacks it):
//! destinations that were ahead see records again, which is safe as refreshes are idempotent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use trailsync_catalog::{Table, Value};
use trailsync_core::{
    Destination, DestinationError, Position, WriteBatch, WriteMode, WriteSummary,
};

/// One destination of a fan-out, with the settings that differ per destination.
pub struct Target {
    /// The destination's name in the configuration, part of its errors.
    pub name: String,
    pub destination: Box<dyn Destination>,
    /// Decides whether [`Destination::delete_stale`] reaches this destination.
    pub mode: WriteMode,
}

/// Several destinations behind one [`Destination`]; see the module docs.
pub struct Fanout {
    targets: Vec<Target>,
}

impl Fanout {
    pub fn new(targets: Vec<Target>) -> Fanout {
        Fanout { targets }
    }

    /// Whether any destination deletes stale rows (`overwrite-delete-stale`): the engine's
    /// `SyncPlan::delete_stale`, as the fan-out passes deletions only to those destinations.
    pub fn deletes_stale(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.mode == WriteMode::OverwriteDeleteStale)
    }
}

/// Names a destination's error, so a failure says which destination it was.
fn named(target: &Target) -> impl FnOnce(DestinationError) -> DestinationError + '_ {
    |error| error.named(&target.name)
}

#[async_trait::async_trait]
impl Destination for Fanout {
    async fn migrate(&self, tables: &[&'static Table]) -> Result<(), DestinationError> {
        for target in &self.targets {
            target
                .destination
                .migrate(tables)
                .await
                .map_err(named(target))?;
        }
        Ok(())
    }

    /// Writes to each destination in turn; the first failure fails the batch (the engine
    /// retries it whole, which destinations that already committed it absorb as upserts).
    /// Counts are summed over destinations.
    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, DestinationError> {
        let mut total = WriteSummary::default();
        for target in &self.targets {
            let summary = target
                .destination
                .write(batch)
                .await
                .map_err(named(target))?;
            total.rows_upserted += summary.rows_upserted;
            total.rows_deleted += summary.rows_deleted;
        }
        Ok(total)
    }

    /// Deletes stale rows only in the `overwrite-delete-stale` destinations; returns the sum.
    async fn delete_stale(
        &self,
        table: &'static Table,
        source: &str,
        before: DateTime<Utc>,
        filter: &[(&'static str, Value)],
    ) -> Result<u64, DestinationError> {
        let mut deleted = 0;
        for target in &self.targets {
            if target.mode != WriteMode::OverwriteDeleteStale {
                continue;
            }
            deleted += target
                .destination
                .delete_stale(table, source, before, filter)
                .await
                .map_err(named(target))?;
        }
        Ok(deleted)
    }

    /// Per shard, the earliest position across destinations; a shard some destination has no
    /// checkpoint for is left out, so it starts from the default start.
    async fn checkpoints(
        &self,
        source: &str,
        stream_arn: &str,
    ) -> Result<HashMap<String, Position>, DestinationError> {
        let mut earliest: Option<HashMap<String, Position>> = None;
        for target in &self.targets {
            let mut theirs = target
                .destination
                .checkpoints(source, stream_arn)
                .await
                .map_err(named(target))?;
            earliest = Some(match earliest {
                None => theirs,
                Some(ours) => ours
                    .into_iter()
                    .filter_map(|(shard, position)| {
                        let other = theirs.remove(&shard)?;
                        Some((shard, position.min(other)))
                    })
                    .collect(),
            });
        }
        Ok(earliest.unwrap_or_default())
    }
}
