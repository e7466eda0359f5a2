//! `trailsync explain`: what sync would do with each event of some input, without doing it.
//!
//! The binary reads the input and calls [`explain`], then [`Report::write`]. JSON output is one
//! object per event, exactly `{"event_id","event_source","event_name","ignored","reason",
//! "account","region","resources":[{"table","id","action"}]}`; text output is one block per
//! event. Skipped input is reported as one line per skipped part.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::decode::{Skip, decode};
use crate::event::CloudTrailEvent;
use crate::route::{Action, Outcome, Target, region_of, route};
use crate::routes::routes_for_event;

/// What sync would do with one event. Field order is the JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub event_id: Option<String>,
    pub event_source: String,
    pub event_name: String,
    pub ignored: bool,
    /// Why it is ignored: `errorCode CODE`, `readOnly` or `untracked`; null when not ignored.
    pub reason: Option<String>,
    pub account: String,
    /// Where the changes apply: `us-east-1` for IAM, else the event's region.
    pub region: String,
    pub resources: Vec<Resource>,
}

/// One resource an event changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub table: String,
    /// Null when the whole table (in that account and region) is refreshed.
    pub id: Option<String>,
    pub action: Action,
}

/// Every event of some input explained, and what was skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub explanations: Vec<Explanation>,
    pub skipped: Vec<Skip>,
}

/// Output format of `trailsync explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Decodes `bytes` (any accepted form) and explains every event in it.
pub fn explain(bytes: &[u8]) -> Report {
    let decoded = decode(bytes);
    Report {
        explanations: decoded.events.iter().map(Explanation::of).collect(),
        skipped: decoded.skipped,
    }
}

impl Explanation {
    /// Routes `event` and describes the outcome.
    pub fn of(event: &CloudTrailEvent) -> Self {
        let (reason, resources) = match route(event) {
            Outcome::Ignored(reason) => (Some(reason.to_string()), Vec::new()),
            Outcome::Changes(changes) => {
                let resources = changes
                    .into_iter()
                    .map(|change| Resource {
                        table: change.table.name.to_owned(),
                        id: match change.target {
                            Target::Id(id) => Some(id),
                            Target::Refresh => None,
                        },
                        action: change.action,
                    })
                    .collect();
                (None, resources)
            }
        };
        Explanation {
            event_id: event.event_id.clone(),
            event_source: event.event_source.clone(),
            event_name: event.event_name.clone(),
            ignored: reason.is_some(),
            reason,
            account: event.recipient_account_id.clone(),
            region: region_of(event).to_owned(),
            resources,
        }
    }

    /// The one-line JSON object.
    pub fn to_json(&self) -> String {
        // A struct of strings, bools and options always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Why an untracked event is untracked, for people.
    fn untracked_detail(&self) -> &'static str {
        if routes_for_event(&self.event_source, &self.event_name)
            .next()
            .is_none()
        {
            "trailsync does not act on this event"
        } else {
            "it names no resource of a tracked table"
        }
    }
}

impl fmt::Display for Explanation {
    /// A block: the event, where it applies, then one line per resource or the reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.event_id.as_deref().unwrap_or("(no eventID)");
        writeln!(f, "{} {} {id}", self.event_source, self.event_name)?;
        writeln!(
            f,
            "  account {}  region {}",
            or_none(&self.account),
            or_none(&self.region)
        )?;
        if let Some(reason) = &self.reason {
            return match reason.as_str() {
                "untracked" => writeln!(f, "  ignored: untracked ({})", self.untracked_detail()),
                _ => writeln!(f, "  ignored: {reason}"),
            };
        }
        for resource in &self.resources {
            match &resource.id {
                Some(id) => writeln!(f, "  {:<6} {} {id}", resource.action, resource.table)?,
                None => writeln!(
                    f,
                    "  {:<6} {} (whole table: the event does not name the resource)",
                    resource.action, resource.table
                )?,
            }
        }
        Ok(())
    }
}

fn or_none(text: &str) -> &str {
    if text.is_empty() { "(none)" } else { text }
}

impl Report {
    /// Writes the report. Text: a block per event, a blank line between, then a line per
    /// skipped part. JSON: one object per line per event on `out`; skipped parts go to `diag` as
    /// text so that `out` stays machine-readable.
    pub fn write(
        &self,
        format: Format,
        out: &mut dyn Write,
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        match format {
            Format::Text => {
                for (i, explanation) in self.explanations.iter().enumerate() {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    write!(out, "{explanation}")?;
                }
                if !self.explanations.is_empty() && !self.skipped.is_empty() {
                    writeln!(out)?;
                }
                self.write_skipped(out)
            }
            Format::Json => {
                for explanation in &self.explanations {
                    writeln!(out, "{}", explanation.to_json())?;
                }
                self.write_skipped(diag)
            }
        }
    }

    /// The report as one string, skipped parts last, as [`Report::write`] would show it on a
    /// terminal.
    pub fn render(&self, format: Format) -> String {
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        // Writing to a Vec cannot fail.
        if self.write(format, &mut out, &mut diag).is_ok() {
            out.extend(diag);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn write_skipped(&self, out: &mut dyn Write) -> io::Result<()> {
        for skip in &self.skipped {
            writeln!(out, "skipped {skip}")?;
        }
        Ok(())
    }
}

/// A `--format` value that is neither `text` nor `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: use text or json")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Json => "json",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// One line, so that it can be a line of JSON lines.
    const RUN: &str = concat!(
        r#"{"eventID": "e1", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "#,
        r#""awsRegion": "eu-west-1", "recipientAccountId": "111", "responseElements": "#,
        r#"{"instancesSet": {"items": [{"instanceId": "i-1"}]}}}"#
    );

    #[test]
    fn json_has_exactly_the_contract_keys_in_order() {
        let report = explain(RUN.as_bytes());
        let line = report.explanations[0].to_json();
        assert_eq!(
            line,
            r#"{"event_id":"e1","event_source":"ec2.amazonaws.com","event_name":"RunInstances","ignored":false,"reason":null,"account":"111","region":"eu-west-1","resources":[{"table":"aws_ec2_instances","id":"i-1","action":"upsert"}]}"#
        );
    }

    #[test]
    fn refresh_has_a_null_id_and_ignored_events_a_reason() {
        let input = r#"{"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"}
{"eventSource": "s3.amazonaws.com", "eventName": "PutObject"}"#;
        let report = explain(input.as_bytes());
        let lines: Vec<Value> = report
            .explanations
            .iter()
            .map(|e| serde_json::from_str(&e.to_json()).expect("JSON"))
            .collect();
        assert_eq!(lines[0]["resources"][0]["id"], Value::Null);
        assert_eq!(lines[0]["event_id"], Value::Null);
        assert_eq!(lines[1]["ignored"], true);
        assert_eq!(lines[1]["reason"], "untracked");
        assert_eq!(lines[1]["resources"], json!([]));
    }

    #[test]
    fn text_has_a_block_per_event_and_a_line_per_skip() {
        let input = format!(
            "{RUN}\nnot json\n{{\"eventSource\": \"x.amazonaws.com\", \"eventName\": \"Y\"}}"
        );
        let text = explain(input.as_bytes()).render(Format::Text);
        assert_eq!(
            text,
            "ec2.amazonaws.com RunInstances e1\n  account 111  region eu-west-1\n  upsert aws_ec2_instances i-1\n\
             \nx.amazonaws.com Y (no eventID)\n  account (none)  region (none)\n  ignored: untracked (trailsync does not act on this event)\n\
             \nskipped line 2: invalid JSON: expected ident at line 1 column 2\n"
        );
    }

    #[test]
    fn json_keeps_skips_off_stdout() {
        let input = format!("{RUN}\nnot json");
        let report = explain(input.as_bytes());
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        report
            .write(Format::Json, &mut out, &mut diag)
            .expect("write to Vec");
        let out = String::from_utf8(out).expect("UTF-8");
        assert_eq!(out.lines().count(), 1);
        assert!(String::from_utf8_lossy(&diag).starts_with("skipped line 2: invalid JSON"));
    }

    #[test]
    fn formats_parse() {
        assert_eq!("json".parse(), Ok(Format::Json));
        assert_eq!("text".parse(), Ok(Format::Text));
        assert!("yaml".parse::<Format>().is_err());
    }
}
