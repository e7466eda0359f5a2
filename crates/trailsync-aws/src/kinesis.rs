//! Reading a Kinesis stream: the engine's `ShardSource`.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::{Region, SdkConfig};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::get_records::GetRecordsError;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;
use trailsync_config::StreamArn;

use trailsync_core::{
    Position, Record, SequenceNumber, ShardInfo, ShardRead, ShardReader, ShardSource, StreamError,
};

use crate::errors::{describe, kind};

/// Kinesis allows 5 GetRecords per second per shard.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// An idle shard is polled at most this rarely.
const MAX_IDLE_INTERVAL: Duration = Duration::from_secs(1);
const RECORDS_PER_CALL: i32 = 1000;

/// A Kinesis stream read with the credentials given for it.
pub struct KinesisSource {
    client: Client,
    arn: String,
}

impl KinesisSource {
    /// `config` carries the stream reader's credentials; the region is the stream's own.
    pub fn new(config: &SdkConfig, stream: &StreamArn) -> KinesisSource {
        let config = config
            .clone()
            .into_builder()
            .region(Region::new(stream.region.clone()))
            .build();
        KinesisSource {
            client: Client::new(&config),
            arn: stream.arn.clone(),
        }
    }

    fn error<E>(&self, operation: &str, e: SdkError<E>) -> StreamError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        stream_error(&self.arn, operation, e)
    }
}

#[async_trait]
impl ShardSource for KinesisSource {
    fn stream_arn(&self) -> &str {
        &self.arn
    }

    async fn shards(&self) -> Result<Vec<ShardInfo>, StreamError> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_arn(&self.arn),
            };
            let page = request
                .send()
                .await
                .map_err(|e| self.error("ListShards", e))?;
            shards.extend(page.shards().iter().map(|s| {
                ShardInfo {
                    shard_id: s.shard_id().to_string(),
                    parent_shard_id: s.parent_shard_id().map(str::to_string),
                    adjacent_parent_shard_id: s.adjacent_parent_shard_id().map(str::to_string),
                    ending_sequence_number: s
                        .sequence_number_range()
                        .and_then(|r| r.ending_sequence_number())
                        .and_then(SequenceNumber::new),
                }
            }));
            match page.next_token() {
                Some(token) => next_token = Some(token.to_string()),
                None => return Ok(shards),
            }
        }
    }

    async fn open(
        &self,
        shard_id: &str,
        start: Position,
    ) -> Result<Box<dyn ShardReader>, StreamError> {
        let mut reader = KinesisShardReader {
            client: self.client.clone(),
            arn: self.arn.clone(),
            shard_id: shard_id.to_string(),
            start,
            last_sequence: None,
            iterator: None,
            next_poll: Instant::now(),
            idle: MIN_POLL_INTERVAL,
        };
        reader.iterator = reader.new_iterator().await?;
        Ok(Box::new(reader))
    }
}

struct KinesisShardReader {
    client: Client,
    arn: String,
    shard_id: String,
    start: Position,
    /// The last sequence number returned: a fresh iterator resumes after it.
    last_sequence: Option<SequenceNumber>,
    iterator: Option<String>,
    next_poll: Instant,
    idle: Duration,
}

impl KinesisShardReader {
    async fn new_iterator(&self) -> Result<Option<String>, StreamError> {
        let position = match &self.last_sequence {
            Some(seq) => Position::After(seq.clone()),
            None => self.start.clone(),
        };
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(&self.shard_id);
        let request = match position {
            Position::After(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq.as_str()),
            Position::At(t) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from_millis(t.timestamp_millis())),
            Position::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let operation = format!("GetShardIterator {}", self.shard_id);
        let answer = request
            .send()
            .await
            .map_err(|e| stream_error(&self.arn, &operation, e))?;
        Ok(answer.shard_iterator().map(str::to_string))
    }
}

#[async_trait]
impl ShardReader for KinesisShardReader {
    async fn next_batch(&mut self) -> Result<ShardRead, StreamError> {
        let Some(iterator) = self.iterator.clone() else {
            return Ok(ShardRead {
                closed: true,
                ..ShardRead::default()
            });
        };
        tokio::time::sleep_until(self.next_poll).await;
        let answer = self
            .client
            .get_records()
            .stream_arn(&self.arn)
            .shard_iterator(iterator)
            .limit(RECORDS_PER_CALL)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                match e.as_service_error() {
                    // Five minutes unused (a long pause in the processor): a fresh iterator
                    // resumes after the last record returned.
                    Some(GetRecordsError::ExpiredIteratorException(_)) => {
                        self.iterator = self.new_iterator().await?;
                        self.next_poll = Instant::now();
                    }
                    // The shard's read budget (shared with other consumers) is spent: slow down.
                    Some(GetRecordsError::ProvisionedThroughputExceededException(_)) => {
                        self.idle = (self.idle * 2).min(Duration::from_secs(5));
                        self.next_poll = Instant::now() + self.idle;
                    }
                    // Anything else is the caller's to judge (it passes, or the stream is gone).
                    _ => {
                        self.next_poll = Instant::now() + MIN_POLL_INTERVAL;
                        return Err(stream_error(
                            &self.arn,
                            &format!("GetRecords {}", self.shard_id),
                            e,
                        ));
                    }
                }
                return Ok(ShardRead::default());
            }
        };
        let records: Vec<Record> = answer
            .records()
            .iter()
            .filter_map(|r| {
                let Some(sequence_number) = SequenceNumber::new(r.sequence_number()) else {
                    tracing::warn!(shard = %self.shard_id, sequence_number = r.sequence_number(), "record with a malformed sequence number passed over");
                    return None;
                };
                Some(Record {
                    sequence_number,
                    data: r.data().as_ref().to_vec(),
                })
            })
            .collect();
        if let Some(last) = records.last() {
            self.last_sequence = Some(last.sequence_number.clone());
        }
        self.iterator = answer.next_shard_iterator().map(str::to_string);
        self.idle = if records.is_empty() {
            (self.idle * 2).min(MAX_IDLE_INTERVAL)
        } else {
            MIN_POLL_INTERVAL
        };
        self.next_poll = Instant::now() + self.idle;
        Ok(ShardRead {
            closed: self.iterator.is_none() && records.is_empty(),
            millis_behind_latest: answer.millis_behind_latest(),
            records,
        })
    }
}

/// A Kinesis error, transient or not as [`kind`] classifies it.
fn stream_error<E>(stream: &str, operation: &str, error: SdkError<E>) -> StreamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    StreamError {
        stream: stream.to_string(),
        message: format!("{operation}: {}", describe(&error)),
        transient: kind(&error).is_transient(),
        source: Some(Box::new(error)),
    }
}
