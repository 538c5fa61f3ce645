//! "Lost your download link?" (`/orders/recover`): a customer enters the
//! address used at checkout and gets a fresh link for each of its orders by
//! e-mail, without the owner (docs/payments.md, "Getting the links again").
//!
//! The answer page is the same whether or not the address has orders and
//! whether or not the request was rate-limited; the work happens after the
//! response (`waitUntil`), so its timing does not tell either. A fresh link
//! is a new token of the same order (same clips, downloads and expiry): it
//! shares the order's allowance in the ledger, and the old link keeps
//! working.

use clipstore_core::json::{Json, ToJson};
use clipstore_core::Claims;
use sha2::{Digest, Sha256};
use worker::*;

use super::d1::Query;
use super::mail::{deliver_outbox, lists_a_clip, order_facts, outbox_insert, Probe};
use super::payments::sign_link;
use super::{batch, bind, d1_error, manifest, now_unix, num, origin, text};
use crate::error::DownloadError;
use crate::ledger::sql;
use crate::mail::messages::{recovery_mail, OrderMail};
use crate::mail::valid_address;
use crate::outbox::{MailKind, DELIVERY_BATCH};
use crate::recovery::{client_network, PER_ADDRESS, PER_ADDRESS_A_DAY, PER_CLIENT, WINDOW_SECS};
use crate::shop_pages::{recover_form_page, recover_sent_page, MAX_EMAIL_LEN};
use clipstore_core::display::date_time_utc;

/// Orders whose links one mail carries at most (the newest).
const MAX_ORDERS: u64 = 20;
/// Largest form read.
const MAX_BODY_BYTES: usize = 2048;

fn page(html: String, status: u16) -> Result<Response> {
    let mut response = Response::from_html(html)?.with_status(status);
    let headers = response.headers_mut();
    headers.set("cache-control", "no-store")?;
    super::page_headers(headers)?;
    Ok(response)
}

pub(super) fn hash(label: &str, value: &str) -> String {
    Sha256::digest(format!("{label}:{value}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET` shows the form; `POST` (field `email`) queues the links.
pub(super) async fn recover(mut req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    let shop = &manifest().shop;
    match req.method() {
        Method::Get | Method::Head => return page(recover_form_page(shop, None, ""), 200),
        Method::Post => {}
        _ => {
            let mut r = Response::error("GET or POST", 405)?;
            r.headers_mut().set("allow", "GET, POST")?;
            return Ok(r);
        }
    }
    let retry = "Enter the e-mail address you used at checkout, like name@example.com.";
    if let Err(status) = super::body_fits(&req, MAX_BODY_BYTES) {
        return page(recover_form_page(shop, Some(retry), ""), status);
    }
    let body = req.bytes().await.unwrap_or_default();
    let typed = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "email")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    if typed.len() > MAX_EMAIL_LEN || !valid_address(&typed) {
        let kept: String = typed.chars().take(MAX_EMAIL_LEN).collect();
        return page(recover_form_page(shop, Some(retry), &kept), 400);
    }
    let email = typed;
    let client = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".into());
    let client = client_network(&client);
    let request = Recovery {
        email_hash: hash("email", &email.to_ascii_lowercase()),
        client_hash: hash("client", &client),
        email,
        origin: origin(&req)?,
    };
    // The request is counted before the answer (that says nothing of the
    // address's orders): with D1 down, "an e-mail is on its way" promised a
    // mail that never came (the outage review).
    let allowed = match counted(env, &request).await {
        Ok(allowed) => allowed,
        Err(e) => {
            console_error!("{}", log_line!({ "event": "recovery_failed", "error": format!("{e:?}") }));
            let problem = "We cannot look up orders right now (a fault on our side), so nothing was sent. \
                 Please try again in a few minutes.";
            return page(recover_form_page(shop, Some(problem), &request.email), 503);
        }
    };
    let sent = recover_sent_page(shop, &request.email);
    super::in_background(ctx, send_links(env.clone(), request, allowed));
    page(sent, 200)
}

/// Forgets what only matters for a day (cron): recovery requests and
/// success pages that waited for their order.
pub(super) async fn prune(env: &Env) {
    let pruned = async {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let before = now_unix().saturating_sub(2 * 86_400);
        let statements = vec![
            bind(&db, sql::PRUNE_RECOVERY_REQUESTS, &[num(before)])?,
            bind(&db, sql::PRUNE_THANKS_WAITING, &[num(before)])?,
        ];
        batch(&db, statements).await.map(|_| ())
    };
    if let Err(e) = pruned.await {
        console_warn!("{}", log_line!({ "event": "prune_failed", "error": format!("{e:?}") }));
    }
}

struct Recovery {
    email: String,
    email_hash: String,
    client_hash: String,
    origin: String,
}

struct Allowed {
    id: u64,
}
crate::from_row!(Allowed { id });

struct RecoverableOrder {
    order_id: String,
    clips: String,
    choices: Option<String>,
    allowance: u32,
    customer_ref: Option<String>,
    expires_at: Option<u64>,
    not_before: u64,
    /// The checkout's address; none for an order minted by hand.
    customer_email: Option<String>,
    /// Why it no longer downloads ('expired', or the revoke's reason).
    ended: Option<String>,
    /// JSON array of the clips refunded one by one.
    revoked_clips: String,
    /// When it was made (unix s): two orders of the same clips told apart.
    created_at: u64,
}
crate::from_row!(RecoverableOrder {
    order_id,
    clips,
    choices,
    allowance,
    customer_ref,
    expires_at,
    not_before,
    customer_email,
    ended,
    revoked_clips,
    created_at
});

/// After the response: counts the request against the limits, then mints
/// and e-mails a link per order of the address, in one batch with the
/// outbox row, and sends it.
async fn send_links(env: Env, request: Recovery, allowed: Option<u64>) {
    let outcome = match allowed {
        Some(id) => queue_links(&env, &request, id).await.map(Some),
        None => Ok(None),
    };
    let short = &request.email_hash[..12];
    match outcome {
        Ok(Some(0)) => console_log!("{}", log_line!({ "event": "recovery_no_orders", "email_hash": short })),
        Ok(Some(n)) => {
            console_log!("{}", log_line!({ "event": "recovery_queued", "email_hash": short, "orders": n }));
            deliver_outbox(&env, DELIVERY_BATCH, Probe::No).await;
        }
        Ok(None) => console_warn!("{}", log_line!({ "event": "recovery_rate_limited", "email_hash": short })),
        Err(e) => console_error!("{}", log_line!({ "event": "recovery_failed", "error": format!("{e:?}") })),
    }
}

/// Records the request against the limits: its id, or `Ok(None)` when
/// rate-limited.
async fn counted(env: &Env, request: &Recovery) -> std::result::Result<Option<u64>, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let now = now_unix();
    let allowed = bind(
        &db,
        sql::RECOVERY_REQUEST,
        &[
            num(now),
            text(&request.email_hash),
            text(&request.client_hash),
            num(now.saturating_sub(WINDOW_SECS)),
            num(PER_ADDRESS),
            num(PER_CLIENT),
            num(now.saturating_sub(86_400)),
            num(PER_ADDRESS_A_DAY),
        ],
    )?
    .first_row::<Allowed>()
    .await
    .map_err(|e| d1_error("recovery request", e))?;
    Ok(allowed.map(|Allowed { id }| id))
}

/// A mail naming `n` orders queued for the request `id` (with a link, or
/// why they no longer download): `Ok(n)`.
async fn queue_links(env: &Env, request: &Recovery, id: u64) -> std::result::Result<u64, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let now = now_unix();
    // Those that still download first; one more than the mail lists, to
    // know whether it leaves some out (the scale review: the 21st order of
    // an address was left out without a word).
    let mut orders: Vec<RecoverableOrder> =
        bind(&db, sql::ORDERS_OF_EMAIL, &[text(&request.email), num(MAX_ORDERS + 1), num(now)])?
            .all_rows()
            .await
            .map_err(|e| d1_error("orders of an address", e))?;
    let more = orders.len() as u64 > MAX_ORDERS;
    orders.truncate(MAX_ORDERS as usize);
    // The address the customer paid with, as they wrote it then, not as
    // typed now (the match ignores case); the one typed when an order was
    // found by a link mailed there instead.
    let to = orders
        .iter()
        .filter_map(|o| o.customer_email.as_deref())
        .find(|e| e.eq_ignore_ascii_case(&request.email))
        .unwrap_or(request.email.as_str());
    let mut facts = Vec::new();
    let mut ended = Vec::new();
    for order in &orders {
        let mut claims = fresh_claims(
            &order.order_id,
            &order.clips,
            order.choices.as_deref(),
            order.allowance,
            &order.customer_ref,
            order.expires_at,
            order.not_before,
        );
        // The mail lists what can be downloaded: not the clips refunded,
        // nor what the catalog no longer has (`order_facts` leaves it out;
        // an order of nothing else is named, not mailed with "0 clips").
        let refunded: Vec<String> = clipstore_core::json::from_str(&order.revoked_clips).unwrap_or_default();
        let mut listed = claims.clone();
        listed.clips.retain(|c| !refunded.contains(c));
        let sold = !listed.clips.is_empty();
        let why = match (order.ended.as_deref(), !lists_a_clip(&listed)) {
            (Some("expired"), _) => Some(format!("expired on {}", date_time_utc(claims.expires_at))),
            (Some(reason @ ("refunded" | "disputed")), _) => Some(reason.to_string()),
            // The order page's words for the owner's revoke.
            (Some(_), _) => Some("withdrawn by the shop".to_string()),
            (None, true) if sold => Some("its clips are no longer in the shop".to_string()),
            (None, true) => Some("refunded".to_string()),
            (None, false) => None,
        };
        if let Some(why) = why {
            ended.push((order.order_id.clone(), why));
            continue;
        }
        let token = sign_link(env, &mut claims)?;
        let facts_of_order = order_facts(&listed, &token, to, &request.origin);
        facts.push(OrderMail { bought_at: Some(order.created_at), ..facts_of_order });
    }
    let mut statements = vec![bind(&db, sql::RECOVERY_SENT, &[num(id), num(facts.len() as u64)])?];
    if !facts.is_empty() || !ended.is_empty() {
        let mail = recovery_mail(&manifest().shop, to, &facts, &ended, more);
        statements.push(outbox_insert(&db, MailKind::Recovery, None, &mail, now)?);
    }
    batch(&db, statements).await?;
    Ok((facts.len() + ended.len()) as u64)
}

/// The claims of a fresh link of an order as the ledger has it (`clips`:
/// its JSON array): issued now, or at the order's `not_before` when its
/// last reissue set that a second ahead (`ledger::sql::REISSUE`), with the
/// order's clips, downloads per clip and expiry, so it shares the order's
/// allowance and never outlives it.
pub(super) fn fresh_claims(
    order_id: &str,
    clips: &str,
    choices: Option<&str>,
    downloads: u32,
    customer_ref: &Option<String>,
    expires_at: Option<u64>,
    not_before: u64,
) -> Claims {
    let now = now_unix();
    let mut claims = Claims {
        key_id: String::new(),
        order_id: order_id.to_string(),
        clips: clipstore_core::json::from_str(clips).unwrap_or_default(),
        issued_at: now.max(not_before),
        expires_at: expires_at.unwrap_or(now + 30 * 86_400),
        downloads,
        customer_ref: customer_ref.clone(),
        choices: super::choices_from_json(choices),
    };
    claims.normalize_clips();
    claims
}

pub(super) struct OrderToResend {
    pub(super) clips: String,
    pub(super) choices: Option<String>,
    pub(super) allowance: u32,
    pub(super) customer_ref: Option<String>,
    pub(super) expires_at: Option<u64>,
    pub(super) not_before: u64,
    pub(super) revoked_at: Option<u64>,
    pub(super) revoked_reason: Option<String>,
    /// The clips revoked one by one (refunded, or withdrawn), a JSON array.
    pub(super) revoked_clips: String,
    pub(super) customer_email: Option<String>,
}
crate::from_row!(OrderToResend {
    clips,
    choices,
    allowance,
    customer_ref,
    expires_at,
    not_before,
    revoked_at,
    revoked_reason,
    revoked_clips,
    customer_email
});

impl OrderToResend {
    /// A fresh link's claims for this order ([`fresh_claims`]), expiring at
    /// `expires_at` (its own, or the time a won dispute gave back).
    pub(super) fn fresh_claims(&self, order_id: &str, expires_at: Option<u64>) -> Claims {
        fresh_claims(
            order_id,
            &self.clips,
            self.choices.as_deref(),
            self.allowance,
            &self.customer_ref,
            expires_at,
            self.not_before,
        )
    }

    /// What a mail of `claims` lists: not the clips revoked one by one (the
    /// link keeps them, and answers "refunded" for them; a mail listing
    /// them as ready had the customer write in).
    pub(super) fn listed(&self, claims: &Claims) -> Claims {
        let revoked: Vec<String> = clipstore_core::json::from_str(&self.revoked_clips).unwrap_or_default();
        let mut listed = claims.clone();
        listed.clips.retain(|c| !revoked.contains(c));
        listed
    }
}

/// `POST /admin/orders/<id>/resend[?to=…][&replace=1]` (`site-gen orders
/// resend`): a fresh link of the order (same clips, downloads and expiry:
/// it shares the allowance) e-mailed to the checkout's address or `to`,
/// through the outbox. With `replace`, `to` becomes the order's address
/// (`sql::REPLACE_ADDRESS`): a mistyped checkout address no longer gets
/// the order's links for the asking. Answers (status, JSON).
pub(super) async fn resend(
    env: &Env,
    db: &D1Database,
    order_id: &str,
    to: Option<&str>,
    replace: bool,
    origin: &str,
) -> std::result::Result<(u16, Json), DownloadError> {
    if replace && to.is_none() {
        return Ok((400, refusal("replace=1 needs the new address: to=…".to_string())));
    }
    let order = bind(db, sql::ORDER_TO_RESEND, &[text(order_id)])?
        .first_row::<OrderToResend>()
        .await
        .map_err(|e| d1_error("order to resend", e))?;
    let Some(order) = order else {
        return Ok((404, refusal(format!("no order {order_id} in the ledger"))));
    };
    if order.revoked_at.is_some() {
        let error = match order.revoked_reason.as_deref() {
            Some(why @ ("refunded" | "disputed")) => format!(
                "order {order_id} is revoked because its payment was {why}; if the customer should have it anyway: \
                 `site-gen orders reissue {order_id} --despite-refund`"
            ),
            _ => format!("order {order_id} is revoked; reissue it first: `site-gen orders reissue {order_id}`"),
        };
        return Ok((409, refusal(error)));
    }
    // A resent link shares the order's expiry: past it, the mail would
    // carry a link that fails, and the customer would write back.
    if let Some(expired) = order.expires_at.filter(|&at| at <= now_unix()) {
        return Ok((409, refusal(format!("order {order_id} expired on {}: reissue it", date_time_utc(expired)))));
    }
    let Some(address) = to.or(order.customer_email.as_deref()) else {
        return Ok((409, refusal(format!("no e-mail address is known for order {order_id}; give one with --to"))));
    };
    if !valid_address(address) {
        return Ok((400, refusal(format!("{address} is not an e-mail address"))));
    }
    let mut claims = order.fresh_claims(order_id, order.expires_at);
    let listed = order.listed(&claims);
    if !lists_a_clip(&listed) && lists_a_clip(&claims) {
        let error = format!(
            "every clip of order {order_id} is revoked ({}): the mail would list nothing, so none was sent; \
             `site-gen orders unrevoke {order_id} --clip SLUG` first if the customer should have one",
            claims.clips.join(", ")
        );
        return Ok((409, refusal(error)));
    }
    // A mail of "0 clips": say so to the owner instead of sending it.
    if !lists_a_clip(&claims) {
        let error = format!(
            "none of order {order_id}'s clips ({}) is in the deployed catalog: the mail would list nothing, so none \
             was sent; put them back and deploy, or make the customer an order of the clips they should have \
             (`site-gen orders create`)",
            claims.clips.join(", ")
        );
        return Ok((409, refusal(error)));
    }
    // Taken before the mail is made: the mail to the new address is never
    // older than the replacement that counts only later mails.
    let now = now_unix();
    let token = sign_link(env, &mut claims)?;
    let statement = super::mail::order_mail_statement(db, MailKind::Resend, &listed, &token, address, origin, None)?;
    // In the order's history: to whom (the support review: after a resend
    // to a corrected address, `orders show` still named only the typo).
    let detail = format!("to {address}");
    let event =
        bind(db, sql::EVENT, &[text(order_id), num(now), text("resend"), wasm_bindgen::JsValue::NULL, text(&detail)])?;
    let mut statements = vec![statement, event];
    if replace {
        statements.push(bind(db, sql::REPLACE_ADDRESS, &[text(order_id), text(address), num(now)])?);
        statements.push(bind(db, sql::CHECKOUT_ADDRESS, &[text(order_id), text(address)])?);
    }
    batch(db, statements).await?;
    let report = deliver_outbox(env, DELIVERY_BATCH, Probe::No).await;
    Ok((
        200,
        Json::object([
            ("order_id", order_id.to_json()),
            ("to", address.to_json()),
            ("link", format!("{origin}/download/{token}").to_json()),
            ("delivery", report.to_json()),
            ("address_replaced", replace.to_json()),
        ]),
    ))
}

/// `{"error": "<why>"}`: the owner's `resend` refused.
fn refusal(why: String) -> Json {
    Json::object([("error", why.to_json())])
}
