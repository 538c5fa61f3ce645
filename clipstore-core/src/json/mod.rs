//! JSON as the Worker reads and writes it: a document parsed into a [`Json`]
//! tree, taken apart field by field ([`FromJson`], [`Fields`]), and values
//! written from their tree ([`ToJson`]).
//!
//! Why not serde: serde and `serde_json` generate a deserializer and a
//! serializer per type and per format, and were a sixth of the Worker's
//! module (docs/benchmarks.md, "Worker size"). Here the text is parsed and
//! written by miniserde (one parser and one writer, through trait objects,
//! non-recursive), and each type only moves its fields in and out of the
//! tree ([`json_fields!`](crate::json_fields) writes that for a struct).
//! `site-gen`, which is native, keeps serde: the types both share (the
//! manifest, a token's choices) derive serde's traits too, so each keeps
//! one definition.
//!
//! What the readers accept is what serde's derived readers over
//! `serde_json` accepted, and what the writers write is byte for byte what
//! `serde_json` wrote (the tests compare them), with these differences:
//! - an error names the field at fault (`attempt.status: invalid value: …`)
//!   instead of a line and column, and a text that does not parse is only
//!   "not valid JSON";
//! - a struct is never read from an array of its fields (serde took
//!   `["O", ["a"], 1]` for `{"order_id": "O", "clips": ["a"], "downloads": 1}`);
//! - nothing is nested deeper than [`MAX_DEPTH`], not even in a field that
//!   is not read (serde_json skipped those without a limit);
//! - a floating-point number in an error is not written out.
//!
//! A float is read as serde_json reads it (without its `float_roundtrip`
//! feature): not always the nearest double, so one written and read again
//! may come back a little off. The Worker reads no float as a number and
//! writes none. The fuzz target `json` (clipstore-core/fuzz) holds the
//! parser and the writer to serde_json's on any text.

mod parse;
mod read;
mod record;
mod write;

pub use parse::{parse, MAX_DEPTH};
pub use read::{from_str, Fields, FromJson};
pub use write::{put, quote, to_string, to_string_sorted, Omit, ToJson};

use std::fmt;

/// A JSON value. Objects keep their keys in the order they were read or
/// written, each as often as it was given.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// `null`: what a field holds while it is read.
impl Default for Json {
    fn default() -> Json {
        Json::Null
    }
}

/// A JSON number as the parser gives it: a whole number (`U64`, or `I64`
/// when negative), else a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

/// Why a text or a value was not what was expected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Where in the document: `attempt.status`, `clips[2]`; empty: the whole.
    path: String,
    message: String,
}

impl JsonError {
    pub(crate) fn new(message: String) -> JsonError {
        JsonError { path: String::new(), message }
    }

    /// The same error, one level further out: `key` is a field's name or
    /// an index (`[2]`).
    pub(crate) fn at(mut self, key: &str) -> JsonError {
        if !self.path.is_empty() && !self.path.starts_with('[') {
            self.path.insert(0, '.');
        }
        self.path.insert_str(0, key);
        self
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            f.write_str(&self.path)?;
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsonError {}

#[cfg(test)]
mod tests;
