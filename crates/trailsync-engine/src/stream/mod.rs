//! The stream pipeline: shard readers -> bounded queue -> processor (decode, route, coalesce,
//! fetch, write + checkpoint in one transaction).
//!
//! - The coordinator (here) lists the shards, starts one reader per readable shard, re-lists
//!   them periodically to pick up new shards and learn when one closed, and starts the children
//!   of a shard only once it is drained (read to its end and its records committed).
//! - Readers feed one processor through a bounded queue, so a slow destination slows reading
//!   instead of growing memory.
//! - The processor coalesces work for a window across records and shards, fetches
//!   it in batched calls, and commits the writes with the checkpoints of the records they
//!   complete: at-least-once, and exactly-once in effect for SQL destinations (re-applying a
//!   refresh is idempotent).
//! - A reconciliation task lists every table periodically through the processor.
//!
//! On stop, reading ends at once and the work in flight is committed within a bounded time;
//! whatever is left is read again on restart, from the committed checkpoints.

mod apply;
mod ledger;
mod processor;
mod reader;
mod reconcile;
mod shards;
mod window;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use trailsync_core::{
    Destination, DestinationError, Inventory, Position, SequenceNumber, ShardSource, StreamError,
};

use crate::{Stats, SyncPlan};

/// Why consuming the stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("destination: {0}")]
    Destination(#[source] DestinationError),
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

/// How the stream is consumed.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Where shards without a checkpoint start (children of drained shards: at their start).
    pub default_start: DefaultStart,
    /// How long work is gathered before it is fetched (CloudQuery-compatible default 1 s).
    pub coalesce_window: Duration,
    /// How often every table is reconciled against a full listing; `None` disables it.
    pub reconcile_interval: Option<Duration>,
}

/// Batches queued between the readers and the processor.
const QUEUE_DEPTH: usize = 8;
/// How often the shards are listed again, to find new ones and learn which closed.
const SHARD_REFRESH: Duration = Duration::from_secs(5);
/// Time given to the processor beyond its drain budget before it is abandoned.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Consumes the stream until `cancel` fires or the stream fails; work in flight is committed
/// (within a bounded time) before returning.
pub async fn run(
    plan: Arc<SyncPlan>,
    inventory: Arc<dyn Inventory>,
    destination: Arc<dyn Destination>,
    source: Arc<dyn ShardSource>,
    options: StreamOptions,
    stats: Arc<Stats>,
    cancel: CancellationToken,
) -> Result<(), RunError> {
    let stream_arn = source.stream_arn().to_string();
    let checkpoints = destination
        .checkpoints(&plan.source_name, &stream_arn)
        .await
        .map_err(RunError::Destination)?;
    let listing = source.shards().await?;
    tracing::info!(stream = %stream_arn, shards = listing.len(), resumed = checkpoints.len(), "consuming stream");

    // Stopped by a signal, or by the processor failing.
    let stop = cancel.child_token();
    let (input_tx, input_rx) = mpsc::channel(QUEUE_DEPTH);
    let (reconcile_tx, reconcile_rx) = mpsc::channel(1);
    let (drained_tx, mut drained_rx) = mpsc::unbounded_channel();
    let mut processor = tokio::spawn({
        let processor = processor::Processor::new(
            plan.clone(),
            inventory.clone(),
            destination,
            stats.clone(),
            stream_arn.clone(),
            options.coalesce_window,
            drained_tx,
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
            inventory,
            stats,
            reconcile_tx,
            stop.clone(),
        ))),
        _ => None,
    };

    let mut coordinator = Coordinator {
        source: source.clone(),
        checkpoints,
        graph: shards::ShardGraph::default(),
        endings: HashMap::new(),
        readers: tokio::task::JoinSet::new(),
        input: input_tx,
        stop: stop.clone(),
    };
    coordinator.graph.update(listing, &coordinator.checkpoints);
    let default_start = options.default_start.position(Utc::now());
    coordinator.start_ready(Some(&default_start));

    let mut refresh = tokio::time::interval(SHARD_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = refresh.tick() => coordinator.refresh().await,
            Some(shard) = drained_rx.recv() => {
                coordinator.graph.drained(&shard);
                coordinator.endings.remove(&shard);
                let (known, drained) = coordinator.graph.counts();
                tracing::info!(%shard, known, drained, "shard drained");
                coordinator.start_ready(None);
            }
            Some(joined) = coordinator.readers.join_next(), if !coordinator.readers.is_empty() => {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "shard reader panicked");
                }
            }
        }
    }

    // Stop reading; the processor drains what is queued and commits within its budget.
    let Coordinator {
        mut readers, input, ..
    } = coordinator;
    drop(input);
    while readers.join_next().await.is_some() {}
    if let Some(reconciler) = reconciler {
        reconciler.abort();
    }
    let budget = processor::DRAIN_BUDGET + DRAIN_GRACE;
    match tokio::time::timeout(budget, &mut processor).await {
        Ok(Ok(result)) => result.map_err(RunError::Destination),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "stream processor panicked");
            Ok(())
        }
        Err(_) => {
            processor.abort();
            tracing::warn!("work in flight not committed in time; it is read again on restart");
            Ok(())
        }
    }
}

/// Which shards are read, and the readers reading them.
struct Coordinator {
    source: Arc<dyn ShardSource>,
    /// Checkpoints found at start; shards started later without one start at their beginning.
    checkpoints: HashMap<String, Position>,
    graph: shards::ShardGraph,
    /// Tells a running reader its shard's EndingSequenceNumber once it is closed.
    endings: HashMap<String, watch::Sender<Option<SequenceNumber>>>,
    readers: tokio::task::JoinSet<()>,
    input: mpsc::Sender<processor::Input>,
    stop: CancellationToken,
}

impl Coordinator {
    /// Starts a reader for every shard that may be read now. Shards found at start without a
    /// checkpoint start at `default_start`; later ones (children of a drained shard, shards of a
    /// split while running) at TRIM_HORIZON, since all their records are new.
    fn start_ready(&mut self, default_start: Option<&Position>) {
        for shard in self.graph.take_ready() {
            let start = match (self.checkpoints.get(&shard.shard_id), default_start) {
                (Some(position), _) => position.clone(),
                (None, Some(start)) => start.clone(),
                (None, None) => Position::TrimHorizon,
            };
            let (ending_tx, ending_rx) = watch::channel(shard.ending_sequence_number.clone());
            self.endings.insert(shard.shard_id.clone(), ending_tx);
            self.readers.spawn(reader::read_shard(
                self.source.clone(),
                shard,
                start,
                ending_rx,
                self.input.clone(),
                self.stop.clone(),
            ));
        }
    }

    /// Lists the shards again: new ones are started when their parents allow, closed ones
    /// tell their readers where they end.
    async fn refresh(&mut self) {
        let listing = tokio::select! {
            _ = self.stop.cancelled() => return,
            listing = self.source.shards() => listing,
        };
        match listing {
            Ok(listing) => {
                for (shard, ending) in self.graph.update(listing, &self.checkpoints) {
                    tracing::info!(%shard, %ending, "shard closed");
                    if let Some(tx) = self.endings.get(&shard) {
                        let _ = tx.send(Some(ending));
                    }
                }
                self.start_ready(None);
            }
            Err(error) => tracing::warn!(%error, "cannot list shards; trying again later"),
        }
    }
}
