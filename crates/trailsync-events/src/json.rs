//! Reading JSON text without building a tree of it.
//!
//! Records are delimited ([`RawValue`]) and only the values routing and history ask for are
//! read, by walking to them: [`member`] finds one field of an object, [`elements`] the items of
//! an array, [`string`] a string (borrowed from the text when it has no escapes). Each step scans
//! only the value it is given and allocates nothing but a list of items, and serde_json steps
//! over nested values without recursion, so no input nests deep enough to matter.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

/// A field read for its scalar meaning: a string (borrowed when it has no escapes) or a bool;
/// any other value is stepped over without being built.
#[derive(Debug, Default)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Bool(bool),
    #[default]
    Other,
}

impl<'a> Scalar<'a> {
    /// The string, trimmed, if it is a non-empty one.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s.trim()).filter(|s| !s.is_empty()),
            _ => None,
        }
    }

    /// `true`, or a string saying so in any case.
    pub(crate) fn is_true(&self) -> bool {
        match self {
            Scalar::Bool(b) => *b,
            Scalar::Str(s) => s.trim().eq_ignore_ascii_case("true"),
            Scalar::Other => false,
        }
    }

    /// The string, if it is one.
    pub(crate) fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

struct ScalarVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Scalar<'a>, S::Error> {
        drain_seq(seq)?;
        Ok(Scalar::Other)
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Scalar<'a>, M::Error> {
        drain_map(map)?;
        Ok(Scalar::Other)
    }
}

/// Steps over the rest of an array without building it.
pub(crate) fn drain_seq<'de, S: SeqAccess<'de>>(mut seq: S) -> Result<(), S::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Steps over the rest of an object without building it.
pub(crate) fn drain_map<'de, M: MapAccess<'de>>(mut map: M) -> Result<(), M::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The `visit_*` methods of every JSON scalar (and `null`), each answering `$value`: for a
/// visitor that reads one shape of value and steps over any other.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}
pub(crate) use scalars_are;

/// Field `name` of an object (the last, if it repeats); `None` for anything else.
pub(crate) fn member<'a>(value: &'a RawValue, name: &str) -> Option<&'a RawValue> {
    if !value.get().starts_with('{') {
        return None;
    }
    let mut deserializer = serde_json::Deserializer::from_str(value.get());
    Member {
        name,
        found: PhantomData,
    }
    .deserialize(&mut deserializer)
    .ok()
    .flatten()
}

/// Finds one field while stepping over the others.
struct Member<'n, 'a> {
    name: &'n str,
    found: PhantomData<&'a RawValue>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Member<'_, 'a> {
    type Value = Option<&'a RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Member<'_, 'a> {
    type Value = Option<&'a RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Scalar<'de>>()? {
            if matches!(&key, Scalar::Str(k) if k == self.name) {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// An object's members, in order, borrowed from its text.
pub(crate) type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Every member of an object, in order, in one pass; none for anything else.
pub(crate) fn members(value: &RawValue) -> Members<'_> {
    if !value.get().starts_with('{') {
        return Vec::new();
    }
    serde_json::from_str::<MemberList<'_>>(value.get())
        .map(|m| m.0)
        .unwrap_or_default()
}

struct MemberList<'a>(Members<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for MemberList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
            type Value = MemberList<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<MemberList<'a>, M::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Scalar<'de>>()? {
                    let value = map.next_value::<&'de RawValue>()?;
                    if let Some(key) = key.into_str() {
                        members.push((key, value));
                    }
                }
                Ok(MemberList(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor(PhantomData))
    }
}

/// The items of an array; `null` has none, and any other value stands for a one-item array, as
/// CloudTrail sometimes writes a single item without its list.
pub(crate) fn elements(value: &RawValue) -> Vec<&RawValue> {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'[') => serde_json::from_str(text).unwrap_or_default(),
        Some(b'n') => Vec::new(),
        _ => vec![value],
    }
}

/// The value as a string, if it is one.
pub(crate) fn string(value: &RawValue) -> Option<Cow<'_, str>> {
    if !value.get().starts_with('"') {
        return None;
    }
    serde_json::from_str::<Scalar<'_>>(value.get())
        .ok()?
        .into_str()
}

/// The value at `path` of nested field names, as a trimmed non-empty string.
pub(crate) fn text_at(value: &RawValue, path: &[&str]) -> Option<String> {
    let mut value = value;
    for name in path {
        value = member(value, name)?;
    }
    let text = string(value)?;
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// The name of the type of the JSON value `text` holds (valid JSON, trimmed), for messages.
pub(crate) fn kind_of(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "boolean",
        Some(b'"') => "string",
        Some(b'[') => "array",
        Some(b'{') => "object",
        _ => "number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn member_finds_one_field_and_steps_over_the_rest() {
        let v = raw(r#"{"a": {"deep": [[[1]]]}, "b\u0021": 2, "c": "x", "c": "last"}"#);
        assert_eq!(
            member(v, "a").map(RawValue::get),
            Some(r#"{"deep": [[[1]]]}"#)
        );
        assert_eq!(member(v, "b!").map(RawValue::get), Some("2"));
        assert_eq!(member(v, "c").map(RawValue::get), Some(r#""last""#));
        assert!(member(v, "missing").is_none());
        assert!(member(raw("[1]"), "a").is_none());
    }

    #[test]
    fn members_in_order() {
        let v = raw(r#"{"a": 1, "b": {"c": [2]}, "a": 3}"#);
        let members: Vec<(String, &str)> = members(v)
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.get()))
            .collect();
        assert_eq!(
            members,
            [
                ("a".into(), "1"),
                ("b".into(), r#"{"c": [2]}"#),
                ("a".into(), "3")
            ]
        );
        assert!(super::members(raw("[1]")).is_empty());
    }

    #[test]
    fn elements_of_arrays_null_and_lone_items() {
        assert_eq!(elements(raw("[1, \"x\", {}]")).len(), 3);
        assert!(elements(raw("null")).is_empty());
        assert_eq!(elements(raw("{\"id\": 1}")).len(), 1);
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        assert!(matches!(
            string(raw(r#""plain""#)),
            Some(Cow::Borrowed("plain"))
        ));
        assert_eq!(string(raw(r#""a\"b""#)).as_deref(), Some("a\"b"));
        assert_eq!(string(raw("12")), None);
        assert_eq!(
            text_at(raw(r#"{"s": {"i": {"arn": " x "}}}"#), &["s", "i", "arn"]).as_deref(),
            Some("x")
        );
        assert_eq!(text_at(raw(r#"{"s": "x"}"#), &["s", "i"]), None);
    }

    #[test]
    fn deep_nesting_is_stepped_over() {
        let deep = format!(
            "{{\"a\": {}{}, \"b\": 1}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(member(raw(&deep), "b").map(RawValue::get), Some("1"));
    }
}
