use std::collections::BTreeSet;
use std::time::Duration;

use trailsync_catalog::{Scope, Table};

use trailsync_catalog::GLOBAL_REGION;
use trailsync_core::Location;

/// What one source syncs and where it writes: everything the engine needs from the config.
#[derive(Clone, Debug)]
pub struct SyncPlan {
    /// The source's name, stamped into `_cq_source_name`.
    pub source_name: String,
    /// Selected tables, parents before children.
    pub tables: Vec<&'static Table>,
    /// Every (account, region) of the source; global tables use one per account.
    pub locations: Vec<Location>,
    /// Whether a full sync deletes rows of this source it did not see.
    pub delete_stale: bool,
    /// Top-level (table, location) listings run at once during a full sync.
    pub concurrency: usize,
    /// Resources per destination transaction during a full sync.
    pub batch_size: usize,
    /// How long to wait before re-checking a resource AWS said is gone (eventual consistency).
    pub not_found_retry_delay: Duration,
}

impl SyncPlan {
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
        match table.scope {
            Scope::Regional => self.locations.clone(),
            Scope::Global => {
                let accounts: BTreeSet<&str> = self
                    .locations
                    .iter()
                    .map(|l| l.account_id.as_str())
                    .collect();
                accounts
                    .into_iter()
                    .map(|a| Location::new(a, GLOBAL_REGION))
                    .collect()
            }
        }
    }

    /// Maps an event's location to the one this plan lists `table` at, if it is configured.
    pub fn resolve(&self, table: &Table, location: &Location) -> Option<Location> {
        match table.scope {
            Scope::Regional => self.locations.contains(location).then(|| location.clone()),
            Scope::Global => self
                .locations
                .iter()
                .any(|l| l.account_id == location.account_id)
                .then(|| Location::new(location.account_id.clone(), GLOBAL_REGION)),
        }
    }
}
