//! AWS SDK for Rust output types rendered as the JSON CloudQuery stores.
//!
//! The SDK types have no serde support; CloudQuery (Go) stores nested API structs as JSON objects
//! with PascalCase keys (`{"Code":16,"Name":"running"}` for an EC2 `InstanceState`). [`Render`] gives
//! every SDK output type that shape, so a table's code is a few lines:
//!
//! ```ignore
//! let mut object = instance.render_object();
//! object.insert("arn".into(), arn.into());
//! object.insert("tags".into(), tags_object(object.get("Tags")));
//! let row = Row::from_json(table, &object, parent_id)?;
//! ```
//!
//! * structs render as objects keyed by the PascalCase of the Rust field (`ipv6_address` ->
//!   `Ipv6Address`, `r#type` -> `Type`), which is what `Row::from_json` looks a column up by;
//!   fields that are `None` are left out; fields holding secrets (passwords, secret keys) are
//!   never rendered. Where Go's name keeps an acronym the Rust field lost (Go `DBInstanceArn`,
//!   Rust `db_instance_arn` -> `DbInstanceArn`) the generated code says so with `// Go: ...`;
//! * enums render as their wire string (`as_str()`), unknown values included;
//! * unions render as a one-key object `{"Variant": value}` (`null` for an unknown variant);
//! * `DateTime` renders as RFC 3339 in UTC (`2026-11-24T10:00:00Z`, fractional seconds only when
//!   non-zero, trailing zeros trimmed as Go does), `Blob` as standard base64, `Document` as itself;
//! * maps render as objects with their keys as-is.
//!
//! The per-service impls (`ec2.rs`, ...) are written by `tools/gen_sdk_render.py` from the SDK's
//! own source, for the types reachable from a list of roots; see that script to add a service.

use std::collections::{BTreeMap, HashMap};

use aws_smithy_types::{Blob, DateTime, Document, Number};
use base64::Engine as _;
use serde_json::{Map, Value};

// @generated-services-begin (tools/gen_sdk_render.py)
mod ec2;
mod ecs;
mod iam;
mod rds;
// @generated-services-end

#[cfg(test)]
mod tests;

/// A value as CloudQuery's JSON has it.
pub trait Render {
    fn render(&self) -> Value;
}

/// An SDK structure as a JSON object; everything implementing it renders as [`Value::Object`].
///
/// This is what a table's code starts from: insert the computed columns (`arn`, `tags`,
/// `account_id`, ...) and hand the object to `Row::from_json`.
pub trait RenderObject {
    fn render_object(&self) -> Map<String, Value>;
}

impl<T: RenderObject> Render for T {
    fn render(&self) -> Value {
        Value::Object(self.render_object())
    }
}

/// `value` as a JSON object, or an empty one if it does not render as an object.
pub fn render_object<T: Render + ?Sized>(value: &T) -> Map<String, Value> {
    match value.render() {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Inserts `value` under `key` unless it renders as `null` (a `None` field).
pub(crate) fn put<T: Render + ?Sized>(object: &mut Map<String, Value>, key: &str, value: &T) {
    let value = value.render();
    if !value.is_null() {
        object.insert(key.to_owned(), value);
    }
}

/// CloudQuery's `tags` column from a rendered tag list (`object.get("Tags")`):
/// `[{"Key":k,"Value":v}, ...]` becomes `{k: v, ...}`. CloudQuery's `TagsToMap` builds a Go
/// `map[string]string`, so no list at all is `{}` and a tag without a value is `""`.
pub fn tags_object(tags: Option<&Value>) -> Value {
    let mut map = Map::new();
    if let Some(Value::Array(items)) = tags {
        for item in items {
            if let Some(Value::String(key)) = item.get("Key") {
                let value = item.get("Value").cloned().unwrap_or_else(|| "".into());
                map.insert(key.clone(), value);
            }
        }
    }
    Value::Object(map)
}

/// Implements [`Render`] for string enums as their `as_str()`.
macro_rules! render_as_str {
    ($($ty:ty),* $(,)?) => {
        $(
            impl $crate::render::Render for $ty {
                fn render(&self) -> ::serde_json::Value {
                    ::serde_json::Value::String(self.as_str().to_owned())
                }
            }
        )*
    };
}
pub(crate) use render_as_str;

impl Render for str {
    fn render(&self) -> Value {
        Value::String(self.to_owned())
    }
}

impl Render for &str {
    fn render(&self) -> Value {
        Value::String((*self).to_owned())
    }
}

impl Render for String {
    fn render(&self) -> Value {
        Value::String(self.clone())
    }
}

impl Render for bool {
    fn render(&self) -> Value {
        Value::Bool(*self)
    }
}

impl Render for i32 {
    fn render(&self) -> Value {
        Value::from(*self)
    }
}

impl Render for i64 {
    fn render(&self) -> Value {
        Value::from(*self)
    }
}

impl Render for f32 {
    /// The shortest decimal that reads back as this `f32` (`0.1`, not `0.10000000149011612`), as
    /// Go's encoding/json writes a float32; NaN and infinities (not JSON) become `null`.
    fn render(&self) -> Value {
        self.to_string()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number)
    }
}

impl Render for f64 {
    /// NaN and infinities (not JSON) become `null`.
    fn render(&self) -> Value {
        serde_json::Number::from_f64(*self).map_or(Value::Null, Value::Number)
    }
}

impl<T: Render> Render for Option<T> {
    fn render(&self) -> Value {
        self.as_ref().map_or(Value::Null, Render::render)
    }
}

impl<T: Render> Render for Vec<T> {
    fn render(&self) -> Value {
        self.as_slice().render()
    }
}

impl<T: Render> Render for [T] {
    fn render(&self) -> Value {
        Value::Array(self.iter().map(Render::render).collect())
    }
}

impl<T: Render, S> Render for HashMap<String, T, S> {
    fn render(&self) -> Value {
        // Sorted, so the text is the same every time even if serde_json keeps insertion order.
        let mut entries: Vec<_> = self.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.clone(), v.render()))
                .collect(),
        )
    }
}

impl<T: Render> Render for BTreeMap<String, T> {
    fn render(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.render())).collect())
    }
}

impl Render for DateTime {
    /// RFC 3339 in UTC, as Go's `time.Time` marshals: `2026-11-24T10:00:00Z`,
    /// `2026-11-24T10:00:00.25Z`. Instants chrono cannot represent become `null`.
    fn render(&self) -> Value {
        let Some(utc) = chrono::DateTime::from_timestamp(self.secs(), self.subsec_nanos()) else {
            return Value::Null;
        };
        let mut text = utc.format("%Y-%m-%dT%H:%M:%S").to_string();
        let nanos = self.subsec_nanos();
        if nanos != 0 {
            let fraction = format!("{nanos:09}");
            text.push('.');
            text.push_str(fraction.trim_end_matches('0'));
        }
        text.push('Z');
        Value::String(text)
    }
}

impl Render for Blob {
    fn render(&self) -> Value {
        Value::String(base64::engine::general_purpose::STANDARD.encode(self.as_ref()))
    }
}

impl Render for Document {
    fn render(&self) -> Value {
        match self {
            Document::Object(map) => map.render(),
            Document::Array(items) => items.render(),
            Document::Number(Number::PosInt(n)) => Value::from(*n),
            Document::Number(Number::NegInt(n)) => Value::from(*n),
            Document::Number(Number::Float(f)) => f.render(),
            Document::String(s) => Value::String(s.clone()),
            Document::Bool(b) => Value::Bool(*b),
            Document::Null => Value::Null,
        }
    }
}
