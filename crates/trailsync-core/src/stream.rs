//! A Kinesis stream as the engine reads it: shards, records, and positions within a shard.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};

/// A record's place in its shard. Kinesis sequence numbers are decimal strings, up to 128 bits
/// on AWS (longer than any integer type SQL or JSON keeps) and small integers on moto, so they
/// are kept as text and ordered as numbers: `9 < 10`, and `007 == 7`.
#[derive(Clone, Debug)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    /// A sequence number from its decimal text; `None` unless it is all ASCII digits.
    pub fn new(text: impl Into<String>) -> Option<SequenceNumber> {
        let text = text.into();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then_some(SequenceNumber(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without leading zeros: what ordering, equality and hashing look at.
    fn significant(&self) -> &str {
        self.0.trim_start_matches('0')
    }

    /// The later of two optional positions.
    pub fn later(a: Option<SequenceNumber>, b: Option<SequenceNumber>) -> Option<SequenceNumber> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SequenceNumber {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SequenceNumber {}

impl Hash for SequenceNumber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.significant().hash(state);
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where reading a shard starts, and what a checkpoint stores: durable, so a restart resumes
/// exactly there. (Kinesis' LATEST is not a position: it moves. A stream started "from now"
/// starts [`Position::At`] the instant it started.)
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// After this record: it and everything before it are applied.
    After(SequenceNumber),
    /// The first record that arrived at or after this instant.
    At(DateTime<Utc>),
    /// The oldest record the stream still holds.
    TrimHorizon,
}

/// A stored position that is none of the forms [`Position`] writes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a shard position: {0:?}")]
pub struct UnknownPosition(pub String);

const AT_PREFIX: &str = "at:";
const TRIM_HORIZON: &str = "trim_horizon";

impl fmt::Display for Position {
    /// The stored form: the sequence number's digits (as checkpoints always were),
    /// `at:2026-11-30T10:00:00.000000Z`, or `trim_horizon`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::After(seq) => write!(f, "{seq}"),
            Position::At(t) => write!(
                f,
                "{AT_PREFIX}{}",
                t.to_rfc3339_opts(SecondsFormat::Micros, true)
            ),
            Position::TrimHorizon => f.write_str(TRIM_HORIZON),
        }
    }
}

impl FromStr for Position {
    type Err = UnknownPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == TRIM_HORIZON {
            return Ok(Position::TrimHorizon);
        }
        if let Some(at) = s.strip_prefix(AT_PREFIX) {
            return DateTime::parse_from_rfc3339(at)
                .map(|t| Position::At(t.with_timezone(&Utc)))
                .map_err(|_| UnknownPosition(s.to_string()));
        }
        SequenceNumber::new(s)
            .map(Position::After)
            .ok_or_else(|| UnknownPosition(s.to_string()))
    }
}

impl Ord for Position {
    /// Positions of one shard in the order reading progresses through them: a checkpoint starts
    /// where the shard was opened (the trim horizon, or an instant) and then moves after records.
    /// So `TrimHorizon` < any `At` (in time order) < any `After` (in sequence order).
    fn cmp(&self, other: &Self) -> Ordering {
        fn rank(p: &Position) -> u8 {
            match p {
                Position::TrimHorizon => 0,
                Position::At(_) => 1,
                Position::After(_) => 2,
            }
        }
        match (self, other) {
            (Position::At(a), Position::At(b)) => a.cmp(b),
            (Position::After(a), Position::After(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Position {
    /// The sequence number this position is after, if it names one.
    pub fn sequence_number(&self) -> Option<&SequenceNumber> {
        match self {
            Position::After(seq) => Some(seq),
            _ => None,
        }
    }
}

/// One Kinesis record.
#[derive(Clone, Debug)]
pub struct Record {
    pub sequence_number: SequenceNumber,
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
    pub ending_sequence_number: Option<SequenceNumber>,
}

impl ShardInfo {
    /// The shard's parents (none, one after a split, two after a merge).
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        [&self.parent_shard_id, &self.adjacent_parent_shard_id]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// Why the stream could not be read.
#[derive(Debug, thiserror::Error)]
#[error("stream {stream}: {message}")]
pub struct StreamError {
    pub stream: String,
    /// The operation and what AWS said, on one line.
    pub message: String,
    /// Whether waiting can help (throttling, a 5xx, a dropped connection), as opposed to a stream
    /// that is gone or may not be read (ResourceNotFound, AccessDenied, a disabled KMS key).
    pub transient: bool,
    #[source]
    pub source: Option<crate::BoxError>,
}

/// A Kinesis stream. Implemented by `trailsync-aws`.
#[async_trait]
pub trait ShardSource: Send + Sync {
    fn stream_arn(&self) -> &str;
    async fn shards(&self) -> Result<Vec<ShardInfo>, StreamError>;
    async fn open(
        &self,
        shard_id: &str,
        start: Position,
    ) -> Result<Box<dyn ShardReader>, StreamError>;
}

/// An open shard; each call waits as needed to respect the shard's read limits.
#[async_trait]
pub trait ShardReader: Send {
    async fn next_batch(&mut self) -> Result<ShardRead, StreamError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(s: &str) -> SequenceNumber {
        SequenceNumber::new(s).expect("digits")
    }

    #[test]
    fn sequence_numbers_compare_as_numbers_of_any_length() {
        assert!(seq("9") < seq("10"));
        assert!(seq("10") > seq("9"));
        assert_eq!(seq("007"), seq("7"));
        let aws_a = seq("49590338271490256608559692538361571095921575989136588898");
        let aws_b = seq("49590338271490256608559692540925702759324208523137515618");
        assert!(aws_a < aws_b);
        assert!(aws_b > seq("12"));
        assert_eq!(seq("0"), seq("000"));
        assert_eq!(
            SequenceNumber::later(Some(seq("12")), Some(seq("9"))),
            Some(seq("12"))
        );
        assert_eq!(SequenceNumber::later(None, Some(seq("0"))), Some(seq("0")));
        assert_eq!(SequenceNumber::new("12a"), None);
        assert_eq!(SequenceNumber::new(""), None);
    }

    #[test]
    fn positions_round_trip_through_their_stored_form() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T10:02:11.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        for position in [
            Position::After(seq(
                "4959033827149025660855969253836157109592157598913658889",
            )),
            Position::At(at),
            Position::TrimHorizon,
        ] {
            let text = position.to_string();
            assert_eq!(text.parse::<Position>(), Ok(position), "{text}");
        }
        assert_eq!(
            Position::At(at).to_string(),
            "at:2026-11-30T10:02:11.123456Z"
        );
        assert!("latest".parse::<Position>().is_err());
        let earlier = at - chrono::Duration::seconds(1);
        let mut progress = vec![
            Position::After(seq("10")),
            Position::At(at),
            Position::After(seq("9")),
            Position::TrimHorizon,
            Position::At(earlier),
        ];
        progress.sort();
        assert_eq!(
            progress,
            [
                Position::TrimHorizon,
                Position::At(earlier),
                Position::At(at),
                Position::After(seq("9")),
                Position::After(seq("10")),
            ]
        );
        assert!("at:yesterday".parse::<Position>().is_err());
    }
}
