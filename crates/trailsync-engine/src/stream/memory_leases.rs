//! Leases in memory, for the engine's unit tests: the rules of `trailsync-destination`'s SQL
//! (take when free at the epoch seen, renew at the epoch held, fence checkpoints by epoch),
//! kept in maps. The real ones are tested against SQLite and PostgreSQL in that crate.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use trailsync_core::{
    Checkpoint, DestinationError, FleetView, Grant, Held, JobGrant, JobLease, LeaseLost,
    LeaseScope, Leases, Position, ShardClaim, ShardLease, Worker, WorkerLease,
};

#[derive(Debug, Clone)]
struct Row {
    owner: Option<String>,
    epoch: u64,
    expires: Instant,
    position: Position,
    parents: Vec<String>,
    handoff_to: Option<String>,
}

/// A job's lease, as the destinations store it.
#[derive(Debug)]
struct Job {
    owner: Option<String>,
    epoch: u64,
    expires: Instant,
    started: Option<DateTime<Utc>>,
    finished: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    shards: BTreeMap<String, Row>,
    workers: BTreeMap<String, (Worker, Instant)>,
    jobs: BTreeMap<String, Job>,
}

#[derive(Debug, Default)]
pub(super) struct MemoryLeases {
    state: Mutex<State>,
}

fn ms_until(at: Instant) -> i64 {
    let now = Instant::now();
    if at > now {
        i64::try_from((at - now).as_millis()).unwrap_or(i64::MAX)
    } else {
        -i64::try_from((now - at).as_millis()).unwrap_or(i64::MAX)
    }
}

impl MemoryLeases {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies checkpoints as the destination would: each fenced by its epoch.
    pub(super) fn checkpoint(&self, checkpoints: &[Checkpoint]) -> Result<(), DestinationError> {
        let mut state = self.state();
        for c in checkpoints {
            if let Some(row) = state.shards.get(&c.shard_id)
                && row.epoch > c.epoch
            {
                return Err(DestinationError::lease_lost(LeaseLost {
                    shard_id: c.shard_id.clone(),
                    epoch: c.epoch,
                }));
            }
        }
        for c in checkpoints {
            let row = state.shards.entry(c.shard_id.clone()).or_insert(Row {
                owner: None,
                epoch: c.epoch,
                expires: Instant::now(),
                position: c.position.clone(),
                parents: Vec::new(),
                handoff_to: None,
            });
            row.position = c.position.clone();
        }
        Ok(())
    }

    /// The committed position of `shard`.
    pub(super) fn position(&self, shard: &str) -> Option<Position> {
        self.state().shards.get(shard).map(|r| r.position.clone())
    }

    /// Who holds `shard`, at which epoch.
    pub(super) fn owner(&self, shard: &str) -> Option<(Option<String>, u64)> {
        self.state().shards.get(shard).map(|r| {
            (
                r.owner.clone().filter(|_| r.expires > Instant::now()),
                r.epoch,
            )
        })
    }

    /// Another worker takes `shard` over, as after this one's lease expired.
    pub(super) fn steal(&self, shard: &str, thief: &str) {
        if let Some(row) = self.state().shards.get_mut(shard) {
            row.owner = Some(thief.to_string());
            row.epoch += 1;
            row.expires = Instant::now() + Duration::from_secs(3600);
        }
    }

    fn view_of(state: &State) -> FleetView {
        FleetView {
            shards: state
                .shards
                .iter()
                .map(|(id, r)| ShardLease {
                    shard_id: id.clone(),
                    owner: r.owner.clone(),
                    epoch: r.epoch,
                    expires_in_ms: ms_until(r.expires),
                    position: r.position.clone(),
                    parents: r.parents.clone(),
                    millis_behind: None,
                    handoff_to: r.handoff_to.clone(),
                    updated_at: None,
                })
                .collect(),
            workers: state
                .workers
                .values()
                .map(|(w, expires)| WorkerLease {
                    id: w.id.clone(),
                    host: w.host.clone(),
                    pid: w.pid,
                    started_at: DateTime::<Utc>::default(),
                    expires_in_ms: ms_until(*expires),
                })
                .collect(),
            jobs: state
                .jobs
                .iter()
                .map(|(name, job)| JobLease {
                    job: name.clone(),
                    owner: job.owner.clone(),
                    epoch: job.epoch,
                    expires_in_ms: ms_until(job.expires),
                    started_at: job.started,
                    finished_at: None,
                })
                .collect(),
        }
    }
}

#[async_trait]
impl Leases for MemoryLeases {
    async fn heartbeat(
        &self,
        _: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
        ttl: Duration,
    ) -> Result<FleetView, DestinationError> {
        let mut state = self.state();
        let until = Instant::now() + ttl;
        state
            .workers
            .insert(worker.id.clone(), (worker.clone(), until));
        for held in shards {
            if let Some(row) = state.shards.get_mut(&held.key)
                && row.owner.as_deref() == Some(&worker.id)
                && row.epoch == held.epoch
            {
                row.expires = until;
            }
        }
        for held in jobs {
            if let Some(job) = state.jobs.get_mut(&held.key)
                && job.owner.as_deref() == Some(&worker.id)
                && job.epoch == held.epoch
            {
                job.expires = until;
            }
        }
        Ok(Self::view_of(&state))
    }

    async fn acquire(
        &self,
        _: &LeaseScope,
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
        let mut state = self.state();
        let now = Instant::now();
        match (state.shards.get_mut(shard_id), seen_epoch) {
            (None, None) => {
                state.shards.insert(
                    shard_id.to_string(),
                    Row {
                        owner: Some(worker.id.clone()),
                        epoch: 1,
                        expires: now + ttl,
                        position: start.clone(),
                        parents: parents.to_vec(),
                        handoff_to: None,
                    },
                );
                Ok(Some(Grant {
                    epoch: 1,
                    position: start.clone(),
                }))
            }
            (Some(row), Some(seen))
                if row.epoch == seen && (row.owner.is_none() || row.expires <= now) =>
            {
                row.owner = Some(worker.id.clone());
                row.epoch += 1;
                row.expires = now + ttl;
                row.handoff_to = None;
                Ok(Some(Grant {
                    epoch: row.epoch,
                    position: row.position.clone(),
                }))
            }
            _ => Ok(None),
        }
    }

    async fn fence(
        &self,
        _: &LeaseScope,
        shard_id: &str,
        epoch: u64,
        start: &Position,
    ) -> Result<Position, DestinationError> {
        let mut state = self.state();
        let row = state.shards.entry(shard_id.to_string()).or_insert(Row {
            owner: None,
            epoch,
            expires: Instant::now(),
            position: start.clone(),
            parents: Vec::new(),
            handoff_to: None,
        });
        row.epoch = row.epoch.max(epoch);
        Ok(row.position.clone())
    }

    async fn request_handoff(
        &self,
        _: &LeaseScope,
        worker: &Worker,
        shard_id: &str,
        epoch: u64,
    ) -> Result<(), DestinationError> {
        if let Some(row) = self.state().shards.get_mut(shard_id)
            && row.epoch == epoch
            && row.owner.is_some()
            && row.owner.as_deref() != Some(&worker.id)
        {
            row.handoff_to = Some(worker.id.clone());
        }
        Ok(())
    }

    async fn release(
        &self,
        _: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
    ) -> Result<(), DestinationError> {
        let mut state = self.state();
        let now = Instant::now();
        for held in shards {
            if let Some(row) = state.shards.get_mut(&held.key)
                && row.owner.as_deref() == Some(&worker.id)
                && row.epoch == held.epoch
            {
                row.owner = None;
                row.expires = now;
                row.handoff_to = None;
            }
        }
        for held in jobs {
            if let Some(job) = state.jobs.get_mut(&held.key)
                && job.owner.as_deref() == Some(&worker.id)
                && job.epoch == held.epoch
            {
                job.owner = None;
                job.expires = now;
            }
        }
        Ok(())
    }

    async fn reclaim(&self, _: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        let mut state = self.state();
        let now = Instant::now();
        for row in state.shards.values_mut() {
            if row.owner.as_deref().is_some_and(|o| o != worker.id) {
                row.owner = None;
                row.expires = now;
            }
        }
        state.workers.retain(|id, _| *id == worker.id);
        Ok(())
    }

    async fn leave(&self, _: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        self.state().workers.remove(&worker.id);
        Ok(())
    }

    async fn acquire_job(
        &self,
        _: &LeaseScope,
        worker: &Worker,
        job: &str,
        due_after: Duration,
        ttl: Duration,
    ) -> Result<Option<JobGrant>, DestinationError> {
        let mut state = self.state();
        let now = Instant::now();
        let entry = state.jobs.entry(job.to_string()).or_insert(Job {
            owner: None,
            epoch: 0,
            expires: now,
            started: None,
            finished: None,
        });
        let free = entry.owner.is_none() || entry.expires <= now;
        let due = entry
            .finished
            .is_none_or(|finished| finished + due_after <= now);
        if !(free && due) {
            return Ok(None);
        }
        entry.owner = Some(worker.id.clone());
        entry.epoch += 1;
        entry.expires = now + ttl;
        Ok(Some(JobGrant {
            epoch: entry.epoch,
            last_started: entry.started,
            last_finished: entry.finished.map(|_| Utc::now()),
        }))
    }

    async fn record_job(
        &self,
        _: &LeaseScope,
        job: &str,
        epoch: u64,
        started_at: DateTime<Utc>,
        finished: bool,
    ) -> Result<(), DestinationError> {
        if let Some(entry) = self.state().jobs.get_mut(job)
            && entry.epoch == epoch
        {
            entry.started = Some(started_at);
            if finished {
                entry.finished = Some(Instant::now());
            }
        }
        Ok(())
    }

    async fn view(&self, _: &LeaseScope) -> Result<FleetView, DestinationError> {
        Ok(Self::view_of(&self.state()))
    }
}
