//! One CloudTrail record, with the fields routing needs typed.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use trailsync_core::EventCause;

/// Why a JSON value is not a CloudTrail record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("a JSON {0}, not an object")]
    NotAnObject(&'static str),
    #[error("object without a string `{0}`")]
    MissingField(&'static str),
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
    /// `requestParameters`, `null` if absent.
    pub request_parameters: Value,
    /// `responseElements`, `null` if absent (CloudTrail drops it when it is too large).
    pub response_elements: Value,
    /// The record as published, for fields not typed above (`userIdentity`, …).
    pub raw: Value,
}

/// Values an envelope knows about its event, used when the record itself lacks them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Envelope<'a> {
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
}

impl CloudTrailEvent {
    /// Reads a CloudTrail record. It must be an object with string `eventSource` and `eventName`;
    /// every other field is optional.
    pub fn from_value(raw: Value) -> Result<Self, EventError> {
        Self::from_value_in(raw, Envelope::default())
    }

    pub(crate) fn from_value_in(raw: Value, envelope: Envelope<'_>) -> Result<Self, EventError> {
        let Value::Object(record) = &raw else {
            return Err(EventError::NotAnObject(json_kind(&raw)));
        };
        let event_source = required(record, "eventSource")?;
        let event_name = required(record, "eventName")?;
        let aws_region = string(record, "awsRegion")
            .or(envelope.region)
            .unwrap_or_default()
            .to_owned();
        let recipient_account_id = string(record, "recipientAccountId")
            .or(envelope.account)
            .or_else(|| record.get("userIdentity")?.get("accountId")?.as_str())
            .unwrap_or_default()
            .to_owned();
        Ok(CloudTrailEvent {
            event_id: string(record, "eventID").map(str::to_owned),
            event_source,
            event_name,
            event_time: string(record, "eventTime").and_then(parse_time),
            aws_region,
            recipient_account_id,
            error_code: string(record, "errorCode").map(str::to_owned),
            read_only: is_true(record.get("readOnly")),
            request_parameters: payload(record.get("requestParameters")),
            response_elements: payload(record.get("responseElements")),
            raw,
        })
    }

    /// Who made the call, when and from where: what history and the skipped-changes table
    /// keep of the event.
    pub fn cause(&self) -> EventCause {
        let identity = self.raw.get("userIdentity");
        let text = |value: Option<&Value>| {
            value
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        EventCause {
            event_id: self.event_id.clone(),
            event_name: self.event_name.clone(),
            event_time: self.event_time,
            principal_arn: text(identity.and_then(|i| i.get("arn"))),
            principal_type: text(identity.and_then(|i| i.get("type"))),
            access_key_id: text(identity.and_then(|i| i.get("accessKeyId"))),
            session_issuer: text(
                identity
                    .and_then(|i| i.get("sessionContext"))
                    .and_then(|c| c.get("sessionIssuer"))
                    .and_then(|s| s.get("arn")),
            ),
            source_ip: text(self.raw.get("sourceIPAddress")),
            user_agent: text(self.raw.get("userAgent")),
        }
    }

    /// A top-level field of the record, with `requestParameters` and `responseElements` as
    /// normalised above. Routing paths start here.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match name {
            "requestParameters" => Some(&self.request_parameters),
            "responseElements" => Some(&self.response_elements),
            _ => self.raw.get(name),
        }
    }
}

/// A non-empty string field.
fn string<'a>(record: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    record
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn required(record: &Map<String, Value>, key: &'static str) -> Result<String, EventError> {
    string(record, key)
        .map(str::to_owned)
        .ok_or(EventError::MissingField(key))
}

fn is_true(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// `requestParameters`/`responseElements`: absent and the string `"null"` both mean null.
fn payload(value: Option<&Value>) -> Value {
    match value {
        None => Value::Null,
        Some(Value::String(s)) if s.trim() == "null" => Value::Null,
        Some(v) => v.clone(),
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The name of a JSON value's type, for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
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
        assert_eq!(e.request_parameters["cidrBlock"], "10.0.0.0/16");
        assert_eq!(e.response_elements, Value::Null);
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
        let e = CloudTrailEvent::from_value_in(record, envelope).expect("record");
        assert_eq!(e.recipient_account_id, "111");
        assert_eq!(e.aws_region, "us-west-2");
    }

    #[test]
    fn the_string_null_is_null() {
        let e = event(json!({"eventSource": "s", "eventName": "n", "responseElements": "null"}));
        assert_eq!(e.response_elements, Value::Null);
    }

    #[test]
    fn empty_error_code_is_no_error() {
        let e = event(json!({"eventSource": "s", "eventName": "n", "errorCode": ""}));
        assert_eq!(e.error_code, None);
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
