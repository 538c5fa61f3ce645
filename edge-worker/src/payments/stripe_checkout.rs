//! Stripe's API for `POST /checkout`: the Checkout Session request for a
//! cart, and what Stripe answered (docs/payments.md, "The cart's checkout").
//!
//! Sans-IO: [`session_request`] returns the method, URL, headers and
//! form body; the runtime sends it with `fetch` and hands the answer to
//! [`session_answer`]. The body is form-encoded exactly as Stripe's own Node
//! library encodes it (`stringifyRequestData`: bracketed keys, indexed
//! arrays, RFC 3986 escaping with `[` and `]` left as they are), which the
//! end-to-end tests compare byte for byte.
//!
//! The key is a **restricted key** (`rk_live_…`) that can only write
//! Checkout Sessions (and read webhook endpoints, for the health check:
//! `super::stripe_endpoints`, and events, for the cron:
//! `super::stripe_events`): a leaked key can then open payment pages and
//! nothing else that moves money. A full secret key (`sk_…`) is refused.

use clipstore_core::json;
use clipstore_core::json_fields;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::cart::{metadata_clips, Cart};
use crate::http_call::HttpCall;

/// The API version the requests and the webhook parsing are written for.
pub const API_VERSION: &str = "2025-09-30.clover";

/// Stripe's API, unless `STRIPE_API_BASE` points elsewhere (a local stand-in).
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// What Stripe's Node library leaves unescaped: RFC 3986's unreserved
/// characters, and the brackets of nested keys.
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'[').remove(b']');

/// Why the Stripe key cannot be used; the log line names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Missing,
    /// A full secret key: it could refund, read customers, …
    SecretKey,
    /// A test-mode key while test mode is not allowed (`STRIPE_TEST_MODE`).
    TestKey,
    Malformed,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyError::Missing => "STRIPE_API_KEY is not set",
            KeyError::SecretKey => {
                "STRIPE_API_KEY is a full secret key (sk_…); use a restricted key (rk_…) that can only write Checkout Sessions"
            }
            KeyError::TestKey => "STRIPE_API_KEY is a test-mode key (rk_test_…) and STRIPE_TEST_MODE is not \"true\"",
            KeyError::Malformed => "STRIPE_API_KEY is not a Stripe restricted key (rk_live_… or rk_test_…)",
        })
    }
}

/// Checks the key's presence and shape before any use.
pub fn check_api_key(key: Option<&str>, test_mode: bool) -> Result<(), KeyError> {
    let key = key.map(str::trim).filter(|k| !k.is_empty()).ok_or(KeyError::Missing)?;
    if key.starts_with("sk_") {
        return Err(KeyError::SecretKey);
    }
    let rest = match (key.strip_prefix("rk_live_"), key.strip_prefix("rk_test_")) {
        (Some(rest), _) => rest,
        (None, Some(_)) if !test_mode => return Err(KeyError::TestKey),
        (None, Some(rest)) => rest,
        _ => return Err(KeyError::Malformed),
    };
    if rest.len() < 16 || rest.len() > 255 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyError::Malformed);
    }
    Ok(())
}

/// The parameters of the cart's Checkout Session, in the order they are
/// sent. `origin` is the shop's address as the customer reached it;
/// `priced`, the Worker's seal of the cart's total ([`super::priced`]).
pub fn session_params(cart: &Cart, origin: &str, priced: Option<&str>) -> Vec<(String, String)> {
    let mut params = vec![("mode".to_string(), "payment".to_string())];
    for (i, line) in cart.lines.iter().enumerate() {
        let p = format!("line_items[{i}]");
        params.push((format!("{p}[price_data][currency]"), cart.currency.clone()));
        params.push((format!("{p}[price_data][unit_amount]"), line.unit_amount.to_string()));
        params.push((format!("{p}[price_data][product_data][name]"), line.title.clone()));
        params.push((format!("{p}[price_data][product_data][metadata][clip]"), line.item.clone()));
        params.push((format!("{p}[quantity]"), "1".to_string()));
    }
    for (key, value) in metadata_clips(&cart.items()) {
        params.push((format!("metadata[{key}]"), value));
    }
    if let Some(priced) = priced {
        params.push((format!("metadata[{}]", super::priced::METADATA_KEY), priced.to_string()));
    }
    // The cart's id comes back on the success page, which empties that cart
    // only (not one built since, nor one a single clip's button bypassed).
    let cart_param = cart.cart_id.as_ref().map(|id| format!("&cart={id}")).unwrap_or_default();
    params.push(("success_url".to_string(), format!("{origin}/thanks?session_id={{CHECKOUT_SESSION_ID}}{cart_param}")));
    // Back from Stripe's page: to the cart, or to the clip whose own button
    // bought it (the cart, empty, would have lost what was chosen).
    let cancel = match (&cart.cart_id, cart.lines.as_slice()) {
        (None, [one]) => format!("{origin}/clips/{}/", one.slug),
        _ => format!("{origin}/cart/"),
    };
    params.push(("cancel_url".to_string(), cancel));
    params
}

/// Form-encodes parameters as Stripe's Node library does.
pub fn encode_form(params: &[(String, String)]) -> String {
    let enc = |s: &str| utf8_percent_encode(s, FORM).to_string();
    params.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// `POST /v1/checkout/sessions` with the form-encoded [`session_params`].
pub fn session_request(api_base: &str, api_key: &str, body: String, idempotency_key: &str) -> HttpCall {
    HttpCall {
        method: "POST",
        url: format!("{}/v1/checkout/sessions", api_base.trim_end_matches('/')),
        headers: vec![
            ("authorization", format!("Bearer {api_key}")),
            ("content-type", "application/x-www-form-urlencoded".to_string()),
            ("idempotency-key", idempotency_key.to_string()),
            ("stripe-version", API_VERSION.to_string()),
        ],
        body,
    }
}

/// `GET /v1/checkout/sessions/<id>`: the session as Stripe has it now, for
/// the success page while the ledger cannot say (docs/outages.md). `id`
/// must be [`super::valid_session_id`] (it goes into the path as it is).
pub fn retrieve_session_request(api_base: &str, api_key: &str, id: &str) -> HttpCall {
    get_request(api_base, api_key, &format!("/v1/checkout/sessions/{id}"))
}

/// A `GET` of Stripe's API at `path` (with its query), with the key and
/// the API version every call of the Worker's sends.
pub fn get_request(api_base: &str, api_key: &str, path: &str) -> HttpCall {
    HttpCall {
        method: "GET",
        url: format!("{}{path}", api_base.trim_end_matches('/')),
        headers: vec![("authorization", format!("Bearer {api_key}")), ("stripe-version", API_VERSION.to_string())],
        body: String::new(),
    }
}

/// A created Checkout Session: where to send the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSession {
    pub id: String,
    pub url: String,
}

/// Why Stripe did not create the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// A retry may succeed (Stripe down, rate limited); otherwise the shop's
    /// configuration is wrong (a bad key, a missing permission) and the
    /// owner must act.
    pub retry: bool,
    /// Stripe's error type and message, for the owner's log.
    pub detail: String,
}

#[derive(Default)]
struct SessionBody {
    id: String,
    url: Option<String>,
}
json_fields!(SessionBody { id, url });

#[derive(Default)]
struct ErrorBody {
    error: ErrorDetail,
}
json_fields!(ErrorBody { error });

#[derive(Default)]
struct ErrorDetail {
    kind: String,
    message: String,
}
json_fields!(ErrorDetail { #[default] kind as "type", #[default] message });

/// Reads Stripe's answer to [`session_request`].
pub fn session_answer(status: u16, body: &str) -> Result<CreatedSession, ApiFailure> {
    if (200..300).contains(&status) {
        let session: SessionBody = json::from_str(body).map_err(|e| ApiFailure {
            retry: true,
            detail: format!("Stripe answered {status} with an unexpected body: {e}"),
        })?;
        let url = session
            .url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or(ApiFailure { retry: true, detail: format!("session {} has no payment page URL", session.id) })?;
        return Ok(CreatedSession { id: session.id, url });
    }
    let detail = match json::from_str::<ErrorBody>(body) {
        Ok(e) => format!("Stripe answered {status}: {} {}", e.error.kind, e.error.message),
        Err(_) => format!("Stripe answered {status}"),
    };
    // 409: a request with the same idempotency key is still in progress;
    // `idempotency_error`: the key was used with other parameters. Neither
    // is the shop's configuration: the customer can try again.
    let idempotency = body.contains("\"idempotency_error\"");
    Err(ApiFailure { retry: status == 409 || status == 429 || status >= 500 || idempotency, detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::cart::CartLine;

    fn cart() -> Cart {
        Cart {
            lines: vec![
                CartLine {
                    slug: "harbour-at-dawn".into(),
                    item: "harbour-at-dawn".into(),
                    title: "Harbour at Dawn".into(),
                    unit_amount: 2400,
                    object_key: "clips/harbour-at-dawn.mp4".into(),
                },
                CartLine {
                    slug: "fjord-mist".into(),
                    item: "fjord-mist:web:extended".into(),
                    title: "Fjord Mist, Morning (4K) & more".into(),
                    unit_amount: 2900,
                    object_key: "clips/fjord-mist-web.mp4".into(),
                },
            ],
            currency: "eur".into(),
            cart_id: None,
        }
    }

    #[test]
    fn restricted_keys_only() {
        let live = "rk_live_51AbCdEfGhIjKlMnOpQrStUv";
        assert_eq!(check_api_key(Some(live), false), Ok(()));
        assert_eq!(check_api_key(None, false), Err(KeyError::Missing));
        assert_eq!(check_api_key(Some("  "), false), Err(KeyError::Missing));
        assert_eq!(check_api_key(Some("sk_live_51AbCdEfGhIjKlMnOpQrStUv"), true), Err(KeyError::SecretKey));
        assert_eq!(check_api_key(Some("rk_test_51AbCdEfGhIjKlMnOpQrStUv"), false), Err(KeyError::TestKey));
        assert_eq!(check_api_key(Some("rk_test_51AbCdEfGhIjKlMnOpQrStUv"), true), Ok(()));
        assert_eq!(check_api_key(Some("rk_live_short"), false), Err(KeyError::Malformed));
        assert_eq!(check_api_key(Some("pk_live_51AbCdEfGhIjKlMnOpQrStUv"), false), Err(KeyError::Malformed));
        assert_eq!(check_api_key(Some("rk_live_51AbCdEf\nX-Evil: 1xxxxxxxxx"), false), Err(KeyError::Malformed));
    }

    #[test]
    fn the_session_has_every_line_priced_and_the_clips_in_metadata() {
        let body = encode_form(&session_params(&cart(), "https://shop.example", Some("3800:eur:k1:00")));
        let call = session_request("http://127.0.0.1:9/", "rk_test_x", body, "k1");
        assert_eq!(call.url, "http://127.0.0.1:9/v1/checkout/sessions");
        assert!(call.headers.contains(&("authorization", "Bearer rk_test_x".into())));
        assert!(call.headers.contains(&("idempotency-key", "k1".into())));
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(call.body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mode"), Some("payment"));
        assert_eq!(get("line_items[1][price_data][unit_amount]"), Some("2900"));
        assert_eq!(get("line_items[1][price_data][product_data][name]"), Some("Fjord Mist, Morning (4K) & more"));
        assert_eq!(get("line_items[0][price_data][currency]"), Some("eur"));
        assert_eq!(get("metadata[clips]"), Some("harbour-at-dawn,fjord-mist:web:extended"));
        assert_eq!(get("metadata[priced]"), Some("3800:eur:k1:00"));
        assert_eq!(get("line_items[1][price_data][product_data][metadata][clip]"), Some("fjord-mist:web:extended"));
        assert_eq!(get("success_url"), Some("https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}"));
        assert_eq!(get("cancel_url"), Some("https://shop.example/cart/"), "two clips without a cart id: the cart");
    }

    #[test]
    fn cancelling_returns_to_the_cart_or_to_the_clip_bought_by_its_own_button() {
        let cancel = |cart: &Cart| {
            session_params(cart, "https://shop.example", None).into_iter().find(|(k, _)| k == "cancel_url").unwrap().1
        };
        let mut one = cart();
        one.lines.truncate(1);
        assert_eq!(cancel(&one), "https://shop.example/clips/harbour-at-dawn/", "the clip's own button");
        one.cart_id = Some("c0ffee".into());
        assert_eq!(cancel(&one), "https://shop.example/cart/", "a cart of one clip");
    }

    #[test]
    fn a_session_is_retrieved_by_its_id_without_a_body() {
        let call = retrieve_session_request("https://api.stripe.com/", "rk_live_x", "cs_live_a1");
        assert_eq!((call.method, call.url.as_str()), ("GET", "https://api.stripe.com/v1/checkout/sessions/cs_live_a1"));
        assert_eq!(call.headers[0], ("authorization", "Bearer rk_live_x".to_string()));
        assert!(call.body.is_empty(), "fetch refuses a GET with a body");
    }

    #[test]
    fn form_encoding_matches_stripes_node_library() {
        // stringifyRequestData({ "a": "x y&z=(1)!*'~", "b": { "c": ["é"] } }) in stripe-node 23.
        let params = vec![("a".to_string(), "x y&z=(1)!*'~".to_string()), ("b[c][0]".to_string(), "é".to_string())];
        assert_eq!(encode_form(&params), "a=x%20y%26z%3D%281%29%21%2A%27~&b[c][0]=%C3%A9");
    }

    #[test]
    fn answers() {
        let ok = session_answer(
            200,
            r#"{"id":"cs_test_1","object":"checkout.session","url":"https://checkout.stripe.com/c/pay/cs_test_1"}"#,
        );
        assert_eq!(ok.unwrap().url, "https://checkout.stripe.com/c/pay/cs_test_1");
        let denied = session_answer(
            403,
            r#"{"error":{"type":"invalid_request_error","message":"The provided key does not have the required permissions"}}"#,
        )
        .unwrap_err();
        assert!(!denied.retry && denied.detail.contains("required permissions"), "{denied:?}");
        assert!(session_answer(503, "").unwrap_err().retry);
        let reused = r#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}"#;
        assert!(session_answer(400, reused).unwrap_err().retry, "not the shop's configuration");
        assert!(session_answer(429, "{}").unwrap_err().retry);
        assert!(session_answer(200, r#"{"id":"cs_1","url":null}"#).unwrap_err().retry);
        assert!(session_answer(200, r#"{"id":"cs_1","url":"javascript:alert(1)"}"#).is_err());
        let unreadable = session_answer(200, r#"{"url":"https://checkout.stripe.com/c/pay/cs_1"}"#).unwrap_err();
        assert!(unreadable.retry && unreadable.detail.starts_with("Stripe answered 200 with an unexpected body: "));
        assert!(session_answer(201, r#"{"id":"cs_1","url":"https://checkout.stripe.com/c/pay/cs_1","url":7}"#).is_err());
        let detail = |status, body| session_answer(status, body).unwrap_err().detail;
        assert_eq!(detail(400, r#"{"error":{"message":"m","code":"x"}}"#), "Stripe answered 400:  m");
        assert_eq!(detail(400, r#"{"error":{}}"#), "Stripe answered 400:  ");
        assert_eq!(detail(400, r#"{"error":null}"#), "Stripe answered 400");
        assert_eq!(detail(400, r#"{"error":{"type":1}}"#), "Stripe answered 400");
    }
}
