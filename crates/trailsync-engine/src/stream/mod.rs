//! The stream pipeline: shard readers -> bounded queue -> processor (decode, route, coalesce,
//! fetch, write + checkpoint in one transaction).
//!
//! - The [coordinator](coordinator) lists the shards and takes the leases of this worker's
//!   share of them from the [fleet](crate::fleet) (taking a shard never read before commits where
//!   it starts), runs one reader per shard held, re-lists them periodically to pick up new shards
//!   and learn when one closed, hands shards over to balance the fleet, and lets the children of
//!   a shard be read only once it is drained (read to its end and its records committed, by
//!   whichever worker).
//! - [Readers](reader) feed one processor through a bounded queue, so a slow destination slows
//!   reading instead of growing memory; a shard that stays unreadable ends the run.
//! - The [processor](processor) routes records to work ([`route`]), coalesces it
//!   ([`window`]: the first change to a resource is fetched at once, those that follow share a
//!   trailing fetch), fetches it in batched calls, [settles](settle) each answer and commits the
//!   writes with the checkpoints of the records they complete ([`ledger`]): at-least-once, and
//!   exactly-once in effect for SQL destinations (re-applying a refresh is idempotent). A fetch
//!   that fails for a reason that passes is asked again with backoff ([`retry`]), holding only
//!   its own records; one that never can succeed is recorded in `trailsync_skipped`.
//! - A [reconciliation](reconcile) task lists every table periodically through the processor,
//!   which keeps a [`journal`] of what the stream wrote meanwhile.
//!
//! On stop, reading ends at once and the work in flight is committed within a bounded time;
//! whatever is left is read again on restart, from the committed checkpoints. A task that
//! panics, a destination that refuses a batch, or a stream that stays unreadable ends the run
//! with an error.

mod commit;
mod coordinator;
mod journal;
mod ledger;
mod messages;
mod processor;
mod reader;
mod reconcile;
mod retry;
mod route;
mod settle;
mod shards;
mod window;

#[cfg(test)]
mod memory_leases;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use trailsync_core::{
    Destination, DestinationError, Inventory, Position, ShardSource, StreamError,
};

use self::messages::ShardEvent;
use crate::{Fleet, Stats, SyncPlan};

/// Why consuming the stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The stream stayed unreadable past its patience.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The destination refused a batch (or stayed down while stopping).
    #[error("destination: {0}")]
    Destination(#[source] DestinationError),
    /// A bug: a task panicked. Nothing after its last commit was acknowledged.
    #[error("{task} panicked: {message}")]
    Panicked { task: &'static str, message: String },
}

impl RunError {
    pub(crate) fn panicked(task: &'static str, error: &tokio::task::JoinError) -> RunError {
        RunError::Panicked {
            task,
            message: error.to_string(),
        }
    }
}

/// How far back a shard without a checkpoint starts.
#[derive(Clone, Debug)]
pub enum DefaultStart {
    /// AT_TIMESTAMP: the configured `start_time`, else the full sync's start.
    At(DateTime<Utc>),
    TrimHorizon,
    /// From the moment the stream is opened: `At` that instant, so that a restart (or an
    /// expired iterator) resumes there rather than at a later "latest".
    Latest,
}

impl DefaultStart {
    /// The position this start stands for, as of `now`.
    fn position(&self, now: DateTime<Utc>) -> Position {
        match self {
            DefaultStart::At(t) => Position::At(*t),
            DefaultStart::TrimHorizon => Position::TrimHorizon,
            DefaultStart::Latest => Position::At(now),
        }
    }
}

/// How long a fetch that failed for a reason that passes waits before it is asked again: from
/// `first`, doubling up to `cap`, with jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first: retry::FIRST,
            cap: retry::CAP,
        }
    }
}

/// How the stream is consumed.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Where shards without a checkpoint start (children of drained shards: at their start).
    pub default_start: DefaultStart,
    /// How long work is gathered before it is fetched (CloudQuery-compatible default 1 s).
    pub coalesce_window: Duration,
    /// How often every table is reconciled against a full listing; `None` disables it.
    pub reconcile_interval: Option<Duration>,
    /// Backoff of fetches that failed for a reason that passes.
    pub retry: RetryPolicy,
}

/// Batches queued between the readers and the processor.
const QUEUE_DEPTH: usize = 8;
/// How often the shards are listed again, to find new ones and learn which closed.
const SHARD_REFRESH: Duration = Duration::from_secs(5);
/// Time given to the processor beyond its drain budget before it is abandoned.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Consumes the stream, as one worker of `fleet`, until `cancel` fires or the stream fails;
/// work in flight is committed (within a bounded time) before returning. The fleet's leases are
/// left held: the caller leaves the fleet.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    plan: Arc<SyncPlan>,
    inventory: Arc<dyn Inventory>,
    destination: Arc<dyn Destination>,
    source: Arc<dyn ShardSource>,
    options: StreamOptions,
    stats: Arc<Stats>,
    fleet: Arc<Fleet>,
    cancel: CancellationToken,
) -> Result<(), RunError> {
    let stream_arn = source.stream_arn().to_string();
    let listing = source.shards().await?;
    let mut view = fleet.watch();
    let mut lapsed = fleet.lapsed();
    {
        let seen = view.borrow();
        let resumed = seen
            .shards
            .iter()
            .filter(|l| l.epoch > 0 || l.owner.is_some())
            .count();
        tracing::info!(stream = %stream_arn, shards = listing.len(), resumed, workers = seen.live_workers(), "consuming stream");
    }

    // Stopped by a signal, or by a failure anywhere.
    let stop = cancel.child_token();
    let (input_tx, input_rx) = mpsc::channel(QUEUE_DEPTH);
    let (reconcile_tx, reconcile_rx) = mpsc::channel(1);
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let mut processor = tokio::spawn({
        let processor = processor::Processor::new(
            plan.clone(),
            inventory.clone(),
            destination.clone(),
            stats.clone(),
            stream_arn.clone(),
            options.coalesce_window,
            options.retry,
            events_tx,
        );
        let stop = stop.clone();
        async move {
            let result = processor.run(input_rx, reconcile_rx, stop.clone()).await;
            if result.is_err() {
                stop.cancel();
            }
            result
        }
    });
    let reconciler = match options.reconcile_interval {
        Some(interval) if !interval.is_zero() => Some(tokio::spawn(reconcile::every(
            interval,
            plan.clone(),
            inventory.clone(),
            stats.clone(),
            fleet.clone(),
            reconcile_tx,
            stop.clone(),
        ))),
        _ => None,
    };

    let first_start = options.default_start.position(Utc::now());
    let mut coordinator =
        coordinator::Coordinator::new(source, fleet, first_start, input_tx, stats, stop.clone());
    let mut failure: Option<RunError> = None;
    coordinator.graph.update(listing);
    let current = view.borrow_and_update().clone();
    inventory.share_with(current.live_workers());
    if let Err(error) = coordinator.rebalance(&current).await {
        failure = Some(error);
    }

    let mut refresh = tokio::time::interval(SHARD_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh.tick().await;
    while failure.is_none() {
        let step = tokio::select! {
            _ = stop.cancelled() => break,
            changed = view.changed() => match changed {
                Ok(()) => {
                    let current = view.borrow_and_update().clone();
                    inventory.share_with(current.live_workers());
                    coordinator.rebalance(&current).await
                }
                // The heartbeat is gone only when stopping.
                Err(_) => break,
            },
            _ = refresh.tick() => coordinator.refresh().await,
            Ok(()) = lapsed.changed() => {
                if *lapsed.borrow_and_update() {
                    tracing::warn!("leases not renewed in time; stopping every reader until the destination answers");
                    coordinator.lapsed().await;
                }
                Ok(())
            }
            Some(event) = events_rx.recv() => {
                match event {
                    ShardEvent::Drained(shard) => coordinator.drained(&shard).await,
                    ShardEvent::Released(shard) => coordinator.released(&shard).await,
                    // A lease this worker has since taken again is not lost.
                    ShardEvent::Lost { shard, epoch } => {
                        if coordinator.fleet.epoch_of(&shard).is_none_or(|held| held <= epoch) {
                            coordinator.lost(&shard).await;
                        }
                    }
                }
                Ok(())
            }
            Some(joined) = coordinator.readers.join_next(), if !coordinator.readers.is_empty() => {
                match joined {
                    Ok((shard, result)) => coordinator.reader_ended(shard, result).await,
                    Err(error) => Err(RunError::panicked("a shard reader", &error)),
                }
            }
        };
        if let Err(error) = step {
            failure = Some(error);
        }
    }
    if let Some(error) = &failure {
        tracing::error!(%error, "stopping the stream");
    }
    stop.cancel();

    // Stop reading; the processor commits the work in flight within its budget.
    let coordinator::Coordinator {
        mut readers, input, ..
    } = coordinator;
    drop(input);
    while readers.join_next().await.is_some() {}
    if let Some(reconciler) = reconciler {
        reconciler.abort();
    }
    let budget = processor::DRAIN_BUDGET + DRAIN_GRACE;
    let processed = match tokio::time::timeout(budget, &mut processor).await {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => Err(RunError::panicked("the stream processor", &error)),
        Err(_) => {
            processor.abort();
            tracing::warn!("work in flight not committed in time; it is read again on restart");
            Ok(())
        }
    };
    match failure {
        Some(error) => Err(error),
        None => processed,
    }
}
