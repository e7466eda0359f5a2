//! One CloudTrail record, with the fields routing needs typed.
//!
//! A record is read in one pass over its text: the fields that decide what it means
//! (`eventSource`, `eventName`, `readOnly`, `errorCode`, account and region) are borrowed from the
//! text, every other field is stepped over without being built, and the payloads
//! (`requestParameters`, `responseElements`, `userIdentity`) are only delimited. Only an event that
//! may change the inventory keeps them, and routing then reads just the values its paths name
//! (see [`crate::json`]): failed, read-only and unrouted events, most of a real trail's volume,
//! cost one pass over their text.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use trailsync_core::EventCause;

use crate::decode::LogEvents;
use crate::json::{self, Scalar};
use crate::routes::routes_for_event;

/// Why a JSON value is not a CloudTrail record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("a JSON {0}, not an object")]
    NotAnObject(&'static str),
    #[error("object without a string `{0}`")]
    MissingField(&'static str),
    #[error("invalid JSON: {0}")]
    Json(String),
}

/// One CloudTrail record.
///
/// Fields CloudTrail sometimes omits are normalised here, once, so routing never has to guess:
/// a missing account falls back to the envelope's, then to `userIdentity.accountId`; `readOnly`
/// may be a bool or a string; `requestParameters`/`responseElements` are `null` when absent
/// (including the string `"null"` some exporters write).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudTrailEvent {
    /// `eventID`; some published samples lack it.
    pub event_id: Option<String>,
    /// `eventSource`, e.g. `ec2.amazonaws.com`.
    pub event_source: String,
    /// `eventName`, e.g. `RunInstances`.
    pub event_name: String,
    /// `eventTime`, when it is RFC 3339.
    pub event_time: Option<DateTime<Utc>>,
    /// `awsRegion`; empty if the record has none (such an event matches no configured region).
    pub aws_region: String,
    /// The account the event happened in: `recipientAccountId`, else the EventBridge envelope's
    /// `account`, else `userIdentity.accountId`; empty if none is present.
    pub recipient_account_id: String,
    /// `errorCode`: the call failed (or partly failed) and changed nothing we rely on.
    pub error_code: Option<String>,
    /// `readOnly`: `true` or `"true"`; absent means false.
    pub read_only: bool,
    /// The rest of the record that routing and history read; `None` for an event that cannot
    /// change the inventory (failed, read-only, or with no route), whose payloads are not parsed.
    pub detail: Option<Box<Detail>>,
}

/// What an event that may change the inventory says beyond its header: where its resource ids
/// are, and who made the call from where. The payloads are kept as their JSON text.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// `requestParameters`; `None` if absent, `null` or the string `"null"`.
    request_parameters: Option<Box<RawValue>>,
    /// `responseElements` (CloudTrail drops it when it is too large).
    response_elements: Option<Box<RawValue>>,
    /// `userIdentity`.
    user_identity: Option<Box<RawValue>>,
    /// `sourceIPAddress`.
    source_ip_address: Option<String>,
    /// `userAgent`.
    user_agent: Option<String>,
}

impl PartialEq for Detail {
    fn eq(&self, other: &Detail) -> bool {
        let text =
            |raw: &Option<Box<RawValue>>| raw.as_deref().map(RawValue::get).map(str::to_owned);
        text(&self.request_parameters) == text(&other.request_parameters)
            && text(&self.response_elements) == text(&other.response_elements)
            && text(&self.user_identity) == text(&other.user_identity)
            && self.source_ip_address == other.source_ip_address
            && self.user_agent == other.user_agent
    }
}

/// Values an envelope knows about its event, used when the record itself lacks them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Envelope<'a> {
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
}

/// The top-level fields of any JSON object the decoder meets, borrowed from its text. Which are
/// present says which form the object is: a CloudWatch Logs payload (`messageType`), a CloudTrail
/// S3 log file (`Records`), an EventBridge envelope (`detail-type`) or a record. Nested values are
/// only delimited ([`RawValue`]); fields not named here are stepped over. A `null` field counts
/// as absent.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Fields<'a> {
    #[serde(rename = "messageType", borrow)]
    pub message_type: Option<Scalar<'a>>,
    #[serde(rename = "logEvents")]
    pub log_events: Option<LogEvents>,
    #[serde(rename = "Records", borrow)]
    pub records: Option<&'a RawValue>,
    #[serde(rename = "detail-type", borrow)]
    pub detail_type: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub detail: Option<&'a RawValue>,
    #[serde(borrow)]
    pub account: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub region: Option<Scalar<'a>>,

    #[serde(rename = "eventID", borrow)]
    event_id: Option<Scalar<'a>>,
    #[serde(rename = "eventSource", borrow)]
    event_source: Option<Scalar<'a>>,
    #[serde(rename = "eventName", borrow)]
    event_name: Option<Scalar<'a>>,
    #[serde(rename = "eventTime", borrow)]
    event_time: Option<Scalar<'a>>,
    #[serde(rename = "awsRegion", borrow)]
    aws_region: Option<Scalar<'a>>,
    #[serde(rename = "recipientAccountId", borrow)]
    recipient_account_id: Option<Scalar<'a>>,
    #[serde(rename = "errorCode", borrow)]
    error_code: Option<Scalar<'a>>,
    #[serde(rename = "readOnly", borrow)]
    read_only: Option<Scalar<'a>>,
    #[serde(rename = "sourceIPAddress", borrow)]
    source_ip_address: Option<Scalar<'a>>,
    #[serde(rename = "userAgent", borrow)]
    user_agent: Option<Scalar<'a>>,
    #[serde(rename = "requestParameters", borrow)]
    request_parameters: Option<&'a RawValue>,
    #[serde(rename = "responseElements", borrow)]
    response_elements: Option<&'a RawValue>,
    #[serde(rename = "userIdentity", borrow)]
    user_identity: Option<&'a RawValue>,
}

impl<'a> Fields<'a> {
    /// Reads the fields of one JSON object's text, in one pass; an error if the text is not
    /// exactly one object (or repeats a field named here).
    pub(crate) fn of(text: &'a str) -> Result<Self, EventError> {
        match text.as_bytes().first() {
            Some(b'{') => serde_json::from_str(text).map_err(|e| EventError::Json(e.to_string())),
            _ => Err(EventError::NotAnObject(json::kind_of(text))),
        }
    }
}

impl CloudTrailEvent {
    /// Reads a CloudTrail record. It must be an object with string `eventSource` and `eventName`;
    /// every other field is optional.
    pub fn from_value(raw: Value) -> Result<Self, EventError> {
        Self::from_json(&raw.to_string())
    }

    /// Reads a CloudTrail record from its JSON text, as [`from_value`](Self::from_value) does.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        Self::from_fields(Fields::of(text.trim())?, Envelope::default())
    }

    pub(crate) fn from_fields(
        fields: Fields<'_>,
        envelope: Envelope<'_>,
    ) -> Result<Self, EventError> {
        let text =
            |scalar: &Option<Scalar<'_>>| scalar.as_ref().and_then(Scalar::text).map(str::to_owned);
        let required =
            |scalar: &Option<Scalar<'_>>, name| text(scalar).ok_or(EventError::MissingField(name));
        let event_source = required(&fields.event_source, "eventSource")?;
        let event_name = required(&fields.event_name, "eventName")?;
        let aws_region = text(&fields.aws_region)
            .or_else(|| envelope.region.map(str::to_owned))
            .unwrap_or_default();
        let recipient_account_id = text(&fields.recipient_account_id)
            .or_else(|| envelope.account.map(str::to_owned))
            .or_else(|| identity_account(fields.user_identity))
            .unwrap_or_default();
        let error_code = text(&fields.error_code);
        let read_only = fields.read_only.as_ref().is_some_and(Scalar::is_true);
        let may_change = error_code.is_none()
            && !read_only
            && routes_for_event(&event_source, &event_name)
                .next()
                .is_some();
        let detail = if may_change {
            Some(Box::new(Detail {
                request_parameters: payload(fields.request_parameters),
                response_elements: payload(fields.response_elements),
                user_identity: payload(fields.user_identity),
                source_ip_address: text(&fields.source_ip_address),
                user_agent: text(&fields.user_agent),
            }))
        } else {
            None
        };
        Ok(CloudTrailEvent {
            event_id: text(&fields.event_id),
            event_time: fields
                .event_time
                .as_ref()
                .and_then(Scalar::text)
                .and_then(parse_time),
            event_source,
            event_name,
            aws_region,
            recipient_account_id,
            error_code,
            read_only,
            detail,
        })
    }

    /// Who made the call, when and from where: what history and the skipped-changes table
    /// keep of the event.
    pub fn cause(&self) -> EventCause {
        let detail = self.detail.as_deref();
        let identity = |path: &[&str]| {
            let identity = detail?.user_identity.as_deref()?;
            json::text_at(identity, path)
        };
        EventCause {
            event_id: self.event_id.clone(),
            event_name: self.event_name.clone(),
            event_time: self.event_time,
            principal_arn: identity(&["arn"]),
            principal_type: identity(&["type"]),
            access_key_id: identity(&["accessKeyId"]),
            session_issuer: identity(&["sessionContext", "sessionIssuer", "arn"]),
            source_ip: detail.and_then(|d| d.source_ip_address.clone()),
            user_agent: detail.and_then(|d| d.user_agent.clone()),
        }
    }

    /// A payload of the record (`requestParameters`, `responseElements` or `userIdentity`) as
    /// JSON text, as normalised above; `None` for other names, for an absent or null payload and
    /// for an event that cannot change anything. Routing paths start here.
    pub fn field(&self, name: &str) -> Option<&RawValue> {
        let detail = self.detail.as_deref()?;
        match name {
            "requestParameters" => detail.request_parameters.as_deref(),
            "responseElements" => detail.response_elements.as_deref(),
            "userIdentity" => detail.user_identity.as_deref(),
            _ => None,
        }
    }
}

/// `userIdentity.accountId`.
fn identity_account(identity: Option<&RawValue>) -> Option<String> {
    json::text_at(identity?, &["accountId"])
}

/// A payload kept as its text; absent and the string `"null"` both mean none (a JSON `null`
/// never arrives here: [`Fields`] reads it as absent).
fn payload(raw: Option<&RawValue>) -> Option<Box<RawValue>> {
    let raw = raw?;
    let is_null_string =
        raw.get().starts_with('"') && json::string(raw).is_some_and(|s| s.trim() == "null");
    (!is_null_string).then(|| raw.to_owned())
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> CloudTrailEvent {
        CloudTrailEvent::from_value(value).expect("a CloudTrail record")
    }

    #[test]
    fn typed_fields_are_read() {
        let e = event(json!({
            "eventID": "e-1", "eventSource": "ec2.amazonaws.com", "eventName": "CreateVpc",
            "eventTime": "2024-10-10T15:19:46Z", "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333", "readOnly": false,
            "requestParameters": {"cidrBlock": "10.0.0.0/16"},
        }));
        assert_eq!(e.event_id.as_deref(), Some("e-1"));
        assert_eq!(
            e.event_time.map(|t| t.to_rfc3339()),
            Some("2024-10-10T15:19:46+00:00".into())
        );
        assert_eq!(e.aws_region, "eu-west-1");
        assert_eq!(e.recipient_account_id, "111122223333");
        assert!(!e.read_only);
        assert_eq!(e.error_code, None);
        let request = e
            .field("requestParameters")
            .expect("CreateVpc keeps its payloads");
        assert_eq!(
            json::text_at(request, &["cidrBlock"]).as_deref(),
            Some("10.0.0.0/16")
        );
        assert!(e.field("responseElements").is_none());
    }

    #[test]
    fn the_cause_names_who_called_from_where() {
        let e = event(json!({
            "eventID": "e-9", "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress", "eventTime": "2026-11-30T10:02:11Z",
            "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15",
            "userIdentity": {
                "type": "AssumedRole", "accessKeyId": "ASIAEXAMPLE",
                "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice",
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/Admin"}},
            },
        }));
        let cause = e.cause();
        assert_eq!(cause.event_id.as_deref(), Some("e-9"));
        assert_eq!(cause.event_name, "AuthorizeSecurityGroupIngress");
        assert_eq!(
            cause.principal_arn.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/Admin/alice")
        );
        assert_eq!(cause.principal_type.as_deref(), Some("AssumedRole"));
        assert_eq!(cause.access_key_id.as_deref(), Some("ASIAEXAMPLE"));
        assert_eq!(
            cause.session_issuer.as_deref(),
            Some("arn:aws:iam::111122223333:role/Admin")
        );
        assert_eq!(cause.source_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(cause.user_agent.as_deref(), Some("aws-cli/2.15"));
        assert!(cause.event_time.is_some());
        // A record without an identity still has a cause.
        let bare = event(json!({"eventSource": "s", "eventName": "n"})).cause();
        assert_eq!(bare.principal_arn, None);
    }

    #[test]
    fn read_only_may_be_a_string() {
        let e = event(json!({"eventSource": "s", "eventName": "n", "readOnly": "true"}));
        assert!(e.read_only);
        let e = event(json!({"eventSource": "s", "eventName": "n", "readOnly": "false"}));
        assert!(!e.read_only);
    }

    #[test]
    fn account_falls_back_to_envelope_then_user_identity() {
        let record = json!({"eventSource": "s", "eventName": "n",
                            "userIdentity": {"accountId": "222"}});
        assert_eq!(event(record.clone()).recipient_account_id, "222");
        let envelope = Envelope {
            account: Some("111"),
            region: Some("us-west-2"),
        };
        let text = record.to_string();
        let fields = Fields::of(&text).expect("an object");
        let e = CloudTrailEvent::from_fields(fields, envelope).expect("record");
        assert_eq!(e.recipient_account_id, "111");
        assert_eq!(e.aws_region, "us-west-2");
    }

    #[test]
    fn the_string_null_is_null() {
        let e = event(
            json!({"eventSource": "ec2.amazonaws.com", "eventName": "CreateVpc",
                             "responseElements": "null"}),
        );
        assert!(e.detail.is_some(), "CreateVpc keeps its payloads");
        assert!(e.field("responseElements").is_none());
    }

    #[test]
    fn payloads_are_read_only_for_events_that_may_change_something() {
        let request = json!({"instancesSet": {"items": [{"instanceId": "i-1"}]}});
        for (extra, parsed) in [
            (json!({}), true),
            (json!({"readOnly": true}), false),
            (json!({"errorCode": "Client.UnauthorizedOperation"}), false),
        ] {
            let mut record = json!({"eventSource": "ec2.amazonaws.com",
                                    "eventName": "TerminateInstances",
                                    "requestParameters": request});
            record
                .as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            assert_eq!(event(record).detail.is_some(), parsed, "{extra}");
        }
        let untracked = event(
            json!({"eventSource": "s3.amazonaws.com", "eventName": "PutObject",
                                     "requestParameters": request}),
        );
        assert!(untracked.detail.is_none());
    }

    #[test]
    fn other_fields_of_any_type_are_stepped_over() {
        let e = event(
            json!({"eventSource": "s", "eventName": "n", "eventVersion": 1.08,
                             "resources": [{"ARN": "x"}], "tlsDetails": {"a": [1, {"b": null}]},
                             "eventID": 7, "readOnly": {"no": true}}),
        );
        assert_eq!(e.event_id, None);
        assert!(!e.read_only);
    }

    #[test]
    fn payloads_nested_deeply_are_kept_as_text() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let text = format!(
            r#"{{"eventSource": "ec2.amazonaws.com", "eventName": "CreateVpc", "requestParameters": {deep}}}"#
        );
        let e = CloudTrailEvent::from_json(&text).expect("a record");
        assert_eq!(
            e.field("requestParameters").map(|r| r.get().len()),
            Some(deep.len())
        );
    }

    #[test]
    fn a_record_needs_source_and_name() {
        assert_eq!(
            CloudTrailEvent::from_value(json!({"eventName": "n"})),
            Err(EventError::MissingField("eventSource"))
        );
        assert_eq!(
            CloudTrailEvent::from_value(json!({"eventSource": "s", "eventName": 3})),
            Err(EventError::MissingField("eventName"))
        );
        assert_eq!(
            CloudTrailEvent::from_value(json!([1])),
            Err(EventError::NotAnObject("array"))
        );
    }
}
