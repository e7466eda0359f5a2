//! The lease statements, the same for both dialects, and the shape of their answers.
//!
//! Times that decide ownership (expiries, a job's last completion) are Unix milliseconds by
//! the database's clock (`{now}` below), so workers on hosts whose clocks disagree still agree on
//! who holds what. Every statement is one round trip; those that take a lease are conditional
//! updates returning the new epoch, so two workers racing for one lease cannot both win.

use chrono::{DateTime, TimeZone, Utc};
use trailsync_core::{FleetView, JobLease, Position, ShardLease, WorkerLease};

use crate::errors::{Context, Error, Operation};
use crate::own::{CHECKPOINTS, JOBS, WORKERS};
use crate::sql::Dialect;

/// How long a worker row is kept after its last heartbeat, for `trailsync status`.
const FORGET_WORKERS_AFTER_MS: i64 = 60 * 60 * 1000;

/// Fills in the table names and the dialect's clock and placeholders.
fn text(dialect: Dialect, template: &str) -> String {
    let now = match dialect {
        Dialect::Postgres => "(extract(epoch from clock_timestamp()) * 1000)::bigint",
        Dialect::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    };
    let sql = template
        .replace("{checkpoints}", &format!("\"{}\"", CHECKPOINTS.name))
        .replace("{workers}", &format!("\"{}\"", WORKERS.name))
        .replace("{jobs}", &format!("\"{}\"", JOBS.name))
        .replace("{now}", now);
    match dialect {
        Dialect::Postgres => sql,
        Dialect::Sqlite => sql.replace('$', "?"),
    }
}

/// The statements, prepared once per destination.
#[derive(Debug)]
pub(crate) struct Statements {
    /// $1 source, $2 stream, $3 worker, $4 host, $5 pid, $6 started_at, $7 ttl ms.
    pub join: String,
    /// $1 source, $2 stream, $3 shard, $4 worker, $5 epoch, $6 ttl ms, $7 millis behind.
    pub renew_shard: String,
    /// $1 source, $2 job, $3 worker, $4 epoch, $5 ttl ms.
    pub renew_job: String,
    /// $1 source, $2 stream.
    pub forget_workers: String,
    /// $1 source, $2 stream.
    pub select_shards: String,
    /// $1 source, $2 stream.
    pub select_workers: String,
    /// $1 source.
    pub select_jobs: String,
    /// $1 source, $2 stream, $3 shard, $4 position, $5 updated_at, $6 worker, $7 ttl ms,
    /// $8 parents. Returns epoch, position; nothing when the row exists.
    pub create_shard: String,
    /// $1 source, $2 stream, $3 shard, $4 worker, $5 seen epoch, $6 ttl ms. Returns epoch,
    /// position; nothing when not free or not at the epoch seen.
    pub take_shard: String,
    /// $1 source, $2 stream, $3 shard, $4 position, $5 updated_at, $6 epoch.
    pub fence: String,
    /// $1 source, $2 stream, $3 shard.
    pub select_position: String,
    /// $1 source, $2 stream, $3 shard, $4 epoch, $5 worker.
    pub request_handoff: String,
    /// $1 source, $2 stream, $3 shard, $4 worker, $5 epoch.
    pub release_shard: String,
    /// $1 source, $2 job, $3 worker, $4 epoch.
    pub release_job: String,
    /// $1 source, $2 stream, $3 worker.
    pub leave: String,
    /// $1 source, $2 stream, $3 worker: every other worker's shard leases freed.
    pub reclaim_shards: String,
    /// $1 source, $2 worker: every other worker's job leases freed.
    pub reclaim_jobs: String,
    /// $1 source, $2 stream, $3 worker: every other worker forgotten.
    pub reclaim_workers: String,
    /// $1 source, $2 job, $3 worker, $4 due after ms, $5 ttl ms. Returns epoch, started_at,
    /// finished_ms.
    pub take_job: String,
    /// $1 source, $2 job, $3 epoch, $4 started_at.
    pub job_started: String,
    /// $1 source, $2 job, $3 epoch, $4 started_at.
    pub job_finished: String,
    /// Writes one checkpoint unless its epoch is older than the stored one: $1 source, $2
    /// stream, $3 shard, $4 position, $5 updated_at, $6 epoch. One row affected, or none when
    /// the lease was lost.
    pub checkpoint: String,
}

impl Statements {
    pub(crate) fn new(dialect: Dialect) -> Statements {
        let t = |template: &str| text(dialect, template);
        Statements {
            join: t(
                "INSERT INTO {workers} (\"source_name\", \"stream_arn\", \"worker_id\", \"host\", \"pid\", \"started_at\", \"expires_ms\") \
                     VALUES ($1, $2, $3, $4, $5, $6, {now} + $7) \
                     ON CONFLICT (\"source_name\", \"stream_arn\", \"worker_id\") DO UPDATE SET \"expires_ms\" = excluded.\"expires_ms\"",
            ),
            renew_shard: t(
                "UPDATE {checkpoints} SET \"lease_expires_ms\" = {now} + $6, \"millis_behind\" = $7 \
                            WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 AND \"shard_id\" = $3 AND \"owner\" = $4 AND \"epoch\" = $5",
            ),
            renew_job: t("UPDATE {jobs} SET \"expires_ms\" = {now} + $5 \
                          WHERE \"source_name\" = $1 AND \"job\" = $2 AND \"owner\" = $3 AND \"epoch\" = $4"),
            forget_workers: t(&format!(
                "DELETE FROM {{workers}} WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 \
                               AND \"expires_ms\" < {{now}} - {FORGET_WORKERS_AFTER_MS}"
            )),
            select_shards: t(
                "SELECT \"shard_id\", \"owner\", \"epoch\", COALESCE(\"lease_expires_ms\", 0) - {now}, \"sequence_number\", \
                              \"parent_shards\", \"millis_behind\", \"handoff_to\", \"updated_at\" \
                              FROM {checkpoints} WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 ORDER BY \"shard_id\"",
            ),
            select_workers: t(
                "SELECT \"worker_id\", \"host\", \"pid\", \"started_at\", \"expires_ms\" - {now} \
                               FROM {workers} WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 ORDER BY \"worker_id\"",
            ),
            select_jobs: t(
                "SELECT \"job\", \"owner\", \"epoch\", COALESCE(\"expires_ms\", 0) - {now}, \"started_at\", \"finished_ms\" \
                            FROM {jobs} WHERE \"source_name\" = $1 ORDER BY \"job\"",
            ),
            create_shard: t(
                "INSERT INTO {checkpoints} (\"source_name\", \"stream_arn\", \"shard_id\", \"sequence_number\", \"updated_at\", \
                             \"epoch\", \"owner\", \"lease_expires_ms\", \"parent_shards\") \
                             VALUES ($1, $2, $3, $4, $5, 1, $6, {now} + $7, $8) \
                             ON CONFLICT (\"source_name\", \"stream_arn\", \"shard_id\") DO NOTHING \
                             RETURNING \"epoch\", \"sequence_number\"",
            ),
            take_shard: t(
                "UPDATE {checkpoints} SET \"owner\" = $4, \"epoch\" = \"epoch\" + 1, \"lease_expires_ms\" = {now} + $6, \
                           \"handoff_to\" = NULL, \"millis_behind\" = NULL \
                           WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 AND \"shard_id\" = $3 AND \"epoch\" = $5 \
                           AND (\"owner\" IS NULL OR COALESCE(\"lease_expires_ms\", 0) <= {now}) \
                           RETURNING \"epoch\", \"sequence_number\"",
            ),
            fence: t(
                "INSERT INTO {checkpoints} (\"source_name\", \"stream_arn\", \"shard_id\", \"sequence_number\", \"updated_at\", \"epoch\") \
                      VALUES ($1, $2, $3, $4, $5, $6) \
                      ON CONFLICT (\"source_name\", \"stream_arn\", \"shard_id\") DO UPDATE SET \"epoch\" = excluded.\"epoch\" \
                      WHERE {checkpoints}.\"epoch\" < excluded.\"epoch\"",
            ),
            select_position: t("SELECT \"sequence_number\" FROM {checkpoints} \
                                WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 AND \"shard_id\" = $3"),
            request_handoff: t("UPDATE {checkpoints} SET \"handoff_to\" = $5 \
                                WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 AND \"shard_id\" = $3 AND \"epoch\" = $4 \
                                AND \"owner\" IS NOT NULL AND \"owner\" <> $5"),
            release_shard: t(
                "UPDATE {checkpoints} SET \"owner\" = NULL, \"lease_expires_ms\" = 0, \"handoff_to\" = NULL \
                              WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 AND \"shard_id\" = $3 AND \"owner\" = $4 AND \"epoch\" = $5",
            ),
            release_job: t("UPDATE {jobs} SET \"owner\" = NULL, \"expires_ms\" = 0 \
                            WHERE \"source_name\" = $1 AND \"job\" = $2 AND \"owner\" = $3 AND \"epoch\" = $4"),
            leave: t(
                "DELETE FROM {workers} WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 AND \"worker_id\" = $3",
            ),
            reclaim_shards: t(
                "UPDATE {checkpoints} SET \"owner\" = NULL, \"lease_expires_ms\" = 0, \"handoff_to\" = NULL \
                 WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 AND \"owner\" IS NOT NULL AND \"owner\" <> $3",
            ),
            reclaim_jobs: t("UPDATE {jobs} SET \"owner\" = NULL, \"expires_ms\" = 0 \
                 WHERE \"source_name\" = $1 AND \"owner\" IS NOT NULL AND \"owner\" <> $2"),
            reclaim_workers: t(
                "DELETE FROM {workers} WHERE \"source_name\" = $1 AND \"stream_arn\" = $2 AND \"worker_id\" <> $3",
            ),
            take_job: t(
                "INSERT INTO {jobs} (\"source_name\", \"job\", \"owner\", \"epoch\", \"expires_ms\") VALUES ($1, $2, $3, 1, {now} + $5) \
                         ON CONFLICT (\"source_name\", \"job\") DO UPDATE SET \"owner\" = excluded.\"owner\", \
                         \"epoch\" = {jobs}.\"epoch\" + 1, \"expires_ms\" = excluded.\"expires_ms\" \
                         WHERE ({jobs}.\"owner\" IS NULL OR COALESCE({jobs}.\"expires_ms\", 0) <= {now}) \
                         AND ({jobs}.\"finished_ms\" IS NULL OR {jobs}.\"finished_ms\" <= {now} - $4) \
                         RETURNING \"epoch\", \"started_at\", \"finished_ms\"",
            ),
            job_started: t(
                "UPDATE {jobs} SET \"started_at\" = $4 WHERE \"source_name\" = $1 AND \"job\" = $2 AND \"epoch\" = $3",
            ),
            job_finished: t(
                "UPDATE {jobs} SET \"started_at\" = $4, \"finished_ms\" = {now} \
                             WHERE \"source_name\" = $1 AND \"job\" = $2 AND \"epoch\" = $3",
            ),
            checkpoint: t(
                "INSERT INTO {checkpoints} (\"source_name\", \"stream_arn\", \"shard_id\", \"sequence_number\", \"updated_at\", \"epoch\") \
                           VALUES ($1, $2, $3, $4, $5, $6) \
                           ON CONFLICT (\"source_name\", \"stream_arn\", \"shard_id\") DO UPDATE SET \
                           \"sequence_number\" = excluded.\"sequence_number\", \"updated_at\" = excluded.\"updated_at\" \
                           WHERE {checkpoints}.\"epoch\" <= excluded.\"epoch\"",
            ),
        }
    }
}

/// A stored position, or a clear error naming the shard.
pub(crate) fn position(shard_id: &str, text: &str) -> Result<Position, Error> {
    text.parse().map_err(|_| Error::InvalidCheckpoint {
        shard: shard_id.to_string(),
        stored: text.to_string(),
    })
}

/// Unix milliseconds as an instant.
pub(crate) fn instant(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// An epoch as stored (a bigint; never negative).
pub(crate) fn epoch(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

/// An epoch to store: [`epoch`]'s inverse.
pub(crate) fn stored_epoch(epoch: u64) -> i64 {
    i64::try_from(epoch).unwrap_or(i64::MAX)
}

/// Shard lease rows as selected by [`Statements::select_shards`], decoded by each executor.
pub(crate) struct ShardRow {
    pub shard_id: String,
    pub owner: Option<String>,
    pub epoch: i64,
    pub expires_in_ms: i64,
    pub position: String,
    pub parents: Option<String>,
    pub millis_behind: Option<i64>,
    pub handoff_to: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl ShardRow {
    pub(crate) fn into_lease(self) -> Result<ShardLease, Error> {
        Ok(ShardLease {
            position: position(&self.shard_id, &self.position)?,
            shard_id: self.shard_id,
            owner: self.owner,
            epoch: epoch(self.epoch),
            expires_in_ms: self.expires_in_ms,
            parents: self
                .parents
                .map(|p| {
                    p.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            millis_behind: self.millis_behind,
            handoff_to: self.handoff_to,
            updated_at: self.updated_at,
        })
    }
}

/// Job rows as selected by [`Statements::select_jobs`].
pub(crate) struct JobRow {
    pub job: String,
    pub owner: Option<String>,
    pub epoch: i64,
    pub expires_in_ms: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_ms: Option<i64>,
}

impl JobRow {
    pub(crate) fn into_lease(self) -> JobLease {
        JobLease {
            job: self.job,
            owner: self.owner,
            epoch: epoch(self.epoch),
            expires_in_ms: self.expires_in_ms,
            started_at: self.started_at,
            finished_at: self.finished_ms.and_then(instant),
        }
    }
}

/// Assembles a view from decoded rows.
pub(crate) fn view(
    shards: Vec<ShardRow>,
    workers: Vec<WorkerLease>,
    jobs: Vec<JobRow>,
) -> Result<FleetView, Error> {
    Ok(FleetView {
        shards: shards
            .into_iter()
            .map(ShardRow::into_lease)
            .collect::<Result<_, _>>()?,
        workers,
        jobs: jobs.into_iter().map(JobRow::into_lease).collect(),
    })
}

/// The context of lease statements, for error messages.
pub(crate) fn context() -> Context {
    Context::new(Operation::Lease, CHECKPOINTS.name)
}

/// A duration as the milliseconds bound to statements.
pub(crate) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_use_its_placeholders_and_clock() {
        let sqlite = Statements::new(Dialect::Sqlite);
        assert!(!sqlite.take_shard.contains('$'), "{}", sqlite.take_shard);
        assert!(sqlite.take_shard.contains("?5"));
        assert!(sqlite.take_shard.contains("unixepoch('subsec')"));
        let postgres = Statements::new(Dialect::Postgres);
        assert!(postgres.take_shard.contains("clock_timestamp()"));
        assert!(
            postgres
                .checkpoint
                .contains("\"_trailsync_checkpoints\".\"epoch\" <= excluded.\"epoch\"")
        );
    }
}
