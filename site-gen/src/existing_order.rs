//! Whether an order id `site-gen token mint` is asked to sign a link under
//! is already one the shop's Worker knows.
//!
//! The Worker's ledger keeps the clips, allowance and expiry of an order's
//! newest link (`ORDER_SEEN` in `edge-worker/src/ledger/sql.rs`): a link minted
//! under the id of an order a customer paid for takes that order over once
//! it is opened. Its clips become the new link's, "Lost your download link?"
//! mails those, and a later `orders reissue` serves them. So `mint` asks the
//! Worker first (`GET /admin/orders/<id>`, the admin API `site-gen orders`
//! uses: 404 for an order it does not know) and refuses a known id unless
//! the owner says `--replace-order`.
//!
//! When it cannot ask (no admin token, the Worker down, a refused token),
//! the link is minted all the same, with a warning that says why and what
//! to check: an owner minting for a customer who paid by bank transfer is
//! not blocked by the Worker being down. The decision ([`verdict`]) is a
//! pure function of the Worker's answer; [`check`] gathers it.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::admin_client::{AdminClient, OrdersError, ADMIN_TOKEN_ENV};

/// How long `mint` waits for the Worker's answer before minting without it.
pub(crate) const ASK_TIMEOUT: Duration = Duration::from_secs(15);

/// What `mint` does with an order id.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The Worker does not know it: mint.
    New,
    /// The Worker knows it: refuse, with this message.
    Known(String),
    /// Not asked, or no answer: mint, with this warning.
    Unchecked(String),
}

/// The Worker for a link: `worker_url` when given, else the address the
/// link goes to (`…/download` without `/download`), the Worker whose ledger
/// the link will change.
pub fn worker_for_link(worker_url: Option<&str>, link_base: &str) -> String {
    match worker_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => link_base.trim_end_matches('/').trim_end_matches("/download").to_string(),
    }
}

/// Asks the Worker at `worker` about `order` with the shop's admin token
/// (`$CLIPSTORE_ADMIN_TOKEN`, else the shop's `.dev.vars`).
pub fn check(root: &Path, worker: &str, order: &str) -> Verdict {
    let answer = crate::admin_client::admin_token(root)
        .and_then(|token| AdminClient::with_timeout(worker, &token, ASK_TIMEOUT))
        .and_then(|client| client.show(order));
    verdict(order, worker, answer)
}

/// What to do with `order`, from the Worker's answer to `GET
/// /admin/orders/<order>` (or why there is none).
pub fn verdict(order: &str, worker: &str, answer: Result<Value, OrdersError>) -> Verdict {
    match answer {
        Ok(shown) => Verdict::Known(known_message(order, worker, shown.get("order").unwrap_or(&Value::Null))),
        // The admin API's own answer; any other 404 (an address whose
        // `/admin` is not routed to the Worker, a static host) says nothing.
        Err(OrdersError::Http { status: 404, body }) if body.starts_with("no order ") => Verdict::New,
        Err(e) => Verdict::Unchecked(unchecked_message(order, worker, &e)),
    }
}

/// The refusal for an order the Worker knows: which order, where it came
/// from, what a link under its id would do, and what to run instead.
fn known_message(order: &str, worker: &str, o: &Value) -> String {
    let clips: Vec<String> =
        o.get("clips").and_then(Value::as_str).and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    let clips = if clips.is_empty() { "none".to_string() } else { clips.join(", ") };
    let source = o.get("source").and_then(Value::as_str).unwrap_or("");
    let (what, help) = match source {
        "token" => (
            "it came from a link minted earlier and opened",
            format!(
                "a new link for the same clips: `site-gen orders reissue {order}` (links issued before it stop); \
                 another purchase: a new order id (`site-gen token mint --order NEW-ID …`, or \
                 `site-gen orders create NEW-ID --clip SLUG --to ADDRESS`, which mails the link)"
            ),
        ),
        "admin" => (
            "it was created with `site-gen orders create`",
            format!(
                "its link again: `site-gen orders resend {order}` (mails it) or `site-gen orders reissue {order}` \
                 (a new link; older ones stop); another purchase: a new order id (`site-gen orders create NEW-ID \
                 --clip SLUG --to ADDRESS`)"
            ),
        ),
        _ => (
            "a customer paid for it",
            format!(
                "the customer's link again: `site-gen orders resend {order}` (mails it) or \
                 `site-gen orders reissue {order}` (a new link for what they paid for; older ones stop); \
                 another clip for them: `site-gen orders create NEW-ID --clip SLUG --to ADDRESS` (a new order, \
                 its link mailed)"
            ),
        ),
    };
    let paid = if matches!(source, "token" | "admin") {
        String::new()
    } else {
        format!(" through {}", if source.is_empty() { "a checkout" } else { source })
    };
    format!(
        "order {order} is already in the shop's ledger at {worker} ({what}{paid}; clips: {clips}): a link minted \
         under its id would, once opened, replace that order's clips, downloads and expiry, also for the links \
         already sent, and the customer's link would then serve the new clips. Nothing was minted.\n  \
         help: {help}. To replace that order's link on purpose: run again with --replace-order"
    )
}

/// The warning for an order id the Worker could not be asked about.
fn unchecked_message(order: &str, worker: &str, e: &OrdersError) -> String {
    let why = match e {
        OrdersError::NoToken => {
            format!("no admin token: set {ADMIN_TOKEN_ENV} to the Worker's ADMIN_TOKEN secret so that mint can ask")
        }
        OrdersError::Transport { error, .. } => format!("the Worker at {worker} did not answer: {error}"),
        other => format!("asking the Worker at {worker}: {other}"),
    };
    format!(
        "could not check whether the shop's Worker already has an order {order} ({why}); the link is minted all \
         the same. If the Worker knows {order} (a payment through the shop, an earlier link, `orders create`), \
         this link replaces that order's clips, downloads and expiry once opened: check with `site-gen orders \
         show {order}`, and if it is there, do not send this link; mint under another --order"
    )
}

/// The clips of a new link that the deployed shop does not sell yet, as
/// `(slug, what it answered)`: its clip page (`/clips/<slug>/`, deployed
/// with the Worker and its catalog in one `wrangler deploy`) answers 404. A
/// link minted after a build but before the deploy answered "no such clip"
/// without a word. Anything but a 404 (the Worker down, a redirect) says
/// nothing either way: no warning.
pub fn not_deployed(worker: &str, slugs: &[String]) -> Vec<String> {
    let agent = ureq::AgentBuilder::new().timeout(ASK_TIMEOUT).redirects(0).build();
    slugs
        .iter()
        .filter(|slug| matches!(agent.head(&clip_page(worker, slug)).call(), Err(ureq::Error::Status(404, _))))
        .cloned()
        .collect()
}

/// The address of clip `slug`'s page on the shop at `worker`, deployed
/// with the Worker.
fn clip_page(worker: &str, slug: &str) -> String {
    format!("{}/clips/{slug}/", worker.trim_end_matches('/'))
}

/// The catalog's files (`slug`, or `slug:variant`, as `CatalogManifest::
/// files` names them) that the shop at `worker` sells on its site: a clip
/// whose page (`/clips/<slug>/`) answers 200; a variant whose page offers
/// it (its `"sku":"slug:variant"` in the page's structured data). For
/// doctor: a file the site sells and the Worker's catalog lacks is refused
/// at checkout (the deploy review; a variant's, the diff review).
pub fn on_the_site(worker: &str, files: &[String]) -> Vec<String> {
    let agent = ureq::AgentBuilder::new().timeout(ASK_TIMEOUT).redirects(0).build();
    files
        .iter()
        .filter(|name| {
            let (slug, variant) = name.split_once(':').map_or((name.as_str(), None), |(s, v)| (s, Some(v)));
            let page = clip_page(worker, slug);
            match variant {
                None => agent.head(&page).call().is_ok_and(|r| r.status() == 200),
                Some(_) => agent
                    .get(&page)
                    .call()
                    .ok()
                    .filter(|r| r.status() == 200)
                    .and_then(|r| r.into_string().ok())
                    .is_some_and(|html| html.contains(&format!("\"sku\":\"{name}\""))),
            }
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WORKER: &str = "https://shop.example";

    #[test]
    fn the_worker_asked_is_the_one_the_link_goes_to() {
        assert_eq!(worker_for_link(None, "https://shop.example/download"), "https://shop.example");
        assert_eq!(worker_for_link(None, "http://127.0.0.1:8787/download/"), "http://127.0.0.1:8787");
        assert_eq!(worker_for_link(Some("https://w.example/"), "https://shop.example/download"), "https://w.example");
    }

    #[test]
    fn an_unknown_order_is_minted() {
        let not_found = OrdersError::Http { status: 404, body: "no order ORD-1 in the ledger".into() };
        assert_eq!(verdict("ORD-1", WORKER, Err(not_found)), Verdict::New);
        // Not the admin API's answer: no route to the Worker there.
        let elsewhere = OrdersError::Http { status: 404, body: "a web page, not the Worker's admin API".into() };
        assert!(matches!(verdict("ORD-1", WORKER, Err(elsewhere)), Verdict::Unchecked(_)));
    }

    #[test]
    fn a_paid_order_is_refused_pointing_at_resend_reissue_and_create() {
        let shown = json!({"order": {"order_id": "PAY-eeb51", "clips": "[\"north-sea-swell\"]", "source": "stripe"}});
        let Verdict::Known(message) = verdict("PAY-eeb51", WORKER, Ok(shown)) else { panic!("refused") };
        for said in [
            "order PAY-eeb51 is already in the shop's ledger at https://shop.example (a customer paid for it through \
             stripe; clips: north-sea-swell)",
            "Nothing was minted.",
            "`site-gen orders resend PAY-eeb51`",
            "`site-gen orders reissue PAY-eeb51`",
            "`site-gen orders create NEW-ID --clip SLUG --to ADDRESS`",
            "--replace-order",
        ] {
            assert!(message.contains(said), "{said}\n{message}");
        }
        assert!(!message.contains("token mint --order PAY-eeb51"), "{message}");
    }

    #[test]
    fn an_order_of_a_minted_link_is_refused_too() {
        let shown = json!({"order": {"order_id": "ORD-7", "clips": "[\"a\",\"b\"]", "source": "token"}});
        let Verdict::Known(message) = verdict("ORD-7", WORKER, Ok(shown)) else { panic!("refused") };
        assert!(message.contains("(it came from a link minted earlier and opened; clips: a, b)"), "{message}");
        assert!(message.contains("`site-gen orders reissue ORD-7`"), "{message}");
    }

    #[test]
    fn no_answer_mints_with_a_warning_saying_why() {
        let Verdict::Unchecked(message) = verdict("ORD-1", WORKER, Err(OrdersError::NoToken)) else { panic!() };
        assert!(message.contains("no admin token: set CLIPSTORE_ADMIN_TOKEN"), "{message}");
        assert!(message.contains("`site-gen orders show ORD-1`"), "{message}");
        let down = OrdersError::Http { status: 503, body: "D1 is unavailable".into() };
        let Verdict::Unchecked(message) = verdict("ORD-1", WORKER, Err(down)) else { panic!() };
        assert!(message.contains("the Worker answered 503: D1 is unavailable"), "{message}");
    }
}
