//! One task per shard: read it into the processor's queue until stopped or the shard is done.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::processor::Input;
use trailsync_core::{Position, SequenceNumber, ShardInfo, ShardSource};

use super::shards::reached_end;

/// Back-off bounds after a failed open or read (the SDK has retried already).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Reads `shard` from `start`. `ending` carries the shard's EndingSequenceNumber once a listing
/// shows it closed. Returns when stopped, when the processor is gone, or after sending
/// [`Input::End`] for a shard read to its end.
pub(super) async fn read_shard(
    source: Arc<dyn ShardSource>,
    shard: ShardInfo,
    start: Position,
    ending: watch::Receiver<Option<SequenceNumber>>,
    tx: mpsc::Sender<Input>,
    stop: CancellationToken,
) {
    let id: Arc<str> = Arc::from(shard.shard_id.as_str());
    tracing::info!(shard = %id, ?start, "opening shard");
    let mut position = start.sequence_number().cloned();
    let mut backoff = FIRST_BACKOFF;
    let mut reader = loop {
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            opened = source.open(&id, start.clone()) => opened,
        };
        match opened {
            Ok(reader) => break reader,
            Err(error) => {
                tracing::warn!(shard = %id, %error, retry_in = ?backoff, "cannot open shard");
                if !pause(&stop, &mut backoff).await {
                    return;
                }
            }
        }
    };
    backoff = FIRST_BACKOFF;
    loop {
        let read = tokio::select! {
            _ = stop.cancelled() => return,
            read = reader.next_batch() => read,
        };
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(shard = %id, %error, retry_in = ?backoff, "cannot read shard");
                if !pause(&stop, &mut backoff).await {
                    return;
                }
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        if let Some(last) = read.records.last() {
            position = Some(last.sequence_number.clone());
        }
        let ending = ending.borrow().clone();
        let end = reached_end(position.as_ref(), ending.as_ref(), &read);
        if !read.records.is_empty() {
            let input = Input::Records {
                shard: id.clone(),
                records: read.records,
            };
            if !send(&tx, input, &stop).await {
                return;
            }
        }
        if end {
            tracing::info!(shard = %id, "shard read to its end");
            let input = Input::End {
                shard: id,
                final_sequence: SequenceNumber::later(position, ending),
            };
            send(&tx, input, &stop).await;
            return;
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

/// Waits out a back-off (doubling it); false when stopped meanwhile.
async fn pause(stop: &CancellationToken, backoff: &mut Duration) -> bool {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}
