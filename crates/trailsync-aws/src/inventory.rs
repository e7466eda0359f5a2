use async_trait::async_trait;
use aws_config::{Region, SdkConfig};
use trailsync_catalog::Table;
use trailsync_core::{FetchError, Fetched, Inventory, Location};

use crate::Accounts;
use crate::tables::{self, Context};

/// The engine's [`Inventory`] over real AWS (or an emulator).
#[derive(Clone, Debug)]
pub struct AwsInventory {
    accounts: Accounts,
}

impl AwsInventory {
    pub fn new(accounts: Accounts) -> AwsInventory {
        AwsInventory { accounts }
    }

    fn config(&self, location: &Location) -> Result<SdkConfig, FetchError> {
        let account = self
            .accounts
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
}
