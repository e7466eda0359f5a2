use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::{ColumnType, Table};

/// One cell. Destinations bind these as parameters; nothing here is ever spliced into SQL text.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    BigInt(i64),
    Boolean(bool),
    Double(f64),
    Timestamp(DateTime<Utc>),
    Json(Json),
    TextArray(Vec<String>),
    Uuid(Uuid),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The text form used to derive `_cq_id` from key values.
    fn key_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(s) => s.clone(),
            Value::BigInt(i) => i.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Double(d) => d.to_string(),
            Value::Timestamp(t) => t.to_rfc3339(),
            Value::Json(j) => j.to_string(),
            Value::TextArray(a) => a.join(","),
            Value::Uuid(u) => u.to_string(),
        }
    }
}

/// Why a JSON object could not become a row.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RowError {
    #[error("{table}: primary key column {column} is empty")]
    MissingKey {
        table: &'static str,
        column: &'static str,
    },
}

/// A row of one table: bookkeeping ids plus values aligned with [`Table::columns`].
///
/// `_cq_sync_time` and `_cq_source_name` are not here: the destination stamps them per write.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub table: &'static Table,
    pub cq_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub values: Vec<Value>,
}

impl Row {
    /// Builds a row from an API object rendered as JSON.
    ///
    /// Each column is looked up under its own name first (for values the table code computes:
    /// `arn`, `account_id`, `tags`), then by the API field's name compared without case and
    /// underscores, so `db_instance_identifier` finds Go's `DBInstanceIdentifier`.
    pub fn from_json(
        table: &'static Table,
        object: &Map<String, Json>,
        parent_id: Option<Uuid>,
    ) -> Result<Row, RowError> {
        let by_folded_name: HashMap<String, &Json> =
            object.iter().map(|(k, v)| (fold(k), v)).collect();
        let values: Vec<Value> = table
            .columns
            .iter()
            .map(|c| {
                let found = object
                    .get(c.name)
                    .or_else(|| by_folded_name.get(&fold(c.name)).copied());
                found.map_or(Value::Null, |v| convert(v, c.ty))
            })
            .collect();
        let row = Row {
            table,
            cq_id: Uuid::nil(),
            parent_id,
            values,
        };
        let cq_id = row.key_id()?;
        Ok(Row { cq_id, ..row })
    }

    /// The value of a data column, by name.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.table.column_index(column).map(|i| &self.values[i])
    }

    fn key_id(&self) -> Result<Uuid, RowError> {
        let mut parts = Vec::with_capacity(self.table.primary_key.len());
        for &column in self.table.primary_key {
            match self.get(column) {
                Some(Value::Null) | None => {
                    return Err(RowError::MissingKey {
                        table: self.table.name,
                        column,
                    });
                }
                Some(v) => parts.push(v.key_text()),
            }
        }
        Ok(cq_id(self.table.name, &parts))
    }
}

/// The deterministic `_cq_id` of a row: a UUIDv5 of the table name and its primary key values.
pub fn cq_id<S: AsRef<str>>(table: &str, key: &[S]) -> Uuid {
    let mut name = String::from(table);
    for part in key {
        // Length-prefixed, so that ("a:b", "c") and ("a", "b:c") stay apart.
        let part = part.as_ref();
        name.push_str(&format!("|{}:{part}", part.len()));
    }
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// The namespace of every `_cq_id` trailsync derives.
const NAMESPACE: Uuid = Uuid::from_u128(0x7a1f_5e0c_2b8d_4c6e_9f3a_1d2b_4c5e_6f70);

/// A name without case or underscores: `db_instance_arn`, `DBInstanceArn` -> `dbinstancearn`.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `db_instance_arn` -> `DbInstanceArn`: how an API field name appears in the JSON rendering.
pub fn to_pascal_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = true;
    for ch in snake.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

fn convert(value: &Json, ty: ColumnType) -> Value {
    match (ty, value) {
        (_, Json::Null) => Value::Null,
        (ColumnType::Json, v) => Value::Json(v.clone()),
        (ColumnType::Text, Json::String(s)) => Value::Text(s.clone()),
        (ColumnType::Text, v) => Value::Text(v.to_string()),
        (ColumnType::BigInt, Json::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::BigInt),
        (ColumnType::BigInt, Json::String(s)) => s.parse().map_or(Value::Null, Value::BigInt),
        (ColumnType::Boolean, Json::Bool(b)) => Value::Boolean(*b),
        (ColumnType::Boolean, Json::String(s)) => s.parse().map_or(Value::Null, Value::Boolean),
        (ColumnType::Double, Json::Number(n)) => n.as_f64().map_or(Value::Null, Value::Double),
        (ColumnType::Double, Json::String(s)) => s.parse().map_or(Value::Null, Value::Double),
        (ColumnType::Timestamp, Json::String(s)) => DateTime::parse_from_rfc3339(s)
            .map_or(Value::Null, |t| Value::Timestamp(t.with_timezone(&Utc))),
        (ColumnType::Timestamp, Json::Number(n)) => n
            .as_f64()
            .and_then(|secs| DateTime::from_timestamp_micros((secs * 1e6) as i64))
            .map_or(Value::Null, Value::Timestamp),
        (ColumnType::TextArray, Json::Array(items)) => Value::TextArray(
            items
                .iter()
                .map(|i| match i {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        (ColumnType::Uuid, Json::String(s)) => s.parse().map_or(Value::Null, Value::Uuid),
        // A shape the column cannot hold: keep nothing rather than a wrong value.
        _ => Value::Null,
    }
}
