use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use aws_config::{Region, SdkConfig};
use trailsync_catalog::Table;
use trailsync_config::AwsSpec;
use trailsync_core::{FetchError, Fetched, Inventory, Location};

use crate::tables::{self, Context};
use crate::{Accounts, CallMeter, Connection};

/// The engine's [`Inventory`] over real AWS (or an emulator).
#[derive(Debug)]
pub struct AwsInventory {
    accounts: RwLock<Accounts>,
    /// For an organization: how to find its members again (they join and leave).
    discovery: Option<(AwsSpec, Connection)>,
    /// The meter the accounts' calls go through, shared with the fleet's workers.
    meter: Option<CallMeter>,
}

impl AwsInventory {
    /// An inventory over fixed accounts.
    pub fn new(accounts: Accounts) -> AwsInventory {
        AwsInventory {
            accounts: RwLock::new(accounts),
            discovery: None,
            meter: None,
        }
    }

    /// An inventory over `accounts` as `spec` found them; for an organization (`org`), its
    /// members are looked up again before each reconciliation.
    pub fn discovered(accounts: Accounts, spec: &AwsSpec, connection: &Connection) -> AwsInventory {
        AwsInventory {
            accounts: RwLock::new(accounts),
            discovery: spec
                .org
                .is_some()
                .then(|| (spec.clone(), connection.clone())),
            meter: Some(connection.meter.clone()),
        }
    }

    fn config(&self, location: &Location) -> Result<SdkConfig, FetchError> {
        let accounts = self.accounts.read().unwrap_or_else(PoisonError::into_inner);
        let account = accounts
            .get(&location.account_id)
            .ok_or_else(|| FetchError::unknown_location(location))?;
        Ok(account
            .config
            .clone()
            .into_builder()
            .region(Region::new(location.region.clone()))
            .build())
    }
}

#[async_trait]
impl Inventory for AwsInventory {
    async fn list(
        &self,
        location: &Location,
        table: &'static Table,
        children: &[&'static Table],
    ) -> Result<Fetched, FetchError> {
        let reader = tables::reader(table).ok_or_else(|| FetchError::unsupported(table.name))?;
        let config = self.config(location)?;
        reader
            .list(&Context {
                config: &config,
                location,
                children,
            })
            .await
    }

    async fn fetch(
        &self,
        location: &Location,
        table: &'static Table,
        children: &[&'static Table],
        ids: &[String],
    ) -> Result<Fetched, FetchError> {
        if ids.is_empty() {
            return Ok(Fetched::default());
        }
        let reader = tables::reader(table).ok_or_else(|| FetchError::unsupported(table.name))?;
        let config = self.config(location)?;
        reader
            .fetch(
                &Context {
                    config: &config,
                    location,
                    children,
                },
                ids,
            )
            .await
    }

    /// An organization's current members: new ones set up, departed ones dropped. A failed
    /// lookup keeps the accounts as they were (and says so).
    async fn refresh_locations(&self) -> Option<Vec<Location>> {
        let (spec, connection) = self.discovery.as_ref()?;
        let current = self
            .accounts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match current.refresh(spec, connection).await {
            Ok(accounts) => {
                let locations = accounts.locations();
                *self
                    .accounts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = accounts;
                Some(locations)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot look the organization's accounts up again; keeping the known ones");
                None
            }
        }
    }

    fn share_with(&self, workers: usize) {
        if let Some(meter) = &self.meter {
            meter.share_with(workers);
        }
    }
}
