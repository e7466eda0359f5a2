//! Who and what caused a change, what was given up on, and the change history as stored.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// The CloudTrail event behind a change: what was called, when, by whom and from where. Kept
/// with every change it causes (history) and every change given up on (skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventCause {
    /// `eventID`; some published samples lack it.
    pub event_id: Option<String>,
    /// `eventName`: `AuthorizeSecurityGroupIngress`.
    pub event_name: String,
    /// `eventTime`.
    pub event_time: Option<DateTime<Utc>>,
    /// `userIdentity.arn`: `arn:aws:sts::111122223333:assumed-role/Admin/alice`.
    pub principal_arn: Option<String>,
    /// `userIdentity.type`: `IAMUser`, `AssumedRole`, `AWSService`, `Root`...
    pub principal_type: Option<String>,
    /// `userIdentity.accessKeyId`.
    pub access_key_id: Option<String>,
    /// `userIdentity.sessionContext.sessionIssuer.arn`: the role an assumed-role session is of.
    pub session_issuer: Option<String>,
    /// `sourceIPAddress` (an IP, or a service name such as `ec2.amazonaws.com`).
    pub source_ip: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
}

/// A change trailsync gave up on for good (access denied, unsupported, an answer that cannot
/// become a row): written to `trailsync_skipped` in the transaction that passes its record, so
/// that no event is ever finished without a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedChange {
    /// The top-level table the change was for.
    pub table: &'static str,
    /// The resource id; `None` when the whole table was to be listed.
    pub resource_id: Option<String>,
    pub account_id: String,
    pub region: String,
    /// The event that asked for the change (`None` for trailsync's own listings).
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    /// What kind of failure (`access denied`, `unsupported`, `invalid`, `rejected`...).
    pub reason: String,
    /// The failure, on one line.
    pub error: String,
}

/// What a batch's changes were made for: the stream's events, or one of trailsync's listings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// CloudTrail events asked for the fetch.
    #[default]
    Event,
    /// The periodic full listing (`reconcile_interval`).
    Reconcile,
    /// The full sync.
    FullSync,
}

impl Trigger {
    /// The `cause` column's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Event => "event",
            Trigger::Reconcile => "reconcile",
            Trigger::FullSync => "full_sync",
        }
    }
}

/// Why a batch's changes happened, for the change history: what triggered them, and for each
/// resource (table, id) the events coalesced into its fetch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attribution {
    pub trigger: Trigger,
    pub events: HashMap<(&'static str, String), Vec<Arc<EventCause>>>,
}

/// A filter over the change history, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeQuery {
    pub source: Option<String>,
    pub table: Option<String>,
    pub resource_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// A principal ARN: changes any of whose events it made.
    pub principal: Option<String>,
    pub limit: usize,
}

/// One row of `trailsync_changes`: a change applied to one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRecord {
    pub change_id: String,
    /// When the change was committed.
    pub changed_at: DateTime<Utc>,
    /// When the new state was observed (the fetch's start).
    pub sync_time: Option<DateTime<Utc>>,
    pub source_name: String,
    pub table_name: String,
    pub resource_id: Option<String>,
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    /// `{column: {"old": .., "new": ..}}` for each top-level column that changed.
    pub changes: serde_json::Value,
    /// `{child_table: {"added": n, "removed": n, "changed": n}}`.
    pub children: serde_json::Value,
    /// `event`, `reconcile` or `full_sync`.
    pub cause: String,
    /// Every event coalesced into the change.
    pub events: serde_json::Value,
    /// The most recent event's principal and source address.
    pub principal_arn: Option<String>,
    pub source_ip: Option<String>,
}
