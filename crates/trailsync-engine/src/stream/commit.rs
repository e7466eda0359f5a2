//! Writing to the destination while streaming: a batch with the checkpoints it completes, and
//! patience with a destination that is down (only then: a batch the database refuses ends the
//! run, as no amount of waiting would store it).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use trailsync_core::{Destination, DestinationError, WriteBatch};

use crate::Stats;

/// The first and longest pause while the destination is unavailable.
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// Commits a batch, waiting out a destination outage: nothing is acknowledged meanwhile.
pub(super) async fn commit(
    destination: &dyn Destination,
    batch: &WriteBatch,
    stats: &Stats,
    stop: &CancellationToken,
) -> Result<(), DestinationError> {
    let started = std::time::Instant::now();
    let summary = retrying(stop, || destination.write(batch)).await?;
    stats.write_latency.observe(started.elapsed());
    Stats::add(&stats.rows_upserted, summary.rows_upserted);
    Stats::add(&stats.rows_deleted, summary.rows_deleted);
    Stats::add(&stats.changes_skipped, batch.skipped.len() as u64);
    Stats::add(&stats.batches_committed, 1);
    Ok(())
}

/// Runs a destination operation until it succeeds, backing off while the destination is
/// unavailable (consumption pauses meanwhile). A refusal, or any failure once stopped, is
/// returned at once.
pub(super) async fn retrying<T, F, Fut>(
    stop: &CancellationToken,
    mut operation: F,
) -> Result<T, DestinationError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DestinationError>>,
{
    let mut pause = FIRST_PAUSE;
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(error) if !error.is_retryable() || stop.is_cancelled() => return Err(error),
            Err(error) => {
                tracing::warn!(%error, retry_in = ?pause, "destination unavailable; pausing consumption");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.cancelled() => return Err(error),
                }
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}
