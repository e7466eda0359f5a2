//! Which shards are read: the shard graph, one reader per shard that may be read now, and the
//! durable start of each shard before its first record is read.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use trailsync_core::{
    Checkpoint, Destination, Position, SequenceNumber, ShardSource, StreamError, WriteBatch,
};

use super::RunError;
use super::commit::retrying;
use super::messages::Input;
use super::reader::{self, Trouble};
use super::shards::ShardGraph;

/// The shards of one stream and their readers.
pub(super) struct Coordinator {
    pub(super) source: Arc<dyn ShardSource>,
    pub(super) destination: Arc<dyn Destination>,
    pub(super) source_name: String,
    /// Committed positions: found at start, and each start committed since.
    pub(super) checkpoints: HashMap<String, Position>,
    pub(super) graph: ShardGraph,
    /// Tells a running reader its shard's EndingSequenceNumber once it is closed.
    pub(super) endings: HashMap<String, watch::Sender<Option<SequenceNumber>>>,
    pub(super) readers: JoinSet<Result<(), StreamError>>,
    pub(super) input: mpsc::Sender<Input>,
    pub(super) stop: CancellationToken,
    /// Failures of `ListShards` since it last worked.
    pub(super) listing_trouble: Trouble,
}

impl Coordinator {
    /// Starts a reader for every shard that may be read now. A shard without a checkpoint first
    /// gets one: where this run starts it (`first_start` for the shards found when the stream is
    /// opened; the trim horizon for shards that appear later, whose records are all new),
    /// committed before any of its records is read. A crash at any moment then resumes every
    /// shard where this run began it, with or without a full sync.
    pub(super) async fn start_ready(
        &mut self,
        first_start: Option<&Position>,
    ) -> Result<(), RunError> {
        let ready = self.graph.take_ready();
        if ready.is_empty() {
            return Ok(());
        }
        let stream_arn = self.source.stream_arn().to_string();
        let mut starts = WriteBatch::new(self.source_name.clone(), chrono::Utc::now());
        for shard in &ready {
            if !self.checkpoints.contains_key(&shard.shard_id) {
                let position = first_start.cloned().unwrap_or(Position::TrimHorizon);
                starts.checkpoints.push(Checkpoint {
                    source_name: self.source_name.clone(),
                    stream_arn: stream_arn.clone(),
                    shard_id: shard.shard_id.clone(),
                    position,
                });
            }
        }
        if !starts.checkpoints.is_empty() {
            let destination = self.destination.as_ref();
            retrying(&self.stop, || destination.write(&starts))
                .await
                .map_err(RunError::Destination)?;
            for checkpoint in starts.checkpoints {
                tracing::debug!(shard = %checkpoint.shard_id, position = %checkpoint.position, "shard start committed");
                self.checkpoints
                    .insert(checkpoint.shard_id, checkpoint.position);
            }
        }
        for shard in ready {
            let start = self
                .checkpoints
                .get(&shard.shard_id)
                .cloned()
                .unwrap_or(Position::TrimHorizon);
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
        Ok(())
    }

    /// Lists the shards again: new ones are started when their parents allow, closed ones
    /// tell their readers where they end. A listing that keeps failing past its patience ends
    /// the run.
    pub(super) async fn refresh(&mut self) -> Result<(), RunError> {
        let listing = tokio::select! {
            _ = self.stop.cancelled() => return Ok(()),
            listing = self.source.shards() => listing,
        };
        match listing {
            Ok(listing) => {
                self.listing_trouble.recovered();
                for (shard, ending) in self.graph.update(listing, &self.checkpoints) {
                    tracing::info!(%shard, %ending, "shard closed");
                    if let Some(tx) = self.endings.get(&shard) {
                        let _ = tx.send(Some(ending));
                    }
                }
                self.start_ready(None).await
            }
            Err(error) => {
                tracing::warn!(%error, "cannot list shards; trying again later");
                self.listing_trouble
                    .failed(error, tokio::time::Instant::now())?;
                Ok(())
            }
        }
    }

    /// A shard was read to its end and its last records are committed.
    pub(super) async fn drained(&mut self, shard: &str) -> Result<(), RunError> {
        self.graph.drained(shard);
        self.endings.remove(shard);
        let (known, drained) = self.graph.counts();
        tracing::info!(%shard, known, drained, "shard drained");
        self.start_ready(None).await
    }
}
