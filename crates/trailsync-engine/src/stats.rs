use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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
