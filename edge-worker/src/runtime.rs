//! Runtime glue (wasm32 only): bindings, R2, D1 and the fetch handler.
//!
//! Bindings (see `wrangler.toml`): `ASSETS` (the static shop), `CLIPS` (R2
//! bucket with the clip objects and the ledger's fallback records), `DB` (D1,
//! the download ledger) and the secrets `TOKEN_KEYS` (`KEYID:SECRET[,…]`, see
//! `clipstore_core::Keyring`) and `ADMIN_TOKEN` (the admin API).
//!
//! Clip bytes never enter wasm: R2 bodies are piped, inside the runtime, into
//! a `FixedLengthStream` whose readable side becomes the response body
//! (`runtime/stream.rs`). A download's bytes are reserved in D1 before its
//! first byte and settled after its last (`runtime/reservation.rs`); the
//! self-test is in `runtime/monitor.rs`, the owner's uploads in
//! `runtime/objects.rs`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use clipstore_core::{verify_token, CatalogManifest, Claims, Keyring};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::*;

use crate::admin::{self, AdminRoute, AuthError, ClipUsage};
use crate::allowance::{self, DownloadAllowance};
use crate::delivery::{self, DownloadRequest, StoredClip};
use crate::error::DownloadError;
use crate::ledger::{
    self, sql, AttemptRecord, Charge, EventRow, FallbackRecord, LinkRow, OrderClipRow, OrderFacts, OrderRow,
    OrderSummaryRow, Outcome, PaymentEventRow,
};
use crate::order::{OrderClaims, OrderView};
use crate::pages;
use crate::preconditions::{Conditions, Validators};
use crate::routes::{route, Route};
use crate::segments::Segments;

mod checkout;
mod http;
mod mail;
mod monitor;
mod objects;
mod payments;
mod recovery;
mod reservation;
mod stream;

use reservation::{reserve, revoked, settle, Reserved, Steps};

const MANIFEST_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog-manifest.json"));

fn manifest() -> &'static CatalogManifest {
    static MANIFEST: OnceLock<CatalogManifest> = OnceLock::new();
    MANIFEST.get_or_init(|| CatalogManifest::from_json(MANIFEST_JSON).expect("build.rs validated the manifest"))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    if path == "/health" {
        return json_response(200, &crate::monitor::liveness());
    }
    if path.starts_with(admin::PREFIX) || path == "/admin" {
        return admin_request(req, &env).await;
    }
    let route = route(&path);
    match route {
        Route::Asset => return env.assets("ASSETS")?.fetch_request(req).await,
        Route::PaymentWebhook { .. } => return payments::payment_webhook(req, &env, &ctx).await,
        Route::Thanks => return payments::thanks(&req, &env).await,
        Route::Checkout => return checkout::checkout(req, &env).await,
        Route::Recover => return recovery::recover(req, &env, &ctx).await,
        _ => {}
    }
    let head = req.method() == Method::Head;
    let result = if !(head || req.method() == Method::Get) {
        Err(DownloadError::MethodNotAllowed)
    } else {
        match route {
            Route::Order { token } => order_page(&env, token, head).await,
            Route::Clip { token, slug } => return clip_request(&req, &env, &ctx, token, slug, head).await,
            Route::NotFound
            | Route::Asset
            | Route::PaymentWebhook { .. }
            | Route::Thanks
            | Route::Checkout
            | Route::Recover => Err(DownloadError::NotFound),
        }
    };
    match result {
        Ok(response) => Ok(response),
        Err(error) => error_response(&error),
    }
}

/// Logs a refusal as one JSON line (`wrangler tail`, Workers Logs). Storage
/// failures are errors the owner must see; token refusals are info.
fn log_refusal(error: &DownloadError) {
    let detail = match error {
        DownloadError::Unavailable { detail } => detail.as_str(),
        _ => "",
    };
    let line = json!({
        "event": "download_refused",
        "code": error.log_code(),
        "status": error.status(),
        "detail": detail,
    });
    if error.is_owner_facing() {
        console_error!("{line}");
    } else {
        console_log!("{line}");
    }
}

fn error_response(error: &DownloadError) -> Result<Response> {
    log_refusal(error);
    let mut response = Response::from_html(pages::error_page(&manifest().shop, error))?.with_status(error.status());
    let headers = response.headers_mut();
    headers.set("cache-control", delivery::CACHE_CONTROL)?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("x-robots-tag", "noindex")?;
    if matches!(error, DownloadError::MethodNotAllowed) {
        headers.set("allow", "GET, HEAD")?;
    }
    if matches!(error, DownloadError::Unavailable { .. }) {
        headers.set("retry-after", "60")?;
    }
    Ok(response)
}

pub(crate) fn unavailable(what: impl std::fmt::Display) -> DownloadError {
    DownloadError::Unavailable { detail: what.to_string() }
}

/// The shop's address as this request reached it (`https://shop.example`),
/// for links the Worker writes into mail and redirects.
fn origin(req: &Request) -> Result<String> {
    Ok(req.url()?.origin().ascii_serialization())
}

fn now_unix() -> u64 {
    Date::now().as_millis() / 1000
}

/// Verifies the token against the keyring in the `TOKEN_KEYS` secret.
fn verify(env: &Env, token: &str) -> std::result::Result<Claims, DownloadError> {
    let keys = env.secret("TOKEN_KEYS").map_err(|_| unavailable("the TOKEN_KEYS secret is not set"))?.to_string();
    let keyring = Keyring::from_env_string(&keys).map_err(|e| unavailable(format!("TOKEN_KEYS is invalid: {e}")))?;
    verify_token(token, &keyring, now_unix()).map_err(|e| DownloadError::from_token_code(e.code()))
}

fn d1_error(what: &str, e: impl std::fmt::Display) -> DownloadError {
    unavailable(format!("D1 {what}: {e}"))
}

fn bind(db: &D1Database, sql: &str, values: &[JsValue]) -> std::result::Result<D1PreparedStatement, DownloadError> {
    db.prepare(sql).bind(values).map_err(|e| d1_error("bind", e))
}

fn num(n: u64) -> JsValue {
    JsValue::from_f64(n.min(crate::allowance::MAX_SAFE) as f64)
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

fn opt_num(n: Option<u64>) -> JsValue {
    n.map_or(JsValue::NULL, num)
}

/// Runs a batch (one transaction) and checks every statement succeeded.
async fn batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> std::result::Result<Vec<D1Result>, DownloadError> {
    let results = db.batch(statements).await.map_err(|e| d1_error("batch", e))?;
    if let Some(error) = results.iter().find_map(|r| r.error()) {
        return Err(d1_error("batch", error));
    }
    Ok(results)
}

fn rows<T: for<'a> Deserialize<'a>>(result: &D1Result) -> std::result::Result<Vec<T>, DownloadError> {
    result.results::<T>().map_err(|e| d1_error("rows", e))
}

fn order_facts(claims: &Claims) -> OrderFacts {
    OrderFacts {
        order_id: claims.order_id.clone(),
        clips: claims.clips.clone(),
        allowance: claims.downloads,
        customer_ref: claims.customer_ref.clone(),
        expires_at: claims.expires_at,
        issued_at: claims.issued_at,
    }
}

fn clips_json(clips: &[String]) -> String {
    serde_json::to_string(clips).unwrap_or_else(|_| "[]".into())
}

/// `ORDER_SEEN` and `LINK_SEEN` for a verified token.
fn order_seen(
    db: &D1Database,
    facts: &OrderFacts,
    key_id: &str,
) -> std::result::Result<Vec<D1PreparedStatement>, DownloadError> {
    let now = now_unix();
    Ok(vec![
        bind(
            db,
            sql::ORDER_SEEN,
            &[
                text(&facts.order_id),
                text(&clips_json(&facts.clips)),
                num(facts.allowance.into()),
                opt_text(facts.customer_ref.as_deref()),
                num(facts.expires_at),
                num(facts.issued_at),
                num(now),
            ],
        )?,
        bind(
            db,
            sql::LINK_SEEN,
            &[text(&facts.order_id), text(key_id), num(facts.issued_at), num(facts.expires_at), num(now)],
        )?,
    ])
}

/// One request for a clip, as it will be recorded.
struct Attempt {
    record: AttemptRecord,
    order: Option<OrderFacts>,
    /// Set when D1 failed to grant: the charge goes to the R2 fallback.
    charge: Option<Charge>,
    /// Bytes granted in D1 for this request (refunded if it then fails).
    granted: u64,
    /// Milliseconds spent on the ledger before the response (reserving and
    /// recording), for the `Server-Timing` header.
    ledger_ms: u64,
    /// The clip's allowance, once known (for the settlement's credit).
    allowance: Option<DownloadAllowance>,
}

impl Attempt {
    fn start(req: &Request, slug: &str, head: bool) -> Attempt {
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let random = || (js_sys::Math::random() * 4_294_967_296.0) as u32;
        let mut id = [0u8; 16];
        for chunk in id.chunks_mut(4) {
            chunk.copy_from_slice(&random().to_le_bytes());
        }
        Attempt {
            record: AttemptRecord {
                id: None,
                attempt_id: ledger::attempt_id(id),
                at: Date::now().as_millis(),
                order_id: None,
                clip_slug: Some(slug.to_string()),
                key_id: None,
                method: if head { "HEAD" } else { "GET" }.to_string(),
                range_header: ledger::clip_text(header("range").as_deref(), 200),
                status: 0,
                outcome: String::new(),
                span_offset: None,
                span_length: None,
                charged_bytes: 0,
                client_ip: ledger::clip_text(header("cf-connecting-ip").as_deref(), 64),
                country: req.cf().and_then(|cf| cf.country()),
                user_agent: ledger::clip_text(header("user-agent").as_deref(), 300),
                recorded_via: "d1".to_string(),
                completed: None,
                reserved_bytes: None,
                sent_bytes: None,
                settled_at: None,
                credited_bytes: None,
            },
            order: None,
            charge: None,
            granted: 0,
            ledger_ms: 0,
            allowance: None,
        }
    }

    fn insert(&self, db: &D1Database) -> std::result::Result<D1PreparedStatement, DownloadError> {
        let r = &self.record;
        bind(
            db,
            sql::RECORD_ATTEMPT,
            &[
                text(&r.attempt_id),
                num(r.at),
                opt_text(r.order_id.as_deref()),
                opt_text(r.clip_slug.as_deref()),
                opt_text(r.key_id.as_deref()),
                text(&r.method),
                opt_text(r.range_header.as_deref()),
                num(r.status.into()),
                text(&r.outcome),
                opt_num(r.span_offset),
                opt_num(r.span_length),
                num(r.charged_bytes),
                opt_text(r.client_ip.as_deref()),
                opt_text(r.country.as_deref()),
                opt_text(r.user_agent.as_deref()),
                text(&r.recorded_via),
                opt_num(r.reserved_bytes),
                opt_num(r.sent_bytes),
                opt_num(r.completed.map(u64::from)),
                opt_num(r.settled_at),
            ],
        )
    }
}

thread_local! {
    /// Set when this isolate wrote a fallback record: the next successful
    /// grant merges the fallback in the background.
    static FALLBACK_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes the attempt to D1, or to the R2 fallback when D1 fails (or
/// already failed to grant). Refusals of tokens that do not verify are
/// counted per minute and only the first few get a row.
async fn record(env: &Env, attempt: &mut Attempt, bad_token: bool) {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e));
    if attempt.charge.is_none() {
        if let Ok(db) = &db {
            let written = async {
                if bad_token {
                    let minute = attempt.record.at / 60_000;
                    let n = bind(db, sql::COUNT_BAD_TOKEN, &[num(minute), text(&attempt.record.outcome)])?
                        .first::<u64>(Some("n"))
                        .await
                        .map_err(|e| d1_error("count", e))?
                        .unwrap_or(0);
                    if n > ledger::BAD_TOKEN_ROWS_PER_MINUTE {
                        return Ok(());
                    }
                }
                batch(db, vec![attempt.insert(db)?]).await.map(|_| ())
            }
            .await;
            match written {
                Ok(()) => return,
                Err(e) => console_error!(r#"{{"event":"ledger_write_failed","error":{:?}}}"#, format!("{e:?}")),
            }
        }
    }
    if bad_token {
        // Never let a flood of bad links fill the bucket: logs only.
        return;
    }
    attempt.record.recorded_via = "fallback".to_string();
    write_fallback(env, attempt).await;
}

/// Writes (or rewrites, once settled) the attempt's R2 fallback record.
async fn write_fallback(env: &Env, attempt: &Attempt) {
    let fallback =
        FallbackRecord { attempt: attempt.record.clone(), order: attempt.order.clone(), charge: attempt.charge };
    let key = fallback.object_key();
    let written = match env.bucket("CLIPS") {
        Ok(bucket) => bucket.put(&key, fallback.to_json()).execute().await.map(|_| ()),
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            FALLBACK_PENDING.with(|p| p.set(true));
            console_warn!(r#"{{"event":"ledger_fallback","key":{key:?}}}"#);
        }
        // The log line is the last copy of the record.
        Err(e) => console_error!(
            r#"{{"event":"ledger_record_lost","error":{:?},"record":{}}}"#,
            format!("{e}"),
            fallback.to_json()
        ),
    }
}

/// Merges the R2 fallback records into D1; deletes each object only after
/// its batch committed. Returns how many were merged.
pub async fn merge_fallback(env: &Env) -> std::result::Result<u32, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let bucket = env.bucket("CLIPS").map_err(|e| unavailable(format!("R2 binding CLIPS: {e}")))?;
    let mut merged = 0;
    loop {
        let listing = bucket
            .list()
            .prefix(ledger::FALLBACK_PREFIX)
            .limit(100)
            .execute()
            .await
            .map_err(|e| unavailable(format!("R2 list: {e}")))?;
        let objects = listing.objects();
        if objects.is_empty() {
            break;
        }
        for object in objects {
            let key = object.key();
            let object = bucket.get(&key).execute().await.map_err(|e| unavailable(format!("R2 get {key}: {e}")))?;
            let Some(body) = object.as_ref().and_then(|o| o.body()) else { continue };
            let json = body.text().await.map_err(|e| unavailable(format!("R2 read {key}: {e}")))?;
            let record = FallbackRecord::from_json(&json).map_err(|e| unavailable(format!("fallback {key}: {e}")))?;
            let mut statements = Vec::new();
            if let Some(order) = &record.order {
                statements.extend(order_seen(&db, order, record.attempt.key_id.as_deref().unwrap_or(""))?);
            }
            if let (Some(charge), Some(order_id), Some(slug)) =
                (record.charge, record.attempt.order_id.as_deref(), record.attempt.clip_slug.as_deref())
            {
                statements.push(bind(
                    &db,
                    sql::MERGE_GRANT,
                    &[
                        text(order_id),
                        text(slug),
                        num(charge.bytes),
                        num(charge.clip_size),
                        num(charge.unit),
                        num(charge.budget),
                        num(now_unix()),
                        text(&record.attempt.attempt_id),
                    ],
                )?);
            }
            let attempt = Attempt {
                record: record.attempt.clone(),
                order: None,
                charge: None,
                granted: 0,
                ledger_ms: 0,
                allowance: None,
            };
            statements.push(attempt.insert(&db)?);
            batch(&db, statements).await?;
            bucket.delete(&key).await.map_err(|e| unavailable(format!("R2 delete {key}: {e}")))?;
            merged += 1;
        }
        if !listing.truncated() {
            break;
        }
    }
    if merged > 0 {
        console_log!(r#"{{"event":"ledger_fallback_merged","records":{merged}}}"#);
    }
    Ok(merged)
}

#[derive(Deserialize)]
struct GrantedRow {
    clip_slug: String,
    granted_bytes: u64,
}

async fn order_page(env: &Env, token: &str, head: bool) -> std::result::Result<Response, DownloadError> {
    let view = order_view(env, token).await?;
    html_page(&pages::order_page(&manifest().shop, &view), head, 200, &[])
}

/// What the order page of a link shows: verifies the token, records the
/// order and link in the ledger and reads the bytes granted per clip.
async fn order_view(env: &Env, token: &str) -> std::result::Result<OrderView, DownloadError> {
    let claims = verify(env, token)?;
    let ledger = async {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let mut statements = order_seen(&db, &order_facts(&claims), &claims.key_id)?;
        statements.push(bind(&db, sql::ORDER, &[text(&claims.order_id)])?);
        statements.push(bind(&db, sql::ORDER_CLIPS, &[text(&claims.order_id)])?);
        let results = batch(&db, statements).await?;
        let order = rows::<OrderRow>(&results[2])?.into_iter().next();
        let granted: BTreeMap<String, u64> =
            rows::<GrantedRow>(&results[3])?.into_iter().map(|r| (r.clip_slug, r.granted_bytes)).collect();
        Ok::<_, DownloadError>((order, granted))
    }
    .await;
    let mut revoked_clips: Vec<String> = Vec::new();
    let granted = match ledger {
        Ok((Some(order), granted)) => {
            revoked_clips =
                order.revoked_clips.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
            let all_clips_revoked = claims.clips.iter().all(|c| revoked_clips.contains(c));
            let revocation = DownloadError::revocation(
                order.revoked_at,
                order.revoked_reason.as_deref(),
                all_clips_revoked,
                order.not_before,
                claims.issued_at,
            );
            if let Some(refusal) = revocation {
                return Err(refusal);
            }
            Some(granted)
        }
        Ok((None, granted)) => Some(granted),
        Err(e) => {
            // The page still works without the ledger; it just cannot count.
            console_error!(r#"{{"event":"ledger_read_failed","error":{:?}}}"#, format!("{e:?}"));
            None
        }
    };
    Ok(OrderView::new(
        OrderClaims {
            order_id: &claims.order_id,
            clips: &claims.clips,
            expires_at: claims.expires_at,
            downloads: claims.downloads,
        },
        manifest(),
        granted.as_ref(),
        &revoked_clips,
        token,
    ))
}

/// A private HTML page of the Worker (order, success pages).
fn html_page(
    html: &str,
    head: bool,
    status: u16,
    extra: &[(&str, &str)],
) -> std::result::Result<Response, DownloadError> {
    let build = || -> Result<Response> {
        let mut response = if head { Response::empty()? } else { Response::from_html(html)? }.with_status(status);
        let headers = response.headers_mut();
        headers.set("content-type", "text/html; charset=utf-8")?;
        headers.set("cache-control", delivery::CACHE_CONTROL)?;
        headers.set("referrer-policy", "no-referrer")?;
        headers.set("x-robots-tag", "noindex")?;
        for (name, value) in extra {
            headers.set(name, value)?;
        }
        Ok(response)
    };
    build().map_err(|e| unavailable(format!("building a page: {e}")))
}

/// A clip request: serves it (or refuses) and records the attempt; once its
/// body has been streamed (`waitUntil`), settles what it was charged.
async fn clip_request(
    req: &Request,
    env: &Env,
    ctx: &Context,
    token: &str,
    slug: &str,
    head: bool,
) -> Result<Response> {
    let mut attempt = Attempt::start(req, slug, head);
    let result = clip(req, env, token, slug, head, &mut attempt).await;
    let bad_token = matches!(result, Err(DownloadError::InvalidToken { .. } | DownloadError::Expired));
    let (result, body) = match result {
        Ok((response, body)) => {
            attempt.record.status = response.status_code();
            (Ok(response), body)
        }
        Err(error) => {
            attempt.record.status = error.status();
            attempt.record.outcome = error.log_code().to_string();
            attempt.record.charged_bytes = 0;
            attempt.record.reserved_bytes = None;
            // Granted, then failed before the first byte: give it back.
            attempt.charge = None;
            if attempt.granted > 0 {
                if let (Ok(db), Some(order_id)) = (env.d1("DB"), attempt.record.order_id.clone()) {
                    let refund =
                        bind(&db, sql::REFUND, &[text(&order_id), text(slug), num(attempt.granted), num(now_unix())]);
                    if let Err(e) = match refund {
                        Ok(statement) => batch(&db, vec![statement]).await.map(|_| ()),
                        Err(e) => Err(e),
                    } {
                        console_error!("{}", json!({ "event": "refund_failed", "error": format!("{e:?}") }));
                    }
                }
            }
            (Err(error), None)
        }
    };
    // Recorded before the response goes out, so the settlement below always
    // finds the attempt it settles.
    let recording = Date::now().as_millis();
    record(env, &mut attempt, bad_token).await;
    attempt.ledger_ms += Date::now().as_millis() - recording;
    let mut result = result;
    if let Ok(response) = result.as_mut() {
        // How long the ledger held the first byte back, and the whole
        // preparation (token, R2 head, ledger, first R2 read): for the owner's
        // and the benchmark's eyes (docs/benchmarks.md).
        let total = Date::now().as_millis() - attempt.record.at;
        let _ = response
            .headers_mut()
            .set("server-timing", &format!("ledger;dur={}, total;dur={total}", attempt.ledger_ms));
    }
    let merge = attempt.record.outcome == Outcome::Granted.code() && FALLBACK_PENDING.with(|p| p.replace(false));
    if body.is_some() || merge {
        let env = env.clone();
        ctx.wait_until(async move {
            if let Some(body) = body {
                let end = body.run().await;
                settle(&env, &mut attempt, end).await;
            }
            if merge {
                if let Err(e) = merge_fallback(&env).await {
                    FALLBACK_PENDING.with(|p| p.set(true));
                    console_warn!(r#"{{"event":"ledger_merge_failed","error":{:?}}}"#, format!("{e:?}"));
                }
            }
        });
    }
    match result {
        Ok(response) => Ok(response),
        Err(error) => error_response(&error),
    }
}

/// Decides and opens the answer to a clip request: the response (its body
/// the readable side of the stream) and, when it has a body, the
/// [`stream::SegmentedBody`] that feeds it.
async fn clip(
    req: &Request,
    env: &Env,
    token: &str,
    slug: &str,
    head: bool,
    attempt: &mut Attempt,
) -> std::result::Result<(Response, Option<stream::SegmentedBody<Steps>>), DownloadError> {
    let claims = verify(env, token)?;
    attempt.record.order_id = Some(claims.order_id.clone());
    attempt.record.key_id = Some(claims.key_id.clone());
    attempt.order = Some(order_facts(&claims));
    let entry = manifest().clip(slug).ok_or(DownloadError::UnknownClip)?;
    if !claims.covers(slug) {
        return Err(DownloadError::NotInOrder);
    }
    let bucket = env.bucket("CLIPS").map_err(|e| unavailable(format!("R2 binding CLIPS: {e}")))?;
    let key = entry.object_key.as_str();
    let object = bucket
        .head(key)
        .await
        .map_err(|e| unavailable(format!("R2 head {key}: {e}")))?
        .ok_or_else(|| unavailable(format!("R2 object {key} is missing (clip {slug})")))?;
    if object.size() != entry.size {
        console_warn!(
            "{}",
            json!({
                "event": "manifest_size_mismatch",
                "key": key,
                "manifest": entry.size,
                "r2": object.size(),
            })
        );
    }

    let header = |name: &str| req.headers().get(name).ok().flatten();
    let media = allowance::is_media_element(header("sec-fetch-dest").as_deref());
    let (range, if_match, if_none_match, if_modified_since, if_unmodified_since, if_range) = (
        header("range"),
        header("if-match"),
        header("if-none-match"),
        header("if-modified-since"),
        header("if-unmodified-since"),
        header("if-range"),
    );
    let request = DownloadRequest {
        head,
        range: range.as_deref(),
        conditions: Conditions {
            if_match: if_match.as_deref(),
            if_none_match: if_none_match.as_deref(),
            if_modified_since: if_modified_since.as_deref(),
            if_unmodified_since: if_unmodified_since.as_deref(),
            if_range: if_range.as_deref(),
        },
        max_partial: media.then(|| allowance::media_chunk(object.size())),
    };
    let stored = StoredClip {
        size: object.size(),
        validators: Validators { etag: object.http_etag(), last_modified: object.uploaded().as_millis() / 1000 },
        content_type: &entry.content_type,
        file_name: &entry.file_name,
    };
    let plan = delivery::plan(&request, &stored);

    // The allowance: reserve the span before the first byte, settle it to
    // what was sent afterwards (docs/downloads.md).
    let span = plan.body.filter(|span| span.length > 0);
    let mut steps = None;
    match span {
        Some(span) => {
            attempt.record.span_offset = Some(span.offset);
            attempt.record.span_length = Some(span.length);
            stream::stop_streams_at(&claims.order_id, slug, span.offset);
            let allowance = DownloadAllowance::new(claims.downloads, object.size());
            attempt.allowance = Some(allowance);
            let first = Segments::new(span, object.size()).next().map_or(span.length, |s| s.length);
            let db = env.d1("DB").map_err(|e| d1_error("binding DB", e));
            let started = Date::now().as_millis();
            let reserved = match &db {
                Ok(db) => reserve(db, &claims, slug, span, first, allowance, &attempt.record.attempt_id).await,
                Err(e) => Err(e.clone()),
            };
            attempt.ledger_ms += Date::now().as_millis() - started;
            match reserved {
                Ok(how) => {
                    attempt.record.outcome = Outcome::Granted.code().to_string();
                    attempt.granted = match how {
                        Reserved::Whole => span.length,
                        Reserved::InSteps(first) => first,
                    };
                    if let (Reserved::InSteps(first), Ok(db)) = (how, db) {
                        steps = Some(Steps {
                            db,
                            claims: claims.clone(),
                            slug: slug.to_string(),
                            allowance,
                            reserved: first,
                        });
                    }
                }
                Err(e @ DownloadError::Unavailable { .. }) => {
                    // Serve anyway: the customer paid and the token is valid.
                    console_error!(r#"{{"event":"ledger_grant_failed","error":{:?}}}"#, format!("{e:?}"));
                    attempt.record.outcome = Outcome::GrantedOffline.code().to_string();
                    attempt.charge = Some(Charge {
                        bytes: span.length,
                        clip_size: allowance.size,
                        unit: allowance.unit(),
                        budget: allowance.budget(),
                    });
                }
                Err(refused) => return Err(refused),
            }
            let reserved = if attempt.granted > 0 { attempt.granted } else { span.length };
            attempt.record.charged_bytes = reserved;
            attempt.record.reserved_bytes = Some(reserved);
        }
        None => {
            // No bytes, no charge; but a revoked order's links answer nothing.
            if let Ok(db) = env.d1("DB") {
                if let Some(refusal) = revoked(&db, &claims, slug).await {
                    return Err(refusal);
                }
            }
            attempt.record.outcome = Outcome::NoBody.code().to_string();
        }
    }

    let headers = Headers::new();
    for (name, value) in &plan.headers {
        headers.set(name, value).map_err(|e| unavailable(format!("header {name}: {e}")))?;
    }
    let (body, streamer) = match span {
        Some(span) => {
            let owner = (claims.order_id.as_str(), slug);
            let (readable, streamer) =
                stream::SegmentedBody::open(bucket, key, object.etag(), span, object.size(), steps, owner).await?;
            (ResponseBody::Stream(readable), Some(streamer))
        }
        None => (ResponseBody::Empty, None),
    };
    if plan.body.is_some() {
        console_log!(
            "{}",
            json!({
                "event": "download",
                "order": claims.order_id,
                "clip": slug,
                "status": plan.status,
                "bytes": plan.body.map_or(0, |s| s.length),
            })
        );
    }
    let response = Response::from_body(body)
        .map(|r| r.with_status(plan.status).with_headers(headers))
        .map_err(|e| unavailable(format!("building the response: {e}")))?;
    Ok((response, streamer))
}

/// The cron trigger (`wrangler.toml`), every run: merges the ledger
/// fallback, then runs the self-test that alerts the owner (docs/monitoring.md).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    if let Err(e) = merge_fallback(&env).await {
        console_warn!(r#"{{"event":"ledger_merge_failed","error":{:?}}}"#, format!("{e:?}"));
    }
    monitor::self_test(&env).await;
    mail::deliver_outbox(&env, crate::outbox::DELIVERY_BATCH).await;
}

fn json_response(status: u16, value: &serde_json::Value) -> Result<Response> {
    let mut response = Response::from_json(value)?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

fn json_error(status: u16, message: &str) -> Result<Response> {
    json_response(status, &json!({ "error": message }))
}

/// The admin API (`admin.rs`): authenticate, then run the route.
async fn admin_request(mut req: Request, env: &Env) -> Result<Response> {
    let configured = env.secret("ADMIN_TOKEN").ok().map(|s| s.to_string());
    let authorization = req.headers().get("authorization").ok().flatten();
    match admin::authorize(configured.as_deref(), authorization.as_deref()) {
        Ok(()) => {}
        Err(AuthError::NotConfigured) => {
            return json_error(503, "the admin API is disabled: set the ADMIN_TOKEN secret")
        }
        Err(AuthError::Unauthorized) => {
            let mut r = json_error(401, "unauthorized")?;
            r.headers_mut().set("www-authenticate", "Bearer")?;
            return Ok(r);
        }
    }
    let url = req.inner().url();
    let (path, query) = admin::path_and_query(&url);
    let method = req.method().to_string();
    let route = admin::route(&method, path, query);
    // Checks that must work when the ledger does not.
    match route {
        AdminRoute::Health => return monitor::deep_health(env).await,
        AdminRoute::Catalog { offset, limit } => return monitor::catalog_report(env, offset, limit).await,
        AdminRoute::ObjectInfo { key } => return objects::object_info(env, &key).await,
        AdminRoute::PutObject { key } => return objects::put_object(req, env, &key).await,
        _ => {}
    }
    let body = if method == "POST" { req.text().await.unwrap_or_default() } else { String::new() };
    let origin = origin(&req)?;
    match admin_route(env, route, &body, &origin).await {
        Ok(response) => Ok(response),
        Err(e) => {
            console_error!(r#"{{"event":"admin_failed","error":{:?}}}"#, format!("{e:?}"));
            json_error(503, "the ledger is unavailable right now")
        }
    }
}

#[derive(Deserialize)]
struct CreateOrder {
    order_id: String,
    clips: Vec<String>,
    downloads: u32,
    expires_at: Option<u64>,
    customer_ref: Option<String>,
}

async fn admin_route(
    env: &Env,
    route: AdminRoute,
    body: &str,
    origin: &str,
) -> std::result::Result<Response, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let now = now_unix();
    let respond = |status: u16, value: serde_json::Value| json_response(status, &value).map_err(unavailable);
    match route {
        AdminRoute::Health
        | AdminRoute::Catalog { .. }
        | AdminRoute::ObjectInfo { .. }
        | AdminRoute::PutObject { .. } => {
            unreachable!("answered in admin_request")
        }
        AdminRoute::NotFound => respond(404, json!({ "error": "no such admin route" })),
        AdminRoute::MethodNotAllowed => respond(405, json!({ "error": "method not allowed" })),
        AdminRoute::ListOrders { limit } => {
            let r = batch(&db, vec![bind(&db, sql::LIST_ORDERS, &[num(limit.into())])?]).await?;
            respond(200, json!({ "orders": rows::<OrderSummaryRow>(&r[0])? }))
        }
        AdminRoute::NeverFullyDownloaded { since, until, limit } => {
            let r =
                batch(&db, vec![bind(&db, sql::NEVER_FULLY_DOWNLOADED, &[num(since), num(until), num(limit.into())])?])
                    .await?;
            respond(200, json!({ "orders": rows::<OrderSummaryRow>(&r[0])? }))
        }
        AdminRoute::ShowOrder { order_id } => {
            let id = text(&order_id);
            let r = batch(
                &db,
                vec![
                    bind(&db, sql::ORDER, std::slice::from_ref(&id))?,
                    bind(&db, sql::ORDER_CLIPS, std::slice::from_ref(&id))?,
                    bind(&db, sql::ATTEMPTS, &[id.clone(), num(0), num(admin::MAX_LIMIT.into())])?,
                    bind(&db, sql::ORDER_LINKS, std::slice::from_ref(&id))?,
                    bind(&db, sql::ORDER_EVENTS, &[id])?,
                ],
            )
            .await?;
            let Some(order) = rows::<OrderRow>(&r[0])?.into_iter().next() else {
                return respond(404, json!({ "error": format!("no order {order_id} in the ledger") }));
            };
            let granted: BTreeMap<String, OrderClipRow> =
                rows::<OrderClipRow>(&r[1])?.into_iter().map(|c| (c.clip_slug.clone(), c)).collect();
            let slugs: Vec<String> = serde_json::from_str(&order.clips).unwrap_or_default();
            let clips: Vec<ClipUsage> = slugs
                .iter()
                .map(|slug| {
                    let size = granted
                        .get(slug)
                        .map(|c| c.clip_size)
                        .or_else(|| manifest().clip(slug).map(|c| c.size))
                        .unwrap_or(0);
                    ClipUsage::new(
                        slug.clone(),
                        order.allowance,
                        size,
                        granted.get(slug).map_or(0, |c| c.granted_bytes),
                    )
                })
                .collect();
            respond(
                200,
                json!({
                    "order": order,
                    "clips": clips,
                    "attempts": rows::<AttemptRecord>(&r[2])?,
                    "links": rows::<LinkRow>(&r[3])?,
                    "events": rows::<EventRow>(&r[4])?,
                }),
            )
        }
        AdminRoute::CreateOrder => {
            let Ok(o) = serde_json::from_str::<CreateOrder>(body) else {
                return respond(
                    400,
                    json!({ "error": "expected {order_id, clips, downloads, expires_at?, customer_ref?}" }),
                );
            };
            let r = batch(
                &db,
                vec![
                    bind(
                        &db,
                        sql::CREATE_ORDER,
                        &[
                            text(&o.order_id),
                            text(&clips_json(&o.clips)),
                            num(o.downloads.into()),
                            opt_text(o.customer_ref.as_deref()),
                            opt_num(o.expires_at),
                            num(now),
                        ],
                    )?,
                    bind(
                        &db,
                        sql::EVENT,
                        &[text(&o.order_id), num(now), text("create"), JsValue::NULL, JsValue::NULL],
                    )?,
                ],
            )
            .await?;
            if rows::<serde_json::Value>(&r[0])?.is_empty() {
                return respond(409, json!({ "error": format!("order {} already exists", o.order_id) }));
            }
            respond(201, json!({ "created": o.order_id }))
        }
        AdminRoute::Reset { order_id, clip } => {
            let r = batch(
                &db,
                vec![
                    bind(
                        &db,
                        sql::EVENT,
                        &[text(&order_id), num(now), text("reset"), opt_text(clip.as_deref()), JsValue::NULL],
                    )?,
                    bind(&db, sql::RESET, &[text(&order_id), opt_text(clip.as_deref()), num(now)])?,
                ],
            )
            .await?;
            respond(200, json!({ "order_id": order_id, "clips_reset": rows::<serde_json::Value>(&r[1])?.len() }))
        }
        AdminRoute::ResetWindow { since, until } => {
            let detail = format!("window {since}..{until}");
            let (from, to) = (since * 1000, until * 1000);
            let r = batch(
                &db,
                vec![
                    bind(&db, sql::RESET_WINDOW_EVENTS, &[num(from), num(to), num(now), text(&detail)])?,
                    bind(&db, sql::RESET_WINDOW, &[num(from), num(to), num(now)])?,
                ],
            )
            .await?;
            #[derive(Deserialize)]
            struct Id {
                order_id: String,
            }
            let mut orders: Vec<String> = rows::<Id>(&r[1])?.into_iter().map(|r| r.order_id).collect();
            orders.dedup();
            respond(200, json!({ "orders_reset": orders }))
        }
        AdminRoute::Revoke { order_id, clip: Some(clip) } => {
            if manifest().clip(&clip).is_none() {
                return respond(400, json!({ "error": format!("no clip {clip} in the catalog") }));
            }
            let r = batch(
                &db,
                vec![
                    bind(&db, sql::REVOKE_CLIP, &[text(&order_id), text(&clip), num(now), text("admin")])?,
                    bind(&db, sql::EVENT, &[text(&order_id), num(now), text("revoke"), text(&clip), JsValue::NULL])?,
                ],
            )
            .await?;
            let new = !rows::<serde_json::Value>(&r[0])?.is_empty();
            respond(200, json!({ "order_id": order_id, "clip": clip, "revoked_at": now, "already_revoked": !new }))
        }
        AdminRoute::Resend { order_id, to } => {
            let (status, value) = recovery::resend(env, &db, &order_id, to.as_deref(), origin).await?;
            respond(status, value)
        }
        AdminRoute::Revoke { order_id, clip: None } => {
            batch(
                &db,
                vec![
                    bind(&db, sql::REVOKE, &[text(&order_id), num(now)])?,
                    bind(&db, sql::EVENT, &[text(&order_id), num(now), text("revoke"), JsValue::NULL, JsValue::NULL])?,
                ],
            )
            .await?;
            respond(200, json!({ "order_id": order_id, "revoked_at": now }))
        }
        AdminRoute::Reissue { order_id } => {
            let r = batch(
                &db,
                vec![
                    bind(&db, sql::REISSUE, &[text(&order_id), num(now)])?,
                    bind(&db, sql::EVENT, &[text(&order_id), num(now), text("reissue"), JsValue::NULL, JsValue::NULL])?,
                ],
            )
            .await?;
            match rows::<serde_json::Value>(&r[0])?.into_iter().next() {
                Some(order) => respond(200, json!({ "order": order })),
                None => respond(404, json!({ "error": format!("no order {order_id} in the ledger") })),
            }
        }
        AdminRoute::Attempts { order_id, after, limit } => {
            let r = batch(
                &db,
                vec![bind(&db, sql::ATTEMPTS, &[opt_text(order_id.as_deref()), num(after), num(limit.into())])?],
            )
            .await?;
            respond(200, json!({ "attempts": rows::<AttemptRecord>(&r[0])? }))
        }
        AdminRoute::Merge => respond(200, json!({ "merged": merge_fallback(env).await? })),
        AdminRoute::Outbox { limit } => respond(200, json!({ "outbox": mail::outbox_list(&db, limit).await? })),
        AdminRoute::Payments { limit } => {
            let r = batch(&db, vec![bind(&db, sql::PAYMENT_EVENTS, &[num(limit.into())])?]).await?;
            respond(200, json!({ "payments": rows::<PaymentEventRow>(&r[0])? }))
        }
    }
}
