//! What flows into the processor: records from the shard readers, listings from reconciliation.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use trailsync_catalog::Table;
use trailsync_core::{FetchError, Fetched, Location, Record, SequenceNumber};

/// What the shard readers send (and the coordinator, about shards it stops reading).
#[derive(Debug)]
pub(super) enum Input {
    /// Records read under the lease at `epoch`.
    Records {
        shard: Arc<str>,
        epoch: u64,
        records: Vec<Record>,
    },
    /// The reader reached the end of its closed shard; `final_sequence` marks it finished.
    End {
        shard: Arc<str>,
        epoch: u64,
        final_sequence: Option<SequenceNumber>,
    },
    /// The shard's reader stopped to hand the shard over: once everything read from it is
    /// committed, its lease is released.
    Release { shard: Arc<str> },
    /// The shard's lease is another worker's: what was read from it is not checkpointed here.
    Forget { shard: Arc<str> },
}

/// What the processor tells the coordinator about a shard, once committed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ShardEvent {
    /// Read to its end and committed: its children may be read.
    Drained(String),
    /// Everything read from it is committed: its lease may go to another worker.
    Released(String),
    /// A write found the lease of the shard at this epoch taken over.
    Lost { shard: String, epoch: u64 },
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
        listings: Vec<(Location, Result<Fetched, FetchError>)>,
    },
}
