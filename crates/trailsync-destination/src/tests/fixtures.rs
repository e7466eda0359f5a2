//! Test-only tables with a parent -> child -> grandchild hierarchy (the catalog has no
//! grandchildren yet, and its tables are wide), and row builders for them.

use chrono::{DateTime, TimeZone, Utc};
use trailsync_catalog::ColumnType::*;
use trailsync_catalog::{
    ChildRows, Deletion, Resource, Row, Scope, Service, Table, Value, col, cq_id,
};

use trailsync_core::{Checkpoint, Position, WriteBatch};

pub(crate) const ACCOUNT: &str = "111122223333";
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const SOURCE: &str = "aws-test";
pub(crate) const STREAM: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/cloudtrail";

pub(crate) static PARENTS: Table = Table {
    name: "ts_test_parents",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: None,
    primary_key: &["account_id", "region", "id"],
    id: Some(trailsync_catalog::ResourceId::new("id")),
    columns: &[
        col("account_id", Text),
        col("region", Text),
        col("id", Text),
        col("name", Text),
        col("tags", Json),
        col("labels", TextArray),
        col("created_at", Timestamp),
        col("size", BigInt),
        col("ratio", Double),
        col("enabled", Boolean),
        col("owner_id", Uuid),
    ],
};

/// [`PARENTS`] as an older catalog declared it: fewer columns.
pub(crate) static PARENTS_V1: Table = Table {
    columns: &[
        col("account_id", Text),
        col("region", Text),
        col("id", Text),
        col("name", Text),
    ],
    ..PARENTS
};

/// [`PARENTS`] keyed differently, as a table created by something else might be.
pub(crate) static PARENTS_OTHER_KEY: Table = Table {
    primary_key: &["id"],
    ..PARENTS
};

pub(crate) static CHILDREN: Table = Table {
    name: "ts_test_children",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: Some(&PARENTS),
    primary_key: &["parent_key", "name"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("region", Text),
        col("parent_key", Text),
        col("name", Text),
        col("value", Text),
    ],
};

pub(crate) static GRANDCHILDREN: Table = Table {
    name: "ts_test_grandchildren",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: Some(&CHILDREN),
    primary_key: &["child_key", "name"],
    id: None,
    columns: &[col("child_key", Text), col("name", Text)],
};

pub(crate) static ALL: [&Table; 3] = [&PARENTS, &CHILDREN, &GRANDCHILDREN];

/// A row of `table` with the given columns set (others NULL) and the catalog's `_cq_id`.
pub(crate) fn row(table: &'static Table, parent: Option<&Row>, set: &[(&str, Value)]) -> Row {
    let mut values = vec![Value::Null; table.columns.len()];
    for (name, value) in set {
        let index = table
            .column_index(name)
            .unwrap_or_else(|| panic!("{} has no column {name}", table.name));
        values[index] = value.clone();
    }
    let key: Vec<String> = table
        .primary_key
        .iter()
        .map(
            |k| match &values[table.column_index(k).expect("key column")] {
                Value::Text(s) => s.clone(),
                other => format!("{other:?}"),
            },
        )
        .collect();
    Row {
        table,
        cq_id: cq_id(table.name, &key),
        parent_id: parent.map(|p| p.cq_id),
        values,
    }
}

pub(crate) fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub(crate) fn parent(id: &str, name: &str) -> Row {
    parent_in(ACCOUNT, id, name)
}

pub(crate) fn parent_in(account: &str, id: &str, name: &str) -> Row {
    row(
        &PARENTS,
        None,
        &[
            ("account_id", text(account)),
            ("region", text(REGION)),
            ("id", text(id)),
            ("name", text(name)),
        ],
    )
}

pub(crate) fn child(parent: &Row, name: &str, value: &str) -> Row {
    let key = parent
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    row(
        &CHILDREN,
        Some(parent),
        &[
            ("account_id", text(ACCOUNT)),
            ("region", text(REGION)),
            ("parent_key", text(&key)),
            ("name", text(name)),
            ("value", text(value)),
        ],
    )
}

pub(crate) fn grandchild(child: &Row, name: &str) -> Row {
    let key = format!(
        "{}/{}",
        child
            .get("parent_key")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        child
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    row(
        &GRANDCHILDREN,
        Some(child),
        &[("child_key", text(&key)), ("name", text(name))],
    )
}

/// A parent with the complete sets of its children and grandchildren.
pub(crate) fn family(parent: Row, children: Vec<Row>, grandchildren: Vec<Row>) -> Resource {
    Resource {
        row: parent,
        children: vec![
            ChildRows {
                table: &CHILDREN,
                rows: children,
            },
            ChildRows {
                table: &GRANDCHILDREN,
                rows: grandchildren,
            },
        ],
    }
}

pub(crate) fn batch(at: DateTime<Utc>, upserts: Vec<Resource>) -> WriteBatch {
    WriteBatch {
        upserts,
        ..WriteBatch::new(SOURCE, at)
    }
}

pub(crate) fn delete_parent(id: &str) -> Deletion {
    Deletion {
        table: &PARENTS,
        filter: vec![
            ("account_id", text(ACCOUNT)),
            ("region", text(REGION)),
            ("id", text(id)),
        ],
    }
}

pub(crate) fn checkpoint(shard: &str, sequence: &str) -> Checkpoint {
    Checkpoint {
        source_name: SOURCE.to_string(),
        stream_arn: STREAM.to_string(),
        shard_id: shard.to_string(),
        position: position(sequence),
        epoch: 0,
    }
}

/// 2026-11-24T10:00:00Z plus `seconds`.
pub(crate) fn time(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::seconds(seconds)
}

/// A position after sequence number `sequence`.
pub(crate) fn position(sequence: &str) -> Position {
    sequence.parse().expect("a sequence number")
}
