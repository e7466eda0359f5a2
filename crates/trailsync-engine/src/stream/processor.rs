//! The processor: one task turning records into committed writes and checkpoints.
//!
//! Records are routed as they arrive and their work joins the [`Window`]; work that is due is
//! fetched at once, in one batched call per (table, location), each call a task of its own so
//! that a slow or failing fetch holds back nothing but its own records. Each answer is
//! [settled](super::settle) and committed in one transaction with the checkpoints of every
//! record now fully applied. Work that failed for a reason that passes waits and goes again
//! (backing off); work that can never succeed is recorded in `trailsync_skipped`. Either way no
//! checkpoint passes a record before its changes are written or recorded.
//!
//! Reconciliation listings are written here too, in order with the stream's writes, so that a
//! listing never undoes a newer change.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use trailsync_catalog::Table;
use trailsync_core::{
    Checkpoint, Destination, FetchErrorKind, Fetched, Inventory, Location, Position, Trigger,
    WriteBatch,
};

use super::commit::{commit, retrying};
use super::journal::Journal;
use super::ledger::{Advance, Ledger};
use super::messages::{Input, Reconcile, ShardEvent};
use super::retry;
use super::route::{Router, id_of, location_filter};
use super::settle::{Again, Answer, Job, settle};
use super::window::{Claim, Window};
use super::{RetryPolicy, RunError};
use crate::{Stats, SyncPlan};

/// How long shutdown may spend committing work in flight; the rest is read again on restart.
pub(super) const DRAIN_BUDGET: Duration = Duration::from_secs(6);

/// Records that caused no work are checkpointed at most this long after they arrive.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Reading pauses while this many records wait for their work (back-pressure): memory stays
/// bounded whatever AWS or the destination do, and nothing is dropped.
const MAX_RECORDS_IN_FLIGHT: usize = 20_000;
/// ... or while this many resources wait for a fetch.
const MAX_KEYS_WAITING: usize = 10_000;

/// The processor's parts; see the module docs.
pub(super) struct Processor {
    plan: Arc<SyncPlan>,
    inventory: Arc<dyn Inventory>,
    destination: Arc<dyn Destination>,
    stats: Arc<Stats>,
    stream_arn: String,
    ledger: Ledger,
    window: Window,
    router: Router,
    journal: Journal,
    /// Fetches running, one task each.
    jobs: JoinSet<Answer>,
    /// At most `plan.concurrency` of them call AWS at once.
    permits: Arc<Semaphore>,
    /// Backoff of fetches that failed for a reason that passes.
    retry: RetryPolicy,
    /// When records with nothing left to wait for are checkpointed, if any are.
    flush_at: Option<Instant>,
    /// Shards drained, released or lost, for the coordinator.
    events: mpsc::UnboundedSender<ShardEvent>,
}

impl Processor {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        plan: Arc<SyncPlan>,
        inventory: Arc<dyn Inventory>,
        destination: Arc<dyn Destination>,
        stats: Arc<Stats>,
        stream_arn: String,
        coalesce_window: Duration,
        retry: RetryPolicy,
        events: mpsc::UnboundedSender<ShardEvent>,
    ) -> Processor {
        Processor {
            router: Router::new(plan.clone(), stats.clone()),
            permits: Arc::new(Semaphore::new(plan.concurrency.max(1))),
            plan,
            inventory,
            destination,
            stats,
            stream_arn,
            ledger: Ledger::default(),
            window: Window::new(coalesce_window),
            journal: Journal::default(),
            jobs: JoinSet::new(),
            retry,
            flush_at: None,
            events,
        }
    }

    /// Runs until the readers are gone and the work in flight is committed (or, once `stop`
    /// fired, until [`DRAIN_BUDGET`] is spent). A destination that refuses a batch, or a fetch
    /// that panics, ends it: no progress is possible.
    pub(super) async fn run(
        mut self,
        mut input: mpsc::Receiver<Input>,
        mut reconcile: mpsc::Receiver<Reconcile>,
        stop: CancellationToken,
    ) -> Result<(), RunError> {
        let mut drain_until: Option<Instant> = None;
        let (mut input_open, mut reconcile_open) = (true, true);
        loop {
            let now = Instant::now();
            self.dispatch(now);
            if !input_open && self.jobs.is_empty() {
                break;
            }
            if drain_until.is_some_and(|until| now >= until) {
                tracing::warn!(
                    fetches = self.jobs.len(),
                    "work in flight not committed in time; its records are read again on restart"
                );
                self.jobs.abort_all();
                break;
            }
            let accepting = input_open
                && self.ledger.outstanding() < MAX_RECORDS_IN_FLIGHT
                && self.window.waiting() < MAX_KEYS_WAITING;
            let wake = [self.window.next_due(now), self.flush_at, drain_until]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                _ = stop.cancelled(), if drain_until.is_none() => {
                    drain_until = Some(now + DRAIN_BUDGET);
                    // Records not yet absorbed are simply not checkpointed: read again later.
                    input.close();
                    input_open = false;
                    tracing::info!(
                        records_in_flight = self.ledger.outstanding(),
                        fetches = self.jobs.len(),
                        "stopping: committing the work in flight"
                    );
                }
                message = input.recv(), if accepting => match message {
                    Some(message) => self.absorb(message, now),
                    None => input_open = false,
                },
                message = reconcile.recv(), if reconcile_open && drain_until.is_none() => match message {
                    Some(message) => self.reconcile(message, &stop).await?,
                    None => reconcile_open = false,
                },
                Some(joined) = self.jobs.join_next(), if !self.jobs.is_empty() => {
                    let answer = joined.map_err(|e| RunError::panicked("a fetch", &e))?;
                    self.apply(answer, &stop).await?;
                }
                _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {
                    if self.flush_at.is_some_and(|at| at <= Instant::now()) {
                        self.commit_with_checkpoints(self.plan.batch(now_micros(), Trigger::Event), &stop).await?;
                    }
                }
            }
        }
        // Whatever is applied is checkpointed before leaving.
        if self.ledger.ready() {
            let batch = self.plan.batch(now_micros(), Trigger::Event);
            self.commit_with_checkpoints(batch, &stop).await?;
        }
        Ok(())
    }

    /// Registers records and the work they ask for.
    fn absorb(&mut self, input: Input, now: Instant) {
        match input {
            Input::Records {
                shard,
                epoch,
                records,
            } => {
                for record in records {
                    let sequence_number = record.sequence_number.clone();
                    let Some(ticket) = self.ledger.record(&shard, epoch, sequence_number) else {
                        tracing::debug!(%shard, epoch, "records of a lease given up passed over");
                        break;
                    };
                    let work = self.router.route(&record, now);
                    for (key, cause) in work {
                        self.ledger.wait(&ticket);
                        self.window.add(
                            key,
                            Claim {
                                ticket: ticket.clone(),
                                cause: Some(cause),
                            },
                        );
                    }
                }
            }
            Input::End {
                shard,
                epoch,
                final_sequence,
            } => self.ledger.end(&shard, epoch, final_sequence),
            Input::Release { shard } => self.ledger.release(&shard),
            Input::Forget { shard } => self.forget(&shard),
        }
        if self.flush_at.is_none() && self.ledger.ready() {
            self.flush_at = Some(now + CHECKPOINT_EVERY);
        }
    }

    /// Starts a fetch for every (table, location) with work due.
    fn dispatch(&mut self, now: Instant) {
        for ((table, location), group) in self.window.take_due(now) {
            let children = self.plan.children_of(table);
            let inventory = self.inventory.clone();
            let permits = self.permits.clone();
            let stats = self.stats.clone();
            self.jobs.spawn(async move {
                // A closed semaphore cannot happen (it is never closed); fetch anyway.
                let _permit = permits.acquire_owned().await.ok();
                let started = Instant::now();
                let sync_time = now_micros();
                let listed = match group.all {
                    Some(_) => {
                        Stats::add(&stats.fetches, 1);
                        Some(inventory.list(&location, table, &children).await)
                    }
                    None => None,
                };
                let fetched = if group.ids.is_empty() {
                    None
                } else {
                    Stats::add(&stats.fetches, 1);
                    let ids: Vec<String> = group.ids.keys().cloned().collect();
                    Some(inventory.fetch(&location, table, &children, &ids).await)
                };
                Answer {
                    job: Job {
                        table,
                        location,
                        group,
                        started,
                        sync_time,
                    },
                    listed,
                    fetched,
                }
            });
        }
    }

    /// Settles one answer: writes what it read with every checkpoint that completes, puts back
    /// what must be asked again.
    async fn apply(&mut self, answer: Answer, stop: &CancellationToken) -> Result<(), RunError> {
        let now = Instant::now();
        let (table, location) = (answer.job.table, answer.job.location.clone());
        let started = answer.job.started;
        let sync_time = answer.job.sync_time;
        for fetched in [answer.listed.as_ref(), answer.fetched.as_ref()]
            .into_iter()
            .flatten()
        {
            let outcome = match fetched {
                Ok(_) => "ok",
                Err(error) if error.is_transient() => "retry",
                Err(_) => "skipped",
            };
            self.stats.fetch_outcome(table.name, outcome, 1);
        }
        let settlement = settle(answer);
        for key in &settlement.settled {
            self.window.fetched(key, started);
        }
        let mut failing: Option<(String, usize, u32)> = None;
        for (key, claims, again) in settlement.again {
            match again {
                Again::Failed(error) => {
                    Stats::add(&self.stats.fetch_retries, 1);
                    let policy = self.retry;
                    let failures = self
                        .window
                        .failed(&key, claims, now, |n| retry::backoff(policy, n));
                    let (_, keys, most) = failing.get_or_insert((error, 0, 0));
                    *keys += 1;
                    *most = (*most).max(failures);
                }
                Again::Recheck => {
                    Stats::add(&self.stats.not_found_retries, 1);
                    let at = now + self.plan.not_found_retry_delay;
                    self.window.recheck(&key, claims, at);
                }
            }
        }
        if let Some((error, keys, failures)) = failing {
            tracing::warn!(
                table = table.name,
                %location,
                resources = keys,
                failures,
                %error,
                "fetch failed; asking again after a pause (their records are not checkpointed meanwhile)"
            );
        }
        for (table, location, id) in &settlement.touched {
            self.journal.touch(table, location, id, sync_time);
        }
        for claim in &settlement.done {
            self.ledger.done(&claim.ticket);
        }
        let mut batch = self.plan.batch(sync_time, Trigger::Event);
        batch.upserts = settlement.upserts;
        batch.deletes = settlement.deletes;
        batch.skipped = settlement.skipped;
        batch.attribution.events = settlement.attribution.events;
        self.commit_with_checkpoints(batch, stop).await?;

        // A listing of a whole table (a create that named no id) also removes what it did not
        // see there, once its rows are committed; its records are checkpointed after that.
        if settlement.refreshed.is_empty() {
            return Ok(());
        }
        for refreshed in settlement.refreshed {
            if self.plan.delete_stale {
                let filter = location_filter(refreshed.table, &refreshed.location);
                let destination = self.destination.as_ref();
                let source = self.plan.source_name.as_str();
                let n = retrying(stop, || {
                    destination.delete_stale(refreshed.table, source, sync_time, &filter)
                })
                .await
                .map_err(RunError::Destination)?;
                Stats::add(&self.stats.rows_deleted, n);
                if n > 0 {
                    tracing::info!(table = refreshed.table.name, location = %refreshed.location, rows = n, "deleted rows the refresh did not see");
                }
            }
            for claim in &refreshed.claims {
                self.ledger.done(&claim.ticket);
            }
        }
        let batch = self.plan.batch(sync_time, Trigger::Event);
        self.commit_with_checkpoints(batch, stop).await
    }

    /// Adds every checkpoint the ledger allows to `batch`, commits it if it holds anything, and
    /// tells the coordinator which shards are now drained or released. A checkpoint whose lease
    /// another worker took fails the batch: it is written again without that shard, which is
    /// forgotten here (its rows are current state, harmless to write; its new owner reads it
    /// again from the last checkpoint committed).
    async fn commit_with_checkpoints(
        &mut self,
        mut batch: WriteBatch,
        stop: &CancellationToken,
    ) -> Result<(), RunError> {
        self.flush_at = None;
        let Advance {
            checkpoints,
            mut drained,
            mut released,
        } = self.ledger.advance();
        batch.checkpoints.extend(checkpoints.into_iter().map(
            |(shard_id, epoch, sequence_number)| Checkpoint {
                source_name: self.plan.source_name.clone(),
                stream_arn: self.stream_arn.clone(),
                shard_id,
                position: Position::After(sequence_number),
                epoch,
            },
        ));
        while !batch.is_empty() {
            match commit(self.destination.as_ref(), &batch, &self.stats, stop).await {
                Ok(()) => {
                    self.stats
                        .checkpointed(batch.checkpoints.iter().map(|c| c.shard_id.as_str()));
                    break;
                }
                Err(error) => {
                    let Some(lost) = error.lost_lease() else {
                        return Err(RunError::Destination(error));
                    };
                    let (shard, epoch) = (lost.shard_id.clone(), lost.epoch);
                    tracing::info!(%shard, "lease taken over by another worker; leaving the shard to it");
                    batch.checkpoints.retain(|c| c.shard_id != shard);
                    drained.retain(|s| *s != shard);
                    released.retain(|s| *s != shard);
                    self.forget(&shard);
                    let _ = self.events.send(ShardEvent::Lost { shard, epoch });
                }
            }
        }
        // The coordinator may be gone at shutdown; the checkpoint is what matters.
        for shard in drained {
            let _ = self.events.send(ShardEvent::Drained(shard));
        }
        for shard in released {
            let _ = self.events.send(ShardEvent::Released(shard));
        }
        Ok(())
    }

    /// A shard whose lease is lost: none of its records will be checkpointed here.
    fn forget(&mut self, shard: &str) {
        self.ledger.forget(shard);
        self.router.forget_seen();
    }

    async fn reconcile(
        &mut self,
        message: Reconcile,
        stop: &CancellationToken,
    ) -> Result<(), RunError> {
        match message {
            Reconcile::Start { table, ack } => {
                let since = now_micros();
                self.journal.open(table, since);
                let _ = ack.send(since);
                Ok(())
            }
            Reconcile::Done {
                table,
                sync_time,
                listings,
            } => self.write_listing(table, sync_time, listings, stop).await,
        }
    }

    /// Writes a reconciliation listing (but not what the stream wrote since it began), then
    /// removes this source's rows no complete listing saw.
    async fn write_listing(
        &mut self,
        table: &'static Table,
        sync_time: DateTime<Utc>,
        listings: Vec<(Location, Result<Fetched, trailsync_core::FetchError>)>,
        stop: &CancellationToken,
    ) -> Result<(), RunError> {
        let touched = self.journal.close(table);
        let mut complete = true;
        let mut resources = Vec::new();
        for (location, listing) in listings {
            match listing {
                Ok(listed) => {
                    if !listed.is_complete() {
                        complete = false;
                        for (id, error) in &listed.failed {
                            tracing::warn!(table = table.name, %location, %id, %error, "reconciliation could not read this resource; it is left as it was");
                        }
                    }
                    resources.extend(listed.resources.into_iter().filter(|r| {
                        // The stream wrote these after the listing began: its rows are newer.
                        id_of(table, r).is_none_or(|id| !touched.contains(&(location.clone(), id)))
                    }));
                }
                // Tables without a reader in this build were reported at start.
                Err(error) if error.kind() == FetchErrorKind::Unsupported => complete = false,
                Err(error) => {
                    complete = false;
                    tracing::warn!(table = table.name, %location, %error, "reconciliation listing failed; rows left as they were");
                }
            }
        }
        let written = resources.len();
        let mut resources = resources.into_iter().peekable();
        while resources.peek().is_some() {
            let mut batch = self.plan.batch(sync_time, Trigger::Reconcile);
            batch.upserts = resources
                .by_ref()
                .take(self.plan.batch_size.max(1))
                .collect();
            commit(self.destination.as_ref(), &batch, &self.stats, stop)
                .await
                .map_err(RunError::Destination)?;
        }
        let mut stale = 0;
        if complete && self.plan.delete_stale {
            let destination = self.destination.as_ref();
            let source = self.plan.source_name.as_str();
            for t in std::iter::once(table).chain(self.plan.children_of(table)) {
                stale += retrying(stop, || destination.delete_stale(t, source, sync_time, &[]))
                    .await
                    .map_err(RunError::Destination)?;
            }
            Stats::add(&self.stats.rows_deleted, stale);
        }
        Stats::add(&self.stats.reconciliations, 1);
        tracing::info!(
            table = table.name,
            resources = written,
            stale_deleted = stale,
            complete,
            "reconciled"
        );
        Ok(())
    }
}

/// Now, to the microsecond both databases keep.
fn now_micros() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
