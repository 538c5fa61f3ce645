//! Runtime glue (wasm32 only): the fetch and cron handlers, and what every
//! route's file shares: the embedded catalog, the link's verification,
//! error pages (D1 helpers in `runtime/d1.rs`).
//!
//! Bindings (see `wrangler.toml`): `ASSETS` (the static shop), `CLIPS` (R2
//! bucket with the clip objects and the ledger's fallback records), `DB` (D1,
//! the download ledger) and the secrets `TOKEN_KEYS` (`KEYID:SECRET[,…]`, see
//! `clipstore_core::Keyring`) and `ADMIN_TOKEN` (the admin API).
//!
//! One file per route family:
//! - `runtime/download.rs`: the order page and a clip's response, recorded
//!   in the ledger; its D1 reservation in `runtime/reservation.rs`, its
//!   streaming in `runtime/stream.rs` (clip bytes never enter wasm);
//! - `runtime/checkout.rs`: a cart's `POST /checkout`;
//! - `runtime/payments.rs`: the payment webhook;
//! - `runtime/thanks.rs`: `/thanks`, and orders made from Stripe's answer
//!   when its event is late (the page's and the cron's asking);
//! - `runtime/recovery.rs`: "Lost your download link?" and the owner's resend;
//! - `runtime/mail.rs`: the outbox's sender; `runtime/http.rs`: outgoing calls;
//! - `runtime/origin.rs`: where a clip's bytes come from, R2 or, when R2
//!   fails, the secondary origin (`runtime/secondary.rs`);
//! - `runtime/admin_routes.rs`: the admin API; `runtime/objects.rs`: uploads;
//! - `runtime/monitor.rs`: health checks and the scheduled self-test;
//!   `runtime/missed_events.rs`: Stripe's events the webhook did not get;
//! - while D1 fails: `runtime/offline.rs` (what a link may take),
//!   `runtime/revocations.rs` (the revocation list in R2);
//!   `runtime/refusals.rs`: refused requests counted in the isolate, written
//!   in batches.

use std::sync::OnceLock;

use clipstore_core::{verify_token, CatalogManifest, Claims, Keyring, SortedMap};
use wasm_bindgen::JsValue;
use worker::*;

use crate::admin::{self, AdminRoute, AuthError, ClipUsage};
use crate::allowance::{self, DownloadAllowance, WholeRequest};
use crate::delivery::{self, DownloadRequest, StoredClip};
use crate::error::DownloadError;
use crate::ledger::{
    self, sql, AttemptRecord, Charge, EventRow, FallbackRecord, LinkRow, OrderClipRow, OrderCustomerRow, OrderFacts,
    OrderRow, OrderSummaryRow, Outcome, PaymentEventRow,
};
use crate::order::{OrderClaims, OrderView};
use crate::pages;
use crate::preconditions::Conditions;
use crate::routes::{route, Route};
use crate::segments::Segments;

mod admin_routes;
mod checkout;
mod d1;
mod download;
mod http;
mod mail;
mod missed_events;
mod monitor;
mod objects;
mod offline;
mod origin;
mod payments;
mod recovery;
mod refusals;
mod reservation;
mod revocations;
mod secondary;
mod stream;
mod thanks;

use admin_routes::admin_request;
use d1::{batch, bind, d1_error, num, opt_num, opt_text, row_count, rows, text};
use download::{merge_fallback, order_view, write_fallback, write_record, Attempt};
use reservation::{reserve, revoked, settle, LedgerSteps, Reserved, Steps};

/// The module's allocator: Talc instead of the standard library's dlmalloc,
/// 3 KB gzip less of the module (docs/benchmarks.md, "Stop 35"). It grows
/// the wasm memory as dlmalloc did; the module is single-threaded (no
/// `atomics`), which its cell requires.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub(crate) const MANIFEST_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog-manifest.json"));

fn manifest() -> &'static CatalogManifest {
    static MANIFEST: OnceLock<CatalogManifest> = OnceLock::new();
    MANIFEST.get_or_init(|| CatalogManifest::from_json(MANIFEST_JSON).expect("build.rs validated the manifest"))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    match route(&path) {
        Route::Health => json_response(200, &crate::monitor::liveness()),
        Route::Admin => admin_request(req, &env).await,
        Route::Asset => env.assets("ASSETS")?.fetch_request(req).await,
        Route::Order { token } => download::order_request(&req, &env, token).await,
        Route::Clip { token, slug } => download::clip_route(&req, &env, &ctx, token, slug).await,
        Route::Certificate { token, slug } => download::certificate_request(&req, &env, token, slug).await,
        Route::Checkout => checkout::checkout(req, &env).await,
        Route::PaymentWebhook { .. } => payments::payment_webhook(req, &env, &ctx).await,
        Route::Thanks => thanks::thanks(&req, &env, &ctx).await,
        Route::Recover => recovery::recover(req, &env, &ctx).await,
        Route::Untidy { to } => {
            // Not cached: the address it came from is no address at all.
            let mut response = Response::empty()?.with_status(302);
            response.headers_mut().set("location", to)?;
            response.headers_mut().set("cache-control", delivery::CACHE_CONTROL)?;
            Ok(response)
        }
        Route::NotFound => match download::read_method(&req) {
            Ok(_) => error_response(&DownloadError::NotFound),
            Err(e) => error_response(&e),
        },
    }
}

/// Logs a refusal as one JSON line (`wrangler tail`, Workers Logs). Storage
/// failures are errors the owner must see; token refusals are info.
fn log_refusal(error: &DownloadError) {
    let detail = match error {
        DownloadError::Unavailable { detail } => detail.as_str(),
        _ => "",
    };
    let line = log_line!({
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

/// The security headers of every page (`clipstore_core::security_headers`,
/// the same as `public/_headers` gives the static pages); the Worker's own
/// pages then set a stricter `Referrer-Policy`, since their URLs hold links.
fn page_headers(headers: &mut Headers) -> Result<()> {
    for (name, value) in clipstore_core::security_headers::SECURITY_HEADERS {
        headers.set(name, value)?;
    }
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("x-robots-tag", "noindex")
}

fn error_response(error: &DownloadError) -> Result<Response> {
    error_response_at(error, false)
}

/// [`error_response`] for a request at a clip's address (see
/// [`pages::error_page`]).
fn error_response_at(error: &DownloadError, at_clip: bool) -> Result<Response> {
    log_refusal(error);
    let mut response =
        Response::from_html(pages::error_page(&manifest().shop, error, at_clip))?.with_status(error.status());
    let headers = response.headers_mut();
    page_headers(headers)?;
    headers.set("cache-control", delivery::CACHE_CONTROL)?;
    if matches!(error, DownloadError::MethodNotAllowed) {
        headers.set("allow", "GET, HEAD")?;
    }
    match error {
        DownloadError::Unavailable { .. } => headers.set("retry-after", "60")?,
        DownloadError::PausedOffline => headers.set("retry-after", "300")?,
        _ => {}
    }
    Ok(response)
}

pub(crate) fn unavailable(what: impl std::fmt::Display) -> DownloadError {
    DownloadError::Unavailable { detail: what.to_string() }
}

/// Runs `work` once the response is on its way (`ctx.wait_until`), as one
/// boxed future type: `wait_until` compiled its promise glue again for each
/// future type handed to it (docs/benchmarks.md, "Stop 35").
fn in_background(ctx: &Context, work: impl std::future::Future<Output = ()> + 'static) {
    let work: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = Box::pin(work);
    ctx.wait_until(work);
}

/// The shop's address as this request reached it (`https://shop.example`),
/// for links the Worker writes into mail and redirects.
fn origin(req: &Request) -> Result<String> {
    let url = req.inner().url();
    crate::request_url::link_origin(&url).ok_or_else(|| Error::RustError(format!("no origin in the request URL {url}")))
}

fn now_unix() -> u64 {
    Date::now().as_millis() / 1000
}

/// Verifies the token against the keyring in the `TOKEN_KEYS` secret.
fn verify(env: &Env, token: &str) -> std::result::Result<Claims, DownloadError> {
    verify_resumable(env, token, false).map(|(claims, _)| claims)
}

/// Verifies the token as [`verify`] does, but an expired one too, as of its
/// last valid second: for the licence certificates, which the licence
/// outlives (content/pages/terms.md: perpetual). Revocations still apply.
fn verify_lasting(env: &Env, token: &str) -> std::result::Result<Claims, DownloadError> {
    let keyring = keyring(env)?;
    let refused = |e: clipstore_core::TokenError| DownloadError::from_token_code(e.code());
    match verify_token(token, &keyring, now_unix()) {
        // Expired is only said of a token whose signature checked out.
        Err(clipstore_core::TokenError::Expired { expires_at, .. }) => {
            verify_token(token, &keyring, crate::after_expiry::last_valid_second(expires_at)).map_err(refused)
        }
        verified => verified.map_err(refused),
    }
}

/// The keys links are signed and checked with (`TOKEN_KEYS`).
fn keyring(env: &Env) -> std::result::Result<Keyring, DownloadError> {
    let keys = env.secret("TOKEN_KEYS").map_err(|_| unavailable("the TOKEN_KEYS secret is not set"))?.to_string();
    Keyring::from_env_string(&keys).map_err(|e| unavailable(format!("TOKEN_KEYS is invalid: {e}")))
}

/// Verifies the token; with `resume_grace`, one expired within
/// [`crate::after_expiry::RESUME_GRACE_SECS`] verifies too, as `true`: it
/// may only finish a download started before (the caller decides that).
fn verify_resumable(env: &Env, token: &str, resume_grace: bool) -> std::result::Result<(Claims, bool), DownloadError> {
    let keyring = keyring(env)?;
    let refused = |e: clipstore_core::TokenError| DownloadError::from_token_code(e.code());
    match verify_token(token, &keyring, now_unix()) {
        Ok(claims) => Ok((claims, false)),
        // Expired is only said of a token whose signature checked out.
        Err(clipstore_core::TokenError::Expired { expires_at, now }) if resume_grace => {
            match crate::after_expiry::verify_at(expires_at, now) {
                Some(at) => verify_token(token, &keyring, at).map(|claims| (claims, true)).map_err(refused),
                None => Err(DownloadError::Expired),
            }
        }
        Err(e) => Err(refused(e)),
    }
}

fn order_facts(claims: &Claims) -> OrderFacts {
    OrderFacts {
        order_id: claims.order_id.clone(),
        clips: claims.clips.clone(),
        choices: claims.choices.clone(),
        allowance: claims.downloads,
        customer_ref: claims.customer_ref.clone(),
        expires_at: claims.expires_at,
        issued_at: claims.issued_at,
    }
}

fn clips_json(clips: &[String]) -> String {
    clipstore_core::json::to_string(clips)
}

/// Every file of the catalog (main files by slug, variants as
/// `slug:variant`), made once per isolate: what the self-test and
/// `/admin/catalog` check in the bucket.
fn catalog_files() -> &'static [(String, clipstore_core::ManifestClip)] {
    static FILES: OnceLock<Vec<(String, clipstore_core::ManifestClip)>> = OnceLock::new();
    FILES.get_or_init(|| manifest().files())
}

/// `orders.choices`: the JSON object of what was bought of each clip, or
/// NULL for an order of plain clips.
fn choices_json(choices: &SortedMap<clipstore_core::Choice>) -> JsValue {
    if choices.is_empty() {
        JsValue::NULL
    } else {
        text(&clipstore_core::json::to_string(choices))
    }
}

/// Reads `orders.choices` back (NULL or unreadable: none).
fn choices_from_json(json: Option<&str>) -> SortedMap<clipstore_core::Choice> {
    json.and_then(|j| clipstore_core::json::from_str(j).ok()).unwrap_or_default()
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
                choices_json(&facts.choices),
            ],
        )?,
        bind(
            db,
            sql::LINK_SEEN,
            &[text(&facts.order_id), text(key_id), num(facts.issued_at), num(facts.expires_at), num(now)],
        )?,
    ])
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
        page_headers(headers)?;
        for (name, value) in extra {
            headers.set(name, value)?;
        }
        Ok(response)
    };
    build().map_err(|e| unavailable(format!("building a page: {e}")))
}

/// The cron trigger (`wrangler.toml`), every run: merges the ledger
/// fallback, then runs the self-test that alerts the owner (docs/monitoring.md).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // The settlements R2 holds go in first: one of them may be a
    // stale-looking reservation's own. The sweep runs also when the merge
    // failed (R2 down for hours, its list failing): a download cut off by
    // an isolate's end would otherwise hold its reservation for the whole
    // outage; a real settlement merged after the sweep corrects it
    // (`CORRECT_SWEPT_ATTEMPT`). It waits while records are left for the
    // next run (a merge takes a batch): one of them may be a settlement of
    // nothing sent, which the sweep's charge would not give back.
    let (merge_failed, more) = match merge_fallback(&env).await {
        Ok(done) => (None, done.more),
        Err(e) => {
            console_warn!("{}", log_line!({ "event": "ledger_merge_failed", "error": format!("{e:?}") }));
            // Said to the owner: the error's own words, not its Rust form.
            (Some(monitor::error_text(&e)), false)
        }
    };
    if !more {
        if let Err(e) = reservation::settle_stale(&env).await {
            console_warn!("{}", log_line!({ "event": "stale_settlement_failed", "error": format!("{e:?}") }));
        }
    }
    revocations::publish(&env).await;
    recovery::prune(&env).await;
    refusals::flush(&env).await;
    refusals::prune(&env).await;
    monitor::self_test(&env, merge_failed).await;
    // After the self-test, whose calls are sized to the run's subrequests
    // (its next run counts these orders among Stripe's missing events);
    // before the delivery that sends their mail.
    thanks::orders_from_stripe(&env).await;
    let batch = crate::outbox::DELIVERY_BATCH;
    let first = mail::deliver_outbox(&env, batch, mail::Probe::OldestWaiting).await;
    // A message taken makes those waiting out a back-off due (a fixed key
    // the probe found): they go in this run, within the same batch size.
    if first.sent > 0 && first.due < batch {
        mail::deliver_outbox(&env, batch - first.due, mail::Probe::No).await;
    }
}

/// A JSON answer: the value with its objects' keys sorted (as serde_json
/// wrote a `Value`, what the answers were before).
fn json_response(status: u16, value: &clipstore_core::json::Json) -> Result<Response> {
    let mut response = Response::ok(clipstore_core::json::to_string_sorted(value))?.with_status(status);
    let headers = response.headers_mut();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    Ok(response)
}

/// Whether a request's body may be read: its declared length is at most
/// `max` (`Err`: the status to refuse it with). Every client of the routes
/// that read a body declares it (a browser's form, Stripe, site-gen); a
/// body without it (chunked) would be read whole before its size could be
/// known, so it is refused (411), as one declared too large is (413).
fn body_fits(req: &Request, max: usize) -> std::result::Result<(), u16> {
    match req.headers().get("content-length").ok().flatten().and_then(|l| l.trim().parse::<usize>().ok()) {
        None => Err(411),
        Some(n) if n > max => Err(413),
        Some(_) => Ok(()),
    }
}

fn json_error(status: u16, message: &str) -> Result<Response> {
    json_line_response(status, log_line!({ "error": message }))
}

/// A JSON answer written by `log_line!` (no JSON tree built).
fn json_line_response(status: u16, body: crate::log_line::LogLine) -> Result<Response> {
    let mut response = Response::ok(body.to_string())?.with_status(status);
    let headers = response.headers_mut();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    Ok(response)
}
