//! Stripe's webhook endpoints, as the deep health check judges them: does
//! Stripe send the events the Worker acts on to the shop's webhook route?
//! (`GET /v1/webhook_endpoints`; docs/payments.md, "Connecting a Stripe
//! account", step 5.)
//!
//! A webhook that Stripe does not send is otherwise noticed only once a
//! customer has paid (`orders_missing`): no endpoint at the shop's address
//! (a typo, a staging address), one Stripe disabled (it does after days of
//! failed deliveries), or one that leaves out events (refunds end no link).
//! This finds them when the owner runs `site-gen doctor`. What it cannot
//! see is a wrong `STRIPE_WEBHOOK_SECRET`: Stripe never shows a secret again.
//!
//! Sans-IO, as [`super::stripe_checkout`]: the runtime sends
//! [`list_request`] and hands the answer to [`judge`].

use clipstore_core::json::{self, Json};

use super::stripe_checkout::get_request;
use crate::http_call::{private_on_the_way, HttpCall};
use crate::request_url::{origin, path_and_query};
use crate::routes::STRIPE_WEBHOOK_PATH;

/// The event types the Worker acts on (`stripe::parse_event`); any other is
/// recorded as `ignored`.
pub const NEEDED_EVENTS: [&str; 8] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "refund.failed",
    "refund.updated",
];

/// `GET /v1/webhook_endpoints?limit=100`: the account's endpoints (of the
/// key's mode), as Stripe's Node library asks for them
/// (`stripe.webhookEndpoints.list({ limit: 100 })`).
pub fn list_request(api_base: &str, api_key: &str) -> HttpCall {
    get_request(api_base, api_key, "/v1/webhook_endpoints?limit=100")
}

/// The origin and path of `url`, as the Worker routes it: scheme and host
/// lower-cased, the default port left out, no query (`https://Shop.example:443/payments/stripe/webhook?x`
/// is `https://shop.example/payments/stripe/webhook`).
fn address(url: &str) -> Option<String> {
    Some(format!("{}{}", origin(url)?, path_and_query(url).0))
}

/// A webhook endpoint of Stripe's list, as far as it is judged here.
struct Endpoint<'a> {
    id: &'a str,
    url: &'a str,
    /// Its `status` is not `disabled`.
    enabled: bool,
    /// Event types, or `["*"]` for every one.
    events: Vec<&'a str>,
    /// Its API version sends a failed card refund only as
    /// `charge.refund.updated` (`stripe::before_refund_events`).
    old_refund_events: bool,
}

impl<'a> Endpoint<'a> {
    /// Read from the JSON value (a field missing or of another type reads
    /// as empty: an endpoint without a URL matches no address).
    fn of(value: &'a Json) -> Endpoint<'a> {
        let text = |key| match value.get(key) {
            Some(Json::String(s)) => s.as_str(),
            _ => "",
        };
        let events = match value.get("enabled_events") {
            Some(Json::Array(items)) => items
                .iter()
                .filter_map(|e| match e {
                    Json::String(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Endpoint {
            id: text("id"),
            url: text("url"),
            enabled: text("status") != "disabled",
            events,
            old_refund_events: super::stripe::before_refund_events(text("api_version")),
        }
    }

    /// The needed event types it does not send.
    fn missing(&self) -> Vec<&'static str> {
        if self.events.contains(&"*") {
            return Vec::new();
        }
        let older = self.old_refund_events.then_some("charge.refund.updated");
        NEEDED_EVENTS.into_iter().chain(older).filter(|t| !self.events.contains(t)).collect()
    }
}

/// The deep health check's verdict on Stripe's answer to [`list_request`]:
/// `Ok` with what passed (or why nothing could be checked: a key without
/// the permission, Stripe not answering, which are no fault of the
/// webhook's), `Err` with what is wrong and what to do. `origins` are the
/// shop's addresses (`https://shop.example`): the one the check was asked
/// at (first), and the catalog's `base_url`. Asked at a loopback address
/// (a local try-out, where `stripe listen` forwards the events without an
/// endpoint), no endpoint is no failure.
pub fn judge(status: u16, body: &str, origins: &[&str]) -> Result<String, String> {
    // A key rolled or revoked: the only check that asks Stripe with it.
    if status == 401 {
        return Err(
            "Stripe refused STRIPE_API_KEY (401: rolled, revoked or mistyped): every cart checkout fails too. Put the current restricted key: `npx wrangler secret put STRIPE_API_KEY`".into(),
        );
    }
    if status == 403 {
        return Ok(
            "whether Stripe sends the shop's events was not checked: STRIPE_API_KEY may not read webhook endpoints (Stripe answered 403); give the restricted key \"Webhook Endpoints: Read\" too".into(),
        );
    }
    if status != 200 {
        return Ok(format!("whether Stripe sends the shop's events was not checked: Stripe answered {status}"));
    }
    let value = json::parse(body);
    let Some(Json::Array(items)) = value.as_ref().ok().and_then(|v| v.get("data")) else {
        return Ok("whether Stripe sends the shop's events was not checked: Stripe's answer is no list".into());
    };
    let all: Vec<Endpoint> = items.iter().map(Endpoint::of).collect();
    let mut addresses: Vec<String> =
        origins.iter().filter_map(|o| origin(o)).map(|o| format!("{o}{STRIPE_WEBHOOK_PATH}")).collect();
    addresses.dedup();
    let ours: Vec<&Endpoint> = all.iter().filter(|e| address(e.url).is_some_and(|a| addresses.contains(&a))).collect();
    let complete: Vec<&&Endpoint> = ours.iter().filter(|e| e.enabled && e.missing().is_empty()).collect();
    match complete.as_slice() {
        [e] => return Ok(format!("Stripe sends the shop's events to {} ({})", e.url, e.id)),
        // Each event comes twice, and only one endpoint's secret is
        // STRIPE_WEBHOOK_SECRET: the other's deliveries fail until Stripe
        // disables it.
        [a, b, ..] => {
            return Err(format!(
                "two of Stripe's webhook endpoints send the shop's events ({} and {}): only one's signing secret can be STRIPE_WEBHOOK_SECRET, so every event fails at the other until Stripe disables it. Delete the one whose secret the Worker does not have in the Stripe Dashboard (Developers → Webhooks)",
                a.id, b.id
            ))
        }
        [] => {}
    }
    let consequence = "paid checkouts become orders only while their customer stays on the success page, and refunds and disputes end no link";
    if let Some(e) = ours.iter().find(|e| e.enabled) {
        let missing = e.missing();
        return Err(format!(
            "Stripe's webhook endpoint {} ({}) does not send {}: {}. Add them in the Stripe Dashboard (Developers → Webhooks → the endpoint → Select events)",
            e.url,
            e.id,
            missing.join(", "),
            if missing.iter().any(|t| t.starts_with("checkout.")) {
                consequence
            } else if missing == ["charge.refund.updated"] {
                "a card refund that fails is never told to you (an endpoint of an API version before 2024-10-28 sends that only as this event)"
            } else {
                "refunds and disputes end no link"
            }
        ));
    }
    if let Some(e) = ours.first() {
        return Err(format!(
            "Stripe's webhook endpoint {} ({}) is disabled, so Stripe sends it no event: {consequence}. Enable it in the Stripe Dashboard (Developers → Webhooks); Stripe disables an endpoint after days of failed deliveries, so look at why they failed too",
            e.url, e.id
        ));
    }
    if origins.first().is_some_and(|o| o.starts_with("http://") && private_on_the_way(o)) {
        return Ok(format!(
            "no webhook endpoint at Stripe sends to {}: a local try-out, where `stripe listen --forward-to` delivers the events without one",
            addresses.join(" or ")
        ));
    }
    let others: Vec<&str> = all.iter().map(|e| e.url).collect();
    Err(format!(
        "Stripe has no webhook endpoint at {} (it has {}): {consequence}. Add one: docs/payments.md, \"Connecting a Stripe account\", step 5",
        addresses.join(" or "),
        if others.is_empty() { "none".to_string() } else { others.join(", ") }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = "https://shop.example";

    fn list(endpoints: &[(&str, &str, &[&str])]) -> String {
        let data: Vec<String> = endpoints
            .iter()
            .enumerate()
            .map(|(i, (url, status, events))| {
                let events: Vec<String> = events.iter().map(|e| format!("\"{e}\"")).collect();
                format!(
                    r#"{{"id":"we_{i}","object":"webhook_endpoint","api_version":null,"url":"{url}","status":"{status}","enabled_events":[{}],"livemode":false}}"#,
                    events.join(",")
                )
            })
            .collect();
        format!(r#"{{"object":"list","url":"/v1/webhook_endpoints","has_more":false,"data":[{}]}}"#, data.join(","))
    }

    #[test]
    fn the_request_is_the_libraries() {
        let call = list_request("https://api.stripe.com/", "rk_test_x");
        assert_eq!((call.method, call.url.as_str()), ("GET", "https://api.stripe.com/v1/webhook_endpoints?limit=100"));
        assert!(call.body.is_empty());
        assert!(call.headers.contains(&("authorization", "Bearer rk_test_x".to_string())));
    }

    #[test]
    fn an_enabled_endpoint_at_the_shop_with_every_event_passes() {
        let all = list(&[("https://shop.example/payments/stripe/webhook", "enabled", &NEEDED_EVENTS)]);
        assert_eq!(
            judge(200, &all, &[SHOP]),
            Ok("Stripe sends the shop's events to https://shop.example/payments/stripe/webhook (we_0)".into())
        );
        let star = list(&[("https://shop.example/payments/stripe/webhook", "enabled", &["*"])]);
        assert!(judge(200, &star, &["https://worker.example.workers.dev", "https://shop.example/"]).is_ok());
        // Written otherwise, delivered the same: the Worker routes the path.
        let written = list(&[("HTTPS://Shop.Example:443/payments/stripe/webhook?from=stripe", "enabled", &["*"])]);
        assert!(judge(200, &written, &[SHOP]).is_ok(), "{:?}", judge(200, &written, &[SHOP]));
        // A second, broken endpoint for the shop beside a good one: passes.
        let two = list(&[
            ("https://shop.example/payments/stripe/webhook", "disabled", &["*"]),
            ("https://shop.example/payments/stripe/webhook", "enabled", &["*"]),
        ]);
        assert!(judge(200, &two, &[SHOP]).is_ok());
    }

    #[test]
    fn no_endpoint_at_the_shops_address_fails_naming_what_there_is() {
        let elsewhere = list(&[
            ("https://staging.shop.example/payments/stripe/webhook", "enabled", &["*"]),
            ("https://shop.example/payments/stripe/webhook/", "enabled", &["*"]),
        ]);
        let e = judge(200, &elsewhere, &[SHOP]).unwrap_err();
        assert!(e.starts_with("Stripe has no webhook endpoint at https://shop.example/payments/stripe/webhook (it has https://staging.shop.example/payments/stripe/webhook, https://shop.example/payments/stripe/webhook/): paid checkouts become orders only while"), "{e}");
        assert!(e.contains("step 5"));
        let none = judge(200, &list(&[]), &[SHOP, "https://shop.example.workers.dev"]).unwrap_err();
        assert!(none.contains("at https://shop.example/payments/stripe/webhook or https://shop.example.workers.dev/payments/stripe/webhook (it has none)"), "{none}");
    }

    #[test]
    fn a_disabled_endpoint_or_missing_events_fail_with_what_to_do() {
        let disabled = list(&[("https://shop.example/payments/stripe/webhook", "disabled", &NEEDED_EVENTS)]);
        let e = judge(200, &disabled, &[SHOP]).unwrap_err();
        assert!(
            e.starts_with("Stripe's webhook endpoint https://shop.example/payments/stripe/webhook (we_0) is disabled"),
            "{e}"
        );
        assert!(e.contains("Enable it in the Stripe Dashboard"));
        let no_refunds = list(&[(
            "https://shop.example/payments/stripe/webhook",
            "enabled",
            &[
                "checkout.session.completed",
                "checkout.session.async_payment_succeeded",
                "checkout.session.async_payment_failed",
            ],
        )]);
        let e = judge(200, &no_refunds, &[SHOP]).unwrap_err();
        assert!(
            e.contains("does not send charge.refunded, charge.dispute.created, charge.dispute.closed, refund.failed, refund.updated: refunds and disputes end no link. Add them"),
            "{e}"
        );
        let no_checkout = list(&[("https://shop.example/payments/stripe/webhook", "enabled", &["charge.refunded"])]);
        assert!(judge(200, &no_checkout, &[SHOP]).unwrap_err().contains("checkout.session.completed, "));
        // An endpoint of an API version before 2024-10-28 tells a failed
        // card refund only with `charge.refund.updated` (the refunds review).
        let versioned = |version: &str, extra: &[&str]| {
            let events: Vec<&str> = NEEDED_EVENTS.iter().copied().chain(extra.iter().copied()).collect();
            list(&[("https://shop.example/payments/stripe/webhook", "enabled", &events)])
                .replace(r#""api_version":null"#, &format!(r#""api_version":"{version}""#))
        };
        let e = judge(200, &versioned("2024-06-20", &[]), &[SHOP]).unwrap_err();
        assert!(
            e.contains("does not send charge.refund.updated: a card refund that fails is never told to you"),
            "{e}"
        );
        assert!(judge(200, &versioned("2024-06-20", &["charge.refund.updated"]), &[SHOP]).is_ok());
        assert!(judge(200, &versioned("2024-10-28.acacia", &[]), &[SHOP]).is_ok());
    }

    #[test]
    fn two_complete_endpoints_fail_since_only_one_secret_verifies() {
        let two = list(&[
            ("https://shop.example/payments/stripe/webhook", "enabled", &["*"]),
            ("https://shop.example/payments/stripe/webhook", "enabled", &NEEDED_EVENTS),
        ]);
        let e = judge(200, &two, &[SHOP]).unwrap_err();
        assert!(e.starts_with("two of Stripe's webhook endpoints send the shop's events (we_0 and we_1)"), "{e}");
    }

    #[test]
    fn a_local_try_out_without_an_endpoint_passes_a_refused_key_fails() {
        let local = judge(200, &list(&[]), &["http://127.0.0.1:8787", SHOP]).unwrap();
        assert!(local.contains("a local try-out, where `stripe listen --forward-to` delivers"), "{local}");
        // A local endpoint that is there but disabled still fails.
        let disabled = list(&[("http://127.0.0.1:8787/payments/stripe/webhook", "disabled", &["*"])]);
        assert!(judge(200, &disabled, &["http://127.0.0.1:8787"]).is_err());
        let refused = judge(401, r#"{"error":{"type":"invalid_request_error"}}"#, &[SHOP]).unwrap_err();
        assert!(refused.starts_with("Stripe refused STRIPE_API_KEY (401"), "{refused}");
        assert!(refused.contains("npx wrangler secret put STRIPE_API_KEY"));
    }

    #[test]
    fn what_is_no_fault_of_the_webhook_passes_saying_it_was_not_checked() {
        let permission = judge(403, r#"{"error":{"type":"invalid_request_error"}}"#, &[SHOP]).unwrap();
        assert!(permission.contains("\"Webhook Endpoints: Read\""), "{permission}");
        assert!(judge(500, "", &[SHOP]).unwrap().ends_with("Stripe answered 500"));
        assert!(judge(200, "not json", &[SHOP])
            .unwrap()
            .starts_with("whether Stripe sends the shop's events was not checked"));
    }
}
