//! A [`Json`] tree into typed values, refusing what serde's derived readers
//! refused, in serde's words (`missing field `clips``, `invalid type: string
//! "1", expected u64`) with where it is.

use super::{parse, Json, JsonError, Number};
use crate::SortedMap;

/// A type read from a JSON value.
pub trait FromJson: Sized {
    fn from_json(value: Json) -> Result<Self, JsonError>;

    /// What an absent field reads as: nothing (a missing field), but for
    /// an `Option` (`None`), as serde has it.
    fn absent() -> Option<Self> {
        None
    }
}

/// Parses `text` and reads it as a `T`.
pub fn from_str<T: FromJson>(text: &str) -> Result<T, JsonError> {
    T::from_json(parse(text)?)
}

/// `invalid type: <what value is>, expected <expected>`.
fn invalid_type(value: &Json, expected: &str) -> JsonError {
    let found = match value {
        Json::Null => "null".to_string(),
        Json::Bool(b) => format!("boolean `{b}`"),
        Json::Number(Number::U64(n)) => format!("integer `{n}`"),
        Json::Number(Number::I64(n)) => format!("integer `{n}`"),
        // Not written out: float formatting would cost the module more
        // than the message is worth.
        Json::Number(Number::F64(_)) => "floating point".to_string(),
        Json::String(s) => format!("string {s:?}"),
        Json::Array(_) => "sequence".to_string(),
        Json::Object(_) => "map".to_string(),
    };
    JsonError::new(format!("invalid type: {found}, expected {expected}"))
}

impl FromJson for Json {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        Ok(value)
    }
}

impl FromJson for String {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::String(s) => Ok(s),
            other => Err(invalid_type(&other, "a string")),
        }
    }
}

impl FromJson for bool {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::Bool(b) => Ok(b),
            other => Err(invalid_type(&other, "a boolean")),
        }
    }
}

/// A whole number from 0 to `max`.
fn unsigned(value: Json, max: u64, expected: &str) -> Result<u64, JsonError> {
    let out_of_range =
        |n: &dyn std::fmt::Display| JsonError::new(format!("invalid value: integer `{n}`, expected {expected}"));
    match value {
        Json::Number(Number::U64(n)) if n <= max => Ok(n),
        Json::Number(Number::U64(n)) => Err(out_of_range(&n)),
        Json::Number(Number::I64(n)) => Err(out_of_range(&n)),
        other => Err(invalid_type(&other, expected)),
    }
}

macro_rules! unsigned_from_json {
    ($($t:ty),*) => {$(
        impl FromJson for $t {
            fn from_json(value: Json) -> Result<Self, JsonError> {
                unsigned(value, <$t>::MAX as u64, stringify!($t)).map(|n| n as $t)
            }
        }
    )*};
}

unsigned_from_json!(u64, u32, u16, u8, usize);

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::Null => Ok(None),
            other => T::from_json(other).map(Some),
        }
    }

    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| T::from_json(item).map_err(|e| e.at(&format!("[{i}]"))))
                .collect(),
            other => Err(invalid_type(&other, "a sequence")),
        }
    }
}

/// An object's entries by key; a key given twice keeps its last value (as
/// a `BTreeMap` did).
impl<V: FromJson> FromJson for SortedMap<V> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let Json::Object(entries) = value else {
            return Err(invalid_type(&value, "a map"));
        };
        let mut map = SortedMap::default();
        for (key, value) in entries {
            let value = V::from_json(value).map_err(|e| e.at(&key))?;
            map.insert(key, value);
        }
        Ok(map)
    }
}

impl Json {
    /// The value of `key` in an object (its last, as a map held it).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value with each object's key once, at its last value, as
    /// serde_json's `Value` (a map) held what it read.
    pub fn last_of_each_key(self) -> Json {
        match self {
            Json::Array(items) => Json::Array(items.into_iter().map(Json::last_of_each_key).collect()),
            Json::Object(entries) => {
                let mut kept: Vec<(String, Json)> = Vec::with_capacity(entries.len());
                for (key, value) in entries {
                    let value = value.last_of_each_key();
                    match kept.iter_mut().find(|(k, _)| *k == key) {
                        Some(entry) => entry.1 = value,
                        None => kept.push((key, value)),
                    }
                }
                Json::Object(kept)
            }
            other => other,
        }
    }
}

/// What [`Fields::take`] found of a key.
enum Taken {
    Value(Json),
    Absent,
    Refused,
}

/// Keeps `e` unless an error is kept already.
#[inline(never)]
fn keep_first(error: &mut Option<JsonError>, e: JsonError) {
    error.get_or_insert(e);
}

/// The fields of an object being read as a struct: each taken by name
/// ([`json_fields!`](crate::json_fields) reads a struct through it).
pub struct Fields {
    entries: Vec<(String, Json)>,
}

impl Fields {
    /// The object's fields; `expected` names the struct for the error.
    pub fn of(value: Json, expected: &str) -> Result<Fields, JsonError> {
        match value {
            Json::Object(entries) => Ok(Fields { entries }),
            other => Err(invalid_type(&other, expected)),
        }
    }

    /// The field `key`, read; absent: `T`'s [`FromJson::absent`], or with
    /// `or_default` its default. On an error, the default, and the error
    /// in `error` (the first one only): each field is read in one straight
    /// line, without a clean-up path of its own, and what does not depend
    /// on `T` is not repeated for each (the module's size): only reading
    /// the value is `T`'s, finding it is [`Fields::present`]'s.
    pub fn field<T: FromJson + Default>(&mut self, key: &str, or_default: bool, error: &mut Option<JsonError>) -> T {
        // `absent()` is `Some` only where it is the default (`Option`'s `None`).
        let absent_reads = or_default || T::absent().is_some();
        match self.present(key, absent_reads, error).map(T::from_json) {
            Some(Ok(value)) => value,
            Some(Err(e)) => {
                keep_first(error, e.at(key));
                T::default()
            }
            None => T::default(),
        }
    }

    /// The value of `key`, if given once; `None` when it is absent (kept
    /// as an error unless `absent_reads`) or given twice (kept as one).
    #[inline(never)]
    fn present(&mut self, key: &str, absent_reads: bool, error: &mut Option<JsonError>) -> Option<Json> {
        match self.take(key, error) {
            Taken::Value(value) => Some(value),
            Taken::Absent if absent_reads => None,
            Taken::Absent => {
                keep_first(error, JsonError::new(format!("missing field `{key}`")));
                None
            }
            Taken::Refused => None,
        }
    }

    /// Takes every entry of `key` out: its value, none, or (a key given
    /// twice) the error kept in `error`.
    #[inline(never)]
    fn take(&mut self, key: &str, error: &mut Option<JsonError>) -> Taken {
        let mut found = None;
        let mut i = 0;
        while i < self.entries.len() {
            if self.entries[i].0 != key {
                i += 1;
            } else if found.replace(self.entries.remove(i).1).is_some() {
                keep_first(error, JsonError::new(format!("duplicate field `{key}`")));
                return Taken::Refused;
            }
        }
        found.map_or(Taken::Absent, Taken::Value)
    }

    /// Refuses a field that was not taken (`known`: the struct's fields).
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), JsonError> {
        match self.entries.first() {
            None => Ok(()),
            Some((key, _)) => {
                let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                Err(JsonError::new(format!("unknown field `{key}`, expected one of {}", expected.join(", "))))
            }
        }
    }
}
