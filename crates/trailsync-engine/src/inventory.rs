use std::fmt;

use async_trait::async_trait;
use trailsync_catalog::{Resource, Table};

/// One account and region: the unit resources are listed in and events are attributed to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub account_id: String,
    pub region: String,
}

impl Location {
    pub fn new(account_id: impl Into<String>, region: impl Into<String>) -> Location {
        Location {
            account_id: account_id.into(),
            region: region.into(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account_id, self.region)
    }
}

/// Why AWS could not answer for a table at a location.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Permissions: logged, the rows left as they were, reported at the end.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The table has no reader in this build.
    #[error("table {0} is not supported")]
    Unsupported(&'static str),
    /// The location is not one this source has credentials for.
    #[error("no credentials for {0}")]
    UnknownLocation(Location),
    /// Anything else the API said (after the SDK's own retries).
    #[error("{0}")]
    Api(String),
}

/// Reads resources from AWS. Implemented by `trailsync-aws`.
///
/// Both methods return complete [`Resource`]s: the top-level row and the rows of each requested
/// child table, so that a write can replace the children wholesale.
#[async_trait]
pub trait Inventory: Send + Sync {
    /// Every resource of a top-level `table` at `location`.
    async fn list(
        &self,
        location: &Location,
        table: &'static Table,
        children: &[&'static Table],
    ) -> Result<Vec<Resource>, FetchError>;

    /// The resources with these ids (the table's `id_column` values). Ids that AWS does not
    /// return are absent from the answer: the caller decides whether that means deleted.
    async fn fetch(
        &self,
        location: &Location,
        table: &'static Table,
        children: &[&'static Table],
        ids: &[String],
    ) -> Result<Vec<Resource>, FetchError>;
}
