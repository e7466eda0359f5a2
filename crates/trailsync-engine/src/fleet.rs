//! This worker's place in a fleet: its heartbeat, the leases it holds, and what it sees of the
//! others (see [`trailsync_core::Leases`] for how leases fence writes).
//!
//! A background task renews the worker and its leases every [`HEARTBEAT`] (they expire after
//! [`LEASE_TTL`] unrenewed) and publishes the fleet as stored. The stream's coordinator reads
//! that view to take free shards and balance ([`balance`]); jobs (the full sync,
//! reconciliation) are taken with [`Fleet::job`] and run by one worker at a time. A fleet of one
//! is the common case (and the only one on SQLite): the same code, with nobody to share with.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use trailsync_core::{
    Destination, DestinationError, FleetView, Grant, Held, JobGrant, LeaseScope, Position,
    ShardClaim, ShardLease, Worker,
};

/// How often a worker renews its leases and looks at the fleet.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a lease lasts unrenewed: a killed worker's shards are taken over after this.
pub const LEASE_TTL: Duration = Duration::from_secs(10);

/// What this worker holds: shard leases (with their readers' lag) and job leases.
#[derive(Debug, Default)]
struct Holdings {
    shards: BTreeMap<String, HeldShard>,
    jobs: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct HeldShard {
    epoch: u64,
    millis_behind: Arc<AtomicI64>,
}

/// Unknown lag, as stored in [`HeldShard::millis_behind`].
const UNKNOWN_LAG: i64 = -1;

/// This worker's membership in the fleet of one source and stream.
pub struct Fleet {
    store: Arc<dyn Destination>,
    scope: LeaseScope,
    worker: Worker,
    holdings: Mutex<Holdings>,
    view: watch::Sender<FleetView>,
    /// True while heartbeats have failed for longer than a lease lasts.
    lapsed: watch::Sender<bool>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("scope", &self.scope)
            .field("worker", &self.worker.id)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Joins the fleet: registers the worker with a first heartbeat. `alone`: this process has
    /// the database to itself (SQLite, locked), so leases of earlier processes are free at once
    /// rather than when they expire.
    pub async fn join(
        store: Arc<dyn Destination>,
        scope: LeaseScope,
        worker: Worker,
        alone: bool,
    ) -> Result<Arc<Fleet>, DestinationError> {
        if alone {
            store.reclaim(&scope, &worker).await?;
        }
        let view = store
            .heartbeat(&scope, &worker, &[], &[], LEASE_TTL)
            .await?;
        tracing::info!(
            worker = %worker.id,
            workers = view.live_workers(),
            "joined the fleet"
        );
        Ok(Arc::new(Fleet {
            store,
            scope,
            worker,
            holdings: Mutex::new(Holdings::default()),
            view: watch::Sender::new(view),
            lapsed: watch::Sender::new(false),
        }))
    }

    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// The fleet as last seen; changes after every heartbeat.
    pub fn watch(&self) -> watch::Receiver<FleetView> {
        self.view.subscribe()
    }

    /// Whether heartbeats have failed for longer than a lease lasts (the shards held may be
    /// another worker's by now); changes when that starts or ends.
    pub fn lapsed(&self) -> watch::Receiver<bool> {
        self.lapsed.subscribe()
    }

    /// Live workers as last seen (at least one: this one).
    pub fn size(&self) -> usize {
        self.view.borrow().live_workers()
    }

    fn holdings(&self) -> std::sync::MutexGuard<'_, Holdings> {
        // The map stays consistent if a holder panicked mid-update: every change is one insert
        // or remove.
        self.holdings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn held(&self) -> (Vec<Held>, Vec<Held>) {
        let holdings = self.holdings();
        let shards = holdings
            .shards
            .iter()
            .map(|(key, held)| {
                let lag = held.millis_behind.load(Ordering::Relaxed);
                Held {
                    key: key.clone(),
                    epoch: held.epoch,
                    millis_behind: (lag != UNKNOWN_LAG).then_some(lag),
                }
            })
            .collect();
        let jobs = holdings
            .jobs
            .iter()
            .map(|(key, epoch)| Held {
                key: key.clone(),
                epoch: *epoch,
                millis_behind: None,
            })
            .collect();
        (shards, jobs)
    }

    /// Renews what this worker holds and publishes the fleet as stored.
    pub async fn beat(&self) -> Result<(), DestinationError> {
        let (shards, jobs) = self.held();
        let view = self
            .store
            .heartbeat(&self.scope, &self.worker, &shards, &jobs, LEASE_TTL)
            .await?;
        self.view.send_replace(view);
        Ok(())
    }

    /// Beats every [`HEARTBEAT`] until `stop`. While the destination cannot be reached the
    /// leases are not renewed; after [`LEASE_TTL`] without a beat, [`Fleet::lapsed`] turns
    /// true: the shards may be another worker's by now.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let lapsed = &self.lapsed;
        let mut ticker = tokio::time::interval(HEARTBEAT);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_beat = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match self.beat().await {
                Ok(()) => {
                    last_beat = Instant::now();
                    lapsed.send_if_modified(|l| std::mem::replace(l, false));
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot renew leases");
                    if last_beat.elapsed() >= LEASE_TTL {
                        lapsed.send_if_modified(|l| !std::mem::replace(l, true));
                    }
                }
            }
        }
    }

    /// Takes the lease of `shard` (see [`trailsync_core::Leases::acquire`]); the returned lag
    /// cell is what the heartbeat reports for it.
    pub async fn acquire_shard(
        &self,
        shard: &str,
        parents: &[String],
        seen: Option<&ShardLease>,
        start: &Position,
    ) -> Result<Option<(Grant, Arc<AtomicI64>)>, DestinationError> {
        let grant = self
            .store
            .acquire(
                &self.scope,
                &self.worker,
                ShardClaim {
                    shard_id: shard,
                    parents,
                    seen_epoch: seen.map(|s| s.epoch),
                    start,
                },
                LEASE_TTL,
            )
            .await?;
        Ok(grant.map(|grant| {
            let lag = Arc::new(AtomicI64::new(UNKNOWN_LAG));
            self.holdings().shards.insert(
                shard.to_string(),
                HeldShard {
                    epoch: grant.epoch,
                    millis_behind: lag.clone(),
                },
            );
            (grant, lag)
        }))
    }

    /// The epoch this worker holds `shard` at, if it does.
    pub fn epoch_of(&self, shard: &str) -> Option<u64> {
        self.holdings().shards.get(shard).map(|h| h.epoch)
    }

    /// The shards this worker holds.
    pub fn held_shards(&self) -> Vec<String> {
        self.holdings().shards.keys().cloned().collect()
    }

    /// Forgets a shard lease another worker took (nothing to release).
    pub fn lost(&self, shard: &str) {
        self.holdings().shards.remove(shard);
    }

    /// Gives a shard lease up so that another worker can take it at once.
    pub async fn release_shard(&self, shard: &str) -> Result<(), DestinationError> {
        let Some(held) = self.holdings().shards.remove(shard) else {
            return Ok(());
        };
        let held = Held {
            key: shard.to_string(),
            epoch: held.epoch,
            millis_behind: None,
        };
        self.store
            .release(&self.scope, &self.worker, &[held], &[])
            .await
    }

    /// Asks the owner of `lease` to hand it over.
    pub async fn request_handoff(&self, lease: &ShardLease) -> Result<(), DestinationError> {
        self.store
            .request_handoff(&self.scope, &self.worker, &lease.shard_id, lease.epoch)
            .await
    }

    /// Takes the lease of `name` if it is free and last finished at least `due_after` ago; the
    /// job is this worker's until [`Job::finish`] or [`Job::abandon`].
    pub async fn job(
        self: &Arc<Self>,
        name: &'static str,
        due_after: Duration,
    ) -> Result<Option<Job>, DestinationError> {
        let grant = self
            .store
            .acquire_job(&self.scope, &self.worker, name, due_after, LEASE_TTL)
            .await?;
        Ok(grant.map(|grant| {
            self.holdings().jobs.insert(name.to_string(), grant.epoch);
            Job {
                fleet: self.clone(),
                name,
                grant,
            }
        }))
    }

    /// Releases every lease and leaves the fleet: other workers take the shards at their next
    /// heartbeat.
    pub async fn leave(&self) -> Result<(), DestinationError> {
        let (shards, jobs) = self.held();
        {
            let mut holdings = self.holdings();
            holdings.shards.clear();
            holdings.jobs.clear();
        }
        self.store
            .release(&self.scope, &self.worker, &shards, &jobs)
            .await?;
        self.store.leave(&self.scope, &self.worker).await?;
        tracing::info!(worker = %self.worker.id, released = shards.len(), "left the fleet");
        Ok(())
    }
}

/// A job lease held by this worker.
#[derive(Debug)]
pub struct Job {
    fleet: Arc<Fleet>,
    name: &'static str,
    grant: JobGrant,
}

impl Job {
    /// When the job last ran, as the fleet recorded it.
    pub fn last_run(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (self.grant.last_started, self.grant.last_finished)
    }

    /// Records that this run began at `at` (for a full sync: where other workers start new
    /// shards while it runs).
    pub async fn started(&self, at: DateTime<Utc>) -> Result<(), DestinationError> {
        let fleet = &self.fleet;
        fleet
            .store
            .record_job(&fleet.scope, self.name, self.grant.epoch, at, false)
            .await
    }

    /// Records a completed run that began at `started`, and releases the lease.
    pub async fn finish(self, started: DateTime<Utc>) -> Result<(), DestinationError> {
        let fleet = &self.fleet;
        fleet
            .store
            .record_job(&fleet.scope, self.name, self.grant.epoch, started, true)
            .await?;
        self.abandon().await
    }

    /// Releases the lease without recording a completed run.
    pub async fn abandon(self) -> Result<(), DestinationError> {
        let fleet = &self.fleet;
        fleet.holdings().jobs.remove(self.name);
        let held = Held {
            key: self.name.to_string(),
            epoch: self.grant.epoch,
            millis_behind: None,
        };
        fleet
            .store
            .release(&fleet.scope, &fleet.worker, &[], &[held])
            .await
    }
}

/// What a worker should do about shard leases, given the fleet as stored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moves {
    /// Free leases of readable shards to take (as seen; `None`: not stored yet).
    pub take: Vec<String>,
    /// A lease to ask another worker for (fleet out of balance, nothing free).
    pub ask: Option<String>,
    /// Leases of this worker to hand over (another asked, and this worker holds more).
    pub hand_over: Vec<String>,
}

/// Balances shard leases: each live worker holds about `readable / workers`. `readable` are the
/// shards that may be read now (parents finished), not finished themselves; `mine` those this
/// worker holds. A worker takes free ones up to its share (rounded up); with none free and at
/// least two fewer than the busiest worker, it asks that worker for one; a worker asked for a
/// lease hands it over if it holds at least two more than the asker. So the fleet settles with
/// no two workers more than one apart, and never passes a lease back and forth.
pub fn balance(view: &FleetView, me: &str, readable: &[String], mine: &[String]) -> Moves {
    let workers = view.live_workers();
    let share = readable.len().div_ceil(workers);
    let lease = |shard: &str| view.shards.iter().find(|l| l.shard_id == shard);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &view.shards {
        if let Some(owner) = l.owner.as_deref().filter(|_| !l.is_free())
            && readable.contains(&l.shard_id)
        {
            *counts.entry(owner).or_default() += 1;
        }
    }
    let held = mine.len();
    let mut moves = Moves::default();
    if held < share {
        moves.take = readable
            .iter()
            .filter(|shard| !mine.contains(shard))
            .filter(|shard| lease(shard).is_none_or(ShardLease::is_free))
            .take(share - held)
            .cloned()
            .collect();
        if moves.take.is_empty()
            && let Some((busiest, most)) = counts
                .iter()
                .filter(|(owner, _)| **owner != me)
                .max_by_key(|(owner, n)| (**n, std::cmp::Reverse(**owner)))
            && *most >= held + 2
        {
            moves.ask = view
                .shards
                .iter()
                .filter(|l| l.owner.as_deref() == Some(*busiest) && l.handoff_to.is_none())
                .find(|l| readable.contains(&l.shard_id))
                .map(|l| l.shard_id.clone());
        }
    }
    for shard in mine {
        let Some(asker) = lease(shard).and_then(|l| l.handoff_to.as_deref()) else {
            continue;
        };
        let theirs = counts.get(asker).copied().unwrap_or(0);
        let remaining = held - moves.hand_over.len();
        if remaining >= theirs + 2 {
            moves.hand_over.push(shard.clone());
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailsync_core::WorkerLease;

    fn worker(id: &str) -> WorkerLease {
        WorkerLease {
            id: id.into(),
            host: "h".into(),
            pid: 1,
            started_at: DateTime::<Utc>::default(),
            expires_in_ms: 5_000,
        }
    }

    fn lease(shard: &str, owner: Option<&str>, handoff: Option<&str>) -> ShardLease {
        ShardLease {
            shard_id: shard.into(),
            owner: owner.map(String::from),
            epoch: 1,
            expires_in_ms: if owner.is_some() { 5_000 } else { 0 },
            position: Position::TrimHorizon,
            parents: Vec::new(),
            millis_behind: None,
            handoff_to: handoff.map(String::from),
            updated_at: None,
        }
    }

    fn shards(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("s{i}")).collect()
    }

    /// Runs the fleet until nothing moves: every worker takes, asks and hands over as
    /// [`balance`] says, in turn. Returns each worker's count.
    fn settle(
        workers: &[&str],
        readable: &[String],
        mut owners: Vec<Option<String>>,
    ) -> Vec<usize> {
        let mut handoffs: Vec<Option<String>> = vec![None; readable.len()];
        for _round in 0..50 {
            let mut moved = false;
            for me in workers {
                let view = FleetView {
                    shards: readable
                        .iter()
                        .enumerate()
                        .map(|(i, s)| lease(s, owners[i].as_deref(), handoffs[i].as_deref()))
                        .collect(),
                    workers: workers.iter().map(|w| worker(w)).collect(),
                    jobs: Vec::new(),
                };
                let mine: Vec<String> = readable
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| owners[*i].as_deref() == Some(*me))
                    .map(|(_, s)| s.clone())
                    .collect();
                let moves = balance(&view, me, readable, &mine);
                for shard in moves.take.iter().chain(&moves.hand_over) {
                    let i = readable.iter().position(|s| s == shard).expect("known");
                    owners[i] = moves.take.contains(shard).then(|| me.to_string());
                    handoffs[i] = None;
                    moved = true;
                }
                if let Some(shard) = moves.ask {
                    let i = readable.iter().position(|s| *s == shard).expect("known");
                    if handoffs[i].is_none() {
                        handoffs[i] = Some(me.to_string());
                        moved = true;
                    }
                }
            }
            if !moved {
                return workers
                    .iter()
                    .map(|w| owners.iter().filter(|o| o.as_deref() == Some(*w)).count())
                    .collect();
            }
        }
        panic!("the fleet never settled: {owners:?}");
    }

    #[test]
    fn workers_settle_within_one_of_each_other_and_stop_moving() {
        let four = shards(4);
        assert_eq!(settle(&["a"], &four, vec![None; 4]), [4]);
        let all_a = vec![Some("a".to_string()); 4];
        let mut counts = settle(&["a", "b", "c"], &four, all_a.clone());
        counts.sort();
        assert_eq!(counts, [1, 1, 2]);
        assert_eq!(settle(&["a", "b"], &four, all_a), [2, 2]);
        let mut counts = settle(&["a", "b", "c"], &shards(10), vec![None; 10]);
        counts.sort();
        assert_eq!(counts, [3, 3, 4]);
        // More workers than shards: some idle, none holding two.
        let counts = settle(&["a", "b", "c"], &shards(2), vec![None; 2]);
        assert!(counts.iter().all(|n| *n <= 1), "{counts:?}");
    }

    #[test]
    fn a_worker_takes_no_more_than_its_share_of_free_leases() {
        let readable = shards(4);
        let view = FleetView {
            shards: Vec::new(),
            workers: vec![worker("a"), worker("b")],
            jobs: Vec::new(),
        };
        let moves = balance(&view, "a", &readable, &[]);
        assert_eq!(moves.take, ["s0", "s1"]);
        assert_eq!(moves.ask, None);
    }
}
