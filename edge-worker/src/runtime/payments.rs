//! The payment provider's webhook (docs/payments.md): orders from paid
//! checkouts, refunds and disputes, failed bank debits. The `/thanks`
//! success page and the orders made from Stripe's own answer are
//! `super::thanks`.

use clipstore_core::{sign_token, Claims};
use wasm_bindgen::JsValue;
use worker::*;

use super::d1::Query;
use super::{batch, bind, d1_error, json_error, manifest, now_unix, num};
use super::{keyring, mail, opt_num, opt_text, row_count, text, unavailable};
use crate::error::DownloadError;
use crate::ledger::{self, sql};
use crate::log_line::{Field, LogLine};
use crate::outbox::MailKind;
use crate::payments::{
    self, money_back_action, stripe::Stripe, EventKind, LinkTerms, MoneyBack, MoneyBackAction, PaymentProvider,
    PriceCheck, WebhookError, WebhookEvent,
};

/// Largest webhook body read. Stripe's Checkout Session and Charge events
/// are a few kilobytes; the limit is checked on `Content-Length` before
/// the body is read.
pub(super) const MAX_WEBHOOK_BYTES: u64 = 256 * 1024;

/// What the Worker answers a webhook delivery it authenticated.
pub(super) enum WebhookAnswer {
    /// Processed, awaiting payment, or a duplicate: 200 with this JSON; with
    /// `mail`, the outbox is delivered after the answer (an order's event may
    /// have queued its mail).
    Done { body: LogLine, mail: bool },
    /// Authenticated but refused (unknown clip, no clips, test mode): the
    /// refusal's status (`WebhookError::status`).
    Refused(WebhookError),
}

/// Whether the shop accepts test-mode payments (`STRIPE_TEST_MODE = "true"`):
/// local runs and a shop being set up; never a live shop, where a test card
/// would otherwise buy real clips.
pub(super) fn test_mode(env: &Env) -> bool {
    env.var("STRIPE_TEST_MODE").map(|v| v.to_string().trim() == "true").unwrap_or(false)
}

/// A webhook signing secret as Stripe issues it: `whsec_` and at least 16
/// base64 characters.
pub(super) fn valid_webhook_secret(secret: &str) -> bool {
    secret.strip_prefix("whsec_").is_some_and(|rest| {
        rest.len() >= 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_'))
    })
}

/// `POST /payments/stripe/webhook`: authenticate, then act once per event.
/// 2xx once processed (or already processed) and for an authenticated event
/// no retry could change; 4xx for a forged or stale delivery, or a clip the
/// catalog lacks; 5xx only when D1 or a secret is missing (a retry can then
/// succeed).
pub(super) async fn payment_webhook(mut req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    if req.method() != Method::Post {
        let mut r = json_error(405, "POST only")?;
        r.headers_mut().set("allow", "POST")?;
        return Ok(r);
    }
    let secret = env.secret("STRIPE_WEBHOOK_SECRET").ok().map(|s| s.to_string().trim().to_string());
    let Some(secret) = secret.filter(|s| valid_webhook_secret(s)) else {
        console_error!(
            "{}",
            log_line!({ "event": "payment_webhook_unconfigured", "detail": "STRIPE_WEBHOOK_SECRET is missing or not whsec_…" })
        );
        return json_error(503, "the webhook is not configured");
    };
    // Refused by its declared length before it is read.
    if let Err(status) = super::body_fits(&req, MAX_WEBHOOK_BYTES as usize) {
        return json_error(status, "the body is too large for a webhook event, or its Content-Length is missing");
    }
    let origin = super::origin(&req)?;
    let provider = Stripe::new(secret);
    let signature = req.headers().get("stripe-signature").ok().flatten();
    let body = req.bytes().await.unwrap_or_default();
    let at = Date::now().as_millis();
    let event = match provider.webhook(signature.as_deref(), &body, now_unix()) {
        Ok(event) => event,
        Err(error) => return webhook_refused(env, provider.name(), None, &error, at).await,
    };
    match act_on(env, &provider, &event, at, &origin).await {
        Ok(WebhookAnswer::Done { body, mail }) => {
            if mail {
                super::in_background(ctx, mail::deliver_soon(env.clone()));
            }
            super::json_line_response(200, body)
        }
        Ok(WebhookAnswer::Refused(error)) => webhook_refused(env, provider.name(), Some(&event), &error, at).await,
        Err(e) => {
            console_error!(
                "{}",
                log_line!({ "event": "payment_webhook_failed", "event_id": event.event_id, "error": format!("{e:?}") })
            );
            json_error(503, "the event could not be recorded; retry later")
        }
    }
}

/// Acts once on an authenticated event (a delivery, or one read back from
/// Stripe's list by the cron: `super::missed_events`).
pub(super) async fn act_on(
    env: &Env,
    provider: &dyn PaymentProvider,
    event: &WebhookEvent,
    at: u64,
    origin: &str,
) -> std::result::Result<WebhookAnswer, DownloadError> {
    if !event.livemode && !test_mode(env) {
        return Ok(WebhookAnswer::Refused(WebhookError::TestModeEvent));
    }
    match &event.kind {
        EventKind::Paid(_) | EventKind::AwaitingPayment { .. } => {
            checkout(env, provider.name(), event, at, origin).await
        }
        EventKind::Refunded(back) | EventKind::Disputed(back) | EventKind::DisputeWon(back) => {
            money_back(env, provider, event, back, at, origin).await
        }
        EventKind::RefundFailed(back) => refund_failed(env, provider.name(), event, back, at).await,
        EventKind::PaymentFailed(failed) => payment_failed(env, provider.name(), event, failed, at).await,
        EventKind::Ignored => noted(env, provider.name(), event, at).await,
    }
}

/// The checkout (or payment) an event is about, for the ledger.
pub(super) fn subject_of(event: &WebhookEvent) -> &str {
    match &event.kind {
        EventKind::Paid(paid) => &paid.session_id,
        EventKind::AwaitingPayment { session_id } => session_id,
        EventKind::Refunded(back)
        | EventKind::Disputed(back)
        | EventKind::DisputeWon(back)
        | EventKind::RefundFailed(back) => &back.payment_id,
        EventKind::PaymentFailed(failed) => &failed.session_id,
        EventKind::Ignored => "",
    }
}

/// Records an event of a type the shop does not act on. Answered 200: no
/// retry would change it.
async fn noted(
    env: &Env,
    provider: &str,
    event: &WebhookEvent,
    at: u64,
) -> std::result::Result<WebhookAnswer, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let outcome = "ignored";
    batch(&db, vec![event_row(&db, provider, event, at, None, outcome, "not an event the shop acts on")?]).await?;
    let body = crate::log_line::line(&mut [("received", Field::Bool(true)), (outcome, Field::Bool(true))]);
    Ok(WebhookAnswer::Done { body, mail: false })
}

/// A delayed payment that failed: no order (the self-test stops waiting
/// for it), and the customer, whom the success page told a link would come
/// by mail, is mailed that it will not and how to buy again, once per
/// checkout (`outbox::sql::PAYMENT_FAILED_MAIL`). Answered 200.
async fn payment_failed(
    env: &Env,
    provider: &str,
    event: &WebhookEvent,
    failed: &payments::FailedPayment,
    at: u64,
) -> std::result::Result<WebhookAnswer, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    // An order made for the checkout by hand before the money arrived
    // (`orders create --session`): it downloads, unpaid. The owner decides
    // (the `payments` alert); the customer's mail would say no order was made.
    let made = bind(&db, sql::PAYMENT_SEEN, &[text(provider), text(&event.event_id), text(&failed.session_id)])?
        .first_row::<PaymentSeen>()
        .await
        .map_err(|e| d1_error("payment seen", e))?
        .and_then(|s| s.order_id);
    if let Some(order) = made {
        let detail = format!("the bank debit of checkout {} failed", failed.session_id);
        batch(&db, vec![event_row(&db, provider, event, at, Some(&order), "unpaid_order", &detail)?]).await?;
        console_warn!("{}", log_line!({ "event": "unpaid_order", "order": order }));
        let body = log_line!({ "received": true, "payment_failed": true, "order_id": order });
        return Ok(WebhookAnswer::Done { body, mail: false });
    }
    let catalog = manifest();
    let titles: Vec<String> = failed
        .clips
        .iter()
        .filter_map(|written| clipstore_core::Item::parse(written))
        .filter_map(|item| catalog.resolve(&item).ok().map(|r| r.description))
        .collect();
    // Mailed only about clips the shop sells: a Payment Link without
    // clips (a donation, say) is not "clips at the shop".
    let to = failed.customer_email.as_deref().filter(|a| crate::mail::valid_address(a) && !titles.is_empty());
    let mut statements = Vec::new();
    if let Some(to) = to {
        let amount = failed.amount_total.zip(failed.currency.as_deref()).map(|(a, c)| payments::amount_text(a, c));
        let message = crate::mail::messages::payment_failed_mail(&catalog.shop, to, &titles, amount.as_deref());
        statements.push(mail::payment_failed_insert(&db, &message, now_unix(), provider, &failed.session_id)?);
    }
    let detail = match to {
        Some(_) => "the delayed payment failed: no order; the customer is mailed",
        None if titles.is_empty() => "the delayed payment failed: no order; no clip of the catalog to mail about",
        None => "the delayed payment failed: no order; no address to mail",
    };
    statements.push(event_row(&db, provider, event, at, None, "payment_failed", detail)?);
    batch(&db, statements).await?;
    let body = log_line!({ "received": true, "payment_failed": true });
    Ok(WebhookAnswer::Done { body, mail: to.is_some() })
}

/// A refund that failed or was canceled: recorded with the order of its
/// payment (`refund_failed`), for the self-test to tell the owner, who
/// decides: the order stays as the refund left it.
async fn refund_failed(
    env: &Env,
    provider: &str,
    event: &WebhookEvent,
    back: &MoneyBack,
    at: u64,
) -> std::result::Result<WebhookAnswer, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    if let Some(answer) = already_processed(&db, provider, event, at).await? {
        return Ok(answer);
    }
    let order = bind(&db, sql::ORDER_OF_PAYMENT, &[text(provider), text(&back.payment_id)])?
        .first_row::<OrderOfPayment>()
        .await
        .map_err(|e| d1_error("order of payment", e))?
        .map(|o| o.order_id);
    // The amount as the shop writes prices, not Stripe's 7100.
    let amount = payments::amount_text(back.amount, &back.currency);
    let detail = format!("a refund of {amount} {}; the money is back in the Stripe balance", back.reason);
    let mut statements = vec![event_row(&db, provider, event, at, order.as_deref(), "refund_failed", &detail)?];
    if let Some(order) = &order {
        let values = [text(order), num(now_unix()), text("refund_failed"), JsValue::NULL, text(&detail)];
        statements.push(bind(&db, sql::EVENT, &values)?);
    }
    batch(&db, statements).await?;
    console_warn!("{}", log_line!({ "event": "refund_failed", "order": order, "detail": detail }));
    Ok(WebhookAnswer::Done {
        body: log_line!({ "received": true, "order_id": order, "refund_failed": true }),
        mail: true,
    })
}

/// The terms of a paid checkout's link (vars `CHECKOUT_DOWNLOADS`,
/// `CHECKOUT_LINK_DAYS`).
pub(super) fn link_terms(env: &Env) -> LinkTerms {
    let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
    LinkTerms::from_vars(var("CHECKOUT_DOWNLOADS").as_deref(), var("CHECKOUT_LINK_DAYS").as_deref())
}

/// Logs and records a refused delivery, and answers it.
pub(super) async fn webhook_refused(
    env: &Env,
    provider: &str,
    event: Option<&WebhookEvent>,
    error: &WebhookError,
    at: u64,
) -> Result<Response> {
    let line = log_line!({
        "event": "payment_webhook_refused",
        "provider": provider,
        "code": error.code(),
        "status": error.status(),
        "event_id": event.map(|e| &e.event_id),
        "session_id": event.map(subject_of),
        "detail": error.detail(),
    });
    // A paid checkout naming an unknown clip needs the owner now.
    if error.is_authenticated() {
        console_error!("{line}");
    } else {
        console_warn!("{line}");
    }
    // A paid checkout that became no order: the owner's alert gives the
    // command that makes it, filled in (the customer's address is in it, so
    // it goes to the ledger, not to the logs).
    let command = match event {
        Some(WebhookEvent { kind: EventKind::Paid(paid), .. }) if error.leaves_a_payment_without_order() => {
            Some(payments::order_by_hand(provider, paid, link_terms(env)))
        }
        _ => None,
    };
    let detail = payments::refusal_detail(&error.detail(), command);
    let recorded = async {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let mut values = vec![
            num(at),
            text(provider),
            opt_text(event.map(|e| e.event_id.as_str())),
            opt_text(event.map(|e| e.event_type.as_str())),
            opt_text(event.map(subject_of)),
            JsValue::NULL,
            num(error.status().into()),
            text(error.code()),
            text(&ledger::clip_text(Some(&detail), payments::MAX_DETAIL).unwrap_or_default()),
        ];
        let statement = if event.is_some() {
            sql::PAYMENT_EVENT
        } else {
            values.push(num(at - at % 60_000));
            values.push(num(ledger::UNAUTHENTICATED_PAYMENT_EVENTS_PER_MINUTE));
            sql::PAYMENT_REFUSAL_CAPPED
        };
        batch(&db, vec![bind(&db, statement, &values)?]).await.map(|_| ())
    };
    if let Err(e) = recorded.await {
        console_error!("{}", log_line!({ "event": "payment_event_not_recorded", "error": format!("{e:?}") }));
    }
    super::json_line_response(error.status(), log_line!({ "error": error.code(), "detail": error.detail() }))
}

struct PaymentSeen {
    event_done: u64,
    order_id: Option<String>,
}
crate::from_row!(PaymentSeen { event_done, order_id });

/// A `payment_events` row for an authenticated event answered 200.
fn event_row(
    db: &D1Database,
    provider: &str,
    event: &WebhookEvent,
    at: u64,
    order_id: Option<&str>,
    outcome: &str,
    detail: &str,
) -> std::result::Result<D1PreparedStatement, DownloadError> {
    bind(
        db,
        sql::PAYMENT_EVENT,
        &[
            num(at),
            text(provider),
            text(&event.event_id),
            text(&event.event_type),
            text(subject_of(event)),
            opt_text(order_id),
            num(200),
            text(outcome),
            text(&ledger::clip_text(Some(detail), 500).unwrap_or_default()),
        ],
    )
}

/// Whether the event was processed before (`Some` answer) or is new.
async fn already_processed(
    db: &D1Database,
    provider: &str,
    event: &WebhookEvent,
    at: u64,
) -> std::result::Result<Option<WebhookAnswer>, DownloadError> {
    let seen = bind(db, sql::PAYMENT_SEEN, &[text(provider), text(&event.event_id), text(subject_of(event))])?
        .first_row::<PaymentSeen>()
        .await
        .map_err(|e| d1_error("payment seen", e))?;
    let Some(seen) = seen.filter(|s| s.event_done > 0 || s.order_id.is_some()) else { return Ok(None) };
    batch(db, vec![event_row(db, provider, event, at, seen.order_id.as_deref(), "duplicate", "already processed")?])
        .await?;
    console_log!("{}", log_line!({ "event": "payment_duplicate", "event_id": event.event_id, "order": seen.order_id }));
    let body = log_line!({ "received": true, "duplicate": true, "order_id": seen.order_id });
    Ok(Some(WebhookAnswer::Done { body, mail: true }))
}

/// Signs a link for `claims` with the primary key (`TOKEN_KEYS`), setting
/// its key id.
pub(super) fn sign_link(env: &Env, claims: &mut Claims) -> std::result::Result<String, DownloadError> {
    let keyring = keyring(env)?;
    let key = keyring.primary().ok_or_else(|| unavailable("TOKEN_KEYS has no key"))?;
    claims.key_id = key.key_id().to_string();
    sign_token(claims, key).map_err(|e| unavailable(format!("{SIGNING}{e}")))
}

/// How a link that could not be signed is reported.
pub(super) const SIGNING: &str = "signing the link: ";

/// Processes a checkout event once (`make_order`).
async fn checkout(
    env: &Env,
    name: &str,
    event: &WebhookEvent,
    at: u64,
    origin: &str,
) -> std::result::Result<WebhookAnswer, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    if let Some(answer) = already_processed(&db, name, event, at).await? {
        return Ok(answer);
    }
    match &event.kind {
        EventKind::Paid(paid) => make_order(env, &db, name, event, paid, at, origin, "processed").await,
        _ => {
            let row = event_row(&db, name, event, at, None, "awaiting_payment", "payment not yet confirmed")?;
            batch(&db, vec![row]).await?;
            Ok(WebhookAnswer::Done { body: log_line!({ "received": true, "awaiting_payment": true }), mail: false })
        }
    }
}

/// The outcome of the row a success page writes when it made a paid
/// checkout's order itself (`super::thanks`).
pub(super) const FROM_SUCCESS_PAGE: &str = "from_success_page";

/// How far back a payment for the same item by the same address counts as
/// paid twice (`sql::PAID_TWICE`): a week.
const PAID_TWICE_WITHIN_SECS: u64 = 7 * 86_400;

/// Makes the order of a paid checkout: the order, its link, the checkout,
/// the customer's e-mail (outbox) and `event`'s row (with `outcome`) are
/// written in one batch (transaction). Made twice at once (the webhook and
/// the success page), the second batch changes nothing that counts: the
/// checkout keeps the first link (`CHECKOUT` ignores a second), and the
/// order its one mail (`outbox_order_mail`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn make_order(
    env: &Env,
    db: &D1Database,
    name: &str,
    event: &WebhookEvent,
    paid: &payments::PaidCheckout,
    at: u64,
    origin: &str,
    outcome: &str,
) -> std::result::Result<WebhookAnswer, DownloadError> {
    let session_id = subject_of(event);
    let now = now_unix();
    let asked = asked_price(env, paid);
    let mut claims = match payments::new_order(name, paid, manifest(), link_terms(env), now, asked) {
        Ok(claims) => claims,
        Err(error) => return Ok(WebhookAnswer::Refused(error)),
    };
    let token = sign_link(env, &mut claims)?;
    let order_id = claims.order_id.as_str();
    let detail = format!("{name} checkout {session_id}");
    // Refunded or disputed before this event arrived: create the order
    // revoked, and send no mail.
    let pending = match paid.payment_id.as_deref() {
        Some(payment) => bind(db, sql::PENDING_REVOCATION, &[text(name), text(payment)])?
            .first_row::<PendingRevocation>()
            .await
            .map_err(|e| d1_error("pending revocation", e))?
            .map(|p| p.reason),
        None => None,
    };
    let mismatch = PriceCheck::of(paid, manifest(), asked).mismatch();
    let mut statements = vec![
        bind(
            db,
            sql::CHECKOUT_ORDER,
            &[
                text(order_id),
                text(&super::clips_json(&claims.clips)),
                num(claims.downloads.into()),
                num(claims.expires_at),
                num(claims.issued_at),
                num(now),
                text(name),
                super::choices_json(&claims.choices),
            ],
        )?,
        bind(
            db,
            sql::LINK_SEEN,
            &[text(order_id), text(&claims.key_id), num(claims.issued_at), num(claims.expires_at), num(now)],
        )?,
        bind(db, sql::EVENT, &[text(order_id), num(now), text("create"), JsValue::NULL, text(&detail)])?,
        bind(
            db,
            sql::CHECKOUT,
            &[
                text(name),
                text(session_id),
                text(order_id),
                text(&token),
                opt_text(paid.customer_email.as_deref()),
                opt_num(paid.amount_total),
                opt_text(paid.currency.as_deref()),
                num(now),
                opt_text(paid.payment_id.as_deref()),
            ],
        )?,
        event_row(db, name, event, at, Some(order_id), outcome, &claims.clips.join(","))?,
    ];
    if let Some(mismatch) = &mismatch {
        statements.push(event_row(db, name, event, at, Some(order_id), "amount_mismatch", mismatch)?);
    }
    // The same address paid for the same item in the last week: the owner
    // is told, in case one payment was a mistake (`sql::PAID_TWICE`).
    if let Some(email) = paid.customer_email.as_deref() {
        let values = [
            num(at),
            text(name),
            text(&format!("{}:paid_twice", event.event_id)),
            text(&event.event_type),
            text(session_id),
            text(order_id),
            text(email),
            num(now.saturating_sub(PAID_TWICE_WITHIN_SECS)),
            text(&super::clips_json(&claims.clips)),
            super::choices_json(&claims.choices),
        ];
        statements.push(bind(db, sql::PAID_TWICE, &values)?);
    }
    match &pending {
        // No mail: a dispute won later mails a fresh link
        // (`restore_after_dispute`).
        Some(reason) => {
            let why = format!("{reason} before its checkout event arrived");
            statements.push(bind(db, sql::REVOKE_FOR_MONEY_BACK, &[text(order_id), num(now), text(reason)])?);
            statements.push(bind(
                db,
                sql::EVENT,
                &[text(order_id), num(now), text("revoke"), JsValue::NULL, text(&why)],
            )?);
        }
        None => {
            if let Some(to) = paid.customer_email.as_deref() {
                let paid = paid.amount_total.zip(paid.currency.as_deref()).map(|(a, c)| payments::amount_text(a, c));
                statements.push(mail::order_mail_statement(db, MailKind::Order, &claims, &token, to, origin, paid)?)
            }
            // A refund delivered at this same moment (see the SQL).
            if let Some(payment) = paid.payment_id.as_deref() {
                let values = [text(order_id), num(now), text(name), text(payment)];
                statements.push(bind(db, sql::REVOKE_IF_PENDING, &values)?);
                let why = text("refunded or disputed as its checkout event arrived");
                statements.push(bind(db, sql::EVENT_IF_REVOKED_NOW, &[text(order_id), num(now), why, JsValue::NULL])?);
            }
        }
    }
    let r = batch(db, statements).await?;
    let raced =
        pending.is_none() && paid.payment_id.is_some() && r.iter().rev().nth(1).is_some_and(|r| row_count(r) > 0);
    if pending.is_some() || raced {
        super::revocations::publish(env).await;
        console_warn!("{}", log_line!({ "event": "order_created_revoked", "order": order_id, "reason": pending }));
    }
    if let Some(mismatch) = &mismatch {
        console_error!("{}", log_line!({ "event": "payment_amount_mismatch", "order": order_id, "detail": mismatch }));
    }
    console_log!(
        "{}",
        log_line!({ "event": "order_paid", "provider": name, "order": order_id, "clips": claims.clips, "event_id": event.event_id })
    );
    Ok(WebhookAnswer::Done { body: log_line!({ "received": true, "order_id": order_id }), mail: true })
}

/// The price the Worker's own checkout asked, when the session carries its
/// seal: honoured after the catalog's prices changed.
pub(super) fn asked_price(env: &Env, paid: &payments::PaidCheckout) -> Option<u64> {
    match (&paid.priced, paid.currency.as_deref()) {
        (Some(sealed), Some(currency)) => keyring(env)
            .ok()
            .and_then(|ring| payments::priced::asked(sealed, &ring, &paid.clips, currency, paid.created)),
        _ => None,
    }
}

struct PendingRevocation {
    reason: String,
}
crate::from_row!(PendingRevocation { reason });

struct OrderOfPayment {
    order_id: String,
}
crate::from_row!(OrderOfPayment { order_id });

/// A refund or dispute: a full refund or any dispute revokes the order (its
/// links answer "refunded" from the next request on); a partial refund is
/// recorded and the self-test alerts the owner, who chooses what to revoke.
/// A dispute closed in the shop's favour restores what its dispute revoked,
/// with the time it took, and mails the customer a fresh link
/// ([`restore_after_dispute`]); the owner reissues nothing.
async fn money_back(
    env: &Env,
    provider: &dyn PaymentProvider,
    event: &WebhookEvent,
    back: &MoneyBack,
    at: u64,
    origin: &str,
) -> std::result::Result<WebhookAnswer, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let name = provider.name();
    let now = now_unix();
    if let Some(answer) = already_processed(&db, name, event, at).await? {
        return Ok(answer);
    }
    let order = bind(&db, sql::ORDER_OF_PAYMENT, &[text(name), text(&back.payment_id)])?
        .first_row::<OrderOfPayment>()
        .await
        .map_err(|e| d1_error("order of payment", e))?;
    let action = money_back_action(&event.kind);
    let reason = match event.kind {
        EventKind::Disputed(_) => "disputed",
        EventKind::DisputeWon(_) => "dispute closed in the shop's favour",
        _ => "refunded",
    };
    let detail = format!("{reason}: {}", back.detail());
    if let (EventKind::Disputed(_), Some(id)) = (&event.kind, back.dispute_id()) {
        let marker = format!(", {id})");
        // Any row: the payment's id stands in for what it holds.
        let closed = bind(&db, sql::DISPUTE_CLOSED, &[text(name), text(&back.payment_id), text(&marker)])?
            .first_row::<OrderOfPayment>()
            .await
            .map_err(|e| d1_error("dispute closed", e))?;
        if closed.is_some() {
            let order_id = order.as_ref().map(|o| o.order_id.as_str());
            let detail = format!("{detail}; it had already closed in the shop's favour: nothing revoked");
            // The payments table (`site-gen orders payments`) says so.
            batch(&db, vec![event_row(&db, name, event, at, order_id, "processed", &detail)?]).await?;
            let body = log_line!({ "received": true, "order_id": order_id, "closed_before": true });
            return Ok(WebhookAnswer::Done { body, mail: true });
        }
    }
    let Some(OrderOfPayment { order_id }) = order else {
        // No order has this payment (yet): Stripe may deliver the refund
        // before a checkout event it is retrying. A full refund or dispute
        // is kept as `revoke_pending`, and the order is revoked as it is
        // created; anything else is only shown to the owner.
        let revokes = action == Some(MoneyBackAction::Revoke);
        let outcome = match action {
            Some(MoneyBackAction::Revoke) => "revoke_pending",
            Some(MoneyBackAction::Restore) => "processed",
            _ => "refund_without_order",
        };
        let detail = format!("{detail}; no order has payment {} yet", back.payment_id);
        let mut statements = vec![event_row(&db, name, event, at, None, outcome, &detail)?];
        if revokes {
            // Its checkout's batch may have made the order since it was read.
            let values = [text(&back.payment_id), num(now), text(reason), text(name)];
            statements.push(bind(&db, sql::REVOKE_OF_PAYMENT, &values)?);
            let values = [JsValue::NULL, num(now), text(&detail), text(&back.payment_id)];
            statements.push(bind(&db, sql::EVENT_IF_REVOKED_NOW, &values)?);
            statements.push(bind(&db, crate::outbox::sql::OUTBOX_WITHDRAW, &[num(now)])?);
        }
        let r = batch(&db, statements).await?;
        if r.get(1).is_some_and(|r| row_count(r) > 0) {
            super::revocations::publish(env).await;
        }
        console_warn!("{}", log_line!({ "event": outcome, "payment": back.payment_id }));
        let body = log_line!({ "received": true, "order_id": None::<&str>, "pending": revokes });
        return Ok(WebhookAnswer::Done { body, mail: true });
    };
    let statements = match action {
        // A link mail still waiting (the mail provider was down) would now
        // bring a link that answers "refunded": it is withdrawn.
        Some(MoneyBackAction::Revoke) => vec![
            bind(&db, sql::REVOKE_FOR_MONEY_BACK, &[text(&order_id), num(now), text(reason)])?,
            bind(&db, sql::EVENT, &[text(&order_id), num(now), text("revoke"), JsValue::NULL, text(&detail)])?,
            event_row(&db, name, event, at, Some(&order_id), "processed", &detail)?,
            bind(&db, crate::outbox::sql::OUTBOX_WITHDRAW, &[num(now)])?,
        ],
        Some(MoneyBackAction::Restore) => {
            let mut statements = restore_after_dispute(env, &db, &order_id, now, &detail, origin).await?;
            statements.push(event_row(&db, name, event, at, Some(&order_id), "processed", &detail)?);
            // Also when nothing was restored (the owner's revoke stays):
            // the dispute is over (`site-gen orders reissue` reads it).
            let values = [text(&order_id), num(now), text("dispute_closed"), JsValue::NULL, text(&detail)];
            statements.push(bind(&db, sql::EVENT, &values)?);
            statements
        }
        _ => {
            let (note, revoked_clip) = refunded_lines(&db, name, &order_id, back).await;
            let detail = format!("{detail}{note}");
            // The clip the owner stopped before refunding its price: its
            // revoke becomes a refund's ("Refunded" on the order page).
            let refunded_clip = match revoked_clip {
                Some(clip) => Some(bind(&db, sql::REVOKED_CLIP_REFUNDED, &[text(&order_id), text(&clip)])?),
                None => None,
            };
            let mut statements = vec![
                bind(
                    &db,
                    sql::EVENT,
                    &[text(&order_id), num(now), text("partial_refund"), JsValue::NULL, text(&detail)],
                )?,
                event_row(&db, name, event, at, Some(&order_id), "partial_refund", &detail)?,
            ];
            statements.extend(refunded_clip);
            statements
        }
    };
    let r = batch(&db, statements).await?;
    super::revocations::publish(env).await;
    console_log!("{}", log_line!({ "event": "order_money_back", "order": order_id, "detail": detail }));
    if action == Some(MoneyBackAction::Restore) {
        let restored = r.get(1).is_some_and(|r| row_count(r) > 0);
        let body = log_line!({ "received": true, "order_id": order_id, "restored": restored });
        return Ok(WebhookAnswer::Done { body, mail: true });
    }
    // A partial refund revokes nothing: the answer Stripe's dashboard shows
    // the owner must not say it did.
    let body = match action {
        Some(MoneyBackAction::Revoke) => log_line!({ "received": true, "order_id": order_id, "revoked": reason }),
        _ => log_line!({ "received": true, "order_id": order_id, "partial_refund": true }),
    };
    Ok(WebhookAnswer::Done { body, mail: true })
}

/// What a partial refund's record says of the order's lines its amount is
/// the price of ([`payments::refunded_lines_note`]); nothing when none is,
/// or the order cannot be read (the refund is recorded all the same). A
/// clip the owner has revoked already, whose price it is, is named as
/// done, and returned (the refunds review: the owner who stopped the clip
/// first, then refunded it, was told to revoke the clip the customer kept,
/// of the same price).
async fn refunded_lines(db: &D1Database, provider: &str, order_id: &str, back: &MoneyBack) -> (String, Option<String>) {
    let nothing = (String::new(), None);
    if !back.currency.eq_ignore_ascii_case(&manifest().shop.currency) {
        return nothing;
    }
    // Only the payment's first partial refund: `amount_back` is the total
    // refunded so far (a second one named the wrong clip).
    let context = match bind(db, sql::PARTIAL_REFUND_CONTEXT, &[text(provider), text(&back.payment_id), text(order_id)])
    {
        Ok(statement) => statement.first_row::<PartialRefundContext>().await.ok().flatten(),
        Err(_) => None,
    };
    let Some(context) = context.filter(|c| c.earlier == 0) else { return nothing };
    let order = match bind(db, sql::ORDER_TO_RESEND, &[text(order_id)]) {
        Ok(statement) => statement.first_row::<super::recovery::OrderToResend>().await.ok().flatten(),
        Err(_) => None,
    };
    let Some(o) = order else { return nothing };
    let claims = o.fresh_claims(order_id, o.expires_at);
    let revoked: Vec<String> = clipstore_core::json::from_str(&context.revoked).unwrap_or_default();
    let (stopped, open): (Vec<String>, Vec<String>) = claims.clips.iter().cloned().partition(|c| revoked.contains(c));
    let priced = |clips| payments::lines_priced(manifest(), &Claims { clips, ..claims.clone() }, back.amount_back);
    match priced(stopped).as_slice() {
        [] => (payments::refunded_lines_note(order_id, &priced(open)), None),
        [one] => (payments::revoked_line_note(one), Some(one.clone())),
        // Which was refunded is not known; both are stopped already.
        several => (payments::revoked_line_note(&several.join(" or ")), None),
    }
}

struct PartialRefundContext {
    earlier: u64,
    revoked: String,
}
crate::from_row!(PartialRefundContext { earlier, revoked });

/// The statements that restore an order its dispute revoked, when it is
/// still revoked for that dispute (a refund's or the owner's revoke
/// stays): the order gets back the time the dispute took
/// (`payments::restored_expiry`), and its customer a mail with a fresh link
/// to that expiry, since the links they have expire when they did (a
/// dispute takes weeks). The mail a dispute withdrew before it went out
/// stays withdrawn; this one replaces it.
async fn restore_after_dispute(
    env: &Env,
    db: &D1Database,
    order_id: &str,
    now: u64,
    detail: &str,
    origin: &str,
) -> std::result::Result<Vec<D1PreparedStatement>, DownloadError> {
    let order = bind(db, sql::ORDER_TO_RESEND, &[text(order_id)])?
        .first_row::<super::recovery::OrderToResend>()
        .await
        .map_err(|e| d1_error("order to restore", e))?
        .filter(|o| o.revoked_reason.as_deref() == Some("disputed"));
    let revoked_at = order.as_ref().and_then(|o| o.revoked_at);
    let expiry = order.as_ref().and_then(|o| payments::restored_expiry(o.expires_at?, o.revoked_at?, now));
    let mut statements = vec![
        bind(db, sql::EVENT_IF_DISPUTED, &[text(order_id), num(now), text(detail), opt_num(revoked_at)])?,
        bind(db, sql::RESTORE_AFTER_DISPUTE, &[text(order_id), opt_num(expiry), opt_num(revoked_at)])?,
    ];
    if let (Some(order), Some(expires_at)) = (&order, expiry) {
        if let Some(to) = order.customer_email.as_deref() {
            let mut claims = order.fresh_claims(order_id, Some(expires_at));
            let token = sign_link(env, &mut claims)?;
            let listed = order.listed(&claims);
            statements.push(mail::restored_order_mail_statement(db, &listed, &token, to, origin, now)?);
        }
    }
    Ok(statements)
}
