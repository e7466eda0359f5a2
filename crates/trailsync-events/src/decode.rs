//! One decoder for every form CloudTrail events arrive in.
//!
//! Kinesis records, `trailsync explain` input and test fixtures all go through [`decode`], so
//! whatever the stream accepts, `explain` accepts too. Accepted, at any level:
//!
//! - gzip (detected by its magic bytes) around any of the below, once;
//! - a CloudWatch Logs subscription payload: `DATA_MESSAGE` yields each `logEvents[].message`,
//!   `CONTROL_MESSAGE` is skipped;
//! - a single CloudTrail record;
//! - an EventBridge envelope whose `detail-type` ends in "via CloudTrail" (record in `detail`);
//! - a CloudTrail S3 log file, `{"Records": [...]}`;
//! - a JSON array of any of these, or JSON lines of any of these.
//!
//! Decoding never fails as a whole and never panics: each part that cannot be used becomes a
//! [`Skip`] saying where and why, and the rest is still decoded. Work is bounded: decompressed
//! output is capped at [`MAX_DECOMPRESSED_BYTES`], and at most [`MAX_LISTED_SKIPS`] skips are
//! listed. Nothing is parsed into a JSON tree: an object is read in one pass for the fields its
//! form needs, and every other value is only delimited, which serde_json does without recursion,
//! so no nesting costs stack (see [`crate::json`]).

use std::fmt;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::event::{CloudTrailEvent, Envelope, EventError, Fields};
use crate::json::{self, Scalar, scalars_are};

/// Decompressed output beyond this is refused. A Kinesis record is at most 1 MiB and a CloudTrail
/// S3 file a few MiB of gzip; 64 MiB leaves room while bounding a gzip bomb.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// How many forms may wrap one another (a log event in a payload in an array …).
const MAX_NESTED_FORMS: usize = 8;

/// The longest quoted input in a skip reason.
const MAX_QUOTED_CHARS: usize = 80;

/// Skips listed one by one; past this they are only counted (in a final [`SkipReason::More`]),
/// so that a small gzip of `[1,1,1,…]` cannot make millions of them.
pub const MAX_LISTED_SKIPS: usize = 100;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What [`decode`] found: the events, in input order, and the parts it passed over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub events: Vec<CloudTrailEvent>,
    pub skipped: Vec<Skip>,
}

/// A part of the input that yielded no event, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Where in the input, outermost first; empty for the whole input.
    pub at: Vec<Part>,
    pub reason: SkipReason,
}

/// A step into the input, for locating a [`Skip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A line of JSON lines, from 1.
    Line(usize),
    /// `logEvents[i]` of a CloudWatch Logs payload.
    LogEvent(usize),
    /// `Records[i]` of a CloudTrail S3 log file.
    Record(usize),
    /// `[i]` of a JSON array.
    Element(usize),
}

/// Why a part of the input yielded no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("empty input")]
    Empty,
    #[error("CloudWatch Logs control message")]
    ControlMessage,
    #[error("bad gzip: {0}")]
    Gzip(String),
    #[error("decompresses to more than {} MiB", MAX_DECOMPRESSED_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("not a CloudTrail event: {0}")]
    NotCloudTrail(String),
    /// The count of further skipped parts, past [`MAX_LISTED_SKIPS`]; always the last skip.
    #[error("{0} more parts skipped")]
    More(usize),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Line(n) => write!(f, "line {n}"),
            Part::LogEvent(i) => write!(f, "logEvents[{i}]"),
            Part::Record(i) => write!(f, "Records[{i}]"),
            Part::Element(i) => write!(f, "[{i}]"),
        }
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str("input")?;
        }
        for (i, part) in self.at.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{part}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Decodes every CloudTrail event in `bytes`, whatever the form. Never panics.
pub fn decode(bytes: &[u8]) -> Decoded {
    let mut decoder = Decoder::default();
    decoder.bytes(bytes);
    decoder.finish()
}

#[derive(Default)]
struct Decoder {
    out: Decoded,
    /// The path to the part being decoded.
    at: Vec<Part>,
    /// Skips past [`MAX_LISTED_SKIPS`].
    unlisted: usize,
}

impl Decoder {
    fn skip(&mut self, reason: SkipReason) {
        if self.out.skipped.len() < MAX_LISTED_SKIPS {
            let at = self.at.clone();
            self.out.skipped.push(Skip { at, reason });
        } else {
            self.unlisted += 1;
        }
    }

    fn finish(mut self) -> Decoded {
        if self.unlisted > 0 {
            let reason = SkipReason::More(self.unlisted);
            self.out.skipped.push(Skip { at: vec![], reason });
        }
        self.out
    }

    /// Runs `f` with `part` appended to the current location.
    fn within(&mut self, part: Part, f: impl FnOnce(&mut Self)) {
        self.at.push(part);
        f(self);
        self.at.pop();
    }

    fn bytes(&mut self, bytes: &[u8]) {
        if !bytes.starts_with(&GZIP_MAGIC) {
            return self.text(bytes, 0);
        }
        match gunzip(bytes) {
            Ok(plain) => self.text(&plain, 0),
            Err(reason) => self.skip(reason),
        }
    }

    /// JSON text: one value (possibly pretty-printed), values one after another (JSON lines,
    /// or pretty records concatenated), or JSON lines with bad lines among them.
    fn text(&mut self, text: &[u8], nesting: usize) {
        let text = text.strip_prefix(UTF8_BOM).unwrap_or(text).trim_ascii();
        if text.is_empty() {
            return self.skip(SkipReason::Empty);
        }
        // The usual case, one object, in one pass; anything else is delimited first.
        if let Ok(text) = std::str::from_utf8(text)
            && let Ok(fields) = Fields::of(text)
        {
            return self.fields(fields, nesting);
        }
        let whole = match parse(text) {
            Ok(value) => return self.value(value, nesting),
            Err(whole) => whole,
        };
        match parse_sequence(text) {
            Some(values) => {
                for (line, value) in values {
                    self.within(Part::Line(line), |d| d.value(value, nesting));
                }
            }
            None => self.lines(text, whole, nesting),
        }
    }

    /// Input that is not one JSON value: JSON lines if any line is an object on its own, each
    /// bad line skipped by number; otherwise one skip with the error for the whole input.
    fn lines(&mut self, text: &[u8], whole: SkipReason, nesting: usize) {
        let parsed: Vec<(usize, Result<&RawValue, SkipReason>)> = text
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, line)| (i + 1, line.trim_ascii()))
            .filter(|(_, line)| !line.is_empty())
            .map(|(n, line)| (n, parse(line)))
            .collect();
        if !parsed
            .iter()
            .any(|(_, r)| r.as_ref().is_ok_and(|raw| raw.get().starts_with('{')))
        {
            return self.skip(whole);
        }
        for (n, result) in parsed {
            self.within(Part::Line(n), |d| match result {
                Ok(value) => d.value(value, nesting),
                Err(reason) => d.skip(reason),
            });
        }
    }

    /// Any accepted form, as the text of one JSON value.
    fn value(&mut self, value: &RawValue, nesting: usize) {
        if nesting > MAX_NESTED_FORMS {
            return self.skip(not_cloudtrail("forms nested too deeply"));
        }
        let text = value.get();
        match text.as_bytes().first() {
            Some(b'{') => match Fields::of(text) {
                Ok(fields) => self.fields(fields, nesting),
                Err(err) => self.skip(reason_of(err)),
            },
            Some(b'[') => match serde_json::from_str::<Vec<&RawValue>>(text) {
                Ok(items) => {
                    for (i, item) in items.into_iter().enumerate() {
                        self.within(Part::Element(i), |d| d.value(item, nesting + 1));
                    }
                }
                Err(err) => self.skip(SkipReason::Json(err.to_string())),
            },
            _ => self.skip(not_cloudtrail(&format!("a JSON {}", json::kind_of(text)))),
        }
    }

    /// An object, by the form its fields say it is.
    fn fields(&mut self, fields: Fields<'_>, nesting: usize) {
        if nesting > MAX_NESTED_FORMS {
            return self.skip(not_cloudtrail("forms nested too deeply"));
        }
        if fields.message_type.is_some() {
            self.logs_payload(&fields, nesting);
        } else if fields.records.is_some() {
            self.s3_log_file(&fields, nesting);
        } else if fields.detail_type.is_some() {
            self.eventbridge(&fields);
        } else {
            self.record(fields, Envelope::default());
        }
    }

    fn record(&mut self, fields: Fields<'_>, envelope: Envelope<'_>) {
        match CloudTrailEvent::from_fields(fields, envelope) {
            Ok(event) => self.out.events.push(event),
            Err(err) => self.skip(reason_of(err)),
        }
    }

    /// A CloudWatch Logs subscription payload.
    fn logs_payload(&mut self, fields: &Fields<'_>, nesting: usize) {
        match &fields.message_type {
            Some(Scalar::Str(t)) if t == "DATA_MESSAGE" => {}
            Some(Scalar::Str(t)) if t == "CONTROL_MESSAGE" => {
                return self.skip(SkipReason::ControlMessage);
            }
            Some(Scalar::Str(other)) => {
                let what = format!("CloudWatch Logs messageType {}", quote(other));
                return self.skip(not_cloudtrail(&what));
            }
            _ => return self.skip(not_cloudtrail("messageType is not a string")),
        }
        let Some(LogEvents::List(log_events)) = &fields.log_events else {
            return self.skip(not_cloudtrail("DATA_MESSAGE without a logEvents array"));
        };
        for (i, log_event) in log_events.iter().enumerate() {
            self.within(Part::LogEvent(i), |d| match &log_event.message {
                Some(message) => d.text(message.as_bytes(), nesting + 1),
                None => d.skip(not_cloudtrail("log event without a string message")),
            });
        }
    }

    /// A CloudTrail S3 log file.
    fn s3_log_file(&mut self, fields: &Fields<'_>, nesting: usize) {
        let records = fields
            .records
            .filter(|raw| raw.get().starts_with('['))
            .map(|raw| serde_json::from_str::<Vec<&RawValue>>(raw.get()));
        let records = match records {
            Some(Ok(records)) => records,
            Some(Err(err)) => return self.skip(SkipReason::Json(err.to_string())),
            None => return self.skip(not_cloudtrail("Records is not an array")),
        };
        for (i, record) in records.into_iter().enumerate() {
            self.within(Part::Record(i), |d| d.value(record, nesting + 1));
        }
    }

    /// An EventBridge envelope around a CloudTrail record.
    fn eventbridge(&mut self, fields: &Fields<'_>) {
        let detail_type = match &fields.detail_type {
            Some(Scalar::Str(t)) => Some(t.as_ref()),
            _ => None,
        };
        if !detail_type.is_some_and(|t| t.ends_with("via CloudTrail")) {
            let what = match detail_type {
                Some(t) => format!("EventBridge event of detail-type {}", quote(t)),
                None => "EventBridge detail-type is not a string".to_owned(),
            };
            return self.skip(not_cloudtrail(&what));
        }
        let detail = fields.detail.map_or("null", RawValue::get);
        let detail = match Fields::of(detail) {
            Ok(detail) => detail,
            Err(err) => return self.skip(reason_of(err)),
        };
        let envelope = Envelope {
            account: fields.account.as_ref().and_then(Scalar::text),
            region: fields.region.as_ref().and_then(Scalar::text),
        };
        self.record(detail, envelope);
    }
}

/// A payload's `logEvents`, read in the pass that reads the payload: the list, or word that it
/// is not one.
pub(crate) enum LogEvents {
    List(Vec<LogEvent>),
    NotAList,
}

impl<'de> Deserialize<'de> for LogEvents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LogEventsVisitor;
        impl<'de> Visitor<'de> for LogEventsVisitor {
            type Value = LogEvents;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of CloudWatch Logs log events")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<LogEvents, S::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(log_event) = seq.next_element::<LogEvent>()? {
                    list.push(log_event);
                }
                Ok(LogEvents::List(list))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<LogEvents, M::Error> {
                json::drain_map(map)?;
                Ok(LogEvents::NotAList)
            }
            scalars_are!(LogEvents::NotAList);
        }
        deserializer.deserialize_any(LogEventsVisitor)
    }
}

/// One element of a payload's `logEvents`: its `message` if that is a string. An element of any
/// other shape is stepped over, so one bad log event costs no other.
pub(crate) struct LogEvent {
    message: Option<String>,
}

impl<'de> Deserialize<'de> for LogEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Key {
            Message,
            #[serde(other)]
            Other,
        }
        const NONE: LogEvent = LogEvent { message: None };
        struct LogEventVisitor;
        impl<'de> Visitor<'de> for LogEventVisitor {
            type Value = LogEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CloudWatch Logs log event")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<LogEvent, M::Error> {
                let mut message = None;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Message => {
                            message = match map.next_value::<Scalar<'de>>()? {
                                Scalar::Str(text) => Some(text.into_owned()),
                                _ => None,
                            }
                        }
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(LogEvent { message })
            }
            fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<LogEvent, S::Error> {
                json::drain_seq(seq)?;
                Ok(NONE)
            }
            scalars_are!(NONE);
        }
        deserializer.deserialize_any(LogEventVisitor)
    }
}

/// Why an object that failed to read as a record is skipped.
fn reason_of(err: EventError) -> SkipReason {
    match err {
        EventError::Json(message) => SkipReason::Json(message),
        other => not_cloudtrail(&other.to_string()),
    }
}

/// Decompresses gzip (one or more members), refusing output beyond the cap.
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, SkipReason> {
    // The last member's trailer holds its size (mod 2^32): room for all of a single-member
    // payload at once, as CloudWatch Logs sends them, instead of growing by copies.
    let hint = bytes
        .last_chunk::<4>()
        .map_or(0, |size| u32::from_le_bytes(*size) as usize)
        .min(bytes.len().saturating_mul(64))
        .min(MAX_DECOMPRESSED_BYTES as usize);
    let mut plain = Vec::with_capacity(hint.max(bytes.len()));
    MultiGzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut plain)
        .map_err(|err| SkipReason::Gzip(err.to_string()))?;
    if plain.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(SkipReason::TooLarge);
    }
    Ok(plain)
}

/// Delimits one JSON value (checking it is JSON, building nothing).
fn parse(text: &[u8]) -> Result<&RawValue, SkipReason> {
    serde_json::from_slice(text).map_err(|err| SkipReason::Json(err.to_string()))
}

/// Whitespace-separated JSON values, each with the line it starts on; `None` if any part of the
/// text is not one.
fn parse_sequence(text: &[u8]) -> Option<Vec<(usize, &RawValue)>> {
    let mut stream = serde_json::Deserializer::from_slice(text).into_iter::<&RawValue>();
    let mut values = Vec::new();
    let (mut line, mut counted) = (1, 0);
    loop {
        let consumed = stream.byte_offset();
        let rest = text.get(consumed..).unwrap_or_default();
        let start = consumed + rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        match stream.next() {
            None => return Some(values),
            Some(Err(_)) => return None,
            Some(Ok(value)) => {
                let skipped = text.get(counted..start).unwrap_or_default();
                line += skipped.iter().filter(|&&b| b == b'\n').count();
                counted = start;
                values.push((line, value));
            }
        }
    }
}

fn not_cloudtrail(what: &str) -> SkipReason {
    SkipReason::NotCloudTrail(what.to_owned())
}

/// Quotes input for a message, clipped so a hostile value cannot flood the logs.
fn quote(text: &str) -> String {
    let mut chars = text.chars();
    let clipped: String = chars.by_ref().take(MAX_QUOTED_CHARS).collect();
    let ellipsis = if chars.next().is_some() { "…" } else { "" };
    format!("{:?}", clipped + ellipsis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use serde_json::{Value, json};
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("write to Vec");
        encoder.finish().expect("finish to Vec")
    }

    fn record(name: &str) -> Value {
        json!({"eventSource": "ec2.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
               "recipientAccountId": "111122223333"})
    }

    fn names(decoded: &Decoded) -> Vec<&str> {
        decoded
            .events
            .iter()
            .map(|e| e.event_name.as_str())
            .collect()
    }

    fn reasons(decoded: &Decoded) -> Vec<&SkipReason> {
        decoded.skipped.iter().map(|s| &s.reason).collect()
    }

    #[test]
    fn a_single_record() {
        let decoded = decode(record("CreateVpc").to_string().as_bytes());
        assert_eq!(names(&decoded), ["CreateVpc"]);
        assert!(decoded.skipped.is_empty());
    }

    #[test]
    fn json_lines_skip_bad_lines_by_number() {
        let text = format!(
            "{}\n\n{{\"eventSource\": \n{}\n42\n",
            record("A"),
            record("B")
        );
        let decoded = decode(text.as_bytes());
        assert_eq!(names(&decoded), ["A", "B"]);
        let at: Vec<_> = decoded.skipped.iter().map(|s| s.at.clone()).collect();
        assert_eq!(at, [vec![Part::Line(3)], vec![Part::Line(5)]]);
        assert!(matches!(decoded.skipped[0].reason, SkipReason::Json(_)));
        assert!(matches!(
            decoded.skipped[1].reason,
            SkipReason::NotCloudTrail(_)
        ));
    }

    #[test]
    fn concatenated_pretty_records() {
        let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("serialise");
        let text = format!(
            "{}\n{}\n\n{}",
            pretty(&record("A")),
            pretty(&record("B")),
            pretty(&json!({"x": 1}))
        );
        let decoded = decode(text.as_bytes());
        assert_eq!(names(&decoded), ["A", "B"]);
        let lines_per_record = pretty(&record("A")).lines().count();
        assert_eq!(
            decoded.skipped[0].at,
            [Part::Line(2 * lines_per_record + 2)]
        );
    }

    #[test]
    fn broken_pretty_json_is_one_skip() {
        let mut text = serde_json::to_string_pretty(&record("A")).expect("serialise");
        text.truncate(text.len() - 3);
        let decoded = decode(text.as_bytes());
        assert!(decoded.events.is_empty());
        assert_eq!(decoded.skipped.len(), 1);
        assert!(decoded.skipped[0].at.is_empty());
        assert!(matches!(decoded.skipped[0].reason, SkipReason::Json(_)));
    }

    #[test]
    fn control_message_is_skipped() {
        let payload = json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
                             "logGroup": "", "logStream": "", "subscriptionFilters": [],
                             "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]});
        let decoded = decode(&gzip(payload.to_string().as_bytes()));
        assert!(decoded.events.is_empty());
        assert_eq!(reasons(&decoded), [&SkipReason::ControlMessage]);
    }

    #[test]
    fn data_message_yields_each_log_event() {
        let payload = json!({"messageType": "DATA_MESSAGE", "owner": "111122223333",
        "logEvents": [
            {"id": "1", "timestamp": 1, "message": record("A").to_string()},
            {"id": "2", "timestamp": 2, "message": "not json"},
            {"id": "3", "timestamp": 3, "message": record("B").to_string()},
        ]});
        let decoded = decode(&gzip(payload.to_string().as_bytes()));
        assert_eq!(names(&decoded), ["A", "B"]);
        assert_eq!(decoded.skipped.len(), 1);
        assert_eq!(decoded.skipped[0].at, [Part::LogEvent(1)]);
    }

    #[test]
    fn s3_records_and_arrays() {
        let file = json!({"Records": [record("A"), {"foo": 1}, record("B")]});
        let decoded = decode(&gzip(file.to_string().as_bytes()));
        assert_eq!(names(&decoded), ["A", "B"]);
        assert_eq!(decoded.skipped[0].at, [Part::Record(1)]);

        let array = json!([record("C"), record("D")]);
        assert_eq!(names(&decode(array.to_string().as_bytes())), ["C", "D"]);
    }

    #[test]
    fn eventbridge_envelope() {
        let mut detail = record("CreateTags");
        detail
            .as_object_mut()
            .expect("object")
            .remove("recipientAccountId");
        let envelope = json!({"detail-type": "AWS API Call via CloudTrail", "account": "999",
                              "region": "eu-west-1", "detail": detail});
        let decoded = decode(envelope.to_string().as_bytes());
        assert_eq!(names(&decoded), ["CreateTags"]);
        assert_eq!(decoded.events[0].recipient_account_id, "999");
        assert_eq!(decoded.events[0].aws_region, "us-east-1");

        let other = json!({"detail-type": "EC2 Instance State-change Notification",
                           "detail": {"instance-id": "i-1"}});
        let decoded = decode(other.to_string().as_bytes());
        assert!(decoded.events.is_empty());
        assert!(matches!(
            &decoded.skipped[0].reason,
            SkipReason::NotCloudTrail(m) if m.contains("EC2 Instance State-change")
        ));
    }

    #[test]
    fn truncated_gzip_is_a_skip() {
        let full = gzip(record("A").to_string().as_bytes());
        for cut in [2, 10, full.len() / 2, full.len() - 1] {
            let decoded = decode(&full[..cut]);
            assert!(decoded.events.is_empty(), "cut at {cut}");
            assert!(
                matches!(
                    decoded.skipped[..],
                    [Skip {
                        reason: SkipReason::Gzip(_),
                        ..
                    }]
                ),
                "cut at {cut}: {:?}",
                decoded.skipped
            );
        }
    }

    #[test]
    fn gzip_bomb_is_refused() {
        // 65 gzip members of 1 MiB of spaces each: ~70 KiB that inflate past the cap.
        let member = gzip(&[b' '; 1024 * 1024]);
        let members = MAX_DECOMPRESSED_BYTES as usize / (1024 * 1024) + 1;
        let bomb = member.repeat(members);
        assert!(bomb.len() < 1024 * 1024);
        let decoded = decode(&bomb);
        assert_eq!(reasons(&decoded), [&SkipReason::TooLarge]);
    }

    #[test]
    fn deep_nesting_costs_no_stack() {
        // Unbalanced: delimiting steps through it without recursion, then finds the end missing.
        let deep = "[".repeat(100_000);
        assert!(matches!(
            reasons(&decode(deep.as_bytes()))[..],
            [SkipReason::Json(_)]
        ));
        // Balanced arrays are forms (arrays of events), unwrapped only so far.
        let balanced = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            reasons(&decode(balanced.as_bytes())),
            [&not_cloudtrail("forms nested too deeply")]
        );
        // A record's payloads are kept as text, however deep.
        let mut r = record("CreateVpc");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        r["requestParameters"] = json!("placeholder");
        let text = r.to_string().replace("\"placeholder\"", &deep);
        assert_eq!(names(&decode(text.as_bytes())), ["CreateVpc"]);
        // Brackets inside strings do not count.
        let mut r = record("A");
        r["requestParameters"] = json!({"policy": "[".repeat(1000)});
        assert_eq!(names(&decode(r.to_string().as_bytes())), ["A"]);
    }

    #[test]
    fn odd_inputs_are_skips() {
        assert_eq!(reasons(&decode(b"")), [&SkipReason::Empty]);
        assert_eq!(reasons(&decode(b" \n\t")), [&SkipReason::Empty]);
        assert!(matches!(
            reasons(&decode(b"\xff\xfe"))[..],
            [SkipReason::Json(_)]
        ));
        assert!(matches!(
            reasons(&decode(b"null"))[..],
            [SkipReason::NotCloudTrail(_)]
        ));
        let unknown = json!({"messageType": "SOMETHING"});
        assert!(matches!(
            reasons(&decode(unknown.to_string().as_bytes()))[..],
            [SkipReason::NotCloudTrail(_)]
        ));
    }

    #[test]
    fn skips_past_the_limit_are_counted() {
        let many = format!("[{}1]", "1,".repeat(MAX_LISTED_SKIPS + 41));
        let decoded = decode(many.as_bytes());
        assert_eq!(decoded.skipped.len(), MAX_LISTED_SKIPS + 1);
        assert_eq!(
            decoded.skipped[MAX_LISTED_SKIPS].reason,
            SkipReason::More(42)
        );
        assert_eq!(
            decoded.skipped[MAX_LISTED_SKIPS].to_string(),
            "input: 42 more parts skipped"
        );
    }

    #[test]
    fn bom_is_ignored() {
        let text = format!("\u{feff}{}", record("A"));
        assert_eq!(names(&decode(text.as_bytes())), ["A"]);
    }

    #[test]
    fn skip_display_names_the_part() {
        let skip = Skip {
            at: vec![Part::Line(3), Part::LogEvent(0)],
            reason: SkipReason::ControlMessage,
        };
        assert_eq!(
            skip.to_string(),
            "line 3, logEvents[0]: CloudWatch Logs control message"
        );
        let skip = Skip {
            at: vec![],
            reason: SkipReason::Empty,
        };
        assert_eq!(skip.to_string(), "input: empty input");
    }

    #[test]
    fn quotes_are_clipped() {
        let long = "x".repeat(500);
        let quoted = quote(&long);
        assert!(quoted.chars().count() < 100, "{quoted}");
    }
}
