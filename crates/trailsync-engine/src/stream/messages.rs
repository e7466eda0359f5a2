//! What flows into the processor: records from the shard readers, listings from reconciliation.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use trailsync_catalog::Table;
use trailsync_core::{FetchError, Fetched, Location, Record, SequenceNumber};

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
        listings: Vec<(Location, Result<Fetched, FetchError>)>,
    },
}
