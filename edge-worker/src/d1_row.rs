//! Reading a D1 row into a struct column by column, without serde.
//!
//! D1 hands rows over as JavaScript objects. Deserializing them with
//! `serde_wasm_bindgen` (what `worker`'s `results::<T>()` does) compiled a
//! visitor per row type and cost the module about a tenth of its size; here
//! each struct lists its columns once with [`from_row!`](crate::from_row) and
//! reads them through two non-generic accessors ([`Columns`]), which the
//! runtime implements over the JavaScript object and the tests over JSON.

use std::fmt;

/// The columns of one row, by name. Absent and SQL `NULL` are both `None`.
pub trait Columns {
    fn text(&self, column: &str) -> Option<String>;
    fn number(&self, column: &str) -> Option<f64>;
    /// Whether the column is absent or `NULL`.
    fn is_null(&self, column: &str) -> bool;
}

/// A column that is missing or holds the wrong kind of value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub column: &'static str,
    pub expected: &'static str,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: expected {}", self.column, self.expected)
    }
}

impl std::error::Error for RowError {}

/// A struct built from one row ([`from_row!`](crate::from_row) writes it).
pub trait FromRow: Sized {
    fn from_row(row: &dyn Columns) -> Result<Self, RowError>;
}

/// A field's type, read from its column.
pub trait Column: Sized {
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, RowError>;

    /// `Default::default()` when the column is absent or `NULL` (the
    /// queries that do not select it).
    fn read_or_default(row: &dyn Columns, column: &'static str) -> Result<Self, RowError>
    where
        Self: Default,
    {
        if row.is_null(column) {
            Ok(Self::default())
        } else {
            Self::read(row, column)
        }
    }
}

impl Column for String {
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, RowError> {
        row.text(column).ok_or(RowError { column, expected: "text" })
    }
}

impl Column for Option<String> {
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, RowError> {
        if row.is_null(column) {
            return Ok(None);
        }
        String::read(row, column).map(Some)
    }
}

/// Largest integer a JavaScript number holds exactly (2^53 - 1).
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

fn unsigned(row: &dyn Columns, column: &'static str, max: u64) -> Result<u64, RowError> {
    let error = RowError { column, expected: "a whole number in range" };
    let n = row.number(column).ok_or(error.clone())?;
    if !(0.0..=MAX_EXACT).contains(&n) || n.fract() != 0.0 || n as u64 > max {
        return Err(error);
    }
    Ok(n as u64)
}

macro_rules! unsigned_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn read(row: &dyn Columns, column: &'static str) -> Result<Self, RowError> {
                unsigned(row, column, <$t>::MAX as u64).map(|n| n as $t)
            }
        }

        impl Column for Option<$t> {
            fn read(row: &dyn Columns, column: &'static str) -> Result<Self, RowError> {
                if row.is_null(column) {
                    return Ok(None);
                }
                <$t>::read(row, column).map(Some)
            }
        }
    )*};
}

unsigned_column!(u64, u32, u16, u8);

/// One field of [`from_row!`](crate::from_row): its column's value, or the
/// default with the error kept in `error` (the first one only, which is the
/// one a `?` on each field would have returned). Every field is read in one
/// straight line, so a struct's `from_row` has no clean-up path per field
/// (dropping the fields read so far): 3 KB gzip less module.
#[doc(hidden)]
pub fn field<T: Column + Default>(
    row: &dyn Columns,
    column: &'static str,
    or_default: bool,
    error: &mut Option<RowError>,
) -> T {
    let read = if or_default { T::read_or_default(row, column) } else { T::read(row, column) };
    read.unwrap_or_else(|e| {
        if error.is_none() {
            *error = Some(e);
        }
        T::default()
    })
}

/// Implements [`FromRow`](crate::d1_row::FromRow) for a struct: each field
/// is read from the column of its name; fields after `defaults` take their
/// default when the column is absent or `NULL`.
///
/// ```ignore
/// from_row!(GrantedRow { clip_slug, granted_bytes });
/// from_row!(OrderRow { order_id, clips } defaults { source });
/// ```
#[macro_export]
macro_rules! from_row {
    ($ty:ident { $($field:ident),* $(,)? } $(defaults { $($dfield:ident),* $(,)? })?) => {
        impl $crate::d1_row::FromRow for $ty {
            fn from_row(row: &dyn $crate::d1_row::Columns) -> Result<Self, $crate::d1_row::RowError> {
                use $crate::d1_row::field;
                let mut error = None;
                let value = $ty {
                    $($field: field(row, stringify!($field), false, &mut error),)*
                    $($($dfield: field(row, stringify!($dfield), true, &mut error),)*)?
                };
                match error {
                    None => Ok(value),
                    Some(e) => Err(e),
                }
            }
        }
    };
}

/// A JSON object as a row: what the tests build rows from.
#[cfg(test)]
impl Columns for serde_json::Map<String, serde_json::Value> {
    fn text(&self, column: &str) -> Option<String> {
        self.get(column).and_then(|v| v.as_str()).map(str::to_owned)
    }

    fn number(&self, column: &str) -> Option<f64> {
        self.get(column).and_then(|v| v.as_f64())
    }

    fn is_null(&self, column: &str) -> bool {
        self.get(column).is_none_or(|v| v.is_null())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq)]
    struct Sample {
        id: u64,
        name: String,
        note: Option<String>,
        small: u8,
        seen: Option<u32>,
        source: String,
        count: u64,
    }
    crate::from_row!(Sample { id, name, note, small, seen } defaults { source, count });

    fn row(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_each_field_from_its_column() {
        let r =
            row(json!({"id": 7, "name": "a", "note": null, "small": 255, "seen": 3, "source": "token", "count": 2}));
        assert_eq!(
            Sample::from_row(&r),
            Ok(Sample {
                id: 7,
                name: "a".into(),
                note: None,
                small: 255,
                seen: Some(3),
                source: "token".into(),
                count: 2
            })
        );
    }

    #[test]
    fn defaults_only_where_declared() {
        let r = row(json!({"id": 1, "name": "a", "small": 0}));
        let s = Sample::from_row(&r).unwrap();
        assert_eq!((s.note, s.seen, s.source.as_str(), s.count), (None, None, "", 0));
        let missing = row(json!({"name": "a", "small": 0}));
        assert_eq!(Sample::from_row(&missing), Err(RowError { column: "id", expected: "a whole number in range" }));
        let null_text = row(json!({"id": 1, "name": null, "small": 0}));
        assert_eq!(Sample::from_row(&null_text), Err(RowError { column: "name", expected: "text" }));
    }

    #[test]
    fn the_first_bad_column_is_the_error() {
        let r = row(json!({"id": "x", "name": 3, "small": 0, "count": -1}));
        assert_eq!(Sample::from_row(&r), Err(RowError { column: "id", expected: "a whole number in range" }));
        let r = row(json!({"id": 1, "name": 3, "small": 0, "count": -1}));
        assert_eq!(Sample::from_row(&r), Err(RowError { column: "name", expected: "text" }));
        let r = row(json!({"id": 1, "name": "a", "small": 0, "count": -1}));
        assert_eq!(Sample::from_row(&r), Err(RowError { column: "count", expected: "a whole number in range" }));
    }

    #[test]
    fn refuses_numbers_a_field_cannot_hold() {
        for bad in [json!(256), json!(-1), json!(1.5), json!("3"), json!(1e300)] {
            let r = row(json!({"id": 1, "name": "a", "small": bad}));
            assert_eq!(Sample::from_row(&r).unwrap_err().column, "small", "{bad}");
        }
        let r = row(json!({"id": 9007199254740992u64, "name": "a", "small": 0}));
        assert_eq!(Sample::from_row(&r).unwrap_err().column, "id");
        let r = row(json!({"id": 9007199254740991u64, "name": "a", "small": 0}));
        assert_eq!(Sample::from_row(&r).unwrap().id, 9_007_199_254_740_991);
    }
}
