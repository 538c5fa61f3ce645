//! Monitoring decisions: the deep health report, the scheduled self-test's
//! catalog check and rotation, the failure-rate rule, and when to alert.
//! The wording of each problem the owner is told of is in `problems.rs`.
//!
//! Plain Rust, tested natively. The glue (`runtime/monitor.rs`, wasm32 only)
//! reads R2, D1 and the secrets, feeds the facts in here, stores the
//! returned [`MonitorState`] in D1 (`migrations/0003_monitor.sql`) and sends
//! the returned [`Notice`] to the webhook and by e-mail (`ALERT_EMAIL`). See
//! `docs/monitoring.md`.
//!
//! One alert per incident: a notice goes out when the first problem appears,
//! again only when a problem that was not announced yet appears while the
//! incident is open, a "cleared" notice when an announced problem is gone
//! while others stay, and a "recovered" notice when no problem is left.

use std::ops::Range;

use clipstore_core::json::{self, Fields, FromJson, Json, JsonError, ToJson};
use clipstore_core::json_fields;
use clipstore_core::{CatalogManifest, ManifestClip};

use clipstore_core::SortedMap;

use crate::payments::stripe_events::Position;

mod problems;
pub use problems::*;

/// One line of the deep health check (`GET /admin/health`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl ToJson for Check {
    fn to_json(&self) -> Json {
        Json::object([("name", self.name.to_json()), ("ok", self.ok.to_json()), ("detail", self.detail.to_json())])
    }
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, ok: true, detail: detail.into() }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, ok: false, detail: detail.into() }
    }
}

/// The health check `catalog_manifest`: the embedded catalog has `clips`,
/// and its `shop` no `site-gen init` placeholder. Orders made from
/// Stripe's answer link to the shop's address, and every mail's pages and
/// contact do (the deploy review: a paid customer's mail linked to
/// https://change-me.example).
pub fn catalog_check(clips: usize, shop: &clipstore_core::ShopInfo) -> Check {
    let placeholders = shop.placeholders();
    if clips == 0 {
        Check::fail("catalog_manifest", "the embedded catalog has no clips")
    } else if !placeholders.is_empty() {
        Check::fail(
            "catalog_manifest",
            format!(
                "the Worker was built with site-gen init's placeholder (change-me) in content/site.toml's {}: the links and the address in customers' mails lead nowhere. Set the shop's own, then build the site, then the Worker, and deploy (docs/deploy.md, step 5)",
                placeholders.join(" and ")
            ),
        )
    } else {
        Check::pass("catalog_manifest", format!("{clips} clips; the shop's address: {}", shop.base_url))
    }
}

/// The health check `checkout`: whether the cart's Checkout can open a
/// payment page (`key_set`, and `problem`: why the key or the API base
/// cannot be used), and whether checkouts are rate limited (`limited`: the
/// `CHECKOUT_LIMITER` binding is there). `site-gen doctor` weighs a key not
/// set against the shop's Payment Links, and warns on no limit.
pub fn checkout_check(key_set: bool, problem: Option<String>, limited: bool, test_mode: bool) -> Check {
    match (key_set, problem) {
        (false, _) => {
            Check::pass("checkout", "STRIPE_API_KEY is not set: the cart's Checkout cannot open a payment page")
        }
        (true, Some(problem)) => Check::fail("checkout", problem),
        (true, None) => {
            let mut detail = "STRIPE_API_KEY is set: the cart's Checkout opens Stripe's payment page".to_string();
            if test_mode {
                // Left on in a live shop, customers cannot pay, and Stripe's
                // test cards would buy clips: `site-gen doctor` weighs it.
                detail.push_str(TEST_MODE_NOTE);
            }
            if !limited {
                detail.push_str(
                    "; checkouts are not rate limited \
                     (no CHECKOUT_LIMITER binding: the [[ratelimits]] block of the shop's wrangler.toml, docs/payments.md)",
                );
            }
            Check::pass("checkout", detail)
        }
    }
}

/// What the `checkout` check adds in test mode (`STRIPE_TEST_MODE`) with
/// a test key (`rk_test_`).
pub const TEST_MODE_NOTE: &str = "; in test mode (STRIPE_TEST_MODE = \"true\"): only Stripe's test cards pay";

/// The deep health answer: 200 when every check passed, else 503.
pub fn health_report(checks: &[Check]) -> (u16, Json) {
    let ok = checks.iter().all(|c| c.ok);
    (if ok { 200 } else { 503 }, Json::object([("ok", ok.to_json()), ("checks", checks.to_json())]))
}

/// The liveness answer (`GET /health`): no secrets, no storage calls.
pub fn liveness() -> Json {
    Json::object([("ok", true.to_json()), ("service", "clipstore".to_json())])
}

/// What R2 reports for a clip's object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    /// Lower-case hex SHA-256, when R2 has one (checksum or `sha256` custom metadata).
    pub sha256: Option<String>,
    pub etag: String,
}
json_fields!(StoredObject { size, sha256, etag });

/// What is wrong with one catalog clip in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipProblem {
    Missing,
    WrongSize { expected: u64, found: u64 },
    WrongHash { expected: String, found: String },
}

/// `{"problem": "wrong_size", "expected": …, "found": …}`: the kind under
/// `problem`, then its fields.
impl ToJson for ClipProblem {
    fn to_json(&self) -> Json {
        let (kind, expected, found) = match self {
            ClipProblem::Missing => return Json::object([("problem", "missing".to_json())]),
            ClipProblem::WrongSize { expected, found } => ("wrong_size", expected.to_json(), found.to_json()),
            ClipProblem::WrongHash { expected, found } => ("wrong_hash", expected.to_json(), found.to_json()),
        };
        Json::object([("problem", kind.to_json()), ("expected", expected), ("found", found)])
    }
}

impl ClipProblem {
    pub fn describe(&self) -> String {
        match self {
            ClipProblem::Missing => {
                "missing from the bucket, so its buyers cannot download it (unless a secondary origin has it): \
                 `site-gen push` uploads it"
                    .to_string()
            }
            ClipProblem::WrongSize { expected, found } => {
                format!("wrong size: {found} bytes in the bucket, the catalog says {expected}")
            }
            ClipProblem::WrongHash { expected, found } => {
                format!("wrong sha256: {found} in the bucket, the catalog says {expected}")
            }
        }
    }
}

/// Compares an object (None: not in the bucket) with its catalog entry. A
/// hash is compared only when both sides know it.
pub fn clip_problem(expected: &ManifestClip, stored: Option<&StoredObject>) -> Option<ClipProblem> {
    let Some(stored) = stored else {
        return Some(ClipProblem::Missing);
    };
    if stored.size != expected.size {
        return Some(ClipProblem::WrongSize { expected: expected.size, found: stored.size });
    }
    match (&expected.sha256, &stored.sha256) {
        (Some(e), Some(f)) if !e.eq_ignore_ascii_case(f) => {
            Some(ClipProblem::WrongHash { expected: e.to_ascii_lowercase(), found: f.to_ascii_lowercase() })
        }
        _ => None,
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Default number of clips the scheduled check heads per run. Every R2 call
/// is a subrequest; the Free plan allows 50 per invocation.
pub const DEFAULT_CLIPS_PER_RUN: usize = 40;

/// The catalog indexes (in slug order) to check this run, and the cursor for
/// the next one. A catalog no larger than `per_run` is checked whole every run.
pub fn rotation(total: usize, per_run: usize, cursor: usize) -> (Range<usize>, usize) {
    let per_run = per_run.max(1);
    if total <= per_run {
        return (0..total, 0);
    }
    let start = if cursor >= total { 0 } else { cursor };
    let end = (start + per_run).min(total);
    (start..end, if end >= total { 0 } else { end })
}

/// When the share of failed downloads (5xx) counts as a problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureThreshold {
    /// Fraction of attempts, 0..=1.
    pub rate: f64,
    /// Fewer attempts than this in the window never alert.
    pub min_attempts: u64,
    /// The window, in minutes.
    pub window_minutes: u64,
}

impl Default for FailureThreshold {
    fn default() -> Self {
        FailureThreshold { rate: 0.2, min_attempts: 5, window_minutes: 15 }
    }
}

impl FailureThreshold {
    /// Reads `ALERT_FAILURE_RATE` (e.g. `0.2`), `ALERT_MIN_ATTEMPTS` and
    /// `ALERT_WINDOW_MINUTES`; anything unparsable keeps the default.
    pub fn from_vars(rate: Option<&str>, min_attempts: Option<&str>, window: Option<&str>) -> FailureThreshold {
        let d = FailureThreshold::default();
        FailureThreshold {
            rate: rate.and_then(|r| r.trim().parse().ok()).filter(|r: &f64| (0.0..=1.0).contains(r)).unwrap_or(d.rate),
            min_attempts: min_attempts.and_then(|m| m.trim().parse().ok()).unwrap_or(d.min_attempts),
            window_minutes: window.and_then(|w| w.trim().parse().ok()).filter(|w| *w > 0).unwrap_or(d.window_minutes),
        }
    }

    /// What the `failure_rate` problem adds of how most attempts failed
    /// (their `outcome`) and what it means: the count alone gave the owner
    /// no cause (the outage review).
    pub fn failure_cause(outcome: Option<&str>) -> &'static str {
        match outcome {
            Some("storage_unavailable") => {
                ", most because the clip's storage did not serve it (R2 failing, or the secondary origin too): \
                 nothing was charged for them and customers were told to try again; see Cloudflare's status page, \
                 and `wrangler tail` for the errors"
            }
            Some("paused_offline") => {
                ", most because the ledger (D1) was down and their links had taken what they may meanwhile: they \
                 download again once D1 is back"
            }
            _ => ": `site-gen orders export` lists each attempt's outcome, and `wrangler tail` the errors",
        }
    }

    /// A problem description when `failed` of `total` attempts pass the
    /// threshold. Once announced (`open`), it stays a problem until fewer
    /// than half the threshold fail, with downloads seen in the window: a
    /// rate hovering at the threshold would otherwise alert and clear at
    /// every run, and a quiet hour is no sign that downloads work again.
    pub fn judge(&self, failed: u64, total: u64, open: bool) -> Option<String> {
        let percent = |rate: f64| (rate * 100.0).round() as u32;
        let window = self.window_minutes;
        if open {
            return match total {
                0 => Some(format!(
                    "download attempts were failing, and none came in the last {window} minutes to show they work again"
                )),
                _ if (failed as f64) < self.rate / 2.0 * total as f64 => None,
                _ => Some(format!(
                    "{failed} of {total} download attempts failed in the last {window} minutes (at least {}% opened this, under {}% clears it)",
                    percent(self.rate),
                    percent(self.rate / 2.0)
                )),
            };
        }
        if total == 0 || total < self.min_attempts || (failed as f64) < self.rate * total as f64 || failed == 0 {
            return None;
        }
        Some(format!(
            "{failed} of {total} download attempts failed in the last {window} minutes (threshold {}%)",
            percent(self.rate)
        ))
    }
}

/// Problem keys: `clip:<slug>` for catalog clips, else a check name
/// (`storage`, `ledger`, `signing_keys`, `failure_rate`, `mail_stuck`,
/// `checkout`, …). Checks of events that keep coming (`payments`,
/// `mail_failed`) add `#<newest id>`, so that a new one is announced even
/// while the last is still within its window.
pub const CLIP_PREFIX: &str = "clip:";

/// What the monitor remembers between runs (one JSON row in D1; every
/// field may be absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorState {
    /// Next catalog index to check (see [`rotation`]).
    pub cursor: usize,
    /// Clip problems found so far (kept until that clip is checked again).
    pub clip_problems: SortedMap<String>,
    /// The open incident, if any.
    pub incident: Option<Incident>,
    /// When the run that produced this state ran (unix seconds).
    pub run_at: u64,
    /// The last look at what live orders bought against the catalog
    /// ([`SoldCheck`], kept flat: one reader less in the module).
    pub sold_catalog: String,
    pub sold_at: u64,
    pub sold_problem: Option<String>,
    /// The reading of Stripe's undelivered events ([`StripeReading`], kept
    /// flat as the sold check is).
    pub events_after: u64,
    pub events_until: u64,
    pub events_cursor: Option<String>,
    pub events_missed: u64,
    pub events_missed_at: u64,
    /// Why this run's notice reached the owner by no channel (a webhook
    /// gone, mail failing); None when it was delivered, or there was none.
    /// The deep health check fails on it: the owner hears nothing else.
    pub undelivered: Option<String>,
}
json_fields!(MonitorState {
    #[default]
    cursor,
    #[default]
    clip_problems,
    #[default]
    incident,
    #[default]
    run_at,
    #[default]
    sold_catalog,
    #[default]
    sold_at,
    #[default]
    sold_problem,
    #[default]
    events_after,
    #[default]
    events_until,
    #[default]
    events_cursor,
    #[default]
    events_missed,
    #[default]
    events_missed_at,
    #[default]
    undelivered
});

/// Where the cron's reading of Stripe's undelivered events stands, and how
/// many it acted on since the webhook began failing
/// (`payments::stripe_events`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeReading {
    pub position: Position,
    pub missed: u64,
    pub missed_at: u64,
}

#[cfg(test)]
impl MonitorState {
    /// A state of a run at `run_at` with a reading of Stripe's events
    /// under way (a window, a cursor, two events read back).
    pub(crate) fn reading_under_way(run_at: u64) -> MonitorState {
        MonitorState {
            run_at,
            events_after: 100,
            events_until: 150,
            events_cursor: Some("evt_1".into()),
            events_missed: 2,
            events_missed_at: 90,
            ..MonitorState::default()
        }
    }
}

impl MonitorState {
    /// Where the reading of Stripe's undelivered events stands.
    pub fn stripe_reading(&self) -> StripeReading {
        StripeReading {
            position: Position {
                after: self.events_after,
                until: self.events_until,
                cursor: self.events_cursor.clone(),
            },
            missed: self.events_missed,
            missed_at: self.events_missed_at,
        }
    }

    /// Keeps `reading` in the state's flat fields.
    pub fn set_stripe_reading(&mut self, reading: StripeReading) {
        let StripeReading { position: Position { after, until, cursor }, missed, missed_at } = reading;
        (self.events_after, self.events_until, self.events_cursor) = (after, until, cursor);
        (self.events_missed, self.events_missed_at) = (missed, missed_at);
    }

    /// The last look at live orders' items, if one was taken.
    pub fn sold_check(&self) -> Option<SoldCheck> {
        (!self.sold_catalog.is_empty()).then(|| SoldCheck {
            catalog: self.sold_catalog.clone(),
            at: self.sold_at,
            problem: self.sold_problem.clone(),
        })
    }
}

/// How often the bought items of live orders are checked against the
/// deployed catalog when the catalog has not changed (orders ending can
/// clear a problem; a new catalog is checked at its first run).
pub const SOLD_CHECK_SECS: u64 = 6 * 3600;

/// The self-test's look at what orders that still download bought,
/// against the deployed catalog: run when the catalog changed (a deploy)
/// or every [`SOLD_CHECK_SECS`] (it reads every live order), its finding
/// kept in between.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoldCheck {
    /// Which catalog it looked at (a digest of the manifest).
    pub catalog: String,
    /// When (unix seconds).
    pub at: u64,
    /// What it found, if anything ([`sold_gone_problem`]).
    pub problem: Option<String>,
}

impl SoldCheck {
    /// Whether a run at `now` with the catalog `catalog` looks again.
    pub fn due(last: Option<&SoldCheck>, catalog: &str, now: u64) -> bool {
        last.is_none_or(|c| c.catalog != catalog || now >= c.at + SOLD_CHECK_SECS)
    }
}

/// One item bought in orders that still download: the clip, the file
/// (variant; None for the main one) and in how many orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoldItem {
    pub slug: String,
    pub variant: Option<String>,
    pub orders: u64,
}

/// Bought items the deployed catalog no longer has: their links answer
/// "Not found" (a clip renamed or removed, a variant taken out, and then
/// deployed). Said with what to do, before the customers write.
pub fn sold_gone_problem(catalog: &CatalogManifest, sold: &[SoldItem]) -> Option<String> {
    let gone: Vec<String> = sold
        .iter()
        .filter_map(|item| {
            let what = match (catalog.clip(&item.slug), item.variant.as_deref()) {
                (None, _) => item.slug.clone(),
                (Some(clip), Some(v)) if clip.file(Some(v)).is_none() => format!("{}'s file {v}", item.slug),
                _ => return None,
            };
            Some(format!("{what} ({} order(s))", item.orders))
        })
        .collect();
    (!gone.is_empty()).then(|| {
        format!(
            "orders that still download bought what the deployed catalog no longer has: {}. Their links answer \"Not found\" for it. Put it back in content/ (a renamed clip keeps its old address with `slug = \"old-name\"`; a removed `[[variants]]` section goes back), build the site and the Worker, and deploy",
            gone.join(", ")
        )
    })
}

/// The state to continue from: the one in D1, unless this Worker instance
/// remembers a newer one (written while D1 could not store it). Without
/// that, an incident opened while D1 was down would never be closed.
/// The reading of Stripe's events only moves forward, and is not read
/// while D1 is down: the state further along in it gives it (a run that
/// began from nothing during an outage would otherwise start it afresh at
/// its own time, past the outage's events).
pub fn latest_state(stored: MonitorState, remembered: Option<&MonitorState>) -> MonitorState {
    match remembered {
        Some(m) if m.run_at > stored.run_at => {
            let mut latest = m.clone();
            if stored.events_after > m.events_after {
                latest.set_stripe_reading(stored.stripe_reading());
            }
            latest
        }
        _ => stored,
    }
}

/// How old a state this isolate remembers, or a run kept in R2, may be and
/// still be continued from (three cron intervals). An older one is not the
/// last run's: runs since, in other isolates, may have closed its incident
/// in D1 and deleted the copy, and continuing from it would count a new
/// outage as announced. Starting afresh at worst repeats an alert.
pub const REMEMBERED_MAX_AGE_SECS: u64 = 15 * 60;

/// Of what this isolate remembers (`mine`) and a run kept in R2 (`kept`),
/// the newer one that is recent enough to continue from (at `now`).
pub fn remembered(mine: Option<MonitorState>, kept: Option<MonitorState>, now: u64) -> Option<MonitorState> {
    let fresh = |s: &MonitorState| now.saturating_sub(s.run_at) <= REMEMBERED_MAX_AGE_SECS;
    match (mine.filter(fresh), kept.filter(fresh)) {
        (Some(mine), Some(kept)) => Some(latest_state(kept, Some(&mine))),
        (mine, kept) => mine.or(kept),
    }
}

/// Where a run keeps its state in R2 when D1 cannot store it (down, or
/// refusing writes), read by the next run: a cron run often starts in a
/// fresh isolate, which remembers nothing, and would otherwise announce the
/// outage again every five minutes and never say it recovered. Under the
/// prefix the Worker keeps for itself (`clipstore_core::reserved_key`).
pub const STATE_COPY_KEY: &str = "ledger-state/monitor.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Unix seconds.
    pub opened_at: u64,
    /// Problem keys already announced: a set, sorted and each once (in
    /// JSON the sorted array a `BTreeSet` was), kept in a list since an
    /// incident has a few.
    pub announced: Vec<String>,
}

impl ToJson for Incident {
    fn to_json(&self) -> Json {
        Json::object([("opened_at", self.opened_at.to_json()), ("announced", self.announced.to_json())])
    }
}

/// Reads the array of keys as a set: sorted, each once.
impl FromJson for Incident {
    fn from_json(value: Json) -> Result<Incident, JsonError> {
        let mut fields = Fields::of(value, "struct Incident")?;
        let mut error = None;
        let opened_at = fields.field("opened_at", false, &mut error);
        let keys: Vec<String> = fields.field("announced", false, &mut error);
        if let Some(e) = error {
            return Err(e);
        }
        let mut announced = Vec::new();
        for key in keys {
            announce(&mut announced, key);
        }
        Ok(Incident { opened_at, announced })
    }
}

impl MonitorState {
    /// The state as D1 keeps it.
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }

    /// A state D1 kept.
    pub fn from_json(text: &str) -> Result<MonitorState, JsonError> {
        json::from_str(text)
    }
}

/// Adds `key` to a sorted list of keys unless it is there.
fn announce(announced: &mut Vec<String>, key: String) {
    if let Err(i) = announced.binary_search(&key) {
        announced.insert(i, key);
    }
}

/// What one scheduled run found.
#[derive(Debug, Clone, Default)]
pub struct RunFindings {
    /// Clips checked this run, with their problem (None: fine).
    pub clips: Vec<(String, Option<ClipProblem>)>,
    /// Problems of the whole system this run: (key, description).
    pub system: Vec<(String, String)>,
    /// The cursor for the next run.
    pub next_cursor: usize,
    /// Every slug in the catalog (to forget problems of removed clips; only
    /// looked up, for the few problems there are).
    pub catalog: Vec<String>,
    /// Checks that could not run this time (D1 or R2 failing): a problem
    /// they announced is kept, not said to have cleared.
    pub unchecked: Vec<&'static str>,
    /// The look at live orders' items, when this run took it.
    pub sold_check: Option<SoldCheck>,
    /// Stripe's undelivered events, when this run read them.
    pub stripe_reading: Option<StripeReading>,
}

/// Whether the problem `key` (as a notice names it) can stop downloads: the
/// headline says so only then (a payment matter or mail waiting is
/// another kind of trouble; so is D1 down, while downloads go on counted
/// in R2, or R2 failing while the secondary serves them: the outage and
/// code reviews found "customers' downloads may be failing" over lines
/// that said they go on).
fn touches_downloads(key: &str) -> bool {
    let check = key.split('#').next().unwrap_or(key);
    key.starts_with(CLIP_PREFIX)
        || !matches!(
            check,
            "payments"
                | "payments_unconfirmed"
                | "checkouts_refused"
                | "checkout"
                | "orders_missing"
                | "mail_failed"
                | "mail_stuck"
                | "stripe_undelivered"
                | "webhook_refused"
                | "ledger"
                | "ledger_writes"
                | "ledger_merge"
                | "ledger_schema"
                | "ledger_set_aside"
                | "secondary"
                | "r2_failover"
                | "alerts"
        )
}

/// The checks that read D1: none runs while it fails.
pub const CHECKS_OF_THE_LEDGER: [&str; 15] = [
    "ledger_writes",
    "webhook_refused",
    "links_refused",
    "catalog_sold",
    "downloads_stuck",
    "ledger_schema",
    "failure_rate",
    "payments",
    "payments_unconfirmed",
    "checkouts_refused",
    "checkout",
    "orders_missing",
    "mail_failed",
    "mail_stuck",
    "stripe_undelivered",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Alert,
    /// Some announced problems cleared, others are still open.
    Cleared,
    Recovered,
}

impl ToJson for NoticeKind {
    fn to_json(&self) -> Json {
        match self {
            NoticeKind::Alert => "alert",
            NoticeKind::Cleared => "cleared",
            NoticeKind::Recovered => "recovered",
        }
        .to_json()
    }
}

/// A message for the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// Every current problem: (key, description).
    pub problems: Vec<(String, String)>,
    /// Problem keys not announced before.
    pub new: Vec<String>,
    /// Announced problems (of the system or a clip, not events) gone since.
    pub cleared: Vec<String>,
}

impl Notice {
    /// A one-line summary: the e-mail subject (`ALERT_EMAIL`).
    pub fn subject(&self, shop: &str) -> String {
        match self.kind {
            NoticeKind::Recovered => format!("✅ {shop}: recovered"),
            NoticeKind::Cleared => {
                let fixed: Vec<String> = self.cleared.iter().map(|k| title(k)).collect();
                format!("✅ {shop}: fixed: {}", fixed.join(", "))
            }
            NoticeKind::Alert => {
                // The first problem that is new, in words, and how many more.
                let first = self.problems.iter().find(|(k, _)| self.new.contains(k)).or(self.problems.first());
                let more = self.problems.len().saturating_sub(1);
                format!(
                    "🚨 {shop}: {}{}",
                    first.map_or_else(|| "a problem".to_string(), |(k, _)| title(k)),
                    match more {
                        0 => String::new(),
                        1 => " and 1 more problem".to_string(),
                        n => format!(" and {n} more problems"),
                    }
                )
            }
        }
    }

    /// Human-readable text (the chat message and the e-mail body).
    pub fn text(&self, shop: &str) -> String {
        match self.kind {
            NoticeKind::Recovered => {
                format!("✅ {shop}: recovered. Every check passes again; downloads should work.")
            }
            NoticeKind::Alert | NoticeKind::Cleared => {
                let mut s = if self.kind == NoticeKind::Alert {
                    format!(
                        "🚨 {shop}: {} problem{} found by the scheduled self-test; {}.",
                        self.problems.len(),
                        if self.problems.len() == 1 { "" } else { "s" },
                        if self
                            .problems
                            .iter()
                            .any(|(key, _)| touches_downloads(key) && !key.starts_with("downloads_stuck"))
                        {
                            "customers' downloads may be failing"
                        } else if let Some((_, detail)) =
                            self.problems.iter().find(|(key, _)| key.starts_with("downloads_stuck"))
                        {
                            if detail.starts_with("1 customer ") {
                                "a customer's download needs you"
                            } else {
                                "customers' downloads need you"
                            }
                        } else {
                            "customers may be waiting on you"
                        }
                    )
                } else {
                    format!("✅ {shop}: {} cleared. Still open:", self.cleared.join(", "))
                };
                for (key, detail) in &self.problems {
                    let what = match key.strip_prefix(CLIP_PREFIX) {
                        Some(slug) => format!("clip {slug}"),
                        // `payments#41`: a new occurrence is a new problem.
                        None => key.split('#').next().unwrap_or(key).to_string(),
                    };
                    let mark = if self.new.contains(key) { " (new)" } else { "" };
                    s.push_str(&format!("\n- {what}{mark}: {detail}"));
                }
                if self.kind == NoticeKind::Alert && !self.cleared.is_empty() {
                    s.push_str(&format!("\nCleared since the last message: {}.", self.cleared.join(", ")));
                }
                s.push_str("\nNo further alert until something else breaks; a \"recovered\" message follows the fix.");
                s
            }
        }
    }

    /// The webhook body: `text` (Slack, Mattermost, Google Chat, Rocket.Chat),
    /// `content` (Discord, at most 2000 characters) and the same facts as data.
    pub fn webhook_json(&self, shop: &str) -> Json {
        let text = self.text(shop);
        let content = discord_content(&text);
        let problems = self
            .problems
            .iter()
            .map(|(key, detail)| Json::object([("key", key.to_json()), ("detail", detail.to_json())]))
            .collect();
        let facts = Json::object([
            ("kind", self.kind.to_json()),
            ("problems", Json::Array(problems)),
            ("new", self.new.to_json()),
            ("cleared", self.cleared.to_json()),
        ]);
        Json::object([("text", text.to_json()), ("content", content.to_json()), ("clipstore", facts)])
    }
}

/// Discord's `content`: at most 2000 characters. A longer text is cut, and
/// never inside a command's code span (a command cut short could still
/// run, for other clips or without the payment it should name): it ends
/// before that span, and says where the whole message is.
fn discord_content(text: &str) -> String {
    const CUT: &str = " … (cut: the whole message is in the e-mail to ALERT_EMAIL and the Worker's log)";
    if text.chars().count() <= 2000 {
        return text.to_string();
    }
    let mut kept: String = text.chars().take(2000 - CUT.chars().count()).collect();
    if kept.matches('`').count() % 2 == 1 {
        kept.truncate(kept.rfind('`').unwrap_or(0));
    }
    kept + CUT
}

/// Folds one run's findings into the state and decides what to tell the
/// owner. Store the returned state only once the notice (if any) was
/// delivered, so a failed delivery is retried on the next run.
pub fn conclude(previous: &MonitorState, findings: &RunFindings, now: u64) -> (MonitorState, Option<Notice>) {
    // Each run's delivery is its own ([`undelivered`] sets it).
    let mut state = MonitorState { undelivered: None, ..previous.clone() };
    state.cursor = findings.next_cursor;
    state.run_at = now;
    if let Some(check) = &findings.sold_check {
        (state.sold_catalog, state.sold_at, state.sold_problem) =
            (check.catalog.clone(), check.at, check.problem.clone());
    }
    if let Some(reading) = &findings.stripe_reading {
        state.set_stripe_reading(reading.clone());
    }
    state.clip_problems.retain(|slug, _| findings.catalog.contains(slug));
    for (slug, problem) in &findings.clips {
        match problem {
            Some(p) => state.clip_problems.insert(slug.clone(), p.describe()),
            None => state.clip_problems.remove(slug),
        };
    }
    let mut problems: Vec<(String, String)> =
        state.clip_problems.iter().map(|(slug, d)| (format!("{CLIP_PREFIX}{slug}"), d.clone())).collect();
    // Sorted: the clip problems are in slug order, and each problem of the
    // system goes in at its place (no sort code of its own in the module).
    for problem in &findings.system {
        let at = problems.partition_point(|p| p <= problem);
        problems.insert(at, problem.clone());
    }

    if problems.is_empty() {
        let notice = state.incident.take().map(|_| Notice {
            kind: NoticeKind::Recovered,
            problems,
            new: Vec::new(),
            cleared: Vec::new(),
        });
        return (state, notice);
    }
    let incident = state.incident.get_or_insert_with(|| Incident { opened_at: now, announced: Vec::new() });
    // A problem gone is forgotten, so that it is announced again if it
    // comes back while another stays open; one of the system or a clip is
    // said to have cleared (an event's key, `payments#41`, just ends).
    let mut cleared = Vec::new();
    incident.announced.retain(|key| {
        let check = key.split('#').next().unwrap_or(key);
        let open = problems.iter().any(|(k, _)| k == key) || findings.unchecked.contains(&check);
        if !open && !key.contains('#') {
            cleared.push(key.clone());
        }
        open
    });
    let new: Vec<String> =
        problems.iter().map(|(k, _)| k.clone()).filter(|k| !incident.announced.contains(k)).collect();
    for key in &new {
        announce(&mut incident.announced, key.clone());
    }
    let kind = match (new.is_empty(), cleared.is_empty()) {
        (true, true) => return (state, None),
        (false, _) => NoticeKind::Alert,
        (true, false) => NoticeKind::Cleared,
    };
    (state, Some(Notice { kind, problems, new, cleared }))
}

/// The state to keep when a notice reached the owner by no channel: this
/// run's findings, with the incident's announcements as they were, so
/// that the next run sends the notice again.
pub fn undelivered(concluded: MonitorState, previous: &MonitorState, why: String) -> MonitorState {
    MonitorState { incident: previous.incident.clone(), undelivered: Some(why), ..concluded }
}

/// The monitor's statements (`migrations/0003_monitor.sql`).
pub mod sql {
    /// The saved [`super::MonitorState`] (column `state`), if any.
    pub const LOAD_STATE: &str = "SELECT state FROM monitor_state WHERE id = 1";
    /// The deep health check's test of D1's writes: a row of 8 KB, more
    /// than a page, so that a D1 at its size limit refuses it as a read-only
    /// one does (a row rewritten in place fits: the review of the first
    /// probe); [`WRITE_PROBE_UNDO`] takes it out in the same batch.
    pub const WRITE_PROBE: &str = "INSERT INTO payment_events (at, provider, status, outcome, detail) \
        VALUES (0, 'probe', 0, 'write_probe', hex(randomblob(4096)))";
    pub const WRITE_PROBE_UNDO: &str =
        "DELETE FROM payment_events WHERE provider = 'probe' AND outcome = 'write_probe'";
    /// ?1 state JSON, ?2 unix seconds. The reading of Stripe's events
    /// (`events_*`) only moves forward: a state from a run that could not
    /// read this row (D1 failing a moment) keeps the stored reading, else
    /// the next run would start it afresh past what the webhook missed.
    pub const SAVE_STATE: &str = "INSERT INTO monitor_state (id, state, updated_at) VALUES (1, ?1, ?2) \
        ON CONFLICT (id) DO UPDATE SET state = CASE \
        WHEN COALESCE(json_extract(excluded.state, '$.events_after'), 0) \
          < COALESCE(json_extract(monitor_state.state, '$.events_after'), 0) \
        THEN json_set(excluded.state, \
          '$.events_after', json_extract(monitor_state.state, '$.events_after'), \
          '$.events_until', COALESCE(json_extract(monitor_state.state, '$.events_until'), 0), \
          '$.events_cursor', json_extract(monitor_state.state, '$.events_cursor'), \
          '$.events_missed', COALESCE(json_extract(monitor_state.state, '$.events_missed'), 0), \
          '$.events_missed_at', COALESCE(json_extract(monitor_state.state, '$.events_missed_at'), 0)) \
        ELSE excluded.state END, updated_at = excluded.updated_at";
    /// Attempts since ?1 (unix ms): `total`, and `failed` (5xx: storage or ledger failures).
    /// Attempts since `?1` (unix ms), those that failed (5xx), and the most
    /// common way they failed (`outcome`), for
    /// [`super::FailureThreshold::failure_cause`].
    pub const FAILURE_COUNTS: &str = "SELECT COUNT(*) AS total, COALESCE(SUM(status >= 500), 0) AS failed, \
        (SELECT outcome FROM download_attempts WHERE at >= ?1 AND status >= 500 GROUP BY outcome \
         ORDER BY COUNT(*) DESC LIMIT 1) AS outcome FROM download_attempts WHERE at >= ?1";
}

#[cfg(test)]
mod payment_attention_tests {
    use super::{links_refused_problem, mail_failed_problem, payment_attention_problem, webhook_refused_problem};

    /// A payment made twice names both orders and what to do in plain words.
    #[test]
    fn a_payment_made_twice_names_both_orders_and_the_refund() {
        let rows = [(
            Some("PAY-2".to_string()),
            "paid_twice".to_string(),
            "PAY-1: harbour, bought on 2026-12-07 20:01 UTC".to_string(),
        )];
        let text = payment_attention_problem(&rows).unwrap();
        assert!(
            text.contains("PAY-2: paid for again (harbour, bought on 2026-12-07 20:01 UTC in order PAY-1"),
            "{text}"
        );
        // Not always the later one: the customer may download with the
        // later mail's link (the refunds review).
        assert!(
            text.contains("refund the payment of the order the customer has not downloaded with (`site-gen orders show PAY-1` and `show PAY-2` list their downloads; if neither has any, PAY-2) in the Stripe Dashboard, which stops its link while the other's keeps working"),
            "{text}"
        );
        assert!(text.contains("`site-gen orders revoke ORDER --clip harbour`"), "{text}");
        assert!(!text.contains('@'), "no address in an alert that may go to a chat: {text}");
    }

    #[test]
    fn refused_webhook_deliveries_name_the_secret() {
        assert_eq!(webhook_refused_problem(2, None), None, "a stranger's post or two");
        let said = webhook_refused_problem(6, None).unwrap();
        assert!(said.starts_with("6 deliveries to the payment webhook in the last hour were refused"), "{said}");
        assert!(said.contains("wrangler secret put STRIPE_WEBHOOK_SECRET"), "{said}");
    }

    #[test]
    fn links_refused_for_a_missing_key_say_what_to_put_back() {
        assert_eq!(links_refused_problem(2, Some("2024-01")), None, "a stranger's made-up link or two");
        let said = links_refused_problem(7, Some("2024-01")).unwrap();
        assert!(said.starts_with("7 download requests in the last hour were refused"), "{said}");
        assert!(said.contains("(key 2024-01)") && said.contains("put the old key back"), "{said}");
        assert!(!links_refused_problem(3, None).unwrap().contains("(key"));
    }

    /// While one problem stays open, another that clears is said to have
    /// cleared, and announced again when it comes back (it was silent for
    /// the rest of the incident); an event's key just ends.
    #[test]
    fn a_problem_that_clears_and_returns_during_an_open_incident_is_told_each_time() {
        let run = |state: &super::MonitorState, keys: &[&str], at: u64| {
            let system = keys.iter().map(|k| (k.to_string(), "x".to_string())).collect();
            super::conclude(state, &super::RunFindings { system, ..Default::default() }, at)
        };
        let kind = |n: &Option<super::Notice>| n.as_ref().map(|n| n.kind);
        let (state, first) = run(&super::MonitorState::default(), &["ledger_set_aside", "storage"], 1);
        assert_eq!(first.unwrap().new, ["ledger_set_aside", "storage"]);
        let (state, second) = run(&state, &["ledger_set_aside"], 2);
        let second = second.expect("the storage's recovery is told");
        assert_eq!(
            (second.kind, second.cleared.as_slice()),
            (super::NoticeKind::Cleared, &["storage".to_string()][..])
        );
        assert!(second.text("Shop").starts_with("✅ Shop: storage cleared. Still open:\n- ledger_set_aside: x"));
        let (state, third) = run(&state, &["ledger_set_aside"], 3);
        assert!(third.is_none(), "nothing new");
        let (state, fourth) = run(&state, &["ledger_set_aside", "storage"], 4);
        let fourth = fourth.expect("storage failing again alerts again");
        assert_eq!((fourth.kind, fourth.new.as_slice()), (super::NoticeKind::Alert, &["storage".to_string()][..]));
        // An event's window ending is not news.
        let (state, fifth) = run(&state, &["ledger_set_aside", "storage", "payments#7"], 5);
        assert_eq!(kind(&fifth), Some(super::NoticeKind::Alert));
        let (state, sixth) = run(&state, &["ledger_set_aside", "storage"], 6);
        assert!(sixth.is_none(), "{sixth:?}");
        let (_, last) = run(&state, &[], 7);
        assert_eq!(kind(&last), Some(super::NoticeKind::Recovered));
    }

    /// A check that could not run (D1 failing) does not clear what it
    /// found: `mail_stuck` is not said to have cleared when D1 fails, nor
    /// announced as new when D1 is back and the mail is still stuck.
    #[test]
    fn a_problem_whose_check_could_not_run_is_not_cleared() {
        let run = |state: &super::MonitorState, keys: &[&str], unchecked: Vec<&'static str>, at: u64| {
            let system = keys.iter().map(|k| (k.to_string(), "x".to_string())).collect();
            super::conclude(state, &super::RunFindings { system, unchecked, ..Default::default() }, at)
        };
        let (state, first) = run(&super::MonitorState::default(), &["mail_stuck"], vec![], 1);
        assert_eq!(first.unwrap().new, ["mail_stuck"]);
        let (state, second) = run(&state, &["ledger"], super::CHECKS_OF_THE_LEDGER.to_vec(), 2);
        let second = second.expect("D1 failing is news");
        assert_eq!((second.new.as_slice(), second.cleared.len()), (&["ledger".to_string()][..], 0), "{second:?}");
        let (_, third) = run(&state, &["mail_stuck"], vec![], 3);
        let third = third.expect("D1 back is news");
        assert_eq!(
            (third.kind, third.new.len(), third.cleared.as_slice()),
            (super::NoticeKind::Cleared, 0, &["ledger".to_string()][..])
        );
    }

    /// A notice no channel took is sent again next run, while the clips
    /// checked and the cursor move on.
    #[test]
    fn an_undelivered_notice_is_sent_again_and_the_run_is_kept() {
        let findings =
            super::RunFindings { system: vec![("storage".into(), "x".into())], next_cursor: 5, ..Default::default() };
        let previous = super::MonitorState::default();
        let (state, notice) = super::conclude(&previous, &findings, 1);
        assert!(notice.is_some());
        let kept = super::undelivered(state, &previous, "ALERT_WEBHOOK_URL: webhook answered 410".into());
        assert_eq!((kept.cursor, kept.run_at), (5, 1));
        // Kept as JSON for the deep health check, which fails on it.
        let read = super::MonitorState::from_json(&kept.to_json()).unwrap();
        assert_eq!(read.undelivered.as_deref(), Some("ALERT_WEBHOOK_URL: webhook answered 410"));
        let (state, again) = super::conclude(&kept, &findings, 2);
        assert_eq!(again.expect("sent again").new, ["storage"]);
        assert_eq!(state.undelivered, None, "each run's delivery is its own");
    }

    #[test]
    fn set_aside_records_are_named() {
        assert_eq!(super::set_aside_problem(0, None), None);
        let one = super::set_aside_problem(1, Some("ledger-quarantine/a.json")).unwrap();
        assert!(
            one.starts_with("1 ledger record written while D1 was failing could not be read and was set aside"),
            "{one}"
        );
        assert!(one.contains("ledger-quarantine/a.json"));
    }

    #[test]
    fn a_new_occurrence_is_a_new_problem_named_as_its_check() {
        let notice = super::Notice {
            kind: super::NoticeKind::Alert,
            problems: vec![("payments#41".into(), "1 payment matter(s) need a look".into())],
            new: vec!["payments#41".into()],
            cleared: Vec::new(),
        };
        let text = notice.text("Shop");
        assert!(text.contains("\n- payments (new): 1 payment matter(s)"), "{text}");
        // A payment matter is no sign of failing downloads: the headline
        // says so only for problems that can stop them.
        assert!(text.contains("found by the scheduled self-test; customers may be waiting on you."), "{text}");
        let clip = super::Notice { problems: vec![("clip:harbour".into(), "missing".into())], ..notice.clone() };
        assert!(clip.text("Shop").contains("customers' downloads may be failing."));
        for going_on in ["ledger", "r2_failover", "ledger_schema", "secondary"] {
            let only = super::Notice { problems: vec![(going_on.into(), "x".into())], ..notice.clone() };
            assert!(only.text("Shop").contains("customers may be waiting on you."), "{going_on}");
        }
        let with_storage = super::Notice {
            problems: vec![("ledger".into(), "x".into()), ("storage".into(), "y".into())],
            ..notice.clone()
        };
        assert!(with_storage.text("Shop").contains("customers' downloads may be failing."));
        // Announced once; the next refund is `payments#42`: it alerts again
        // although the first is still within its window; then silence.
        let run = |state: &super::MonitorState, keys: &[&str], at: u64| {
            let system = keys.iter().map(|k| (k.to_string(), "x".to_string())).collect();
            super::conclude(state, &super::RunFindings { system, ..Default::default() }, at)
        };
        let (state, first) = run(&super::MonitorState::default(), &["payments#41"], 1);
        assert!(first.is_some());
        let (state, second) = run(&state, &["payments#42"], 2);
        assert_eq!(second.expect("a new refund alerts").new, ["payments#42"]);
        let (_, third) = run(&state, &["payments#42"], 3);
        assert!(third.is_none(), "the same one does not alert twice");
    }

    #[test]
    fn a_missing_order_names_the_likely_cause() {
        assert_eq!(super::orders_missing_problem(0, 0, 0, false), None);
        let text = super::orders_missing_problem(2, 0, 1500, false).unwrap();
        assert!(text.starts_with(
            "2 customers came back from paying (the oldest 25 minutes ago) but no order exists: Stripe's webhook"
        ));
        assert!(text.contains("STRIPE_WEBHOOK_SECRET"));
        let both = super::orders_missing_problem(1, 2, 1500, false).unwrap();
        assert!(both.starts_with("1 customer came back from paying (the oldest 25 minutes ago) but no order exists, and 2 more got theirs only because the shop asked Stripe: "), "{both}");
        // Every customer has a link, but the shop does not hear from Stripe.
        let made = super::orders_missing_problem(0, 1, 720, false).unwrap();
        assert!(made.starts_with("1 customer came back from paying (the oldest 12 minutes ago) and Stripe's event never arrived: the shop asked Stripe and made the order (the success page, "), "{made}");
        assert!(made.contains("refunds and disputes do not end links") && made.contains("STRIPE_WEBHOOK_SECRET"));
        assert!(made.ends_with("Stripe retries for three days, so the orders and refunds arrive once it is fixed"));
        // A shop that reads back what its webhook missed: refunds do end
        // links, late, and nothing is lost after Stripe's three days.
        let read = super::orders_missing_problem(0, 1, 720, true).unwrap();
        assert!(!read.contains("do not end links") && !read.contains("gets nothing"), "{read}");
        assert!(
            read.contains("take effect only when the self-test reads them back from Stripe, minutes late"),
            "{read}"
        );
        assert!(read.ends_with("the shop reads back what the webhook missed for up to 30 days"), "{read}");
        let missing = super::orders_missing_problem(1, 0, 720, true).unwrap();
        assert!(
            missing.starts_with("1 customer came back from paying (the oldest 12 minutes ago) but no order exists: "),
            "{missing}"
        );
    }

    #[test]
    fn an_unconfirmed_delayed_payment_names_its_checkout_and_the_events_to_check() {
        assert_eq!(super::payments_unconfirmed_problem(0, None), None);
        let text = super::payments_unconfirmed_problem(1, Some("cs_live_1")).unwrap();
        assert!(
            text.starts_with("1 delayed payment (a bank debit) announced 10 days ago neither became an order"),
            "{text}"
        );
        assert!(text.contains("(checkout cs_live_1)") && text.contains("checkout.session.async_payment_succeeded"));
    }

    #[test]
    fn a_refused_paid_checkout_names_the_command_that_lists_it() {
        assert_eq!(super::checkouts_refused_problem(0, None), None);
        let one = super::checkouts_refused_problem(1, Some("cs_live_1")).unwrap();
        assert!(
            one.starts_with("1 paid checkout could not become an order, and still has none (latest: cs_live_1)"),
            "{one}"
        );
        assert!(one.contains("once it has its order"), "{one}");
        assert!(one.contains("`site-gen orders payments` lists it with the command"), "{one}");
        let two = super::checkouts_refused_problem(2, Some("cs_live_2")).unwrap();
        assert!(two.starts_with("2 paid checkouts could not become orders, and still have none"), "{two}");
        assert!(two.contains("once each has its order"), "{two}");
    }

    #[test]
    fn refused_mail_tells_the_owner_how_to_send_it_again() {
        assert_eq!(mail_failed_problem(0, None), None);
        let text = mail_failed_problem(2, Some("order mail of PAY-1: 422 invalid to")).unwrap();
        assert!(text.starts_with("2 e-mails refused by the mail provider for good (latest: order mail of PAY-1"));
        assert!(text.contains("site-gen orders resend ORDER --to ADDRESS"));
    }

    #[test]
    fn partial_refunds_and_mismatches_tell_the_owner_what_to_do() {
        assert_eq!(payment_attention_problem(&[]), None);
        let rows = vec![
            (
                Some("PAY-1".to_string()),
                "partial_refund".to_string(),
                "refunded: 18.00 EUR of 36.00 EUR back (refund)".to_string(),
            ),
            (
                Some("PAY-2".to_string()),
                "amount_mismatch".to_string(),
                "paid 0.00 EUR where the catalog prices the clips at 24.00 EUR".to_string(),
            ),
            (None, "checkout_unavailable".to_string(), "Stripe answered 401".to_string()),
            (
                None,
                "checkout_unavailable".to_string(),
                "Stripe answered 400: invalid_request_error Amount must be at least €0.50 eur".to_string(),
            ),
        ];
        let text = payment_attention_problem(&rows).unwrap();
        assert!(text.starts_with("4 payment matter(s) need a look"), "{text}");
        assert!(
            text.contains("checkout could not start (Stripe answered 401); nothing was charged. Fix STRIPE_API_KEY")
        );
        assert!(
            text.contains("at least €0.50 eur); nothing was charged. Stripe's message says why"),
            "a refusal that is not the key's does not blame the key: {text}"
        );
        assert_eq!(text.matches("Fix STRIPE_API_KEY").count(), 1);
        // A bank debit that failed after the owner made its order by hand.
        let unpaid = vec![(
            Some("SEPA-1".to_string()),
            "unpaid_order".to_string(),
            "the bank debit of checkout cs_1 failed".into(),
        )];
        let unpaid = payment_attention_problem(&unpaid).unwrap();
        assert!(unpaid.contains("SEPA-1: the bank debit of checkout cs_1 failed, but the order was made"), "{unpaid}");
        assert!(unpaid.ends_with("site-gen orders revoke SEPA-1"), "{unpaid}");
        let base = vec![(None, "checkout_unavailable".to_string(), "STRIPE_API_BASE must be https://".to_string())];
        assert!(!payment_attention_problem(&base).unwrap().contains("Fix STRIPE_API_KEY"), "another setting's fault");
        let shape = vec![(None, "checkout_unavailable".to_string(), "STRIPE_API_KEY is not set".to_string())];
        assert!(payment_attention_problem(&shape).unwrap().contains("Fix STRIPE_API_KEY"));
        let secret =
            vec![(None, "checkout_unavailable".to_string(), "STRIPE_WEBHOOK_SECRET is missing or is not".to_string())];
        let secret = payment_attention_problem(&secret).unwrap();
        assert!(secret.contains("Fix STRIPE_WEBHOOK_SECRET") && !secret.contains("Fix STRIPE_API_KEY"), "{secret}");
        // Turned away before Stripe was asked: not "Stripe's message says why".
        let shop = vec![(
            None,
            "checkout_unavailable".to_string(),
            "the file of the clip harbour (clips/h.mp4) is not in the R2 bucket: customers cannot buy it until `site-gen push` uploads it".to_string(),
        )];
        let shop = payment_attention_problem(&shop).unwrap();
        assert!(
            shop.contains("turned away before paying, because a paid order could not have been delivered"),
            "{shop}"
        );
        assert!(shop.contains("site-gen push") && !shop.contains("Stripe's message"), "{shop}");
        let base = payment_attention_problem(&base).unwrap();
        assert!(base.contains("Stripe's message says why") || base.contains("STRIPE_API_BASE"), "{base}");
        assert!(!base.contains("could not have been delivered"), "{base}");
        assert!(text.contains("site-gen orders revoke PAY-1 --clip SLUG"));
        assert!(text.contains("PAY-2: paid 0.00 EUR"));
        let leaked = vec![(
            None,
            "underpaid".to_string(),
            "paid 0.01 EUR where the catalog prices the clips at 24.00 EUR; checkout cs_x".to_string(),
        )];
        let text = payment_attention_problem(&leaked).unwrap();
        assert!(
            text.contains("(paid 0.01 EUR where the catalog prices the clips at 24.00 EUR; checkout cs_x): no order")
        );
        assert!(text.contains("roll the key") && text.contains("refund the payment"), "{text}");
        let failed = vec![(
            Some("PAY-3".to_string()),
            "refund_failed".to_string(),
            "a refund of 1800 failed: expired_or_canceled_card; the money is back in the Stripe balance".to_string(),
        )];
        let text = payment_attention_problem(&failed).unwrap();
        assert!(text.contains("PAY-3: a refund of 1800 failed: expired_or_canceled_card"), "{text}");
        assert!(text.contains("Refund the customer another way") && text.contains("reissue PAY-3 --despite-refund"));
    }

    /// A refused paid checkout's alert gives the command to make its order,
    /// as the webhook recorded it filled in; one recorded before that gives
    /// the blank one.
    #[test]
    fn a_paid_checkout_without_order_gives_its_filled_in_command() {
        let command =
            "site-gen orders create PAY-1 --clip gone --to a@b.example --downloads 5 --expires 30d --session cs_1";
        let rows = vec![(
            None,
            "unknown_clip".to_string(),
            format!("clip gone is not in the catalog{}{command}", crate::payments::BY_HAND),
        )];
        let text = payment_attention_problem(&rows).unwrap();
        assert!(
            text.contains("could not become an order (clip gone is not in the catalog): the customer has no link"),
            "{text}"
        );
        assert!(
            text.contains(&format!("in place of the one the catalog lacks: `{command}` (docs/payments.md)")),
            "{text}"
        );
        let before =
            vec![(None, "unknown_clip".to_string(), "clip gone is not in the catalog; checkout cs_1".to_string())];
        assert!(payment_attention_problem(&before).unwrap().contains("`site-gen orders create ORDER --clip SLUG"));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A deploy that took out a bought clip (renamed, removed) or a bought
    /// file: the owner hears of it with the fix; what is still there, or
    /// the main file named as a variant, is no problem.
    #[test]
    fn bought_items_the_deployed_catalog_lacks_are_named_with_the_fix() {
        let catalog = clipstore_core::testing::catalog(false);
        let item = |slug: &str, variant: Option<&str>, orders| SoldItem {
            slug: slug.into(),
            variant: variant.map(str::to_string),
            orders,
        };
        let fine = [item("h", None, 4), item("h", Some("web"), 2), item("h", Some("4k"), 1)];
        assert_eq!(sold_gone_problem(&catalog, &fine), None);
        let gone = [item("h", Some("hd"), 1), item("quay", None, 3), item("h", None, 9)];
        let text = sold_gone_problem(&catalog, &gone).unwrap();
        assert!(text.contains("no longer has: h's file hd (1 order(s)), quay (3 order(s))."), "{text}");
        assert!(text.contains("`slug = \"old-name\"`") && text.contains("deploy"), "{text}");
    }

    /// Looked at when the catalog changed or every six hours; in between
    /// its finding is kept (and carried into the state by `conclude`).
    #[test]
    fn the_sold_check_runs_on_a_new_catalog_or_after_six_hours() {
        let last = SoldCheck { catalog: "a".into(), at: 1_000, problem: Some("p".into()) };
        assert!(SoldCheck::due(None, "a", 1_000));
        assert!(!SoldCheck::due(Some(&last), "a", 1_000 + SOLD_CHECK_SECS - 1));
        assert!(SoldCheck::due(Some(&last), "a", 1_000 + SOLD_CHECK_SECS));
        assert!(SoldCheck::due(Some(&last), "b", 1_001), "a deploy");
        let findings = RunFindings { sold_check: Some(last.clone()), ..RunFindings::default() };
        let (state, _) = conclude(&MonitorState::default(), &findings, 1_000);
        assert_eq!(state.sold_check().as_ref(), Some(&last));
        let (kept, _) = conclude(&state, &RunFindings::default(), 2_000);
        assert_eq!(kept.sold_check(), Some(last), "a run that did not look keeps it");
        let json = kept.to_json();
        let back = MonitorState::from_json(&json).unwrap();
        assert_eq!(back, kept, "stored and read back");
        let before = MonitorState::from_json(r#"{"cursor":3}"#).unwrap();
        assert_eq!(before.sold_check(), None, "a state stored before the check");
    }

    fn clip(size: u64, sha256: Option<&str>) -> ManifestClip {
        ManifestClip {
            variant: None,
            variants: Default::default(),
            title: "T".into(),
            object_key: "clips/t.mp4".into(),
            file_name: "t.mp4".into(),
            size,
            content_type: "video/mp4".into(),
            price: 1800,
            sha256: sha256.map(str::to_string),
        }
    }

    fn object(size: u64, sha256: Option<&str>) -> StoredObject {
        StoredObject { size, sha256: sha256.map(str::to_string), etag: "e".into() }
    }

    #[test]
    fn clip_checks() {
        assert_eq!(clip_problem(&clip(10, None), None), Some(ClipProblem::Missing));
        assert_eq!(clip_problem(&clip(10, None), Some(&object(10, Some("ab")))), None);
        assert_eq!(
            clip_problem(&clip(10, None), Some(&object(9, None))),
            Some(ClipProblem::WrongSize { expected: 10, found: 9 })
        );
        assert_eq!(clip_problem(&clip(10, Some("AB")), Some(&object(10, Some("ab")))), None);
        assert_eq!(clip_problem(&clip(10, Some("ab")), Some(&object(10, None))), None, "unknown hash is not wrong");
        assert_eq!(
            clip_problem(&clip(10, Some("ab")), Some(&object(10, Some("cd")))),
            Some(ClipProblem::WrongHash { expected: "ab".into(), found: "cd".into() })
        );
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    #[test]
    fn rotation_covers_a_large_catalog() {
        assert_eq!(rotation(10, 40, 7), (0..10, 0));
        assert_eq!(rotation(100, 40, 0), (0..40, 40));
        assert_eq!(rotation(100, 40, 40), (40..80, 80));
        assert_eq!(rotation(100, 40, 80), (80..100, 0));
        assert_eq!(rotation(100, 40, 500), (0..40, 40), "catalog shrank");
        let (mut seen, mut cursor) = (BTreeSet::new(), 0);
        for _ in 0..3 {
            let (r, next) = rotation(101, 40, cursor);
            seen.extend(r);
            cursor = next;
        }
        assert_eq!(seen.len(), 101);
    }

    #[test]
    fn failure_threshold() {
        let t = FailureThreshold::default();
        assert_eq!(t.judge(0, 0, false), None);
        assert_eq!(t.judge(4, 4, false), None, "too few attempts");
        assert_eq!(t.judge(1, 10, false), None);
        assert!(t.judge(2, 10, false).unwrap().contains("2 of 10"));
        assert!(FailureThreshold::failure_cause(Some("storage_unavailable")).contains("storage did not serve it"));
        assert!(FailureThreshold::failure_cause(Some("paused_offline")).contains("ledger (D1) was down"));
        assert!(FailureThreshold::failure_cause(None).contains("orders export"));
        let t = FailureThreshold::from_vars(Some("0.5"), Some("1"), Some("nope"));
        assert_eq!(t, FailureThreshold { rate: 0.5, min_attempts: 1, window_minutes: 15 });
        assert_eq!(FailureThreshold::from_vars(Some("7"), None, None).rate, 0.2);
    }

    /// The `catalog_manifest` check: a catalog built from `site-gen init`'s
    /// placeholders fails, naming the field; the shop's own address passes
    /// and is said (the deploy review).
    #[test]
    fn the_catalog_check_fails_on_init_placeholders() {
        let shop = |base_url: &str| clipstore_core::ShopInfo {
            base_url: base_url.into(),
            contact_email: "owner@shop.example".into(),
            ..Default::default()
        };
        let own = catalog_check(3, &shop("https://shop.example"));
        assert!(own.ok && own.detail == "3 clips; the shop's address: https://shop.example", "{}", own.detail);
        let placeholder = catalog_check(3, &shop("https://change-me.example"));
        assert!(!placeholder.ok);
        assert!(
            placeholder.detail.contains("placeholder (change-me) in content/site.toml's base_url"),
            "{}",
            placeholder.detail
        );
        assert!(!catalog_check(0, &shop("https://shop.example")).ok);
    }

    /// The `checkout` check: no key passes (doctor weighs it), a key that
    /// cannot be used fails, and a usable key says when nothing limits
    /// checkouts.
    #[test]
    fn the_checkout_check_says_key_and_limit() {
        assert!(checkout_check(false, None, true, false).ok);
        assert!(checkout_check(false, None, true, false).detail.starts_with("STRIPE_API_KEY is not set"));
        assert!(!checkout_check(true, Some("the cart's checkout cannot start: x".into()), true, false).ok);
        let limited = checkout_check(true, None, true, false);
        assert!(limited.ok && !limited.detail.contains("not rate limited"), "{limited:?}");
        let unlimited = checkout_check(true, None, false, false);
        assert!(
            unlimited.ok && unlimited.detail.contains("checkouts are not rate limited (no CHECKOUT_LIMITER binding")
        );
        let test = checkout_check(true, None, true, true);
        assert!(test.ok && test.detail.ends_with(TEST_MODE_NOTE), "{test:?}");
        assert!(!limited.detail.contains("test mode"));
    }

    /// Discord's 2000 characters: a long alert is cut before a command's
    /// code span, never inside it, and says so.
    #[test]
    fn a_long_alert_is_never_cut_inside_a_command() {
        for pad in [1900, 1950, 1990, 2100] {
            let text = format!("{} `site-gen orders create PAY-1 --to a@b.example --clip x` and more", "x".repeat(pad));
            let content = discord_content(&text);
            assert!(content.chars().count() <= 2000, "{pad}");
            assert_eq!(content.matches('`').count() % 2, 0, "{pad}: {content}");
            if text.chars().count() > 2000 {
                assert!(
                    content.ends_with("(cut: the whole message is in the e-mail to ALERT_EMAIL and the Worker's log)")
                );
                assert!(!content.contains("--clip") || content.contains("--clip x`"), "{pad}");
            } else {
                assert_eq!(content, text);
            }
        }
    }

    /// A failure rate hovering at the threshold (21 %, 19 %, 21 %, …) is
    /// one alert, not one at every run; it clears once under half the
    /// threshold, and not for a window with no downloads at all.
    #[test]
    fn stuck_customers_are_named_up_to_five_newest_first() {
        assert_eq!(downloads_stuck_problem(0, None), None);
        let one = downloads_stuck_problem(1, Some("order A, clip x")).unwrap();
        assert!(
            one.starts_with("1 customer was refused a clip they never received whole")
                && one.contains("(order A, clip x)")
        );
        let two = downloads_stuck_problem(2, Some("order B, clip y; order A, clip x")).unwrap();
        assert!(two.contains("(newest first: order B, clip y; order A, clip x)"), "{two}");
        let many = downloads_stuck_problem(7, Some("order G, clip x")).unwrap();
        assert!(
            many.contains("the newest 5: order G, clip x; once they are reset, the next alert names the others"),
            "{many}"
        );
    }

    #[test]
    fn a_failure_rate_at_the_threshold_alerts_once() {
        let t = FailureThreshold::default();
        let mut state = MonitorState::default();
        let mut notices = Vec::new();
        for (failed, total) in [(5, 24), (4, 21), (5, 24), (4, 22), (0, 0), (3, 20), (5, 23), (1, 20)] {
            let open = state.incident.as_ref().is_some_and(|i| i.announced.iter().any(|k| k == "failure_rate"));
            let system: Vec<_> =
                t.judge(failed, total, open).map(|p| ("failure_rate".to_string(), p)).into_iter().collect();
            let (next, notice) =
                conclude(&state, &RunFindings { system, ..RunFindings::default() }, 60 * notices.len() as u64);
            notices.push(notice.map(|n| n.kind));
            state = next;
        }
        use NoticeKind::*;
        assert_eq!(notices, [Some(Alert), None, None, None, None, None, None, Some(Recovered)]);
        assert!(t.judge(0, 0, true).unwrap().contains("none came in the last 15 minutes"));
        assert!(t.judge(3, 20, true).unwrap().contains("under 10% clears it"), "15 % of 20: still open");
        assert_eq!(t.judge(1, 11, true), None, "9 %: cleared");
    }

    fn run(clips: &[(&str, Option<ClipProblem>)], system: &[(&str, &str)]) -> RunFindings {
        RunFindings {
            clips: clips.iter().map(|(s, p)| (s.to_string(), p.clone())).collect(),
            system: system.iter().map(|(k, d)| (k.to_string(), d.to_string())).collect(),
            next_cursor: 0,
            catalog: ["a", "b", "c"].into_iter().map(String::from).collect(),
            ..RunFindings::default()
        }
    }

    #[test]
    fn problems_are_listed_in_order() {
        let findings = run(
            &[("c", Some(ClipProblem::Missing)), ("a", Some(ClipProblem::Missing))],
            &[("storage", "x"), ("ledger", "y"), ("clip:b", "z"), ("a", "1"), ("ledger", "a"), ("ledger", "y")],
        );
        let (_, notice) = conclude(&MonitorState::default(), &findings, 1);
        let problems = notice.unwrap().problems;
        let mut sorted = problems.clone();
        sorted.sort();
        assert_eq!(problems, sorted);
        assert_eq!(problems.len(), 8);
    }

    #[test]
    fn one_alert_per_incident_then_recovered() {
        let broken = run(
            &[
                ("a", Some(ClipProblem::Missing)),
                ("b", Some(ClipProblem::WrongSize { expected: 2, found: 1 })),
                ("c", None),
            ],
            &[],
        );
        let (state, notice) = conclude(&MonitorState::default(), &broken, 100);
        let notice = notice.expect("first alert");
        assert_eq!(notice.kind, NoticeKind::Alert);
        assert_eq!(notice.new, vec!["clip:a", "clip:b"]);
        let text = notice.text("Shop");
        assert!(text.contains("clip a (new): missing") && text.contains("clip b (new): wrong size"), "{text}");
        let body = json::to_string_sorted(&notice.webhook_json("Shop"));
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["text"], text);
        assert_eq!(body["clipstore"]["kind"], "alert");

        let (state, again) = conclude(&state, &broken, 400);
        assert_eq!(again, None, "same problems: nothing new");

        let worse = run(&[("c", None)], &[("ledger", "D1 down")]);
        let (state, more) = conclude(&state, &worse, 700);
        assert_eq!(more.expect("a new problem is announced").new, vec!["ledger"]);
        assert_eq!(state.clip_problems.len(), 2, "unchecked clips keep their problem");

        let fixed = run(&[("a", None), ("b", None), ("c", None)], &[]);
        let (state, recovered) = conclude(&state, &fixed, 1000);
        assert_eq!(recovered.expect("recovered").kind, NoticeKind::Recovered);
        assert_eq!(state.incident, None);
        assert_eq!(conclude(&state, &fixed, 1300).1, None);
    }

    #[test]
    fn an_incident_opened_while_d1_was_down_is_closed() {
        let (in_memory, alert) = conclude(&MonitorState::default(), &run(&[], &[("ledger", "D1 down")]), 100);
        assert!(alert.is_some());
        let stored = MonitorState { run_at: 50, ..MonitorState::default() };
        let previous = latest_state(stored.clone(), Some(&in_memory));
        let (_, notice) = conclude(&previous, &run(&[], &[]), 400);
        assert_eq!(notice.map(|n| n.kind), Some(NoticeKind::Recovered));
        let newer = MonitorState { run_at: 500, ..MonitorState::default() };
        assert_eq!(latest_state(newer.clone(), Some(&in_memory)), newer);
        assert_eq!(latest_state(stored.clone(), None), stored);
    }

    /// D1 down from a fresh isolate: its runs start from nothing and keep
    /// their state in R2. Once D1 is back, the reading of Stripe's events
    /// goes on from where D1 has it, so the outage's events are read back.
    #[test]
    fn the_reading_of_stripes_events_survives_a_state_kept_in_r2() {
        let stored = MonitorState::reading_under_way(50);
        let (kept, _) = conclude(&MonitorState::default(), &run(&[], &[("ledger", "D1 down")]), 900);
        let latest = latest_state(stored.clone(), Some(&kept));
        assert_eq!(latest.run_at, 900, "the newer run's incident");
        assert!(latest.incident.is_some());
        assert_eq!(latest.stripe_reading(), stored.stripe_reading());
        // A remembered state further along keeps its own.
        let further = MonitorState { events_after: 160, ..kept.clone() };
        assert_eq!(latest_state(stored, Some(&further)).events_after, 160);
    }

    #[test]
    fn a_ledger_that_cannot_be_read_is_told_in_words_with_what_to_do() {
        let down = ledger_down_problem("D1 monitor state: Error: D1_ERROR: internal error");
        assert!(
            down.starts_with("D1 does not answer (D1 monitor state: Error: D1_ERROR: internal error): downloads go on")
        );
        let bare = ledger_down_problem("D1 monitor state: Error: no such table: monitor_state");
        assert!(bare.ends_with(APPLY_MIGRATIONS), "{bare}");
        assert!(!bare.contains("does not answer"), "{bare}");
    }

    /// An isolate that ran during one outage and not since remembers an
    /// incident another isolate has closed: at the next outage it must not
    /// count that outage as announced (nor spread it through the R2 copy).
    #[test]
    fn only_a_recent_remembered_state_is_continued_from() {
        let (in_memory, _) = conclude(&MonitorState::default(), &run(&[], &[("ledger", "D1 down")]), 1_000);
        let later = 1_000 + REMEMBERED_MAX_AGE_SECS;
        assert_eq!(remembered(Some(in_memory.clone()), None, later), Some(in_memory.clone()));
        let long_after = later + 1;
        assert_eq!(remembered(Some(in_memory.clone()), None, long_after), None);
        let (_, alert) = conclude(&MonitorState::default(), &run(&[], &[("ledger", "D1 down")]), long_after);
        assert!(alert.is_some(), "the new outage is announced");
        // A fresh copy in R2 is continued from; of two, the newer.
        let (kept, _) = conclude(&in_memory, &run(&[], &[("ledger", "D1 down")]), long_after - 60);
        assert_eq!(remembered(Some(in_memory.clone()), Some(kept.clone()), long_after), Some(kept.clone()));
        let (mine, _) = conclude(&kept, &run(&[], &[("ledger", "D1 down")]), long_after - 10);
        assert_eq!(remembered(Some(mine.clone()), Some(kept), long_after), Some(mine));
    }

    #[test]
    fn removed_clips_are_forgotten() {
        let (state, _) = conclude(&MonitorState::default(), &run(&[("gone", Some(ClipProblem::Missing))], &[]), 1);
        let mut findings = run(&[], &[]);
        findings.catalog.retain(|slug| slug != "gone");
        let (state, notice) = conclude(&state, &findings, 2);
        assert!(state.clip_problems.is_empty());
        assert_eq!(notice.map(|n| n.kind), Some(NoticeKind::Recovered));
    }

    /// The state as D1 holds it, byte for byte; states written by earlier
    /// Workers read (fields absent); what is not a state is refused (the
    /// run then starts from a fresh one).
    #[test]
    fn the_stored_state_is_pinned() {
        let findings = RunFindings {
            sold_check: Some(SoldCheck { catalog: "d1".into(), at: 7, problem: Some("gone \"x\"".into()) }),
            stripe_reading: Some(StripeReading {
                position: Position { after: 10, until: 20, cursor: Some("evt_1".into()) },
                missed: 3,
                missed_at: 4,
            }),
            next_cursor: 2,
            ..run(&[("a", Some(ClipProblem::WrongSize { expected: 2, found: 1 }))], &[("ledger", "D1 down")])
        };
        let (state, _) = conclude(&MonitorState::default(), &findings, 5);
        let json = state.to_json();
        assert_eq!(
            json,
            concat!(
                r#"{"cursor":2,"clip_problems":{"a":"wrong size: 1 bytes in the bucket,"#,
                r#" the catalog says 2"},"incident":{"opened_at":5,"announced":["clip:a","#,
                r#""ledger"]},"run_at":5,"sold_catalog":"d1","sold_at":7,"#,
                "\"sold_problem\":\"gone \\\"x\\\"\",",
                r#""events_after":10,"events_until":20,"events_cursor":"evt_1","events_missed":3,"events_missed_at":4,"#,
                r#""undelivered":null}"#,
            )
        );
        assert_eq!(MonitorState::from_json(&json).unwrap(), state);
        assert_eq!(
            MonitorState::default().to_json(),
            concat!(
                r#"{"cursor":0,"clip_problems":{},"incident":null,"run_at":0,"#,
                r#""sold_catalog":"","sold_at":0,"sold_problem":null,"events_after":0,"events_until":0,"#,
                r#""events_cursor":null,"events_missed":0,"events_missed_at":0,"undelivered":null}"#,
            )
        );
        let old = r#"{"cursor":3,"clip_problems":{"b":"x","a":"y"},"incident":{"opened_at":1,"announced":["z","a"]},"run_at":2,"gone":1}"#;
        let read = MonitorState::from_json(old).unwrap();
        assert_eq!(
            read.to_json(),
            concat!(
                r#"{"cursor":3,"clip_problems":{"a":"y","b":"x"},"#,
                r#""incident":{"opened_at":1,"announced":["a","z"]},"#,
                r#""run_at":2,"sold_catalog":"","sold_at":0,"sold_problem":null,"events_after":0,"#,
                r#""events_until":0,"events_cursor":null,"events_missed":0,"events_missed_at":0,"undelivered":null}"#,
            )
        );
        for bad in [
            "",
            r#"{"cursor":-1}"#,
            r#"{"cursor":null}"#,
            r#"{"incident":{"announced":[]}}"#,
            r#"{"clip_problems":{"a":1}}"#,
            r#"{"sold_at":1,"sold_at":2}"#,
        ] {
            assert!(MonitorState::from_json(bad).is_err(), "{bad}");
        }
    }

    /// The health answers and the webhook's body, byte for byte.
    #[test]
    fn answers_and_the_webhook_body_are_pinned() {
        let (status, body) = health_report(&[Check::pass("storage", "ok"), Check::fail("ledger", "no \"DB\"")]);
        assert_eq!(status, 503);
        assert_eq!(
            json::to_string_sorted(&body),
            concat!(
                r#"{"checks":[{"detail":"ok","name":"storage","ok":true},"#,
                "{\"detail\":\"no \\\"DB\\\"\",\"name\":\"ledger\",\"ok\":false}],",
                r#""ok":false}"#,
            )
        );
        assert_eq!(json::to_string_sorted(&liveness()), r#"{"ok":true,"service":"clipstore"}"#);
        let broken = run(
            &[
                ("a", Some(ClipProblem::Missing)),
                ("b", Some(ClipProblem::WrongHash { expected: "e".into(), found: "f".into() })),
            ],
            &[("ledger", "D1 down")],
        );
        let (_, notice) = conclude(&MonitorState::default(), &broken, 100);
        assert_eq!(
            json::to_string_sorted(&notice.unwrap().webhook_json("Shop \"S\"")),
            concat!(
                r#"{"clipstore":{"cleared":[],"kind":"alert","new":["clip:a","#,
                r#""clip:b","ledger"],"problems":[{"detail":"missing from the bucket, so its buyers cannot download it (unless a secondary origin has it): `site-gen push` uploads it","#,
                r#""key":"clip:a"},{"detail":"wrong sha256: f in the bucket,"#,
                r#" the catalog says e","key":"clip:b"},{"detail":"D1 down","#,
                "\"key\":\"ledger\"}]},\"content\":\"🚨 Shop \\\"S\\\": 3 problems found by the scheduled self-",
                "test; customers' downloads may be failing.\\n- clip a (new): missing from the bucket, so its buyers cannot download it (unless a secondary origin has it): `site-gen push` uploads it\\n- clip",
                " b (new): wrong sha256: f in the bucket, the catalog says e\\n- ledger (new): D1 down\\nNo fu",
                "rther alert until something else breaks; a \\\"recovered\\\" message follows the fix.\",",
                "\"text\":\"🚨 Shop \\\"S\\\": 3 problems found by the scheduled self-test; customers' download",
                "s may be failing.\\n- clip a (new): missing from the bucket, so its buyers cannot download it (unless a secondary origin has it): `site-gen push` uploads it\\n- clip b (new): wrong sha256: f",
                " in the bucket, the catalog says e\\n- ledger (new): D1 down\\nNo further alert until somethi",
                "ng else breaks; a \\\"recovered\\\" message follows the fix.\"}",
            )
        );
        // A catalog clip's problem and object, as `/admin/catalog` answers them.
        let problems = [
            ClipProblem::Missing,
            ClipProblem::WrongSize { expected: 2, found: 1 },
            ClipProblem::WrongHash { expected: "e".into(), found: "f".into() },
        ]
        .map(|problem| json::to_string_sorted(&problem))
        .join(" ");
        assert_eq!(
            problems,
            concat!(
                r#"{"problem":"missing"} {"expected":2,"found":1,"problem":"wrong_size"} {"expected"#,
                r#"":"e","found":"f","problem":"wrong_hash"}"#,
            )
        );
        let object = StoredObject { size: 3, sha256: None, etag: "\"e\"".into() };
        assert_eq!(json::to_string_sorted(&object), r#"{"etag":"\"e\"","sha256":null,"size":3}"#);
    }

    #[test]
    fn state_round_trips_and_tolerates_empty() {
        let (state, _) = conclude(&MonitorState::default(), &run(&[("a", Some(ClipProblem::Missing))], &[]), 5);
        assert_eq!(MonitorState::from_json(&state.to_json()).unwrap(), state);
        assert_eq!(MonitorState::from_json("{}").unwrap(), MonitorState::default());
    }

    /// The announced keys read and write as the `BTreeSet` they were.
    #[test]
    fn announced_keys_are_a_set() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Before {
            opened_at: u64,
            announced: BTreeSet<String>,
        }
        for text in [
            r#"{"opened_at":1,"announced":["b","a","clip:x","b"]}"#,
            r#"{"opened_at":1,"announced":[]}"#,
            r#"{"announced":["a"],"opened_at":2}"#,
        ] {
            let (now, before): (Incident, Before) =
                (json::from_str(text).unwrap(), serde_json::from_str(text).unwrap());
            assert_eq!(json::to_string(&now), serde_json::to_string(&before).unwrap());
        }
        for bad in [
            r#"{"opened_at":1,"announced":{"a":1}}"#,
            r#"{"opened_at":1,"announced":[1]}"#,
            r#"{"opened_at":1}"#,
            r#"{"opened_at":1,"opened_at":1,"announced":[]}"#,
        ] {
            assert!(json::from_str::<Incident>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<Before>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mail_refused_for_the_shop_is_a_problem_at_once() {
        assert_eq!(mail_refused_problem(0, 0, None), None);
        let answer = format!("{}Resend answered 401 validation_error: API key is invalid", crate::mail::SHOP_REFUSED);
        let p = mail_refused_problem(1, 90, Some(&answer)).unwrap();
        assert!(p.starts_with("the mail provider refuses the shop's API key or sender"), "{p}");
        assert!(p.contains("1 e-mail waiting (the oldest for 1 minute)"), "{p}");
        assert!(p.contains("it last answered: Resend answered 401 validation_error: API key is invalid."), "{p}");
        assert!(p.contains("RESEND_API_KEY") && p.contains("MAIL_FROM"), "{p}");
        assert!(mail_refused_problem(4, 3 * 3600, None)
            .unwrap()
            .contains("4 e-mails waiting (the oldest for 3 hours)"));
        let p = mail_refused_problem(2, 20, Some("Resend answered 403 invalid_api_key: API key is invalid.")).unwrap();
        assert!(p.contains("(the oldest for less than a minute); it last answered: Resend answered 403 invalid_api_key: API key is invalid. Put"), "{p}");
    }

    #[test]
    fn stuck_mail() {
        assert_eq!(mail_stuck_minutes(None), 30);
        assert_eq!(mail_stuck_minutes(Some(" 10 ")), 10);
        assert_eq!(mail_stuck_minutes(Some("0")), 30);
        assert_eq!(mail_stuck_problem(0, 0, 30, None), None);
        assert_eq!(
            mail_stuck_problem(1, 45 * 60, 30, None).unwrap(),
            "1 e-mail waiting in the outbox for more than 30 minutes (the oldest for 45 minutes); customers may be without their download links"
        );
        let p = mail_stuck_problem(3, 5 * 3600 + 10, 30, Some("RESEND_API_KEY is not set")).unwrap();
        assert!(
            p.starts_with("3 e-mails") && p.contains("5 hours") && p.ends_with(": RESEND_API_KEY is not set"),
            "{p}"
        );
        // One alert while it lasts, a recovered message when the queue drains.
        let stuck = RunFindings { system: vec![("mail_stuck".into(), p)], ..RunFindings::default() };
        let (state, alert) = conclude(&MonitorState::default(), &stuck, 1);
        let alert = alert.unwrap();
        assert_eq!(alert.subject("Shop"), "🚨 Shop: e-mail not going out", "the problem in the owner's words");
        assert!(alert.text("Shop").contains("- mail_stuck (new): 3 e-mails"));
        let worse = RunFindings {
            system: vec![("mail_stuck".into(), mail_stuck_problem(4, 6 * 3600, 30, None).unwrap())],
            ..RunFindings::default()
        };
        let (state, again) = conclude(&state, &worse, 2);
        assert_eq!(again, None, "more stuck mail is the same incident");
        let (_, recovered) = conclude(&state, &RunFindings::default(), 3);
        assert_eq!(recovered.unwrap().subject("Shop"), "✅ Shop: recovered");
        // With two open, one fixed; and a clip and the ledger at once.
        let two = RunFindings {
            system: vec![("mail_stuck".into(), "x".into()), ("ledger".into(), "y".into())],
            ..RunFindings::default()
        };
        let (state, alert) = conclude(&MonitorState::default(), &two, 1);
        assert_eq!(alert.unwrap().subject("Shop"), "🚨 Shop: the download records (D1) and 1 more problem");
        let one = RunFindings { system: vec![("ledger".into(), "y".into())], ..RunFindings::default() };
        assert!(touches_downloads("downloads_stuck"));
        let (_, cleared) = conclude(&state, &one, 2);
        assert_eq!(cleared.unwrap().subject("Shop"), "✅ Shop: fixed: e-mail not going out");
        assert_eq!(title("clip:harbour"), "the file of clip harbour in storage");
        assert_eq!(title("clip:harbour@secondary"), "the backup copy of clip harbour", "not R2's");
        // A stuck customer is not an outage; several are said so.
        for (stuck, headline) in [(1, "a customer's download needs you"), (3, "customers' downloads need you")] {
            let problem = downloads_stuck_problem(stuck, Some("order O, clip c")).unwrap();
            let found = RunFindings { system: vec![("downloads_stuck#9".into(), problem)], ..RunFindings::default() };
            let text = conclude(&MonitorState::default(), &found, 1).1.unwrap().text("Shop");
            assert!(text.contains(headline) && !text.contains("may be failing"), "{text}");
        }
        assert_eq!(title("payments#41"), "payments to look at");
    }

    #[test]
    fn health() {
        let (status, body) = health_report(&[Check::pass("storage", "ok"), Check::fail("ledger", "no DB binding")]);
        assert_eq!(status, 503);
        let body: serde_json::Value = serde_json::from_str(&json::to_string_sorted(&body)).unwrap();
        assert_eq!(body["ok"], false);
        assert_eq!(body["checks"][1]["name"], "ledger");
        assert_eq!(health_report(&[Check::pass("storage", "ok")]).0, 200);
    }

    #[test]
    fn a_ledger_without_this_workers_migrations_is_a_problem() {
        let all: Vec<String> = crate::ledger::MIGRATIONS.iter().map(|m| m.to_string()).collect();
        assert_eq!(schema_problem(&all), None);
        let problem = schema_problem(&all[..all.len() - 1]).unwrap();
        assert!(problem.contains(crate::ledger::MIGRATIONS.last().unwrap()), "{problem}");
        assert!(problem.contains("npx wrangler d1 migrations apply DB --remote"));
        assert!(problem.contains("the cart's checkout opens no payment page (customers cannot buy)"), "{problem}");
        assert!(schema_problem(&[]).unwrap().contains("0001_downloads.sql, 0002_ledger.sql"));
    }
}
