//! The `/thanks` success page (docs/payments.md), and the orders made from
//! Stripe's own answer when its event is late: asked by the page a
//! customer waits on, and by the cron for the customers who left it
//! (`orders_from_stripe`). The webhook that usually makes them is
//! `super::payments`.

use wasm_bindgen::JsValue;
use worker::*;

use super::d1::Query;
use super::payments::{
    asked_price, link_terms, make_order, sign_link, test_mode, webhook_refused, WebhookAnswer, FROM_SUCCESS_PAGE,
};
use super::{batch, bind, d1_error, error_response, html_page, manifest, now_unix, num};
use super::{mail, order_view, text, unavailable};
use crate::error::DownloadError;
use crate::ledger::{self, sql};
use crate::pages;
use crate::payments::{self, stripe::RetrievedSession, EventKind, WebhookEvent};

struct CheckoutLink {
    token: Option<String>,
    awaiting: u32,
    failed: u32,
    refused: u32,
    waiting_since: Option<u64>,
}
crate::from_row!(CheckoutLink { token, awaiting, failed, refused, waiting_since });

/// Seconds the success page waits for Stripe's event before it asks
/// Stripe for the session and makes its order itself (`order_from_stripe`):
/// the event usually arrives before the customer is back.
pub const ORDER_FROM_PAGE_AFTER_SECS: u64 = 10;

/// `GET /thanks?session_id=…`: the order page of a paid checkout, or a page
/// that reloads itself until the order exists: made by the webhook, or by
/// this page when Stripe's event is late.
pub(super) async fn thanks(req: &Request, env: &Env, ctx: &Context) -> Result<Response> {
    let head = req.method() == Method::Head;
    if !(head || req.method() == Method::Get) {
        return error_response(&DownloadError::MethodNotAllowed);
    }
    let shop = &manifest().shop;
    let url = req.inner().url();
    let session = crate::request_url::query_param(crate::request_url::path_and_query(&url).1, "session_id");
    // Checkout Session ids only: another id is no checkout Stripe could
    // have sent here, and recorded it raised the owner's "paid orders not
    // arriving" alert, which nothing cleared (the attack review).
    let Some(session) = session.filter(|s| payments::valid_session_id(s) && s.starts_with("cs_")) else {
        return html_page(&pages::bad_thanks_page(shop), head, 400, &[]).or_else(|e| error_response(&e));
    };
    // The cart that was paid for (`POST /checkout`'s success address names it).
    let paid_cart = crate::request_url::query_param(crate::request_url::path_and_query(&url).1, "cart")
        .filter(|c| crate::payments::cart::valid_cart_id(c));
    let paid_cart = paid_cart.as_deref();
    let result = async {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let link = bind(&db, sql::CHECKOUT_LINK, &[text("stripe"), text(&session)])?
            .first_row::<CheckoutLink>()
            .await
            .map_err(|e| d1_error("checkout link", e))?;
        match link {
            Some(CheckoutLink { token: Some(token), .. }) => {
                let view = order_view(env, &token).await?;
                let link = format!("{}/download/{token}", super::origin(req).unwrap_or_default());
                html_page(&pages::thanks_page(shop, &view, &link, paid_cart, mails(env)), head, 200, &[])
            }
            // A bank debit that failed days later: no order, nothing paid.
            Some(CheckoutLink { failed: 1.., .. }) => html_page(&pages::payment_failed_page(shop), head, 200, &[]),
            // Paid, but no order will come of it by itself (the owner was
            // told): nothing to check again, or to ask Stripe about.
            Some(CheckoutLink { refused: 1.., .. }) => {
                html_page(&pages::payment_held_page(shop, paid_cart), head, 200, &[])
            }
            // A payment on its way for days (a bank debit): the link comes
            // by e-mail; nothing is missing.
            Some(CheckoutLink { awaiting: 1.., .. }) => {
                html_page(&pages::payment_pending_page(shop, true, paid_cart), head, 200, &[])
            }
            Some(CheckoutLink { waiting_since: Some(since), .. })
                if !head && now_unix() >= since + ORDER_FROM_PAGE_AFTER_SECS =>
            {
                match order_from_stripe(req, env, ctx, &db, &session, paid_cart).await? {
                    Some(page) => html_page(&page, false, 200, &[]),
                    // Stripe says it is not paid (or could not say): the
                    // cart is not emptied on its word.
                    None => html_page(&pages::payment_pending_page(shop, false, None), false, 200, &[]),
                }
            }
            _ => {
                // A customer is back from paying: if no order follows, the
                // self-test tells the owner the webhook is not arriving.
                let now = now_unix();
                // The client's network, hashed as link recovery keeps it;
                // none on this machine (wrangler dev), where every page
                // comes from one address.
                let client = req.headers().get("cf-connecting-ip").ok().flatten();
                let client = client.filter(|ip| !ip.starts_with("127.") && ip != "::1").map_or(JsValue::NULL, |ip| {
                    text(&super::recovery::hash("client", &crate::recovery::client_network(&ip)))
                });
                let values = [
                    text(&session),
                    num(now),
                    num(now - now % 60),
                    num(ledger::THANKS_WAITING_PER_MINUTE),
                    client,
                    num(ledger::THANKS_WAITING_PER_CLIENT),
                ];
                if let Err(e) = batch(&db, vec![bind(&db, sql::THANKS_WAITING, &values)?]).await {
                    console_error!(
                        "{}",
                        log_line!({ "event": "thanks_waiting_not_recorded", "error": format!("{e:?}") })
                    );
                    // D1 refusing writes (full, read-only) refuses the
                    // webhook's order too: no confirmation is coming.
                    if !head {
                        if let Some(page) = thanks_from_stripe(req, env, &session, paid_cart).await {
                            return html_page(&page, false, 200, &[]);
                        }
                    }
                }
                html_page(&pages::payment_pending_page(shop, false, paid_cart), head, 200, &[])
            }
        }
    }
    .await;
    match result {
        Ok(response) => Ok(response),
        Err(error @ DownloadError::Unavailable { .. }) => {
            console_error!("{}", log_line!({ "event": "thanks_unavailable", "error": format!("{error:?}") }));
            if !head {
                if let Some(page) = thanks_from_stripe(req, env, &session, paid_cart).await {
                    return html_page(&page, false, 200, &[]).or_else(|e| error_response(&e));
                }
            }
            html_page(&pages::thanks_unavailable_page(shop), head, 503, &[]).or_else(|e| error_response(&e))
        }
        Err(error) => error_response(&error),
    }
}

/// The success page while the ledger cannot say (D1 failing, or refusing
/// writes): the session as Stripe has it now and, when it is paid, its
/// link, under the order id the webhook will give it (the two links share
/// one order), so that a customer who pays during an outage downloads at
/// once (downloads work without D1). The link is dated the session's
/// creation: every reload shows the same link, it never counts as an
/// order's newest (the webhook's, or an owner's reissue, come later and
/// win), and a reissue stops it. The order and its mail follow from
/// Stripe's event once D1 takes it (the event then claims the order the
/// link may have made: `CHECKOUT_ORDER`). None when Stripe cannot say
/// either (no usable key, no answer, the checkout limiter, a session nobody
/// paid or not the shop's): the "unavailable" page. A refund made during
/// the outage is not seen here (the session stays paid).
async fn thanks_from_stripe(req: &Request, env: &Env, session: &str, paid_cart: Option<&str>) -> Option<String> {
    let shop = &manifest().shop;
    let paid = match ask_stripe(Some(req), env, session).await? {
        RetrievedSession::Paid(paid) => paid,
        RetrievedSession::OnItsWay => return Some(pages::payment_pending_page(shop, true, paid_cart)),
        RetrievedSession::Nothing => return None,
    };
    let failed = |detail: String| {
        console_error!("{}", log_line!({ "event": "thanks_from_stripe_failed", "detail": detail }));
        None
    };
    let asked = asked_price(env, &paid);
    let issued = paid.created.filter(|c| *c <= now_unix()).unwrap_or_else(now_unix);
    let mut claims = match payments::new_order("stripe", &paid, manifest(), link_terms(env), issued, asked) {
        Ok(claims) => claims,
        Err(e) => return failed(format!("{e:?}")),
    };
    let token = sign_link(env, &mut claims).ok()?;
    // Refused (refunded, revoked: the revocation list) like any link.
    let view = order_view(env, &token).await.ok()?;
    let link = format!("{}/download/{token}", super::origin(req).ok()?);
    console_warn!("{}", log_line!({ "event": "order_link_from_stripe", "order": claims.order_id, "session": session }));
    // (D1 is what failed: its mail waits for the order Stripe's retry makes.)
    Some(pages::thanks_page(shop, &view, &link, paid_cart, false))
}

/// Whether the shop sends mail (a provider set up): the success page then
/// says the link is on its way by e-mail too.
fn mails(env: &Env) -> bool {
    matches!(super::mail::provider(env), Ok(Some(_)))
}

/// The success page when Stripe's event is late
/// ([`ORDER_FROM_PAGE_AFTER_SECS`] after the customer came back): the
/// session as Stripe has it now and, when it is paid, its order made here as
/// the event would make it (`make_order`: the same order id, link and mail;
/// its row `from_success_page`), so that a webhook that does not arrive (a
/// rotated secret, a wrong address, an endpoint Stripe disabled) leaves no
/// customer without a link. The event, when it comes, finds the order made
/// (a duplicate). Until it does, the self-test tells the owner
/// (`orders_missing`): refunds and disputes come the same way, which is
/// also why a session created more than a day ago is left to the webhook
/// (Stripe still says "paid" after a refund the shop has not heard of). A
/// checkout the webhook would refuse is recorded as it would record it
/// (once: the next request finds it refused) and gets the "held" page.
/// None: nothing to show yet (not paid, Stripe cannot say): the waiting
/// page.
async fn order_from_stripe(
    req: &Request,
    env: &Env,
    ctx: &Context,
    db: &D1Database,
    session: &str,
    paid_cart: Option<&str>,
) -> std::result::Result<Option<String>, DownloadError> {
    let shop = &manifest().shop;
    let paid = match ask_stripe(Some(req), env, session).await {
        Some(RetrievedSession::Paid(paid)) if paid.created.is_none_or(|c| c + 86_400 > now_unix()) => paid,
        Some(RetrievedSession::OnItsWay) => return Ok(Some(pages::payment_pending_page(shop, true, paid_cart))),
        _ => return Ok(None),
    };
    // (`event_type` as `sql::PAID_WITHOUT_ORDER` knows the page's rows.)
    let event = WebhookEvent {
        event_id: format!("{FROM_SUCCESS_PAGE}:{session}"),
        event_type: "success_page".into(),
        livemode: !test_mode(env),
        kind: EventKind::Paid(paid),
    };
    let EventKind::Paid(paid) = &event.kind else { return Ok(None) };
    let origin = super::origin(req).map_err(|e| unavailable(format!("{e:?}")))?;
    let at = Date::now().as_millis();
    if let WebhookAnswer::Refused(error) =
        make_order(env, db, "stripe", &event, paid, at, &origin, FROM_SUCCESS_PAGE).await?
    {
        let _ = webhook_refused(env, "stripe", Some(&event), &error, at).await;
        return Ok(Some(pages::payment_held_page(shop, paid_cart)));
    }
    super::in_background(ctx, mail::deliver_soon(env.clone()));
    // The checkout's link: this one, or the webhook's had it come first.
    let Some(token) = bind(db, sql::CHECKOUT_LINK, &[text("stripe"), text(session)])?
        .first_row::<CheckoutLink>()
        .await
        .map_err(|e| d1_error("checkout link", e))?
        .and_then(|l| l.token)
    else {
        return Ok(None);
    };
    let view = order_view(env, &token).await?;
    console_warn!("{}", log_line!({ "event": "order_from_success_page", "order": view.order_id, "session": session }));
    Ok(Some(pages::thanks_page(shop, &view, &format!("{origin}/download/{token}"), paid_cart, mails(env))))
}

/// The outcome (and, without `from_`, the event type) of the rows the
/// self-test writes when it made a checkout's order (`orders_from_stripe`).
const FROM_SELF_TEST: &str = "from_self_test";

/// Sessions the self-test asks Stripe about in one cron run: each is a
/// subrequest of the run's few.
const SELF_TEST_ASKS: u64 = 3;

struct WaitingSession {
    session_id: String,
}
crate::from_row!(WaitingSession { session_id });

/// The cron run's part when Stripe's event does not come: a customer who
/// came back from paying a minute to an hour ago and left the success page
/// before it made the order (it asks after 10 s) gets it now, with its
/// mail, made as the page makes it (`make_order`; rows `self_test` /
/// `from_self_test`; links under the catalog's `base_url`). At most
/// [`SELF_TEST_ASKS`] sessions a run, those of the networks with the fewest
/// waiting pages first, then the newest (`sql::WAITING_TO_ASK`). A session Stripe
/// answered for but does not call paid is not asked again (a
/// `self_test_unpaid` row); one Stripe did not answer for is, at the next
/// run. Within the hour only: Stripe still calls a refunded session paid.
/// Returns how many orders it made.
pub(super) async fn orders_from_stripe(env: &Env) -> u32 {
    let Ok(db) = env.d1("DB") else { return 0 };
    let now = now_unix();
    let values = [num(now.saturating_sub(60)), num(now.saturating_sub(3600)), num(SELF_TEST_ASKS)];
    let waiting: Vec<WaitingSession> = match bind(&db, sql::WAITING_TO_ASK, &values) {
        Ok(query) => query.all_rows().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    let origin = manifest().shop.base_url.trim_end_matches('/').to_string();
    let mut made = 0;
    for waiting in waiting {
        let session = waiting.session_id;
        let at = Date::now().as_millis();
        let paid = match ask_stripe(None, env, &session).await {
            Some(RetrievedSession::Paid(paid)) if paid.created.is_none_or(|c| c + 86_400 > now) => paid,
            // Stripe cannot say now: the next run asks again.
            None => continue,
            Some(other) => {
                // A payment on its way (a bank debit) is still owed its
                // event from Stripe: the webhook alert stays for it.
                let (outcome, detail) = match other {
                    RetrievedSession::OnItsWay => {
                        ("self_test_on_its_way", "Stripe says its payment is on its way: not asked again")
                    }
                    // Paid, but made over a day ago: still a missing order.
                    RetrievedSession::Paid(_) => {
                        ("self_test_paid_late", "Stripe calls it paid, made over a day ago: not asked again")
                    }
                    _ => ("self_test_unpaid", "Stripe does not call it paid: not asked again"),
                };
                let values = [
                    num(at),
                    text("stripe"),
                    text(&format!("self_test:{session}")),
                    text("self_test"),
                    text(&session),
                    JsValue::NULL,
                    num(200),
                    text(outcome),
                    text(detail),
                ];
                if let Ok(row) = bind(&db, sql::PAYMENT_EVENT, &values) {
                    let _ = batch(&db, vec![row]).await;
                }
                continue;
            }
        };
        // Made since it was picked (the webhook's, or the page's)?
        let has_order = match bind(&db, sql::CHECKOUT_LINK, &[text("stripe"), text(&session)]) {
            Ok(query) => query.first_row::<CheckoutLink>().await.ok().flatten().and_then(|l| l.token).is_some(),
            Err(_) => false,
        };
        if has_order {
            continue;
        }
        let event = WebhookEvent {
            event_id: format!("{FROM_SELF_TEST}:{session}"),
            event_type: "self_test".into(),
            livemode: !test_mode(env),
            kind: EventKind::Paid(paid),
        };
        let EventKind::Paid(paid) = &event.kind else { continue };
        match make_order(env, &db, "stripe", &event, paid, at, &origin, FROM_SELF_TEST).await {
            Ok(WebhookAnswer::Done { .. }) => {
                made += 1;
                console_warn!("{}", log_line!({ "event": "order_from_self_test", "session": session }));
            }
            Ok(WebhookAnswer::Refused(error)) => {
                let _ = webhook_refused(env, "stripe", Some(&event), &error, at).await;
            }
            Err(e) => console_error!(
                "{}",
                log_line!({ "event": "order_from_self_test_failed", "session": session, "error": format!("{e:?}") })
            ),
        }
    }
    made
}

/// The Checkout Session `session` as Stripe's API has it now, judged
/// (`stripe::retrieved_session`; a session Stripe does not have is
/// `Nothing`); None when Stripe cannot say: no usable key, no answer, or
/// the checkout limiter (for a customer's `req`).
async fn ask_stripe(req: Option<&Request>, env: &Env, session: &str) -> Option<RetrievedSession> {
    let failed = |detail: String| {
        console_error!("{}", log_line!({ "event": "stripe_session_unread", "session": session, "detail": detail }));
        None
    };
    // Checkout Session ids: Stripe answers nothing else, so nothing else
    // costs a call.
    if !session.starts_with("cs_") {
        return None;
    }
    let (key, base) = super::checkout::configuration(env).ok()?;
    // Each look-up is a call to Stripe's API that anyone could repeat.
    if let Some(req) = req {
        if !super::checkout::within_checkout_limit(env, req).await {
            return None;
        }
    }
    let call = payments::stripe_checkout::retrieve_session_request(&base, &key, session);
    match super::http::execute(&call, 10).await {
        Ok((200, body)) => match payments::stripe::retrieved_session(&body, test_mode(env)) {
            Ok(session) => Some(session),
            Err(e) => failed(format!("{e:?}")),
        },
        // No such session (made up, or the other mode's): an answer, not a
        // failure, so that the cron does not ask again.
        Ok((404, body)) if body.contains("\"resource_missing\"") => Some(RetrievedSession::Nothing),
        Ok((status, _)) => failed(format!("Stripe answered {status}")),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn webhook_secrets() {
        assert!(super::valid_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        for bad in [
            "",
            "whsec_",
            "whsec_short",
            "sk_live_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_has space inside xxxxxxxxxx",
        ] {
            assert!(!super::valid_webhook_secret(bad), "{bad}");
        }
    }
}
