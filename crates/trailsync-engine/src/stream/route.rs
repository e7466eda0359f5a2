//! Records -> events -> the work they ask for; and how rows are addressed for deletion.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use trailsync_catalog::{Deletion, Resource, Table, Value};
use trailsync_core::{EventCause, Location, Record};
use trailsync_events::{Outcome, SkipReason, Target};

use super::window::{Want, WorkKey};
use crate::{Stats, SyncPlan};

/// How long an event id is remembered: an event delivered twice (EventBridge and the CloudWatch
/// Logs path into one stream, minutes apart) is applied once.
const DEDUPE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The most event ids remembered, whatever their age: memory stays bounded.
const DEDUPE_CAPACITY: usize = 50_000;

/// Turns records into work for one source: decodes, routes, drops duplicates and events of
/// places the source does not sync.
#[derive(Debug)]
pub(super) struct Router {
    plan: Arc<SyncPlan>,
    stats: Arc<Stats>,
    seen: RecentIds,
    /// Locations events came from that the source does not sync, warned about once each.
    unknown: HashSet<Location>,
}

impl Router {
    pub(super) fn new(plan: Arc<SyncPlan>, stats: Arc<Stats>) -> Router {
        Router {
            plan,
            stats,
            seen: RecentIds::default(),
            unknown: HashSet::new(),
        }
    }

    /// Forgets the events seen: after a shard is forgotten, its records may be read again
    /// (from its last checkpoint), and each must then ask for its work again rather than pass
    /// as a duplicate of work that will never checkpoint. Costs at most some repeated fetches.
    pub(super) fn forget_seen(&mut self) {
        self.seen = RecentIds::default();
    }

    /// The work one record asks for, each (event, key) once. Never fails: bad input and events
    /// of no interest are counted and logged.
    pub(super) fn route(
        &mut self,
        record: &Record,
        now: Instant,
    ) -> Vec<(WorkKey, Arc<EventCause>)> {
        let stats = &self.stats;
        Stats::add(&stats.records, 1);
        let mut work = Vec::new();
        let decoded = trailsync_events::decode(&record.data);
        for skip in &decoded.skipped {
            tracing::warn!(sequence_number = %record.sequence_number, reason = %skip, "record part skipped");
            let (kind, n) = skip_kind(&skip.reason);
            stats.skip_n(kind, n);
        }
        for event in &decoded.events {
            Stats::add(&stats.events, 1);
            if let Some(id) = &event.event_id
                && !self.seen.insert(id, now)
            {
                tracing::debug!(event_id = %id, event = %event.event_name, "event seen already; applied once");
                stats.skip("duplicate event");
                continue;
            }
            let changes = match trailsync_events::route(event) {
                Outcome::Ignored(reason) => {
                    tracing::debug!(event = %event.event_name, %reason, "event ignored");
                    stats.skip(reason.to_string());
                    continue;
                }
                Outcome::Changes(changes) => changes,
            };
            let cause = Arc::new(event.cause());
            let mut keys = BTreeSet::new();
            for change in changes {
                let Some(table) = top_level(&self.plan, change.table.name) else {
                    stats.skip("table not selected");
                    continue;
                };
                let at = Location::new(change.account_id.clone(), change.region.clone());
                let Some(location) = self.plan.resolve(table, &at) else {
                    // Not fetched: this source has no credentials there, or does not sync it.
                    let known = self.plan.locations.has_account(&at.account_id);
                    if self.unknown.insert(at.clone()) {
                        tracing::warn!(location = %at, event = %event.event_name, known_account = known, "event from an account or region this source does not sync; such events are counted and passed over");
                    }
                    stats.skip(if known {
                        "region not synced"
                    } else {
                        "unknown account"
                    });
                    continue;
                };
                let want = match change.target {
                    Target::Id(id) => Want::Id(id),
                    Target::Refresh => Want::All,
                };
                keys.insert(WorkKey {
                    table,
                    location,
                    want,
                });
            }
            if !keys.is_empty() {
                Stats::add(&stats.events_applied, 1);
            }
            work.extend(keys.into_iter().map(|key| (key, cause.clone())));
        }
        work
    }
}

/// Event ids seen within [`DEDUPE_WINDOW`], at most [`DEDUPE_CAPACITY`] of them.
#[derive(Debug, Default)]
struct RecentIds {
    ids: HashSet<Arc<str>>,
    order: VecDeque<(Instant, Arc<str>)>,
}

impl RecentIds {
    /// Notes `id`; false if it was seen already within the window.
    fn insert(&mut self, id: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) <= DEDUPE_WINDOW && self.order.len() < DEDUPE_CAPACITY {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        if self.ids.contains(id) {
            return false;
        }
        let id: Arc<str> = Arc::from(id);
        self.ids.insert(id.clone());
        self.order.push_back((now, id));
        true
    }
}

/// A selected top-level table by name.
pub(super) fn top_level(plan: &SyncPlan, name: &str) -> Option<&'static Table> {
    plan.tables
        .iter()
        .copied()
        .find(|t| t.name == name && t.is_top_level())
}

/// The id (id column value) of a fetched resource.
pub(super) fn id_of(table: &Table, resource: &Resource) -> Option<String> {
    let column = table.id_column()?;
    resource.row.get(column)?.as_str().map(str::to_string)
}

/// The columns that place a row at `location`, whatever the table calls them (`account_id` or
/// `request_account_id`, `region` or `request_region`); only those the table has.
pub(crate) fn location_filter(table: &Table, location: &Location) -> Vec<(&'static str, Value)> {
    let mut filter = Vec::new();
    for (candidates, value) in [
        (["account_id", "request_account_id"], &location.account_id),
        (["region", "request_region"], &location.region),
    ] {
        if let Some(column) = candidates
            .into_iter()
            .find(|c| table.column_index(c).is_some())
        {
            filter.push((column, Value::Text(value.clone())));
        }
    }
    filter
}

/// Deletes the row with this id at this location (and, in the destination, its children).
/// A table without an id column cannot be targeted by id: nothing is deleted.
pub(super) fn deletion(table: &'static Table, location: &Location, id: String) -> Option<Deletion> {
    let id_column = table.id_column()?;
    let mut filter = location_filter(table, location);
    filter.push((id_column, Value::Text(id)));
    Some(Deletion { table, filter })
}

/// A bounded set of counter names for skipped input (messages vary; kinds do not), and how many
/// parts the skip stands for.
fn skip_kind(reason: &SkipReason) -> (&'static str, u64) {
    match reason {
        SkipReason::Empty => ("empty record", 1),
        SkipReason::ControlMessage => ("control message", 1),
        SkipReason::Gzip(_) => ("bad gzip", 1),
        SkipReason::TooLarge => ("too large", 1),
        SkipReason::Json(_) => ("invalid JSON", 1),
        SkipReason::NotCloudTrail(_) => ("not CloudTrail", 1),
        SkipReason::More(n) => ("invalid input (unlisted)", *n as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_applied_once_within_the_window() {
        let mut seen = RecentIds::default();
        let start = Instant::now();
        assert!(seen.insert("e-1", start));
        assert!(!seen.insert("e-1", start + Duration::from_secs(60)));
        assert!(seen.insert("e-2", start + Duration::from_secs(60)));
        // Past the window, an id is forgotten (a replay after an hour is applied again).
        let later = start + DEDUPE_WINDOW + Duration::from_secs(61);
        assert!(seen.insert("e-1", later));
        assert_eq!(seen.ids.len(), 1, "old ids evicted");
    }

    #[test]
    fn memory_is_bounded_whatever_the_rate() {
        let mut seen = RecentIds::default();
        let now = Instant::now();
        for n in 0..(DEDUPE_CAPACITY + 10) {
            assert!(seen.insert(&n.to_string(), now));
        }
        assert!(seen.ids.len() <= DEDUPE_CAPACITY);
        assert_eq!(seen.ids.len(), seen.order.len());
    }
}
