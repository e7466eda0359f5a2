//! [`Leases`] on PostgreSQL: the statements of [`crate::lease`], each call one transaction on
//! the destination's connection. Expiries are judged by the server's clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::{PostgresDestination, on};
use crate::errors::{Context, Error, Operation};
use crate::lease::{self, JobRow, ShardRow, Statements};
use trailsync_core::{
    DestinationError, FleetView, Grant, Held, JobGrant, LeaseScope, Leases, Position, ShardClaim,
    Worker, WorkerLease,
};

impl PostgresDestination {
    /// Runs `f` in one transaction, committed if it succeeds; a lost connection is forgotten
    /// for the next call.
    async fn leases<T>(
        &self,
        f: impl AsyncFnOnce(&Transaction<'_>, &Statements) -> Result<T, Error>,
    ) -> Result<T, DestinationError> {
        let statements = &self.statements;
        let value = self
            .call(async |session| {
                let tx = session
                    .client()?
                    .transaction()
                    .await
                    .map_err(on(Context::op(Operation::Begin)))?;
                let value = f(&tx, statements).await?;
                tx.commit()
                    .await
                    .map_err(on(Context::op(Operation::Commit)))?;
                Ok(value)
            })
            .await?;
        Ok(value)
    }
}

async fn execute(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, Error> {
    tx.execute(sql, params).await.map_err(on(lease::context()))
}

async fn select_view(
    tx: &Transaction<'_>,
    statements: &Statements,
    scope: &LeaseScope,
) -> Result<FleetView, Error> {
    let context = on(lease::context());
    let stream = [&scope.source_name as &(dyn ToSql + Sync), &scope.stream_arn];
    let shards = tx
        .query(&statements.select_shards, &stream)
        .await
        .map_err(&context)?
        .iter()
        .map(|row| {
            Ok(ShardRow {
                shard_id: row.try_get(0)?,
                owner: row.try_get(1)?,
                epoch: row.try_get(2)?,
                expires_in_ms: row.try_get(3)?,
                position: row.try_get(4)?,
                parents: row.try_get(5)?,
                millis_behind: row.try_get(6)?,
                handoff_to: row.try_get(7)?,
                updated_at: row.try_get(8)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(&context)?;
    let workers = tx
        .query(&statements.select_workers, &stream)
        .await
        .map_err(&context)?
        .iter()
        .map(|row| {
            Ok(WorkerLease {
                id: row.try_get(0)?,
                host: row.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
                pid: row
                    .try_get::<_, Option<i64>>(2)?
                    .and_then(|p| u32::try_from(p).ok())
                    .unwrap_or(0),
                started_at: row
                    .try_get::<_, Option<DateTime<Utc>>>(3)?
                    .unwrap_or_default(),
                expires_in_ms: row.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(&context)?;
    let jobs = tx
        .query(&statements.select_jobs, &[&scope.source_name])
        .await
        .map_err(&context)?
        .iter()
        .map(|row| {
            Ok(JobRow {
                job: row.try_get(0)?,
                owner: row.try_get(1)?,
                epoch: row.try_get(2)?,
                expires_in_ms: row.try_get(3)?,
                started_at: row.try_get(4)?,
                finished_ms: row.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(&context)?;
    lease::view(shards, workers, jobs)
}

#[async_trait::async_trait]
impl Leases for PostgresDestination {
    async fn heartbeat(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
        ttl: Duration,
    ) -> Result<FleetView, DestinationError> {
        let ttl = lease::millis(ttl);
        self.leases(async |tx, statements| {
            let pid = i64::from(worker.pid);
            execute(
                tx,
                &statements.join,
                &[
                    &scope.source_name,
                    &scope.stream_arn,
                    &worker.id,
                    &worker.host,
                    &pid,
                    &Utc::now(),
                    &ttl,
                ],
            )
            .await?;
            for held in shards {
                execute(
                    tx,
                    &statements.renew_shard,
                    &[
                        &scope.source_name,
                        &scope.stream_arn,
                        &held.key,
                        &worker.id,
                        &lease::stored_epoch(held.epoch),
                        &ttl,
                        &held.millis_behind,
                    ],
                )
                .await?;
            }
            for held in jobs {
                execute(
                    tx,
                    &statements.renew_job,
                    &[
                        &scope.source_name,
                        &held.key,
                        &worker.id,
                        &lease::stored_epoch(held.epoch),
                        &ttl,
                    ],
                )
                .await?;
            }
            execute(
                tx,
                &statements.forget_workers,
                &[&scope.source_name, &scope.stream_arn],
            )
            .await?;
            select_view(tx, statements, scope).await
        })
        .await
    }

    async fn acquire(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        claim: ShardClaim<'_>,
        ttl: Duration,
    ) -> Result<Option<Grant>, DestinationError> {
        let ShardClaim {
            shard_id,
            parents,
            seen_epoch,
            start,
        } = claim;
        let ttl = lease::millis(ttl);
        let (parents, start) = (parents.join(","), start.to_string());
        self.leases(async |tx, statements| {
            let rows = match seen_epoch {
                None => tx
                    .query(
                        &statements.create_shard,
                        &[
                            &scope.source_name,
                            &scope.stream_arn,
                            &shard_id,
                            &start,
                            &Utc::now(),
                            &worker.id,
                            &ttl,
                            &parents,
                        ],
                    )
                    .await
                    .map_err(on(lease::context()))?,
                Some(seen) => tx
                    .query(
                        &statements.take_shard,
                        &[
                            &scope.source_name,
                            &scope.stream_arn,
                            &shard_id,
                            &worker.id,
                            &lease::stored_epoch(seen),
                            &ttl,
                        ],
                    )
                    .await
                    .map_err(on(lease::context()))?,
            };
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let taken: i64 = row.try_get(0).map_err(on(lease::context()))?;
            let position: String = row.try_get(1).map_err(on(lease::context()))?;
            Ok(Some(Grant {
                epoch: lease::epoch(taken),
                position: lease::position(shard_id, &position)?,
            }))
        })
        .await
    }

    async fn fence(
        &self,
        scope: &LeaseScope,
        shard_id: &str,
        epoch_now: u64,
        start: &Position,
    ) -> Result<Position, DestinationError> {
        let start = start.to_string();
        self.leases(async |tx, statements| {
            execute(
                tx,
                &statements.fence,
                &[
                    &scope.source_name,
                    &scope.stream_arn,
                    &shard_id,
                    &start,
                    &Utc::now(),
                    &lease::stored_epoch(epoch_now),
                ],
            )
            .await?;
            let row = tx
                .query_one(
                    &statements.select_position,
                    &[&scope.source_name, &scope.stream_arn, &shard_id],
                )
                .await
                .map_err(on(lease::context()))?;
            let stored: String = row.try_get(0).map_err(on(lease::context()))?;
            lease::position(shard_id, &stored)
        })
        .await
    }

    async fn request_handoff(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shard_id: &str,
        epoch_seen: u64,
    ) -> Result<(), DestinationError> {
        self.leases(async |tx, statements| {
            execute(
                tx,
                &statements.request_handoff,
                &[
                    &scope.source_name,
                    &scope.stream_arn,
                    &shard_id,
                    &lease::stored_epoch(epoch_seen),
                    &worker.id,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn release(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
    ) -> Result<(), DestinationError> {
        self.leases(async |tx, statements| {
            for held in shards {
                execute(
                    tx,
                    &statements.release_shard,
                    &[
                        &scope.source_name,
                        &scope.stream_arn,
                        &held.key,
                        &worker.id,
                        &lease::stored_epoch(held.epoch),
                    ],
                )
                .await?;
            }
            for held in jobs {
                execute(
                    tx,
                    &statements.release_job,
                    &[
                        &scope.source_name,
                        &held.key,
                        &worker.id,
                        &lease::stored_epoch(held.epoch),
                    ],
                )
                .await?;
            }
            Ok(())
        })
        .await
    }

    async fn reclaim(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        self.leases(async |tx, statements| {
            for sql in [&statements.reclaim_shards, &statements.reclaim_workers] {
                execute(
                    tx,
                    sql,
                    &[&scope.source_name, &scope.stream_arn, &worker.id],
                )
                .await?;
            }
            execute(
                tx,
                &statements.reclaim_jobs,
                &[&scope.source_name, &worker.id],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn leave(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        self.leases(async |tx, statements| {
            execute(
                tx,
                &statements.leave,
                &[&scope.source_name, &scope.stream_arn, &worker.id],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn acquire_job(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        job: &str,
        due_after: Duration,
        ttl: Duration,
    ) -> Result<Option<JobGrant>, DestinationError> {
        let (due_after, ttl) = (lease::millis(due_after), lease::millis(ttl));
        self.leases(async |tx, statements| {
            let rows = tx
                .query(
                    &statements.take_job,
                    &[&scope.source_name, &job, &worker.id, &due_after, &ttl],
                )
                .await
                .map_err(on(lease::context()))?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let context = on(lease::context());
            let taken: i64 = row.try_get(0).map_err(&context)?;
            let started: Option<DateTime<Utc>> = row.try_get(1).map_err(&context)?;
            let finished: Option<i64> = row.try_get(2).map_err(&context)?;
            Ok(Some(JobGrant {
                epoch: lease::epoch(taken),
                last_started: started,
                last_finished: finished.and_then(lease::instant),
            }))
        })
        .await
    }

    async fn record_job(
        &self,
        scope: &LeaseScope,
        job: &str,
        epoch_held: u64,
        started_at: DateTime<Utc>,
        finished: bool,
    ) -> Result<(), DestinationError> {
        self.leases(async |tx, statements| {
            let sql = if finished {
                &statements.job_finished
            } else {
                &statements.job_started
            };
            execute(
                tx,
                sql,
                &[
                    &scope.source_name,
                    &job,
                    &lease::stored_epoch(epoch_held),
                    &started_at,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn view(&self, scope: &LeaseScope) -> Result<FleetView, DestinationError> {
        self.leases(async |tx, statements| select_view(tx, statements, scope).await)
            .await
    }
}
