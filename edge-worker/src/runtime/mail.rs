//! Mail glue: sends the outbox's due messages through the mail provider
//! with `fetch`, and records what became of each (docs/mail.md). The
//! decisions are in [`crate::mail`] (requests, answers) and
//! [`crate::outbox`] (SQL, claims, retry schedule); this file reads the
//! settings, runs the statements and executes the provider's [`HttpCall`].
//!
//! Senders: the cron run (`scheduled`, every five minutes) and, after an
//! order's webhook, `ctx.wait_until(deliver_outbox(…))`. Both claim each row
//! before sending it, so they never send one message twice.
//!
//! Logs one JSON line per message (`mail_sent`, `mail_retry`,
//! `mail_failed`, `mail_queued_no_provider`) with the outbox id, kind,
//! order and attempt; never the API key, never the message's body.

use worker::*;

use super::http::execute;
use super::monitor::setting;
use super::{batch, bind, manifest, now_unix, num, opt_text, rows, text};
use crate::error::DownloadError;
use crate::mail::messages::{order_mail, MailClip, OrderMail, OrderMailReason};
use crate::mail::resend::{self, Resend};
use crate::mail::{self, ConfigError, Mail, MailProvider, SendFailure};
use crate::outbox::{self, sql, ClaimedMessage, DeliveryReport, MailKind, OutboxEntry, OutboxRow};
use clipstore_core::json::ToJson;
use clipstore_core::Claims;

/// A send that has no answer after this long is retried later (with the
/// same idempotency key).
const SEND_TIMEOUT_SECS: u64 = 15;

/// The configured provider: `Ok(None)` without `RESEND_API_KEY` (mail stays
/// queued), an error naming the variable when a setting is malformed.
pub(crate) fn provider(env: &Env) -> std::result::Result<Option<Resend>, ConfigError> {
    Resend::from_settings(
        setting(env, resend::API_KEY_VAR).as_deref(),
        setting(env, resend::FROM_VAR).as_deref(),
        setting(env, resend::BASE_VAR).as_deref(),
        Some(&manifest().shop.contact_email),
    )
}

/// The statement that queues `mail` (`outbox::sql::OUTBOX_INSERT`): put it
/// in the same batch as what causes it, e.g. the checkout's order.
pub(crate) fn outbox_insert(
    db: &D1Database,
    kind: MailKind,
    order_id: Option<&str>,
    mail: &Mail,
    now: u64,
) -> std::result::Result<D1PreparedStatement, DownloadError> {
    bind(
        db,
        sql::OUTBOX_INSERT,
        &[
            text(kind.as_str()),
            opt_text(order_id),
            text(&mail.to),
            text(&mail.subject),
            text(&mail.text),
            text(&mail.html),
            num(now),
        ],
    )
}

/// [`outbox_insert`] of the mail telling a customer their delayed payment
/// failed, once per checkout (`sql::PAYMENT_FAILED_MAIL`).
pub(crate) fn payment_failed_insert(
    db: &D1Database,
    mail: &Mail,
    now: u64,
    provider: &str,
    session_id: &str,
) -> std::result::Result<D1PreparedStatement, DownloadError> {
    let values = [
        text(MailKind::PaymentFailed.as_str()),
        opt_text(None),
        text(&mail.to),
        text(&mail.subject),
        text(&mail.text),
        text(&mail.html),
        num(now),
        text(provider),
        text(session_id),
    ];
    bind(db, sql::PAYMENT_FAILED_MAIL, &values)
}

/// Queues `mail` on its own (an alert, a recovery mail).
pub(crate) async fn queue(
    db: &D1Database,
    kind: MailKind,
    order_id: Option<&str>,
    mail: &Mail,
) -> std::result::Result<(), DownloadError> {
    batch(db, vec![outbox_insert(db, kind, order_id, mail, now_unix())?]).await.map(|_| ())
}

struct DueRow {
    id: u64,
}
crate::from_row!(DueRow { id });

/// Whether a delivery run asks the provider again with the oldest message
/// waiting out a back-off after a failed send (one message, whatever its
/// back-off): the cron's run does, so that a fixed key or the end of an
/// outage is found within 5 minutes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    OldestWaiting,
    No,
}

/// Sends up to `limit` due messages: claims each, sends it, marks it sent,
/// queued again (with the next attempt's time) or failed. Never fails: what
/// went wrong is in the report and the logs, and the messages stay in the
/// outbox for the next run.
pub(crate) async fn deliver_outbox(env: &Env, limit: u32, probe: Probe) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            report.error = Some(format!("the D1 binding DB is missing or wrong: {e}"));
            console_error!("{}", log_line!({ "event": "mail_outbox_unavailable", "error": report.error }));
            return report;
        }
    };
    let due = async {
        // Mails of an order revoked since they were queued are not sent
        // (see the SQL: a refund may be written before or after its order).
        let now = now_unix();
        let mut statements = vec![bind(&db, sql::OUTBOX_WITHDRAW, &[num(now)])?];
        if probe == Probe::OldestWaiting {
            statements.push(bind(&db, sql::OUTBOX_PROBE, &[num(now)])?);
        }
        statements.push(bind(&db, sql::OUTBOX_DUE, &[num(now), num(limit.into())])?);
        let r = batch(&db, statements).await?;
        rows::<DueRow>(r.last().expect("the due statement's result"))
    }
    .await;
    let due = match due {
        Ok(due) => due,
        Err(e) => {
            report.error = Some(format!("{e:?}"));
            console_error!("{}", log_line!({ "event": "mail_outbox_unavailable", "error": report.error }));
            return report;
        }
    };
    report.due = due.len() as u32;
    if due.is_empty() {
        return report;
    }
    let provider = match provider(env) {
        Ok(provider) => provider,
        Err(e) => {
            console_error!("{}", log_line!({ "event": "mail_provider_misconfigured", "error": e.to_string() }));
            None
        }
    };
    let Some(provider) = provider else {
        for row in &due {
            console_warn!(
                "{}",
                log_line!({ "event": "mail_queued_no_provider", "id": row.id, "missing": resend::API_KEY_VAR })
            );
        }
        report.no_provider = report.due;
        return report;
    };
    for row in due {
        let claimed = async {
            let r = batch(
                &db,
                vec![bind(&db, sql::OUTBOX_CLAIM, &[num(row.id), num(now_unix()), num(outbox::LEASE_SECS)])?],
            )
            .await?;
            rows::<ClaimedMessage>(&r[0])
        }
        .await;
        let message = match claimed {
            Ok(claimed) => match claimed.into_iter().next() {
                Some(message) => message,
                None => continue, // another sender has it
            },
            Err(e) => {
                report.error = Some(format!("{e:?}"));
                console_error!("{}", log_line!({ "event": "mail_outbox_unavailable", "error": report.error }));
                return report;
            }
        };
        let result = send(&provider, &message).await;
        let now = now_unix();
        let name = provider.name();
        let about = log_line!({
            "id": message.id,
            "kind": message.kind,
            "order": message.order_id,
            "attempt": message.attempts,
            "provider": name,
        });
        let mut statements = Vec::new();
        let (statement, line) = match &result {
            Ok(provider_id) => {
                // The provider works: messages waiting out a back-off are
                // due now (once a run).
                if report.sent == 0 {
                    statements.push(bind(&db, sql::OUTBOX_RELEASE, &[num(now)]));
                }
                report.sent += 1;
                (
                    bind(&db, sql::OUTBOX_SENT, &[num(message.id), num(now), text(name), text(provider_id)]),
                    log_line!({ "event": "mail_sent", "message": about, "provider_id": provider_id }),
                )
            }
            Err(SendFailure { retry: true, detail }) => {
                report.retried += 1;
                let next = now + outbox::retry_delay_secs(message.attempts);
                (
                    bind(&db, sql::OUTBOX_RETRY, &[num(message.id), num(next), text(detail), text(name)]),
                    log_line!({ "event": "mail_retry", "message": about, "next_attempt_at": next, "error": detail }),
                )
            }
            Err(SendFailure { retry: false, detail }) => {
                report.failed += 1;
                (
                    bind(&db, sql::OUTBOX_FAILED, &[num(message.id), text(detail), text(name), num(now)]),
                    log_line!({ "event": "mail_failed", "message": about, "error": detail }),
                )
            }
        };
        match &result {
            Ok(_) => console_log!("{line}"),
            Err(SendFailure { retry: true, .. }) => console_warn!("{line}"),
            // A customer may be without their link: the owner must look.
            Err(SendFailure { retry: false, .. }) => console_error!("{line}"),
        }
        statements.insert(0, statement);
        let recorded = match statements.into_iter().collect::<std::result::Result<Vec<_>, _>>() {
            Ok(statements) => batch(&db, statements).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            // The claim's lease ends and the message is due again; the
            // idempotency key keeps the provider from sending it twice.
            console_error!(
                "{}",
                log_line!({ "event": "mail_state_not_saved", "id": message.id, "error": format!("{e:?}") })
            );
        }
    }
    if report.sent + report.retried + report.failed > 0 {
        console_log!("{}", log_line!({ "event": "mail_delivery", "report": report.to_json() }));
    }
    report
}

/// Sends `mail` at once, not through the outbox: the owner's alert when D1,
/// where the outbox lives, is what failed. `key`: its idempotency key.
/// The provider's id, or what went wrong.
pub(crate) async fn send_now(env: &Env, mail: &Mail, key: &str) -> std::result::Result<String, String> {
    let provider = provider(env)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} is not set: no mail can be sent", resend::API_KEY_VAR))?;
    let (status, body) = execute(&provider.request(mail, key), SEND_TIMEOUT_SECS).await?;
    provider.outcome(status, &body).map_err(|failure| failure.detail)
}

/// Sends one claimed message.
async fn send(provider: &dyn MailProvider, message: &ClaimedMessage) -> std::result::Result<String, SendFailure> {
    let call = provider.request(&message.mail(), &mail::idempotency_key(message.id, message.created_at));
    let (status, body) = execute(&call, SEND_TIMEOUT_SECS).await.map_err(mail::transport_failure)?;
    provider.outcome(status, &body)
}

/// `GET /admin/outbox`: the newest `limit` messages, without bodies.
pub(crate) async fn outbox_list(db: &D1Database, limit: u32) -> std::result::Result<Vec<OutboxEntry>, DownloadError> {
    let r = batch(db, vec![bind(db, sql::OUTBOX_LIST, &[num(limit.into())])?]).await?;
    Ok(rows::<OutboxRow>(&r[0])?.into_iter().map(OutboxEntry::from).collect())
}

/// What the customer's mail says about an order whose link is `token`:
/// links under `origin`, the shop's address as the request reached it (so
/// a local run's mail links to the local Worker).
pub(crate) fn order_facts(claims: &Claims, token: &str, to: &str, origin: &str) -> OrderMail {
    OrderMail {
        to: to.to_string(),
        order_id: claims.order_id.clone(),
        order_url: format!("{origin}/download/{token}"),
        clips: claims
            .clips
            .iter()
            .filter_map(|slug| MailClip::of_item(manifest(), slug, &claims.choice(slug)))
            .collect(),
        downloads_per_clip: claims.downloads,
        expires_at: claims.expires_at,
        recover_url: format!("{origin}{}", crate::routes::RECOVER_PATH),
        paid: None,
        bought_at: None,
    }
}

/// Whether the order mail of `claims` would list a clip: what was bought of
/// each is still in the catalog (the clip, its variant and licence), as
/// [`order_facts`] finds it. A mail of "0 clips" is never sent.
pub(crate) fn lists_a_clip(claims: &Claims) -> bool {
    claims.clips.iter().any(|slug| MailClip::of_item(manifest(), slug, &claims.choice(slug)).is_some())
}

/// The statement that queues the order mail for `token` (kind `order`, or
/// `resend` when the owner sends it again).
pub(crate) fn order_mail_statement(
    db: &D1Database,
    kind: MailKind,
    claims: &Claims,
    token: &str,
    to: &str,
    origin: &str,
    paid: Option<String>,
) -> std::result::Result<D1PreparedStatement, DownloadError> {
    let facts = OrderMail { paid, ..order_facts(claims, token, to, origin) };
    let reason = if kind == MailKind::Resend { OrderMailReason::Resent } else { OrderMailReason::Paid };
    let mail = order_mail(&manifest().shop, &facts, reason);
    outbox_insert(db, kind, Some(&claims.order_id), &mail, now_unix())
}

/// The mail of an order a won dispute restores, with its fresh link: queued
/// only if the batch restored it (`outbox::sql::OUTBOX_INSERT_IF_RESTORED`,
/// `now` being the `restore` event's time).
pub(crate) fn restored_order_mail_statement(
    db: &D1Database,
    claims: &Claims,
    token: &str,
    to: &str,
    origin: &str,
    now: u64,
) -> std::result::Result<D1PreparedStatement, DownloadError> {
    let facts = order_facts(claims, token, to, origin);
    let mail = order_mail(&manifest().shop, &facts, OrderMailReason::Restored);
    let values = [&mail.to, &mail.subject, &mail.text, &mail.html].map(|v| text(v));
    let [to, subject, text_body, html] = values;
    let kind = text(MailKind::Resend.as_str());
    bind(db, sql::OUTBOX_INSERT_IF_RESTORED, &[kind, text(&claims.order_id), to, subject, text_body, html, num(now)])
}

/// Sends what a request just queued, after its response (`waitUntil`).
pub(crate) async fn deliver_soon(env: Env) {
    deliver_outbox(&env, outbox::DELIVERY_BATCH, Probe::No).await;
}
