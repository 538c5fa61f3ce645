//! Resend's send API (<https://resend.com/docs/api-reference/emails/send-email>):
//! `POST {base}/emails` with `Authorization: Bearer re_…`, a JSON body
//! `{from, to: [..], subject, html, text, reply_to}` and the
//! `Idempotency-Key` header (Resend answers a repeated key within 24 hours
//! with the first answer and sends nothing). Success is `200 {"id": "…"}`;
//! errors are `{"statusCode", "name", "message"}`
//! (<https://resend.com/docs/api-reference/errors>).

use clipstore_core::json::{self, Json, ToJson};
use clipstore_core::json_fields;

use super::{
    parse_mailbox, refuses_the_shop, retryable_status, ConfigError, HttpCall, Mail, MailProvider, SendFailure,
};

/// The secret holding the API key.
pub const API_KEY_VAR: &str = "RESEND_API_KEY";
/// The var with the sender, e.g. `Saltglass Footage <shop@saltglass.example>`.
pub const FROM_VAR: &str = "MAIL_FROM";
/// The var with the API's base URL (tests point it at a loopback stand-in).
pub const BASE_VAR: &str = "MAIL_API_BASE";
pub const DEFAULT_BASE: &str = "https://api.resend.com";

/// A configured Resend account.
#[derive(Clone)]
pub struct Resend {
    api_key: String,
    from: String,
    reply_to: Option<String>,
    base: String,
}

impl std::fmt::Debug for Resend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Resend").field("from", &self.from).field("base", &self.base).finish_non_exhaustive()
    }
}

/// Whether `key` looks like a Resend API key: `re_` and at least 8 more
/// characters of `[A-Za-z0-9_-]`.
pub fn valid_api_key(key: &str) -> bool {
    key.strip_prefix("re_")
        .is_some_and(|rest| rest.len() >= 8 && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

impl Resend {
    /// Reads the settings (each trimmed; empty counts as unset). No key:
    /// `Ok(None)` (mail stays queued). A key of the wrong shape, or a key
    /// without a valid `MAIL_FROM`, is an error naming the variable.
    /// `reply_to`: the shop's contact address, used when it is valid.
    pub fn from_settings(
        api_key: Option<&str>,
        from: Option<&str>,
        base: Option<&str>,
        reply_to: Option<&str>,
    ) -> Result<Option<Resend>, ConfigError> {
        fn set(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        let Some(api_key) = set(api_key) else { return Ok(None) };
        if !valid_api_key(api_key) {
            return Err(ConfigError {
                variable: API_KEY_VAR,
                problem: "does not look like a Resend API key (re_ followed by letters, digits, _ or -)".into(),
            });
        }
        let from = set(from).ok_or(ConfigError {
            variable: FROM_VAR,
            problem: "is not set: the sender, e.g. `Shop Name <shop@your-verified-domain.example>`".into(),
        })?;
        parse_mailbox(from).map_err(|problem| ConfigError { variable: FROM_VAR, problem })?;
        let base = set(base).unwrap_or(DEFAULT_BASE).trim_end_matches('/');
        // Plain http only to this machine (a local stand-in): the key must
        // never travel in clear text.
        if !crate::http_call::private_on_the_way(base) {
            return Err(ConfigError {
                variable: BASE_VAR,
                problem: format!("`{base}` must be https:// (plain http:// only to 127.0.0.1 or localhost)"),
            });
        }
        let reply_to = set(reply_to).filter(|r| super::valid_address(r)).map(str::to_string);
        Ok(Some(Resend { api_key: api_key.to_string(), from: from.to_string(), reply_to, base: base.to_string() }))
    }

    /// The sender, as configured.
    pub fn from(&self) -> &str {
        &self.from
    }
}

#[derive(Default)]
struct Sent {
    id: String,
}
json_fields!(Sent { id });

#[derive(Default)]
struct ErrorBody {
    name: String,
    message: String,
}
json_fields!(ErrorBody {
    #[default]
    name,
    #[default]
    message
});

impl MailProvider for Resend {
    fn name(&self) -> &'static str {
        "resend"
    }

    fn request(&self, mail: &Mail, idempotency_key: &str) -> HttpCall {
        let mut body = Json::object([
            ("from", self.from.to_json()),
            ("to", [&mail.to].to_json()),
            ("subject", mail.subject.to_json()),
            ("html", mail.html.to_json()),
            ("text", mail.text.to_json()),
        ]);
        if let Some(reply_to) = &self.reply_to {
            body.set("reply_to", reply_to.to_json());
        }
        HttpCall {
            method: "POST",
            url: format!("{}/emails", self.base),
            headers: vec![
                ("authorization", format!("Bearer {}", self.api_key)),
                ("content-type", "application/json".to_string()),
                ("idempotency-key", idempotency_key.to_string()),
                ("user-agent", "clipstore-edge-worker".to_string()),
            ],
            body: json::to_string_sorted(&body),
        }
    }

    fn outcome(&self, status: u16, body: &str) -> Result<String, SendFailure> {
        if (200..=299).contains(&status) {
            // Accepted. Without an id (never seen) it still was: retrying
            // would only get the same answer for the same idempotency key.
            return Ok(json::from_str::<Sent>(body).map(|s| s.id).unwrap_or_default());
        }
        let error = json::from_str::<ErrorBody>(body).ok();
        let (name, message) = match &error {
            Some(e) => (e.name.as_str(), e.message.as_str()),
            None => ("", body),
        };
        let message: String = message.chars().take(300).collect();
        // 409 `concurrent_idempotent_requests`: another attempt with this key
        // is still in flight at Resend; ask again later for its answer.
        let retry = retryable_status(status) || (status == 409 && name == "concurrent_idempotent_requests");
        let whose = if refuses_the_shop(status) { super::SHOP_REFUSED } else { "" };
        let detail = if name.is_empty() {
            format!("{whose}Resend answered {status}: {message}")
        } else {
            format!("{whose}Resend answered {status} {name}: {message}")
        };
        Err(SendFailure { retry, detail })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "re_123456789_abcdefghijklmnop";

    fn resend() -> Resend {
        Resend::from_settings(
            Some(KEY),
            Some("Saltglass Footage <shop@saltglass.example>"),
            None,
            Some("help@saltglass.example"),
        )
        .unwrap()
        .unwrap()
    }

    fn mail() -> Mail {
        Mail { to: "buyer@example.com".into(), subject: "S".into(), text: "T".into(), html: "<p>H</p>".into() }
    }

    #[test]
    fn configuration() {
        assert_eq!(Resend::from_settings(None, None, None, None).unwrap().map(|r| r.base), None);
        assert_eq!(Resend::from_settings(Some("  "), Some("x"), None, None).unwrap().map(|r| r.base), None);
        let e = Resend::from_settings(Some("sk_live_123456789"), Some("a@b.co"), None, None).unwrap_err();
        assert_eq!(e.variable, API_KEY_VAR);
        assert!(!e.to_string().contains("sk_live"), "never echo the key: {e}");
        assert_eq!(Resend::from_settings(Some(KEY), None, None, None).unwrap_err().variable, FROM_VAR);
        assert_eq!(Resend::from_settings(Some(KEY), Some("Shop <nope>"), None, None).unwrap_err().variable, FROM_VAR);
        assert_eq!(
            Resend::from_settings(Some(KEY), Some("a@b.co"), Some("ftp://x"), None).unwrap_err().variable,
            BASE_VAR
        );
        let r =
            Resend::from_settings(Some(KEY), Some("a@b.co"), Some("http://127.0.0.1:9999/"), Some("not-an-address"))
                .unwrap()
                .unwrap();
        assert_eq!(r.base, "http://127.0.0.1:9999");
        let clear = Resend::from_settings(Some(KEY), Some("a@b.co"), Some("http://mail.example"), None).unwrap_err();
        assert!(clear.to_string().contains("must be https://"), "{clear}");
        assert_eq!(r.reply_to, None);
        assert!(!format!("{r:?}").contains(KEY));
        assert!(valid_api_key("re_ABCdef12_3-4") && !valid_api_key("re_short") && !valid_api_key("re_has space1"));
    }

    #[test]
    fn the_request_follows_resends_api() {
        let call = resend().request(&mail(), "clipstore-outbox-7");
        assert_eq!(call.method, "POST");
        assert_eq!(call.url, "https://api.resend.com/emails");
        let header = |n: &str| call.headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(header("authorization"), Some(format!("Bearer {KEY}").as_str()));
        assert_eq!(header("content-type"), Some("application/json"));
        assert_eq!(header("idempotency-key"), Some("clipstore-outbox-7"));
        let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(body["from"], "Saltglass Footage <shop@saltglass.example>");
        assert_eq!(body["to"], serde_json::json!(["buyer@example.com"]));
        assert_eq!(body["subject"], "S");
        assert_eq!(body["html"], "<p>H</p>");
        assert_eq!(body["text"], "T");
        assert_eq!(body["reply_to"], "help@saltglass.example");
        assert!(!call.body.contains(KEY));
        assert_eq!(
            call.body,
            concat!(
                r#"{"from":"Saltglass Footage <shop@saltglass.example>","#,
                r#""html":"<p>H</p>","reply_to":"help@saltglass.example","#,
                r#""subject":"S","text":"T","to":["buyer@example.com"]}"#,
            )
        );
        let mut plain = resend();
        plain.reply_to = None;
        let body = plain.request(&Mail { subject: "\"Ü\"\n".into(), ..mail() }, "k").body;
        assert_eq!(
            body,
            concat!(
                r#"{"from":"Saltglass Footage <shop@saltglass.example>","#,
                "\"html\":\"<p>H</p>\",\"subject\":\"\\\"Ü\\\"\\n\",\"text\":\"T\",",
                r#""to":["buyer@example.com"]}"#,
            )
        );
    }

    #[test]
    fn answers() {
        let r = resend();
        assert_eq!(
            r.outcome(200, r#"{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}"#).unwrap(),
            "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"
        );
        // Accepted without an id it can read: sent all the same.
        for body in ["", "{}", r#"{"id":7}"#, "[]"] {
            assert_eq!(r.outcome(202, body).unwrap(), "", "{body}");
        }
        let e = r.outcome(400, r#"{"message":"m","name":null}"#).unwrap_err();
        assert_eq!(
            e.detail, "Resend answered 400: {\"message\":\"m\",\"name\":null}",
            "an error it cannot read is quoted"
        );
        assert_eq!(r.outcome(400, r#"{"message":"m"}"#).unwrap_err().detail, "Resend answered 400: m");
        let e = r
            .outcome(429, r#"{"statusCode":429,"name":"rate_limit_exceeded","message":"Too many requests"}"#)
            .unwrap_err();
        assert!(e.retry);
        assert_eq!(e.detail, "Resend answered 429 rate_limit_exceeded: Too many requests");
        assert!(r.outcome(500, "upstream connect error").unwrap_err().retry);
        assert!(r.outcome(503, "").unwrap_err().retry);
        let e = r
            .outcome(422, r#"{"statusCode":422,"name":"validation_error","message":"Invalid `to` field."}"#)
            .unwrap_err();
        assert!(!e.retry);
        assert!(e.detail.contains("validation_error"));
        let e = r
            .outcome(403, r#"{"statusCode":403,"name":"validation_error","message":"domain not verified"}"#)
            .unwrap_err();
        assert!(e.retry, "the sender domain: queued until the owner fixes it");
        assert_eq!(
            e.detail,
            "the provider refuses the shop's key or sender: Resend answered 403 validation_error: domain not verified"
        );
        let e =
            r.outcome(401, r#"{"statusCode":401,"name":"missing_api_key","message":"Missing API key"}"#).unwrap_err();
        assert!(e.retry && e.detail.starts_with(super::super::SHOP_REFUSED), "{}", e.detail);
        assert!(
            r.outcome(409, r#"{"statusCode":409,"name":"concurrent_idempotent_requests","message":"…"}"#)
                .unwrap_err()
                .retry
        );
        assert!(
            !r.outcome(409, r#"{"statusCode":409,"name":"invalid_idempotent_request","message":"…"}"#)
                .unwrap_err()
                .retry
        );
    }
}
