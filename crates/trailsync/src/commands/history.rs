//! `trailsync history`: the change history as a timeline, newest first, one line per change:
//!
//! ```text
//! 2026-11-30T10:02:11Z  aws_ec2_security_groups sg-0abc  updated  ip_permissions +tcp/22 0.0.0.0/0  by arn:aws:sts::1111:assumed-role/Admin/alice from 198.51.100.7 (AuthorizeSecurityGroupIngress)
//! ```
//!
//! The line summarises each changed column compactly ([`summarise`]); `--format json` gives the
//! stored rows in full.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use serde_json::{Map, Value as Json, json};
use trailsync::change_history;
use trailsync_core::{ChangeQuery, ChangeRecord};

use crate::cli::ExplainFormat;

/// What `trailsync history` was asked for.
#[derive(Debug)]
pub struct Filter {
    pub table: Option<String>,
    pub id: Option<String>,
    pub since: Option<Duration>,
    pub principal: Option<String>,
    pub limit: usize,
}

pub fn run(paths: &[PathBuf], filter: Filter, format: ExplainFormat) -> anyhow::Result<ExitCode> {
    let config = match super::load(paths) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let since = match filter.since {
        Some(ago) => Some(
            Utc::now()
                - chrono::Duration::from_std(ago).context("--since is too far in the past")?,
        ),
        None => None,
    };
    let query = ChangeQuery {
        source: None,
        table: filter.table,
        resource_id: filter.id,
        since,
        principal: filter.principal,
        limit: filter.limit,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut changes = Vec::new();
    for source in &config.sources {
        changes.extend(runtime.block_on(change_history(source, &config, &query))?);
    }
    changes.sort_by_key(|c| std::cmp::Reverse(c.changed_at));
    changes.truncate(query.limit);
    let mut out = std::io::stdout().lock();
    match format {
        ExplainFormat::Json => {
            let all: Vec<_> = changes.iter().map(as_json).collect();
            serde_json::to_writer_pretty(&mut out, &json!({ "changes": all }))?;
            writeln!(out)?;
        }
        ExplainFormat::Text => {
            if changes.is_empty() {
                eprintln!("no changes recorded (that match)");
            }
            for change in &changes {
                writeln!(out, "{}", line(change))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn as_json(change: &ChangeRecord) -> Json {
    json!({
        "change_id": change.change_id,
        "changed_at": change.changed_at,
        "sync_time": change.sync_time,
        "source_name": change.source_name,
        "table_name": change.table_name,
        "resource_id": change.resource_id,
        "arn": change.arn,
        "account_id": change.account_id,
        "region": change.region,
        "action": change.action,
        "changes": change.changes,
        "children": change.children,
        "cause": change.cause,
        "events": change.events,
        "principal_arn": change.principal_arn,
        "source_ip": change.source_ip,
    })
}

/// One timeline line: when, what, how, and who from where by which calls (or which listing).
pub(crate) fn line(change: &ChangeRecord) -> String {
    let mut text = format!(
        "{}  {} {}  {}",
        change
            .changed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        change.table_name,
        change.resource_id.as_deref().unwrap_or("-"),
        change.action
    );
    let summary = summarise(change);
    if !summary.is_empty() {
        text.push_str("  ");
        text.push_str(&summary);
    }
    let events = change.events.as_array().map(Vec::as_slice).unwrap_or(&[]);
    if events.is_empty() {
        text.push_str(&format!("  ({})", change.cause));
        return text;
    }
    if let Some(principal) = &change.principal_arn {
        text.push_str(&format!("  by {principal}"));
    }
    if let Some(ip) = &change.source_ip {
        text.push_str(&format!(" from {ip}"));
    }
    let mut names: Vec<&str> = events
        .iter()
        .filter_map(|e| e.get("event_name").and_then(Json::as_str))
        .collect();
    names.dedup();
    let more = if events.len() > 1 {
        format!(", {} events", events.len())
    } else {
        String::new()
    };
    text.push_str(&format!(" ({}{more})", names.join(", ")));
    text
}

/// Columns shown in full only for updates: for a created or deleted resource, its id says it.
const MOST_COLUMNS_SHOWN: usize = 4;

/// The changed columns, compactly: `+`/`-` for what a list or map gained or lost
/// (`ip_permissions +tcp/22 0.0.0.0/0`, `tags +env=prod`), `old -> new` for a plain value,
/// `~n` for items of a list of nested objects that changed, child tables as counts. Nothing for
/// a created or deleted resource beyond its children.
pub(crate) fn summarise(change: &ChangeRecord) -> String {
    let mut parts = Vec::new();
    if change.action == "updated"
        && let Some(columns) = change.changes.as_object()
    {
        // Plain values and small maps (state, tags) say most: they come first, lists after.
        let mut ordered: Vec<(&String, &Json)> = columns.iter().collect();
        ordered.sort_by_key(|(_, values)| values.get("new").is_some_and(Json::is_array));
        for (column, values) in ordered.into_iter().take(MOST_COLUMNS_SHOWN) {
            let old = values.get("old").unwrap_or(&Json::Null);
            let new = values.get("new").unwrap_or(&Json::Null);
            parts.push(format!("{column} {}", difference(old, new)));
        }
        if columns.len() > MOST_COLUMNS_SHOWN {
            parts.push(format!(
                "(+{} more columns)",
                columns.len() - MOST_COLUMNS_SHOWN
            ));
        }
    }
    if let Some(children) = change.children.as_object() {
        for (table, counts) in children {
            let count = |k: &str| counts.get(k).and_then(Json::as_u64).unwrap_or(0);
            let mut c = Vec::new();
            for (sign, key) in [("+", "added"), ("-", "removed"), ("~", "changed")] {
                if count(key) > 0 {
                    c.push(format!("{sign}{}", count(key)));
                }
            }
            parts.push(format!("{table} {}", c.join(" ")));
        }
    }
    parts.join("; ")
}

/// How `old` became `new`, in a few words.
fn difference(old: &Json, new: &Json) -> String {
    match (old, new) {
        (Json::Array(before), Json::Array(after)) => {
            let added: Vec<&Json> = after.iter().filter(|i| !before.contains(i)).collect();
            let removed: Vec<&Json> = before.iter().filter(|i| !after.contains(i)).collect();
            if added.is_empty() && removed.is_empty() {
                return "reordered".into();
            }
            let named = |item: &Json| item.get("IpProtocol").is_some() || item.get("Key").is_some();
            if !added
                .iter()
                .chain(&removed)
                .all(|i| named(i) || !i.is_object())
            {
                // Nested objects (interfaces, volumes): counts; --format json has them whole.
                let changed = added.len().min(removed.len());
                let mut words = Vec::new();
                if changed > 0 {
                    words.push(format!("~{changed}"));
                }
                if added.len() > changed {
                    words.push(format!("+{}", added.len() - changed));
                }
                if removed.len() > changed {
                    words.push(format!("-{}", removed.len() - changed));
                }
                return words.join(" ");
            }
            let mut words: Vec<String> = added
                .iter()
                .map(|item| format!("+{}", item_text(item)))
                .collect();
            words.extend(removed.iter().map(|item| format!("-{}", item_text(item))));
            words.join(" ")
        }
        (Json::Object(before), Json::Object(after)) if is_flat(before) && is_flat(after) => {
            let mut words = Vec::new();
            for (key, value) in after {
                match before.get(key) {
                    None => words.push(format!("+{key}={}", scalar(value))),
                    Some(old) if old != value => {
                        words.push(format!("{key} {} -> {}", scalar(old), scalar(value)));
                    }
                    Some(_) => {}
                }
            }
            words.extend(
                before
                    .keys()
                    .filter(|k| !after.contains_key(*k))
                    .map(|k| format!("-{k}")),
            );
            words.join(" ")
        }
        _ => format!("{} -> {}", short(old), short(new)),
    }
}

/// A map of plain values (tags, a state): shown key by key.
fn is_flat(map: &Map<String, Json>) -> bool {
    map.values().all(|v| !v.is_object() && !v.is_array())
}

/// A list item as people name it: a permission as `tcp/22 0.0.0.0/0`, a tag as `key=value`.
fn item_text(item: &Json) -> String {
    if let Some(protocol) = item.get("IpProtocol").and_then(Json::as_str) {
        let protocol = if protocol == "-1" { "all" } else { protocol };
        let ports = match (
            item.get("FromPort").and_then(Json::as_i64),
            item.get("ToPort").and_then(Json::as_i64),
        ) {
            (Some(from), Some(to)) if from == to => format!("/{from}"),
            (Some(from), Some(to)) if from >= 0 => format!("/{from}-{to}"),
            _ => String::new(),
        };
        let mut peers: Vec<String> = Vec::new();
        for (list, field) in [
            ("IpRanges", "CidrIp"),
            ("Ipv6Ranges", "CidrIpv6"),
            ("PrefixListIds", "PrefixListId"),
            ("UserIdGroupPairs", "GroupId"),
        ] {
            if let Some(entries) = item.get(list).and_then(Json::as_array) {
                peers.extend(
                    entries
                        .iter()
                        .filter_map(|e| e.get(field).and_then(Json::as_str))
                        .map(str::to_string),
                );
            }
        }
        return format!("{protocol}{ports} {}", peers.join(","))
            .trim()
            .to_string();
    }
    if let (Some(key), Some(value)) = (item.get("Key"), item.get("Value")) {
        return format!("{}={}", scalar(key), scalar(value));
    }
    short(item)
}

fn scalar(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// At most 60 characters of a value.
fn short(value: &Json) -> String {
    let text = scalar(value);
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn change(action: &str, changes: Json, events: Json) -> ChangeRecord {
        ChangeRecord {
            change_id: "c".into(),
            changed_at: Utc
                .with_ymd_and_hms(2026, 11, 30, 10, 2, 11)
                .single()
                .expect("instant"),
            sync_time: None,
            source_name: "aws".into(),
            table_name: "aws_ec2_security_groups".into(),
            resource_id: Some("sg-0abc".into()),
            arn: None,
            account_id: None,
            region: None,
            action: action.into(),
            changes,
            children: json!({}),
            cause: "event".into(),
            principal_arn: events[0]["principal_arn"].as_str().map(str::to_string),
            source_ip: events[0]["source_ip"].as_str().map(str::to_string),
            events,
        }
    }

    #[test]
    fn an_opened_port_reads_as_the_issue_shows_it() {
        let rule = |cidr: &str| json!({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]});
        let c = change(
            "updated",
            json!({"ip_permissions": {"old": [rule("10.0.0.0/8")], "new": [rule("10.0.0.0/8"), rule("0.0.0.0/0")]}}),
            json!([{"event_name": "AuthorizeSecurityGroupIngress", "principal_arn": "arn:aws:sts::1111:assumed-role/Admin/alice", "source_ip": "198.51.100.7"}]),
        );
        assert_eq!(
            line(&c),
            "2026-11-30T10:02:11Z  aws_ec2_security_groups sg-0abc  updated  ip_permissions +tcp/22 0.0.0.0/0  by arn:aws:sts::1111:assumed-role/Admin/alice from 198.51.100.7 (AuthorizeSecurityGroupIngress)"
        );
    }

    #[test]
    fn tags_states_and_listings_are_summarised() {
        let c = change(
            "updated",
            json!({
                "tags": {"old": {"env": "dev", "gone": "x"}, "new": {"env": "prod", "team": "a"}},
                "state": {"old": {"Code": 16, "Name": "running"}, "new": {"Code": 48, "Name": "terminated"}},
            }),
            json!([]),
        );
        assert_eq!(
            line(&c),
            "2026-11-30T10:02:11Z  aws_ec2_security_groups sg-0abc  updated  \
             state Code 16 -> 48 Name running -> terminated; tags env dev -> prod +team=a -gone  (event)"
        );
        let mut created = change(
            "created",
            json!({"group_id": {"old": null, "new": "sg-0abc"}}),
            json!([]),
        );
        created.cause = "reconcile".into();
        assert_eq!(
            line(&created),
            "2026-11-30T10:02:11Z  aws_ec2_security_groups sg-0abc  created  (reconcile)"
        );
    }
}
