//! Which shards this worker reads: the shard graph, the fleet's leases, and one reader per
//! shard held.
//!
//! At every heartbeat (and every re-listing of the shards) the coordinator looks at the fleet:
//! shards whose lease went to another worker stop being read here; shards finished anywhere
//! let their children be read; free leases of readable shards are taken up to this worker's
//! share, and an unbalanced fleet is evened out by asking the busiest worker to hand one over
//! ([`balance`]). Taking a shard never read before creates its lease at its start position, so
//! that start is durable before any record is read: a crash at any moment resumes every shard
//! where it was begun, with or without a full sync.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use trailsync_core::{FleetView, Position, SequenceNumber, ShardInfo, ShardSource, StreamError};

use super::RunError;
use super::messages::Input;
use super::reader::{self, Lease, Trouble};
use super::shards::ShardGraph;
use crate::Stats;
use crate::fleet::{Fleet, balance};

/// A reader this worker runs.
struct Reading {
    /// Stops this reader alone.
    stop: CancellationToken,
    /// Tells it its shard's EndingSequenceNumber once it is closed.
    ending: watch::Sender<Option<SequenceNumber>>,
    /// Stopped to hand the shard over: its lease is released once its records are committed.
    handing_over: bool,
}

/// The shards of one stream and this worker's readers.
pub(super) struct Coordinator {
    pub(super) source: Arc<dyn ShardSource>,
    pub(super) fleet: Arc<Fleet>,
    /// Where a shard never read before starts, unless it was made by resharding (then at its
    /// trim horizon: all its records are newer than its parents').
    pub(super) first_start: Position,
    pub(super) graph: ShardGraph,
    readings: HashMap<String, Reading>,
    pub(super) readers: JoinSet<(String, Result<(), StreamError>)>,
    pub(super) input: mpsc::Sender<Input>,
    pub(super) stop: CancellationToken,
    /// Failures of `ListShards` since it last worked.
    pub(super) listing_trouble: Trouble,
    /// Where readers report each shard's progress (metrics, readiness).
    stats: Arc<Stats>,
}

impl Coordinator {
    pub(super) fn new(
        source: Arc<dyn ShardSource>,
        fleet: Arc<Fleet>,
        first_start: Position,
        input: mpsc::Sender<Input>,
        stats: Arc<Stats>,
        stop: CancellationToken,
    ) -> Coordinator {
        Coordinator {
            stats,
            source,
            fleet,
            first_start,
            graph: ShardGraph::default(),
            readings: HashMap::new(),
            readers: JoinSet::new(),
            input,
            stop,
            listing_trouble: Trouble::default(),
        }
    }

    /// Lists the shards again: new ones become candidates, closed ones tell their readers where
    /// they end. A listing that keeps failing past its patience ends the run.
    pub(super) async fn refresh(&mut self) -> Result<(), RunError> {
        let listing = tokio::select! {
            _ = self.stop.cancelled() => return Ok(()),
            listing = self.source.shards() => listing,
        };
        match listing {
            Ok(listing) => {
                self.listing_trouble.recovered();
                for (shard, ending) in self.graph.update(listing) {
                    if let Some(reading) = self.readings.get(&shard) {
                        tracing::info!(%shard, %ending, "shard closed");
                        let _ = reading.ending.send(Some(ending));
                    }
                }
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "cannot list shards; trying again later");
                self.listing_trouble
                    .failed(error, tokio::time::Instant::now())?;
                Ok(())
            }
        }
    }

    /// Acts on the fleet as last seen: stops shards lost to other workers, takes free ones up
    /// to this worker's share, asks for or hands over leases to balance.
    pub(super) async fn rebalance(&mut self, view: &FleetView) -> Result<(), RunError> {
        let me = self.fleet.worker().id.clone();
        for shard in self.fleet.held_shards() {
            let Some(mine) = self.fleet.epoch_of(&shard) else {
                continue;
            };
            // A view read before this worker took the lease shows an older epoch, or no lease
            // at all: stale, not a loss. Only a newer epoch (or another owner) is.
            let taken = view.shards.iter().any(|l| {
                l.shard_id == shard
                    && (l.epoch > mine || (l.epoch == mine && l.owner.as_deref() != Some(&me)))
            });
            if taken {
                tracing::info!(%shard, "lease taken over by another worker; stopping its reader");
                self.lost(&shard).await;
            }
        }
        let positions: HashMap<String, Position> = view
            .shards
            .iter()
            .map(|l| (l.shard_id.clone(), l.position.clone()))
            .collect();
        for shard in self.graph.observe(&positions) {
            let (known, drained) = self.graph.counts();
            tracing::info!(%shard, known, drained, "shard drained");
        }
        let readable: Vec<ShardInfo> = self.graph.readable().into_iter().cloned().collect();
        let readable_ids: Vec<String> = readable.iter().map(|s| s.shard_id.clone()).collect();
        let mine: Vec<String> = self
            .readings
            .iter()
            .filter(|(_, r)| !r.handing_over)
            .map(|(shard, _)| shard.clone())
            .collect();
        let moves = balance(view, &me, &readable_ids, &mine);
        for shard_id in moves.take {
            let Some(shard) = readable.iter().find(|s| s.shard_id == shard_id) else {
                continue;
            };
            let seen = view.shards.iter().find(|l| l.shard_id == shard_id);
            let start = if self.graph.has_listed_parent(shard) {
                Position::TrimHorizon
            } else {
                self.first_start.clone()
            };
            let parents: Vec<String> = shard.parents().map(String::from).collect();
            let granted = self
                .fleet
                .acquire_shard(&shard_id, &parents, seen, &start)
                .await;
            match granted {
                Ok(Some((grant, lag))) => {
                    tracing::info!(shard = %shard_id, epoch = grant.epoch, position = %grant.position, "took the shard's lease");
                    self.start_reader(
                        shard.clone(),
                        Lease {
                            epoch: grant.epoch,
                            start: grant.position,
                            lag,
                            stats: self.stats.clone(),
                        },
                    );
                }
                Ok(None) => {
                    tracing::debug!(shard = %shard_id, "another worker took the shard first")
                }
                Err(error) if error.is_retryable() => {
                    tracing::warn!(shard = %shard_id, %error, "cannot take the shard's lease; trying again later");
                }
                Err(error) => return Err(RunError::Destination(error)),
            }
        }
        if let Some(shard) = moves.ask
            && let Some(lease) = view.shards.iter().find(|l| l.shard_id == shard)
        {
            tracing::info!(%shard, owner = lease.owner.as_deref().unwrap_or(""), "asking for a shard to balance the fleet");
            if let Err(error) = self.fleet.request_handoff(lease).await {
                tracing::warn!(%shard, %error, "cannot ask for the shard");
            }
        }
        for shard in moves.hand_over {
            if let Some(reading) = self.readings.get_mut(&shard) {
                tracing::info!(%shard, "handing the shard over to balance the fleet");
                reading.handing_over = true;
                reading.stop.cancel();
            }
        }
        Ok(())
    }

    fn start_reader(&mut self, shard: ShardInfo, lease: Lease) {
        let (ending_tx, ending_rx) = watch::channel(shard.ending_sequence_number.clone());
        let stop = self.stop.child_token();
        let id = shard.shard_id.clone();
        self.readings.insert(
            id.clone(),
            Reading {
                stop: stop.clone(),
                ending: ending_tx,
                handing_over: false,
            },
        );
        let (source, input) = (self.source.clone(), self.input.clone());
        self.readers.spawn(async move {
            let result = reader::read_shard(source, shard, lease, ending_rx, input, stop).await;
            (id, result)
        });
    }

    /// A reader ended. One handing its shard over tells the processor, which releases the lease
    /// once everything read is committed; an unreadable shard ends the run.
    pub(super) async fn reader_ended(
        &mut self,
        shard: String,
        result: Result<(), StreamError>,
    ) -> Result<(), RunError> {
        let handing_over = self.readings.get(&shard).is_some_and(|r| r.handing_over);
        result?;
        if handing_over && !self.stop.is_cancelled() {
            let shard: Arc<str> = Arc::from(shard.as_str());
            let _ = self.input.send(Input::Release { shard }).await;
        }
        Ok(())
    }

    /// A shard was read to its end and its last records are committed: its lease is released
    /// (its checkpoint tells every worker it is finished) and its children become readable.
    pub(super) async fn drained(&mut self, shard: &str) {
        if self.graph.drained(shard) {
            let (known, drained) = self.graph.counts();
            tracing::info!(%shard, known, drained, "shard drained");
        }
        self.readings.remove(shard);
        self.stats.shard_gone(shard);
        self.release(shard).await;
    }

    /// Everything read from a shard being handed over is committed: another worker may take it.
    pub(super) async fn released(&mut self, shard: &str) {
        self.readings.remove(shard);
        self.stats.shard_gone(shard);
        self.release(shard).await;
        tracing::info!(%shard, "shard handed over");
    }

    async fn release(&mut self, shard: &str) {
        if let Err(error) = self.fleet.release_shard(shard).await {
            // It expires on its own.
            tracing::warn!(%shard, %error, "cannot release the shard's lease");
        }
    }

    /// The shard's lease is another worker's: stop reading it and checkpoint nothing of it.
    pub(super) async fn lost(&mut self, shard: &str) {
        self.fleet.lost(shard);
        self.stats.shard_gone(shard);
        if let Some(reading) = self.readings.remove(shard) {
            reading.stop.cancel();
        }
        let shard: Arc<str> = Arc::from(shard);
        let _ = self.input.send(Input::Forget { shard }).await;
    }

    /// After a lapse of heartbeats every lease may be another worker's: stop every reader.
    pub(super) async fn lapsed(&mut self) {
        for shard in self.fleet.held_shards() {
            self.lost(&shard).await;
        }
    }
}
