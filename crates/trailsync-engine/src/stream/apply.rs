//! Records -> events -> changes -> fetched resources and deletions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use trailsync_catalog::{Deletion, Resource, Table, Value};
use trailsync_events::{Outcome, SkipReason, Target};

use super::Record;
use crate::{Inventory, Location, Stats, SyncPlan};

/// What the records of one batch ask for, per (table, location): coalesced, so repeated events
/// for one resource cost one fetch and ids of one table and location are fetched together.
#[derive(Debug, Default)]
struct Wanted {
    ids: BTreeSet<String>,
    /// A create without ids in its response: the whole table at that location is re-listed.
    refresh: bool,
}

type WantedKey = (&'static str, Location);

pub(super) struct Processor {
    plan: Arc<SyncPlan>,
    inventory: Arc<dyn Inventory>,
    stats: Arc<Stats>,
}

impl Processor {
    pub(super) fn new(
        plan: Arc<SyncPlan>,
        inventory: Arc<dyn Inventory>,
        stats: Arc<Stats>,
    ) -> Self {
        Processor {
            plan,
            inventory,
            stats,
        }
    }

    /// Turns a batch of records into the writes they call for. Never fails: bad records and
    /// failing resources are counted and logged, and the rest goes on.
    pub(super) async fn process(&self, records: &[Record]) -> (Vec<Resource>, Vec<Deletion>) {
        let wanted = self.collect(records);
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for ((_, location), (table, wanted)) in wanted {
            let children = self.plan.children_of(table);
            if wanted.refresh {
                match self.inventory.list(&location, table, &children).await {
                    Ok(found) => upserts.extend(found),
                    Err(error) => {
                        tracing::warn!(table = table.name, %location, %error, "refresh failed; rows left as they were");
                        self.stats.skip(format!("fetch failed: {}", table.name));
                    }
                }
                Stats::add(&self.stats.fetches, 1);
                continue;
            }
            let ids: Vec<String> = wanted.ids.into_iter().collect();
            let (found, missing) = self.fetch(table, &location, &children, &ids).await;
            upserts.extend(found);
            deletes.extend(
                missing
                    .into_iter()
                    .filter_map(|id| deletion(table, &location, id)),
            );
        }
        (upserts, deletes)
    }

    /// Decodes and routes every record, keeping what this source tracks.
    fn collect(&self, records: &[Record]) -> BTreeMap<WantedKey, (&'static Table, Wanted)> {
        let mut wanted: BTreeMap<WantedKey, (&'static Table, Wanted)> = BTreeMap::new();
        for record in records {
            Stats::add(&self.stats.records, 1);
            let decoded = trailsync_events::decode(&record.data);
            for skip in &decoded.skipped {
                tracing::warn!(sequence_number = %record.sequence_number, reason = %skip, "record part skipped");
                let (kind, n) = skip_kind(&skip.reason);
                self.stats.skip_n(kind, n);
            }
            for event in &decoded.events {
                Stats::add(&self.stats.events, 1);
                let changes = match trailsync_events::route(event) {
                    Outcome::Ignored(reason) => {
                        tracing::debug!(event = %event.event_name, %reason, "event ignored");
                        self.stats.skip(reason.to_string());
                        continue;
                    }
                    Outcome::Changes(changes) => changes,
                };
                for change in changes {
                    let Some(table) = self.selected(change.table) else {
                        self.stats.skip("table not selected");
                        continue;
                    };
                    let at = Location::new(change.account_id.clone(), change.region.clone());
                    let Some(location) = self.plan.resolve(table, &at) else {
                        tracing::debug!(location = %at, "event from a location this source does not sync");
                        self.stats.skip("location not configured");
                        continue;
                    };
                    let (_, entry) = wanted
                        .entry((table.name, location))
                        .or_insert_with(|| (table, Wanted::default()));
                    match change.target {
                        Target::Id(id) => {
                            entry.ids.insert(id);
                        }
                        Target::Refresh => entry.refresh = true,
                    }
                }
            }
        }
        wanted
    }

    fn selected(&self, name: &str) -> Option<&'static Table> {
        self.plan
            .tables
            .iter()
            .copied()
            .find(|t| t.name == name && t.is_top_level())
    }

    /// Fetches ids; those AWS does not return are asked for once more after a delay (EC2 is
    /// eventually consistent) before they count as deleted.
    async fn fetch(
        &self,
        table: &'static Table,
        location: &Location,
        children: &[&'static Table],
        ids: &[String],
    ) -> (Vec<Resource>, Vec<String>) {
        let mut found = Vec::new();
        let mut missing: Vec<String> = ids.to_vec();
        for attempt in 0..2 {
            if attempt > 0 {
                if missing.is_empty() {
                    break;
                }
                tokio::time::sleep(self.plan.not_found_retry_delay).await;
            }
            Stats::add(&self.stats.fetches, 1);
            match self
                .inventory
                .fetch(location, table, children, &missing)
                .await
            {
                Ok(resources) => {
                    let returned: BTreeSet<String> =
                        resources.iter().filter_map(|r| id_of(table, r)).collect();
                    missing.retain(|id| !returned.contains(id));
                    found.extend(resources);
                }
                Err(error) => {
                    tracing::warn!(table = table.name, %location, %error, "fetch failed; rows left as they were");
                    self.stats.skip(format!("fetch failed: {}", table.name));
                    return (found, Vec::new());
                }
            }
        }
        (found, missing)
    }
}

fn id_of(table: &Table, resource: &Resource) -> Option<String> {
    let column = table.id_column?;
    resource.row.get(column)?.as_str().map(str::to_string)
}

/// Deletes the row with this id at this location, whatever the table calls its location columns.
/// A table without an id column cannot be targeted by id: nothing is deleted.
fn deletion(table: &'static Table, location: &Location, id: String) -> Option<Deletion> {
    let id_column = table.id_column?;
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
