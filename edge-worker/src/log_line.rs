//! The Worker's log lines: one JSON object of plain fields per line, written
//! straight to a string (`log_line!`).
//!
//! They read exactly as `serde_json::json!(…).to_string()` did: keys in
//! sorted order (serde_json's map is a `BTreeMap`), strings escaped as
//! serde_json escapes them (`clipstore_core::json`). Building a JSON tree
//! for each line took code at every call site (docs/benchmarks.md, "Worker
//! size"); this takes a slice.

use std::fmt;

use clipstore_core::json::{self, Json, ToJson};

/// One field's value, borrowed where it can be.
pub enum Field<'a> {
    Str(&'a str),
    Num(u64),
    Bool(bool),
    Null,
    /// Already JSON (a nested line, a list, a [`Json`] value).
    Json(String),
}

/// What a log line's field can hold (`log_line!` takes a reference to it).
pub trait LogValue {
    fn field(&self) -> Field<'_>;
}

impl LogValue for str {
    fn field(&self) -> Field<'_> {
        Field::Str(self)
    }
}

impl LogValue for String {
    fn field(&self) -> Field<'_> {
        Field::Str(self)
    }
}

impl LogValue for u64 {
    fn field(&self) -> Field<'_> {
        Field::Num(*self)
    }
}

impl LogValue for u32 {
    fn field(&self) -> Field<'_> {
        Field::Num((*self).into())
    }
}

impl LogValue for u16 {
    fn field(&self) -> Field<'_> {
        Field::Num((*self).into())
    }
}

impl LogValue for usize {
    fn field(&self) -> Field<'_> {
        Field::Num(*self as u64)
    }
}

impl LogValue for bool {
    fn field(&self) -> Field<'_> {
        Field::Bool(*self)
    }
}

impl<T: LogValue + ?Sized> LogValue for &T {
    fn field(&self) -> Field<'_> {
        (**self).field()
    }
}

impl<T: LogValue> LogValue for Option<T> {
    fn field(&self) -> Field<'_> {
        self.as_ref().map_or(Field::Null, T::field)
    }
}

/// A list (of slugs).
impl<T: ToJson> LogValue for [T] {
    fn field(&self) -> Field<'_> {
        Field::Json(json::to_string_sorted(self))
    }
}

impl<T: ToJson> LogValue for Vec<T> {
    fn field(&self) -> Field<'_> {
        self.as_slice().field()
    }
}

/// A value: its objects' keys sorted, as `json!` wrote them.
impl LogValue for Json {
    fn field(&self) -> Field<'_> {
        Field::Json(json::to_string_sorted(self))
    }
}

impl LogValue for LogLine {
    fn field(&self) -> Field<'_> {
        Field::Json(self.0.clone())
    }
}

/// A field that is JSON already (a record's `to_json()`), written as it is.
pub struct RawJson(pub String);

impl LogValue for RawJson {
    fn field(&self) -> Field<'_> {
        Field::Json(self.0.clone())
    }
}

/// A written line (it can also be a field of another line).
pub struct LogLine(String);

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes the fields as one JSON object, keys in sorted order (a key given
/// twice keeps its last value, as `json!` did).
pub fn line(fields: &mut [(&str, Field<'_>)]) -> LogLine {
    // A few fields: an insertion sort, stable, so the last of equal keys
    // stays last.
    for i in 1..fields.len() {
        let mut j = i;
        while j > 0 && fields[j - 1].0 > fields[j].0 {
            fields.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if fields.get(i + 1).is_some_and(|(next, _)| next == key) {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&json_str(key));
        out.push(':');
        match value {
            Field::Str(s) => out.push_str(&json_str(s)),
            Field::Num(n) => out.push_str(&n.to_string()),
            Field::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Field::Null => out.push_str("null"),
            Field::Json(json) => out.push_str(json),
        }
    }
    out.push('}');
    LogLine(out)
}

fn json_str(s: &str) -> String {
    json::quote(s)
}

/// `log_line!({ "event": "x", "error": e })`: a [`LogLine`] of the fields,
/// each value taken by reference (anything [`LogValue`]).
#[macro_export]
macro_rules! log_line {
    ({ $($key:literal : $value:expr),* $(,)? }) => {
        $crate::log_line::line(&mut [$(($key, $crate::log_line::LogValue::field(&$value))),*])
    };
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// A record that is JSON already goes in as it is; an error with a
    /// control character in it still makes a line that parses (what the
    /// lines written with `{:?}` inside JSON did not).
    #[test]
    fn raw_json_fields_and_any_error_text_make_valid_json() {
        let record = r#"{"attempt":{"id":1},"charge":null}"#.to_string();
        let error = "D1 said \u{1}no\n".to_string();
        let line =
            log_line!({ "event": "ledger_record_lost", "error": error, "record": super::RawJson(record) }).to_string();
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["record"]["attempt"]["id"], 1);
        assert_eq!(parsed["error"], serde_json::Value::String(error));
    }

    /// Each line is byte for byte what `json!` wrote.
    #[test]
    fn lines_read_as_json_wrote_them() {
        let error = "a \"quoted\"\nline\u{1}é".to_string();
        let order: Option<&String> = None;
        let clips = vec!["a".to_string(), "b\\".to_string()];
        let nested = log_line!({ "id": 7u64, "kind": "order" });
        let nested_json = json!({ "id": 7u64, "kind": "order" });
        let status: u16 = 503;
        let cases = [
            (
                log_line!({ "event": "x", "error": error, "status": status, "order": order, "ok": true }).to_string(),
                json!({ "event": "x", "error": error, "status": status, "order": order, "ok": true }).to_string(),
            ),
            (
                log_line!({ "event": "y", "clips": clips, "message": nested, "n": 0usize, "max": u64::MAX })
                    .to_string(),
                json!({ "event": "y", "clips": clips, "message": nested_json, "n": 0usize, "max": u64::MAX })
                    .to_string(),
            ),
            (
                log_line!({ "b": 1u32, "a": Some("s"), "b": 2u32 }).to_string(),
                json!({ "b": 1u32, "a": Some("s"), "b": 2u32 }).to_string(),
            ),
            (log_line!({}).to_string(), json!({}).to_string()),
        ];
        for (ours, theirs) in cases {
            assert_eq!(ours, theirs);
        }
    }
}
