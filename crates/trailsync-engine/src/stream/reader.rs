//! One task per shard: read it into the processor's queue until stopped or the shard is done.
//!
//! A read that fails is tried again with backoff; a shard that stays unreadable ends the run
//! (with the error) once it has failed for longer than its patience: briefly for errors that
//! will not pass (the stream deleted, access denied, its KMS key disabled), longer for those that
//! might (throttling, 5xx).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use trailsync_core::{Position, SequenceNumber, ShardInfo, ShardSource, StreamError};

use super::messages::Input;
use super::shards::reached_end;
use crate::Stats;

/// Back-off bounds after a failed open or read (the SDK has retried already).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long a shard may fail without a single success before the run ends.
pub(super) fn patience(error: &StreamError) -> Duration {
    if error.transient {
        Duration::from_secs(10 * 60)
    } else {
        Duration::from_secs(20)
    }
}

/// Failures since the last success, and when they began.
#[derive(Debug, Default)]
pub(super) struct Trouble {
    since: Option<Instant>,
    backoff: Option<Duration>,
}

impl Trouble {
    /// A failure at `now`: the error back if failures have lasted past its patience, else how
    /// long to pause.
    pub(super) fn failed(
        &mut self,
        error: StreamError,
        now: Instant,
    ) -> Result<Duration, StreamError> {
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) >= patience(&error) {
            return Err(error);
        }
        let pause = self
            .backoff
            .map_or(FIRST_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
        self.backoff = Some(pause);
        Ok(pause)
    }

    pub(super) fn recovered(&mut self) {
        *self = Trouble::default();
    }
}

/// The reading of one shard under one lease.
pub(super) struct Lease {
    pub epoch: u64,
    /// Where the lease says to resume.
    pub start: Position,
    /// MillisBehindLatest of the last read, for the heartbeat to report.
    pub lag: Arc<AtomicI64>,
    /// Where each answer is noted (metrics, readiness).
    pub stats: Arc<Stats>,
}

/// Reads `shard` from the lease's start. `ending` carries the shard's EndingSequenceNumber once
/// a listing shows it closed. Returns when stopped, when the processor is gone, or after
/// sending [`Input::End`] for a shard read to its end; an error when the shard stayed
/// unreadable.
pub(super) async fn read_shard(
    source: Arc<dyn ShardSource>,
    shard: ShardInfo,
    lease: Lease,
    ending: watch::Receiver<Option<SequenceNumber>>,
    tx: mpsc::Sender<Input>,
    stop: CancellationToken,
) -> Result<(), StreamError> {
    let Lease {
        epoch,
        start,
        lag,
        stats,
    } = lease;
    let id: Arc<str> = Arc::from(shard.shard_id.as_str());
    tracing::info!(shard = %id, ?start, "opening shard");
    let mut position = start.sequence_number().cloned();
    let mut trouble = Trouble::default();
    let mut reader = loop {
        let opened = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            opened = source.open(&id, start.clone()) => opened,
        };
        match opened {
            Ok(reader) => break reader,
            Err(error) => {
                tracing::warn!(shard = %id, %error, "cannot open shard");
                let pause = trouble.failed(error, Instant::now())?;
                if !sleep(&stop, pause).await {
                    return Ok(());
                }
            }
        }
    };
    trouble.recovered();
    loop {
        let read = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            read = reader.next_batch() => read,
        };
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(shard = %id, %error, "cannot read shard");
                let pause = trouble.failed(error, Instant::now())?;
                if !sleep(&stop, pause).await {
                    return Ok(());
                }
                continue;
            }
        };
        trouble.recovered();
        stats.shard_read(&id, read.millis_behind_latest);
        if let Some(behind) = read.millis_behind_latest {
            lag.store(behind, Ordering::Relaxed);
        }
        if let Some(last) = read.records.last() {
            position = Some(last.sequence_number.clone());
        }
        let ending = ending.borrow().clone();
        let end = reached_end(position.as_ref(), ending.as_ref(), &read);
        if !read.records.is_empty() {
            let input = Input::Records {
                shard: id.clone(),
                epoch,
                records: read.records,
            };
            if !send(&tx, input, &stop).await {
                return Ok(());
            }
        }
        if end {
            tracing::info!(shard = %id, "shard read to its end");
            let input = Input::End {
                shard: id,
                epoch,
                final_sequence: SequenceNumber::later(position, ending),
            };
            send(&tx, input, &stop).await;
            return Ok(());
        }
    }
}

/// Sends to the processor; false when stopped or the processor is gone.
async fn send(tx: &mpsc::Sender<Input>, input: Input, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        sent = tx.send(input) => sent.is_ok(),
    }
}

/// Waits `pause`; false when stopped meanwhile.
async fn sleep(stop: &CancellationToken, pause: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(pause) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(transient: bool) -> StreamError {
        StreamError {
            stream: "arn".into(),
            message: "GetRecords: ResourceNotFoundException".into(),
            transient,
            source: None,
        }
    }

    #[test]
    fn a_shard_that_stays_unreadable_gives_up_after_its_patience() {
        let start = Instant::now();
        let mut trouble = Trouble::default();
        let first = trouble
            .failed(error(false), start)
            .expect("patient at first");
        assert_eq!(first, FIRST_BACKOFF);
        assert_eq!(
            trouble.failed(error(false), start).ok(),
            Some(FIRST_BACKOFF * 2)
        );
        let later = start + patience(&error(false));
        assert!(
            trouble.failed(error(false), later).is_err(),
            "a stream that is gone ends the run"
        );

        // Errors that may pass are given far longer, and a success starts over.
        let mut trouble = Trouble::default();
        trouble.failed(error(true), start).expect("patient");
        assert!(trouble.failed(error(true), later).is_ok());
        trouble.recovered();
        let much_later = later + patience(&error(true));
        assert!(
            trouble.failed(error(true), much_later).is_ok(),
            "the clock restarted at the success"
        );
    }
}
