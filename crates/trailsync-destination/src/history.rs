//! The change history: what a batch changes, worked out from the rows it replaces.
//!
//! A batch reads the stored rows it is about to replace (parents, their child rows, the rows
//! its deletions remove) inside its transaction; [`changes`] compares them with the new rows and
//! returns one `trailsync_changes` row per resource that really changed: created, deleted, or
//! updated with the old and new values of each top-level column that differs. A re-fetch that
//! finds the resource as stored writes nothing, and `_cq_sync_time` (and the other bookkeeping
//! columns) never count as a change. Pure: no I/O here.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};
use trailsync_catalog::{Resource, Table, Value};
use trailsync_core::{ChangeQuery, ChangeRecord, EventCause, WriteBatch};
use uuid::Uuid;

use crate::own::CHANGES;
use crate::plan::Param;
use crate::sql::{Dialect, push_list, push_quoted};

/// A stored row as read back: its bookkeeping columns and its data columns in the table's
/// column order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredRow {
    pub cq_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub sync_time: Option<DateTime<Utc>>,
    pub values: Vec<Value>,
}

impl StoredRow {
    /// A row from its values as selected (every column of its table, bookkeeping first);
    /// `None` without a `_cq_id`.
    pub(crate) fn from_values(mut values: Vec<Value>) -> Option<StoredRow> {
        let data = values.split_off(trailsync_catalog::CQ_COLUMNS.len().min(values.len()));
        let mut bookkeeping = values.into_iter();
        let sync_time = match bookkeeping.next() {
            Some(Value::Timestamp(t)) => Some(t),
            _ => None,
        };
        let _source = bookkeeping.next();
        let Some(Value::Uuid(cq_id)) = bookkeeping.next() else {
            return None;
        };
        let parent_id = match bookkeeping.next() {
            Some(Value::Uuid(id)) => Some(id),
            _ => None,
        };
        Some(StoredRow {
            cq_id,
            parent_id,
            sync_time,
            values: data,
        })
    }
}

/// What a batch's reads found.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    /// Parents the batch upserts, by `_cq_id`.
    pub parents: HashMap<Uuid, StoredRow>,
    /// Child rows under those parents: (child table, parent id) -> rows.
    pub children: HashMap<(&'static str, Uuid), Vec<StoredRow>>,
    /// Rows the batch's deletions remove.
    pub deleted: Vec<(&'static Table, StoredRow)>,
}

impl Stored {
    /// Whether the stored parent was observed after `time`: a newer state, not to be replaced
    /// by an older one (another worker, or a slower fetch, committed it first).
    pub(crate) fn is_newer(&self, id: &Uuid, time: DateTime<Utc>) -> bool {
        self.parents
            .get(id)
            .and_then(|row| row.sync_time)
            .is_some_and(|stored| stored > time)
    }
}

/// A value as the history shows it: JSON, instants in the stored format (microseconds), text
/// without the NUL characters PostgreSQL cannot keep (so a stored value compares equal).
pub(crate) fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Text(text) => Json::String(text.replace('\0', "")),
        Value::BigInt(n) => json!(n),
        Value::Boolean(b) => json!(b),
        Value::Double(d) => json!(d),
        Value::Timestamp(t) => Json::String(crate::sql::format_time(t)),
        Value::Json(j) => j.clone(),
        Value::TextArray(items) => json!(items),
        Value::Uuid(id) => Json::String(id.hyphenated().to_string()),
    }
}

/// The resource's id as events name it (the table's id column), else its primary key values.
fn resource_id(row_table: &Table, get: impl Fn(&str) -> Option<Json>) -> Option<String> {
    let text = |json: Json| match json {
        Json::String(s) => Some(s),
        Json::Null => None,
        other => Some(other.to_string()),
    };
    if let Some(id) = row_table.id {
        return get(id.column).and_then(text);
    }
    let parts: Vec<String> = row_table
        .primary_key
        .iter()
        .filter_map(|c| get(c).and_then(text))
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// One `trailsync_changes` row, its values in the declared column order.
pub(crate) type ChangeRow = Vec<Value>;

/// The history rows of `batch`: `kept` are the resources it writes (those not older than what
/// is stored), `stored` what its reads found.
pub(crate) fn changes(batch: &WriteBatch, kept: &[&Resource], stored: &Stored) -> Vec<ChangeRow> {
    if !batch.history {
        return Vec::new();
    }
    let now = Utc::now();
    let mut out = Vec::new();
    for resource in kept {
        let row = &resource.row;
        let table = row.table;
        let new: Vec<Json> = row.values.iter().map(to_json).collect();
        let old = stored.parents.get(&row.cq_id);
        let (action, changes) = match old {
            None => ("created", every_column(table, None, Some(&new))),
            Some(old) => {
                let old: Vec<Json> = old.values.iter().map(to_json).collect();
                ("updated", changed_columns(table, &old, &new))
            }
        };
        let children = child_changes(resource, stored);
        if action == "updated" && changes.is_empty() && children.is_empty() {
            continue;
        }
        let get = |column: &str| row.get(column).map(to_json);
        out.push(change_row(
            batch,
            now,
            table,
            action,
            &get,
            Json::Object(changes),
            Json::Object(children),
        ));
    }
    for (table, row) in &stored.deleted {
        let old: Vec<Json> = row.values.iter().map(to_json).collect();
        let get = |column: &str| {
            table
                .columns
                .iter()
                .position(|c| c.name == column)
                .and_then(|i| old.get(i).cloned())
        };
        out.push(change_row(
            batch,
            now,
            table,
            "deleted",
            &get,
            Json::Object(every_column(table, Some(&old), None)),
            Json::Object(Map::new()),
        ));
    }
    out
}

/// `{column: {"old": .., "new": ..}}` for every non-null column of a created or deleted row.
fn every_column(table: &Table, old: Option<&[Json]>, new: Option<&[Json]>) -> Map<String, Json> {
    let mut changes = Map::new();
    for (i, column) in table.columns.iter().enumerate() {
        let before = old.and_then(|v| v.get(i)).cloned().unwrap_or(Json::Null);
        let after = new.and_then(|v| v.get(i)).cloned().unwrap_or(Json::Null);
        if before != Json::Null || after != Json::Null {
            changes.insert(
                column.name.to_string(),
                json!({"old": before, "new": after}),
            );
        }
    }
    changes
}

/// `{column: {"old": .., "new": ..}}` for each data column whose value differs.
fn changed_columns(table: &Table, old: &[Json], new: &[Json]) -> Map<String, Json> {
    let mut changes = Map::new();
    for (i, column) in table.columns.iter().enumerate() {
        let before = old.get(i).unwrap_or(&Json::Null);
        let after = new.get(i).unwrap_or(&Json::Null);
        if before != after {
            changes.insert(
                column.name.to_string(),
                json!({"old": before, "new": after}),
            );
        }
    }
    changes
}

/// `{child_table: {"added": n, "removed": n, "changed": n}}` for the child tables the resource
/// lists whose rows differ from the stored ones (matched by `_cq_id`).
fn child_changes(resource: &Resource, stored: &Stored) -> Map<String, Json> {
    let mut summary = Map::new();
    for child in &resource.children {
        let before: HashMap<Uuid, Vec<Json>> = stored
            .children
            .get(&(child.table.name, resource.row.cq_id))
            .map(|rows| {
                rows.iter()
                    .map(|r| (r.cq_id, r.values.iter().map(to_json).collect()))
                    .collect()
            })
            .unwrap_or_default();
        let after: HashMap<Uuid, Vec<Json>> = child
            .rows
            .iter()
            .map(|r| (r.cq_id, r.values.iter().map(to_json).collect()))
            .collect();
        let added = after.keys().filter(|id| !before.contains_key(id)).count();
        let removed = before.keys().filter(|id| !after.contains_key(id)).count();
        let changed = after
            .iter()
            .filter(|(id, values)| before.get(id).is_some_and(|old| old != *values))
            .count();
        if added + removed + changed > 0 {
            summary.insert(
                child.table.name.to_string(),
                json!({"added": added, "removed": removed, "changed": changed}),
            );
        }
    }
    summary
}

fn event_json(event: &EventCause) -> Json {
    json!({
        "event_id": event.event_id,
        "event_name": event.event_name,
        "event_time": event.event_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "principal_arn": event.principal_arn,
        "principal_type": event.principal_type,
        "access_key_id": event.access_key_id,
        "session_issuer": event.session_issuer,
        "source_ip": event.source_ip,
        "user_agent": event.user_agent,
    })
}

fn text(json: Option<Json>) -> Value {
    match json {
        Some(Json::String(s)) => Value::Text(s),
        Some(Json::Null) | None => Value::Null,
        Some(other) => Value::Text(other.to_string()),
    }
}

fn optional(text: Option<&String>) -> Value {
    text.map_or(Value::Null, |t| Value::Text(t.clone()))
}

#[allow(clippy::too_many_arguments)]
fn change_row(
    batch: &WriteBatch,
    now: DateTime<Utc>,
    table: &'static Table,
    action: &str,
    get: &dyn Fn(&str) -> Option<Json>,
    changes: Json,
    children: Json,
) -> ChangeRow {
    let id = resource_id(table, get);
    let mut events: Vec<&EventCause> = id
        .as_ref()
        .and_then(|id| batch.attribution.events.get(&(table.name, id.clone())))
        .map(|causes| causes.iter().map(|c| c.as_ref()).collect())
        .unwrap_or_default();
    // One event may be coalesced twice (two records of one event); oldest first.
    let mut seen = HashSet::new();
    events.retain(|e| e.event_id.as_ref().is_none_or(|id| seen.insert(id.clone())));
    events.sort_by_key(|e| e.event_time);
    let latest = events.last();
    let key: BTreeMap<&str, Json> = table
        .primary_key
        .iter()
        .map(|c| (*c, get(c).unwrap_or(Json::Null)))
        .collect();
    let values = [
        ("change_id", Value::Uuid(Uuid::new_v4())),
        ("changed_at", Value::Timestamp(now)),
        ("sync_time", Value::Timestamp(batch.sync_time)),
        ("source_name", Value::Text(batch.source_name.clone())),
        ("table_name", Value::Text(table.name.to_string())),
        ("resource_id", id.map_or(Value::Null, Value::Text)),
        ("arn", text(get("arn"))),
        ("primary_key", Value::Json(json!(key))),
        ("account_id", text(get("account_id"))),
        ("region", text(get("region"))),
        ("action", Value::Text(action.to_string())),
        ("changes", Value::Json(changes)),
        ("children", Value::Json(children)),
        (
            "cause",
            Value::Text(batch.attribution.trigger.as_str().to_string()),
        ),
        (
            "events",
            Value::Json(Json::Array(events.iter().map(|e| event_json(e)).collect())),
        ),
        (
            "principal_arn",
            optional(latest.and_then(|e| e.principal_arn.as_ref())),
        ),
        (
            "source_ip",
            optional(latest.and_then(|e| e.source_ip.as_ref())),
        ),
        (
            "event_name",
            latest.map_or(Value::Null, |e| Value::Text(e.event_name.clone())),
        ),
    ];
    debug_assert!(
        values
            .iter()
            .map(|(name, _)| *name)
            .eq(CHANGES.columns.iter().map(|c| c.name)),
        "values in the declared column order"
    );
    values.into_iter().map(|(_, value)| value).collect()
}

/// The query of [`trailsync_core::Destination::changes`]: every column of `trailsync_changes`
/// in declared order, filtered by what `query` sets, newest first.
pub(crate) fn select(dialect: Dialect, query: &ChangeQuery) -> (String, Vec<Param<'static>>) {
    let mut sql = String::from("SELECT ");
    push_list(&mut sql, CHANGES.columns.iter().map(|c| c.name));
    sql.push_str(" FROM ");
    push_quoted(&mut sql, CHANGES.name);
    sql.push_str(" WHERE 1 = 1");
    let mut params: Vec<Param<'static>> = Vec::new();
    let mut bind = |param: Param<'static>| {
        params.push(param);
        let mut placeholder = String::new();
        dialect.param(&mut placeholder, params.len());
        placeholder
    };
    let mut conditions = Vec::new();
    for (column, value) in [
        ("source_name", &query.source),
        ("table_name", &query.table),
        ("resource_id", &query.resource_id),
    ] {
        if let Some(value) = value {
            let p = bind(Param::Owned(Value::Text(value.clone())));
            conditions.push(format!("\"{column}\" = {p}"));
        }
    }
    if let Some(since) = query.since {
        let p = bind(Param::Timestamp(since));
        conditions.push(format!("\"changed_at\" >= {p}"));
    }
    if let Some(principal) = &query.principal {
        // Any coalesced event's principal: the ARN as a whole JSON string (quotes included, so
        // `user/bob` does not match `user/bobby`), LIKE's wildcards escaped.
        let escaped: String = principal
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let like = bind(Param::Owned(Value::Text(format!("%\"{escaped}\"%"))));
        conditions.push(format!("CAST(\"events\" AS TEXT) LIKE {like} ESCAPE '\\'"));
    }
    for condition in conditions {
        sql.push_str(" AND ");
        sql.push_str(&condition);
    }
    let limit = bind(Param::BigInt(
        i64::try_from(query.limit.max(1)).unwrap_or(i64::MAX),
    ));
    sql.push_str(&format!(" ORDER BY \"changed_at\" DESC LIMIT {limit}"));
    (sql, params)
}

/// Deletes up to `$2` rows committed before `$1`, oldest first.
pub(crate) fn prune(dialect: Dialect) -> String {
    let (mut before, mut limit) = (String::new(), String::new());
    dialect.param(&mut before, 1);
    dialect.param(&mut limit, 2);
    format!(
        "DELETE FROM \"{table}\" WHERE \"change_id\" IN (SELECT \"change_id\" FROM \"{table}\" \
         WHERE \"changed_at\" < {before} ORDER BY \"changed_at\" LIMIT {limit})",
        table = CHANGES.name
    )
}

/// A `trailsync_changes` row read back, its values in declared column order.
pub(crate) fn record(values: Vec<Value>) -> ChangeRecord {
    let mut values = values.into_iter();
    let mut next = || values.next().unwrap_or(Value::Null);
    let text = |v: Value| match v {
        Value::Text(t) => Some(t),
        Value::Uuid(id) => Some(id.hyphenated().to_string()),
        _ => None,
    };
    let time = |v: Value| match v {
        Value::Timestamp(t) => Some(t),
        _ => None,
    };
    let json = |v: Value| match v {
        Value::Json(j) => j,
        Value::Text(t) => serde_json::from_str(&t).unwrap_or(Json::Null),
        _ => Json::Null,
    };
    ChangeRecord {
        change_id: text(next()).unwrap_or_default(),
        changed_at: time(next()).unwrap_or_default(),
        sync_time: time(next()),
        source_name: text(next()).unwrap_or_default(),
        table_name: text(next()).unwrap_or_default(),
        resource_id: text(next()),
        arn: text(next()),
        account_id: {
            // primary_key is not part of the record.
            let _ = next();
            text(next())
        },
        region: text(next()),
        action: text(next()).unwrap_or_default(),
        changes: json(next()),
        children: json(next()),
        cause: text(next()).unwrap_or_default(),
        events: json(next()),
        principal_arn: text(next()),
        source_ip: text(next()),
    }
}
