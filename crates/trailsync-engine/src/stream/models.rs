use async_trait::async_trait;
use chrono::{DateTime, Utc};
use trailsync_destination::DestinationError;

/// One Kinesis record.
#[derive(Clone, Debug)]
pub struct Record {
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// What one read of a shard returned.
#[derive(Debug, Default)]
pub struct ShardRead {
    pub records: Vec<Record>,
    /// The shard is closed and every record has been returned (no next iterator).
    pub closed: bool,
    /// How far the read is behind the tip of the stream; `Some(0)` means caught up.
    pub millis_behind_latest: Option<i64>,
}

/// A shard as the stream lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
    pub adjacent_parent_shard_id: Option<String>,
    /// Set once the shard is closed (after a split or merge).
    pub ending_sequence_number: Option<String>,
}

/// Where a shard is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartPosition {
    AfterSequenceNumber(String),
    AtTimestamp(DateTime<Utc>),
    TrimHorizon,
    Latest,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("stream {stream}: {message}")]
    Kinesis { stream: String, message: String },
    #[error("destination: {0}")]
    Destination(#[source] DestinationError),
}

/// A Kinesis stream. Implemented by `trailsync-aws`.
#[async_trait]
pub trait ShardSource: Send + Sync {
    fn stream_arn(&self) -> &str;
    async fn shards(&self) -> Result<Vec<ShardInfo>, StreamError>;
    async fn open(
        &self,
        shard_id: &str,
        start: StartPosition,
    ) -> Result<Box<dyn ShardReader>, StreamError>;
}

/// An open shard; each call waits as needed to respect the shard's read limits.
#[async_trait]
pub trait ShardReader: Send {
    async fn next_batch(&mut self) -> Result<ShardRead, StreamError>;
}
