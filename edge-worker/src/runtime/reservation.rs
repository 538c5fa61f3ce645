//! Reserves a download's bytes before its first byte and settles them after
//! its last (docs/downloads.md, "The precise rule"): the D1 side of the
//! allowance. The rule itself is in `crate::allowance`, the SQL in
//! `crate::ledger::sql`, the streaming that reports what was sent in
//! `super::stream`.

use worker::*;

use super::d1::Query;
use super::{
    batch, bind, d1_error, now_unix, num, order_facts, order_seen, rows, stream, text, write_fallback, Attempt,
};
use crate::allowance::{self, DownloadAllowance};
use crate::delivery::ByteSpan;
use crate::error::DownloadError;
use crate::ledger::sql;
use clipstore_core::Claims;

struct GrantRow {
    #[allow(dead_code)]
    granted_bytes: u64,
}
crate::from_row!(GrantRow { granted_bytes });

struct RefusalRow {
    revoked_at: Option<u64>,
    revoked_reason: Option<String>,
    clip_revoked: u64,
    not_before: Option<u64>,
    granted_bytes: Option<u64>,
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
    /// The whole span, before the first byte.
    Whole,
    /// Only the first segment (`u64` bytes): the span did not fit while
    /// other responses of the order held reservations. The rest is reserved
    /// segment by segment ([`Steps`]) as their settlements make room.
    InSteps(u64),
}

/// The order's state after a refused grant.
async fn refusal_state(db: &D1Database, claims: &Claims, slug: &str) -> std::result::Result<RefusalRow, DownloadError> {
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

/// Reserves bytes for the request before its first byte
/// (docs/downloads.md, "The race"): the whole span when it fits
/// (`ledger::sql::GRANT`, in one batch with the order and link seen and the
/// credit a resume gives back, `ledger::sql::CREDIT_ATTEMPT`).
/// When it does not fit but the order has reservations in flight whose
/// settlement could make room (a download manager's first `GET`, still
/// open), only the first segment of `first` bytes, as soon as it fits,
/// waiting a bounded time ([`allowance::settlement_polls`]). Otherwise, or
/// after the wait, refused. `Err(Unavailable)` when D1 fails at once.
pub(super) async fn reserve(
    db: &D1Database,
    claims: &Claims,
    slug: &str,
    span: ByteSpan,
    first: u64,
    allowance: DownloadAllowance,
    attempt_id: &str,
) -> std::result::Result<Reserved, DownloadError> {
    let length = span.length;
    let mut statements = order_seen(db, &order_facts(claims), &claims.key_id)?;
    let (order, clip) = (text(&claims.order_id), text(slug));
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
        return Ok(Reserved::Whole);
    }
    let mut polls = allowance::settlement_polls();
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
            return Ok(Reserved::Whole);
        }
        if !allowance::settlement_could_make_room(held, in_flight, length, allowance.budget()) {
            return Err(DownloadError::AllowanceUsedUp);
        }
        if allowance.fits(held, first) && try_grant(first).await.is_ok() {
            return Ok(Reserved::InSteps(first));
        }
        if !wait_for_settlement(&mut polls).await {
            return Err(DownloadError::AllowanceUsedUp);
        }
    }
}

/// The reservations of a response granted [`Reserved::InSteps`]: one per
/// segment, made while the segment before it is piped; in D1, or while D1
/// fails in the link's R2 fallback records.
pub(super) enum Steps {
    Ledger(LedgerSteps),
    Offline(Box<super::offline::OfflineSteps>),
}

impl stream::MoreBytes for Steps {
    async fn reserve(&mut self, bytes: u64) -> bool {
        match self {
            Steps::Ledger(steps) => steps.reserve(bytes).await,
            Steps::Offline(steps) => steps.reserve(bytes).await,
        }
    }

    fn reserved(&self) -> u64 {
        match self {
            Steps::Ledger(steps) => steps.reserved(),
            Steps::Offline(steps) => steps.reserved(),
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
            self.clip_revoked != 0,
            self.not_before.unwrap_or(0),
            claims.issued_at,
        )
    }
}

/// Settles the attempt's reservation to the bytes its response sent
/// (docs/downloads.md, "Settlement"): in D1 when it was recorded there, else
/// in its R2 fallback record, which the merge then charges. A settlement
/// that fails leaves the reservation charged in full.
pub(super) async fn settle(env: &Env, attempt: &mut Attempt, end: stream::StreamEnd) {
    let at = Date::now().as_millis();
    let r = &mut attempt.record;
    let reserved = end.reserved.or(r.reserved_bytes).unwrap_or(0);
    let sent = end.sent.min(reserved);
    (r.reserved_bytes, r.sent_bytes, r.charged_bytes, r.completed, r.settled_at) =
        (Some(reserved), Some(sent), sent, Some(end.completed.into()), Some(at));
    console_log!(
        "{}",
        log_line!({ "event": "download_settled", "attempt": r.attempt_id, "reserved": reserved, "sent": sent, "completed": end.completed })
    );
    if r.recorded_via == "fallback" {
        // Granted in D1, but the attempt's own row went to R2 (its write
        // failed): the reservation is in D1, so it is settled there, the row
        // written with it; only if D1 still fails does the record say it.
        if attempt.charge.is_none() && attempt.granted > 0 {
            let row = {
                let mut unsettled = attempt.record.clone();
                (unsettled.settled_at, unsettled.recorded_via) = (None, "d1".to_string());
                Attempt { record: unsettled, order: None, charge: None, granted: 0, ledger_ms: 0, allowance: None }
            };
            match settle_in_d1(env, attempt, Some(&row), reserved, sent, end.completed, at).await {
                Ok(()) => {
                    attempt.record.recorded_via = "d1".to_string();
                    return;
                }
                Err(e) => console_error!(
                    "{}",
                    log_line!({ "event": "settlement_failed", "attempt": attempt.record.attempt_id, "error": format!("{e:?}") })
                ),
            }
        }
        if let Some(charge) = attempt.charge.as_mut() {
            charge.bytes = sent;
        }
        write_fallback(env, attempt).await;
        return;
    }
    if let Err(e) = settle_in_d1(env, attempt, None, reserved, sent, end.completed, at).await {
        console_error!(
            "{}",
            log_line!({ "event": "settlement_failed", "attempt": attempt.record.attempt_id, "error": format!("{e:?}") })
        );
    }
}

/// The settlement's statements in D1, in one batch: the attempt's row first
/// when it is not there yet (`row`), then the clip's reservation given back
/// down to `sent`, the attempt settled, and resume credits.
async fn settle_in_d1(
    env: &Env,
    attempt: &Attempt,
    row: Option<&Attempt>,
    reserved: u64,
    sent: u64,
    completed: bool,
    at: u64,
) -> std::result::Result<(), DownloadError> {
    let r = &attempt.record;
    let (Some(order_id), Some(slug)) = (r.order_id.as_deref(), r.clip_slug.as_deref()) else { return Ok(()) };
    let marker = format!("{}:settled", r.attempt_id);
    let pool = attempt.allowance.map_or(0, |a| a.credit_pool());
    {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let mut statements = Vec::new();
        if let Some(row) = row {
            statements.push(row.insert(&db)?);
        }
        statements.extend([
            bind(
                &db,
                sql::SETTLE_CLIP,
                &[text(order_id), text(slug), num(reserved), num(sent), text(&r.attempt_id), num(at / 1000)],
            )?,
            bind(
                &db,
                sql::SETTLE_ATTEMPT,
                &[text(&r.attempt_id), num(sent), num(completed.into()), num(at), num(reserved)],
            )?,
            bind(
                &db,
                sql::CREDIT_SETTLED,
                &[text(order_id), text(slug), text(&r.attempt_id), num(pool), text(&marker)],
            )?,
            bind(&db, sql::CREDIT_CLIP, &[text(order_id), text(slug), text(&marker)])?,
        ]);
        batch(&db, statements).await.map(|_| ())
    }
}
