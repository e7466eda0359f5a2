use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use trailsync_catalog::{GLOBAL_REGION, Scope, Table};
use trailsync_core::{Location, Trigger, WriteBatch};

/// What one source syncs and where it writes: everything the engine needs from the config.
#[derive(Clone, Debug)]
pub struct SyncPlan {
    /// The source's name, stamped into `_cq_source_name`.
    pub source_name: String,
    /// Selected tables, parents before children.
    pub tables: Vec<&'static Table>,
    /// Every (account, region) of the source; global tables use one per account. Shared and
    /// replaceable: an organization's accounts change while streaming.
    pub locations: Locations,
    /// Whether a full sync deletes rows of this source it did not see.
    pub delete_stale: bool,
    /// Top-level (table, location) listings run at once during a full sync.
    pub concurrency: usize,
    /// Resources per destination transaction during a full sync.
    pub batch_size: usize,
    /// How long to wait before re-checking a resource AWS said is gone (eventual consistency).
    pub not_found_retry_delay: Duration,
    /// Record every change applied in `trailsync_changes` (`history.enabled`).
    pub history: bool,
}

impl SyncPlan {
    /// An empty transaction of this source at `sync_time`, its changes made for `trigger`.
    pub fn batch(&self, sync_time: DateTime<Utc>, trigger: Trigger) -> WriteBatch {
        let mut batch = WriteBatch::new(self.source_name.clone(), sync_time);
        batch.history = self.history;
        batch.attribution.trigger = trigger;
        batch
    }

    /// The selected top-level tables.
    pub fn top_level(&self) -> impl Iterator<Item = &'static Table> + '_ {
        self.tables.iter().copied().filter(|t| t.is_top_level())
    }

    /// The selected direct children of `parent`.
    pub fn children_of(&self, parent: &Table) -> Vec<&'static Table> {
        self.tables
            .iter()
            .copied()
            .filter(|t| t.parent == Some(parent))
            .collect()
    }

    pub fn is_selected(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t.name == table)
    }

    /// Where `table` is listed: every location if regional, one per account if global.
    pub fn locations_for(&self, table: &Table) -> Vec<Location> {
        let locations = self.locations.get();
        match table.scope {
            Scope::Regional => locations.to_vec(),
            Scope::Global => {
                let accounts: BTreeSet<&str> =
                    locations.iter().map(|l| l.account_id.as_str()).collect();
                accounts
                    .into_iter()
                    .map(|a| Location::new(a, GLOBAL_REGION))
                    .collect()
            }
        }
    }

    /// Maps an event's location to the one this plan lists `table` at, if it is configured.
    pub fn resolve(&self, table: &Table, location: &Location) -> Option<Location> {
        let locations = self.locations.get();
        match table.scope {
            Scope::Regional => locations.contains(location).then(|| location.clone()),
            Scope::Global => locations
                .iter()
                .any(|l| l.account_id == location.account_id)
                .then(|| Location::new(location.account_id.clone(), GLOBAL_REGION)),
        }
    }
}

/// The (account, region) pairs of a source: read often, replaced when an organization's
/// membership changes. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct Locations(Arc<RwLock<Arc<Vec<Location>>>>);

impl Locations {
    pub fn new(locations: Vec<Location>) -> Locations {
        Locations(Arc::new(RwLock::new(Arc::new(locations))))
    }

    /// The current pairs.
    pub fn get(&self) -> Arc<Vec<Location>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the pairs; whether anything changed.
    pub fn set(&self, locations: Vec<Location>) -> bool {
        let mut current = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if **current == locations {
            return false;
        }
        *current = Arc::new(locations);
        true
    }

    /// Whether any pair is of `account`.
    pub fn has_account(&self, account: &str) -> bool {
        self.get().iter().any(|l| l.account_id == account)
    }
}
