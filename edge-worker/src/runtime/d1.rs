//! D1 calls for every route: statements bound to values, batches, and rows
//! read column by column (`crate::d1_row`) instead of through serde.

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement};

use super::unavailable;
use crate::d1_row::{Columns, FromRow};
use crate::error::DownloadError;

pub(super) fn d1_error(what: &str, e: impl std::fmt::Display) -> DownloadError {
    unavailable(format!("D1 {what}: {e}"))
}

pub(super) fn bind(
    db: &D1Database,
    sql: &str,
    values: &[JsValue],
) -> std::result::Result<D1PreparedStatement, DownloadError> {
    db.prepare(sql).bind(values).map_err(|e| d1_error("bind", e))
}

pub(super) fn num(n: u64) -> JsValue {
    JsValue::from_f64(n.min(crate::allowance::MAX_SAFE) as f64)
}

pub(super) fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

pub(super) fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

pub(super) fn opt_num(n: Option<u64>) -> JsValue {
    n.map_or(JsValue::NULL, num)
}

/// One statement's result (D1's `{ success, error, results, meta }`).
pub(super) struct D1Rows(JsValue);

impl D1Rows {
    fn rows(&self) -> Array {
        Reflect::get(&self.0, &"results".into()).ok().and_then(|r| r.dyn_into::<Array>().ok()).unwrap_or_default()
    }

    fn error(&self) -> Option<String> {
        let failed = Reflect::get(&self.0, &"success".into()).ok().and_then(|s| s.as_bool()) == Some(false);
        let error = Reflect::get(&self.0, &"error".into()).ok().and_then(|e| e.as_string());
        error.or_else(|| failed.then(|| "the statement failed".to_owned()))
    }
}

/// A row as D1 hands it over: a JavaScript object keyed by column name.
struct JsRow(JsValue);

impl JsRow {
    fn get(&self, column: &str) -> JsValue {
        Reflect::get(&self.0, &JsValue::from_str(column)).unwrap_or(JsValue::UNDEFINED)
    }
}

impl Columns for JsRow {
    fn text(&self, column: &str) -> Option<String> {
        self.get(column).as_string()
    }

    fn number(&self, column: &str) -> Option<f64> {
        self.get(column).as_f64()
    }

    fn is_null(&self, column: &str) -> bool {
        self.get(column).is_null_or_undefined()
    }
}

fn js_error(e: JsValue) -> worker::Error {
    worker::Error::from(e)
}

fn read<T: FromRow>(row: JsValue) -> worker::Result<T> {
    T::from_row(&JsRow(row)).map_err(row_error)
}

/// Not generic: one copy for every row type's [`read`].
fn row_error(e: crate::d1_row::RowError) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// Runs a batch (one transaction) and checks every statement succeeded.
pub(super) async fn batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> std::result::Result<Vec<D1Rows>, DownloadError> {
    let statements: Array = statements.iter().map(|s| JsValue::from(s.inner().clone())).collect();
    let database: &worker_sys::D1Database = db.as_ref().unchecked_ref();
    let promise = database.batch(statements).map_err(|e| d1_error("batch", js_error(e)))?;
    let results = JsFuture::from(promise).await.map_err(|e| d1_error("batch", js_error(e)))?;
    let results: Vec<D1Rows> = Array::from(&results).iter().map(D1Rows).collect();
    if let Some(error) = results.iter().find_map(D1Rows::error) {
        return Err(d1_error("batch", error));
    }
    Ok(results)
}

/// The rows of one statement's result.
pub(super) fn rows<T: FromRow>(result: &D1Rows) -> std::result::Result<Vec<T>, DownloadError> {
    all(result).map_err(|e| d1_error("rows", e))
}

/// Every row of a result; a loop, not a `collect` into a `Result`, whose
/// iterator adapters each row type compiled again. The loop itself is
/// [`each_row`]'s, once for all row types.
fn all<T: FromRow>(result: &D1Rows) -> worker::Result<Vec<T>> {
    let mut rows = Vec::new();
    each_row(result, &mut |row| T::from_row(row).map(|r| rows.push(r)))?;
    Ok(rows)
}

/// Hands each row to `f`, up to the first it refuses.
fn each_row(
    result: &D1Rows,
    f: &mut dyn FnMut(&JsRow) -> std::result::Result<(), crate::d1_row::RowError>,
) -> worker::Result<()> {
    for row in result.rows().iter() {
        f(&JsRow(row)).map_err(row_error)?;
    }
    Ok(())
}

/// How many rows one statement's result has.
pub(super) fn row_count(result: &D1Rows) -> usize {
    result.rows().length() as usize
}

/// The first row, read like `worker`'s `D1PreparedStatement::first::<T>()`
/// and failing with its error texts, but by [`FromRow`] instead of
/// `serde_wasm_bindgen`, whose deserializer only this query still brought
/// into the module: a D1 error (a JavaScript `Error` whose message starts
/// with "D1") is "D1: " and the pretty `Debug` of `worker::D1Error` (its
/// cause), any other error `worker::Error::from`'s text, a row of the wrong
/// shape serde_wasm_bindgen's "wasm-bindgen serialization error".
pub(super) async fn first_row_as_worker<T: FromRow>(
    statement: &D1PreparedStatement,
) -> std::result::Result<Option<T>, String> {
    /// `worker::D1Error`'s `Debug`: a struct of that name with its cause.
    #[derive(Debug)]
    #[allow(dead_code)] // read by the derived Debug only
    struct D1Error {
        cause: JsValue,
    }
    let promise = statement.inner().first(None).map_err(|e| js_error(e).to_string())?;
    let value = match JsFuture::from(promise).await {
        Ok(value) => value,
        Err(e) => {
            return Err(match e.dyn_into::<js_sys::Error>() {
                Ok(e) if String::from(e.message()).starts_with("D1") => {
                    format!("D1: {:#?}", D1Error { cause: e.cause() })
                }
                Ok(e) => js_error(e.into()).to_string(),
                Err(e) => js_error(e).to_string(),
            })
        }
    };
    if value.is_null_or_undefined() {
        return Ok(None);
    }
    T::from_row(&JsRow(value)).map(Some).map_err(|_| "wasm-bindgen serialization error".to_owned())
}

/// Reading rows straight from a statement (D1's `first()` and `all()`).
pub(super) trait Query {
    /// The first row, if any.
    async fn first_row<T: FromRow>(&self) -> worker::Result<Option<T>>;
    /// Every row.
    async fn all_rows<T: FromRow>(&self) -> worker::Result<Vec<T>>;
}

impl Query for D1PreparedStatement {
    async fn first_row<T: FromRow>(&self) -> worker::Result<Option<T>> {
        let value = JsFuture::from(self.inner().first(None).map_err(js_error)?).await.map_err(js_error)?;
        if value.is_null_or_undefined() {
            return Ok(None);
        }
        read(value).map(Some)
    }

    async fn all_rows<T: FromRow>(&self) -> worker::Result<Vec<T>> {
        let result = D1Rows(JsFuture::from(self.inner().all().map_err(js_error)?).await.map_err(js_error)?);
        if let Some(error) = result.error() {
            return Err(worker::Error::RustError(error));
        }
        all(&result)
    }
}
