//! `POST /checkout`: a cart becomes a Stripe Checkout Session, priced from
//! the catalog, and the customer is sent to Stripe's payment page
//! (docs/payments.md, "The cart's checkout").

use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::*;

use super::http::execute;
use super::payments::test_mode;
use super::{batch, bind, manifest, num, origin, text};
use crate::ledger::{self, sql};
use crate::payments::cart::{parse_cart, Cart, CartError, MAX_BODY_BYTES};
use crate::payments::stripe_checkout::{
    check_api_key, encode_form, session_answer, session_params, session_request, DEFAULT_API_BASE,
};
use crate::shop_pages::{checkout_problem_page, CheckoutProblem};

/// Seconds to wait for Stripe before the customer is told to try again.
const STRIPE_TIMEOUT_SECS: u64 = 10;

/// The cart's checkout as configured: `STRIPE_API_KEY` (present and of a
/// usable shape) and the API's base; or why checkouts cannot start. The
/// health check and the self-test ask the same. Besides Stripe's settings,
/// what every paid order needs: a key to sign its link, and the database
/// and bucket bindings. Without them the customer paid and got nothing,
/// and Stripe retried an order for three days that only the owner could
/// make good.
pub(super) fn configuration(env: &Env) -> std::result::Result<(String, String), String> {
    // Both read as the webhook reads its secret: a pasted space is no error.
    let key = env.secret("STRIPE_API_KEY").ok().map(|s| s.to_string().trim().to_string());
    check_api_key(key.as_deref(), test_mode(env)).map_err(|e| e.to_string())?;
    // Without it every payment's event is refused: no payment page is
    // opened for money that could not become an order.
    let secret = env.secret("STRIPE_WEBHOOK_SECRET").ok().map(|s| s.to_string().trim().to_string());
    if !secret.as_deref().is_some_and(super::payments::valid_webhook_secret) {
        return Err("STRIPE_WEBHOOK_SECRET is missing or is not the whsec_… signing secret of the shop's webhook endpoint: a payment could not become an order".into());
    }
    if let Some(problem) = super::monitor::keys_problem(env) {
        return Err(format!("{problem}: a paid order could get no download link. {}", super::monitor::KEYS_FIX));
    }
    if let Err(e) = env.d1("DB") {
        return Err(format!("the D1 binding DB is missing or wrong ({e}): a payment could not become an order. Check [[d1_databases]] binding = \"DB\" in wrangler.toml"));
    }
    if let Err(e) = env.bucket("CLIPS") {
        return Err(format!("the R2 binding CLIPS is missing or wrong ({e}): a paid clip could not be downloaded. Check [[r2_buckets]] binding = \"CLIPS\" in wrangler.toml"));
    }
    Ok((key.unwrap_or_default(), api_base(env)?))
}

/// Why the customer would pay for nothing now, if so: the ledger lacks
/// migrations this Worker needs (a Worker deployed before them cannot
/// record the order), or a file of the cart is not in the bucket (and no
/// secondary origin may have it). D1 or R2 failing is no reason: their
/// outage paths take over (docs/outages.md); nor is their being slow: past
/// [`DELIVERABLE_BUDGET_MS`] the checkout goes on.
async fn undeliverable(env: &Env, cart: &Cart) -> Option<(String, Option<String>)> {
    let checked = pin!(undeliverable_now(env, cart));
    let budget = pin!(Delay::from(Duration::from_millis(DELIVERABLE_BUDGET_MS)));
    match select(checked, budget).await {
        Either::Left((problem, _)) => problem,
        Either::Right(_) => {
            console_warn!("{}", log_line!({ "event": "checkout_check_slow", "budget_ms": DELIVERABLE_BUDGET_MS }));
            None
        }
    }
}

/// How long a checkout waits for D1 and R2 to say the order could be delivered.
const DELIVERABLE_BUDGET_MS: u64 = 2000;

/// Migrations this Worker needs that D1 lacks, as the checkout refuses
/// for them (the deep check's `checkout` says the same).
pub(super) async fn migrations_missing(db: &D1Database) -> Option<String> {
    match super::monitor::schema_problem(db).await {
        Ok(problem) => problem,
        // No `d1_migrations` table: the migrations were never applied, or
        // the schema came another way (an import, a `migrations_table` of
        // its own). Only a table the order needs missing refuses it.
        Err(e) if e.contains("no such table") => {
            let present = match bind(db, sql::ORDER_TABLES_PRESENT, &[]) {
                Ok(statement) => statement.run().await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(format!("{e:?}")),
            };
            // D1's error in words: "no such table: orders", not its Rust form.
            let missing = |e: &str| {
                let at = e.find("no such table: ")? + "no such table: ".len();
                // (ASCII: `char::is_alphanumeric` brings Unicode's tables, 2 KB.)
                let len = e[at..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
                let name = &e[at..at + len];
                Some(format!("no such table: {name}: {}", crate::monitor::APPLY_MIGRATIONS))
            };
            present.err().and_then(|e| missing(&e))
        }
        Err(_) => None,
    }
}

/// Why the cart's order could not be delivered (for the owner), and the
/// line to name to the customer when it is one clip's.
async fn undeliverable_now(env: &Env, cart: &Cart) -> Option<(String, Option<String>)> {
    let db = env.d1("DB").ok()?;
    if let Some(problem) = migrations_missing(&db).await {
        return Some((problem, None));
    }
    if !matches!(super::secondary::config(env), Ok(None)) {
        return None;
    }
    let bucket = env.bucket("CLIPS").ok()?;
    // One after another: a cart holds a few clips, and R2 answers a head
    // in milliseconds (a join of futures cost the module 4 KB).
    for line in &cart.lines {
        if let Ok(None) = bucket.head(line.object_key.as_str()).await {
            let detail = format!(
                "the file of the clip {} ({}) is not in the R2 bucket: customers cannot buy it until `site-gen push` uploads it",
                line.slug, line.object_key
            );
            return Some((detail, Some(line.title.clone())));
        }
    }
    None
}

/// `STRIPE_API_BASE` when set (a local stand-in for Stripe's API): only
/// `https://`, or plain `http://` to a loopback address, so the key never
/// travels in clear text.
fn api_base(env: &Env) -> std::result::Result<String, String> {
    let Some(base) = env.var("STRIPE_API_BASE").ok().map(|v| v.to_string()).filter(|v| !v.trim().is_empty()) else {
        return Ok(DEFAULT_API_BASE.to_string());
    };
    let base = base.trim().trim_end_matches('/').to_string();
    if crate::http_call::private_on_the_way(&base) {
        Ok(base)
    } else {
        Err(format!("STRIPE_API_BASE must be https:// (or http:// to a loopback address), found {base}"))
    }
}

fn problem_page(problem: CheckoutProblem) -> Result<Response> {
    let title = match &problem {
        CheckoutProblem::Cart(CartError::UnknownClip(slug)) => Some(slug.as_str()),
        _ => None,
    };
    let html = checkout_problem_page(&manifest().shop, &problem, title);
    let mut response = Response::from_html(html)?.with_status(problem.status());
    let headers = response.headers_mut();
    headers.set("cache-control", "no-store")?;
    super::page_headers(headers)?;
    match problem {
        CheckoutProblem::TryAgain => headers.set("retry-after", "30")?,
        CheckoutProblem::TooMany => headers.set("retry-after", "60")?,
        _ => {}
    }
    Ok(response)
}

/// Whether the client's network (its IPv4 address, or its IPv6 /64) may
/// start another checkout, each a call to Stripe's API that anyone could
/// repeat until Stripe's rate limit turns the shop's real customers away:
/// the `CHECKOUT_LIMITER` Rate Limiting binding (wrangler.toml) decides.
/// Without the binding, or when it fails, yes: a customer is never turned
/// away for the limiter's sake.
pub(super) async fn within_checkout_limit(env: &Env, req: &Request) -> bool {
    use js_sys::{Object, Promise, Reflect};
    let Some((limiter, limit)) = limiter(env) else { return true };
    let client = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_default();
    let options = Object::new();
    let key = JsValue::from_str(&crate::recovery::client_network(&client));
    if Reflect::set(&options, &JsValue::from_str("key"), &key).is_err() {
        return true;
    }
    let Some(promise) = limit.call1(&limiter, &options).ok().and_then(|p| p.dyn_into::<Promise>().ok()) else {
        return true;
    };
    match JsFuture::from(promise).await {
        Ok(outcome) => {
            Reflect::get(&outcome, &JsValue::from_str("success")).ok().and_then(|s| s.as_bool()) != Some(false)
        }
        Err(_) => true,
    }
}

/// The `CHECKOUT_LIMITER` binding and its `limit` method, if the Worker has
/// them (the health check says when it does not).
pub(super) fn limiter(env: &Env) -> Option<(JsValue, js_sys::Function)> {
    let limiter = js_sys::Reflect::get(env, &JsValue::from_str("CHECKOUT_LIMITER")).ok()?;
    let limit = js_sys::Reflect::get(&limiter, &JsValue::from_str("limit")).ok()?.dyn_into().ok()?;
    Some((limiter, limit))
}

/// A random value for a checkout without a cart id (each such submission
/// is its own checkout): 16 bytes of the runtime's `crypto.getRandomValues`.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    if !crypto_random(&mut bytes) {
        // Without the Web Crypto global (never in workerd) the key need only
        // differ between submissions.
        for b in bytes.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fills `bytes` from `crypto.getRandomValues`; false if it is missing.
fn crypto_random(bytes: &mut [u8]) -> bool {
    let get = |target: &JsValue, name: &str| js_sys::Reflect::get(target, &JsValue::from_str(name)).ok();
    let Some(crypto) = get(&js_sys::global(), "crypto") else { return false };
    let Some(Ok(fill)) = get(&crypto, "getRandomValues").map(|f| f.dyn_into::<js_sys::Function>()) else {
        return false;
    };
    let array = js_sys::Uint8Array::new_with_length(bytes.len() as u32);
    if fill.call1(&crypto, &array).is_err() {
        return false;
    }
    array.copy_to(bytes);
    true
}

/// Records a checkout the shop's configuration stopped (a malformed key, a
/// key Stripe refused), at most one per minute, so the self-test alerts the
/// owner after the first customer it turned away (docs/payments.md).
async fn record_unavailable(env: &Env, detail: &str) {
    let at = Date::now().as_millis();
    let recorded = async {
        let db = env.d1("DB").map_err(|e| format!("binding DB: {e}"))?;
        let values = [
            num(at),
            text("stripe"),
            JsValue::NULL,
            text("checkout"),
            JsValue::NULL,
            JsValue::NULL,
            num(502),
            text("checkout_unavailable"),
            text(&ledger::clip_text(Some(detail), 500).unwrap_or_default()),
            num(at - at % 60_000),
            num(1),
        ];
        let statement = bind(&db, sql::PAYMENT_REFUSAL_CAPPED, &values).map_err(|e| format!("{e:?}"))?;
        batch(&db, vec![statement]).await.map(|_| ()).map_err(|e| format!("{e:?}"))
    };
    if let Err(e) = recorded.await {
        console_error!("{}", log_line!({ "event": "checkout_failure_not_recorded", "error": e }));
    }
}

/// Whether a browser says the request comes from a page of another site:
/// `Sec-Fetch-Site: cross-site`; or, from a browser that sends no
/// `Sec-Fetch-Site`, an `Origin` whose host is neither the request's nor
/// the shop's. (A tool sends neither, and passes; so does `Origin: null`,
/// which the shop's own page sends under a no-referrer policy: the diff
/// review.)
fn from_another_site(req: &Request) -> bool {
    let header = |name| req.headers().get(name).ok().flatten();
    if let Some(site) = header("sec-fetch-site") {
        return site.eq_ignore_ascii_case("cross-site");
    }
    let Some(from) = header("origin").filter(|o| o != "null") else { return false };
    // Hosts, not origins: a visit over http posts `http://` to a Worker
    // whose links say `https://`.
    let host =
        |url: &str| crate::request_url::origin(url).and_then(|o| o.split_once("://").map(|(_, h)| h.to_string()));
    let (from, here, shop) = (host(&from), host(&req.inner().url()), host(&manifest().shop.base_url));
    from.is_some_and(|from| ![here, shop].into_iter().flatten().any(|h| h.eq_ignore_ascii_case(&from)))
}

/// `POST /checkout` (a `GET` goes back to the cart).
pub(super) async fn checkout(mut req: Request, env: &Env) -> Result<Response> {
    match req.method() {
        Method::Post => {}
        Method::Get | Method::Head => {
            let mut r = Response::empty()?.with_status(303);
            r.headers_mut().set("location", "/cart/")?;
            return Ok(r);
        }
        _ => {
            let mut r = Response::error("POST only", 405)?;
            r.headers_mut().set("allow", "POST, GET")?;
            return Ok(r);
        }
    }
    // A checkout posted from another site (a page that sends the shop's
    // form with a cart id it chose): the customer is told to start it from
    // the shop's cart (the attack review).
    if from_another_site(&req) {
        console_warn!("{}", log_line!({ "event": "checkout_cross_site" }));
        return problem_page(CheckoutProblem::FromAnotherSite);
    }
    if super::body_fits(&req, MAX_BODY_BYTES).is_err() {
        return problem_page(CheckoutProblem::Cart(CartError::Malformed("the cart is too large")));
    }
    let form = req.headers().get("content-type").ok().flatten().unwrap_or_default();
    if !form.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return problem_page(CheckoutProblem::Cart(CartError::Malformed("not a form")));
    }
    let body = req.bytes().await.unwrap_or_default();
    let cart = match parse_cart(&body, manifest()) {
        Ok(cart) => cart,
        Err(error) => {
            console_log!("{}", log_line!({ "event": "checkout_refused", "code": error.code() }));
            return problem_page(CheckoutProblem::Cart(error));
        }
    };
    let (key, base) = match configuration(env) {
        Ok(configured) => configured,
        Err(detail) => {
            console_error!("{}", log_line!({ "event": "checkout_unconfigured", "detail": detail }));
            record_unavailable(env, &detail).await;
            return problem_page(CheckoutProblem::NotAvailable);
        }
    };
    if !within_checkout_limit(env, &req).await {
        console_warn!("{}", log_line!({ "event": "checkout_rate_limited" }));
        return problem_page(CheckoutProblem::TooMany);
    }
    if let Some((detail, line)) = undeliverable(env, &cart).await {
        console_error!("{}", log_line!({ "event": "checkout_undeliverable", "detail": detail }));
        record_unavailable(env, &detail).await;
        return problem_page(line.map_or(CheckoutProblem::NotAvailable, CheckoutProblem::ClipNotAvailable));
    }
    let origin = origin(&req)?;
    // The total sealed with the link-signing key, so that the webhook holds
    // the payment to it even if the catalog's prices change meanwhile; at
    // the start of the idempotency window, so that a double click sends
    // the same request (and gets the same session).
    let now = super::now_unix();
    let sealed_at = now - now % crate::payments::cart::IDEMPOTENCY_WINDOW_SECS;
    let keyring = super::keyring(env).ok();
    let priced = keyring
        .as_ref()
        .and_then(|r| r.primary())
        .map(|key| crate::payments::priced::seal(key, &cart.items(), &cart.currency, cart.total(), sealed_at));
    let body = encode_form(&session_params(&cart, &origin, priced.as_deref()));
    let client = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_default();
    let idempotency = cart.idempotency_key(&body, now, &random_hex(), &crate::recovery::client_network(&client));
    let call = session_request(&base, key.trim(), body, &idempotency);
    let answer = match execute(&call, STRIPE_TIMEOUT_SECS).await {
        Ok((status, body)) => session_answer(status, &body),
        Err(detail) => {
            console_error!("{}", log_line!({ "event": "checkout_provider_unreachable", "detail": detail }));
            return problem_page(CheckoutProblem::TryAgain);
        }
    };
    match answer {
        Ok(session) => {
            console_log!(
                "{}",
                log_line!({ "event": "checkout_started", "session": session.id, "clips": cart.slugs(), "total": cart.total(), "currency": cart.currency })
            );
            let mut r = Response::empty()?.with_status(303);
            r.headers_mut().set("location", &session.url)?;
            r.headers_mut().set("cache-control", "no-store")?;
            Ok(r)
        }
        Err(failure) => {
            console_error!(
                "{}",
                log_line!({ "event": "checkout_failed", "retry": failure.retry, "detail": failure.detail })
            );
            if failure.retry {
                return problem_page(CheckoutProblem::TryAgain);
            }
            record_unavailable(env, &failure.detail).await;
            problem_page(CheckoutProblem::NotAvailable)
        }
    }
}
