//! Stripe: the `Stripe-Signature` check and the Checkout Session events.
//!
//! Signature (Stripe's "verify manually" procedure): the header is
//! `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (other schemes such as `v0` are
//! ignored); the expected signature is HMAC-SHA256 under the endpoint secret
//! (`whsec_…`, used as is) of `"{t}.{raw body}"`; any one `v1` may match
//! (Stripe sends several while a secret is being rolled); each is compared in
//! constant time (`hmac`'s `verify_slice`); the timestamp must be within
//! [`TOLERANCE_SECS`] of the Worker's clock, so a captured delivery cannot be
//! replayed later. The body is parsed only after the check.
//!
//! Events: `checkout.session.completed` and
//! `checkout.session.async_payment_succeeded` create orders; `charge.refunded`
//! and `charge.dispute.created` revoke them (found by the payment intent the
//! checkout recorded), `charge.dispute.closed` in the shop's favour
//! restores what its dispute revoked, and `refund.failed` (or
//! `refund.updated`, canceled) is told to the owner. The clips come from the session's `metadata.clips`
//! (comma-separated slugs, continued in `clips_2`, … for a large cart; see
//! `cart::clips_from_metadata`), which the Worker's checkout or the shop's
//! Payment Link sets (Stripe copies a Payment Link's metadata to its
//! sessions); never from `client_reference_id`, which a buyer can put in a
//! Payment Link's URL.

use clipstore_core::json::{self, FromJson, Json, JsonError};
use clipstore_core::{json_fields, SortedMap};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::cart::clips_from_metadata;
use super::{EventKind, FailedPayment, MoneyBack, PaidCheckout, PaymentProvider, WebhookError, WebhookEvent};

/// Stripe's default tolerance: five minutes.
pub const TOLERANCE_SECS: u64 = 300;

/// The Stripe provider with one endpoint's signing secret.
pub struct Stripe {
    webhook_secret: String,
}

impl Stripe {
    pub fn new(webhook_secret: impl Into<String>) -> Stripe {
        Stripe { webhook_secret: webhook_secret.into() }
    }
}

impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn webhook(&self, signature: Option<&str>, body: &[u8], now_unix: u64) -> Result<WebhookEvent, WebhookError> {
        let header = signature.ok_or(WebhookError::MissingSignature)?;
        verify_signature(header, body, &self.webhook_secret, now_unix)?;
        parse_event(body)
    }
}

/// The parts of a `Stripe-Signature` header that matter.
#[derive(Debug, PartialEq, Eq)]
struct SignatureHeader {
    timestamp: u64,
    v1: Vec<Vec<u8>>,
}

fn parse_header(header: &str) -> Result<SignatureHeader, WebhookError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else { continue };
        match key {
            "t" => timestamp = Some(value.parse::<u64>().map_err(|_| WebhookError::MalformedSignature)?),
            // A v1 that is not 64 hex digits can never match: skip it like
            // an unknown scheme (another v1 may still match).
            "v1" => v1.extend(decode_hex(value)),
            _ => {}
        }
    }
    match timestamp {
        Some(timestamp) if !v1.is_empty() => Ok(SignatureHeader { timestamp, v1 }),
        _ => Err(WebhookError::MalformedSignature),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// Checks a `Stripe-Signature` header for `body` at `now_unix`: the
/// signature first, then the timestamp (a stale but genuine delivery is
/// `StaleTimestamp`, a forged one `BadSignature`).
pub fn verify_signature(header: &str, body: &[u8], secret: &str, now_unix: u64) -> Result<(), WebhookError> {
    let parsed = parse_header(header)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(parsed.timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    if !parsed.v1.iter().any(|sig| mac.clone().verify_slice(sig).is_ok()) {
        return Err(WebhookError::BadSignature);
    }
    if parsed.timestamp.abs_diff(now_unix) > TOLERANCE_SECS {
        return Err(WebhookError::StaleTimestamp { timestamp: parsed.timestamp, now: now_unix });
    }
    Ok(())
}

#[derive(Default)]
struct Event {
    id: String,
    event_type: String,
    livemode: bool,
    /// The endpoint's API version: before 2024-10-28, a card refund that
    /// failed comes only as `charge.refund.updated`.
    api_version: Option<String>,
    data: EventData,
}
json_fields!(Event { id, event_type as "type", #[default] livemode, api_version, data });

/// The first API version that sends `refund.failed` and `refund.updated`
/// for a card payment's refunds (Stripe's changelog, 2024-10-28.acacia:
/// "Adds created, updated, and failed events for all refund types").
pub(crate) const REFUND_EVENTS_SINCE: &str = "2024-10-28";

/// Whether an endpoint of API version `version` (`2024-06-20`,
/// `2024-10-28.acacia`) sends a card refund's failure only as
/// `charge.refund.updated`.
pub(crate) fn before_refund_events(version: &str) -> bool {
    !version.is_empty() && version.get(..10).unwrap_or(version) < REFUND_EVENTS_SINCE
}

#[derive(Default)]
struct EventData {
    object: Json,
}
json_fields!(EventData { object });

#[derive(Default)]
struct Session {
    id: String,
    /// When Stripe made it (unix seconds): what a price seal is checked
    /// against (`super::priced`).
    created: Option<u64>,
    payment_status: Option<String>,
    /// Only looked up (a key given twice keeps its last value).
    metadata: Option<SortedMap<String>>,
    customer_details: Option<CustomerDetails>,
    amount_total: Option<u64>,
    /// The items before discounts and taxes.
    amount_subtotal: Option<u64>,
    total_details: Option<TotalDetails>,
    currency: Option<String>,
    /// An id, or null (for example a 100 % discount needs no payment).
    payment_intent: Option<String>,
    /// The Payment Link that made the session; null for one made through
    /// the API.
    payment_link: Option<String>,
}
json_fields!(Session {
    id,
    created,
    payment_status,
    metadata,
    customer_details,
    amount_total,
    amount_subtotal,
    total_details,
    currency,
    payment_intent,
    payment_link
});

#[derive(Default)]
struct TotalDetails {
    amount_discount: u64,
}
json_fields!(TotalDetails {
    #[default]
    amount_discount
});

/// A Charge (`charge.refunded`), Dispute (`charge.dispute.created`,
/// `charge.dispute.closed`) or Refund (`refund.failed`, `refund.updated`):
/// the fields read of each, in one type, so that the module carries one
/// reader for the three.
#[derive(Default)]
struct PaymentObject {
    /// A Dispute's (`du_…`), which its opening and closing events share.
    id: Option<String>,
    payment_intent: Option<String>,
    amount: u64,
    /// A Charge's; required there.
    amount_refunded: Option<u64>,
    /// A Dispute's (a Refund's reason, why it was made, is not read).
    reason: Option<String>,
    /// A Dispute's or a Refund's.
    status: Option<String>,
    /// A Refund's, when it failed.
    failure_reason: Option<String>,
    /// Of `amount` (Stripe: lower-case ISO, `eur`).
    currency: Option<String>,
}
json_fields!(PaymentObject { id, payment_intent, amount, amount_refunded, reason, status, failure_reason, currency });

/// A dispute's reason (or how it closed) with its id (`fraudulent, du_1`):
/// its opening and closing events can arrive in any order, and the id
/// tells which closing is this opening's ([`super::MoneyBack::dispute_id`]).
fn with_dispute_id(reason: String, id: Option<String>) -> String {
    match id {
        Some(id) => format!("{reason}, {id}"),
        None => reason,
    }
}

#[derive(Default)]
struct CustomerDetails {
    email: Option<String>,
}
json_fields!(CustomerDetails { email });

/// Parses an authenticated event body.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let body = std::str::from_utf8(body).map_err(|_| WebhookError::MalformedEvent("not UTF-8".into()))?;
    event_of(json::from_str(body).map_err(|e| WebhookError::MalformedEvent(e.to_string()))?)
}

/// Reads one event of Stripe's event list (`super::stripe_events`): the
/// object a webhook delivery's body is.
pub fn listed_event(value: Json) -> Result<WebhookEvent, WebhookError> {
    event_of(Event::from_json(value).map_err(|e| WebhookError::MalformedEvent(e.to_string()))?)
}

fn event_of(event: Event) -> Result<WebhookEvent, WebhookError> {
    let malformed = |e: JsonError| WebhookError::MalformedEvent(format!("data.object: {e}"));
    // Read as serde_json's `Value` held it: a key given twice in the
    // object keeps its last value.
    let object = event.data.object.last_of_each_key();
    // A charge with no payment intent was not made by Checkout: no order of
    // the shop's can be about it.
    let kind = match event.event_type.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            session_kind(Session::from_json(object).map_err(malformed)?)
        }
        "checkout.session.async_payment_failed" => {
            let session = Session::from_json(object).map_err(malformed)?;
            let clips = session
                .metadata
                .as_ref()
                .map(|m| clips_from_metadata(|k| m.get(k).map(String::as_str)))
                .unwrap_or_default();
            // Another integration's sale on the same account (no clips, no
            // Payment Link), as its pending event was: not the shop's
            // customer, never mailed in the shop's name.
            if clips.is_empty() && session.payment_link.is_none() {
                EventKind::Ignored
            } else {
                EventKind::PaymentFailed(FailedPayment {
                    session_id: session.id,
                    clips,
                    customer_email: session.customer_details.and_then(|c| c.email),
                    amount_total: session.amount_total,
                    currency: session.currency,
                })
            }
        }
        "charge.refunded" => {
            let charge = PaymentObject::from_json(object).map_err(malformed)?;
            let amount_refunded = charge
                .amount_refunded
                .ok_or_else(|| WebhookError::MalformedEvent("data.object: missing field `amount_refunded`".into()))?;
            match charge.payment_intent {
                Some(payment_id) => EventKind::Refunded(MoneyBack {
                    payment_id,
                    amount: charge.amount,
                    amount_back: amount_refunded,
                    reason: "refund".into(),
                    currency: charge.currency.unwrap_or_default(),
                }),
                None => EventKind::Ignored,
            }
        }
        // A refund that did not reach the customer: `refund.failed` (Stripe
        // sends it for every refund since API version 2024-10-28), or one
        // canceled while it waited for an action (`refund.updated`). An
        // endpoint of an earlier version sends only `charge.refund.updated`
        // for a card refund (a later one sends both: only one counts).
        "refund.failed" | "refund.updated" | "charge.refund.updated" => {
            let refund = PaymentObject::from_json(object).map_err(malformed)?;
            let older = event.api_version.as_deref().is_some_and(before_refund_events);
            let undone = match event.event_type.as_str() {
                "refund.failed" => true,
                "refund.updated" => refund.status.as_deref() == Some("canceled"),
                _ => older && matches!(refund.status.as_deref(), Some("failed" | "canceled")),
            };
            match refund.payment_intent.filter(|_| undone) {
                Some(payment_id) => EventKind::RefundFailed(MoneyBack {
                    payment_id,
                    amount: refund.amount,
                    amount_back: 0,
                    currency: refund.currency.unwrap_or_default(),
                    reason: match (refund.status.as_deref(), refund.failure_reason) {
                        (Some("canceled"), _) => "canceled".into(),
                        (_, Some(why)) => format!("failed: {why}"),
                        _ => "failed".into(),
                    },
                }),
                None => EventKind::Ignored,
            }
        }
        "charge.dispute.created" => {
            let dispute = PaymentObject::from_json(object).map_err(malformed)?;
            match dispute.payment_intent {
                Some(payment_id) => EventKind::Disputed(MoneyBack {
                    payment_id,
                    amount: dispute.amount,
                    amount_back: dispute.amount,
                    reason: with_dispute_id(dispute.reason.unwrap_or_else(|| "dispute".into()), dispute.id),
                    currency: dispute.currency.unwrap_or_default(),
                }),
                None => EventKind::Ignored,
            }
        }
        "charge.dispute.closed" => {
            let dispute = PaymentObject::from_json(object).map_err(malformed)?;
            match (dispute.payment_intent, dispute.status) {
                // Won, an inquiry closed with no chargeback, or prevented:
                // the money stays the shop's. A lost one leaves it revoked.
                (Some(payment_id), Some(status))
                    if matches!(status.as_str(), "won" | "warning_closed" | "prevented") =>
                {
                    EventKind::DisputeWon(MoneyBack {
                        payment_id,
                        amount: dispute.amount,
                        amount_back: 0,
                        reason: with_dispute_id(status, dispute.id),
                        currency: dispute.currency.unwrap_or_default(),
                    })
                }
                // Lost: the bank gave the customer their money back. The
                // order stays revoked, now as refunded: its page said the
                // downloads might come back, and the owner's tools took
                // the dispute for open, for ever.
                (Some(payment_id), Some(status)) if status == "lost" => EventKind::Refunded(MoneyBack {
                    payment_id,
                    amount: dispute.amount,
                    amount_back: dispute.amount,
                    reason: with_dispute_id("dispute lost".into(), dispute.id),
                    currency: dispute.currency.unwrap_or_default(),
                }),
                _ => EventKind::Ignored,
            }
        }
        _ => EventKind::Ignored,
    };
    Ok(WebhookEvent { event_id: event.id, event_type: event.event_type, livemode: event.livemode, kind })
}

/// A Checkout Session as `GET /v1/checkout/sessions/<id>` answers it (the
/// object a `checkout.session.*` event carries): whether it is live, and
/// what it is, read as its `checkout.session.completed` event would be. A
/// session not `complete` (still open, or expired unpaid) is `Ignored`:
/// nobody paid for it.
pub fn parse_session(body: &str) -> Result<(bool, EventKind), WebhookError> {
    let malformed = |e: JsonError| WebhookError::MalformedEvent(e.to_string());
    let object = json::parse(body).map_err(malformed)?.last_of_each_key();
    let livemode = matches!(object.get("livemode"), Some(Json::Bool(true)));
    let complete = matches!(object.get("status"), Some(Json::String(s)) if s == "complete");
    let kind = session_kind(Session::from_json(object).map_err(malformed)?);
    Ok((livemode, if complete { kind } else { EventKind::Ignored }))
}

/// What the success page may make of a session Stripe's API answered, while
/// the ledger cannot say (`runtime::payments::thanks_from_stripe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrievedSession {
    /// Paid: its link can be shown.
    Paid(PaidCheckout),
    /// Completed, paid by a method that takes days: "on its way".
    OnItsWay,
    /// Nothing to show: open, expired, not the shop's, or a test-mode
    /// session on a shop that is not in test mode.
    Nothing,
}

/// [`parse_session`], judged for a shop in `test_mode` or not.
pub fn retrieved_session(body: &str, test_mode: bool) -> Result<RetrievedSession, WebhookError> {
    let (livemode, kind) = parse_session(body)?;
    Ok(match kind {
        _ if !livemode && !test_mode => RetrievedSession::Nothing,
        EventKind::Paid(paid) => RetrievedSession::Paid(paid),
        EventKind::AwaitingPayment { .. } => RetrievedSession::OnItsWay,
        _ => RetrievedSession::Nothing,
    })
}

fn session_kind(session: Session) -> EventKind {
    let clips =
        session.metadata.as_ref().map(|m| clips_from_metadata(|k| m.get(k).map(String::as_str))).unwrap_or_default();
    match session.payment_status.as_deref() {
        Some("paid") | Some("no_payment_required") => EventKind::Paid(PaidCheckout {
            clips,
            session_id: session.id,
            customer_email: session.customer_details.and_then(|c| c.email),
            // Tax is left out: Stripe adds it to tax-exclusive prices and
            // counts it in tax-inclusive ones, neither a price of the shop's.
            amount_items: session
                .amount_subtotal
                .map(|s| s.saturating_sub(session.total_details.map_or(0, |t| t.amount_discount)))
                .or(session.amount_total),
            amount_total: session.amount_total,
            currency: session.currency,
            payment_id: session.payment_intent,
            from_payment_link: session.payment_link.is_some(),
            priced: session.metadata.as_ref().and_then(|m| m.get(super::priced::METADATA_KEY).cloned()),
            created: session.created,
        }),
        // Another integration's sale on the same account (no clips, no
        // Payment Link: `payments::WebhookError::NotTheShops`): not waited for.
        _ if clips.is_empty() && session.payment_link.is_none() => EventKind::Ignored,
        _ => EventKind::AwaitingPayment { session_id: session.id },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_unit_test_secret";
    const BODY: &str = r#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    /// Made by Stripe's Node library (`stripe.webhooks.generateTestHeaderString`
    /// with this secret, body and timestamp 1750000000), not by this code.
    const SIG: &str = "bc36802c926ff1a0abbb14976e9447019c177f8380c82c655a81ae8397425f08";
    const T: u64 = 1_750_000_000;

    fn header(sigs: &[&str]) -> String {
        let mut h = format!("t={T}");
        for s in sigs {
            h.push_str(&format!(",v1={s}"));
        }
        h
    }

    #[test]
    fn accepts_stripes_own_signature() {
        assert_eq!(verify_signature(&header(&[SIG]), BODY.as_bytes(), SECRET, T), Ok(()));
        assert_eq!(verify_signature(&header(&[SIG]), BODY.as_bytes(), SECRET, T + 300), Ok(()));
    }

    #[test]
    fn any_of_several_v1_may_match_and_other_schemes_are_ignored() {
        let other = "00".repeat(32);
        let h = format!("t={T},v0={other},v1={other},v1=zz,v1={SIG}");
        assert_eq!(verify_signature(&h, BODY.as_bytes(), SECRET, T), Ok(()));
    }

    #[test]
    fn refuses_tampering_wrong_secret_and_missing_parts() {
        let tampered = BODY.replace("evt_1", "evt_2");
        assert_eq!(verify_signature(&header(&[SIG]), tampered.as_bytes(), SECRET, T), Err(WebhookError::BadSignature));
        assert_eq!(verify_signature(&header(&[SIG]), BODY.as_bytes(), "whsec_x", T), Err(WebhookError::BadSignature));
        let moved = format!("t={},v1={SIG}", T + 1);
        assert_eq!(verify_signature(&moved, BODY.as_bytes(), SECRET, T), Err(WebhookError::BadSignature));
        for h in ["", "t=1", &format!("v1={SIG}"), &format!("t=x,v1={SIG}"), "garbage"] {
            assert_eq!(verify_signature(h, BODY.as_bytes(), SECRET, T), Err(WebhookError::MalformedSignature), "{h}");
        }
    }

    #[test]
    fn refuses_stale_and_future_timestamps_after_the_signature() {
        assert_eq!(
            verify_signature(&header(&[SIG]), BODY.as_bytes(), SECRET, T + 301),
            Err(WebhookError::StaleTimestamp { timestamp: T, now: T + 301 })
        );
        assert!(matches!(
            verify_signature(&header(&[SIG]), BODY.as_bytes(), SECRET, T - 301),
            Err(WebhookError::StaleTimestamp { .. })
        ));
    }

    fn event(kind: &str, status: &str, metadata: &str) -> String {
        format!(
            r#"{{"id":"evt_9","object":"event","type":"{kind}","data":{{"object":{{"id":"cs_test_1","object":"checkout.session",
            "payment_status":"{status}","metadata":{metadata},"amount_total":3600,"currency":"eur",
            "customer_details":{{"email":"buyer@example.com"}}}}}}}}"#
        )
    }

    #[test]
    fn parses_a_paid_session_with_clips_in_metadata() {
        let e = parse_event(event("checkout.session.completed", "paid", r#"{"clips":"harbor, dunes"}"#).as_bytes())
            .unwrap();
        assert_eq!(e.event_id, "evt_9");
        let EventKind::Paid(p) = e.kind else { panic!("not paid") };
        assert_eq!(p.session_id, "cs_test_1");
        assert_eq!(p.clips, vec!["harbor", "dunes"]);
        assert_eq!(p.customer_email.as_deref(), Some("buyer@example.com"));
        assert_eq!(p.amount_total, Some(3600));
        assert!(!e.livemode, "an event without livemode is not live");
    }

    /// The session Stripe's API answers is read as its event's object is;
    /// only a `complete` one was paid for.
    #[test]
    fn a_retrieved_session_is_read_as_its_event() {
        let session = |status: &str, payment: &str, live: &str| {
            format!(
                r#"{{"id":"cs_live_1","object":"checkout.session","status":"{status}","livemode":{live},
                "payment_status":"{payment}","metadata":{{"clips":"harbor"}},"amount_total":1200,"currency":"eur",
                "payment_intent":"pi_1","customer_details":{{"email":"buyer@example.com"}}}}"#
            )
        };
        let (live, kind) = parse_session(&session("complete", "paid", "true")).unwrap();
        let EventKind::Paid(p) = kind else { panic!("not paid") };
        assert!(live);
        assert_eq!((p.session_id.as_str(), p.clips.as_slice()), ("cs_live_1", ["harbor".to_string()].as_slice()));
        assert_eq!((p.payment_id.as_deref(), p.amount_total), (Some("pi_1"), Some(1200)));
        let (live, kind) = parse_session(&session("complete", "unpaid", "false")).unwrap();
        assert!(!live);
        assert!(matches!(kind, EventKind::AwaitingPayment { session_id } if session_id == "cs_live_1"));
        for (status, payment) in [("open", "unpaid"), ("expired", "unpaid"), ("open", "paid")] {
            assert!(
                matches!(parse_session(&session(status, payment, "true")).unwrap().1, EventKind::Ignored),
                "{status}"
            );
        }
        assert!(matches!(parse_session("<html>"), Err(WebhookError::MalformedEvent(_))));

        // What the success page makes of it, on a live shop and in test mode.
        let paid = |live| retrieved_session(&session("complete", "paid", live), false).unwrap();
        assert!(matches!(paid("true"), RetrievedSession::Paid(p) if p.session_id == "cs_live_1"));
        assert_eq!(paid("false"), RetrievedSession::Nothing, "a test card's session on a live shop");
        let in_test_mode = retrieved_session(&session("complete", "paid", "false"), true).unwrap();
        assert!(matches!(in_test_mode, RetrievedSession::Paid(_)));
        let debit = retrieved_session(&session("complete", "unpaid", "true"), false).unwrap();
        assert_eq!(debit, RetrievedSession::OnItsWay);
        let open = retrieved_session(&session("open", "unpaid", "true"), false).unwrap();
        assert_eq!(open, RetrievedSession::Nothing);
    }

    #[test]
    fn a_large_carts_clips_continue_in_numbered_keys() {
        let e = parse_event(
            event("checkout.session.completed", "paid", r#"{"clips":"a,b","clips_2":"c","clips_4":"lost"}"#).as_bytes(),
        )
        .unwrap();
        let EventKind::Paid(p) = e.kind else { panic!("not paid") };
        assert_eq!(p.clips, ["a", "b", "c"], "stops at the first missing key");
    }

    #[test]
    fn refunds_and_disputes_name_their_payment() {
        let refund = r#"{"id":"evt_r","type":"charge.refunded","livemode":true,"data":{"object":{"id":"ch_1","object":"charge",
            "amount":3600,"amount_refunded":1800,"currency":"eur","payment_intent":"pi_9","refunded":false}}}"#;
        let e = parse_event(refund.as_bytes()).unwrap();
        assert!(e.livemode);
        assert_eq!(
            e.kind,
            EventKind::Refunded(MoneyBack {
                payment_id: "pi_9".into(),
                amount: 3600,
                amount_back: 1800,
                reason: "refund".into(),
                currency: "eur".into(),
            })
        );
        let dispute = r#"{"id":"evt_d","type":"charge.dispute.created","data":{"object":{"id":"dp_1","object":"dispute",
            "amount":3600,"charge":"ch_1","payment_intent":"pi_9","reason":"fraudulent","status":"needs_response"}}}"#;
        let EventKind::Disputed(d) = parse_event(dispute.as_bytes()).unwrap().kind else { panic!("not a dispute") };
        assert_eq!((d.payment_id.as_str(), d.reason.as_str(), d.is_full()), ("pi_9", "fraudulent, dp_1", true));
        assert_eq!(d.dispute_id(), Some("dp_1"));
        let closed = |status: &str| {
            let body = format!(
                r#"{{"id":"evt_c","type":"charge.dispute.closed","data":{{"object":{{"id":"dp_1","object":"dispute",
                "amount":3600,"charge":"ch_1","payment_intent":"pi_9","reason":"fraudulent","status":"{status}"}}}}}}"#
            );
            parse_event(body.as_bytes()).unwrap().kind
        };
        for status in ["won", "warning_closed", "prevented"] {
            let won = MoneyBack {
                payment_id: "pi_9".into(),
                amount: 3600,
                amount_back: 0,
                reason: format!("{status}, dp_1"),
                currency: String::new(),
            };
            assert_eq!(closed(status), EventKind::DisputeWon(won), "{status}");
        }
        let lost = MoneyBack {
            payment_id: "pi_9".into(),
            amount: 3600,
            amount_back: 3600,
            reason: "dispute lost, dp_1".into(),
            currency: String::new(),
        };
        assert_eq!(closed("lost"), EventKind::Refunded(lost), "the money went back: a full refund");
        assert_eq!(closed("under_review"), EventKind::Ignored, "not closed");
        let orphan = r#"{"id":"evt_o","type":"charge.refunded","data":{"object":{"amount":1,"amount_refunded":1,"payment_intent":null}}}"#;
        assert_eq!(parse_event(orphan.as_bytes()).unwrap().kind, EventKind::Ignored, "not a Checkout payment");
        let unsaid =
            r#"{"id":"evt_u","type":"charge.refunded","data":{"object":{"amount":1,"payment_intent":"pi_9"}}}"#;
        assert!(
            matches!(parse_event(unsaid.as_bytes()), Err(WebhookError::MalformedEvent(_))),
            "a charge says how much"
        );
    }

    /// A Refund object as Stripe sends it in `refund.failed` and `refund.updated`.
    #[test]
    fn a_refund_that_failed_or_was_canceled_names_its_payment_and_why() {
        let refund = |kind: &str, status: &str, reason: &str| {
            let body = format!(
                r#"{{"id":"evt_f","type":"{kind}","data":{{"object":{{"id":"re_1","object":"refund","amount":1800,
                "charge":"ch_1","payment_intent":"pi_9","status":"{status}","failure_reason":{reason}}}}}}}"#
            );
            parse_event(body.as_bytes()).unwrap().kind
        };
        let failed = |reason: &str| {
            EventKind::RefundFailed(MoneyBack {
                payment_id: "pi_9".into(),
                amount: 1800,
                amount_back: 0,
                reason: reason.into(),
                currency: String::new(),
            })
        };
        assert_eq!(
            refund("refund.failed", "failed", r#""expired_or_canceled_card""#),
            failed("failed: expired_or_canceled_card")
        );
        assert_eq!(refund("refund.updated", "canceled", "null"), failed("canceled"));
        assert_eq!(refund("refund.updated", "failed", "null"), EventKind::Ignored, "refund.failed says it once");
        assert_eq!(refund("refund.updated", "succeeded", "null"), EventKind::Ignored);
        assert_eq!(refund("refund.updated", "pending", "null"), EventKind::Ignored);
        // An endpoint of an API version before 2024-10-28 sends a card
        // refund's failure only as `charge.refund.updated` (the refunds
        // review: the owner was never told); a later one sends both, and
        // `refund.failed` is the one that counts.
        let versioned = |kind: &str, status: &str, version: &str| {
            let body = format!(
                r#"{{"id":"evt_f","type":"{kind}","api_version":"{version}","data":{{"object":{{"id":"re_1","object":"refund",
                "amount":1800,"charge":"ch_1","payment_intent":"pi_9","status":"{status}","failure_reason":"lost_or_stolen_card"}}}}}}"#
            );
            parse_event(body.as_bytes()).unwrap().kind
        };
        assert_eq!(versioned("charge.refund.updated", "failed", "2024-06-20"), failed("failed: lost_or_stolen_card"));
        assert_eq!(versioned("charge.refund.updated", "canceled", "2023-10-16"), failed("canceled"));
        assert_eq!(versioned("charge.refund.updated", "succeeded", "2024-06-20"), EventKind::Ignored);
        assert_eq!(versioned("charge.refund.updated", "failed", "2024-10-28.acacia"), EventKind::Ignored);
        assert_eq!(versioned("charge.refund.updated", "failed", "2025-03-31.basil"), EventKind::Ignored);
        assert_eq!(
            refund("charge.refund.updated", "failed", "null"),
            EventKind::Ignored,
            "no version: a newer endpoint"
        );
    }

    #[test]
    fn the_items_are_priced_without_tax_and_with_discounts() {
        let paid = |object: &str| {
            let body = format!(
                r#"{{"id":"evt_t","type":"checkout.session.completed","data":{{"object":{{"id":"cs_1","payment_status":"paid",{object}}}}}}}"#
            );
            let EventKind::Paid(p) = parse_event(body.as_bytes()).unwrap().kind else { panic!("not paid") };
            (p.amount_items, p.amount_total)
        };
        let taxed =
            r#""amount_subtotal":3600,"amount_total":4356,"total_details":{"amount_discount":0,"amount_tax":756}"#;
        assert_eq!(paid(taxed), (Some(3600), Some(4356)), "tax added to tax-exclusive prices");
        let inclusive =
            r#""amount_subtotal":3600,"amount_total":3600,"total_details":{"amount_discount":0,"amount_tax":625}"#;
        assert_eq!(paid(inclusive), (Some(3600), Some(3600)));
        let free = r#""amount_subtotal":3600,"amount_total":0,"total_details":{"amount_discount":3600,"amount_tax":0}"#;
        assert_eq!(paid(free), (Some(0), Some(0)), "a 100 % promotion code");
        assert_eq!(paid(r#""amount_total":1800"#), (Some(1800), Some(1800)), "no subtotal: the total");
    }

    #[test]
    fn unpaid_sessions_wait_failed_ones_end_and_other_events_are_ignored() {
        let clips = r#"{"clips":"harbour-at-dawn"}"#;
        let e = parse_event(event("checkout.session.completed", "unpaid", clips).as_bytes()).unwrap();
        assert_eq!(e.kind, EventKind::AwaitingPayment { session_id: "cs_test_1".into() });
        // A Payment Link's without clips waits too (its alert comes once paid);
        // one with neither is another integration's sale, not waited for.
        let link = event("checkout.session.completed", "unpaid", "{}")
            .replace(r#""payment_status""#, r#""payment_link":"plink_1","payment_status""#);
        let e = parse_event(link.as_bytes()).unwrap();
        assert_eq!(e.kind, EventKind::AwaitingPayment { session_id: "cs_test_1".into() });
        let e = parse_event(event("checkout.session.completed", "unpaid", "{}").as_bytes()).unwrap();
        assert_eq!(e.kind, EventKind::Ignored);
        let e = parse_event(event("checkout.session.async_payment_succeeded", "paid", "{}").as_bytes()).unwrap();
        assert!(matches!(e.kind, EventKind::Paid(PaidCheckout { ref clips, .. }) if clips.is_empty()));
        // What the customer's mail names: the address, the items, the amount.
        let failed = event("checkout.session.async_payment_failed", "unpaid", r#"{"clips":"harbor, dunes"}"#);
        let e = parse_event(failed.as_bytes()).unwrap();
        let expected = FailedPayment {
            session_id: "cs_test_1".into(),
            clips: vec!["harbor".into(), "dunes".into()],
            customer_email: Some("buyer@example.com".into()),
            amount_total: Some(3600),
            currency: Some("eur".into()),
        };
        assert_eq!(e.kind, EventKind::PaymentFailed(expected));
        // Another integration's sale failing (no clips, no Payment Link) is
        // not the shop's customer: never mailed in its name (the diff review).
        let foreign = event("checkout.session.async_payment_failed", "unpaid", "{}");
        assert_eq!(parse_event(foreign.as_bytes()).unwrap().kind, EventKind::Ignored);
        let link = foreign.replace(r#""payment_status""#, r#""payment_link":"plink_1","payment_status""#);
        assert!(matches!(parse_event(link.as_bytes()).unwrap().kind, EventKind::PaymentFailed(_)));
        let e = parse_event(event("customer.created", "paid", "{}").as_bytes()).unwrap();
        assert_eq!((e.kind, e.event_type.as_str()), (EventKind::Ignored, "customer.created"));
        assert!(matches!(parse_event(b"{not json"), Err(WebhookError::MalformedEvent(_))));
        assert!(matches!(
            parse_event(br#"{"id":"e","type":"checkout.session.completed","data":{"object":{}}}"#),
            Err(WebhookError::MalformedEvent(_))
        ));
    }

    /// What Stripe may add is ignored; what is read must be there, of its
    /// type; a key given twice at the top of the event is refused, and in
    /// the object keeps its last value.
    #[test]
    fn what_is_read_of_an_event_and_what_is_refused() {
        let parse = |json: &str| parse_event(json.as_bytes());
        let paid = event("checkout.session.completed", "paid", r#"{"clips":"a","clips":"b","other":"x"}"#)
            .replace(r#""id":"evt_9","#, r#""id":"evt_9","api_version":"2024-06-20","request":{"id":null},"livemode":true,"#)
            .replace(r#""payment_status":"paid""#, r#""payment_status":"unpaid","payment_status":"paid","payment_intent":null,"total_details":{"amount_discount":100,"breakdown":[{"x":1.5}]},"amount_subtotal":3700"#);
        let e = parse(&paid).unwrap();
        let EventKind::Paid(p) = e.kind else { panic!("not paid: {:?}", e.kind) };
        assert_eq!(
            (p.clips, p.payment_id, p.amount_items, e.livemode),
            (vec!["b".to_string()], None, Some(3600), true)
        );
        let e = parse(r#"{"id":"e","type":"customer.created","data":{"object":"x"}}"#).unwrap();
        assert_eq!(
            (e.kind, e.livemode),
            (EventKind::Ignored, false),
            "the object of an event not read is not looked at"
        );
        let deep =
            |n: usize| format!(r#"{{"id":"e","type":"x","data":{{"object":{}{}}}}}"#, "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(50)).is_ok());
        assert!(parse(&deep(200)).is_err());
        let ok = event("checkout.session.completed", "paid", r#"{"clips":"a"}"#);
        assert!(parse(&ok).is_ok());
        for bad in [
            ok.replace(r#""id":"evt_9","#, r#""id":"evt_9","id":"evt_8","#),
            ok.replace(r#""id":"evt_9","#, ""),
            ok.replace(r#""type":"checkout.session.completed","#, r#""type":"checkout.session.completed","type":"x","#),
            ok.replace(r#""type":"checkout.session.completed","#, r#""type":7,"#),
            ok.replace(r#""id":"evt_9","#, r#""id":"evt_9","livemode":null,"#),
            ok.replace(r#""id":"cs_test_1","#, ""),
            ok.replace(r#""id":"cs_test_1","#, r#""id":["cs_test_1"],"#),
            ok.replace(r#"{"clips":"a"}"#, r#"{"clips":1}"#),
            ok.replace(r#"{"clips":"a"}"#, r#"["a"]"#),
            ok.replace(r#""amount_total":3600"#, r#""amount_total":-3600"#),
            ok.replace(r#""amount_total":3600"#, r#""amount_total":36.00"#),
            ok.replace(r#""customer_details":{"email":"buyer@example.com"}"#, r#""customer_details":{"email":1}"#),
            r#"{"id":"e","type":"x"}"#.to_string(),
            r#"{"id":"e","type":"x","data":{}}"#.to_string(),
            r#"{"id":"e","type":"x","data":{"object":{}},"data":{"object":{}}}"#.to_string(),
            r#"{"id":"e","type":"charge.refunded","data":{"object":{"payment_intent":"pi_1","amount_refunded":1}}}"#.to_string(),
            r#"{"id":"e","type":"charge.refunded","data":{"object":{"payment_intent":"pi_1","amount":"1","amount_refunded":1}}}"#.to_string(),
            r#"{"id":"e","type":"charge.dispute.created","data":{"object":{"payment_intent":7,"amount":1}}}"#.to_string(),
            r#"{"id":"e","type":"charge.dispute.closed","data":{"object":{"payment_intent":"pi_1","amount":1,"status":false}}}"#.to_string(),
            r#"{"id":"e","type":"refund.failed","data":{"object":{"payment_intent":"pi_1","amount":1,"failure_reason":{}}}}"#.to_string(),
        ] {
            assert!(matches!(parse(&bad), Err(WebhookError::MalformedEvent(_))), "{bad}");
        }
        assert!(matches!(
            parse_event(b"{\"id\":\"\xff\",\"type\":\"x\",\"data\":{\"object\":{}}}"),
            Err(WebhookError::MalformedEvent(_))
        ));
    }
}
