//! Reading resources from AWS: where, and what can go wrong.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use trailsync_catalog::{Resource, Table};

use crate::BoxError;

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

/// What kind of failure a [`FetchError`] is; decides whether the engine waits and asks again
/// ([`FetchErrorKind::is_transient`]) or records the change as skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchErrorKind {
    /// AWS asked us to slow down (`Throttling`, `RequestLimitExceeded`...).
    Throttled,
    /// AWS failed (a 5xx) or answered something unreadable.
    Unavailable,
    /// No answer in time.
    Timeout,
    /// The connection could not be made or was lost.
    Connection,
    /// The credentials expired or could not be refreshed (an assumed role's session ran out).
    Credentials,
    /// Permissions: the identity may not make this call.
    AccessDenied,
    /// The table or operation has no reader in this build, or the endpoint does not implement it.
    Unsupported,
    /// AWS answered, but the answer cannot become a row (no id, no primary key).
    Invalid,
    /// The location is not one this source has credentials for.
    UnknownLocation,
    /// AWS refused the request itself (a 4xx other than the above): asking again cannot help.
    Rejected,
}

impl FetchErrorKind {
    /// Whether the same call may succeed later: throttling, 5xx, timeouts, lost connections and
    /// expired credentials pass with time; the rest do not.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FetchErrorKind::Throttled
                | FetchErrorKind::Unavailable
                | FetchErrorKind::Timeout
                | FetchErrorKind::Connection
                | FetchErrorKind::Credentials
        )
    }

    /// A short name for logs, counters and the skipped-events table.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchErrorKind::Throttled => "throttled",
            FetchErrorKind::Unavailable => "unavailable",
            FetchErrorKind::Timeout => "timeout",
            FetchErrorKind::Connection => "connection",
            FetchErrorKind::Credentials => "credentials",
            FetchErrorKind::AccessDenied => "access denied",
            FetchErrorKind::Unsupported => "unsupported",
            FetchErrorKind::Invalid => "invalid",
            FetchErrorKind::UnknownLocation => "unknown location",
            FetchErrorKind::Rejected => "rejected",
        }
    }
}

impl fmt::Display for FetchErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why AWS could not answer: the operation, what it said (one line), what kind of failure that
/// is, and the underlying error.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct FetchError {
    kind: FetchErrorKind,
    /// The AWS operation (`DescribeInstances`) or, before any call, the table.
    operation: Cow<'static, str>,
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl FetchError {
    pub fn new(
        kind: FetchErrorKind,
        operation: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> FetchError {
        FetchError {
            kind,
            operation: operation.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Keeps the error this one was made from.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> FetchError {
        self.source = Some(source.into());
        self
    }

    /// The table has no reader in this build.
    pub fn unsupported(table: &'static str) -> FetchError {
        FetchError::new(
            FetchErrorKind::Unsupported,
            table,
            "no reader for this table in this build",
        )
    }

    /// The location is not one this source has credentials for.
    pub fn unknown_location(location: &Location) -> FetchError {
        FetchError::new(
            FetchErrorKind::UnknownLocation,
            "credentials",
            format!("no credentials for {location}"),
        )
    }

    pub fn kind(&self) -> FetchErrorKind {
        self.kind
    }

    pub fn operation(&self) -> &str {
        &self.operation
    }

    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
}

/// What AWS answered for a table: the resources read, and the ones that could not be (an IAM
/// role whose policies could not be listed), each with its id and why. One failing resource
/// does not fail the rest.
#[derive(Debug, Default)]
pub struct Fetched {
    pub resources: Vec<Resource>,
    pub failed: Vec<(String, FetchError)>,
}

impl Fetched {
    /// Everything was read.
    pub fn all(resources: Vec<Resource>) -> Fetched {
        Fetched {
            resources,
            failed: Vec::new(),
        }
    }

    /// Whether every resource was read (a listing with failures must not be used to decide what
    /// is gone).
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Reads resources from AWS. Implemented by `trailsync-aws`.
///
/// Both methods return complete [`Resource`]s: the top-level row and the rows of each requested
/// child table, so that a write can replace the children wholesale. A failure of the whole call
/// is an `Err`; a failure of single resources is in [`Fetched::failed`].
#[async_trait]
pub trait Inventory: Send + Sync {
    /// Every resource of a top-level `table` at `location`.
    async fn list(
        &self,
        location: &Location,
        table: &'static Table,
        children: &[&'static Table],
    ) -> Result<Fetched, FetchError>;

    /// The resources with these ids (the table's id column values). Ids that AWS does not
    /// return (and did not fail on) are absent from the answer: the caller decides whether that
    /// means deleted.
    async fn fetch(
        &self,
        location: &Location,
        table: &'static Table,
        children: &[&'static Table],
        ids: &[String],
    ) -> Result<Fetched, FetchError>;

    /// The locations to sync now, when they change over time (an organization's members join
    /// and leave); `None` when they are fixed. Asked before each reconciliation.
    async fn refresh_locations(&self) -> Option<Vec<Location>> {
        None
    }

    /// How many workers share the AWS accounts now: each paces its calls to its share, so a
    /// fleet of N does not call an account N times harder than one worker.
    fn share_with(&self, _workers: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_troubles_are_transient() {
        let throttled = FetchError::new(
            FetchErrorKind::Throttled,
            "DescribeInstances",
            "RequestLimitExceeded: Request limit exceeded.",
        );
        assert!(throttled.is_transient());
        assert_eq!(
            throttled.to_string(),
            "DescribeInstances: RequestLimitExceeded: Request limit exceeded."
        );
        let denied = FetchError::new(FetchErrorKind::AccessDenied, "GetRole", "AccessDenied");
        assert!(!denied.is_transient());
        assert!(!FetchError::unsupported("aws_ec2_instances").is_transient());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let lost = FetchError::new(FetchErrorKind::Connection, "ListRoles", "dispatch failure")
            .with_source(io);
        assert!(
            std::error::Error::source(&lost).is_some(),
            "the cause is kept"
        );
    }
}
