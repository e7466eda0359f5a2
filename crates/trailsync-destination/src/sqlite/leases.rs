//! [`Leases`] on SQLite: the statements of [`crate::lease`], each call one transaction. A SQLite
//! database is written by one process (`trailsync sync` locks it), so its fleet is of one; the
//! same leases keep its checkpoints and jobs exactly as on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteDestination, begin, on};
use crate::errors::Error;
use crate::lease::{self, JobRow, ShardRow, Statements};
use trailsync_core::{
    DestinationError, FleetView, Grant, Held, JobGrant, LeaseScope, Leases, Position, ShardClaim,
    Worker, WorkerLease,
};

impl SqliteDestination {
    /// Runs `f` in one immediate transaction with the lease statements at hand.
    async fn leases<T, F>(&self, f: F) -> Result<T, DestinationError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, &Statements) -> Result<T, Error> + Send + 'static,
    {
        let statements = Arc::clone(&self.statements);
        Ok(self
            .run(lease::context(), move |connection: &mut Connection| {
                let tx = begin(connection)?;
                let value = f(&tx, &statements)?;
                tx.commit().map_err(on(lease::context()))?;
                Ok(value)
            })
            .await?)
    }
}

fn parse_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn select_view(
    tx: &rusqlite::Transaction<'_>,
    statements: &Statements,
    scope: &LeaseScope,
) -> Result<FleetView, Error> {
    let context = lease::context();
    let shards = tx
        .prepare_cached(&statements.select_shards)
        .and_then(|mut s| {
            s.query_map(params![scope.source_name, scope.stream_arn], |row: &Row| {
                Ok(ShardRow {
                    shard_id: row.get(0)?,
                    owner: row.get(1)?,
                    epoch: row.get(2)?,
                    expires_in_ms: row.get(3)?,
                    position: row.get(4)?,
                    parents: row.get(5)?,
                    millis_behind: row.get(6)?,
                    handoff_to: row.get(7)?,
                    updated_at: parse_time(row.get(8)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(on(context))?;
    let workers = tx
        .prepare_cached(&statements.select_workers)
        .and_then(|mut s| {
            s.query_map(params![scope.source_name, scope.stream_arn], |row: &Row| {
                Ok(WorkerLease {
                    id: row.get(0)?,
                    host: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    pid: row
                        .get::<_, Option<i64>>(2)?
                        .and_then(|p| u32::try_from(p).ok())
                        .unwrap_or(0),
                    started_at: parse_time(row.get(3)?).unwrap_or_default(),
                    expires_in_ms: row.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(on(context))?;
    let jobs = tx
        .prepare_cached(&statements.select_jobs)
        .and_then(|mut s| {
            s.query_map(params![scope.source_name], |row: &Row| {
                Ok(JobRow {
                    job: row.get(0)?,
                    owner: row.get(1)?,
                    epoch: row.get(2)?,
                    expires_in_ms: row.get(3)?,
                    started_at: parse_time(row.get(4)?),
                    finished_ms: row.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(on(context))?;
    lease::view(shards, workers, jobs)
}

#[async_trait::async_trait]
impl Leases for SqliteDestination {
    async fn heartbeat(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
        ttl: Duration,
    ) -> Result<FleetView, DestinationError> {
        let (scope, worker) = (scope.clone(), worker.clone());
        let (shards, jobs) = (shards.to_vec(), jobs.to_vec());
        let ttl = lease::millis(ttl);
        self.leases(move |tx, statements| {
            let context = lease::context();
            tx.prepare_cached(&statements.join)
                .and_then(|mut s| {
                    s.execute(params![
                        scope.source_name,
                        scope.stream_arn,
                        worker.id,
                        worker.host,
                        i64::from(worker.pid),
                        crate::sql::format_time(&Utc::now()),
                        ttl
                    ])
                })
                .map_err(on(context))?;
            for held in &shards {
                tx.prepare_cached(&statements.renew_shard)
                    .and_then(|mut s| {
                        s.execute(params![
                            scope.source_name,
                            scope.stream_arn,
                            held.key,
                            worker.id,
                            lease::stored_epoch(held.epoch),
                            ttl,
                            held.millis_behind
                        ])
                    })
                    .map_err(on(context))?;
            }
            for held in &jobs {
                tx.prepare_cached(&statements.renew_job)
                    .and_then(|mut s| {
                        s.execute(params![
                            scope.source_name,
                            held.key,
                            worker.id,
                            lease::stored_epoch(held.epoch),
                            ttl
                        ])
                    })
                    .map_err(on(context))?;
            }
            tx.prepare_cached(&statements.forget_workers)
                .and_then(|mut s| s.execute(params![scope.source_name, scope.stream_arn]))
                .map_err(on(context))?;
            select_view(tx, statements, &scope)
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
        let (scope, worker, shard_id) = (scope.clone(), worker.clone(), shard_id.to_string());
        let (parents, start) = (parents.join(","), start.to_string());
        let ttl = lease::millis(ttl);
        self.leases(move |tx, statements| {
            let context = lease::context();
            let answer: Option<(i64, String)> = match seen_epoch {
                None => tx
                    .prepare_cached(&statements.create_shard)
                    .and_then(|mut s| {
                        s.query_row(
                            params![
                                scope.source_name,
                                scope.stream_arn,
                                shard_id,
                                start,
                                crate::sql::format_time(&Utc::now()),
                                worker.id,
                                ttl,
                                parents
                            ],
                            |row| Ok((row.get(0)?, row.get(1)?)),
                        )
                        .optional()
                    })
                    .map_err(on(context))?,
                Some(seen) => tx
                    .prepare_cached(&statements.take_shard)
                    .and_then(|mut s| {
                        s.query_row(
                            params![
                                scope.source_name,
                                scope.stream_arn,
                                shard_id,
                                worker.id,
                                lease::stored_epoch(seen),
                                ttl
                            ],
                            |row| Ok((row.get(0)?, row.get(1)?)),
                        )
                        .optional()
                    })
                    .map_err(on(context))?,
            };
            answer
                .map(|(epoch, position)| {
                    Ok(Grant {
                        epoch: lease::epoch(epoch),
                        position: lease::position(&shard_id, &position)?,
                    })
                })
                .transpose()
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
        let (scope, shard_id, start) = (scope.clone(), shard_id.to_string(), start.to_string());
        self.leases(move |tx, statements| {
            let context = lease::context();
            tx.prepare_cached(&statements.fence)
                .and_then(|mut s| {
                    s.execute(params![
                        scope.source_name,
                        scope.stream_arn,
                        shard_id,
                        start,
                        crate::sql::format_time(&Utc::now()),
                        lease::stored_epoch(epoch_now)
                    ])
                })
                .map_err(on(context))?;
            let stored: String = tx
                .prepare_cached(&statements.select_position)
                .and_then(|mut s| {
                    s.query_row(
                        params![scope.source_name, scope.stream_arn, shard_id],
                        |row| row.get(0),
                    )
                })
                .map_err(on(context))?;
            lease::position(&shard_id, &stored)
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
        let (scope, worker, shard_id) = (scope.clone(), worker.clone(), shard_id.to_string());
        self.leases(move |tx, statements| {
            tx.prepare_cached(&statements.request_handoff)
                .and_then(|mut s| {
                    s.execute(params![
                        scope.source_name,
                        scope.stream_arn,
                        shard_id,
                        lease::stored_epoch(epoch_seen),
                        worker.id
                    ])
                })
                .map_err(on(lease::context()))?;
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
        let (scope, worker) = (scope.clone(), worker.clone());
        let (shards, jobs) = (shards.to_vec(), jobs.to_vec());
        self.leases(move |tx, statements| {
            let context = lease::context();
            for held in &shards {
                tx.prepare_cached(&statements.release_shard)
                    .and_then(|mut s| {
                        s.execute(params![
                            scope.source_name,
                            scope.stream_arn,
                            held.key,
                            worker.id,
                            lease::stored_epoch(held.epoch)
                        ])
                    })
                    .map_err(on(context))?;
            }
            for held in &jobs {
                tx.prepare_cached(&statements.release_job)
                    .and_then(|mut s| {
                        s.execute(params![
                            scope.source_name,
                            held.key,
                            worker.id,
                            lease::stored_epoch(held.epoch)
                        ])
                    })
                    .map_err(on(context))?;
            }
            Ok(())
        })
        .await
    }

    async fn reclaim(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        let (scope, worker) = (scope.clone(), worker.clone());
        self.leases(move |tx, statements| {
            let context = lease::context();
            for sql in [&statements.reclaim_shards, &statements.reclaim_workers] {
                tx.prepare_cached(sql)
                    .and_then(|mut s| {
                        s.execute(params![scope.source_name, scope.stream_arn, worker.id])
                    })
                    .map_err(on(context))?;
            }
            tx.prepare_cached(&statements.reclaim_jobs)
                .and_then(|mut s| s.execute(params![scope.source_name, worker.id]))
                .map_err(on(context))?;
            Ok(())
        })
        .await
    }

    async fn leave(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        let (scope, worker) = (scope.clone(), worker.clone());
        self.leases(move |tx, statements| {
            tx.prepare_cached(&statements.leave)
                .and_then(|mut s| {
                    s.execute(params![scope.source_name, scope.stream_arn, worker.id])
                })
                .map_err(on(lease::context()))?;
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
        let (scope, worker, job) = (scope.clone(), worker.clone(), job.to_string());
        let (due_after, ttl) = (lease::millis(due_after), lease::millis(ttl));
        self.leases(move |tx, statements| {
            let answer: Option<(i64, Option<String>, Option<i64>)> = tx
                .prepare_cached(&statements.take_job)
                .and_then(|mut s| {
                    s.query_row(
                        params![scope.source_name, job, worker.id, due_after, ttl],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                    )
                    .optional()
                })
                .map_err(on(lease::context()))?;
            Ok(answer.map(|(epoch, started, finished)| JobGrant {
                epoch: lease::epoch(epoch),
                last_started: parse_time(started),
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
        let (scope, job) = (scope.clone(), job.to_string());
        self.leases(move |tx, statements| {
            let sql = if finished {
                &statements.job_finished
            } else {
                &statements.job_started
            };
            tx.prepare_cached(sql)
                .and_then(|mut s| {
                    s.execute(params![
                        scope.source_name,
                        job,
                        lease::stored_epoch(epoch_held),
                        crate::sql::format_time(&started_at)
                    ])
                })
                .map_err(on(lease::context()))?;
            Ok(())
        })
        .await
    }

    async fn view(&self, scope: &LeaseScope) -> Result<FleetView, DestinationError> {
        let scope = scope.clone();
        self.leases(move |tx, statements| select_view(tx, statements, &scope))
            .await
    }
}
