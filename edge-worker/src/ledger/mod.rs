//! The download ledger: what is recorded about every download attempt and
//! order, and the SQL statements that touch it (`sql.rs`; schema in
//! `migrations/0002_ledger.sql`; payments in `0004_checkout.sql`; the
//! outbox's statements are `outbox::sql`, the self-test's `monitor::sql`).
//!
//! The runtime glue only binds parameters and runs these statements; the
//! decisions (what to charge, what a refusal is called, how a fallback record
//! is replayed) are here and in [`crate::allowance`].

use clipstore_core::json::{self, JsonError};
use clipstore_core::json_fields;

/// The ledger's migrations (`edge-worker/migrations/`), in order: the
/// self-test names those the deployed D1 lacks (`monitor::schema_problem`).
/// A test keeps this list equal to the folder.
pub const MIGRATIONS: [&str; 18] = [
    "0001_downloads.sql",
    "0002_ledger.sql",
    "0003_monitor.sql",
    "0004_checkout.sql",
    "0005_settlement.sql",
    "0006_outbox.sql",
    "0007_refunds_recovery.sql",
    "0008_refusal_minutes.sql",
    "0009_origin.sql",
    "0010_choices.sql",
    "0011_progress.sql",
    "0012_payment_sessions.sql",
    "0013_attempt_etag.sql",
    "0014_refund_failed_once.sql",
    "0015_thanks_waiting_client.sql",
    "0016_order_lookups.sql",
    "0017_payment_failed_mail.sql",
    "0018_credit_step.sql",
];

pub mod sql;

/// What happened to one request for a clip, as the ledger stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Bytes granted and recorded in D1.
    Granted,
    /// Bytes sent while D1 was failing; recorded in the R2 fallback first.
    GrantedOffline,
    /// No body: HEAD, 304, 412, 416.
    NoBody,
    /// The allowance for this clip is used up.
    AllowanceUsedUp,
    /// The order was revoked, or the link replaced by a reissued one.
    Revoked,
    /// Any other refusal; the code is [`crate::error::DownloadError::log_code`].
    Refused(&'static str),
}

impl Outcome {
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::GrantedOffline => "granted_offline",
            Outcome::NoBody => "no_body",
            Outcome::AllowanceUsedUp => "allowance_used_up",
            Outcome::Revoked => "revoked",
            Outcome::Refused(code) => code,
        }
    }
}

/// One row of `download_attempts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The row id (set when read back from D1).
    pub id: Option<u64>,
    pub attempt_id: String,
    /// Unix milliseconds.
    pub at: u64,
    pub order_id: Option<String>,
    pub clip_slug: Option<String>,
    pub key_id: Option<String>,
    pub method: String,
    pub range_header: Option<String>,
    pub status: u16,
    pub outcome: String,
    pub span_offset: Option<u64>,
    pub span_length: Option<u64>,
    pub charged_bytes: u64,
    pub client_ip: Option<String>,
    pub country: Option<String>,
    pub user_agent: Option<String>,
    pub recorded_via: String,
    /// Whether the body was streamed to the end (`None`: no body, or not
    /// settled yet).
    pub completed: Option<u8>,
    /// Bytes reserved before the first byte (the span; `None` without a body).
    pub reserved_bytes: Option<u64>,
    /// Bytes handed to the network, an upper bound within one segment
    /// (`crate::segments`); `None` until settled.
    pub sent_bytes: Option<u64>,
    /// When the reservation was settled to `sent_bytes` (unix ms); `None`:
    /// not yet, or never (the isolate went away: the reservation stays
    /// charged in full).
    pub settled_at: Option<u64>,
    /// Bytes of `sent_bytes` given back because a later request (a resume)
    /// asked for them again (`sql::CREDIT_ATTEMPT`); `charged_bytes` is
    /// `sent_bytes` minus this.
    pub credited_bytes: Option<u64>,
    /// Which origin answered: `r2` or `secondary` (`crate::secondary`);
    /// `None` when none was asked.
    pub origin: Option<String>,
    /// The quoted ETag of the object served (which version of the clip).
    pub etag: Option<String>,
}
crate::from_row!(AttemptRecord {
    id,
    attempt_id,
    at,
    order_id,
    clip_slug,
    key_id,
    method,
    range_header,
    status,
    outcome,
    span_offset,
    span_length,
    charged_bytes,
    client_ip,
    country,
    user_agent,
    recorded_via,
    completed,
    reserved_bytes,
    sent_bytes,
    settled_at,
    credited_bytes,
    origin
} defaults { etag });
json_fields!(AttemptRecord {
    #[skip_empty]
    id,
    attempt_id,
    at,
    order_id,
    clip_slug,
    key_id,
    method,
    range_header,
    status,
    outcome,
    span_offset,
    span_length,
    charged_bytes,
    client_ip,
    country,
    user_agent,
    recorded_via,
    #[skip_empty]
    completed,
    #[skip_empty]
    reserved_bytes,
    #[skip_empty]
    sent_bytes,
    #[skip_empty]
    settled_at,
    #[skip_empty]
    credited_bytes,
    #[skip_empty]
    origin,
    #[skip_empty]
    etag
});

/// A row of `orders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: String,
    /// JSON array of slugs, as stored.
    pub clips: String,
    pub allowance: u32,
    pub customer_ref: Option<String>,
    pub expires_at: Option<u64>,
    pub token_issued_at: u64,
    pub not_before: u64,
    pub revoked_at: Option<u64>,
    /// `admin`, `refunded` or `disputed`.
    pub revoked_reason: Option<String>,
    /// JSON array of the clips revoked one by one.
    pub revoked_clips: Option<String>,
    /// Of those, the ones revoked for a refund (the others, by the owner).
    pub refunded_clips: Option<String>,
    pub source: String,
    pub created_at: u64,
    /// JSON object of what was bought of each clip (variants, licences).
    pub choices: Option<String>,
    /// When its first link known to the ledger was issued (a link minted
    /// by hand before the order was first seen): with `created_at`, the
    /// order's date on its licence certificates.
    pub first_issued: Option<u64>,
}
crate::from_row!(OrderRow { order_id, clips, allowance, customer_ref, expires_at, revoked_at, revoked_reason, revoked_clips } defaults { token_issued_at, not_before, source, created_at, choices, first_issued, refunded_clips });
json_fields!(OrderRow {
    order_id,
    clips,
    allowance,
    customer_ref,
    expires_at,
    token_issued_at,
    not_before,
    revoked_at,
    revoked_reason,
    revoked_clips,
    refunded_clips,
    source,
    created_at,
    choices,
    first_issued
});

/// A row of `order_clips`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderClipRow {
    pub clip_slug: String,
    pub granted_bytes: u64,
    pub clip_size: u64,
    pub unit_bytes: u64,
    pub budget_bytes: u64,
    pub updated_at: u64,
    /// Of the credit pool, bytes already given back.
    pub credited_bytes: u64,
    /// Bytes of responses still streaming (reserved, not settled yet).
    pub reserved_bytes: u64,
    /// What the latest attempt that broke off was charged, while a new
    /// download would be credited for it (see `ORDER_CLIPS`).
    pub interrupted_bytes: Option<u64>,
    /// Where the file of the latest download of the clip stops, when it
    /// broke off in a span to the end of the clip (a download from the start
    /// or a resume; not a player's chunk, a download manager's piece before
    /// the last, or one resumed to the end since), credited or not: where
    /// its resume starts.
    pub broken_at: Option<u64>,
    /// What a browser's fresh start would be given back ([`sql::ORDER_CLIPS`]).
    pub restart_credit: Option<u64>,
    /// Where the latest download of the clip started, when it was a span to
    /// its end that finished as far as the Worker can tell (its last bytes
    /// went to the network, which may not have delivered them) and no
    /// request asked for them again since.
    pub finished_from: Option<u64>,
}
crate::from_row!(OrderClipRow { clip_slug, granted_bytes, clip_size, unit_bytes, budget_bytes, updated_at, interrupted_bytes, broken_at } defaults { credited_bytes, reserved_bytes, restart_credit, finished_from });

impl OrderClipRow {
    /// Where the last download that broke off stopped, when resuming it
    /// from there (`Range: bytes=<at>-`) would be granted: what the order
    /// page tells a customer with no whole download left.
    pub fn resumable_from(&self, allowance: u32, catalog_size: u64) -> Option<u64> {
        let size = self.size(catalog_size);
        let sent = self.broken_at.filter(|&at| at < size)?;
        let a = crate::allowance::DownloadAllowance::new(allowance, size);
        a.fits(self.granted_bytes, size - sent).then_some(sent)
    }

    /// Whether a browser's fresh start of the whole clip would be granted as
    /// a restart after its download broke off (the customer cancelled it;
    /// `ledger::sql::RESTART_EVENT`), when no whole download is
    /// left: the order page then offers to download it again.
    pub fn restart_offered(&self, allowance: u32, catalog_size: u64) -> bool {
        let size = self.size(catalog_size);
        let a = crate::allowance::DownloadAllowance::new(allowance, size);
        self.restart_credit.is_some_and(|credit| credit > 0 && a.fits(self.granted_bytes.saturating_sub(credit), size))
    }

    /// How many of the clip's last bytes a resume of its latest download,
    /// which finished as far as the Worker can tell, would still be sent:
    /// what the resume credit gives back (rule 5: the pool's rest) and what
    /// the budget has left, within that download's span. The order page
    /// tells a customer with no whole download left that a file which
    /// stopped short can still be resumed; without it, a resume cut off
    /// near its end by the customer's line, which the Worker counted as
    /// finished, showed "No downloads left" while its resume was served.
    pub fn resume_tail(&self, allowance: u32, catalog_size: u64) -> Option<u64> {
        let size = self.size(catalog_size);
        let from = self.finished_from.filter(|&from| from < size)?;
        let a = crate::allowance::DownloadAllowance::new(allowance, size);
        let room = a.budget().saturating_sub(self.granted_bytes);
        let pool_left = a.credit_pool().saturating_sub(self.credited_bytes);
        let tail = room.saturating_add(pool_left).min(size - from);
        (tail >= crate::allowance::media_chunk(size)).then_some(tail)
    }

    /// The share of the clip the broken download's file has, in per cent,
    /// when [`Self::resumable_from`] offers a resume.
    pub fn resumable_percent(&self, allowance: u32, catalog_size: u64) -> Option<u64> {
        let at = self.resumable_from(allowance, catalog_size)?;
        Some(at.saturating_mul(100) / self.size(catalog_size).max(1))
    }

    /// The size the allowance was enforced with: the object's when it was
    /// last granted, else `catalog_size`.
    fn size(&self, catalog_size: u64) -> u64 {
        if self.clip_size > 0 {
            self.clip_size
        } else {
            catalog_size
        }
    }

    /// Whole downloads left of `allowance` downloads: a new download is
    /// credited for the latest that broke off. Counted with the size the
    /// object had when it was last granted (what the allowance was enforced
    /// with), else `catalog_size`.
    pub fn downloads_left(&self, allowance: u32, catalog_size: u64) -> u32 {
        let size = self.size(catalog_size);
        let a = crate::allowance::DownloadAllowance::new(allowance, size);
        let credit = a.credit_for_whole_download(self.interrupted_bytes.unwrap_or(0), self.credited_bytes);
        a.remaining_with_credit(self.granted_bytes, credit)
    }
}

/// A response that never settled (`STALE_ATTEMPTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleAttempt {
    pub attempt_id: String,
    pub order_id: String,
    pub clip_slug: String,
    pub span_offset: u64,
    pub span_length: u64,
    pub reserved_bytes: u64,
    pub progress_bytes: Option<u64>,
    pub clip_size: u64,
    pub allowance: u32,
}
crate::from_row!(StaleAttempt {
    attempt_id,
    order_id,
    clip_slug,
    span_offset,
    span_length,
    reserved_bytes,
    progress_bytes,
    clip_size,
    allowance
});

impl StaleAttempt {
    /// What it is settled to (`crate::stale::settlement`), at `now` (ms).
    pub fn settlement(&self, now: u64) -> Settlement {
        let span = crate::delivery::ByteSpan { offset: self.span_offset, length: self.span_length };
        let (reserved, sent) = crate::stale::settlement(span, self.clip_size, self.reserved_bytes, self.progress_bytes);
        let allowance = crate::allowance::DownloadAllowance::new(self.allowance, self.clip_size);
        Settlement {
            reserved,
            sent,
            least: allowance.least_charge(),
            completed: false,
            at: now,
            pool: allowance.credit_pool(),
        }
    }
}

/// A line of the order lists (`LIST_ORDERS`, `NEVER_FULLY_DOWNLOADED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummaryRow {
    pub order_id: String,
    pub clips: String,
    pub allowance: u32,
    pub customer_ref: Option<String>,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
    pub source: String,
    pub created_at: u64,
    pub granted_bytes: u64,
    pub attempts: u64,
    pub last_attempt_at: Option<u64>,
    /// JSON array of the clips revoked one by one (a partial refund).
    pub revoked_clips: String,
    /// Its checkout's address, else the one its link was last mailed to.
    pub customer_email: Option<String>,
    /// What was bought of each clip, as [`OrderRow::choices`].
    pub choices: Option<String>,
    /// Why the order was revoked: `admin`, `refunded` or `disputed`.
    pub revoked_reason: Option<String>,
}
crate::from_row!(OrderSummaryRow {
    order_id,
    clips,
    allowance,
    customer_ref,
    expires_at,
    revoked_at,
    source,
    created_at,
    granted_bytes,
    attempts,
    last_attempt_at,
    revoked_clips,
    customer_email,
    choices,
    revoked_reason
});
json_fields!(OrderSummaryRow {
    order_id,
    clips,
    allowance,
    customer_ref,
    expires_at,
    revoked_at,
    source,
    created_at,
    granted_bytes,
    attempts,
    last_attempt_at,
    revoked_clips,
    customer_email,
    choices,
    revoked_reason
});

/// Who bought an order and what they paid ([`sql::ORDER_CUSTOMER`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCustomerRow {
    pub customer_email: Option<String>,
    /// In the currency's smallest unit.
    pub amount_total: Option<u64>,
    pub currency: Option<String>,
    pub payment_id: Option<String>,
}
crate::from_row!(OrderCustomerRow { customer_email, amount_total, currency, payment_id });
json_fields!(OrderCustomerRow { customer_email, amount_total, currency, payment_id });

/// A row of `order_links`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub key_id: String,
    pub issued_at: u64,
    pub expires_at: u64,
    pub first_seen_at: u64,
}
crate::from_row!(LinkRow { key_id, issued_at, expires_at, first_seen_at });
json_fields!(LinkRow { key_id, issued_at, expires_at, first_seen_at });

/// A row of `payment_events` for the admin API (`sql::PAYMENT_EVENTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEventRow {
    pub id: u64,
    /// Unix milliseconds.
    pub at: u64,
    pub provider: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub session_id: Option<String>,
    pub order_id: Option<String>,
    pub status: u16,
    pub outcome: String,
    pub detail: Option<String>,
    pub customer_email: Option<String>,
    pub amount_total: Option<u64>,
    pub currency: Option<String>,
}
crate::from_row!(PaymentEventRow {
    id,
    at,
    provider,
    event_id,
    event_type,
    session_id,
    order_id,
    status,
    outcome,
    detail,
    customer_email,
    amount_total,
    currency
});
json_fields!(PaymentEventRow {
    id,
    at,
    provider,
    event_id,
    event_type,
    session_id,
    order_id,
    status,
    outcome,
    detail,
    customer_email,
    amount_total,
    currency
});

/// A row of `order_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub at: u64,
    pub kind: String,
    pub clip_slug: Option<String>,
    pub detail: Option<String>,
}
crate::from_row!(EventRow { at, kind, clip_slug, detail });
json_fields!(EventRow { at, kind, clip_slug, detail });

/// Rows per minute and outcome for webhook deliveries that were not
/// authenticated (bad or missing signature); the rest are only logged.
pub const UNAUTHENTICATED_PAYMENT_EVENTS_PER_MINUTE: u64 = 20;

/// New checkouts a minute whose success page may be remembered while their
/// order is missing (`sql::THANKS_WAITING`); anyone can ask for the page.
pub const THANKS_WAITING_PER_MINUTE: u64 = 60;

/// Of those, how many from one network (an office, a household: several
/// customers, a second tab, a second purchase), so that one client's junk
/// session ids leave the other networks most of the shop's share.
pub const THANKS_WAITING_PER_CLIENT: u64 = 10;

/// The order facts a fallback record needs to recreate the order row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    pub order_id: String,
    pub clips: Vec<String>,
    /// What was bought of each clip (version 2 tokens); absent in records
    /// written before variants.
    pub choices: clipstore_core::SortedMap<clipstore_core::Choice>,
    pub allowance: u32,
    pub customer_ref: Option<String>,
    pub expires_at: u64,
    pub issued_at: u64,
}
json_fields!(OrderFacts {
    order_id,
    clips,
    #[skip_empty]
    choices,
    allowance,
    customer_ref,
    expires_at,
    issued_at
});

/// A charge to replay: bytes granted for (order, clip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub bytes: u64,
    pub clip_size: u64,
    pub unit: u64,
    pub budget: u64,
}
json_fields!(Charge { bytes, clip_size, unit, budget });

/// What the Worker writes to R2 when D1 fails: one object per attempt under
/// [`FALLBACK_PREFIX`] (R2 has no append; a new object per record is the
/// append-only log). Merged into D1 by `POST /admin/ledger/merge` and after
/// the next successful grant; deleted only once D1 has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackRecord {
    pub attempt: AttemptRecord,
    pub order: Option<OrderFacts>,
    pub charge: Option<Charge>,
    /// A settlement D1 refused when the response ended, for a reservation
    /// made in D1: the merge runs it, so that a failing D1 at that moment
    /// never leaves the download charged in full.
    pub settlement: Option<Settlement>,
}
json_fields!(FallbackRecord {
    attempt,
    order,
    charge,
    #[skip_empty]
    settlement
});

/// A value bound to a statement's `?N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Text(String),
    Num(u64),
}

/// The statements of one settlement, in order, for one D1 batch
/// (docs/downloads.md, "Settle"): the clip's reservation given back down to
/// what was sent and the attempt settled (only while it is unsettled), the
/// credit for later requests that asked again for part of it (its
/// `marker` unique to this run, so a second run gives nothing twice), and,
/// for a real settlement of an attempt the stale sweep settled first, the
/// bytes it sent beyond what the sweep charged. The Worker runs exactly
/// these; `ledger_sql_tests` runs them against SQLite.
pub fn settlement_sql(
    attempt_id: &str,
    order_id: &str,
    slug: &str,
    s: &Settlement,
    swept: bool,
    marker: &str,
) -> Vec<(&'static str, Vec<Param>)> {
    let t = |v: &str| Param::Text(v.to_string());
    let n = Param::Num;
    let mut statements = vec![
        (sql::SETTLE_CLIP, vec![t(order_id), t(slug), n(s.reserved), n(s.charged()), t(attempt_id), n(s.at / 1000)]),
        (
            sql::SETTLE_ATTEMPT,
            vec![
                t(attempt_id),
                n(s.sent),
                n(s.completed.into()),
                n(s.at),
                n(s.reserved),
                n(swept.into()),
                n(s.charged()),
            ],
        ),
        (sql::CREDIT_SETTLED, vec![t(order_id), t(slug), t(attempt_id), n(s.pool), t(marker)]),
        (sql::CREDIT_CLIP, vec![t(order_id), t(slug), t(marker)]),
    ];
    if !swept {
        statements.push((
            sql::CORRECT_SWEPT_CLIP,
            vec![t(order_id), t(slug), n(s.sent), t(attempt_id), n(s.at / 1000), n(s.least)],
        ));
        statements
            .push((sql::CORRECT_SWEPT_ATTEMPT, vec![t(attempt_id), n(s.sent), n(s.completed.into()), n(s.least)]));
    }
    statements
}

/// What a response's end settles (docs/downloads.md, "Settle"): of the
/// `reserved` bytes, what it `sent` stays charged, at least `least`
/// ([`crate::allowance::charged`]; 0 in records written
/// before there was a least charge); `pool` is the clip's credit pool for
/// `CREDIT_SETTLED`; `at` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub reserved: u64,
    pub sent: u64,
    pub least: u64,
    pub completed: bool,
    pub at: u64,
    pub pool: u64,
}
json_fields!(Settlement {
    reserved,
    sent,
    #[default]
    least,
    completed,
    at,
    pool
});

impl Settlement {
    /// What the response stays charged: what it sent, at least `least`,
    /// never more than it reserved.
    pub fn charged(&self) -> u64 {
        crate::allowance::charged(self.reserved, self.sent, self.least)
    }
}

/// Key prefix of fallback records in the `CLIPS` bucket (never a clip key:
/// clip keys come from the manifest and the merge only lists this prefix).
pub const FALLBACK_PREFIX: &str = clipstore_core::manifest::LEDGER_FALLBACK_PREFIX;

/// Where a fallback record that cannot be read is set aside, so that the
/// merge of the others goes on; the self-test alerts while any is there.
pub const QUARANTINE_PREFIX: &str = clipstore_core::manifest::LEDGER_QUARANTINE_PREFIX;

impl FallbackRecord {
    /// `ledger-fallback/<at, 15 digits>-<attempt_id>.json`, under the
    /// prefix of its (order, clip) when it charges one
    /// ([`crate::offline::tally_prefix`]): listing order within a prefix is
    /// time order.
    pub fn object_key(&self) -> String {
        let name = format!("{:015}-{}.json", self.attempt.at, self.attempt.attempt_id);
        match (&self.charge, self.attempt.order_id.as_deref(), self.attempt.clip_slug.as_deref()) {
            (Some(_), Some(order), Some(clip)) => format!("{}{name}", crate::offline::tally_prefix(order, clip)),
            _ => format!("{FALLBACK_PREFIX}{name}"),
        }
    }

    pub fn to_json(&self) -> String {
        json::to_string(self)
    }

    pub fn from_json(text: &str) -> Result<FallbackRecord, JsonError> {
        json::from_str(text)
    }

    /// A record of a response served while D1 failed that never settled
    /// (still open [`crate::offline::OPEN_MERGE_AFTER_SECS`] after it was
    /// written: its isolate stopped mid-stream, or its last R2 write
    /// failed), made settled for the merge at `now_ms`: broken off, its
    /// reservation still charged (what it sent is unknown: it reported
    /// nothing, and a response still streaming after six hours would
    /// otherwise go uncharged, its own settlement coming after the merge
    /// took the attempt), and no bytes known to have arrived, so that the
    /// clip's one restart gives the charge back to a customer who starts
    /// again (rule 5 of docs/downloads.md). Merged as it was, it stayed
    /// charged and unsettled for good: no restart, no sweep, and the
    /// owner's reset the only way out. Other records are left as they are.
    pub fn settle_abandoned(&mut self, now_ms: u64) {
        let a = &mut self.attempt;
        if self.charge.is_none() || a.settled_at.is_some() || self.settlement.is_some() {
            return;
        }
        (a.sent_bytes, a.completed, a.settled_at) = (None, Some(0), Some(now_ms));
    }
}

/// Truncates a header value for storage (user agents can be long).
pub fn clip_text(value: Option<&str>, max: usize) -> Option<String> {
    value.map(|v| {
        let mut end = v.len().min(max);
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v[..end].to_string()
    })
}

/// An attempt id: the hex of 16 random bytes (the glue uses `Math.random`;
/// ids only need to be unique, they guard nothing).
pub fn attempt_id(random: [u8; 16]) -> String {
    random.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> FallbackRecord {
        FallbackRecord {
            attempt: AttemptRecord {
                id: None,
                attempt_id: attempt_id([0xab; 16]),
                at: 1_750_000_000_123,
                order_id: Some("ORD-1".into()),
                clip_slug: Some("harbor".into()),
                key_id: Some("2025-01".into()),
                method: "GET".into(),
                range_header: Some("bytes=0-".into()),
                status: 200,
                outcome: Outcome::GrantedOffline.code().into(),
                span_offset: Some(0),
                span_length: Some(10),
                charged_bytes: 10,
                client_ip: None,
                country: None,
                user_agent: clip_text(Some("curl/8"), 200),
                recorded_via: "fallback".into(),
                completed: None,
                reserved_bytes: Some(10),
                sent_bytes: None,
                settled_at: None,
                credited_bytes: None,
                origin: None,
                etag: None,
            },
            order: None,
            charge: Some(Charge { bytes: 10, clip_size: 10, unit: 12, budget: 36 }),
            settlement: None,
        }
    }

    #[test]
    fn an_abandoned_record_is_settled_as_broken_off_and_still_charged() {
        let mut open = record();
        open.settle_abandoned(9_000);
        let a = &open.attempt;
        assert_eq!((a.charged_bytes, a.sent_bytes, a.completed, a.settled_at), (10, None, Some(0), Some(9_000)));
        assert_eq!(open.charge.map(|c| c.bytes), Some(10), "the merge charges the order its reservation");
        // A settled record, a settlement D1 refused, and a row whose
        // reservation is in D1 (no charge: the sweep settles it) stay.
        let mut settled = record();
        settled.attempt.settled_at = Some(5);
        let mut in_d1 = FallbackRecord { charge: None, ..record() };
        let mut settling = FallbackRecord {
            charge: None,
            settlement: Some(Settlement { reserved: 10, sent: 4, least: 0, completed: false, at: 7, pool: 5 }),
            ..record()
        };
        for r in [&mut settled, &mut in_d1, &mut settling] {
            let before = r.clone();
            r.settle_abandoned(9_000);
            assert_eq!(*r, before);
        }
    }

    #[test]
    fn a_record_carries_a_settlement_only_when_it_has_one() {
        let r = record();
        assert!(!r.to_json().contains("settlement"), "records without one are written as before");
        let settling = FallbackRecord {
            charge: None,
            settlement: Some(Settlement {
                reserved: 10,
                sent: 4,
                least: 0,
                completed: false,
                at: 1_750_000_000_999,
                pool: 5,
            }),
            ..r
        };
        assert_eq!(FallbackRecord::from_json(&settling.to_json()).unwrap(), settling);
        assert!(settling.to_json().contains(r#""settlement":{"reserved":10,"sent":4,"least":0,"completed":false"#));
    }

    #[test]
    fn fallback_records_round_trip_and_sort_by_time() {
        let r = record();
        assert_eq!(FallbackRecord::from_json(&r.to_json()).unwrap(), r);
        let name = format!("001750000000123-{}.json", "ab".repeat(16));
        let (order, clip) = (r.attempt.order_id.clone().unwrap(), r.attempt.clip_slug.clone().unwrap());
        assert_eq!(r.object_key(), format!("{}{name}", crate::offline::tally_prefix(&order, &clip)));
        let uncharged = FallbackRecord { charge: None, ..r };
        assert_eq!(uncharged.object_key(), format!("ledger-fallback/{name}"));
    }

    /// A record with every field set, and its bytes in R2: records are read
    /// back by later Workers (the merge), so their form is pinned.
    fn full_record() -> FallbackRecord {
        let mut r = record();
        r.attempt.id = Some(7);
        (r.attempt.completed, r.attempt.sent_bytes, r.attempt.settled_at) = (Some(1), Some(9), Some(1_750_000_000_999));
        (r.attempt.credited_bytes, r.attempt.origin) = (Some(2), Some("r2".into()));
        (r.attempt.etag, r.attempt.client_ip) = (Some("\"e\\1\"".into()), Some("192.0.2.1".into()));
        r.attempt.user_agent = Some("ü \u{1} \u{7f} \n".into());
        r.order = Some(OrderFacts {
            order_id: "ORD-1".into(),
            clips: vec!["a".into(), "harbor".into()],
            choices: [("harbor".to_string(), clipstore_core::Choice { variant: Some("4k".into()), licence: None })]
                .into(),
            allowance: 3,
            customer_ref: Some("C-1".into()),
            expires_at: u64::MAX,
            issued_at: 1_750_000_000,
        });
        r.settlement =
            Some(Settlement { reserved: 10, sent: 4, least: 6, completed: true, at: 1_750_000_001_000, pool: 5 });
        r
    }

    const FULL_RECORD: &str = concat!(
        r#"{"attempt":{"id":7,"attempt_id":"abababababababababababababababab","#,
        r#""at":1750000000123,"order_id":"ORD-1","clip_slug":"harbor","#,
        r#""key_id":"2025-01","method":"GET","range_header":"bytes=0-","#,
        r#""status":200,"outcome":"granted_offline","span_offset":0,"#,
        r#""span_length":10,"charged_bytes":10,"client_ip":"192.0.2.1","#,
        "\"country\":null,\"user_agent\":\"ü \\u0001 \u{7f} \\n\",",
        r#""recorded_via":"fallback","completed":1,"reserved_bytes":10,"#,
        r#""sent_bytes":9,"settled_at":1750000000999,"credited_bytes":2,"#,
        "\"origin\":\"r2\",\"etag\":\"\\\"e\\\\1\\\"\"},\"order\":{\"order_id\":\"ORD-1\",",
        r#""clips":["a","harbor"],"choices":{"harbor":{"variant":"4k"}},"#,
        r#""allowance":3,"customer_ref":"C-1","expires_at":18446744073709551615,"#,
        r#""issued_at":1750000000},"charge":{"bytes":10,"clip_size":10,"#,
        r#""unit":12,"budget":36},"settlement":{"reserved":10,"#,
        r#""sent":4,"least":6,"completed":true,"at":1750000001000,"pool":5}}"#,
    );

    #[test]
    fn the_stored_record_is_pinned() {
        assert_eq!(full_record().to_json(), FULL_RECORD);
        assert_eq!(FallbackRecord::from_json(FULL_RECORD).unwrap(), full_record());
        assert_eq!(full_record().settlement.map(|s| s.charged()), Some(6));
        // A settlement written before the least charge is charged what it sent.
        let before = FallbackRecord::from_json(&FULL_RECORD.replace(r#""least":6,"#, "")).unwrap();
        assert_eq!(before.settlement.map(|s| (s.least, s.charged())), Some((0, 4)));
        assert_eq!(
            record().to_json(),
            concat!(
                r#"{"attempt":{"attempt_id":"abababababababababababababababab","#,
                r#""at":1750000000123,"order_id":"ORD-1","clip_slug":"harbor","#,
                r#""key_id":"2025-01","method":"GET","range_header":"bytes=0-","#,
                r#""status":200,"outcome":"granted_offline","span_offset":0,"#,
                r#""span_length":10,"charged_bytes":10,"client_ip":null,"#,
                r#""country":null,"user_agent":"curl/8","recorded_via":"fallback","#,
                r#""reserved_bytes":10},"order":null,"charge":{"bytes":10,"#,
                r#""clip_size":10,"unit":12,"budget":36}}"#,
            )
        );
    }

    /// Records written by earlier Workers (before settlements, choices,
    /// etags, origins, credits) read, with their fields absent; fields
    /// this Worker does not know are ignored.
    #[test]
    fn records_of_earlier_workers_read() {
        let old = concat!(
            r#"{"attempt":{"attempt_id":"x","at":1,"order_id":"O","clip_slug":"c","key_id":"k","method":"GET","#,
            r#""range_header":null,"status":200,"outcome":"granted_offline","span_offset":0,"span_length":5,"#,
            r#""charged_bytes":5,"client_ip":null,"country":null,"user_agent":null,"recorded_via":"fallback","#,
            r#""future":{"a":[1,2.5,-3,"x",null,true,{}]}},"#,
            r#""order":{"order_id":"O","clips":["c"],"allowance":1,"customer_ref":null,"expires_at":9,"issued_at":1},"#,
            r#""charge":{"bytes":5,"clip_size":5,"unit":5,"budget":5}}"#
        );
        let r = FallbackRecord::from_json(old).unwrap();
        assert_eq!((r.attempt.etag, r.attempt.completed, r.settlement), (None, None, None));
        let order = r.order.unwrap();
        assert!(order.choices.is_empty() && order.customer_ref.is_none());
        // Option fields may be left out altogether.
        let sparse = concat!(
            r#"{"attempt":{"attempt_id":"x","at":1,"method":"GET","status":404,"outcome":"not_found","#,
            r#""charged_bytes":0,"recorded_via":"fallback"}}"#
        );
        let r = FallbackRecord::from_json(sparse).unwrap();
        assert_eq!((r.order, r.charge, r.attempt.order_id), (None, None, None));
    }

    /// A row as the admin API answers it (`site-gen orders` reads it):
    /// keys sorted, `null` for what is not set.
    pub(crate) fn answered<T: json::ToJson>(row: &T) -> String {
        json::to_string_sorted(row)
    }

    #[test]
    fn rows_as_the_admin_api_answers_them() {
        assert_eq!(
            answered(&full_record().attempt),
            concat!(
                r#"{"at":1750000000123,"attempt_id":"abababababababababababababababab","#,
                r#""charged_bytes":10,"client_ip":"192.0.2.1","clip_slug":"harbor","#,
                "\"completed\":1,\"country\":null,\"credited_bytes\":2,\"etag\":\"\\\"e\\\\1\\\"\",",
                r#""id":7,"key_id":"2025-01","method":"GET","order_id":"ORD-1","#,
                r#""origin":"r2","outcome":"granted_offline","range_header":"bytes=0-","#,
                r#""recorded_via":"fallback","reserved_bytes":10,"sent_bytes":9,"#,
                r#""settled_at":1750000000999,"span_length":10,"span_offset":0,"#,
                "\"status\":200,\"user_agent\":\"ü \\u0001 \u{7f} \\n\"}",
            )
        );
        assert_eq!(
            answered(&record().attempt),
            concat!(
                r#"{"at":1750000000123,"attempt_id":"abababababababababababababababab","#,
                r#""charged_bytes":10,"client_ip":null,"clip_slug":"harbor","#,
                r#""country":null,"key_id":"2025-01","method":"GET","#,
                r#""order_id":"ORD-1","outcome":"granted_offline","range_header":"bytes=0-","#,
                r#""recorded_via":"fallback","reserved_bytes":10,"span_length":10,"#,
                r#""span_offset":0,"status":200,"user_agent":"curl/8"}"#,
            )
        );
        let order = OrderRow {
            order_id: "O".into(),
            clips: r#"["a"]"#.into(),
            allowance: 2,
            customer_ref: None,
            expires_at: Some(9),
            token_issued_at: 1,
            not_before: 0,
            revoked_at: None,
            revoked_reason: Some("refunded".into()),
            revoked_clips: None,
            refunded_clips: None,
            source: "token".into(),
            created_at: 3,
            choices: Some(r#"{"a":{"variant":"4k"}}"#.into()),
            first_issued: None,
        };
        assert_eq!(
            answered(&order),
            concat!(
                "{\"allowance\":2,\"choices\":\"{\\\"a\\\":{\\\"variant\\\":\\\"4k\\\"}}\",",
                "\"clips\":\"[\\\"a\\\"]\",\"created_at\":3,\"customer_ref\":null,",
                r#""expires_at":9,"first_issued":null,"not_before":0,"#,
                r#""order_id":"O","refunded_clips":null,"revoked_at":null,"revoked_clips":null,"#,
                r#""revoked_reason":"refunded","source":"token","token_issued_at":1}"#,
            )
        );
        let summary = OrderSummaryRow {
            order_id: "O".into(),
            clips: "[]".into(),
            allowance: 1,
            customer_ref: Some("c".into()),
            expires_at: None,
            revoked_at: Some(4),
            source: "admin".into(),
            created_at: 3,
            granted_bytes: 10,
            attempts: 2,
            last_attempt_at: None,
            revoked_clips: "[]".into(),
            customer_email: Some("a@b.example".into()),
            choices: Some(r#"{"a":{"variant":"4k"}}"#.into()),
            revoked_reason: Some("admin".into()),
        };
        assert_eq!(
            answered(&summary),
            concat!(
                r#"{"allowance":1,"attempts":2,"choices":"{\"a\":{\"variant\":\"4k\"}}","clips":"[]","#,
                r#""created_at":3,"customer_email":"a@b.example","customer_ref":"c","expires_at":null,"#,
                r#""granted_bytes":10,"last_attempt_at":null,"order_id":"O","revoked_at":4,"revoked_clips":"[]","#,
                r#""revoked_reason":"admin","source":"admin"}"#,
            )
        );
        assert_eq!(
            answered(&LinkRow { key_id: "k".into(), issued_at: 1, expires_at: 2, first_seen_at: 3 }),
            r#"{"expires_at":2,"first_seen_at":3,"issued_at":1,"key_id":"k"}"#
        );
        let event = EventRow { at: 1, kind: "reset".into(), clip_slug: None, detail: Some("d".into()) };
        assert_eq!(answered(&event), r#"{"at":1,"clip_slug":null,"detail":"d","kind":"reset"}"#);
        let payment = PaymentEventRow {
            id: 1,
            at: 2,
            provider: "stripe".into(),
            event_id: Some("evt_1".into()),
            event_type: None,
            session_id: Some("cs_1".into()),
            order_id: None,
            status: 200,
            outcome: "order_created".into(),
            detail: None,
            customer_email: Some("a@b.example".into()),
            amount_total: Some(2400),
            currency: Some("eur".into()),
        };
        assert_eq!(
            answered(&payment),
            concat!(
                r#"{"amount_total":2400,"at":2,"currency":"eur","customer_email":"a@b.example","#,
                r#""detail":null,"event_id":"evt_1","event_type":null,"#,
                r#""id":1,"order_id":null,"outcome":"order_created","#,
                r#""provider":"stripe","session_id":"cs_1","status":200}"#,
            )
        );
    }

    /// What is not a record is refused (the merge sets it aside).
    #[test]
    fn malformed_records_are_refused() {
        let good = record().to_json();
        let bad = [
            String::new(),
            "null".into(),
            "[]".into(),
            good.replace(r#""at":1750000000123"#, r#""at":-1"#),
            good.replace(r#""at":1750000000123"#, r#""at":1.5"#),
            good.replace(r#""at":1750000000123"#, r#""at":1e3"#),
            good.replace(r#""at":1750000000123"#, r#""at":"1""#),
            good.replace(r#""at":1750000000123"#, r#""at":18446744073709551616"#),
            good.replace(r#""status":200"#, r#""status":65536"#),
            good.replace(r#""status":200"#, r#""status":null"#),
            good.replace(r#""method":"GET","#, ""),
            good.replace(r#""method":"GET""#, r#""method":"GET","method":"HEAD""#),
            good.replace(r#""charge":{"#, r#""charge":null,"charge":{"#),
            good.replace(r#""order":null"#, r#""order":[]"#),
            good.replace(r#""bytes":10"#, r#""bytes":true"#),
            format!("{good} x"),
            good[..good.len() - 1].to_string(),
        ];
        for json in bad {
            assert!(FallbackRecord::from_json(&json).is_err(), "{json}");
        }
    }

    #[test]
    fn outcome_codes_are_stable() {
        assert_eq!(Outcome::AllowanceUsedUp.code(), "allowance_used_up");
        assert_eq!(Outcome::Refused("expired").code(), "expired");
    }

    #[test]
    fn text_is_cut_on_a_char_boundary() {
        assert_eq!(clip_text(Some("ééé"), 3).unwrap(), "é");
        assert_eq!(clip_text(None, 3), None);
    }

    #[test]
    fn grant_is_one_statement_with_the_budget_check() {
        assert!(!sql::GRANT.contains(';'));
        assert!(sql::GRANT.contains("granted_bytes + excluded.granted_bytes <= excluded.budget_bytes"));
        assert!(sql::GRANT.contains("RETURNING"));
    }
}
