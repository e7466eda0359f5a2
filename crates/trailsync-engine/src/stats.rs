use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters kept while syncing; printed as one summary line at shutdown.
#[derive(Debug, Default)]
pub struct Stats {
    pub records: AtomicU64,
    pub events: AtomicU64,
    pub fetches: AtomicU64,
    pub rows_upserted: AtomicU64,
    pub rows_deleted: AtomicU64,
    pub batches_committed: AtomicU64,
    /// Events and inputs passed over, by reason (`readOnly`, `error AccessDenied`, `bad gzip`...).
    skipped: Mutex<BTreeMap<String, u64>>,
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
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "records={} events={} fetches={} rows_upserted={} rows_deleted={} batches={}",
            Stats::get(&self.records),
            Stats::get(&self.events),
            Stats::get(&self.fetches),
            Stats::get(&self.rows_upserted),
            Stats::get(&self.rows_deleted),
            Stats::get(&self.batches_committed),
        )?;
        for (reason, n) in self.skipped() {
            write!(f, " skipped[{reason}]={n}")?;
        }
        Ok(())
    }
}
