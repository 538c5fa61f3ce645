//! The Worker's admin API as the owner's commands reach it (`orders`,
//! `doctor`, `push`, `token mint`): where the admin token and the Worker's
//! address come from, the blocking client (`ureq`, redirects not
//! followed), and its errors.

use std::path::Path;
use std::time::Duration;

use clipstore_core::MIN_ADMIN_TOKEN_LEN;
use serde_json::{json, Value};

use crate::purchase_token as pt;

/// An order created by hand (`POST /admin/orders`).
pub struct NewOrder<'a> {
    pub order_id: &'a str,
    pub clips: &'a [String],
    pub downloads: u32,
    pub expires_at: u64,
    pub customer_email: &'a str,
    pub session_id: Option<&'a str>,
    pub payment_id: Option<&'a str>,
}

/// Environment variable holding the Worker's `ADMIN_TOKEN`.
pub const ADMIN_TOKEN_ENV: &str = "CLIPSTORE_ADMIN_TOKEN";
/// Environment variable that can stand in for `--worker-url`.
pub const WORKER_URL_ENV: &str = "CLIPSTORE_WORKER_URL";
/// Name of the Worker secret (and `.dev.vars` line).
pub const ADMIN_SECRET: &str = "ADMIN_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    #[error("no admin token: set {ADMIN_TOKEN_ENV} (the Worker's {ADMIN_SECRET} secret); for a local Worker, put {ADMIN_SECRET}=… in the shop's .dev.vars (in the clipstore repository, scripts/run-local.sh writes {})", pt::DEV_VARS)]
    NoToken,
    #[error("no Worker address: pass --worker-url https://your-shop.example (or set {WORKER_URL_ENV}, or fill download_base_url in content/site.toml)")]
    NoWorkerUrl,
    #[error(
        "refusing to send the admin token to {url}: use https:// (plain http:// only to 127.0.0.1, ::1 or localhost, a local wrangler dev)"
    )]
    PlainHttp { url: String },
    #[error(
        "the Worker's address {url} has a domain name with letters outside ASCII: write its domain in the xn-- form (punycode, as your domain registrar shows it)"
    )]
    NonAsciiHost { url: String },
    #[error(
        "the Worker refused the admin token (401): the token sent ({ADMIN_TOKEN_ENV} when it is set, else {ADMIN_SECRET} in the shop's .dev.vars) is not the Worker's {ADMIN_SECRET} secret"
    )]
    Unauthorized,
    #[error("the Worker answered {status}: {body}")]
    Http { status: u16, body: String },
    #[error(
        "could not reach the Worker at {url} ({error})\n  \
         help: is the address right, and is the Worker running? (a local one: `wrangler dev --config wrangler.toml` in the shop's folder, as its README says; or scripts/run-local.sh in clipstore for the sample shop)"
    )]
    Transport { url: String, error: String },
    #[error("unexpected answer from the Worker: {0}")]
    BadAnswer(String),
    #[error("{url} answered {status}, a redirect to {to}: the admin token is not sent on to another address\n  help: {help}")]
    Redirected { url: String, status: u16, to: String, help: String },
    #[error(
        "the admin token from {origin} is not one the Worker can have: {problem}\n  \
         help: if you still have the token you gave the Worker, copy it again as plain text (no line breaks, no quotes from a word processor). A secret cannot be read back from Cloudflare: otherwise make a new one, `openssl rand -hex 24`, give it to the Worker (`\"$W\" secret put {ADMIN_SECRET} --config wrangler.toml` in a shop made by `site-gen init`, `npx wrangler secret put {ADMIN_SECRET}` in edge-worker/; for a local `wrangler dev`, {ADMIN_SECRET}=… in its .dev.vars, then start it again), and set {ADMIN_TOKEN_ENV} to it"
    )]
    BadToken { origin: String, problem: String },
    #[error(
        "no order {order} in the ledger: no payment and no download of it is recorded, so nothing was revoked\n  \
         help: check the id (`site-gen orders list` shows them). A link minted by hand and never used is not in the \
         ledger yet: to stop it before its first use, run again with --not-in-ledger"
    )]
    NotInLedger { order: String },
    #[error(transparent)]
    Token(#[from] pt::TokenCommandError),
    #[error("{0}")]
    Other(String),
}

/// `answer` with the control characters of its strings written out as
/// `\u{1b}`: what the ledger holds of a request (its `User-Agent`, its
/// `Range`) is anyone's to write, and an escape sequence printed by `orders
/// show` or `export` would reach the owner's terminal (OSC 52 sets the
/// clipboard, ESC [8m hides a line). Line breaks, tabs and the unit
/// separator (the Worker's own, before a by-hand command: `payments`
/// replaces it) do nothing there and stay.
pub(crate) fn printable(answer: Value) -> Value {
    let unsafe_char = |c: char| c.is_control() && !matches!(c, '\n' | '\t' | '\u{1f}');
    match answer {
        Value::String(s) if s.chars().any(unsafe_char) => Value::String(
            s.chars().map(|c| if unsafe_char(c) { format!("\\u{{{:x}}}", c as u32) } else { c.to_string() }).collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(printable).collect()),
        Value::Object(fields) => Value::Object(fields.into_iter().map(|(k, v)| (k, printable(v))).collect()),
        other => other,
    }
}

/// What an answer's `body` says, for a message: the admin API's `error`;
/// a web page (the address is not the Worker, or its route is missing) said
/// as such rather than printed; anything else cut short.
pub(crate) fn worker_answer(body: &str) -> String {
    if let Some(error) =
        serde_json::from_str::<Value>(body).ok().and_then(|v| printable(v)["error"].as_str().map(str::to_string))
    {
        return error;
    }
    let start = body.trim_start().get(..15).unwrap_or_default().to_ascii_lowercase();
    if start.starts_with("<!doctype html") || start.starts_with("<html") {
        return "a web page, not the Worker's admin API: is --worker-url the address the Worker answers on \
                (your shop's address), and is the Worker deployed with this version?"
            .to_string();
    }
    let shown = match body.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &body[..at]),
        None => body.to_string(),
    };
    printable(Value::String(shown)).as_str().unwrap_or_default().to_string()
}

/// A request that got no answer: the address once (ureq's message repeats it).
fn transport(url: String, error: ureq::Error) -> OrdersError {
    let error = error.to_string();
    let error = error.strip_prefix(&format!("{url}: ")).unwrap_or(&error).to_string();
    OrdersError::Transport { url, error }
}

/// The admin token: `$CLIPSTORE_ADMIN_TOKEN`, else `ADMIN_TOKEN` in
/// `edge-worker/.dev.vars` under `root`; checked for the shape the Worker
/// accepts before it is sent anywhere.
pub fn admin_token(root: &Path) -> Result<String, OrdersError> {
    if let Ok(v) = std::env::var(ADMIN_TOKEN_ENV) {
        if !v.trim().is_empty() {
            return checked_token(v.trim(), ADMIN_TOKEN_ENV);
        }
    }
    let path = pt::worker_file(root, ".dev.vars");
    let text = std::fs::read_to_string(&path).map_err(|_| OrdersError::NoToken)?;
    let token = dotenv_value(&text, ADMIN_SECRET).ok_or(OrdersError::NoToken)?;
    checked_token(&token, &path.display().to_string())
}

/// `token` if it can be the Worker's admin token: at least
/// [`MIN_ADMIN_TOKEN_LEN`] characters, all printable ASCII (spaces
/// included). Anything else (a pasted line break, typographic quotes)
/// would fail as a malformed header, or be refused after travelling; the
/// message never shows it.
pub fn checked_token(token: &str, source: &str) -> Result<String, OrdersError> {
    let bad = |problem: String| OrdersError::BadToken { origin: source.to_string(), problem };
    // What the Worker compares: the header's value after `Bearer `, trimmed;
    // spaces inside are kept, so they are allowed here too.
    if let Some((i, c)) = token.chars().enumerate().find(|&(_, c)| !(c.is_ascii_graphic() || c == ' ')) {
        let what = if c.is_ascii_control() {
            "a line break or control character".to_string()
        } else {
            format!("the character {c:?}")
        };
        return Err(bad(format!("it has {what} at position {}", i + 1)));
    }
    if token.len() < MIN_ADMIN_TOKEN_LEN {
        return Err(bad(format!(
            "it is {} characters long; the Worker accepts none shorter than {MIN_ADMIN_TOKEN_LEN}",
            token.len()
        )));
    }
    Ok(token.to_string())
}

/// `NAME=value` from a dotenv-style text (quotes stripped).
pub fn dotenv_value(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

/// Percent-encodes an order id for a path segment.
pub(crate) fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A blocking client for the Worker's admin API.
pub struct AdminClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// Whether the admin token may go to `url`: over `https://`, or plain
/// `http://` only to this machine (a local `wrangler dev`).
pub fn safe_for_token(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| u.scheme() == "https" || (u.scheme() == "http" && is_loopback(url)))
}

/// Whether an `http(s)://` address points at this machine (127.0.0.1,
/// localhost or ::1). The address is read by the parser the HTTP client
/// connects with (WHATWG URL rules: `\` counts as `/`, `user@` is not the
/// host), so the host checked is the host connected to.
pub fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_owned())) {
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// A redirect (not followed: the token stays with the address the owner
/// gave) as an error that says where to: a `www.` address that redirects
/// to the bare domain said "the Worker answered 301: " and nothing more,
/// and an upload answered so counted as done.
pub(crate) fn not_redirected(url: &str, response: ureq::Response) -> Result<ureq::Response, OrdersError> {
    let status = response.status();
    if !(300..400).contains(&status) {
        return Ok(response);
    }
    let to = response.header("location").unwrap_or("(no Location given)").to_string();
    // Only an address of the same site (`www.` or not, `https` for `http`)
    // is suggested: one elsewhere (a login page, a parked domain) must not
    // be handed the admin token on this program's word.
    let site = |u: &url::Url| u.host_str().map(|h| h.trim_start_matches("www.").to_string());
    let here = url::Url::parse(url).ok();
    let there = here.as_ref().and_then(|u| u.join(&to).ok());
    let help = match (&here, &there) {
        (Some(a), Some(b)) if site(a) == site(b) && a.origin() != b.origin() => format!(
            "give the Worker's address as it answers, --worker-url {} (or CLIPSTORE_WORKER_URL)",
            b.origin().ascii_serialization()
        ),
        _ => "check that --worker-url (or CLIPSTORE_WORKER_URL) is your Worker's address: `wrangler deploy` prints it"
            .to_string(),
    };
    Err(OrdersError::Redirected { url: url.to_string(), status, to, help })
}

impl AdminClient {
    /// A client for the Worker at `worker_url`; refuses an address where the
    /// token would travel in clear text. Redirects are not followed, so the
    /// token never goes anywhere else either.
    pub fn new(worker_url: &str, token: &str) -> Result<AdminClient, OrdersError> {
        AdminClient::with_timeout(worker_url, token, Duration::from_secs(60))
    }

    /// [`AdminClient::new`], giving up on a request after `timeout`.
    pub fn with_timeout(worker_url: &str, token: &str, timeout: Duration) -> Result<AdminClient, OrdersError> {
        // The workspace's URL parser takes ASCII domains only (idna_adapter
        // 1.0, which keeps Unicode tables out of the Worker: docs/worker.md).
        if url::Url::parse(worker_url).is_err() && !worker_url.is_ascii() {
            return Err(OrdersError::NonAsciiHost { url: worker_url.to_string() });
        }
        if !safe_for_token(worker_url) {
            return Err(OrdersError::PlainHttp { url: worker_url.to_string() });
        }
        Ok(AdminClient {
            base: worker_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent: ureq::AgentBuilder::new().timeout(timeout).redirects(0).build(),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, OrdersError> {
        let url = format!("{}{path}", self.base);
        let request = self.agent.request(method, &url).set("authorization", &format!("Bearer {}", self.token));
        let result = match body {
            Some(b) => request.send_json(b),
            None => request.call(),
        };
        match result {
            Ok(response) => not_redirected(&url, response)?
                .into_json()
                .map(printable)
                .map_err(|e| OrdersError::BadAnswer(e.to_string())),
            Err(ureq::Error::Status(401, _)) => Err(OrdersError::Unauthorized),
            Err(ureq::Error::Status(status, response)) => {
                let mut body = worker_answer(&response.into_string().unwrap_or_default());
                // A revoke during a D1 outage said "503" alone: the owner
                // took the link for stopped (the outage reviews; revoke and
                // reissue read the order first, with a GET). Only for the
                // ledger's outage: a disabled admin API or missing
                // migrations do not pass by waiting (the diff review).
                if status == 503 && body.contains("the ledger is unavailable") {
                    body.push_str(if method == "POST" {
                        "\n  help: nothing was changed (a revoke has not stopped the links, a reset has given nothing \
                         back, a reissue has made no link): run this command again once the ledger answers; \
                         `site-gen doctor` says when"
                    } else {
                        "\n  help: the ledger (D1) did not answer, so nothing was read or changed: run this command \
                         again once it answers; `site-gen doctor` says when"
                    });
                }
                Err(OrdersError::Http { status, body })
            }
            Err(e) => Err(transport(url, e)),
        }
    }

    /// GET `path`; answers the status with the JSON body even when it is not
    /// 2xx (the deep health check answers 503 with its report).
    pub fn get_report(&self, path: &str) -> Result<(u16, Value), OrdersError> {
        let url = format!("{}{path}", self.base);
        let request = self.agent.get(&url).set("authorization", &format!("Bearer {}", self.token));
        let (status, response) = match request.call() {
            Ok(r) => (r.status(), not_redirected(&url, r)?),
            Err(ureq::Error::Status(401, _)) => return Err(OrdersError::Unauthorized),
            Err(ureq::Error::Status(status, r)) => (status, r),
            Err(e) => return Err(transport(url, e)),
        };
        let body = response.into_string().map_err(|e| OrdersError::BadAnswer(e.to_string()))?;
        match serde_json::from_str(&body) {
            Ok(v) => Ok((status, printable(v))),
            Err(_) => Err(OrdersError::Http { status, body: worker_answer(&body) }),
        }
    }

    /// The Worker's address (for messages).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bearer token, for requests this client does not wrap (uploads).
    pub(crate) fn authorization(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    pub fn list(&self, limit: u32) -> Result<Vec<Value>, OrdersError> {
        array(&self.call("GET", &format!("/admin/orders?limit={limit}"), None)?, "orders")
    }

    /// The orders of a customer's address, newest first.
    pub fn orders_of_email(&self, email: &str, limit: u32) -> Result<Vec<Value>, OrdersError> {
        array(&self.call("GET", &format!("/admin/orders?email={}&limit={limit}", segment(email)), None)?, "orders")
    }

    /// Orders created in `[since, until)` (unix seconds) with a clip never
    /// granted a whole clip's bytes.
    pub fn never_fully_downloaded(
        &self,
        since: Option<u64>,
        until: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Value>, OrdersError> {
        let mut q = format!("filter=never-fully-downloaded&limit={limit}");
        if let Some(s) = since {
            q.push_str(&format!("&since={s}"));
        }
        if let Some(u) = until {
            q.push_str(&format!("&until={u}"));
        }
        array(&self.call("GET", &format!("/admin/orders?{q}"), None)?, "orders")
    }

    /// Resets every order with an attempt in `[since, until)` (unix seconds).
    pub fn reset_window(&self, since: u64, until: u64) -> Result<Value, OrdersError> {
        self.call("POST", &format!("/admin/reset?since={since}&until={until}"), Some(json!({})))
    }

    pub fn show(&self, order: &str) -> Result<Value, OrdersError> {
        self.call("GET", &format!("/admin/orders/{}", segment(order)), None)
    }

    /// `POST /admin/orders`: a new order in the ledger; refused (409) when
    /// the id exists.
    /// `customer_email` is kept with the order (link recovery finds it by
    /// it), and `stripe` names the checkout session and payment it was paid
    /// by.
    pub fn create(&self, order: &NewOrder) -> Result<Value, OrdersError> {
        let body = json!({
            "order_id": order.order_id,
            "clips": order.clips,
            "downloads": order.downloads,
            "expires_at": order.expires_at,
            "customer_email": order.customer_email,
            "session_id": order.session_id,
            "payment_id": order.payment_id,
        });
        self.call("POST", "/admin/orders", Some(body))
    }

    pub fn reset(&self, order: &str, clip: Option<&str>) -> Result<Value, OrdersError> {
        self.order_action(order, "reset", clip)
    }

    pub fn revoke(&self, order: &str, clip: Option<&str>) -> Result<Value, OrdersError> {
        self.order_action(order, "revoke", clip)
    }

    /// `POST /admin/orders/<id>/unrevoke`: undoes the owner's revoke.
    pub fn unrevoke(&self, order: &str, clip: Option<&str>) -> Result<Value, OrdersError> {
        self.order_action(order, "unrevoke", clip)
    }

    /// `POST /admin/orders/<id>/<action>[?clip=…]`: an action on the whole
    /// order, or on one clip of it.
    fn order_action(&self, order: &str, action: &str, clip: Option<&str>) -> Result<Value, OrdersError> {
        let q = clip.map(|c| format!("?clip={}", segment(c))).unwrap_or_default();
        self.call("POST", &format!("/admin/orders/{}/{action}{q}", segment(order)), Some(json!({})))
    }

    pub fn resend(&self, order: &str, to: Option<&str>, replace: bool) -> Result<Value, OrdersError> {
        let mut q = to.map(|t| format!("?to={}", segment(t))).unwrap_or_default();
        if replace {
            q.push_str("&replace=1");
        }
        self.call("POST", &format!("/admin/orders/{}/resend{q}", segment(order)), Some(json!({})))
    }

    /// `POST /admin/orders/<id>/reissue`: links issued before now stop
    /// working; the order's expiry becomes `valid_for` seconds from now.
    /// `exchange`: an item (`slug:variant:licence`) the order's clip of
    /// that slug becomes.
    pub fn reissue(&self, order: &str, valid_for: u64, exchange: Option<&str>) -> Result<Value, OrdersError> {
        let exchange = exchange.map(|item| format!("&exchange={}", segment(item))).unwrap_or_default();
        let path = format!("/admin/orders/{}/reissue?valid_for={valid_for}{exchange}", segment(order));
        self.call("POST", &path, Some(json!({})))
    }

    pub fn merge(&self) -> Result<Value, OrdersError> {
        self.call("POST", "/admin/ledger/merge", Some(json!({})))
    }

    pub fn outbox(&self, limit: u32) -> Result<Vec<Value>, OrdersError> {
        array(&self.call("GET", &format!("/admin/outbox?limit={limit}"), None)?, "outbox")
    }

    pub fn payments(&self, limit: u32) -> Result<Vec<Value>, OrdersError> {
        array(&self.call("GET", &format!("/admin/payments?limit={limit}"), None)?, "payments")
    }

    /// Every attempt (of one order), oldest first, fetched page by page.
    pub fn attempts(&self, order: Option<&str>) -> Result<Vec<Value>, OrdersError> {
        let mut all = Vec::new();
        let mut after = 0u64;
        loop {
            let q = order.map(|o| format!("&order={}", segment(o))).unwrap_or_default();
            let v = self.call("GET", &format!("/admin/attempts?after={after}&limit=1000{q}"), None)?;
            let page = array(&v, "attempts")?;
            let Some(last) = page.last().and_then(|a| a.get("id")).and_then(Value::as_u64) else {
                break;
            };
            after = last;
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                break;
            }
        }
        Ok(all)
    }
}

pub(crate) fn array(v: &Value, key: &str) -> Result<Vec<Value>, OrdersError> {
    v.get(key).and_then(Value::as_array).cloned().ok_or_else(|| OrdersError::BadAnswer(format!("no `{key}` array")))
}

/// `--worker-url`, else `$CLIPSTORE_WORKER_URL`, else the address the
/// shop's download links go to (`download_base_url` in the shop at `root`,
/// without its `/download`: the Worker answers them), said on stderr. Never
/// a placeholder's (`change-me.example`): the admin token would go there.
pub fn resolve_worker_url(given: Option<&str>, root: &std::path::Path) -> Result<String, OrdersError> {
    let chosen = given.map(str::to_string).or_else(|| std::env::var(WORKER_URL_ENV).ok());
    if let Some(url) = chosen.filter(|u| !u.trim().is_empty()) {
        return Ok(url);
    }
    let text = std::fs::read_to_string(root.join(crate::config::SITE_CONFIG)).map_err(|_| OrdersError::NoWorkerUrl)?;
    let file = crate::front_matter::SourceFile { display: crate::config::SITE_CONFIG.into(), text };
    let config = crate::config::SiteConfig::parse(&file).map_err(|_| OrdersError::NoWorkerUrl)?;
    let url = config.download_base_url.trim_end_matches('/').trim_end_matches("/download").to_string();
    if url.is_empty() || !crate::placeholders::lines_with_mark(&url).is_empty() {
        return Err(OrdersError::NoWorkerUrl);
    }
    eprintln!("The Worker at {url} (download_base_url in {}; --worker-url for another)", crate::config::SITE_CONFIG);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workers_answer_is_its_error_a_web_page_is_named_and_the_rest_cut_short() {
        assert_eq!(worker_answer(r#"{"error":"no such order"}"#), "no such order");
        let page = "\n<!DOCTYPE html>\n<html lang=\"en\"><head><title>Not found</title></head>…</html>";
        let said = worker_answer(page);
        assert!(said.starts_with("a web page, not the Worker's admin API: is --worker-url"), "{said}");
        assert!(!said.contains("<html"));
        let long = "x".repeat(500);
        assert_eq!(worker_answer(&long).chars().count(), 201);
        assert_eq!(worker_answer("D1 unavailable"), "D1 unavailable");
        assert_eq!(worker_answer("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }

    /// A stranger's `User-Agent` is in the ledger as sent: an escape
    /// sequence in it must not reach the owner's terminal.
    #[test]
    fn control_characters_in_an_answer_are_written_out() {
        let answer = serde_json::json!({
            "attempts": [{ "user_agent": "\u{1b}]52;c;ZWNobyBwd25lZAo=\u{7}stranger\u{1b}[8m", "range": "bytes=0-1\u{9b}x" }],
            "detail": "line one\nline\ttwo\u{1f}by hand",
            "bytes": 5,
        });
        let shown = printable(answer);
        assert_eq!(shown["attempts"][0]["user_agent"], "\\u{1b}]52;c;ZWNobyBwd25lZAo=\\u{7}stranger\\u{1b}[8m");
        assert_eq!(shown["attempts"][0]["range"], "bytes=0-1\\u{9b}x", "C1 controls too");
        assert_eq!(shown["detail"], "line one\nline\ttwo\u{1f}by hand", "line breaks, tabs, the unit separator kept");
        assert_eq!(shown["bytes"], 5);
    }

    #[test]
    fn an_unreachable_worker_is_named_once_with_what_to_check() {
        // Port 1 on loopback: nothing listens there.
        let url = "http://127.0.0.1:1/admin/health".to_string();
        let error = ureq::get(&url).call().unwrap_err();
        let said = transport(url.clone(), error).to_string();
        assert_eq!(said.matches(url.as_str()).count(), 1, "{said}");
        assert!(said.contains("is the Worker running?"), "{said}");
    }
}
