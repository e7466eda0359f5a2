//! The processor: one task turning records into committed writes and checkpoints.
//!
//! Records are routed as they arrive and their work joins the open [`Window`]; when it closes,
//! the work is fetched in one batched call per (table, location) and committed in one
//! transaction with the checkpoints of every record now fully applied. Ids AWS did not return
//! wait in a delay queue for one more try (eventual consistency) without holding anything else
//! back: only their own records' checkpoints wait. Reconciliation listings are written here too,
//! in order with the stream's writes, so that a listing never undoes a newer change.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use trailsync_catalog::{Resource, Table};
use trailsync_core::{
    Checkpoint, Destination, DestinationError, FetchError, FetchErrorKind, Inventory, Location,
    Position, Record, SequenceNumber, WriteBatch,
};

use super::apply::{deletion, id_of, location_filter, route_record, top_level};
use super::ledger::{Advance, Ledger, Ticket};
use super::window::{Group, Window, group};
use crate::{Stats, SyncPlan};

/// What the shard readers send.
#[derive(Debug)]
pub(super) enum Input {
    Records {
        shard: Arc<str>,
        records: Vec<Record>,
    },
    /// The reader reached the end of its closed shard; `final_sequence` marks it finished.
    End {
        shard: Arc<str>,
        final_sequence: Option<SequenceNumber>,
    },
}

/// What the reconciliation task sends.
#[derive(Debug)]
pub(super) enum Reconcile {
    /// `table` is about to be listed: from now on the ids the stream writes are journaled (the
    /// listing may predate them), and the answer is the sync time the listing's rows get.
    Start {
        table: &'static Table,
        ack: oneshot::Sender<DateTime<Utc>>,
    },
    /// The listing of `table` at every location.
    Done {
        table: &'static Table,
        sync_time: DateTime<Utc>,
        listings: Vec<(Location, Result<Vec<Resource>, FetchError>)>,
    },
}

/// How long shutdown may spend committing work in flight; the rest is read again on restart.
pub(super) const DRAIN_BUDGET: Duration = Duration::from_secs(6);

/// Ids AWS did not return, asked once more when due.
#[derive(Debug)]
struct Delayed {
    due: Instant,
    table: &'static Table,
    location: Location,
    id: String,
    tickets: Vec<Ticket>,
}

/// One batched fetch: ids of one table at one location, and/or a listing of the table there.
#[derive(Debug)]
struct Job {
    table: &'static Table,
    location: Location,
    group: Group,
    /// Ids here were missing once already: missing again means deleted.
    retry: bool,
}

struct Fetched {
    job: Job,
    listed: Option<Result<Vec<Resource>, FetchError>>,
    fetched: Option<Result<Vec<Resource>, FetchError>>,
}

pub(super) struct Processor {
    plan: Arc<SyncPlan>,
    inventory: Arc<dyn Inventory>,
    destination: Arc<dyn Destination>,
    stats: Arc<Stats>,
    stream_arn: String,
    coalesce_window: Duration,
    ledger: Ledger,
    window: Window,
    delayed: VecDeque<Delayed>,
    /// Per table being reconciled: (location, id) the stream wrote or deleted since it started.
    journal: HashMap<&'static str, HashSet<(Location, String)>>,
    /// Shards drained and committed, for the coordinator to start their children.
    drained: mpsc::UnboundedSender<String>,
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
        drained: mpsc::UnboundedSender<String>,
    ) -> Processor {
        Processor {
            plan,
            inventory,
            destination,
            stats,
            stream_arn,
            coalesce_window,
            ledger: Ledger::default(),
            window: Window::default(),
            delayed: VecDeque::new(),
            journal: HashMap::new(),
            drained,
        }
    }

    /// Runs until the readers are gone and the work in flight is committed (or, once `stop`
    /// fired, until [`DRAIN_BUDGET`] is spent). A destination error after its own retries ends
    /// it: nothing more could be stored.
    pub(super) async fn run(
        mut self,
        mut input: mpsc::Receiver<Input>,
        mut reconcile: mpsc::Receiver<Reconcile>,
        stop: CancellationToken,
    ) -> Result<(), DestinationError> {
        let mut drain_until: Option<Instant> = None;
        let (mut input_open, mut reconcile_open) = (true, true);
        loop {
            let due = self.next_due(drain_until);
            if !input_open && due.is_none() {
                break;
            }
            tokio::select! {
                _ = stop.cancelled(), if drain_until.is_none() => {
                    drain_until = Some(Instant::now() + DRAIN_BUDGET);
                    tracing::info!(
                        records_in_flight = self.ledger.outstanding(),
                        "stopping: committing the work in flight"
                    );
                }
                message = input.recv(), if input_open => match message {
                    Some(message) => self.absorb(message),
                    None => input_open = false,
                },
                message = reconcile.recv(), if reconcile_open && drain_until.is_none() => match message {
                    Some(message) => self.reconcile(message, &stop).await?,
                    None => reconcile_open = false,
                },
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.flush(&stop).await?;
                }
            }
        }
        if !self.delayed.is_empty() {
            tracing::info!(
                ids = self.delayed.len(),
                "stopped before re-checking some missing resources; their records are read again on restart"
            );
        }
        Ok(())
    }

    /// When the next flush is due: the window's close (at once while draining), or the first
    /// delayed retry (skipped while draining if it falls after the budget).
    fn next_due(&self, drain_until: Option<Instant>) -> Option<Instant> {
        let window = self.window.closes().map(|closes| match drain_until {
            Some(_) => Instant::now(),
            None => closes,
        });
        let retry = self
            .delayed
            .front()
            .map(|d| d.due)
            .filter(|due| drain_until.is_none_or(|until| *due <= until));
        match (window, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Registers records and their work; the window closes `coalesce_window` after it opened.
    fn absorb(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Records { shard, records } => {
                for record in records {
                    let work = route_record(&self.plan, &self.stats, &record);
                    let ticket = self.ledger.record(&shard, record.sequence_number);
                    for key in work {
                        self.ledger.wait(&ticket);
                        self.window
                            .add(key, ticket.clone(), now, self.coalesce_window);
                    }
                }
            }
            Input::End {
                shard,
                final_sequence,
            } => self.ledger.end(&shard, final_sequence),
        }
        // Even without work, the records' checkpoints are committed when the window closes.
        self.window.open(now, self.coalesce_window);
    }

    /// Fetches everything due, then commits the writes with every checkpoint they complete.
    async fn flush(&mut self, stop: &CancellationToken) -> Result<(), DestinationError> {
        let now = Instant::now();
        let mut jobs = Vec::new();
        for ((name, location), group) in group(self.window.take()) {
            let Some(table) = top_level(&self.plan, name) else {
                continue;
            };
            jobs.push(Job {
                table,
                location,
                group,
                retry: false,
            });
        }
        let mut retries: BTreeMap<(&'static str, Location), Job> = BTreeMap::new();
        while self.delayed.front().is_some_and(|d| d.due <= now) {
            let Some(delayed) = self.delayed.pop_front() else {
                break;
            };
            retries
                .entry((delayed.table.name, delayed.location.clone()))
                .or_insert_with(|| Job {
                    table: delayed.table,
                    location: delayed.location,
                    group: Group::default(),
                    retry: true,
                })
                .group
                .ids
                .entry(delayed.id)
                .or_default()
                .extend(delayed.tickets);
        }
        jobs.extend(retries.into_values());

        let concurrency = self.plan.concurrency.max(1);
        let fetched: Vec<Fetched> = {
            let this = &*self;
            futures::stream::iter(jobs)
                .map(|job| this.fetch(job))
                .buffer_unordered(concurrency)
                .collect()
                .await
        };

        let sync_time = Utc::now().trunc_subsecs(6);
        let mut batch = WriteBatch::new(self.plan.source_name.clone(), sync_time);
        let mut refreshed = Vec::new();
        for outcome in fetched {
            self.settle(outcome, &mut batch, &mut refreshed, now);
        }
        self.commit_with_checkpoints(batch, stop).await?;

        // A listing of a whole table (a create that named no id) also removes what it did not
        // see there, once its rows are committed; its records are checkpointed after that.
        if !refreshed.is_empty() {
            for (table, location, tickets) in refreshed {
                if self.plan.delete_stale {
                    let filter = location_filter(table, &location);
                    let destination = self.destination.as_ref();
                    let source = self.plan.source_name.as_str();
                    let n = retrying(stop, || {
                        destination.delete_stale(table, source, sync_time, &filter)
                    })
                    .await?;
                    Stats::add(&self.stats.rows_deleted, n);
                    if n > 0 {
                        tracing::info!(table = table.name, %location, rows = n, "deleted rows the refresh did not see");
                    }
                }
                for ticket in &tickets {
                    self.ledger.done(ticket);
                }
            }
            let batch = WriteBatch::new(self.plan.source_name.clone(), sync_time);
            self.commit_with_checkpoints(batch, stop).await?;
        }
        Ok(())
    }

    /// One job's AWS calls.
    async fn fetch(&self, job: Job) -> Fetched {
        let children = self.plan.children_of(job.table);
        let listed = match job.group.all {
            Some(_) => {
                Stats::add(&self.stats.fetches, 1);
                Some(
                    self.inventory
                        .list(&job.location, job.table, &children)
                        .await,
                )
            }
            None => None,
        };
        let fetched = if job.group.ids.is_empty() {
            None
        } else {
            Stats::add(&self.stats.fetches, 1);
            let ids: Vec<String> = job.group.ids.keys().cloned().collect();
            Some(
                self.inventory
                    .fetch(&job.location, job.table, &children, &ids)
                    .await,
            )
        };
        Fetched {
            job,
            listed,
            fetched,
        }
    }

    /// Turns one job's answers into writes, delayed retries and finished tickets.
    fn settle(
        &mut self,
        outcome: Fetched,
        batch: &mut WriteBatch,
        refreshed: &mut Vec<(&'static Table, Location, Vec<Ticket>)>,
        now: Instant,
    ) {
        let Fetched {
            job,
            listed,
            fetched,
        } = outcome;
        let Job {
            table,
            location,
            group,
            retry,
        } = job;
        if let (Some(tickets), Some(listed)) = (group.all, listed) {
            match listed {
                Ok(resources) => {
                    self.journal_resources(table, &location, &resources);
                    batch.upserts.extend(resources);
                    refreshed.push((table, location.clone(), tickets));
                }
                Err(error) => {
                    tracing::warn!(table = table.name, %location, %error, "refresh failed; rows left as they were");
                    self.stats.skip(format!("fetch failed: {}", table.name));
                    self.finish(&tickets);
                }
            }
        }
        let Some(fetched) = fetched else {
            return;
        };
        let resources = match fetched {
            Ok(resources) => resources,
            Err(error) => {
                tracing::warn!(table = table.name, %location, %error, "fetch failed; rows left as they were");
                self.stats.skip(format!("fetch failed: {}", table.name));
                for tickets in group.ids.values() {
                    self.finish(tickets);
                }
                return;
            }
        };
        let returned: BTreeSet<String> = resources.iter().filter_map(|r| id_of(table, r)).collect();
        self.journal_resources(table, &location, &resources);
        batch.upserts.extend(resources);
        for (id, tickets) in group.ids {
            if returned.contains(&id) {
                self.finish(&tickets);
            } else if !retry {
                tracing::debug!(table = table.name, %location, %id, "not found; asking again after a delay");
                Stats::add(&self.stats.not_found_retries, 1);
                self.delayed.push_back(Delayed {
                    due: now + self.plan.not_found_retry_delay,
                    table,
                    location: location.clone(),
                    id,
                    tickets,
                });
            } else {
                tracing::debug!(table = table.name, %location, %id, "gone; deleting its rows");
                self.journal(table, &location, id.clone());
                batch.deletes.extend(deletion(table, &location, id));
                self.finish(&tickets);
            }
        }
    }

    fn finish(&mut self, tickets: &[Ticket]) {
        for ticket in tickets {
            self.ledger.done(ticket);
        }
    }

    fn journal_resources(
        &mut self,
        table: &'static Table,
        location: &Location,
        resources: &[Resource],
    ) {
        if self.journal.contains_key(table.name) {
            for id in resources.iter().filter_map(|r| id_of(table, r)) {
                self.journal(table, location, id);
            }
        }
    }

    fn journal(&mut self, table: &'static Table, location: &Location, id: String) {
        if let Some(touched) = self.journal.get_mut(table.name) {
            touched.insert((location.clone(), id));
        }
    }

    /// Adds every checkpoint the ledger allows to `batch`, commits it if it holds anything, and
    /// tells the coordinator which shards are now drained.
    async fn commit_with_checkpoints(
        &mut self,
        mut batch: WriteBatch,
        stop: &CancellationToken,
    ) -> Result<(), DestinationError> {
        let Advance {
            checkpoints,
            drained,
        } = self.ledger.advance();
        batch
            .checkpoints
            .extend(
                checkpoints
                    .into_iter()
                    .map(|(shard_id, sequence_number)| Checkpoint {
                        source_name: self.plan.source_name.clone(),
                        stream_arn: self.stream_arn.clone(),
                        shard_id,
                        position: Position::After(sequence_number),
                    }),
            );
        if !batch.is_empty() {
            commit(self.destination.as_ref(), &batch, &self.stats, stop).await?;
        }
        for shard in drained {
            // The coordinator may be gone at shutdown; the checkpoint is what matters.
            let _ = self.drained.send(shard);
        }
        Ok(())
    }

    async fn reconcile(
        &mut self,
        message: Reconcile,
        stop: &CancellationToken,
    ) -> Result<(), DestinationError> {
        match message {
            Reconcile::Start { table, ack } => {
                self.journal.insert(table.name, HashSet::new());
                let _ = ack.send(Utc::now().trunc_subsecs(6));
                Ok(())
            }
            Reconcile::Done {
                table,
                sync_time,
                listings,
            } => {
                let touched = self.journal.remove(table.name).unwrap_or_default();
                let complete = listings.iter().all(|(_, listing)| listing.is_ok());
                let mut resources = Vec::new();
                for (location, listing) in listings {
                    match listing {
                        Ok(listed) => resources.extend(listed.into_iter().filter(|r| {
                            // The stream wrote these after the listing began: its rows are newer.
                            id_of(table, r)
                                .is_none_or(|id| !touched.contains(&(location.clone(), id)))
                        })),
                        // Tables without a reader in this build were reported at start.
                        Err(error) if error.kind() == FetchErrorKind::Unsupported => {}
                        Err(error) => {
                            tracing::warn!(table = table.name, %location, %error, "reconciliation listing failed; rows left as they were");
                        }
                    }
                }
                let written = resources.len();
                let mut resources = resources.into_iter().peekable();
                while resources.peek().is_some() {
                    let mut batch = WriteBatch::new(self.plan.source_name.clone(), sync_time);
                    batch.upserts = resources
                        .by_ref()
                        .take(self.plan.batch_size.max(1))
                        .collect();
                    commit(self.destination.as_ref(), &batch, &self.stats, stop).await?;
                }
                let mut stale = 0;
                if complete && self.plan.delete_stale {
                    let destination = self.destination.as_ref();
                    let source = self.plan.source_name.as_str();
                    for t in std::iter::once(table).chain(self.plan.children_of(table)) {
                        stale +=
                            retrying(stop, || destination.delete_stale(t, source, sync_time, &[]))
                                .await?;
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
    }
}

/// Commits a batch, waiting out a destination outage: nothing is acknowledged meanwhile.
pub(super) async fn commit(
    destination: &dyn Destination,
    batch: &WriteBatch,
    stats: &Stats,
    stop: &CancellationToken,
) -> Result<(), DestinationError> {
    let summary = retrying(stop, || destination.write(batch)).await?;
    Stats::add(&stats.rows_upserted, summary.rows_upserted);
    Stats::add(&stats.rows_deleted, summary.rows_deleted);
    Stats::add(&stats.batches_committed, 1);
    Ok(())
}

/// Runs a destination operation until it succeeds, backing off while the destination is down
/// (consumption pauses meanwhile); gives up once stopped.
async fn retrying<T, F, Fut>(
    stop: &CancellationToken,
    mut operation: F,
) -> Result<T, DestinationError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DestinationError>>,
{
    let mut delay = Duration::from_millis(500);
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(e) if stop.is_cancelled() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "destination failed; pausing consumption");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => return Err(e),
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
