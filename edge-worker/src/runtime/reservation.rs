//! Reserves a download's bytes before its first byte and settles them after
//! its last (docs/downloads.md, "The precise rule"): the D1 side of the
//! allowance. The rule itself is in `crate::allowance`, the SQL in
//! `crate::ledger::sql`, the streaming that reports what was sent in
//! `super::stream`.

use worker::*;

use super::d1::Query;
use super::{
    batch, bind, d1_error, now_unix, num, order_facts, order_seen, rows, stream, text, write_fallback, write_record,
    Attempt,
};
use crate::allowance::{self, DownloadAllowance};
use crate::delivery::ByteSpan;
use crate::error::DownloadError;
use crate::ledger::{self, sql, AttemptRecord, FallbackRecord, Settlement, StaleAttempt};
use clipstore_core::Claims;

struct GrantRow {
    #[allow(dead_code)]
    granted_bytes: u64,
}
crate::from_row!(GrantRow { granted_bytes });

pub(super) struct RefusalRow {
    revoked_at: Option<u64>,
    revoked_reason: Option<String>,
    clip_revoked: u64,
    not_before: Option<u64>,
    /// What the clip of the order is charged now.
    pub(super) granted_bytes: Option<u64>,
    reserved_bytes: Option<u64>,
}
crate::from_row!(RefusalRow { revoked_at, revoked_reason, not_before, granted_bytes, reserved_bytes } defaults { clip_revoked });

fn grant_statement(
    db: &D1Database,
    claims: &Claims,
    slug: &str,
    length: u64,
    allowance: DownloadAllowance,
) -> std::result::Result<D1PreparedStatement, DownloadError> {
    bind(
        db,
        sql::GRANT,
        &[
            text(&claims.order_id),
            text(slug),
            num(length),
            num(allowance.size),
            num(allowance.unit()),
            num(allowance.budget()),
            num(now_unix()),
            num(claims.issued_at),
        ],
    )
}

/// Runs statements ending with `GRANT`: whether it reserved the bytes.
async fn granted(db: &D1Database, statements: Vec<D1PreparedStatement>) -> std::result::Result<bool, DownloadError> {
    let results = batch(db, statements).await?;
    let rows = results.last().map(rows::<GrantRow>).transpose()?.unwrap_or_default();
    Ok(!rows.is_empty())
}

/// Waits the next of the [`allowance::settlement_polls`] pauses; `false`
/// when the wait is over.
pub(super) async fn wait_for_settlement(polls: &mut impl Iterator<Item = u64>) -> bool {
    match polls.next() {
        Some(pause) => {
            Delay::from(std::time::Duration::from_millis(pause)).await;
            true
        }
        None => false,
    }
}

/// How a request's bytes were reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reserved {
    /// The whole span (`u64` bytes reserved: at least the least charge,
    /// `allowance::DownloadAllowance::reservation`), before the first byte.
    Whole(u64),
    /// Only the first segment (`u64` bytes): the span did not fit while
    /// other responses of the order held reservations. The rest is reserved
    /// segment by segment ([`Steps`]) as their settlements make room.
    InSteps(u64),
    /// Only the first segment (`u64` bytes), and no more: a download tool's
    /// opening request that does not fit ([`reserve`]), answered with the
    /// headers it asks for and then cut off.
    Probe(u64),
}

/// The order's state after a refused grant (or a grant D1 could not write,
/// when it still answers reads).
pub(super) async fn refusal_state(
    db: &D1Database,
    claims: &Claims,
    slug: &str,
) -> std::result::Result<RefusalRow, DownloadError> {
    let state = bind(db, sql::REFUSAL_STATE, &[text(&claims.order_id), text(slug)])?
        .first_row::<RefusalRow>()
        .await
        .map_err(|e| d1_error("refusal state", e))?
        .ok_or(DownloadError::AllowanceUsedUp)?;
    if let Some(refusal) = state.revocation(claims) {
        return Err(refusal);
    }
    Ok(state)
}

/// Whether one response sent the order the clip whole
/// (`ledger::sql::RECEIVED_IN_ONE`); `true` when D1 cannot tell, so that a
/// probe is never granted on a doubt.
async fn received_in_one(db: &D1Database, claims: &Claims, slug: &str, size: u64) -> bool {
    let values = [text(&claims.order_id), text(slug), num(size), num(0)];
    super::download::found(db, sql::RECEIVED_IN_ONE, &values).await.ok().flatten().is_none_or(|whole| whole != 0)
}

/// What a browser's refused fresh start (a tap on Download) is told: that
/// the clip is still downloading when a response sent its end (a whole
/// download's, or a resume's) in the last [`allowance::JUST_SENT_MS`],
/// else that it is used up. The Worker sees that end leave, not arrive: a
/// second tap meanwhile was told "used all downloads", and its customer
/// cancelled the first (the players review). A tool's request is told it
/// is used up.
async fn refusal(db: &D1Database, claims: &Claims, slug: &str, size: u64, restart: bool) -> DownloadError {
    if !restart {
        return DownloadError::AllowanceUsedUp;
    }
    let since = Date::now().as_millis().saturating_sub(allowance::JUST_SENT_MS).max(1);
    let values = [text(&claims.order_id), text(slug), num(size), num(since)];
    match super::download::found(db, sql::RECEIVED_IN_ONE, &values).await {
        Ok(Some(sent)) if sent != 0 => DownloadError::InProgress,
        _ => DownloadError::AllowanceUsedUp,
    }
}

/// A fresh start of the whole clip that does not fit, after downloads of it
/// broke off (a browser's customer cancelled one: the browser deleted the
/// file and cannot resume it): what the broken downloads are still charged
/// is given back once, and the clip granted (`ledger::sql::RESTART_EVENT`,
/// which says when; the `restart` event shows in `site-gen orders show`).
async fn restarted(
    db: &D1Database,
    claims: &Claims,
    slug: &str,
    allowance: DownloadAllowance,
    attempt_id: &str,
) -> std::result::Result<bool, DownloadError> {
    let detail = text(&format!("a fresh start after downloads that broke off, given back (attempt {attempt_id})"));
    let (order, clip) = (text(&claims.order_id), text(slug));
    let (size, budget) = (num(allowance.size), num(allowance.budget()));
    let attempt = text(attempt_id);
    let event = [
        order.clone(),
        clip.clone(),
        size.clone(),
        budget,
        detail.clone(),
        num(now_unix()),
        num(claims.issued_at),
        attempt.clone(),
    ];
    let statements = vec![
        bind(db, sql::RESTART_EVENT, &event)?,
        bind(db, sql::RESTART_CLIP, &[order.clone(), clip.clone(), detail.clone(), size.clone(), attempt.clone()])?,
        bind(db, sql::RESTART_ATTEMPTS, &[order, clip, detail, size, attempt])?,
        grant_statement(db, claims, slug, allowance.size, allowance)?,
    ];
    granted(db, statements).await
}

/// Reserves bytes for the request before its first byte
/// (docs/downloads.md, "The race"): the whole span when it fits
/// (`ledger::sql::GRANT`, in one batch with the order and link seen, what
/// downloads broken off on a replaced file are given back,
/// `ledger::sql::CREDIT_REPLACED_CLIP`, and the credit a resume gives back,
/// `ledger::sql::CREDIT_ATTEMPT`). `attempt`: its id and the object's ETag.
/// When it does not fit but the order has reservations in flight whose
/// settlement could make room (a download manager's first `GET`, still
/// open), only the first segment of `first` bytes, as soon as it fits,
/// waiting a bounded time ([`allowance::settlement_polls`]). A download
/// tool's `opening` request (a plain `GET` of the whole clip, not a
/// browser's navigation: `aria2c -c` asks so, and drops it after the
/// headers, before the ranges its file lacks) that does not fit gets its
/// first segment if that fits, and is then cut off ([`Reserved::Probe`]):
/// refused, the tool gave up on a resume that fits. Only while no response
/// sent the order the clip whole in one ([`received_in_one`]): once one
/// did, every client gets the refusal ("used all downloads"), not a file
/// cut short.
/// A fresh start of the whole clip (`restart`) after its downloads broke off
/// is given back what they are still charged, once ([`restarted`]); it
/// waits for reservations in flight to settle (for
/// [`allowance::RESTART_WAIT_MS`]) rather than being served in
/// steps (the download it follows, cancelled a moment ago, may not have
/// settled yet). Otherwise, or after the wait, refused. `Err(Unavailable)` when D1 fails
/// at once.
#[allow(clippy::too_many_arguments)]
pub(super) async fn reserve(
    db: &D1Database,
    claims: &Claims,
    slug: &str,
    span: ByteSpan,
    first: u64,
    allowance: DownloadAllowance,
    attempt: &AttemptRecord,
    opening: bool,
    restart: bool,
    stops: Option<&super::stream::Stops>,
) -> std::result::Result<Reserved, DownloadError> {
    let attempt_id = attempt.attempt_id.as_str();
    // Every granted request is charged at least the least charge, and
    // reserves as much (`DownloadAllowance::least_charge`).
    let (length, first) = (allowance.reservation(span.length), allowance.reservation(first));
    let mut statements = order_seen(db, &order_facts(claims), &claims.key_id)?;
    let (order, clip) = (text(&claims.order_id), text(slug));
    // Downloads broken off on a file the owner has since replaced.
    if let Some(etag) = attempt.etag.as_deref() {
        statements.push(bind(db, sql::CREDIT_REPLACED_CLIP, &[order.clone(), clip.clone(), text(etag)])?);
        let marker = text(&format!("{attempt_id}:replaced"));
        statements.push(bind(db, sql::CREDIT_REPLACED_ATTEMPTS, &[order.clone(), clip.clone(), text(etag), marker])?);
    }
    statements.push(bind(
        db,
        sql::CREDIT_ATTEMPT,
        &[
            order.clone(),
            clip.clone(),
            num(span.offset),
            num(span.length),
            text(attempt_id),
            num(allowance.credit_pool()),
        ],
    )?);
    statements.push(bind(db, sql::CREDIT_CLIP, &[order, clip, text(attempt_id)])?);
    statements.push(grant_statement(db, claims, slug, length, allowance)?);
    if granted(db, statements).await? {
        return Ok(Reserved::Whole(length));
    }
    let mut polls = allowance::settlement_polls_within(if restart {
        allowance::RESTART_WAIT_MS
    } else {
        allowance::SETTLEMENT_WAIT_MS
    });
    loop {
        let state = refusal_state(db, claims, slug).await.map_err(|e| match e {
            DownloadError::Unavailable { .. } => DownloadError::AllowanceUsedUp,
            refused => refused,
        })?;
        let (held, in_flight) = (state.granted_bytes.unwrap_or(0), state.reserved_bytes.unwrap_or(0));
        // While waiting, a D1 failure refuses: the allowance was just found
        // used up, so this is no paying customer's only chance.
        let try_grant = |bytes| async move {
            matches!(granted(db, vec![grant_statement(db, claims, slug, bytes, allowance)?]).await, Ok(true))
                .then_some(())
                .ok_or(DownloadError::AllowanceUsedUp)
        };
        if allowance.fits(held, length) && try_grant(length).await.is_ok() {
            return Ok(Reserved::Whole(length));
        }
        if !allowance::settlement_could_make_room(held, in_flight, length, allowance.budget()) {
            if restart && matches!(restarted(db, claims, slug, allowance, attempt_id).await, Ok(true)) {
                return Ok(Reserved::Whole(allowance.size));
            }
            if opening
                && allowance.fits(held, first)
                && !received_in_one(db, claims, slug, allowance.size).await
                && try_grant(first).await.is_ok()
            {
                return Ok(Reserved::Probe(first));
            }
            // The budget's last bytes, fewer than the least charge: a request
            // they hold (the last piece of a resume) takes all of them, and
            // the next finds none. (Refused, a download cut off at 99.9 %
            // on a tight link could not be finished, though the order page
            // offered its resume.)
            let tail = allowance.budget().saturating_sub(held);
            if span.length <= tail && tail < length && try_grant(tail).await.is_ok() {
                return Ok(Reserved::Whole(tail));
            }
            return Err(refusal(db, claims, slug, allowance.size, restart).await);
        }
        if !restart && allowance.fits(held, first) && try_grant(first).await.is_ok() {
            return Ok(Reserved::InSteps(first));
        }
        // What it waits for may be a stream of its client that is to stop
        // where it starts: stopped now, it settles (held, it waited for
        // this request, and this request for it: the diff review).
        if let Some(stops) = stops {
            stops.apply();
        }
        if !wait_for_settlement(&mut polls).await {
            // Another response of the clip still holds what is left: a
            // second tap on Download, told so (it may yet give bytes back).
            return Err(if in_flight > 0 {
                DownloadError::InProgress
            } else {
                refusal(db, claims, slug, allowance.size, restart).await
            });
        }
    }
}

/// The reservations of a response granted [`Reserved::InSteps`]: one per
/// segment, made while the segment before it is piped; in D1, or while D1
/// fails in the link's R2 fallback records.
pub(super) enum Steps {
    Ledger(LedgerSteps),
    Offline(Box<super::offline::OfflineSteps>),
    /// A [`Reserved::Probe`]: what it reserved, and nothing more.
    Probe(u64),
}

impl stream::MoreBytes for Steps {
    async fn reserve(&mut self, bytes: u64) -> bool {
        match self {
            Steps::Ledger(steps) => steps.reserve(bytes).await,
            Steps::Offline(steps) => steps.reserve(bytes).await,
            Steps::Probe(_) => false,
        }
    }

    fn reserved(&self) -> u64 {
        match self {
            Steps::Ledger(steps) => steps.reserved(),
            Steps::Offline(steps) => steps.reserved(),
            Steps::Probe(reserved) => *reserved,
        }
    }
}

/// [`Steps`] in D1.
pub(super) struct LedgerSteps {
    pub(super) db: D1Database,
    pub(super) claims: Claims,
    pub(super) slug: String,
    pub(super) allowance: DownloadAllowance,
    /// Bytes this response has reserved so far.
    pub(super) reserved: u64,
    /// Its attempt's row, which says so (for the stale sweep, `crate::stale`).
    pub(super) attempt_id: String,
}

impl stream::MoreBytes for LedgerSteps {
    /// Reserves the next segment, waiting (bounded) while the order's other
    /// in-flight reservations could still make room; `false` cuts the
    /// response off: the allowance is used up.
    async fn reserve(&mut self, bytes: u64) -> bool {
        let mut polls = allowance::settlement_polls();
        loop {
            let grant = grant_statement(&self.db, &self.claims, &self.slug, bytes, self.allowance);
            let ok = match grant {
                Ok(statement) => granted(&self.db, vec![statement]).await,
                Err(e) => Err(e),
            };
            match ok {
                Ok(true) => {
                    self.reserved += bytes;
                    // Should the response stop without settling, the sweep
                    // settles what its row says it reserved.
                    let row = bind(&self.db, sql::RESERVED_SO_FAR, &[text(&self.attempt_id), num(self.reserved)]);
                    if let Err(e) = match row {
                        Ok(statement) => batch(&self.db, vec![statement]).await.map(|_| ()),
                        Err(e) => Err(e),
                    } {
                        console_warn!(
                            "{}",
                            log_line!({ "event": "reservation_not_recorded", "attempt": self.attempt_id, "error": format!("{e:?}") })
                        );
                    }
                    return true;
                }
                Ok(false) => {}
                Err(_) => return false,
            }
            let Ok(state) = refusal_state(&self.db, &self.claims, &self.slug).await else { return false };
            let held = state.granted_bytes.unwrap_or(0);
            let others = state.reserved_bytes.unwrap_or(0).saturating_sub(self.reserved);
            if !allowance::settlement_could_make_room(held, others, bytes, self.allowance.budget()) {
                console_log!(
                    "{}",
                    log_line!({ "event": "download_cut_off", "order": self.claims.order_id, "granted": held, "in_flight": others, "reserved": self.reserved })
                );
                return false;
            }
            if !wait_for_settlement(&mut polls).await {
                return false;
            }
        }
    }

    fn reserved(&self) -> u64 {
        self.reserved
    }
}

/// Whether the order is revoked (or its links replaced by a reissue), for
/// answers without a body, which reserve nothing.
pub(super) async fn revoked(db: &D1Database, claims: &Claims, slug: &str) -> Result<Option<DownloadError>, ()> {
    let statement = bind(db, sql::REFUSAL_STATE, &[text(&claims.order_id), text(slug)]).map_err(|_| ())?;
    let state = statement.first_row::<RefusalRow>().await.map_err(|_| ())?;
    Ok(state.and_then(|s| s.revocation(claims)))
}

impl RefusalRow {
    fn revocation(&self, claims: &Claims) -> Option<DownloadError> {
        DownloadError::revocation(
            self.revoked_at,
            self.revoked_reason.as_deref(),
            crate::error::ClipRevoked::from_code(self.clip_revoked),
            self.not_before.unwrap_or(0),
            claims.issued_at,
        )
    }
}

/// Settles the attempt's reservation to the bytes its response sent
/// (docs/downloads.md, "Settlement"): in D1 when it was reserved there (tried
/// twice), else in its R2 fallback record, which the merge then charges.
/// When D1 refuses a settlement it owes, the settlement goes into a fallback
/// record of its own, which the merge runs once D1 takes it: a download
/// that broke off while D1 failed is not left charged in full.
/// `least_charge`: what it is charged at least, whatever it sent
/// (`DownloadAllowance::least_charge`; 0 when the Worker failed it).
pub(super) async fn settle(env: &Env, attempt: &mut Attempt, end: stream::StreamEnd, least_charge: u64) {
    let at = Date::now().as_millis();
    let r = &mut attempt.record;
    let reserved = end.reserved.or(r.reserved_bytes).unwrap_or(0);
    let sent = end.sent.min(reserved);
    let settlement = Settlement {
        reserved,
        sent,
        least: least_charge,
        completed: end.completed,
        at,
        pool: attempt.allowance.map_or(0, |a| a.credit_pool()),
    };
    (r.reserved_bytes, r.sent_bytes, r.charged_bytes, r.completed, r.settled_at) =
        (Some(reserved), Some(sent), settlement.charged(), Some(end.completed.into()), Some(at));
    console_log!(
        "{}",
        log_line!({ "event": "download_settled", "attempt": r.attempt_id, "reserved": reserved, "sent": sent,
                    "charged": settlement.charged(), "completed": end.completed })
    );
    // Granted in D1, but the attempt's own row went to R2 (its write
    // failed): the reservation is in D1, so it is settled there, the row
    // written with it.
    let reserved_in_d1 = r.recorded_via == "d1" || (attempt.charge.is_none() && attempt.granted > 0);
    if !reserved_in_d1 {
        if let Some(charge) = attempt.charge.as_mut() {
            charge.bytes = settlement.charged();
        }
        write_fallback(env, attempt).await;
        return;
    }
    let row = (attempt.record.recorded_via == "fallback").then(|| unsettled_row(&attempt.record));
    let mut error = None;
    for pause in [0, SETTLEMENT_RETRY_MS] {
        if pause > 0 {
            Delay::from(std::time::Duration::from_millis(pause)).await;
        }
        match settle_in_d1(env, &attempt.record, settlement, row.as_ref()).await {
            Ok(()) => {
                attempt.record.recorded_via = "d1".to_string();
                return;
            }
            Err(e) => error = Some(e),
        }
    }
    console_error!(
        "{}",
        log_line!({ "event": "settlement_deferred", "attempt": attempt.record.attempt_id, "error": format!("{error:?}") })
    );
    let record = FallbackRecord {
        attempt: unsettled_row(&attempt.record).record,
        order: attempt.order.clone(),
        charge: None,
        settlement: Some(settlement),
    };
    write_record(env, &record).await;
}

async fn settle_in_d1(
    env: &Env,
    record: &AttemptRecord,
    settlement: Settlement,
    row: Option<&Attempt>,
) -> std::result::Result<(), DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let statements = settlement_statements(&db, record, settlement, row, false)?;
    batch(&db, statements).await.map(|_| ())
}

/// Pause before the one retry of a settlement D1 refused.
const SETTLEMENT_RETRY_MS: u64 = 300;

/// The attempt's row as it goes into D1 before its settlement: unsettled,
/// recorded in D1 (where its reservation is).
pub(super) fn unsettled_row(record: &AttemptRecord) -> Attempt {
    let mut unsettled = record.clone();
    (unsettled.settled_at, unsettled.recorded_via) = (None, "d1".to_string());
    Attempt { record: unsettled, order: None, charge: None, granted: 0, ledger_ms: 0, allowance: None }
}

/// The settlement's statements, for one D1 batch (`ledger::settlement_sql`),
/// after the attempt's row when it may not be in D1 yet (`row`). `swept`:
/// the stale sweep settles it. An attempt without an order and clip has
/// nothing to settle.
pub(super) fn settlement_statements(
    db: &D1Database,
    record: &AttemptRecord,
    s: Settlement,
    row: Option<&Attempt>,
    swept: bool,
) -> std::result::Result<Vec<D1PreparedStatement>, DownloadError> {
    let (Some(order_id), Some(slug)) = (record.order_id.as_deref(), record.clip_slug.as_deref()) else {
        return Ok(Vec::new());
    };
    let mut statements = Vec::new();
    if let Some(row) = row {
        statements.push(row.insert(db)?);
    }
    statements.extend(bound_settlement_sql(db, &record.attempt_id, order_id, slug, s, swept)?);
    Ok(statements)
}

/// `ledger::settlement_sql`, bound for D1: [`settlement_statements`] of an
/// attempt whose row is in D1.
fn bound_settlement_sql(
    db: &D1Database,
    attempt_id: &str,
    order_id: &str,
    slug: &str,
    s: Settlement,
    swept: bool,
) -> std::result::Result<Vec<D1PreparedStatement>, DownloadError> {
    // Unique to this run: a second run of the same settlement finds no
    // credit of its own to apply.
    let marker = format!("{attempt_id}:settled:{:x}", (js_sys::Math::random() * 4_294_967_296.0) as u32);
    ledger::settlement_sql(attempt_id, order_id, slug, &s, swept, &marker)
        .into_iter()
        .map(|(statement, params)| {
            let values: Vec<wasm_bindgen::JsValue> = params
                .iter()
                .map(|p| match p {
                    ledger::Param::Text(v) => text(v),
                    ledger::Param::Num(v) => num(*v),
                })
                .collect();
            bind(db, statement, &values)
        })
        .collect()
}

/// Settles the reservations of responses that stopped mid-stream without
/// settling (`crate::stale`): those reserved in D1 with no news for the
/// stale window, to what each last reported. Returns how many.
pub(super) async fn settle_stale(env: &Env) -> std::result::Result<u32, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let now = Date::now().as_millis();
    let cutoff = now.saturating_sub(stale_seconds(env).saturating_mul(1000));
    let stale: Vec<StaleAttempt> = bind(&db, sql::STALE_ATTEMPTS, &[num(cutoff), num(STALE_BATCH)])?
        .all_rows()
        .await
        .map_err(|e| d1_error("stale attempts", e))?;
    let mut settled = 0;
    for attempt in &stale {
        let s = attempt.settlement(now);
        let statements = bound_settlement_sql(&db, &attempt.attempt_id, &attempt.order_id, &attempt.clip_slug, s, true);
        // One that fails does not keep the others unsettled: the next run tries it again.
        if let Err(e) = match statements {
            Ok(statements) => batch(&db, statements).await.map(|_| ()),
            Err(e) => Err(e),
        } {
            console_error!(
                "{}",
                log_line!({ "event": "stale_settlement_failed", "attempt": attempt.attempt_id, "error": format!("{e:?}") })
            );
            continue;
        }
        console_warn!(
            "{}",
            log_line!({ "event": "stale_download_settled", "attempt": attempt.attempt_id, "order": attempt.order_id,
                    "clip": attempt.clip_slug, "reserved": s.reserved, "sent": s.sent })
        );
        settled += 1;
    }
    Ok(settled)
}

/// Stale reservations settled per run at most (the cron runs every 5 minutes).
const STALE_BATCH: u64 = 100;

/// The stale window (`STALE_DOWNLOAD_SECONDS`, `crate::stale::stale_seconds`);
/// a malformed setting is logged and the default used.
pub(super) fn stale_seconds(env: &Env) -> u64 {
    let setting = env.var("STALE_DOWNLOAD_SECONDS").ok().map(|v| v.to_string());
    crate::stale::stale_seconds(setting.as_deref()).unwrap_or_else(|e| {
        console_error!("{}", log_line!({ "event": "config_invalid", "error": e }));
        crate::stale::DEFAULT_STALE_SECONDS
    })
}

/// Reports a streaming response's progress to the ledger (`crate::stale`),
/// each report a D1 write of its own in the background.
pub(super) struct LedgerProgress {
    pub(super) db: std::rc::Rc<D1Database>,
    pub(super) attempt_id: String,
    /// The attempt's row while it may be missing from D1 (its write failed;
    /// the reservation is there): each report writes it first (`INSERT OR
    /// IGNORE`) until one succeeds, so that the stale sweep finds the
    /// reservation even if this isolate stops before its settlement.
    pub(super) row: std::rc::Rc<std::cell::RefCell<Option<Attempt>>>,
}

impl stream::Progress for LedgerProgress {
    fn report(&self, sent: u64) {
        let (db, attempt_id, row) = (self.db.clone(), self.attempt_id.clone(), self.row.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let now = Date::now().as_millis();
            let statements = || -> std::result::Result<Vec<D1PreparedStatement>, DownloadError> {
                let mut statements =
                    row.borrow().as_ref().map(|r| r.insert(&db)).transpose()?.into_iter().collect::<Vec<_>>();
                statements.push(bind(&db, sql::PROGRESS, &[text(&attempt_id), num(sent), num(now)])?);
                Ok(statements)
            };
            let written = match statements() {
                Ok(statements) => batch(&db, statements).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if written.is_ok() {
                row.borrow_mut().take();
            }
            if let Err(e) = written {
                console_warn!(
                    "{}",
                    log_line!({ "event": "progress_not_recorded", "attempt": attempt_id, "error": format!("{e:?}") })
                );
            }
        });
    }
}
