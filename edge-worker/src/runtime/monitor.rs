//! Monitoring glue: `GET /health`, the deep check `GET /admin/health`, the
//! catalog report `GET /admin/catalog` and the scheduled self-test with its
//! alerts (webhook and e-mail). The decisions are in [`crate::monitor`]; this file only
//! gathers facts from R2, D1 and the secrets, and delivers notices.

use std::cell::RefCell;

use clipstore_core::json::{Json, ToJson};
use clipstore_core::{Keyring, ManifestClip};
use wasm_bindgen::JsValue;
use worker::*;

use super::d1::Query;
use super::{bind, d1_error, json_error, json_response, manifest, now_unix, num, text};
use crate::error::DownloadError;
use crate::mail::messages::alert_mail;
use crate::mail::valid_address;
use crate::monitor::{
    self, clip_problem, health_report, hex, rotation, sql, Check, FailureThreshold, MonitorState, RunFindings,
    SoldCheck, SoldItem, StoredObject,
};
use crate::outbox::{self, MailKind};

/// A string binding (secret or plain var), trimmed; None when unset or empty.
pub(super) fn setting(env: &Env, name: &str) -> Option<String> {
    let value = env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()?;
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

pub(super) fn bucket(env: &Env) -> std::result::Result<Bucket, String> {
    env.bucket("CLIPS").map_err(|e| format!("the R2 binding CLIPS is missing or wrong: {e}"))
}

fn database(env: &Env) -> std::result::Result<D1Database, String> {
    env.d1("DB").map_err(|e| format!("the D1 binding DB is missing or wrong: {e}"))
}

/// Size, hash and ETag of an object; `Ok(None)` when it is missing.
pub(super) async fn stored_object(bucket: &Bucket, key: &str) -> std::result::Result<Option<StoredObject>, String> {
    let object = bucket.head(key).await.map_err(|e| format!("R2 head {key}: {e}"))?;
    Ok(object.map(|o| {
        let sha256 = o
            .checksum()
            .sha256
            .map(|d| hex(&d))
            .or_else(|| o.custom_metadata().ok().and_then(|m| m.get("sha256").map(|s| s.to_ascii_lowercase())));
        StoredObject { size: o.size(), sha256, etag: o.etag() }
    }))
}

async fn stored(bucket: &Bucket, clip: &ManifestClip) -> std::result::Result<Option<StoredObject>, String> {
    stored_object(bucket, &clip.object_key).await
}

/// The `signing_keys` check, and the keys as `[{key_id, fingerprint}]`
/// (the primary first; none when unusable): what `site-gen` compares the
/// key it mints links with against (`SigningKey::fingerprint`).
/// The `ledger_schema` problem of `db` (migrations this Worker needs that
/// it lacks), if any; `Err` when the applied ones could not be read.
pub(super) async fn schema_problem(db: &D1Database) -> std::result::Result<Option<String>, String> {
    let rows = bind(db, crate::ledger::sql::APPLIED_MIGRATIONS, &[])
        .map_err(|e| format!("{e:?}"))?
        .all_rows::<MigrationRow>()
        .await
        .map_err(|e| e.to_string())?;
    Ok(monitor::schema_problem(&rows.into_iter().map(|r| r.name).collect::<Vec<_>>()))
}

/// What sets `TOKEN_KEYS` right.
pub(super) const KEYS_FIX: &str =
    "`site-gen token keygen` makes a key and prints the command that sets it; paste its value without quotes";

/// Why `TOKEN_KEYS` cannot sign and verify links, if it cannot.
pub(super) fn keys_problem(env: &Env) -> Option<String> {
    match env.secret("TOKEN_KEYS").map(|s| s.to_string()) {
        Err(_) => Some("the TOKEN_KEYS secret is not set".into()),
        Ok(keys) => Keyring::from_env_string(&keys).err().map(|e| format!("TOKEN_KEYS is invalid: {e}")),
    }
}

fn signing_keys(env: &Env) -> (Check, Json) {
    match env.secret("TOKEN_KEYS").map(|s| s.to_string()) {
        Err(_) => (
            Check::fail(
                "signing_keys",
                format!("the TOKEN_KEYS secret is not set: no download link can be verified. {KEYS_FIX}"),
            ),
            Json::Array(Vec::new()),
        ),
        Ok(keys) => match Keyring::from_env_string(&keys) {
            Ok(ring) => {
                let mut detail = String::from("TOKEN_KEYS is set and valid:");
                let mut keys = Vec::new();
                for (i, key) in ring.keys().iter().enumerate() {
                    detail.push_str(if i == 0 { " " } else { ", " });
                    detail.push_str(key.key_id());
                    keys.push(Json::object([
                        ("key_id", key.key_id().to_json()),
                        ("fingerprint", key.fingerprint().to_json()),
                    ]));
                }
                (Check::pass("signing_keys", detail), Json::Array(keys))
            }
            Err(e) => (
                Check::fail("signing_keys", format!("TOKEN_KEYS is invalid: {e}. {KEYS_FIX}")),
                Json::Array(Vec::new()),
            ),
        },
    }
}

struct StateRow {
    state: String,
}
crate::from_row!(StateRow { state });

async fn load_state(db: &D1Database) -> std::result::Result<MonitorState, DownloadError> {
    let row =
        bind(db, sql::LOAD_STATE, &[])?.first_row::<StateRow>().await.map_err(|e| d1_error("monitor state", e))?;
    Ok(row.and_then(|r| MonitorState::from_json(&r.state).ok()).unwrap_or_default())
}

async fn save_state(db: &D1Database, state: &MonitorState) -> std::result::Result<(), DownloadError> {
    let json = state.to_json();
    super::batch(db, vec![bind(db, sql::SAVE_STATE, &[text(&json), num(now_unix())])?]).await.map(|_| ())
}

/// `GET /admin/health`: one entry per check, 200 or 503. `origin`: the
/// address it was asked at (`https://shop.example`).
pub async fn deep_health(env: &Env, origin: &str) -> Result<Response> {
    let shop = &manifest().shop;
    let mut checks = vec![monitor::catalog_check(manifest().clips.len(), shop)];
    let (keys_check, keys) = signing_keys(env);
    checks.push(keys_check);
    checks.push(match bucket(env) {
        Err(e) => Check::fail("storage", e),
        Ok(b) => match b.list().limit(1).execute().await {
            Ok(_) => Check::pass("storage", "R2 bucket reachable"),
            Err(e) => Check::fail("storage", format!("R2 list failed: {e}")),
        },
    });
    checks.push(super::secondary::health_check(env).await);
    // A run whose state D1 would not store (down, or refusing writes) is
    // known to this isolate, if it ran here, and to R2: its incident too,
    // whichever isolate answers.
    let state = match database(env) {
        Err(e) => Err(e),
        Ok(db) => Ok(match load_state(&db).await {
            Ok(stored) => Ok(monitor::latest_state(stored, remembered_state(env).await.0.as_ref())),
            Err(e) => Err(e),
        }),
    };
    // Right after a deploy, before the first scheduled self-test: a Worker
    // deployed before its migrations is told of here, not five minutes on.
    let mut migrations_missing = false;
    if let Ok(db) = database(env) {
        if let Some(problem) = super::checkout::migrations_missing(&db).await {
            checks.push(Check::fail("ledger_schema", problem));
            migrations_missing = true;
        }
    }
    let undelivered = state.as_ref().ok().and_then(|s| s.as_ref().ok()).and_then(|s| s.undelivered.clone());
    // A D1 that refuses writes answers this check's reads: one write of
    // its own, as the self-test makes, finds it now (the owner review: for
    // up to five minutes this said "D1 reachable" while every paid order
    // was refused). When D1 does not read either, the self-test's finding.
    let read = state.as_ref().ok().and_then(|s| s.as_ref().ok());
    let writes_refused = match (read, database(env)) {
        (Some(_), Ok(db)) => match (bind(&db, sql::WRITE_PROBE, &[]), bind(&db, sql::WRITE_PROBE_UNDO, &[])) {
            (Ok(probe), Ok(undo)) => super::batch(&db, vec![probe, undo]).await.err().map(|e| error_text(&e)),
            (Err(e), _) | (_, Err(e)) => Some(error_text(&e)),
        },
        _ => None,
    };
    checks.push(match state {
        Err(e) => Check::fail("ledger", e),
        Ok(state) => match state {
            // The cron runs every 5 minutes: silence for half an hour means
            // no self-test, no alert, no mail retried.
            Ok(state) if state.run_at > 0 && now_unix().saturating_sub(state.run_at) > 1800 => {
                Check::fail(
                    "ledger",
                    format!(
                        "the scheduled self-test last ran, or last saved its state, {} minutes ago: is the cron trigger gone ([triggers] crons in wrangler.toml, or disabled in the dashboard), or is D1 refusing writes? Without the cron no alert is sent and no e-mail retried",
                        now_unix().saturating_sub(state.run_at) / 60
                    ),
                )
            }
            Ok(state) if state.run_at == 0 => Check::pass(
                "ledger",
                "D1 reachable; the scheduled self-test has not run yet (every 5 minutes, with [triggers] crons in wrangler.toml)",
            ),
            Ok(state) => Check::pass(
                "ledger",
                match &state.incident {
                    Some(i) => {
                        format!("D1 reachable; the self-test has an open incident: {}", i.announced.join(", "))
                    }
                    None => "D1 reachable".to_string(),
                },
            ),
            // The self-test's words: missing tables are the migrations, any
            // other failure D1 not answering (an outage is no migration).
            Err(e) => Check::fail("ledger", monitor::ledger_down_problem(&error_text(&e))),
        },
    });
    if let Some(error) = writes_refused {
        checks.push(Check::fail("ledger_writes", monitor::writes_refused_problem(&error)));
    }
    checks.push(match (setting(env, "ALERT_WEBHOOK_URL"), undelivered) {
        (Some(url), _) if !crate::http_call::private_on_the_way(&url) => {
            Check::fail("alerts", "ALERT_WEBHOOK_URL must be an https:// address: no alert is posted to it")
        }
        // The channel is set, but the last alert reached no one: its
        // problems are in the checks above and in `open`.
        (_, Some(why)) => Check::fail(
            "alerts",
            format!(
                "the self-test's last alert reached you by no channel ({why}): fix ALERT_WEBHOOK_URL or ALERT_EMAIL; until then you hear of nothing (docs/monitoring.md)"
            ),
        ),
        (Some(_), None) => Check::pass("alerts", "ALERT_WEBHOOK_URL is set"),
        // ALERT_EMAIL has its own check (the mail provider's).
        (None, None) if setting(env, "ALERT_EMAIL").is_some() => {
            Check::pass("alerts", "ALERT_WEBHOOK_URL is not set: alerts go to ALERT_EMAIL")
        }
        (None, None) => Check::pass("alerts", "ALERT_WEBHOOK_URL is not set: alerts only go to the logs"),
    });
    // The cart is on every clip page: without a usable key its Checkout
    // answers "not available" (`site-gen doctor` weighs it against the
    // shop's Payment Links).
    // The checkout refuses every cart until they are applied (its
    // delivery check): said here too, not "opens Stripe's payment page".
    let schema_refusal = migrations_missing.then(|| {
        "every cart checkout answers \"Checkout is not available right now\" until the ledger has the migrations ledger_schema names".to_string()
    });
    checks.push(monitor::checkout_check(
        setting(env, "STRIPE_API_KEY").is_some(),
        checkout_misconfigured(env).or(schema_refusal),
        super::checkout::limiter(env).is_some(),
        // Test mode with a test key: only test cards pay.
        super::payments::test_mode(env)
            && setting(env, "STRIPE_API_KEY").is_some_and(|k| k.trim().starts_with("rk_test_")),
    ));
    if let Some(check) = stripe_webhook_check(env, origin).await {
        checks.push(check);
    }
    // Refused, or waiting past ALERT_MAIL_STUCK_MINUTES (the provider
    // answering 500): a shop alerted by mail only hears of neither until
    // mail goes again, so the check an uptime monitor or doctor reads
    // fails meanwhile (it had passed through a mail outage: the alerts review).
    let waiting = match database(env) {
        Ok(db) => stuck_mail(env, &db).await.ok().flatten().map(|(problem, _)| problem),
        Err(_) => None,
    };
    checks.push(match (super::mail::provider(env), waiting) {
        (Ok(Some(_)), Some(problem)) => Check::fail("mail", problem),
        (Ok(Some(provider)), None) => {
            Check::pass("mail", format!("Resend is configured; mail is sent as {}", provider.from()))
        }
        (Ok(None), _) => {
            Check::pass("mail", "no mail provider (RESEND_API_KEY is not set): e-mail stays in the outbox")
        }
        (Err(e), _) => Check::fail("mail", format!("{e}: e-mail stays in the outbox")),
    });
    let (status, mut body) = health_report(&checks);
    body.set("signing_keys", keys);
    // What `site-gen doctor` compares with content/site.toml's.
    body.set("base_url", shop.base_url.to_json());
    json_response(status, &body)
}

/// `GET /admin/keys`: the `signing_keys` check and the keys it names, as in
/// the deep check's answer, without the checks that ask R2, D1 or Stripe
/// (`site-gen token mint` asks it before every link). 200 or 503.
pub fn keys_report(env: &Env) -> Result<Response> {
    let (check, keys) = signing_keys(env);
    let (status, mut body) = health_report(std::slice::from_ref(&check));
    body.set("signing_keys", keys);
    json_response(status, &body)
}

/// The health check `stripe_webhook`: whether Stripe sends the events the
/// Worker acts on to its webhook route, at `origin` or the catalog's
/// address (`payments::stripe_endpoints`). None while the shop's checkout
/// is not configured (no usable key to ask with: the `checkout` check
/// says why).
async fn stripe_webhook_check(env: &Env, origin: &str) -> Option<Check> {
    let (key, base) = super::checkout::configuration(env).ok()?;
    let call = crate::payments::stripe_endpoints::list_request(&base, &key);
    // Short: the deep check waits for it, and `doctor` for the deep check.
    let mut verdict = match super::http::execute(&call, 5).await {
        Ok((status, body)) => {
            crate::payments::stripe_endpoints::judge(status, &body, &[origin, &manifest().shop.base_url])
        }
        Err(e) => Ok(format!("whether Stripe sends the shop's events was not checked: {e}")),
    };
    // And whether the cron can read back what the webhook misses.
    if let Ok(detail) = &mut verdict {
        let probe = crate::payments::stripe_events::probe_request(&base, &key);
        if let Ok((status, _)) = super::http::execute(&probe, 5).await {
            if let Some(warning) = crate::payments::stripe_events::probe_warning(status) {
                *detail = format!("{detail}; {warning}");
            }
        }
    }
    Some(match verdict {
        Ok(detail) => Check::pass("stripe_webhook", detail),
        Err(detail) => Check::fail("stripe_webhook", detail),
    })
}

/// `GET /admin/catalog?offset=&limit=`: each clip's object against the catalog.
pub async fn catalog_report(env: &Env, offset: u32, limit: u32) -> Result<Response> {
    let bucket = match bucket(env) {
        Ok(b) => b,
        Err(e) => return json_error(503, &e),
    };
    let all: Vec<(&String, &ManifestClip)> = super::catalog_files().iter().map(|(name, file)| (name, file)).collect();
    let secondary = super::secondary::config(env).ok().flatten();
    // Each clip is two subrequests with a secondary origin (its copy there
    // is asked too): a page of the default length stays within the Free
    // plan's 50 (the scale review: doctor's page of 40 made 80). Clients
    // page on by what they got.
    let limit = if secondary.is_some() { limit.min(crate::admin::CATALOG_DEFAULT_LIMIT / 2) } else { limit };
    let start = (offset as usize).min(all.len());
    let end = (start + limit as usize).min(all.len());
    let mut clips = Vec::new();
    for (slug, clip) in &all[start..end] {
        let found = match stored(&bucket, clip).await {
            Ok(found) => found,
            Err(e) => return json_error(503, &e),
        };
        let problem = clip_problem(clip, found.as_ref());
        let mut entry = Json::object([
            ("slug", slug.to_json()),
            ("object_key", clip.object_key.to_json()),
            ("size", clip.size.to_json()),
            ("sha256", clip.sha256.to_json()),
            ("found", found.to_json()),
            ("problem", problem.to_json()),
        ]);
        if let Some(config) = &secondary {
            entry.set("secondary", super::secondary::catalog_entry(config, clip).await);
        }
        clips.push(entry);
    }
    json_response(
        200,
        &Json::object([("total", all.len().to_json()), ("offset", start.to_json()), ("clips", Json::Array(clips))]),
    )
}

thread_local! {
    /// The last state this isolate produced: used when D1 cannot give one
    /// (one alert per isolate, not one per run) and when it is newer than
    /// D1's (D1 was down), so that incident still gets its recovered message.
    static LAST_STATE: RefCell<Option<MonitorState>> = const { RefCell::new(None) };
}

struct StuckRow {
    stuck: u64,
    oldest_age: u64,
    last_error: Option<String>,
}
crate::from_row!(StuckRow { stuck, oldest_age, last_error });

struct RefusedRow {
    refused: u64,
    oldest_age: u64,
    last_error: Option<String>,
}
crate::from_row!(RefusedRow { refused, oldest_age, last_error });

/// Mail waiting because the provider refuses the shop's key or sender
/// (`outbox::sql::OUTBOX_REFUSED`): the problem, if any.
async fn refused_mail(db: &D1Database) -> std::result::Result<Option<String>, String> {
    let row = bind(db, outbox::sql::OUTBOX_REFUSED, &[num(now_unix())])
        .map_err(|e| format!("{e:?}"))?
        .first_row::<RefusedRow>()
        .await
        .map_err(|e| format!("{e}"))?;
    Ok(row.and_then(|r| monitor::mail_refused_problem(r.refused, r.oldest_age, r.last_error.as_deref())))
}

/// The `mail_stuck` check: mail the provider refuses for the shop's key or
/// sender, at once (`true`: no mail goes, the owner's alerts neither);
/// otherwise messages unsent for longer than `ALERT_MAIL_STUCK_MINUTES`,
/// with what the Worker knows of the cause.
async fn stuck_mail(env: &Env, db: &D1Database) -> std::result::Result<Option<(String, bool)>, String> {
    if let Some(problem) = refused_mail(db).await? {
        return Ok(Some((problem, true)));
    }
    let minutes = monitor::mail_stuck_minutes(setting(env, "ALERT_MAIL_STUCK_MINUTES").as_deref());
    let row = bind(db, outbox::sql::OUTBOX_STUCK, &[num(now_unix()), num(minutes * 60)])
        .map_err(|e| format!("{e:?}"))?
        .first_row::<StuckRow>()
        .await
        .map_err(|e| format!("{e}"))?;
    let Some(row) = row else { return Ok(None) };
    // A provider that is set up but refuses (a revoked key, a domain not
    // verified: 401/403) says so in its last answer.
    let why = match super::mail::provider(env) {
        Ok(Some(_)) => row.last_error.map(|e| format!("the mail provider last answered: {e}")),
        Ok(None) => Some("no mail provider is configured (set the RESEND_API_KEY secret and MAIL_FROM)".to_string()),
        Err(e) => Some(e.to_string()),
    };
    Ok(monitor::mail_stuck_problem(row.stuck, row.oldest_age, minutes, why.as_deref()).map(|p| (p, false)))
}

crate::from_row!(SoldItem { slug, variant, orders });

/// Which catalog this Worker was built with: a digest of its manifest,
/// so that the self-test looks at live orders again after a deploy.
fn catalog_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        use sha2::Digest;
        hex(&sha2::Sha256::digest(super::MANIFEST_JSON.as_bytes())[..12])
    })
}

/// What orders that still download bought against the deployed catalog,
/// when due ([`SoldCheck::due`]); the finding of the last look otherwise.
async fn sold_check(db: &D1Database, previous: &MonitorState, findings: &mut RunFindings) {
    let (catalog, now) = (catalog_version(), now_unix());
    let previous = previous.sold_check();
    if SoldCheck::due(previous.as_ref(), catalog, now) {
        let sold = match bind(db, crate::ledger::sql::SOLD_ITEMS, &[num(now)]) {
            Ok(statement) => statement.all_rows::<SoldItem>().await.map_err(|e| format!("{e}")),
            Err(e) => Err(format!("{e:?}")),
        };
        match sold {
            Ok(sold) => {
                let problem = monitor::sold_gone_problem(manifest(), &sold);
                findings.sold_check = Some(SoldCheck { catalog: catalog.to_string(), at: now, problem });
            }
            Err(e) => {
                findings.unchecked.push("catalog_sold");
                console_error!("{}", log_line!({ "event": "monitor_sold_unread", "error": e }));
            }
        }
    }
    let last = findings.sold_check.as_ref().or(previous.as_ref().filter(|c| c.catalog == catalog));
    if let Some(problem) = last.and_then(|c| c.problem.clone()) {
        findings.system.push(("catalog_sold".into(), problem));
    }
}

struct WaitingRow {
    waiting: u64,
    from_page: u64,
    oldest: Option<u64>,
    newest: Option<u64>,
}
crate::from_row!(WaitingRow { waiting, from_page, oldest, newest });

/// Customers back from paying over the last day, for at least
/// [`monitor::ORDER_MISSING_MINUTES`], whose checkout's event from Stripe
/// has not arrived: without an order, or with one the success page made.
async fn orders_missing(db: &D1Database, reads_back: bool) -> std::result::Result<Option<(u64, String)>, String> {
    let now = now_unix();
    let until = now.saturating_sub(monitor::ORDER_MISSING_MINUTES * 60);
    let since = now.saturating_sub(86_400);
    let row = bind(db, crate::ledger::sql::PAID_WITHOUT_ORDER, &[num(until), num(since)])
        .map_err(|e| format!("{e:?}"))?
        .first_row::<WaitingRow>()
        .await
        .map_err(|e| format!("{e}"))?;
    Ok(row.and_then(|r| {
        let age = now.saturating_sub(r.oldest.unwrap_or(now));
        let problem = monitor::orders_missing_problem(r.waiting, r.from_page, age, reads_back)?;
        Some((r.newest.unwrap_or(0), problem))
    }))
}

/// Rows that need the owner: how many, the newest one's id, and a
/// description of one.
struct Matters {
    count: u64,
    newest: Option<u64>,
    latest: Option<String>,
}
crate::from_row!(Matters { count, newest, latest });

/// The problem `problem` makes of the rows `statement` counts (columns as
/// [`Matters`]), with the newest row's id for its key, so that a new one is
/// announced while the last is still open.
async fn newest_matters(
    db: &D1Database,
    statement: &str,
    values: &[JsValue],
    problem: fn(u64, Option<&str>) -> Option<String>,
) -> std::result::Result<Option<(u64, String)>, String> {
    let row = bind(db, statement, values)
        .map_err(|e| format!("{e:?}"))?
        .first_row::<Matters>()
        .await
        .map_err(|e| format!("{e}"))?;
    Ok(row.and_then(|r| Some((r.newest.unwrap_or(0), problem(r.count, r.latest.as_deref())?))))
}

/// Mail the provider refused for good in the last day: a customer without
/// their mail, which only the owner can fix.
async fn failed_mail(db: &D1Database) -> std::result::Result<Option<(u64, String)>, String> {
    let since = now_unix().saturating_sub(monitor::MAIL_FAILED_HOURS * 3600);
    newest_matters(db, outbox::sql::OUTBOX_FAILED_SINCE, &[num(since)], monitor::mail_failed_problem).await
}

/// Customers refused a resume of a clip they never received whole, in the
/// last [`monitor::DOWNLOADS_STUCK_HOURS`]: only the owner can help them.
async fn downloads_stuck(db: &D1Database) -> std::result::Result<Option<(u64, String)>, String> {
    let since = Date::now().as_millis().saturating_sub(monitor::DOWNLOADS_STUCK_HOURS * 3_600_000);
    let values = [num(since), num(now_unix())];
    newest_matters(db, crate::ledger::sql::DOWNLOADS_STUCK, &values, monitor::downloads_stuck_problem).await
}

/// Delayed payments announced [`monitor::PAYMENT_UNCONFIRMED_DAYS`] ago that
/// neither became an order nor failed: the confirming event is not arriving.
async fn payments_unconfirmed(db: &D1Database) -> std::result::Result<Option<(u64, String)>, String> {
    let (after, lasting) = monitor::PAYMENT_UNCONFIRMED_DAYS;
    let until = Date::now().as_millis().saturating_sub(after * 86_400_000);
    let since = until.saturating_sub(lasting * 86_400_000);
    let values = [num(until), num(since)];
    newest_matters(db, crate::ledger::sql::PAYMENTS_UNCONFIRMED, &values, monitor::payments_unconfirmed_problem).await
}

/// Paid checkouts refused because of the catalog that still have no
/// order: the customer paid and has no link until the owner acts.
async fn checkouts_refused(db: &D1Database) -> std::result::Result<Option<(u64, String)>, String> {
    let since = Date::now().as_millis().saturating_sub(monitor::CHECKOUT_REFUSED_DAYS * 86_400_000);
    newest_matters(db, crate::ledger::sql::CHECKOUTS_REFUSED, &[num(since)], monitor::checkouts_refused_problem).await
}

struct AttentionRow {
    /// The matter's first row.
    first_id: u64,
    order_id: Option<String>,
    outcome: String,
    detail: Option<String>,
    session_id: Option<String>,
}
crate::from_row!(AttentionRow { first_id, order_id, outcome, detail, session_id });

/// Partial refunds, refunds of unknown payments and price mismatches of the
/// last day (docs/payments.md): the owner decides about each.
async fn payments_needing_attention(db: &D1Database) -> std::result::Result<Option<(u64, String)>, String> {
    let since = Date::now().as_millis().saturating_sub(monitor::PAYMENT_ATTENTION_HOURS * 3_600_000);
    let rows: Vec<AttentionRow> = bind(db, crate::ledger::sql::PAYMENT_ATTENTION, &[num(since)])
        .map_err(|e| format!("{e:?}"))?
        .all_rows()
        .await
        .map_err(|e| format!("{e}"))?;
    // A matter is new when its first row is: the same one repeated (a
    // revoked key refusing each customer, Stripe retrying a checkout)
    // alerts once, not at every run.
    let newest = rows.iter().map(|r| r.first_id).max().unwrap_or(0);
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let mut detail = r.detail.unwrap_or_default();
            // A refused paid checkout: the owner makes its order with it.
            // (Recorded before the filled-in command was, it names the checkout.)
            if let (Some(session), "unknown_clip" | "no_clips" | "underpaid") = (r.session_id, r.outcome.as_str()) {
                if !detail.contains(crate::payments::BY_HAND) {
                    detail = format!("{detail}; checkout {session}");
                }
            }
            (r.order_id, r.outcome, detail)
        })
        .collect();
    Ok(monitor::payment_attention_problem(&rows).map(|p| (newest, p)))
}

/// A Stripe key that is set but cannot be used (or an API base that may
/// not be): every cart checkout fails until the owner fixes it. No key at
/// all is fine here (Payment Links only; `site-gen doctor` weighs it).
fn checkout_misconfigured(env: &Env) -> Option<String> {
    setting(env, "STRIPE_API_KEY")?;
    super::checkout::configuration(env).err().map(|e| format!("the cart's checkout cannot start: {e}"))
}

/// Puts the notice's mail to `ALERT_EMAIL`, if set, into the outbox (besides
/// the webhook); the scheduled run sends it right after the self-test.
/// When the outbox cannot take it (D1 is what failed), sends it at once:
/// a shop alerted by mail only heard nothing of a D1 outage, nor of its
/// end (the run kept no incident to recover from). `true` once it is in
/// the outbox or sent.
async fn mail_alert(env: &Env, db: std::result::Result<&D1Database, &String>, notice: &monitor::Notice) -> bool {
    let Some(to) = setting(env, "ALERT_EMAIL") else { return false };
    if !valid_address(&to) {
        console_error!(
            "{}",
            log_line!({ "event": "alert_mail_not_queued", "error": "ALERT_EMAIL is not an e-mail address" })
        );
        return false;
    }
    let shop = &manifest().shop;
    let mail = alert_mail(shop, &to, &notice.subject(&shop.title), &notice.text(&shop.title));
    let queued = match db {
        Ok(db) => super::mail::queue(db, MailKind::Alert, None, &mail).await.map_err(|e| format!("{e:?}")),
        Err(e) => Err(e.clone()),
    };
    let Err(e) = queued else { return true };
    console_error!("{}", log_line!({ "event": "alert_mail_not_queued", "error": e }));
    match super::mail::send_now(env, &mail, &format!("clipstore-alert-{}", now_unix())).await {
        Ok(id) => {
            console_warn!("{}", log_line!({ "event": "alert_mail_sent_directly", "provider_id": id }));
            true
        }
        Err(e) => {
            console_error!("{}", log_line!({ "event": "alert_mail_not_sent", "error": e }));
            false
        }
    }
}

struct MigrationRow {
    name: String,
}
crate::from_row!(MigrationRow { name });

struct FailureRow {
    total: u64,
    failed: u64,
    outcome: Option<String>,
}
crate::from_row!(FailureRow { total, failed, outcome });

/// The scheduled self-test: check a slice of the catalog, the storage, the
/// ledger, the keys and the failure rate; alert or report recovery.
/// `merge_failed`: why this run's merge of R2's fallback records failed.
pub async fn self_test(env: &Env, merge_failed: Option<String>) {
    let catalog: Vec<(&String, &ManifestClip)> =
        super::catalog_files().iter().map(|(name, file)| (name, file)).collect();
    let mut findings =
        RunFindings { catalog: catalog.iter().map(|(s, _)| (*s).clone()).collect(), ..RunFindings::default() };
    // Whether the mail provider refuses the shop's key (`mail_stuck`).
    let mut mail_refused = false;
    let db = database(env);
    let previous = match &db {
        Ok(db) => load_state(db).await.map_err(|e| monitor::ledger_down_problem(&error_text(&e))),
        Err(e) => Err(e.clone()),
    };
    let (remembered, kept_in_r2) = remembered_state(env).await;
    let read = previous.is_ok();
    let previous = match previous {
        Ok(state) => monitor::latest_state(state, remembered.as_ref()),
        Err(e) => {
            findings.system.push(("ledger".into(), e));
            remembered.unwrap_or_default()
        }
    };
    // D1 that reads but refuses writes (full, read-only) fails every
    // Stripe event and every download record, and passes every read: one
    // write, of the state as it is, tells it.
    match (&db, read) {
        (Ok(db), true) => {
            if let Err(e) = save_state(db, &previous).await {
                findings.system.push(("ledger_writes".into(), monitor::writes_refused_problem(&error_text(&e))));
            }
        }
        // Reads fail too: whether it takes writes is not known, not cleared.
        _ => findings.unchecked.push("ledger_writes"),
    }

    let per_run = setting(env, "MONITOR_CLIPS_PER_RUN")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(monitor::DEFAULT_CLIPS_PER_RUN);
    let per_run = super::secondary::clips_per_run(env, per_run);
    let (range, next) = rotation(catalog.len(), per_run, previous.cursor);
    findings.next_cursor = next;
    super::secondary::self_test(env, &catalog[range.clone()], db.as_ref().ok(), &mut findings).await;
    match bucket(env) {
        Err(e) => {
            findings.system.push(("storage".into(), e));
            findings.unchecked.push("ledger_set_aside");
            findings.next_cursor = previous.cursor;
        }
        Ok(bucket) => {
            for (slug, clip) in &catalog[range] {
                match stored(&bucket, clip).await {
                    Ok(found) => findings.clips.push(((*slug).clone(), clip_problem(clip, found.as_ref()))),
                    Err(e) => {
                        findings.system.push(("storage".into(), e));
                        findings.next_cursor = previous.cursor;
                        break;
                    }
                }
            }
            let set_aside = bucket.list().prefix(crate::ledger::QUARANTINE_PREFIX).limit(100).execute().await;
            match set_aside {
                Ok(listing) => {
                    let keys: Vec<String> = listing.objects().iter().map(|o| o.key()).collect();
                    if let Some(problem) = monitor::set_aside_problem(keys.len(), keys.first().map(String::as_str)) {
                        findings.system.push(("ledger_set_aside".into(), problem));
                    }
                }
                Err(_) => findings.unchecked.push("ledger_set_aside"),
            }
        }
    }
    let (keys, _) = signing_keys(env);
    if !keys.ok {
        findings.system.push(("signing_keys".into(), keys.detail));
    }
    // A Worker deployed on `site-gen init`'s placeholder address: told to
    // an owner who does not run doctor, before a customer writes in.
    let shop = monitor::catalog_check(catalog.len(), &manifest().shop);
    if !shop.ok {
        findings.system.push(("catalog_manifest".into(), shop.detail));
    }
    if db.is_err() {
        // Not run: what they found last is not said to have cleared.
        findings.unchecked.extend(monitor::CHECKS_OF_THE_LEDGER);
    }
    if let Ok(db) = &db {
        // A query that fails here is the `ledger` problem's, found elsewhere.
        if let Ok(Some(problem)) = schema_problem(db).await {
            findings.system.push(("ledger_schema".into(), problem));
        }
        let threshold = FailureThreshold::from_vars(
            setting(env, "ALERT_FAILURE_RATE").as_deref(),
            setting(env, "ALERT_MIN_ATTEMPTS").as_deref(),
            setting(env, "ALERT_WINDOW_MINUTES").as_deref(),
        );
        let since_ms = Date::now().as_millis().saturating_sub(threshold.window_minutes * 60_000);
        let counted = match bind(db, sql::FAILURE_COUNTS, &[num(since_ms)]) {
            Ok(statement) => statement.first_row::<FailureRow>().await.map_err(|e| format!("{e}")),
            Err(e) => Err(format!("{e:?}")),
        };
        match counted {
            Ok(Some(row)) => {
                let open = previous.incident.as_ref().is_some_and(|i| i.announced.iter().any(|k| k == "failure_rate"));
                if let Some(problem) = threshold.judge(row.failed, row.total, open) {
                    let cause = FailureThreshold::failure_cause(row.outcome.as_deref());
                    findings.system.push(("failure_rate".into(), format!("{problem}{cause}")));
                }
            }
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("failure_rate");
                if !findings.system.iter().any(|(k, _)| k == "ledger") {
                    findings.system.push(("ledger".into(), format!("D1 failure count: {e}")));
                }
            }
        }
        match payments_needing_attention(db).await {
            Ok(Some((newest, problem))) => findings.system.push((format!("payments#{newest}"), problem)),
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("payments");
                console_error!("{}", log_line!({ "event": "monitor_payments_unread", "error": e }))
            }
        }
        match payments_unconfirmed(db).await {
            Ok(Some((newest, problem))) => findings.system.push((format!("payments_unconfirmed#{newest}"), problem)),
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("payments_unconfirmed");
                console_error!("{}", log_line!({ "event": "monitor_payments_unread", "error": e }))
            }
        }
        match checkouts_refused(db).await {
            // One problem while any customer waits: Stripe's retries of a
            // refused checkout each alert as `payments` already.
            Ok(Some((_, problem))) => findings.system.push(("checkouts_refused".into(), problem)),
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("checkouts_refused");
                console_error!("{}", log_line!({ "event": "monitor_payments_unread", "error": e }))
            }
        }
        if let Some(problem) = checkout_misconfigured(env) {
            findings.system.push(("checkout".into(), problem));
        }
        // Before the look at missing orders: the orders it makes are not.
        // Only from the reading D1 holds: one begun afresh here would skip
        // what the webhook missed before it.
        let reads_back =
            read && super::missed_events::read_back(env, db, previous.stripe_reading(), &mut findings).await;
        if !read {
            findings.unchecked.push("stripe_undelivered");
        }
        sold_check(db, &previous, &mut findings).await;
        match orders_missing(db, reads_back).await {
            // One problem while it lasts, not one per checkout: anyone can
            // ask for the success page of a made-up session.
            Ok(Some((_, problem))) => findings.system.push(("orders_missing".into(), problem)),
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("orders_missing");
                console_error!("{}", log_line!({ "event": "monitor_orders_unread", "error": e }))
            }
        }
        // One problem while it lasts: anyone can post to the webhook.
        let since_ms = Date::now().as_millis().saturating_sub(3_600_000);
        match newest_matters(
            db,
            crate::ledger::sql::WEBHOOK_REFUSED,
            &[num(since_ms)],
            monitor::webhook_refused_problem,
        )
        .await
        {
            Ok(Some((_, problem))) => findings.system.push(("webhook_refused".into(), problem)),
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("webhook_refused");
                console_error!("{}", log_line!({ "event": "monitor_webhook_unread", "error": e }))
            }
        }
        // One problem while it lasts: anyone can send made-up links.
        let since_ms = Date::now().as_millis().saturating_sub(3_600_000);
        let values = [num(since_ms / 60_000), num(since_ms)];
        match newest_matters(db, crate::ledger::sql::LINKS_REFUSED_KEY, &values, monitor::links_refused_problem).await {
            Ok(Some((_, problem))) => findings.system.push(("links_refused".into(), problem)),
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("links_refused");
                console_error!("{}", log_line!({ "event": "monitor_refusals_unread", "error": e }))
            }
        }
        match downloads_stuck(db).await {
            Ok(Some((newest, problem))) => findings.system.push((format!("downloads_stuck#{newest}"), problem)),
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("downloads_stuck");
                console_error!("{}", log_line!({ "event": "monitor_downloads_unread", "error": e }))
            }
        }
        match failed_mail(db).await {
            Ok(Some((newest, problem))) => findings.system.push((format!("mail_failed#{newest}"), problem)),
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("mail_failed");
                console_error!("{}", log_line!({ "event": "monitor_outbox_unread", "error": e }))
            }
        }
        match stuck_mail(env, db).await {
            Ok(Some((problem, refused))) => {
                mail_refused = refused;
                findings.system.push(("mail_stuck".into(), problem))
            }
            Ok(None) => {}
            Err(e) => {
                findings.unchecked.push("mail_stuck");
                if !findings.system.iter().any(|(k, _)| k == "ledger") {
                    findings
                        .system
                        .push(("ledger".into(), format!("D1 outbox: {e} (is migrations/0006_outbox.sql applied?)")));
                }
            }
        }
    }

    // D1 that reads but refuses writes (full, read-only): downloads go on,
    // counted in R2, and every merge fails; no other check sees it.
    if let Some(e) = merge_failed {
        // (A missing migration, `ledger_schema`, also makes merges fail.)
        if !findings
            .system
            .iter()
            .any(|(k, _)| matches!(k.as_str(), "ledger" | "ledger_writes" | "storage" | "ledger_schema"))
        {
            findings.system.push(("ledger_merge".into(), monitor::merge_failed_problem(&e)));
        }
    }
    let (mut state, notice) = monitor::conclude(&previous, &findings, now_unix());
    if let Some(notice) = &notice {
        let body = notice.webhook_json(&manifest().shop.title);
        console_error!("{}", log_line!({ "event": "monitor_notice", "notice": body.get("clipstore") }));
        let webhook = setting(env, "ALERT_WEBHOOK_URL");
        // A shop without a channel has its notices in the logs only: that
        // is their delivery, and its incidents are still kept.
        let mut delivered = webhook.is_none() && setting(env, "ALERT_EMAIL").is_none();
        let mut why = String::from("ALERT_EMAIL's mail could not be queued or sent");
        if let Some(url) = webhook {
            match post_json(&url, &body).await {
                Ok(()) => delivered = true,
                Err(e) => {
                    console_error!("{}", log_line!({ "event": "alert_not_delivered", "error": e }));
                    why = format!("ALERT_WEBHOOK_URL: {e}");
                }
            }
        }
        // The mail goes too when the webhook failed (a revoked hook is
        // what ALERT_EMAIL is kept for); not while the provider refuses the
        // shop's key: it would wait with the rest, one more each run, and
        // all go at once after the fix.
        if mail_refused && setting(env, "ALERT_EMAIL").is_some() {
            if !delivered {
                why = "the mail provider refuses the shop's key or sender, so ALERT_EMAIL's mail cannot go".into();
            }
        } else {
            delivered |= mail_alert(env, db.as_ref(), notice).await;
        }
        if !delivered {
            // Sent again next run; the rest of the run (the clips checked,
            // the cursor) is kept.
            state = monitor::undelivered(state, &previous, why);
        }
    }
    LAST_STATE.with(|s| *s.borrow_mut() = Some(state.clone()));
    let saved = match &db {
        Ok(db) => save_state(db, &state).await.map_err(|e| format!("{e:?}")),
        Err(e) => Err(e.clone()),
    };
    match saved {
        // D1 has it all again: the copy would only be stale.
        Ok(()) if kept_in_r2 => {
            let deleted = match bucket(env) {
                Ok(b) => b.delete(monitor::STATE_COPY_KEY).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            // Tried again next run; meanwhile D1's newer state wins over it.
            if let Err(e) = deleted {
                console_error!("{}", log_line!({ "event": "monitor_state_copy_not_deleted", "error": e }));
            }
        }
        Ok(()) => {}
        Err(e) => {
            console_error!("{}", log_line!({ "event": "monitor_state_not_saved", "error": e }));
            keep_state(env, &state).await;
        }
    }
}

/// A D1 failure in words for the owner (the driver's message), not as a
/// Rust value.
pub(super) fn error_text(e: &DownloadError) -> String {
    match e {
        DownloadError::Unavailable { detail } => detail.clone(),
        other => format!("{other:?}"),
    }
}

/// What this isolate remembers of its last run, or what a run D1 could not
/// store kept in R2, whichever is newer and recent
/// ([`monitor::remembered`]): what D1 may not know (an incident opened while
/// it failed); and whether R2 has a copy (readable or not), to delete once
/// D1 has the state.
async fn remembered_state(env: &Env) -> (Option<MonitorState>, bool) {
    let (kept, in_r2) = kept_state(env).await;
    (monitor::remembered(LAST_STATE.with(|s| s.borrow().clone()), kept, now_unix()), in_r2)
}

/// The state a run kept in R2 because D1 could not store it
/// ([`monitor::STATE_COPY_KEY`]), None when it cannot be read or parsed;
/// and whether there may be a copy (false only when R2 said there is none).
async fn kept_state(env: &Env) -> (Option<MonitorState>, bool) {
    let Ok(bucket) = bucket(env) else { return (None, false) };
    let object = match bucket.get(monitor::STATE_COPY_KEY).execute().await {
        Ok(Some(object)) => object,
        Ok(None) => return (None, false),
        Err(_) => return (None, true),
    };
    let text = match object.body() {
        Some(body) => body.text().await.ok(),
        None => None,
    };
    (text.and_then(|t| MonitorState::from_json(&t).ok()), true)
}

/// Keeps `state` in R2 for the next run, which may be another isolate.
async fn keep_state(env: &Env, state: &MonitorState) {
    let written = match bucket(env) {
        Ok(b) => b.put(monitor::STATE_COPY_KEY, state.to_json()).execute().await.map(|_| ()).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        console_error!("{}", log_line!({ "event": "monitor_state_not_kept", "error": e }));
    }
}

async fn post_json(url: &str, body: &Json) -> std::result::Result<(), String> {
    if !crate::http_call::private_on_the_way(url) {
        return Err("ALERT_WEBHOOK_URL is not an https:// address".into());
    }
    let headers = Headers::new();
    headers.set("content-type", "application/json").map_err(|e| e.to_string())?;
    let body = clipstore_core::json::to_string_sorted(body);
    let request = super::http::new_request(url, Method::Post, &headers, Some(&body))
        .map_err(|e| format!("webhook request: {e}"))?;
    let response = Fetch::Request(request).send().await.map_err(|e| format!("webhook POST: {e}"))?;
    match response.status_code() {
        200..=299 => Ok(()),
        status => Err(format!("webhook answered {status}")),
    }
}
