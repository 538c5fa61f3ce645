//! Typed values into a [`Json`] tree, and the tree into text by miniserde's
//! writer: compact, strings escaped and numbers written as serde_json does.

use std::borrow::Cow;

use miniserde::ser::{self, Fragment, Serialize};

use super::{Json, Number};
use crate::SortedMap;

/// A type written as a JSON value.
pub trait ToJson {
    fn to_json(&self) -> Json;
}

/// The text of `value`, its objects' keys in the order they were put in
/// (what `serde_json::to_string` wrote of a derived `Serialize`).
pub fn to_string<T: ToJson + ?Sized>(value: &T) -> String {
    miniserde::json::to_string(&value.to_json())
}

/// The text of `value` with the keys of every object sorted, the last of
/// a key given twice kept: what serde_json wrote of a `Value` (`json!`,
/// `to_value`), whose map is a `BTreeMap`.
pub fn to_string_sorted<T: ToJson + ?Sized>(value: &T) -> String {
    let mut json = value.to_json();
    json.sort_keys();
    miniserde::json::to_string(&json)
}

/// A JSON string of `s`, quoted and escaped.
pub fn quote(s: &str) -> String {
    miniserde::json::to_string(s)
}

impl Json {
    /// Sorts the keys of every object in the value, keeping the last of a
    /// key given twice. By insertion (stable; objects are small or sorted
    /// already): the module then carries no sort code of its own.
    pub fn sort_keys(&mut self) {
        match self {
            Json::Array(items) => items.iter_mut().for_each(Json::sort_keys),
            Json::Object(entries) => {
                for i in 1..entries.len() {
                    let mut j = i;
                    while j > 0 && entries[j - 1].0 > entries[j].0 {
                        entries.swap(j - 1, j);
                        j -= 1;
                    }
                }
                let mut kept: Vec<(String, Json)> = Vec::with_capacity(entries.len());
                for (key, mut value) in entries.drain(..) {
                    value.sort_keys();
                    match kept.last_mut() {
                        Some(last) if last.0 == key => last.1 = value,
                        _ => kept.push((key, value)),
                    }
                }
                *entries = kept;
            }
            _ => {}
        }
    }

    /// An object of these entries, in this order.
    pub fn object<const N: usize>(entries: [(&str, Json); N]) -> Json {
        Json::Object(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// Sets `key` of an object to `value` (`object["key"] = value` of a
    /// serde_json `Value`); anything else is left as it is.
    pub fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(entries) = self {
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key.to_string(), value)),
            }
        }
    }
}

/// Adds `key: value` to an object's entries (one call per field written,
/// not the same lines in each).
#[doc(hidden)]
#[inline(never)]
pub fn put(entries: &mut Vec<(String, Json)>, key: &str, value: Json) {
    entries.push((key.to_string(), value));
}

/// Whether a field written only when it holds something (serde's
/// `skip_serializing_if`) is left out.
pub trait Omit {
    fn omitted(&self) -> bool;
}

impl<T> Omit for Option<T> {
    fn omitted(&self) -> bool {
        self.is_none()
    }
}

impl<T> Omit for Vec<T> {
    fn omitted(&self) -> bool {
        self.is_empty()
    }
}

impl<V> Omit for SortedMap<V> {
    fn omitted(&self) -> bool {
        self.is_empty()
    }
}

impl Omit for u64 {
    fn omitted(&self) -> bool {
        *self == 0
    }
}

impl ToJson for Json {
    fn to_json(&self) -> Json {
        self.clone()
    }
}

impl ToJson for str {
    fn to_json(&self) -> Json {
        Json::String(self.to_string())
    }
}

impl ToJson for String {
    fn to_json(&self) -> Json {
        Json::String(self.clone())
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Json {
        Json::Bool(*self)
    }
}

macro_rules! unsigned_to_json {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Json {
                Json::Number(Number::U64(*self as u64))
            }
        }
    )*};
}

unsigned_to_json!(u64, u32, u16, u8, usize);

impl<T: ToJson + ?Sized> ToJson for &T {
    fn to_json(&self) -> Json {
        (**self).to_json()
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Json {
        self.as_ref().map_or(Json::Null, T::to_json)
    }
}

impl<T: ToJson> ToJson for [T] {
    fn to_json(&self) -> Json {
        Json::Array(self.iter().map(T::to_json).collect())
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Json {
        self.as_slice().to_json()
    }
}

impl<V: ToJson> ToJson for SortedMap<V> {
    fn to_json(&self) -> Json {
        Json::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
}

/// The tree as miniserde writes it.
impl Serialize for Json {
    fn begin(&self) -> Fragment<'_> {
        match self {
            Json::Null => Fragment::Null,
            Json::Bool(b) => Fragment::Bool(*b),
            Json::Number(Number::U64(n)) => Fragment::U64(*n),
            Json::Number(Number::I64(n)) => Fragment::I64(*n),
            Json::Number(Number::F64(n)) => Fragment::F64(*n),
            Json::String(s) => Fragment::Str(Cow::Borrowed(s)),
            Json::Array(items) => Fragment::Seq(Box::new(Items(items.iter()))),
            Json::Object(entries) => Fragment::Map(Box::new(Entries(entries.iter()))),
        }
    }
}

struct Items<'a>(std::slice::Iter<'a, Json>);

impl ser::Seq for Items<'_> {
    fn next(&mut self) -> Option<&dyn Serialize> {
        self.0.next().map(|item| item as &dyn Serialize)
    }
}

struct Entries<'a>(std::slice::Iter<'a, (String, Json)>);

impl ser::Map for Entries<'_> {
    fn next(&mut self) -> Option<(Cow<'_, str>, &dyn Serialize)> {
        self.0.next().map(|(key, value)| (Cow::Borrowed(key.as_str()), value as &dyn Serialize))
    }
}
