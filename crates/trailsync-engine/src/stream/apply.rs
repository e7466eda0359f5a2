//! Records -> events -> the work they ask for; and how rows are addressed for deletion.

use std::collections::BTreeSet;

use trailsync_catalog::{Deletion, Resource, Table, Value};
use trailsync_events::{Outcome, SkipReason, Target};

use trailsync_core::{Location, Record};

use super::window::{Want, WorkKey};
use crate::{Stats, SyncPlan};

/// Decodes one record and routes its events: the work this source should do for it, each piece
/// once. Never fails: bad input and events of no interest are counted and logged.
pub(super) fn route_record(plan: &SyncPlan, stats: &Stats, record: &Record) -> BTreeSet<WorkKey> {
    Stats::add(&stats.records, 1);
    let mut work = BTreeSet::new();
    let decoded = trailsync_events::decode(&record.data);
    for skip in &decoded.skipped {
        tracing::warn!(sequence_number = %record.sequence_number, reason = %skip, "record part skipped");
        let (kind, n) = skip_kind(&skip.reason);
        stats.skip_n(kind, n);
    }
    for event in &decoded.events {
        Stats::add(&stats.events, 1);
        let changes = match trailsync_events::route(event) {
            Outcome::Ignored(reason) => {
                tracing::debug!(event = %event.event_name, %reason, "event ignored");
                stats.skip(reason.to_string());
                continue;
            }
            Outcome::Changes(changes) => changes,
        };
        let mut applied = false;
        for change in changes {
            let Some(table) = top_level(plan, change.table.name) else {
                stats.skip("table not selected");
                continue;
            };
            let at = Location::new(change.account_id.clone(), change.region.clone());
            let Some(location) = plan.resolve(table, &at) else {
                tracing::debug!(location = %at, "event from a location this source does not sync");
                stats.skip("location not configured");
                continue;
            };
            let want = match change.target {
                Target::Id(id) => Want::Id(id),
                Target::Refresh => Want::All,
            };
            applied = true;
            work.insert(WorkKey {
                table: table.name,
                location,
                want,
            });
        }
        if applied {
            Stats::add(&stats.events_applied, 1);
        }
    }
    work
}

/// A selected top-level table by name.
pub(super) fn top_level(plan: &SyncPlan, name: &str) -> Option<&'static Table> {
    plan.tables
        .iter()
        .copied()
        .find(|t| t.name == name && t.is_top_level())
}

/// The id (`id_column` value) of a fetched resource.
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
        SkipReason::TooDeep => ("too deep", 1),
        SkipReason::Json(_) => ("invalid JSON", 1),
        SkipReason::NotCloudTrail(_) => ("not CloudTrail", 1),
        SkipReason::More(n) => ("invalid input (unlisted)", *n as u64),
    }
}
