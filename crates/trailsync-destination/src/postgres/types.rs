//! Binding [`Param`]s to PostgreSQL's binary protocol.
//!
//! Each value delegates to the `tokio-postgres` encoding of its Rust type, checked against the
//! type the server inferred for the placeholder, so a mismatch is an error, never a bad write.
//! Instants and ids also bind to `timestamp` (as UTC) and `text` columns, the types an existing
//! table made by another tool (CloudQuery's own destination uses `timestamp without time zone`)
//! may have: migration keeps such columns, so writes must still work with them.
//! PostgreSQL cannot store NUL characters in `text` or `jsonb`: they are removed (as
//! CloudQuery's PostgreSQL destination does) rather than failing the whole batch forever.

use std::borrow::Cow;
use std::error::Error;

use bytes::BytesMut;
use serde_json::Value as Json;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use trailsync_catalog::{ColumnType, Value};

use crate::plan::Param;

type BoxError = Box<dyn Error + Sync + Send>;

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Param::Null | Param::Value(Value::Null) => Ok(IsNull::Yes),
            Param::Text(text) => without_nul(text).as_ref().to_sql_checked(ty, out),
            Param::Position(position) => position.to_string().to_sql_checked(ty, out),
            Param::Value(Value::Text(text)) => without_nul(text).as_ref().to_sql_checked(ty, out),
            Param::Uuid(id) | Param::Value(Value::Uuid(id)) => {
                if is_text(ty) {
                    id.hyphenated().to_string().to_sql_checked(ty, out)
                } else {
                    id.to_sql_checked(ty, out)
                }
            }
            Param::Timestamp(time) | Param::Value(Value::Timestamp(time)) => {
                if *ty == Type::TIMESTAMP {
                    time.naive_utc().to_sql_checked(ty, out)
                } else if is_text(ty) {
                    crate::sql::format_time(time).to_sql_checked(ty, out)
                } else {
                    time.to_sql_checked(ty, out)
                }
            }
            Param::BigInt(n) | Param::Value(Value::BigInt(n)) => n.to_sql_checked(ty, out),
            Param::Value(Value::Boolean(b)) => b.to_sql_checked(ty, out),
            Param::Value(Value::Double(d)) => d.to_sql_checked(ty, out),
            Param::Value(Value::Json(json)) => {
                json_without_nul(json).as_ref().to_sql_checked(ty, out)
            }
            Param::Owned(value) => Param::Value(value).to_sql(ty, out),
            Param::Value(Value::TextArray(items)) => {
                if items.iter().any(|item| item.contains('\0')) {
                    let clean: Vec<String> = items.iter().map(|i| i.replace('\0', "")).collect();
                    clean.to_sql_checked(ty, out)
                } else {
                    items.to_sql_checked(ty, out)
                }
            }
        }
    }

    /// Every type: the value's own encoding checks the actual one.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn is_text(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR)
}

fn without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', ""))
    } else {
        Cow::Borrowed(text)
    }
}

fn json_without_nul(json: &Json) -> Cow<'_, Json> {
    fn has_nul(json: &Json) -> bool {
        match json {
            Json::String(s) => s.contains('\0'),
            Json::Array(items) => items.iter().any(has_nul),
            Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            Json::Null | Json::Bool(_) | Json::Number(_) => false,
        }
    }
    fn clean(json: &Json) -> Json {
        match json {
            Json::String(s) => Json::String(s.replace('\0', "")),
            Json::Array(items) => Json::Array(items.iter().map(clean).collect()),
            Json::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (k.replace('\0', ""), clean(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    if has_nul(json) {
        Cow::Owned(clean(json))
    } else {
        Cow::Borrowed(json)
    }
}

/// Column `i` of `row`, stored as type `ty` by trailsync, as the catalog's value. Lenient: an
/// instant in a `timestamp` column, an id or instant in a `text` column (a table another tool
/// made) are read too; anything else unreadable is NULL, never an error.
pub(crate) fn value_of(row: &tokio_postgres::Row, i: usize, ty: ColumnType) -> Value {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a tokio_postgres::Row,
        i: usize,
    ) -> Option<T> {
        row.try_get::<_, Option<T>>(i).ok().flatten()
    }
    let value = match ty {
        ColumnType::Text => get(row, i).map(Value::Text),
        ColumnType::BigInt => get(row, i).map(Value::BigInt),
        ColumnType::Boolean => get(row, i).map(Value::Boolean),
        ColumnType::Double => get(row, i).map(Value::Double),
        ColumnType::Timestamp => get::<chrono::DateTime<chrono::Utc>>(row, i)
            .or_else(|| get::<chrono::NaiveDateTime>(row, i).map(|t| t.and_utc()))
            .or_else(|| {
                get::<String>(row, i)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc))
            })
            .map(Value::Timestamp),
        ColumnType::Json => get(row, i).map(Value::Json),
        ColumnType::TextArray => get(row, i).map(Value::TextArray),
        ColumnType::Uuid => get::<uuid::Uuid>(row, i)
            .or_else(|| get::<String>(row, i).and_then(|t| t.parse().ok()))
            .map(Value::Uuid),
    };
    value.unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_removed_only_when_present() {
        assert!(matches!(without_nul("plain"), Cow::Borrowed("plain")));
        assert_eq!(without_nul("a\0b"), "ab");
        let json = serde_json::json!({"k\u{0}": ["x\u{0}y", 1, {"z": "\u{0}"}]});
        assert_eq!(
            json_without_nul(&json).into_owned(),
            serde_json::json!({"k": ["xy", 1, {"z": ""}]})
        );
        let plain = serde_json::json!({"k": "v"});
        assert!(matches!(json_without_nul(&plain), Cow::Borrowed(_)));
    }
}
