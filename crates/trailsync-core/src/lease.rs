//! Leases: how several workers share one stream, and run the source's jobs once per fleet.
//!
//! A shard is read by the worker holding its lease. Leases live in the destination, in the
//! checkpoint table itself (`_trailsync_checkpoints`: one row per shard with its owner, epoch,
//! expiry and position), so that the fence is where the data is written: a lease's *epoch* goes
//! up each time the shard changes hands, and every checkpoint a worker writes names the epoch it
//! holds. A write carrying an older epoch changes nothing and fails the whole transaction with
//! [`LeaseLost`], rows included. A checkpoint therefore only moves forward, only by the current
//! owner, and always with the rows it covers, across any number of owner changes.
//!
//! Expiry is judged by the database's clock (one clock for the fleet); a worker that cannot renew
//! in time stops reading the shards it may have lost.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{DestinationError, Position};

/// One process taking part in a fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    /// Unique per process run: `host:pid:random`.
    pub id: String,
    pub host: String,
    pub pid: u32,
}

/// What leases are shared within: one source reading one stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseScope {
    pub source_name: String,
    pub stream_arn: String,
}

/// A shard's lease as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardLease {
    pub shard_id: String,
    /// The worker holding it; `None` once released.
    pub owner: Option<String>,
    /// Bumped on every change of owner.
    pub epoch: u64,
    /// Milliseconds until it expires by the database's clock; zero or less: expired.
    pub expires_in_ms: i64,
    /// The committed checkpoint.
    pub position: Position,
    pub parents: Vec<String>,
    /// How far behind the stream's tip its reader last was (Kinesis' MillisBehindLatest).
    pub millis_behind: Option<i64>,
    /// A worker that asked for this lease; the owner hands it over once its work is committed.
    pub handoff_to: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl ShardLease {
    /// Whether nobody holds it: released, or not renewed in time.
    pub fn is_free(&self) -> bool {
        self.owner.is_none() || self.expires_in_ms <= 0
    }
}

/// A live (or recently live) worker, as the fleet sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerLease {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub expires_in_ms: i64,
}

impl WorkerLease {
    pub fn is_live(&self) -> bool {
        self.expires_in_ms > 0
    }
}

/// A job run once per fleet (the full sync, reconciliation), as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLease {
    pub job: String,
    pub owner: Option<String>,
    pub epoch: u64,
    pub expires_in_ms: i64,
    /// When its last run began and ended (the end only if it completed).
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Everything a heartbeat sees of the fleet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetView {
    pub shards: Vec<ShardLease>,
    pub workers: Vec<WorkerLease>,
    pub jobs: Vec<JobLease>,
}

impl FleetView {
    /// Workers whose heartbeat has not expired, at least one (the caller).
    pub fn live_workers(&self) -> usize {
        self.workers.iter().filter(|w| w.is_live()).count().max(1)
    }
}

/// A lease the caller holds: renewed by each heartbeat while its epoch is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub key: String,
    pub epoch: u64,
    /// For shards: the reader's MillisBehindLatest, shown by `trailsync status`.
    pub millis_behind: Option<i64>,
}

/// A lease just taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub epoch: u64,
    /// Where to resume: the committed checkpoint (for a shard new to the table: the start given).
    pub position: Position,
}

/// A job lease just taken, with what the fleet knows of the job's last run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobGrant {
    pub epoch: u64,
    pub last_started: Option<DateTime<Utc>>,
    pub last_finished: Option<DateTime<Utc>>,
}

/// A checkpoint was written by a worker that no longer holds its shard's lease. Nothing of the
/// transaction was kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the lease of shard {shard_id} was taken over (epoch {epoch} is no longer current)")]
pub struct LeaseLost {
    pub shard_id: String,
    pub epoch: u64,
}

/// A shard a worker asks to own: see [`Leases::acquire`].
#[derive(Clone, Copy, Debug)]
pub struct ShardClaim<'a> {
    pub shard_id: &'a str,
    /// Its parents, stored with a new lease so that every worker drains them first.
    pub parents: &'a [String],
    /// The epoch the caller's last view showed; `None`: not stored yet.
    pub seen_epoch: Option<u64>,
    /// Where a lease created now starts.
    pub start: &'a Position,
}

/// The lease store of a destination. Implemented by `trailsync-destination` for SQLite and
/// PostgreSQL alike (SQLite is also locked to one process, so its fleet is of one).
#[async_trait]
pub trait Leases: Send + Sync {
    /// Renews the worker and every lease in `shards` and `jobs` whose epoch is unchanged (for
    /// `ttl` from now), then returns the whole fleet as stored: a lease the caller believes it
    /// holds but that shows another owner or epoch is lost.
    async fn heartbeat(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
        ttl: Duration,
    ) -> Result<FleetView, DestinationError>;

    /// Takes the lease of the claimed shard for `ttl` if it is free and still at the claim's
    /// `seen_epoch` (`None`: not stored yet, in which case it is created at the claim's `start`,
    /// making that start durable before any record is read). `None` when another worker
    /// was quicker. Makes every later write with the previous epoch fail.
    async fn acquire(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        claim: ShardClaim<'_>,
        ttl: Duration,
    ) -> Result<Option<Grant>, DestinationError>;

    /// Raises the stored epoch of `shard_id` to `epoch` (creating the row at `start` if absent),
    /// so that writes of the previous owner fail from now on, and returns the position stored.
    /// Used on the destinations of a fan-out that do not keep the leases themselves.
    async fn fence(
        &self,
        scope: &LeaseScope,
        shard_id: &str,
        epoch: u64,
        start: &Position,
    ) -> Result<Position, DestinationError>;

    /// Asks the owner of `shard_id` (at `epoch`) to hand it over to `worker`.
    async fn request_handoff(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shard_id: &str,
        epoch: u64,
    ) -> Result<(), DestinationError>;

    /// Gives up leases (shards and jobs) still held at their epochs, so another worker may take
    /// them at once.
    async fn release(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
    ) -> Result<(), DestinationError>;

    /// Declares every other worker of the scope gone: their shard and job leases are free at
    /// once. Only for a process that has the database to itself (SQLite, locked): it need not
    /// wait out the leases of a predecessor that crashed.
    async fn reclaim(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError>;

    /// Removes the worker from the fleet (after releasing what it held).
    async fn leave(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError>;

    /// Takes the lease of `job` for `ttl` if free, and if it last finished at least `due_after`
    /// ago (or never): `None` otherwise. The grant tells when the job last ran.
    async fn acquire_job(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        job: &str,
        due_after: Duration,
        ttl: Duration,
    ) -> Result<Option<JobGrant>, DestinationError>;

    /// Records a run of `job` by the holder of `epoch`: begun at `started_at` (other workers
    /// start their shards there while it runs), and, once `finished`, completed now. A stale
    /// epoch records nothing.
    async fn record_job(
        &self,
        scope: &LeaseScope,
        job: &str,
        epoch: u64,
        started_at: DateTime<Utc>,
        finished: bool,
    ) -> Result<(), DestinationError>;

    /// The fleet as stored, for `trailsync status` (no renewal).
    async fn view(&self, scope: &LeaseScope) -> Result<FleetView, DestinationError>;
}
