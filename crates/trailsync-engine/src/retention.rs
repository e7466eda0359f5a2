//! The change history's retention: rows of `trailsync_changes` older than the configured
//! retention are deleted in small batches (short transactions that never hold up the stream's
//! writes), once per fleet and at most hourly, under the `history_retention` job lease.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use trailsync_core::{Destination, DestinationError};

use crate::fleet::Fleet;

/// The job lease the pruning runs under: one worker of the fleet does it.
pub const RETENTION_JOB: &str = "history_retention";
/// History rows deleted per transaction.
pub const PRUNE_BATCH: usize = 1_000;
/// How often the fleet prunes.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often a worker checks whether pruning is due (and free).
const CHECK_EVERY: Duration = Duration::from_secs(300);

/// Deletes every history row older than `retention`, [`PRUNE_BATCH`] at a time; returns how
/// many. Stops early (with what it deleted) when `cancel` fires.
pub async fn prune(
    destination: &dyn Destination,
    retention: Duration,
    cancel: &CancellationToken,
) -> Result<u64, DestinationError> {
    let before = Utc::now() - retention;
    let mut deleted = 0;
    loop {
        let n = destination.prune_changes(before, PRUNE_BATCH).await?;
        deleted += n;
        if n < PRUNE_BATCH as u64 || cancel.is_cancelled() {
            return Ok(deleted);
        }
        // Let the stream's transactions in between.
        tokio::task::yield_now().await;
    }
}

/// Prunes the history hourly for the fleet until `cancel` fires. Failures are logged and
/// tried again at the next check: the history only grows meanwhile.
pub async fn run(
    fleet: Arc<Fleet>,
    destination: Arc<dyn Destination>,
    retention: Duration,
    cancel: CancellationToken,
) {
    loop {
        match fleet.job(RETENTION_JOB, PRUNE_EVERY).await {
            Ok(Some(job)) => {
                let started = Utc::now();
                let _ = job.started(started).await;
                match prune(destination.as_ref(), retention, &cancel).await {
                    // Cut short: not a finished run, so the next worker to look prunes again.
                    Ok(_) if cancel.is_cancelled() => {
                        let _ = job.abandon().await;
                    }
                    Ok(deleted) => {
                        if deleted > 0 {
                            tracing::info!(
                                rows = deleted,
                                retention = ?retention,
                                "deleted change history past its retention"
                            );
                        }
                        if let Err(error) = job.finish(started).await {
                            tracing::warn!(%error, "cannot record the history pruning's end");
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot prune the change history; trying again later");
                        let _ = job.abandon().await;
                    }
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot take the history pruning lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
