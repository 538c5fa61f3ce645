//! Any text through `clipstore_core::json`'s parser and writer, against
//! serde_json's `Value`.
//!
//! Checks, besides "no panic" (and no stack overflow: the parser is
//! iterative, and both stop at the same depth):
//! - a text is accepted exactly when serde_json accepts it (its limit of
//!   [`MAX_DEPTH`] nested arrays and objects is serde_json's too), and a
//!   refused text nested deeper than that says so;
//! - what both accept is the same value: `null`, booleans and strings
//!   equal; a number the same kind (`U64` is serde_json's non-negative
//!   integer, `I64` its negative one, `-0` a float in both; a whole number
//!   past `u64` or `i64` a float in both) with the same `u64` / `i64` / `f64`
//!   bits; arrays item by item; an object with each key at its last value
//!   (serde_json's map keeps one), the same keys;
//! - what is written is byte for byte what serde_json writes of its value
//!   (keys sorted), and written back and read again it is the same value,
//!   but for floats: read as serde_json reads them (without its
//!   `float_roundtrip` feature: not always the nearest double), a written
//!   float is read again as serde_json reads the same text, bit for bit, and
//!   within 1e-14 of the first (relatively; absolutely below 1e-300, among
//!   subnormals). The Worker reads no float as a number and writes none.
#![no_main]

use clipstore_core::json::{parse, to_string, to_string_sorted, Json, Number, MAX_DEPTH};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Whether `ours` and `theirs` are the same value (see the module's doc).
/// `ours` holds each key once (`last_of_each_key`).
fn same(ours: &Json, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::String(a), Value::String(b)) => a == b,
        (Json::Number(a), Value::Number(b)) => match *a {
            Number::U64(a) => b.is_u64() && b.as_u64() == Some(a),
            Number::I64(a) => a < 0 && b.is_i64() && !b.is_u64() && b.as_i64() == Some(a),
            Number::F64(a) => b.is_f64() && b.as_f64().map(f64::to_bits) == Some(a.to_bits()),
        },
        (Json::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)),
        (Json::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, a)| b.get(k).is_some_and(|b| same(a, b)))
        }
        _ => false,
    }
}

/// The same value read again: equal, keys in the same order, floats of the
/// same sign and within 1e-14 of each other (see the module's doc).
fn read_again(first: &Json, again: &Json) -> bool {
    match (first, again) {
        (Json::Number(Number::F64(a)), Json::Number(Number::F64(b))) => {
            let (a, b) = (*a, *b);
            a.is_sign_negative() == b.is_sign_negative()
                && ((a - b).abs() <= a.abs().max(b.abs()) * 1e-14 || (a - b).abs() <= 1e-300)
        }
        (Json::Array(a), Json::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| read_again(a, b)),
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((ka, a), (kb, b))| ka == kb && read_again(a, b))
        }
        _ => first == again,
    }
}

fuzz_target!(|data: &[u8]| {
    // The Worker reads text: a body that is not UTF-8 is refused before.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ours = parse(text);
    let theirs = serde_json::from_str::<Value>(text);
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => {
            let sorted = to_string_sorted(&ours);
            let ours = ours.last_of_each_key();
            assert!(same(&ours, &theirs), "{text:?}: {ours:?} is not {theirs:?}");
            assert_eq!(sorted, theirs.to_string(), "{text:?} written");
            let written = to_string(&ours);
            let again = parse(&written).unwrap_or_else(|e| panic!("{written:?} written of {text:?}: {e}"));
            assert!(read_again(&ours, &again), "{text:?} written {written:?} read {again:?}");
            let theirs_again = serde_json::from_str::<Value>(&written).unwrap();
            assert!(same(&again, &theirs_again), "{written:?}: {again:?} is not {theirs_again:?}");
        }
        (Err(e), Err(theirs)) => {
            // Too deep for serde_json is too deep here, and said so.
            let nested = e.to_string().contains("nested");
            assert!(nested || !theirs.to_string().starts_with("recursion limit exceeded"), "{text:?}: {e}");
            if nested {
                assert!(text.matches(['[', '{']).count() > MAX_DEPTH, "{text:?}: {e}");
            }
        }
        (Ok(ours), Err(e)) => panic!("{text:?}: accepted as {ours:?}, serde_json refuses: {e}"),
        (Err(e), Ok(theirs)) => panic!("{text:?}: refused ({e}), serde_json reads {theirs:?}"),
    }
});
