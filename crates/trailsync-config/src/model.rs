//! The typed configuration: what the rest of trailsync reads once [`load`](crate::load) has
//! accepted the files. Every value here has been checked; defaults are already applied.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use trailsync_catalog::Table;
use trailsync_core::{DestinationKind, WriteMode};

use crate::errors::Diagnostic;
use crate::redact::{ConnectionString, Redacted};

/// How long events for one resource are gathered before it is re-fetched, when not configured.
pub const DEFAULT_COALESCE_WINDOW: Duration = Duration::from_secs(1);

/// How often a streaming source reconciles against a full listing, when not configured.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

/// How long the change history is kept, when not configured.
pub const DEFAULT_HISTORY_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Every source and destination the configuration declares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The `kind: source` documents, in load order.
    pub sources: Vec<SourceConfig>,
    /// The `kind: destination` documents, in load order.
    pub destinations: Vec<DestinationConfig>,
    /// Things that work, but not as a CloudQuery user may expect (a field accepted without
    /// effect): printed by `validate`, logged by `sync`, never fatal.
    pub warnings: Vec<Diagnostic>,
}

impl Config {
    /// The destination called `name`; every name a source lists is known to exist.
    pub fn destination(&self, name: &str) -> Option<&DestinationConfig> {
        self.destinations.iter().find(|d| d.name == name)
    }
}

/// A `kind: source` document: which tables to sync from which AWS accounts, into which
/// destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Unique among sources; written to `_cq_source_name` and scopes stale-row deletion.
    pub name: String,
    /// Glob patterns over table names; each matches at least one known table.
    pub tables: Vec<String>,
    /// Glob patterns of tables never fetched nor written, with their children.
    pub skip_tables: Vec<String>,
    /// When true, a child table is synced only if `tables` matches it itself (default false).
    pub skip_dependent_tables: bool,
    /// Names of the destinations written to, each a declared destination.
    pub destinations: Vec<String>,
    /// The AWS plugin's own settings (`spec.spec`).
    pub spec: AwsSpec,
    /// Where the source was declared, for messages.
    pub origin: Origin,
}

impl SourceConfig {
    /// The catalog tables this source syncs, parents before children. See [`select_tables`].
    ///
    /// [`select_tables`]: crate::select_tables
    pub fn selected_tables(&self) -> Vec<&'static Table> {
        crate::select_tables(
            &trailsync_catalog::TABLES,
            &self.tables,
            &self.skip_tables,
            self.skip_dependent_tables,
        )
    }
}

/// The AWS plugin's settings of a source (`spec.spec`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsSpec {
    /// The regions synced in every account (unless an account or `org.member_regions` says).
    pub regions: Regions,
    /// The accounts synced; empty (and no `org`) means the ambient credentials' account alone.
    pub accounts: Vec<AccountConfig>,
    /// Every member account of an AWS Organization, instead of `accounts`.
    pub org: Option<OrgConfig>,
    /// An AWS endpoint to use instead of the real one (an emulator, a VPC endpoint): trailsync's
    /// `endpoint_url` or CloudQuery's `custom_endpoint_url`.
    pub endpoint_url: Option<String>,
    /// The most AWS calls in flight at once, if limited (positive).
    pub concurrency: Option<usize>,
    /// How many accounts are set up (credentials, regions) at once (CloudQuery's default 4).
    pub initialization_concurrency: Option<usize>,
    /// CloudQuery's `max_retries`: attempts per AWS call, the first included.
    pub max_retries: Option<u32>,
    /// CloudQuery's `max_backoff` (seconds): the longest pause between two tries of a call, and
    /// between two fetches of a change that keeps failing.
    pub max_backoff: Option<Duration>,
    /// Log every AWS request (service, operation, region, status, time, request id).
    pub aws_debug: bool,
    /// Follow CloudTrail events from a Kinesis stream after (or instead of) the full sync.
    pub event_based_sync: Option<EventBasedSync>,
    /// The change history (`trailsync_changes`).
    pub history: History,
}

/// `history:` in the source spec: whether each applied change is recorded, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// Record every change applied (default true).
    pub enabled: bool,
    /// Delete history rows older than this (default 90 days); `None` (`retention: 0`): keep all.
    pub retention: Option<Duration>,
}

impl Default for History {
    fn default() -> History {
        History {
            enabled: true,
            retention: Some(DEFAULT_HISTORY_RETENTION),
        }
    }
}

/// Which regions a source syncs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Regions {
    /// Not configured: the regions enabled in each account.
    #[default]
    Default,
    /// `"*"`: every region the account can see.
    All,
    /// These regions, in the order given, without duplicates.
    List(Vec<String>),
}

/// How to get credentials for one account: the ambient ones, a named profile, or an assumed role.
///
/// `Debug` hides `external_id`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AccountConfig {
    /// An alias used in logs, as in CloudQuery (any text); the account number comes from STS.
    pub id: Option<String>,
    /// Another alias for logs; CloudQuery falls back to `id`.
    pub account_name: Option<String>,
    /// A profile of the shared AWS config files.
    pub local_profile: Option<String>,
    /// An IAM role to assume (with the profile's credentials if `local_profile` is set, else the
    /// ambient ones).
    pub role_arn: Option<String>,
    /// The session name used when assuming `role_arn`.
    pub role_session_name: Option<String>,
    /// The external id the role's trust policy demands.
    pub external_id: Option<String>,
    /// The region account-level calls (identity, region list) go to (default `us-east-1`).
    pub default_region: Option<String>,
    /// This account's regions, instead of the source's.
    pub regions: Option<Regions>,
}

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so that a new field cannot be left out (or leak) unnoticed.
        let AccountConfig {
            id,
            account_name,
            local_profile,
            role_arn,
            role_session_name,
            external_id,
            default_region,
            regions,
        } = self;
        f.debug_struct("AccountConfig")
            .field("id", id)
            .field("account_name", account_name)
            .field("local_profile", local_profile)
            .field("role_arn", role_arn)
            .field("role_session_name", role_session_name)
            .field("external_id", &external_id.as_ref().map(|_| Redacted))
            .field("default_region", default_region)
            .field("regions", regions)
            .finish()
    }
}

impl AccountConfig {
    /// The name the account goes by in logs: `account_name`, else `id`, else "default".
    pub fn alias(&self) -> &str {
        self.account_name
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or("default")
    }
}

/// CloudQuery's `org`: every ACTIVE member account of an AWS Organization (or of some of its
/// organizational units), each reached by assuming `member_role_name` in it.
///
/// `Debug` hides `member_external_id`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct OrgConfig {
    /// Credentials to call AWS Organizations with (default: the ambient ones).
    pub admin_account: Option<AccountConfig>,
    /// Credentials to assume the member role with (default: the admin account's).
    pub member_trusted_principal: Option<AccountConfig>,
    /// The role assumed in each member: `arn:aws:iam::<member>:role/<member_role_name>`.
    pub member_role_name: String,
    pub member_role_session_name: Option<String>,
    pub member_external_id: Option<String>,
    /// The members' regions, instead of the source's.
    pub member_regions: Option<Regions>,
    /// Only accounts under these OUs (or roots), nested OUs included; empty means the whole
    /// organization.
    pub organization_units: Vec<String>,
    /// OUs whose accounts (nested OUs included) are left out.
    pub skip_organization_units: Vec<String>,
    /// Account numbers left out.
    pub skip_member_accounts: Vec<String>,
}

impl fmt::Debug for OrgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let OrgConfig {
            admin_account,
            member_trusted_principal,
            member_role_name,
            member_role_session_name,
            member_external_id,
            member_regions,
            organization_units,
            skip_organization_units,
            skip_member_accounts,
        } = self;
        f.debug_struct("OrgConfig")
            .field("admin_account", admin_account)
            .field("member_trusted_principal", member_trusted_principal)
            .field("member_role_name", member_role_name)
            .field("member_role_session_name", member_role_session_name)
            .field(
                "member_external_id",
                &member_external_id.as_ref().map(|_| Redacted),
            )
            .field("member_regions", member_regions)
            .field("organization_units", organization_units)
            .field("skip_organization_units", skip_organization_units)
            .field("skip_member_accounts", skip_member_accounts)
            .finish()
    }
}

/// Reading CloudTrail events from a Kinesis stream (`spec.spec.event_based_sync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBasedSync {
    /// The stream CloudTrail's log group is subscribed to.
    pub stream: StreamArn,
    /// Run a full sync before consuming the stream (default true).
    pub full_sync: bool,
    /// Read the stream from this instant when no checkpoint exists.
    pub start_time: Option<DateTime<Utc>>,
    /// Where to read from when no checkpoint exists and `start_time` is not set.
    pub start_position: StartPosition,
    /// Events for one resource within this window cost one re-fetch (default 1s).
    pub coalesce_window: Duration,
    /// How often to reconcile against a full listing (default 6h); `None` when set to `"0"`.
    pub reconcile_interval: Option<Duration>,
    /// Credentials for reading the stream, if not the ambient ones.
    pub account: Option<AccountConfig>,
}

/// Where a stream is read from when there is no checkpoint to resume from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartPosition {
    /// Resume from the checkpoint; without one, start where the full sync started (default).
    #[default]
    Checkpoint,
    /// The oldest record the stream still holds.
    TrimHorizon,
    /// Only records written from now on.
    Latest,
}

impl StartPosition {
    /// The spelling used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            StartPosition::Checkpoint => "checkpoint",
            StartPosition::TrimHorizon => "trim_horizon",
            StartPosition::Latest => "latest",
        }
    }
}

impl FromStr for StartPosition {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "checkpoint" => Ok(StartPosition::Checkpoint),
            "trim_horizon" => Ok(StartPosition::TrimHorizon),
            "latest" => Ok(StartPosition::Latest),
            _ => Err(UnknownValue::new(s, "checkpoint, trim_horizon or latest")),
        }
    }
}

impl fmt::Display for StartPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `kind: destination` document: a database the inventory is written to.
///
/// `Debug` shows `connection_string` without its password
/// ([`redact_connection_string`](crate::redact_connection_string)).
#[derive(Clone, PartialEq, Eq)]
pub struct DestinationConfig {
    /// Unique among destinations; sources refer to it.
    pub name: String,
    /// The database engine, from the plugin `path`.
    pub kind: DestinationKind,
    /// What happens to rows a full sync did not see (default overwrite-delete-stale).
    pub write_mode: WriteMode,
    /// A SQLite file path, or a PostgreSQL URL or key=value string.
    pub connection_string: String,
    /// Rows per write batch, if set (positive).
    pub batch_size: Option<usize>,
    /// Where the destination was declared, for messages.
    pub origin: Origin,
}

impl fmt::Debug for DestinationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DestinationConfig {
            name,
            kind,
            write_mode,
            connection_string,
            batch_size,
            origin,
        } = self;
        f.debug_struct("DestinationConfig")
            .field("name", name)
            .field("kind", kind)
            .field("write_mode", write_mode)
            // Whatever the kind: a PostgreSQL URL given to a sqlite destination is a mistake
            // worth printing, not its password. A plain file path is printed as it is.
            .field("connection_string", &ConnectionString(connection_string))
            .field("batch_size", batch_size)
            .field("origin", origin)
            .finish()
    }
}

/// The document a source or destination came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The file, as given or as found in a given folder.
    pub file: PathBuf,
    /// The 0-based index of the document within the file.
    pub document: usize,
}

/// A value outside a fixed set of spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {value:?}; expected {expected}")]
pub struct UnknownValue {
    /// What the config said.
    pub value: String,
    /// The accepted spellings, for the message.
    pub expected: &'static str,
}

impl UnknownValue {
    fn new(value: &str, expected: &'static str) -> Self {
        UnknownValue {
            value: value.to_string(),
            expected,
        }
    }
}

/// A Kinesis data stream ARN, `arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamArn {
    /// The whole ARN, as written.
    pub arn: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The region the stream lives in.
    pub region: String,
    /// The 12-digit account owning the stream.
    pub account_id: String,
    /// The stream name.
    pub name: String,
}

/// Why a string is not a Kinesis stream ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a Kinesis stream ARN ({arn:?}: {reason}); expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME"
)]
pub struct StreamArnError {
    /// The string that was given.
    pub arn: String,
    /// Which part is wrong.
    pub reason: String,
}

impl FromStr for StreamArn {
    type Err = StreamArnError;

    fn from_str(arn: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| StreamArnError {
            arn: arn.to_string(),
            reason,
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account_id, resource] = parts[..] else {
            return Err(fail("it has fewer than 6 ':'-separated parts".into()));
        };
        if prefix != "arn" {
            return Err(fail("it does not start with \"arn:\"".into()));
        }
        if !is_partition(partition) {
            return Err(fail(format!("{partition:?} is not an AWS partition")));
        }
        if service != "kinesis" {
            return Err(fail(format!("the service is {service:?}, not \"kinesis\"")));
        }
        if !is_region(region) {
            return Err(fail(format!("{region:?} is not a region")));
        }
        if !is_account_id(account_id) {
            return Err(fail(format!("the account {account_id:?} is not 12 digits")));
        }
        let Some(name) = resource.strip_prefix("stream/") else {
            return Err(fail(format!(
                "the resource {resource:?} does not start with \"stream/\""
            )));
        };
        if !is_stream_name(name) {
            return Err(fail(format!(
                "the stream name {name:?} is not 1 to 128 letters, digits, '_', '-' or '.'"
            )));
        }
        Ok(StreamArn {
            arn: arn.to_string(),
            partition: partition.to_string(),
            region: region.to_string(),
            account_id: account_id.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for StreamArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// An AWS account id: exactly 12 digits (leading zeros included, hence a string).
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A region name such as `us-east-1` or `us-gov-west-1`: lowercase words joined by '-', ending in
/// a number.
pub(crate) fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`, ...
fn is_partition(s: &str) -> bool {
    s == "aws"
        || s.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
}

fn is_stream_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// An IAM role ARN, `arn:PARTITION:iam::ACCOUNT:role/NAME`.
/// CloudQuery's OU pattern: `ou-<root>-<ou>` or a root `r-<id>`, lowercase letters and digits.
pub(crate) fn is_organization_unit(text: &str) -> bool {
    let lower = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = text.strip_prefix("ou-") {
        return rest
            .split_once('-')
            .is_some_and(|(root, ou)| lower(root, 4, 32) && lower(ou, 8, 32));
    }
    text.strip_prefix("r-")
        .is_some_and(|root| lower(root, 4, 32))
}

pub(crate) fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [prefix, partition, service, region, account_id, resource] = parts[..] else {
        return false;
    };
    prefix == "arn"
        && is_partition(partition)
        && service == "iam"
        && region.is_empty()
        && is_account_id(account_id)
        && resource
            .strip_prefix("role/")
            .is_some_and(|name| !name.is_empty())
}

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a duration ({text:?}); write a number and a unit, e.g. \"500ms\", \"30s\", \"5m\", \"6h\", \"90d\" or \"1h30m\""
)]
pub struct DurationError {
    /// The string that was given.
    pub text: String,
}

/// Parses a Go-style duration: `0`, or numbers each followed by `ms`, `s`, `m` or `h`
/// (`"1h30m"`, `"1.5s"`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = || DurationError {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = trimmed;
    let mut seconds = 0.0_f64;
    if rest.is_empty() {
        return Err(fail());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(fail)?;
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let value: f64 = number.parse().map_err(|_| fail())?;
        let unit_seconds = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(fail()),
        };
        seconds += value * unit_seconds;
        rest = after;
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_arns_are_taken_apart() {
        let arn: StreamArn = "arn:aws-cn:kinesis:cn-north-1:012345678901:stream/cloud.trail-1"
            .parse()
            .expect("valid");
        assert_eq!(arn.partition, "aws-cn");
        assert_eq!(arn.region, "cn-north-1");
        assert_eq!(arn.account_id, "012345678901");
        assert_eq!(arn.name, "cloud.trail-1");
        assert_eq!(
            arn.to_string(),
            "arn:aws-cn:kinesis:cn-north-1:012345678901:stream/cloud.trail-1"
        );
    }

    #[test]
    fn bad_stream_arns_say_why() {
        let reason = |s: &str| s.parse::<StreamArn>().expect_err(s).reason;
        assert!(reason("arn:aws:s3:::bucket").contains("\"s3\""));
        assert!(reason("arn:aws:kinesis:us-east-1:1234:stream/x").contains("12 digits"));
        assert!(reason("arn:aws:kinesis:useast1:111122223333:stream/x").contains("region"));
        assert!(reason("arn:aws:kinesis:us-east-1:111122223333:table/x").contains("stream/"));
        assert!(reason("arn:aws:kinesis:us-east-1:111122223333:stream/").contains("name"));
        assert!(reason("cloudtrail").contains("parts"));
        let message = "arn:aws:s3:::bucket"
            .parse::<StreamArn>()
            .expect_err("s3")
            .to_string();
        assert!(message.starts_with("not a Kinesis stream ARN (\"arn:aws:s3:::bucket\""));
        assert!(message.ends_with("expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        for bad in [
            "",
            "5",
            "s",
            "5 s",
            "5w",
            "1..5s",
            "-1s",
            "1e3h",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn regions_and_accounts() {
        for good in [
            "us-east-1",
            "us-gov-west-1",
            "eu-central-2",
            "cn-northwest-1",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in ["useast1", "us-east", "US-EAST-1", "us--1", "east-1", ""] {
            assert!(!is_region(bad), "{bad}");
        }
        assert!(is_account_id("012345678901"));
        assert!(!is_account_id("12345678901"));
        assert!(is_role_arn("arn:aws:iam::111122223333:role/path/reader"));
        assert!(!is_role_arn("arn:aws:iam::111122223333:user/reader"));
    }
}
