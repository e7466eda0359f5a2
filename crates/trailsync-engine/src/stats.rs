use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Counters kept while syncing; printed as one summary line at shutdown.
#[derive(Debug, Default)]
pub struct Stats {
    /// Kinesis records read.
    pub records: AtomicU64,
    /// CloudTrail events decoded from them.
    pub events: AtomicU64,
    /// Events that asked for at least one resource this source tracks (the others are counted
    /// in `skipped` by reason).
    pub events_applied: AtomicU64,
    /// List and fetch-by-id requests made to the inventory (each may be several AWS calls).
    pub fetches: AtomicU64,
    /// Ids asked for again after AWS did not return them (eventual consistency).
    pub not_found_retries: AtomicU64,
    /// Fetches that failed for a reason that passes (throttling, 5xx, timeouts...) and wait to
    /// be asked again; their records' checkpoints wait with them.
    pub fetch_retries: AtomicU64,
    /// Changes given up on for good, each recorded in `trailsync_skipped`.
    pub changes_skipped: AtomicU64,
    pub rows_upserted: AtomicU64,
    pub rows_deleted: AtomicU64,
    pub batches_committed: AtomicU64,
    /// Reconciliations of one table against a full listing, while streaming.
    pub reconciliations: AtomicU64,
    /// Events and inputs passed over, by reason (`readOnly`, `error AccessDenied`, `bad gzip`...).
    skipped: Mutex<BTreeMap<String, u64>>,
    /// HTTP requests sent to AWS, retries included, by `service:Operation`.
    aws_calls: Mutex<BTreeMap<String, u64>>,
    /// Answers AWS gave as throttling (HTTP 429, 503, or a `Throttl*` error type), by
    /// `service:Operation`.
    aws_throttles: Mutex<BTreeMap<String, u64>>,
    /// Fetches by (table, outcome): `ok`, `retry` (failed for a reason that passes),
    /// `skipped` (given up on), `not_found` (asked again).
    fetch_outcomes: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Destination transactions while streaming, by how long they took.
    pub write_latency: Latency,
    /// Per shard this process reads: the last lag AWS reported and when its records were
    /// last read and checkpointed.
    shards: Mutex<BTreeMap<String, ShardProgress>>,
    /// The full sync is done (here or by another worker), or was not asked for.
    pub full_sync_done: AtomicBool,
}

/// What is known of one shard's progress, for metrics and readiness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardProgress {
    /// `MillisBehindLatest` of the last GetRecords answer.
    pub millis_behind: Option<i64>,
    /// When the last GetRecords answer came.
    pub last_read: Option<DateTime<Utc>>,
    /// When a checkpoint of the shard was last committed.
    pub last_checkpoint: Option<DateTime<Utc>>,
}

/// A histogram of durations with fixed buckets (upper bounds in seconds), Prometheus style.
#[derive(Debug)]
pub struct Latency {
    counts: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

/// Upper bounds of [`Latency`]'s buckets, in seconds; one more bucket holds the rest.
pub const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

impl Default for Latency {
    fn default() -> Latency {
        Latency {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Latency {
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// (sum in seconds, count, per-bucket counts with their upper bounds, the last infinite).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (sum, count, buckets)
    }
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts one thing passed over for `reason`.
    pub fn skip(&self, reason: impl Into<String>) {
        self.skip_n(reason, 1);
    }

    /// Counts `n` things passed over for `reason`.
    pub fn skip_n(&self, reason: impl Into<String>, n: u64) {
        if let Ok(mut map) = self.skipped.lock() {
            *map.entry(reason.into()).or_default() += n;
        }
    }

    /// How many things were passed over for each reason.
    pub fn skipped(&self) -> BTreeMap<String, u64> {
        self.skipped.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Counts one HTTP request to AWS (`ec2`, `DescribeInstances`).
    pub fn aws_call(&self, service: &str, operation: &str) {
        if let Ok(mut map) = self.aws_calls.lock() {
            let key = format!("{service}:{operation}");
            *map.entry(key).or_default() += 1;
        }
    }

    /// HTTP requests sent to AWS so far, by `service:Operation`.
    pub fn aws_calls(&self) -> BTreeMap<String, u64> {
        self.aws_calls.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn aws_throttle(&self, service: &str, operation: &str) {
        if let Ok(mut map) = self.aws_throttles.lock() {
            *map.entry(format!("{service}:{operation}")).or_default() += 1;
        }
    }

    pub fn aws_throttles(&self) -> BTreeMap<String, u64> {
        self.aws_throttles
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn fetch_outcome(&self, table: &'static str, outcome: &'static str, n: u64) {
        if let Ok(mut map) = self.fetch_outcomes.lock() {
            *map.entry((table, outcome)).or_default() += n;
        }
    }

    pub fn fetch_outcomes(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.fetch_outcomes
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// A GetRecords answer for `shard`, `millis_behind` the tip.
    pub fn shard_read(&self, shard: &str, millis_behind: Option<i64>) {
        if let Ok(mut map) = self.shards.lock() {
            let progress = map.entry(shard.to_string()).or_default();
            progress.last_read = Some(Utc::now());
            if millis_behind.is_some() {
                progress.millis_behind = millis_behind;
            }
        }
    }

    /// Checkpoints of `shards` committed now.
    pub fn checkpointed<'a>(&self, shards: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut map) = self.shards.lock() {
            let now = Utc::now();
            for shard in shards {
                map.entry(shard.to_string()).or_default().last_checkpoint = Some(now);
            }
        }
    }

    /// This process stopped reading `shard` (handed over, lost, or finished).
    pub fn shard_gone(&self, shard: &str) {
        if let Ok(mut map) = self.shards.lock() {
            map.remove(shard);
        }
    }

    pub fn shards(&self) -> BTreeMap<String, ShardProgress> {
        self.shards.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "records={} events={} events_applied={} fetches={} not_found_retries={} fetch_retries={} changes_skipped={} rows_upserted={} rows_deleted={} batches={} reconciliations={}",
            Stats::get(&self.records),
            Stats::get(&self.events),
            Stats::get(&self.events_applied),
            Stats::get(&self.fetches),
            Stats::get(&self.not_found_retries),
            Stats::get(&self.fetch_retries),
            Stats::get(&self.changes_skipped),
            Stats::get(&self.rows_upserted),
            Stats::get(&self.rows_deleted),
            Stats::get(&self.batches_committed),
            Stats::get(&self.reconciliations),
        )?;
        for (reason, n) in self.skipped() {
            write!(f, " skipped[{reason}]={n}")?;
        }
        for (operation, n) in self.aws_calls() {
            write!(f, " aws[{operation}]={n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_names_every_counter() {
        let stats = Stats::default();
        Stats::add(&stats.records, 3);
        stats.skip("readOnly");
        stats.aws_call("ec2", "DescribeInstances");
        stats.aws_call("ec2", "DescribeInstances");
        let line = stats.to_string();
        assert!(line.starts_with("records=3 events=0"), "{line}");
        assert!(line.contains(" skipped[readOnly]=1"), "{line}");
        assert!(line.ends_with(" aws[ec2:DescribeInstances]=2"), "{line}");
        assert!(!line.contains('\n'));
    }
}
