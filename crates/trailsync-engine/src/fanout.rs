//! One source writing to several destinations, as CloudQuery's `destinations: [a, b]`.
//!
//! [`Fanout`] is itself a [`Destination`], so the engine stays unaware of it. Each batch is
//! applied to every destination in turn, each in its own transaction with the checkpoints, so a
//! destination's checkpoints always cover exactly its own rows. Reading back, a shard resumes
//! from the lowest checkpoint across destinations (from the default start if one lacks it):
//! destinations that were ahead see records again, which is safe as refreshes are idempotent.
//!
//! Leases live in the first destination. Taking a shard there also raises the shard's epoch in
//! every other destination ([`Leases::fence`]), so the previous owner's checkpoints are refused
//! everywhere from then on, and the shard resumes from the earliest position among them.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use trailsync_catalog::{Table, Value};
use trailsync_core::{
    ChangeQuery, ChangeRecord, Destination, DestinationError, FleetView, Grant, Held, JobGrant,
    LeaseScope, Leases, Position, ShardClaim, Worker, WriteBatch, WriteMode, WriteSummary,
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

impl Fanout {
    /// The destination that keeps the leases: the first.
    fn keeper(&self) -> Result<&Target, DestinationError> {
        self.targets.first().ok_or_else(|| {
            DestinationError::new(
                trailsync_core::ErrorKind::Refused,
                "a source without destinations has no leases",
            )
        })
    }
}

/// Names a destination's error, so a failure says which destination it was.
fn named(target: &Target) -> impl FnOnce(DestinationError) -> DestinationError + '_ {
    |error| error.named(&target.name)
}

#[async_trait::async_trait]
impl Leases for Fanout {
    async fn heartbeat(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
        ttl: Duration,
    ) -> Result<FleetView, DestinationError> {
        let keeper = self.keeper()?;
        keeper
            .destination
            .heartbeat(scope, worker, shards, jobs, ttl)
            .await
            .map_err(named(keeper))
    }

    /// Takes the lease in the first destination, then fences the others; resumes from the
    /// earliest position of all.
    async fn acquire(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        claim: ShardClaim<'_>,
        ttl: Duration,
    ) -> Result<Option<Grant>, DestinationError> {
        let ShardClaim {
            shard_id, start, ..
        } = claim;
        let keeper = self.keeper()?;
        let Some(mut grant) = keeper
            .destination
            .acquire(scope, worker, claim, ttl)
            .await
            .map_err(named(keeper))?
        else {
            return Ok(None);
        };
        for target in self.targets.iter().skip(1) {
            let theirs = target
                .destination
                .fence(scope, shard_id, grant.epoch, start)
                .await
                .map_err(named(target))?;
            grant.position = grant.position.min(theirs);
        }
        Ok(Some(grant))
    }

    async fn fence(
        &self,
        scope: &LeaseScope,
        shard_id: &str,
        epoch: u64,
        start: &Position,
    ) -> Result<Position, DestinationError> {
        let mut earliest: Option<Position> = None;
        for target in &self.targets {
            let theirs = target
                .destination
                .fence(scope, shard_id, epoch, start)
                .await
                .map_err(named(target))?;
            earliest = Some(earliest.map_or(theirs.clone(), |e| e.min(theirs)));
        }
        Ok(earliest.unwrap_or_else(|| start.clone()))
    }

    async fn request_handoff(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shard_id: &str,
        epoch: u64,
    ) -> Result<(), DestinationError> {
        let keeper = self.keeper()?;
        keeper
            .destination
            .request_handoff(scope, worker, shard_id, epoch)
            .await
            .map_err(named(keeper))
    }

    async fn release(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
    ) -> Result<(), DestinationError> {
        let keeper = self.keeper()?;
        keeper
            .destination
            .release(scope, worker, shards, jobs)
            .await
            .map_err(named(keeper))
    }

    async fn reclaim(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        let keeper = self.keeper()?;
        keeper
            .destination
            .reclaim(scope, worker)
            .await
            .map_err(named(keeper))
    }

    async fn leave(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        let keeper = self.keeper()?;
        keeper
            .destination
            .leave(scope, worker)
            .await
            .map_err(named(keeper))
    }

    async fn acquire_job(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        job: &str,
        due_after: Duration,
        ttl: Duration,
    ) -> Result<Option<JobGrant>, DestinationError> {
        let keeper = self.keeper()?;
        keeper
            .destination
            .acquire_job(scope, worker, job, due_after, ttl)
            .await
            .map_err(named(keeper))
    }

    async fn record_job(
        &self,
        scope: &LeaseScope,
        job: &str,
        epoch: u64,
        started_at: DateTime<Utc>,
        finished: bool,
    ) -> Result<(), DestinationError> {
        let keeper = self.keeper()?;
        keeper
            .destination
            .record_job(scope, job, epoch, started_at, finished)
            .await
            .map_err(named(keeper))
    }

    async fn view(&self, scope: &LeaseScope) -> Result<FleetView, DestinationError> {
        let keeper = self.keeper()?;
        keeper.destination.view(scope).await.map_err(named(keeper))
    }
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

    /// The history of the first destination (each keeps its own).
    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<ChangeRecord>, DestinationError> {
        let keeper = self.keeper()?;
        keeper
            .destination
            .changes(query)
            .await
            .map_err(named(keeper))
    }

    async fn prune_changes(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, DestinationError> {
        let mut deleted = 0;
        for target in &self.targets {
            deleted += target
                .destination
                .prune_changes(before, limit)
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
