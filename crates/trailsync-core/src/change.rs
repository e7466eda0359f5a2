//! Who and what caused a change, and what was given up on.

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
