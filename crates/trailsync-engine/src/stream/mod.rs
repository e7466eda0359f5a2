//! The stream pipeline: shard readers -> bounded channel -> processor (decode, route, fetch,
//! write + checkpoint in one transaction).
//!
//! Each shard has its own reader task; all feed one processor through a bounded channel, so a
//! slow destination slows reading instead of growing memory. A shard's checkpoint only advances
//! in the transaction that stores every change its records caused (at-least-once, and exactly-once
//! in effect for SQL destinations, since re-applying a refresh is idempotent).

mod apply;
mod models;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use trailsync_destination::{Checkpoint, Destination, DestinationError, WriteBatch};

pub use models::{
    ReadBatch, Record, ShardInfo, ShardRead, ShardReader, ShardSource, StartPosition, StreamError,
};

use crate::{Inventory, Stats, SyncPlan};

/// How far back a shard without a checkpoint starts.
#[derive(Clone, Debug)]
pub enum DefaultStart {
    /// AT_TIMESTAMP: the configured `start_time`, else the full sync's start.
    At(DateTime<Utc>),
    TrimHorizon,
    Latest,
}

/// Shard batches queued between the readers and the processor.
const QUEUE_DEPTH: usize = 8;

/// Consumes the stream until `cancel` fires or the stream fails; in-flight work is committed
/// before returning.
pub async fn run(
    plan: Arc<SyncPlan>,
    inventory: Arc<dyn Inventory>,
    destination: Arc<dyn Destination>,
    source: Arc<dyn ShardSource>,
    default_start: DefaultStart,
    stats: Arc<Stats>,
    cancel: CancellationToken,
) -> Result<(), StreamError> {
    let stream_arn = source.stream_arn().to_string();
    let checkpoints = destination
        .checkpoints(&plan.source_name, &stream_arn)
        .await
        .map_err(StreamError::Destination)?;
    let shards = source.shards().await?;
    tracing::info!(stream = %stream_arn, shards = shards.len(), resumed = checkpoints.len(), "consuming stream");

    let (tx, mut rx) = mpsc::channel::<ReadBatch>(QUEUE_DEPTH);
    let mut readers = tokio::task::JoinSet::new();
    for shard in shards {
        let start = match checkpoints.get(&shard.shard_id) {
            Some(seq) => StartPosition::AfterSequenceNumber(seq.clone()),
            None => match &default_start {
                DefaultStart::At(t) => StartPosition::AtTimestamp(*t),
                DefaultStart::TrimHorizon => StartPosition::TrimHorizon,
                DefaultStart::Latest => StartPosition::Latest,
            },
        };
        readers.spawn(read_shard(
            source.clone(),
            shard.shard_id,
            start,
            tx.clone(),
            cancel.clone(),
        ));
    }
    drop(tx);

    let processor = apply::Processor::new(plan.clone(), inventory, stats.clone());
    let mut failure = None;
    // Ends when every reader is gone (cancelled or failed) and the queue is drained.
    while let Some(batch) = rx.recv().await {
        let mut checkpoint = HashMap::new();
        if let Some(last) = batch.records.last() {
            checkpoint.insert(batch.shard_id.clone(), last.sequence_number.clone());
        }
        let (upserts, deletes) = processor.process(&batch.records).await;
        let write = WriteBatch {
            source_name: plan.source_name.clone(),
            sync_time: Utc::now(),
            upserts,
            deletes,
            checkpoints: checkpoint
                .into_iter()
                .map(|(shard_id, sequence_number)| Checkpoint {
                    source_name: plan.source_name.clone(),
                    stream_arn: stream_arn.clone(),
                    shard_id,
                    sequence_number,
                })
                .collect(),
        };
        if let Err(e) = commit(destination.as_ref(), &write, &stats, &cancel).await {
            failure = Some(StreamError::Destination(e));
            cancel.cancel();
            break;
        }
    }
    while let Some(joined) = readers.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "shard reader failed");
                failure.get_or_insert(e);
            }
            Err(e) => tracing::error!(error = %e, "shard reader panicked"),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Commits a batch, waiting out a destination outage: nothing is acknowledged meanwhile.
async fn commit(
    destination: &dyn Destination,
    batch: &WriteBatch,
    stats: &Stats,
    cancel: &CancellationToken,
) -> Result<(), DestinationError> {
    let mut delay = Duration::from_millis(500);
    loop {
        match destination.write(batch).await {
            Ok(summary) => {
                Stats::add(&stats.rows_upserted, summary.rows_upserted);
                Stats::add(&stats.rows_deleted, summary.rows_deleted);
                Stats::add(&stats.batches_committed, 1);
                return Ok(());
            }
            Err(e) if cancel.is_cancelled() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "destination write failed; pausing consumption");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(e),
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Reads one shard into the queue until cancelled or the shard is closed and drained.
async fn read_shard(
    source: Arc<dyn ShardSource>,
    shard_id: String,
    start: StartPosition,
    tx: mpsc::Sender<ReadBatch>,
    cancel: CancellationToken,
) -> Result<(), StreamError> {
    tracing::debug!(shard = %shard_id, ?start, "opening shard");
    let mut reader = source.open(&shard_id, start).await?;
    loop {
        let batch = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            batch = reader.next_batch() => batch?,
        };
        let closed = batch.closed;
        if !batch.records.is_empty() {
            let batch = ReadBatch {
                shard_id: shard_id.clone(),
                records: batch.records,
            };
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                sent = tx.send(batch) => if sent.is_err() { return Ok(()) },
            }
        }
        if closed {
            tracing::info!(shard = %shard_id, "shard closed and drained");
            return Ok(());
        }
    }
}
