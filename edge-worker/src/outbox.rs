//! The mail outbox: every e-mail is first a row in D1
//! (`migrations/0006_outbox.sql`), written in the same batch as what caused
//! it, then sent by whoever finds it due: the request that created it
//! (`waitUntil`) or the cron run every five minutes. A provider outage
//! delays mail, never loses it (docs/mail.md).
//!
//! Two senders never send one message twice: a sender first *claims* a row
//! ([`sql::OUTBOX_CLAIM`], one atomic `UPDATE … RETURNING`), which moves it
//! to `sending` with a lease ([`LEASE_SECS`]); only the sender that got the
//! row back sends it. A sender that dies mid-send leaves the row `sending`,
//! and it is due again when the lease ends. Should a send time out after the
//! provider accepted it, the retry carries the same idempotency key
//! ([`crate::mail::idempotency_key`]) and the provider does not send it again.
//!
//! Plain Rust: the SQL, the retry schedule and the admin listing; the
//! runtime glue (`runtime/mail.rs`) binds and runs them.

use clipstore_core::json_fields;

use crate::mail::Mail;

/// The outbox's statements. Parameters are numbered and documented per
/// statement; times are unix seconds.
pub mod sql {
    /// Queues a message. Put it in the same D1 batch as what causes it (the
    /// order), so the order never exists without its mail. A second order
    /// mail for one order is ignored (unique index `outbox_order_mail`);
    /// other kinds may repeat.
    /// `?1 kind ('order', 'recovery', 'resend', 'alert', 'payment_failed'), ?2 order_id or NULL, ?3 to, ?4 subject,
    ///  ?5 text body, ?6 HTML body, ?7 now`.
    pub const OUTBOX_INSERT: &str = "INSERT INTO outbox (kind, order_id, to_addr, subject, text_body, html_body, created_at, status, attempts, next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', 0, ?7) ON CONFLICT DO NOTHING";

    /// [`OUTBOX_INSERT`] of the mail telling a customer their delayed
    /// payment failed: once per checkout (a delivery again, or the same
    /// event read back by the cron, finds the `payment_failed` row its batch
    /// wrote after this), and never for a checkout that made an order.
    /// `?1 to ?7 as OUTBOX_INSERT's ('payment_failed', NULL, …), ?8 provider, ?9 session id`.
    pub const PAYMENT_FAILED_MAIL: &str = "INSERT INTO outbox (kind, order_id, to_addr, subject, text_body, html_body, created_at, status, attempts, next_attempt_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', 0, ?7 \
         WHERE NOT EXISTS (SELECT 1 FROM payment_events WHERE session_id = ?9 AND provider = ?8 AND outcome = 'payment_failed') \
         AND NOT EXISTS (SELECT 1 FROM checkouts WHERE provider = ?8 AND session_id = ?9)";

    /// Ids of the messages due now, oldest first: queued ones whose time has
    /// come, and `sending` ones whose lease ended (their sender died).
    /// `?1 now, ?2 limit`.
    pub const OUTBOX_DUE: &str =
        "SELECT id FROM outbox WHERE status IN ('queued', 'sending') AND next_attempt_at <= ?1 \
         ORDER BY id LIMIT ?2";

    /// Claims one due message for sending, atomically: `sending`, one more
    /// attempt, leased until `?2 + ?3`. Returns the message, or no row when
    /// it is not due (another sender claimed it, or it was sent).
    /// `?1 id, ?2 now, ?3 lease (s)`.
    pub const OUTBOX_CLAIM: &str =
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = ?2 + ?3 \
         WHERE id = ?1 AND status IN ('queued', 'sending') AND next_attempt_at <= ?2 \
         RETURNING id, kind, order_id, to_addr, subject, text_body, html_body, attempts, created_at";

    /// The provider accepted the message. `?1 id, ?2 now, ?3 provider, ?4 provider's id ('' if none)`.
    pub const OUTBOX_SENT: &str =
        "UPDATE outbox SET status = 'sent', sent_at = ?2, provider = ?3, provider_id = NULLIF(?4, ''), \
         last_error = NULL WHERE id = ?1 AND status <> 'sent'";

    /// The provider took a message: those waiting out their back-off are
    /// due now, since what failed them (an outage, a wrong key now fixed)
    /// is over, and a refusal of the shop's key is history ("earlier, …"),
    /// no longer what the alert and the deep check count. `?1 now`.
    pub const OUTBOX_RELEASE: &str = "UPDATE outbox SET next_attempt_at = MIN(next_attempt_at, ?1), \
         last_error = IIF(last_error LIKE 'the provider refuses the shop''s %', 'earlier, ' || last_error, last_error) \
         WHERE status = 'queued' AND (next_attempt_at > ?1 OR last_error LIKE 'the provider refuses the shop''s %')";

    /// A send that can succeed later: back to `queued`, due at `?2` (now +
    /// [`super::retry_delay_secs`]). Only while this sender's claim holds.
    /// `?1 id, ?2 next attempt at, ?3 error, ?4 provider`.
    pub const OUTBOX_RETRY: &str =
        "UPDATE outbox SET status = 'queued', next_attempt_at = ?2, last_error = ?3, provider = ?4 \
         WHERE id = ?1 AND status = 'sending'";

    /// The provider refused the message for good (a 4xx other than 429):
    /// kept for the owner, never retried automatically.
    /// `?1 id, ?2 error, ?3 provider, ?4 now`.
    pub const OUTBOX_FAILED: &str =
        "UPDATE outbox SET status = 'failed', last_error = ?2, provider = ?3, failed_at = ?4 \
         WHERE id = ?1 AND status = 'sending'";

    /// Link mails still waiting for an order revoked since they were queued
    /// (a full refund, a dispute, the owner's revoke), or reissued since
    /// (its links from before answer "no longer valid": `not_before` past
    /// the second after the mail's): their link would not work. Kept as
    /// `failed` with the reason, which the failed-mail alert leaves out
    /// (nothing is for the owner to send: a reissue prints the new link).
    /// Run by every delivery run before it sends, so that it holds
    /// whichever of a checkout and its refund D1 wrote first, and by the
    /// refund itself. `?1 now (s)`.
    pub const OUTBOX_WITHDRAW: &str = "UPDATE outbox SET status = 'failed', failed_at = ?1, \
         last_error = 'withdrawn: the order was ' || (SELECT CASE WHEN revoked_at IS NULL THEN 'reissued' \
         WHEN revoked_reason IN ('refunded', 'disputed') THEN revoked_reason ELSE 'revoked' END \
         FROM orders WHERE orders.order_id = outbox.order_id) || ' before the mail went out' \
         WHERE kind IN ('order', 'resend') AND status = 'queued' \
         AND EXISTS (SELECT 1 FROM orders o WHERE o.order_id = outbox.order_id \
         AND (o.revoked_at IS NOT NULL OR o.not_before > outbox.created_at + 1))";

    /// [`OUTBOX_INSERT`] of a won dispute's mail with a fresh link: queued
    /// only when the dispute restored the order in this same batch (its
    /// `restore` event at `?7`), not when a refund or the owner's revoke
    /// kept it revoked. The mail the dispute withdrew stays withdrawn: its
    /// link expires when the order did before.
    pub const OUTBOX_INSERT_IF_RESTORED: &str = "INSERT INTO outbox (kind, order_id, to_addr, subject, text_body, html_body, created_at, status, attempts, next_attempt_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', 0, ?7 \
         WHERE EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = ?2 AND e.kind = 'restore' AND e.at = ?7)";

    /// Messages still unsent (queued or sending) that were created at least
    /// `?2` seconds ago: `stuck` (count), `oldest_age` (seconds), and what
    /// the provider last answered for one of them (`last_error`: a 401 of
    /// a revoked key), the cause the alert names.
    /// `?1 now, ?2 threshold (s)`.
    pub const OUTBOX_STUCK: &str = "SELECT COUNT(*) AS stuck, COALESCE(MAX(?1 - created_at), 0) AS oldest_age, \
         (SELECT last_error FROM outbox WHERE status IN ('queued', 'sending') AND created_at <= ?1 - ?2 \
             AND last_error IS NOT NULL ORDER BY next_attempt_at DESC, id DESC LIMIT 1) AS last_error \
         FROM outbox WHERE status IN ('queued', 'sending') AND created_at <= ?1 - ?2";

    /// Messages waiting (queued or sending, of any age) whose last attempt
    /// the provider refused for the shop's key or sender
    /// ([`crate::mail::SHOP_REFUSED`]): `refused` (count), `oldest_age`
    /// (seconds) and the latest such answer (`last_error`). No mail goes
    /// out while any is, so the self-test alerts at once. `?1 now`.
    pub const OUTBOX_REFUSED: &str = "SELECT COUNT(*) AS refused, COALESCE(MAX(?1 - created_at), 0) AS oldest_age, \
         (SELECT last_error FROM outbox WHERE status IN ('queued', 'sending') \
             AND last_error LIKE 'the provider refuses the shop''s %' ORDER BY next_attempt_at DESC, id DESC LIMIT 1) AS last_error \
         FROM outbox WHERE status IN ('queued', 'sending') AND last_error LIKE 'the provider refuses the shop''s %'";

    /// The cron's probe of a fix or of the end of an outage: the oldest
    /// queued message waiting out a back-off after a failed send (the
    /// shop's key or sender refused, a 5xx, a 429, no answer) is due now,
    /// so one message a run (every 5 minutes) asks the provider again; once
    /// it is taken, [`OUTBOX_RELEASE`] makes the others due. (Only refusals
    /// of the key were probed: after a long outage the backlog waited up to
    /// another hour once the provider was back, the outage review.) `?1 now`.
    pub const OUTBOX_PROBE: &str = "UPDATE outbox SET next_attempt_at = ?1 WHERE id = (SELECT id FROM outbox \
         WHERE status = 'queued' AND next_attempt_at > ?1 AND last_error IS NOT NULL ORDER BY id LIMIT 1)";

    /// Messages the provider refused for good since `?1` (unix seconds,
    /// when they failed, however old they are): `count`, the
    /// newest one's id, and its kind, order and error (never its address),
    /// for the self-test's alert. Alert mails are left out: an alert of a
    /// refused alert mail would queue another, refused in turn, for ever.
    pub const OUTBOX_FAILED_SINCE: &str = "SELECT COUNT(*) AS count, MAX(id) AS newest, \
         (SELECT kind || ' mail of ' || COALESCE(order_id, 'no order') || ': ' || COALESCE(last_error, '?') \
          FROM outbox WHERE status = 'failed' AND failed_at >= ?1 AND kind <> 'alert' \
          AND COALESCE(last_error, '') NOT LIKE 'withdrawn:%' ORDER BY id DESC LIMIT 1) AS latest \
         FROM outbox WHERE status = 'failed' AND failed_at >= ?1 AND kind <> 'alert' AND COALESCE(last_error, '') NOT LIKE 'withdrawn:%'";

    /// The owner's listing (`GET /admin/outbox`), newest first. The text
    /// body is read only to find the message's first link. `?1 limit`.
    pub const OUTBOX_LIST: &str =
        "SELECT id, kind, order_id, to_addr, subject, status, attempts, created_at, next_attempt_at, \
         sent_at, provider, provider_id, last_error, text_body FROM outbox ORDER BY id DESC LIMIT ?1";
}

/// What a message is for (`outbox.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// The order mail with the download link (one per order).
    Order,
    /// "Your download links", asked for by a customer.
    Recovery,
    /// An order mail sent again: by the owner, or with a fresh link when a
    /// dispute closed in the shop's favour.
    Resend,
    /// An alert of the self-test to the owner (`ALERT_EMAIL`).
    Alert,
    /// A customer's delayed payment (a bank debit) failed: no order, no
    /// link coming.
    PaymentFailed,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Order => "order",
            MailKind::Recovery => "recovery",
            MailKind::Resend => "resend",
            MailKind::Alert => "alert",
            MailKind::PaymentFailed => "payment_failed",
        }
    }
}

/// How long a claim holds (seconds): far longer than one send (the
/// runtime's `waitUntil` ends 30 s after the response), short enough that a
/// dead sender's message goes out again within two cron runs.
pub const LEASE_SECS: u64 = 300;

/// Messages one sender handles per run (each is one subrequest to the
/// provider plus a few D1 calls).
pub const DELIVERY_BATCH: u32 = 20;

/// First retry after one minute, doubling, at most an hour apart: once the
/// provider works again (or the owner fixed its key) a waiting message goes
/// within the hour, or at once when another message goes first
/// ([`sql::OUTBOX_RELEASE`]); a long outage costs 24 requests a day per
/// message. Retries go on until the message is sent or refused; the owner
/// is alerted when mail is stuck.
pub const FIRST_RETRY_SECS: u64 = 60;
pub const MAX_RETRY_SECS: u64 = 3600;

/// Seconds to wait after the `attempts`-th failed attempt (1-based).
pub fn retry_delay_secs(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(20);
    (FIRST_RETRY_SECS << doublings).min(MAX_RETRY_SECS)
}

/// What one run of the outbox's sender did (`deliver_outbox` in the
/// runtime): logged, and answered by the owner's `resend`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages due at the start.
    pub due: u32,
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
    /// Due, but no provider is configured (or its settings are invalid).
    pub no_provider: u32,
    /// Why the run stopped early (D1 unreachable, …), if it did.
    pub error: Option<String>,
}
json_fields!(DeliveryReport { due, sent, retried, failed, no_provider, error });

/// A claimed message ([`sql::OUTBOX_CLAIM`]'s row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub id: u64,
    pub kind: String,
    pub order_id: Option<String>,
    pub to_addr: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// Attempts including this one.
    pub attempts: u32,
    /// Unix seconds; part of the idempotency key.
    pub created_at: u64,
}
crate::from_row!(ClaimedMessage { id, kind, order_id, to_addr, subject, text_body, html_body, attempts } defaults { created_at });

impl ClaimedMessage {
    pub fn mail(&self) -> Mail {
        Mail {
            to: self.to_addr.clone(),
            subject: self.subject.clone(),
            text: self.text_body.clone(),
            html: self.html_body.clone(),
        }
    }
}

/// A row of [`sql::OUTBOX_LIST`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: u64,
    pub kind: String,
    pub order_id: Option<String>,
    pub to_addr: String,
    pub subject: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: u64,
    pub next_attempt_at: u64,
    pub sent_at: Option<u64>,
    pub provider: Option<String>,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    pub text_body: String,
}
crate::from_row!(OutboxRow {
    id,
    kind,
    order_id,
    to_addr,
    subject,
    status,
    attempts,
    created_at,
    next_attempt_at,
    sent_at,
    provider,
    provider_id,
    last_error,
    text_body
});

/// One message as `GET /admin/outbox` answers it: no bodies, but the first
/// link of the message (the order page, for an order mail), so the owner, or
/// a local run without a provider, can open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: u64,
    pub kind: String,
    pub order_id: Option<String>,
    pub to: String,
    pub subject: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: u64,
    pub next_attempt_at: u64,
    pub sent_at: Option<u64>,
    pub provider: Option<String>,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    pub link: Option<String>,
}
json_fields!(OutboxEntry {
    id,
    kind,
    order_id,
    to,
    subject,
    status,
    attempts,
    created_at,
    next_attempt_at,
    sent_at,
    provider,
    provider_id,
    last_error,
    link
});

impl From<OutboxRow> for OutboxEntry {
    fn from(r: OutboxRow) -> OutboxEntry {
        OutboxEntry {
            link: first_link(&r.text_body),
            id: r.id,
            kind: r.kind,
            order_id: r.order_id,
            to: r.to_addr,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            created_at: r.created_at,
            next_attempt_at: r.next_attempt_at,
            sent_at: r.sent_at,
            provider: r.provider,
            provider_id: r.provider_id,
            last_error: r.last_error,
        }
    }
}

/// The first `http(s)://` address in a plain-text body.
pub fn first_link(text: &str) -> Option<String> {
    let start = ["https://", "http://"].iter().filter_map(|p| text.find(p)).min()?;
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace() && !"<>\"".contains(*c)).collect();
    Some(link.trim_end_matches(['.', ',', ')', ';']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        let delays: Vec<u64> = (1..=8).map(retry_delay_secs).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(retry_delay_secs(0), 60);
        assert_eq!(retry_delay_secs(u32::MAX), MAX_RETRY_SECS);
    }

    #[test]
    fn links() {
        assert_eq!(
            first_link("Open this page:\nhttps://shop.example/download/v1.abc?x=1 now").as_deref(),
            Some("https://shop.example/download/v1.abc?x=1")
        );
        assert_eq!(
            first_link("see http://127.0.0.1:8787/download/t.").as_deref(),
            Some("http://127.0.0.1:8787/download/t")
        );
        assert_eq!(first_link("no link here"), None);
    }

    /// `GET /admin/outbox`'s entries and a run's report (in `resend`'s
    /// answer and the log), byte for byte.
    #[test]
    fn answers_are_pinned() {
        let row = OutboxRow {
            id: 3,
            kind: "order".into(),
            order_id: Some("O".into()),
            to_addr: "a@b.example".into(),
            subject: "Your \"clips\"".into(),
            status: "queued".into(),
            attempts: 1,
            created_at: 2,
            next_attempt_at: 4,
            sent_at: None,
            provider: Some("resend".into()),
            provider_id: None,
            last_error: Some("Resend answered 500".into()),
            text_body: "Open https://shop.example/download/t now".into(),
        };
        let entry = OutboxEntry::from(row);
        assert_eq!(
            clipstore_core::json::to_string_sorted(&entry),
            concat!(
                r#"{"attempts":1,"created_at":2,"id":3,"kind":"order","#,
                r#""last_error":"Resend answered 500","link":"https://shop.example/download/t","#,
                r#""next_attempt_at":4,"order_id":"O","provider":"resend","#,
                r#""provider_id":null,"sent_at":null,"status":"queued","#,
                "\"subject\":\"Your \\\"clips\\\"\",\"to\":\"a@b.example\"}",
            )
        );
        let report = DeliveryReport { due: 3, sent: 1, retried: 1, failed: 0, no_provider: 1, error: None };
        assert_eq!(
            clipstore_core::json::to_string_sorted(&report),
            concat!(r#"{"due":3,"error":null,"failed":0,"no_provider":1,"#, r#""retried":1,"sent":1}"#,)
        );
        let stopped = DeliveryReport { error: Some("D1".into()), ..DeliveryReport::default() };
        assert_eq!(
            clipstore_core::json::to_string_sorted(&stopped),
            concat!(r#"{"due":0,"error":"D1","failed":0,"no_provider":0,"#, r#""retried":0,"sent":0}"#,)
        );
    }
}

/// The statements against a real SQLite with every migration applied (D1
/// is SQLite), as `ledger_sql_tests.rs` does for the ledger.
#[cfg(test)]
mod sql_tests {
    use rusqlite::{params_from_iter, types::Value, Connection};

    use super::sql;

    use crate::ledger_sql_tests::{db, n, run, t};

    /// One mail per failed checkout, however often its event comes, and
    /// none for a checkout that made an order.
    #[test]
    fn a_failed_payment_is_mailed_once_per_checkout() {
        let db = db();
        let mail = |session: &str| {
            let values = ["payment_failed", "b@example.com", "S", "T", "<p>H</p>"];
            let mut values: Vec<Value> = values.into_iter().map(t).collect();
            values.insert(1, Value::Null);
            values.extend([n(100), t("stripe"), t(session)]);
            run(&db, sql::PAYMENT_FAILED_MAIL, values)
        };
        let recorded = |session: &str| {
            let values = vec![n(100), t("stripe"), t("evt"), t("checkout.session.async_payment_failed"), t(session)]
                .into_iter()
                .chain([Value::Null, n(200), t("payment_failed"), t("")])
                .collect();
            run(&db, crate::ledger::sql::PAYMENT_EVENT, values);
        };
        assert_eq!(mail("cs_1"), 1);
        recorded("cs_1");
        assert_eq!(mail("cs_1"), 0, "the event delivered again");
        assert_eq!(mail("cs_2"), 1, "another checkout");
        let checkout = vec![t("stripe"), t("cs_3"), t("O"), t("tok"), Value::Null, Value::Null, Value::Null, n(1)];
        run(&db, crate::ledger::sql::CHECKOUT, checkout.into_iter().chain([Value::Null]).collect());
        assert_eq!(mail("cs_3"), 0, "a checkout that made an order");
        let kinds: Vec<String> = db
            .prepare("SELECT kind FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(kinds, ["payment_failed", "payment_failed"]);
    }

    /// Migration 0017 copies the outbox into a table that allows the kind
    /// `payment_failed`: every row and id kept, ids go on after them, and
    /// the one-order-mail index holds as before.
    #[test]
    fn the_outbox_keeps_its_rows_when_it_learns_a_kind() {
        let db = Connection::open_in_memory().unwrap();
        let (before, last) = crate::ledger_sql_tests::MIGRATIONS.split_at(16);
        for m in before {
            db.execute_batch(m).unwrap();
        }
        insert(&db, "order", Some("PAY-1"), 100);
        insert(&db, "recovery", None, 100);
        run(&db, "DELETE FROM outbox WHERE id = 2", vec![]);
        run(&db, "UPDATE outbox SET status = 'sent', provider_id = 'm1' WHERE id = 1", vec![]);
        assert!(db.execute("INSERT INTO outbox (kind, to_addr, subject, text_body, html_body, created_at, next_attempt_at) VALUES ('payment_failed', 'a', 's', 't', 'h', 1, 1)", []).is_err());
        db.execute_batch(last[0]).unwrap();
        let kept: (i64, String, String, String) = db
            .query_row("SELECT id, kind, status, provider_id FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(kept, (1, "order".into(), "sent".into(), "m1".into()));
        assert_eq!(insert(&db, "payment_failed", None, 200), 1);
        let id: i64 = db.query_row("SELECT MAX(id) FROM outbox", [], |r| r.get(0)).unwrap();
        assert_eq!(id, 3, "AUTOINCREMENT goes on after the deleted row's id");
        assert_eq!(insert(&db, "order", Some("PAY-1"), 300), 0, "still one order mail per order");
        assert!(db.execute("INSERT INTO outbox (kind, to_addr, subject, text_body, html_body, created_at, next_attempt_at) VALUES ('other', 'a', 's', 't', 'h', 1, 1)", []).is_err());
    }

    #[test]
    fn refused_mail_is_counted_for_the_owner_without_its_address() {
        let db = db();
        insert(&db, "order", Some("PAY-1"), 100);
        run(&db, "UPDATE outbox SET status = 'sending' WHERE id = 1", vec![]);
        run(
            &db,
            sql::OUTBOX_FAILED,
            vec![n(1), t("422 validation_error: Invalid `to` field"), t("resend"), n(100_000)],
        );
        let (failed, latest): (i64, String) =
            db.query_row(sql::OUTBOX_FAILED_SINCE, [50], |r| Ok((r.get("count")?, r.get("latest")?))).unwrap();
        assert_eq!(failed, 1);
        assert_eq!(latest, "order mail of PAY-1: 422 validation_error: Invalid `to` field");
        assert!(!latest.contains("b@example.com"));
        let (recent, _): (i64, Option<String>) =
            db.query_row(sql::OUTBOX_FAILED_SINCE, [99_000], |r| Ok((r.get("count")?, r.get("latest")?))).unwrap();
        assert_eq!(recent, 1, "counted by when it failed, not when it was queued");
        let (none, _): (i64, Option<String>) =
            db.query_row(sql::OUTBOX_FAILED_SINCE, [100_001], |r| Ok((r.get("count")?, r.get("latest")?))).unwrap();
        assert_eq!(none, 0);
        // An alert mail refused (ALERT_EMAIL that the provider will not take)
        // is not announced: that announcement's own mail would be refused
        // too, and so on every run.
        insert(&db, "alert", None, 100);
        run(&db, "UPDATE outbox SET status = 'sending' WHERE id = 2", vec![]);
        run(&db, sql::OUTBOX_FAILED, vec![n(2), t("422 invalid to"), t("resend"), n(100_500)]);
        let (failed, latest): (i64, String) =
            db.query_row(sql::OUTBOX_FAILED_SINCE, [50], |r| Ok((r.get("count")?, r.get("latest")?))).unwrap();
        assert_eq!((failed, latest.as_str()), (1, "order mail of PAY-1: 422 validation_error: Invalid `to` field"));
    }

    #[test]
    fn link_mails_of_revoked_orders_are_withdrawn_and_nothing_else() {
        let db = db();
        let order = |id: &str, revoked: Option<(u64, &str)>| {
            let (at, reason) = revoked.map_or((Value::Null, Value::Null), |(at, reason)| (n(at), t(reason)));
            let insert =
                "INSERT INTO orders (order_id, clips, allowance, source, created_at, revoked_at, revoked_reason) \
                          VALUES (?1, '[]', 1, 'token', 1, ?2, ?3)";
            run(&db, insert, vec![t(id), at, reason]);
        };
        order("PAY-1", Some((150, "refunded")));
        order("PAY-2", None);
        order("PAY-3", Some((150, "admin")));
        order("PAY-4", Some((150, "disputed")));
        // Reissued after a refund (`--despite-refund`): no longer revoked,
        // but its links from before the reissue no longer work.
        order("PAY-5", None);
        run(&db, "UPDATE orders SET revoked_reason = 'refunded', not_before = 181 WHERE order_id = 'PAY-5'", vec![]);
        // Reissued in the second its mail was queued: that mail's link is
        // the new one (`resend` right after `reissue`).
        order("PAY-6", None);
        run(&db, "UPDATE orders SET not_before = 101 WHERE order_id = 'PAY-6'", vec![]);
        insert(&db, "order", Some("PAY-1"), 100);
        insert(&db, "resend", Some("PAY-1"), 100);
        insert(&db, "resend", Some("PAY-1"), 100);
        run(&db, "UPDATE outbox SET status = 'sending' WHERE id = 3", vec![]);
        insert(&db, "order", Some("PAY-2"), 100);
        insert(&db, "recovery", None, 100);
        insert(&db, "order", Some("PAY-3"), 100);
        insert(&db, "order", Some("PAY-4"), 100);
        insert(&db, "resend", Some("PAY-5"), 100);
        insert(&db, "alert", Some("PAY-1"), 100);
        insert(&db, "order", Some("PAY-6"), 100);
        assert_eq!(run(&db, sql::OUTBOX_WITHDRAW, vec![n(200)]), 5);
        let status = |id: i64| -> (String, Option<String>) {
            db.query_row("SELECT status, last_error FROM outbox WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
        };
        let withdrawn = |why: &str| {
            ("failed".to_string(), Some(format!("withdrawn: the order was {why} before the mail went out")))
        };
        assert_eq!(status(1), withdrawn("refunded"));
        assert_eq!(status(2), withdrawn("refunded"));
        assert_eq!(status(3).0, "sending", "one being sent is left to finish");
        assert_eq!((status(4).0, status(5).0), ("queued".to_string(), "queued".to_string()));
        assert_eq!(status(6), withdrawn("revoked"));
        assert_eq!(status(7), withdrawn("disputed"));
        assert_eq!(status(8), withdrawn("reissued"), "its link was made before the reissue");
        assert_eq!(status(9).0, "queued", "only link mails");
        assert_eq!(status(10).0, "queued", "a mail of the reissue's second has the new link");
        let failed: i64 = db.query_row(sql::OUTBOX_FAILED_SINCE, [50], |r| r.get("count")).unwrap();
        assert_eq!(failed, 0, "nothing for the owner to send again");
        assert_eq!(run(&db, sql::OUTBOX_WITHDRAW, vec![n(300)]), 0, "once");
        // The dispute is won: a fresh mail, only in the batch that restored
        // the order; the withdrawn one stays.
        let restored_mail = |order: &str, now: u64| {
            let values =
                vec![t("resend"), t(order), t("b@example.com"), t("S"), t("https://x/d/2"), t("<p>H</p>"), n(now)];
            run(&db, sql::OUTBOX_INSERT_IF_RESTORED, values)
        };
        assert_eq!(restored_mail("PAY-4", 400), 0, "not restored");
        run(&db, "INSERT INTO order_events (order_id, at, kind) VALUES ('PAY-4', 400, 'restore')", vec![]);
        assert_eq!(restored_mail("PAY-4", 401), 0, "restored by an earlier batch");
        assert_eq!(restored_mail("PAY-1", 400), 0, "another order's restore");
        assert_eq!(restored_mail("PAY-4", 400), 1);
        assert_eq!(status(7), withdrawn("disputed"));
        run(&db, "UPDATE orders SET revoked_at = NULL WHERE order_id = 'PAY-4'", vec![]);
        assert_eq!(due(&db, 400), vec![3, 4, 5, 9, 10, 11]);
        assert_eq!(run(&db, sql::OUTBOX_WITHDRAW, vec![n(500)]), 0, "not withdrawn again");
    }

    fn insert(db: &Connection, kind: &str, order: Option<&str>, now: u64) -> usize {
        let order = order.map_or(Value::Null, t);
        run(
            db,
            sql::OUTBOX_INSERT,
            vec![t(kind), order, t("b@example.com"), t("S"), t("https://x/d/1"), t("<p>H</p>"), n(now)],
        )
    }

    /// The claimed row's (id, attempts), if the claim got it.
    fn claim(db: &Connection, id: u64, now: u64) -> Option<(u64, u32)> {
        let mut s = db.prepare(sql::OUTBOX_CLAIM).unwrap();
        let mut rows = s
            .query_map(params_from_iter([n(id), n(now), n(super::LEASE_SECS)]), |r| {
                Ok((r.get::<_, i64>("id")? as u64, r.get::<_, i64>("attempts")? as u32))
            })
            .unwrap();
        rows.next().map(|r| r.unwrap())
    }

    fn due(db: &Connection, now: u64) -> Vec<u64> {
        let mut s = db.prepare(sql::OUTBOX_DUE).unwrap();
        let rows = s.query_map(params_from_iter([n(now), n(10)]), |r| r.get::<_, i64>(0)).unwrap();
        rows.map(|r| r.unwrap() as u64).collect()
    }

    fn row(db: &Connection, id: u64) -> (String, u32, u64, Option<String>, Option<String>) {
        db.query_row(
            "SELECT status, attempts, next_attempt_at, provider_id, last_error FROM outbox WHERE id = ?1",
            [id as i64],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u32, r.get::<_, i64>(2)? as u64, r.get(3)?, r.get(4)?)),
        )
        .unwrap()
    }

    fn stuck(db: &Connection, now: u64, threshold: u64) -> (u64, u64) {
        db.query_row(sql::OUTBOX_STUCK, [now as i64, threshold as i64], |r| {
            Ok((r.get::<_, i64>("stuck")? as u64, r.get::<_, i64>("oldest_age")? as u64))
        })
        .unwrap()
    }

    #[test]
    fn a_message_is_claimed_once_and_sent() {
        let db = db();
        assert_eq!(insert(&db, "order", Some("O1"), 1000), 1);
        assert_eq!(due(&db, 999), Vec::<u64>::new());
        assert_eq!(due(&db, 1000), vec![1]);
        assert_eq!(claim(&db, 1, 1000), Some((1, 1)));
        assert_eq!(claim(&db, 1, 1000), None, "a second sender gets nothing");
        assert_eq!(claim(&db, 1, 1000 + super::LEASE_SECS - 1), None, "nor while the lease holds");
        assert_eq!(due(&db, 1001), Vec::<u64>::new());
        assert_eq!(run(&db, sql::OUTBOX_SENT, vec![n(1), n(1002), t("resend"), t("re-id-1")]), 1);
        let (status, attempts, _, provider_id, _) = row(&db, 1);
        assert_eq!((status.as_str(), attempts, provider_id.as_deref()), ("sent", 1, Some("re-id-1")));
        assert_eq!(due(&db, 1_000_000), Vec::<u64>::new(), "sent is never due");
        assert_eq!(claim(&db, 1, 1_000_000), None);
        assert_eq!(db.query_row("SELECT sent_at FROM outbox WHERE id = 1", [], |r| r.get::<_, i64>(0)).unwrap(), 1002);
    }

    #[test]
    fn one_order_mail_per_order() {
        let db = db();
        assert_eq!(insert(&db, "order", Some("O1"), 1), 1);
        assert_eq!(insert(&db, "order", Some("O1"), 2), 0, "ignored, and no error for the batch");
        assert_eq!(insert(&db, "resend", Some("O1"), 3), 1);
        assert_eq!(insert(&db, "alert", None, 4), 1);
        assert_eq!(insert(&db, "alert", None, 5), 1);
        let bad = db.prepare(sql::OUTBOX_INSERT).unwrap().execute(params_from_iter(vec![
            t("spam"),
            Value::Null,
            t("b@example.com"),
            t("S"),
            t("T"),
            t("H"),
            n(6),
        ]));
        assert!(bad.is_err(), "unknown kinds are refused");
    }

    #[test]
    fn a_dead_senders_lease_expires() {
        let db = db();
        insert(&db, "order", Some("O1"), 1000);
        assert!(claim(&db, 1, 1000).is_some());
        // The sender died: nothing marks the row; after the lease it is due.
        let expiry = 1000 + super::LEASE_SECS;
        assert_eq!(due(&db, expiry - 1), Vec::<u64>::new());
        assert_eq!(due(&db, expiry), vec![1]);
        assert_eq!(claim(&db, 1, expiry), Some((1, 2)), "claimed again, second attempt");
        // The first sender's late answer no longer counts as a retry.
        assert_eq!(run(&db, sql::OUTBOX_SENT, vec![n(1), n(expiry + 1), t("resend"), t("")]), 1);
        assert_eq!(run(&db, sql::OUTBOX_RETRY, vec![n(1), n(expiry + 60), t("late"), t("resend")]), 0);
        let (status, _, _, provider_id, _) = row(&db, 1);
        assert_eq!((status.as_str(), provider_id), ("sent", None));
    }

    #[test]
    fn retries_back_off_and_failures_stay() {
        let db = db();
        insert(&db, "order", Some("O1"), 1000);
        let mut now = 1000;
        for attempt in 1..=4u32 {
            assert_eq!(claim(&db, 1, now), Some((1, attempt)));
            let next = now + super::retry_delay_secs(attempt);
            assert_eq!(run(&db, sql::OUTBOX_RETRY, vec![n(1), n(next), t("Resend answered 503"), t("resend")]), 1);
            let (status, attempts, next_at, _, error) = row(&db, 1);
            assert_eq!((status.as_str(), attempts, next_at), ("queued", attempt, next));
            assert_eq!(error.as_deref(), Some("Resend answered 503"));
            assert_eq!(due(&db, next - 1), Vec::<u64>::new(), "not before its time");
            now = next;
        }
        assert_eq!(now, 1000 + 60 + 120 + 240 + 480);
        assert!(claim(&db, 1, now).is_some());
        assert_eq!(
            run(&db, sql::OUTBOX_FAILED, vec![n(1), t("Resend answered 422 validation_error"), t("resend"), n(5000)]),
            1
        );
        assert_eq!(row(&db, 1).0, "failed");
        assert_eq!(due(&db, u32::MAX.into()), Vec::<u64>::new(), "failed is never retried automatically");
        assert_eq!(db.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0)).unwrap(), 1, "kept");
    }

    /// A message goes through: those waiting out a back-off go next, not
    /// up to an hour later; sending, sent and failed ones are left alone.
    #[test]
    fn a_message_sent_releases_those_waiting_out_their_back_off() {
        let db = db();
        for order in ["O1", "O2", "O3", "O4"] {
            insert(&db, "order", Some(order), 1000);
        }
        run(&db, sql::OUTBOX_RETRY, vec![n(1), n(4600), t("Resend answered 401"), t("resend")]);
        run(&db, "UPDATE outbox SET status = 'sending', next_attempt_at = 4600 WHERE id = 2", vec![]);
        run(&db, "UPDATE outbox SET status = 'failed', next_attempt_at = 4600 WHERE id = 3", vec![]);
        run(&db, "UPDATE outbox SET next_attempt_at = 4600 WHERE id = 1", vec![]);
        assert_eq!(due(&db, 2000), vec![4], "only the new one is due");
        assert_eq!(run(&db, sql::OUTBOX_RELEASE, vec![n(2000)]), 1);
        assert_eq!(due(&db, 2000), vec![1, 4]);
        assert_eq!(row(&db, 2).2, 4600, "a message being sent keeps its lease");
        assert_eq!(row(&db, 3).0, "failed");
        assert_eq!(run(&db, sql::OUTBOX_RELEASE, vec![n(2000)]), 0);
    }

    #[test]
    fn stuck_mail_is_counted_with_its_oldest_age() {
        let db = db();
        assert_eq!(stuck(&db, 10_000, 1800), (0, 0));
        insert(&db, "order", Some("O1"), 1000);
        insert(&db, "order", Some("O2"), 5000);
        insert(&db, "alert", None, 9000);
        assert_eq!(stuck(&db, 10_000, 1800), (2, 9000), "O1 and O2 are older than 30 minutes");
        assert!(claim(&db, 1, 10_000).is_some());
        assert_eq!(stuck(&db, 10_000, 1800), (2, 9000), "sending still counts until sent");
        // What the provider last answered for one of them: the cause.
        let last_error = |db: &Connection| -> Option<String> {
            db.query_row(sql::OUTBOX_STUCK, [10_000i64, 1800], |r| r.get("last_error")).unwrap()
        };
        assert_eq!(last_error(&db), None);
        run(&db, sql::OUTBOX_RETRY, vec![n(1), n(10_060), t("Resend answered 401: API key is invalid"), t("resend")]);
        assert_eq!(last_error(&db).as_deref(), Some("Resend answered 401: API key is invalid"));
        assert!(claim(&db, 1, 10_060).is_some());
        run(&db, sql::OUTBOX_SENT, vec![n(1), n(10_001), t("resend"), t("x")]);
        assert_eq!(last_error(&db), None, "only of messages still waiting");
        assert_eq!(stuck(&db, 10_001, 1800), (1, 5001));
        assert!(claim(&db, 2, 10_001).is_some());
        run(&db, sql::OUTBOX_FAILED, vec![n(2), t("refused"), t("resend"), n(10_001)]);
        assert_eq!(stuck(&db, 10_001, 1800), (0, 0), "a refusal is not stuck (it is failed)");
    }

    /// Mail refused for the shop's key: counted at any age, with the
    /// provider's answer as the Resend client writes it, and one of them
    /// made due at each cron run whatever its back-off.
    #[test]
    fn mail_refused_for_the_shop_is_found_and_probed_one_at_a_time() {
        use crate::mail::{resend::Resend, MailProvider};
        let db = db();
        let refused = |db: &Connection| -> (u64, u64, Option<String>) {
            db.query_row(sql::OUTBOX_REFUSED, [10_000i64], |r| {
                Ok((r.get::<_, i64>("refused")? as u64, r.get::<_, i64>("oldest_age")? as u64, r.get("last_error")?))
            })
            .unwrap()
        };
        for (order, at) in [("O1", 9_000), ("O2", 9_500), ("O3", 9_900)] {
            insert(&db, "order", Some(order), at);
        }
        assert_eq!(refused(&db), (0, 0, None));
        let resend = Resend::from_settings(Some("re_123456789"), Some("Shop <shop@example.com>"), None, None);
        let resend = resend.unwrap().unwrap();
        let key = resend.outcome(401, r#"{"statusCode":401,"name":"validation_error","message":"API key is invalid"}"#);
        let key = key.unwrap_err().detail;
        let busy = resend.outcome(429, r#"{"statusCode":429,"name":"rate_limit_exceeded","message":"slow"}"#);
        run(&db, "UPDATE outbox SET status = 'sending'", vec![]);
        run(&db, sql::OUTBOX_RETRY, vec![n(2), n(13_000), t(&busy.unwrap_err().detail), t("resend")]);
        assert_eq!(refused(&db).0, 0, "a rate limit is not the shop's key");
        run(&db, sql::OUTBOX_RETRY, vec![n(1), n(12_000), t(&key), t("resend")]);
        run(&db, sql::OUTBOX_RETRY, vec![n(3), n(11_000), t(&key), t("resend")]);
        assert_eq!(refused(&db), (2, 1000, Some(key.clone())), "young ones too: no mail goes out at all");
        assert_eq!(run(&db, sql::OUTBOX_PROBE, vec![n(10_000)]), 1);
        assert_eq!(due(&db, 10_000), vec![1], "the oldest waiting, one a run");
        // Refused again: its back-off grows, and the next run's probe asks
        // with it again (any one tells whether the key works).
        assert!(claim(&db, 1, 10_000).is_some());
        run(&db, sql::OUTBOX_RETRY, vec![n(1), n(10_600), t(&key), t("resend")]);
        assert_eq!(due(&db, 10_300), Vec::<u64>::new());
        assert_eq!(run(&db, sql::OUTBOX_PROBE, vec![n(10_300)]), 1);
        assert_eq!(due(&db, 10_300), vec![1], "one a run");
        // The key fixed: the probe's message is taken, and the others are
        // due and no longer counted as refused (the deep check passes at once).
        assert!(claim(&db, 1, 10_300).is_some());
        run(&db, sql::OUTBOX_SENT, vec![n(1), n(10_300), t("resend"), t("x")]);
        assert_eq!(refused(&db).0, 1, "sent is no longer waiting");
        assert_eq!(run(&db, sql::OUTBOX_RELEASE, vec![n(10_300)]), 2, "the refused one and the rate-limited one");
        assert_eq!(refused(&db).0, 0);
        assert_eq!(due(&db, 10_300), vec![2, 3]);
        let last_error: String = db.query_row("SELECT last_error FROM outbox WHERE id = 3", [], |r| r.get(0)).unwrap();
        assert_eq!(last_error, format!("earlier, {key}"), "kept as history");
    }

    /// A provider down for hours (5xx): its backlog waits an hour between
    /// tries, but the cron asks with the oldest message each run, and the
    /// first one taken makes every other due.
    #[test]
    fn after_an_outage_the_backlog_goes_at_the_next_cron_run() {
        let db = db();
        for (order, at) in [("O1", 9_000), ("O2", 9_500)] {
            insert(&db, "order", Some(order), at);
        }
        run(&db, "UPDATE outbox SET status = 'sending'", vec![]);
        for id in [1, 2] {
            run(&db, sql::OUTBOX_RETRY, vec![n(id), n(13_600), t("Resend answered 500: down"), t("resend")]);
        }
        assert_eq!(due(&db, 10_000), Vec::<u64>::new(), "both wait out their back-off");
        assert_eq!(run(&db, sql::OUTBOX_PROBE, vec![n(10_000)]), 1);
        assert_eq!(due(&db, 10_000), vec![1], "the oldest is asked again at once");
        // Never sent yet (no error): not a probe, it is due by itself.
        insert(&db, "order", Some("O3"), 9_990);
        run(&db, "UPDATE outbox SET next_attempt_at = 20000 WHERE id = 3", vec![]);
        assert!(claim(&db, 1, 10_000).is_some());
        run(&db, sql::OUTBOX_SENT, vec![n(1), n(10_000), t("resend"), t("x")]);
        assert_eq!(run(&db, sql::OUTBOX_RELEASE, vec![n(10_000)]), 2);
        assert_eq!(due(&db, 10_000), vec![2, 3], "the provider is back: the rest go");
    }

    #[test]
    fn the_listing_is_newest_first() {
        let db = db();
        insert(&db, "order", Some("O1"), 1);
        insert(&db, "alert", None, 2);
        let mut s = db.prepare(sql::OUTBOX_LIST).unwrap();
        let rows: Vec<(i64, String, String)> = s
            .query_map([10], |r| Ok((r.get("id")?, r.get("kind")?, r.get("text_body")?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(super::first_link(&rows[1].2).as_deref(), Some("https://x/d/1"));
    }
}
