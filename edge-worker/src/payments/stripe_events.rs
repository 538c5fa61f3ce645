//! Stripe's events that its webhook did not deliver, read back from
//! Stripe's event list by the cron (`GET /v1/events?delivery_success=false`),
//! so that an order, refund or dispute whose delivery failed (D1 down, a
//! rolled signing secret, a wrong address) is acted on within minutes,
//! and still after Stripe's three days of retries: Stripe lists events for
//! 30 days (docs/payments.md, "Events the webhook did not get").
//!
//! Sans IO, as [`super::stripe_endpoints`]: the runtime asks for the page
//! [`Walk::request`] names, reads the answer with [`page`], acts on each
//! event as on a webhook delivery, and keeps [`Walk::after_page`]'s
//! [`Position`] in the monitor's state.

use clipstore_core::json::{self, Json};

use super::stripe::listed_event;
use super::stripe_checkout::get_request;
use super::{WebhookError, WebhookEvent};
use crate::http_call::HttpCall;

/// Events asked for per page, and so at most per cron run: each is a few
/// D1 queries (and an order's revocation an R2 write), beside the
/// self-test's own calls, within what one invocation may make.
pub const PAGE_SIZE: u32 = 10;

/// An event younger than this may still be on its first delivery: it is
/// left to the webhook, and to the next run if that fails.
pub const SETTLE_SECS: u64 = 120;

/// How far back Stripe lists events: 30 days, less an hour for the clocks.
pub const LISTED_SECS: u64 = 30 * 86_400 - 3_600;

/// Seconds the `stripe_undelivered` problem stays after the last event
/// the Worker had to read back: the owner hears once while the webhook
/// fails, and that it cleared an hour after it works again.
pub const UNDELIVERED_SECS: u64 = 3_600;

/// How far the reading of Stripe's list has come: every undelivered event
/// created up to `after` (unix seconds) was acted on; with a `cursor`, a
/// walk over `(after, until]`, newest first, is under way past that event.
/// `after == 0`: never read (a shop's first run starts the reading at its
/// own time; older events were Stripe's retries' to deliver).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    pub after: u64,
    pub until: u64,
    pub cursor: Option<String>,
}

/// [`super::stripe_endpoints::NEEDED_EVENTS`] as the list's `types`
/// (written out: no formatting code in the module for a constant).
const TYPES: &str = "&types[0]=checkout.session.completed&types[1]=checkout.session.async_payment_succeeded\
    &types[2]=checkout.session.async_payment_failed&types[3]=charge.refunded&types[4]=charge.dispute.created\
    &types[5]=charge.dispute.closed&types[6]=refund.failed&types[7]=refund.updated";

/// One page of the walk: the list request's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub after: u64,
    pub until: u64,
    pub cursor: Option<String>,
}

impl Position {
    /// The page to read at `now`, or `Err` with the position to keep
    /// without reading (a first run; no settled second since the last).
    pub fn walk(&self, now: u64) -> Result<Walk, Position> {
        let settled = now.saturating_sub(SETTLE_SECS);
        if self.after == 0 {
            return Err(Position { after: settled, until: 0, cursor: None });
        }
        let after = self.after.max(now.saturating_sub(LISTED_SECS));
        // A walk under way keeps its window; one whose window Stripe no
        // longer lists is over.
        let (until, cursor) = match &self.cursor {
            Some(cursor) if self.until > after => (self.until, Some(cursor.clone())),
            _ => (settled, None),
        };
        if until <= after {
            return Err(Position { after: self.after, until: 0, cursor: None });
        }
        Ok(Walk { after, until, cursor })
    }
}

impl Walk {
    /// `GET /v1/events`, the undelivered events of the types the Worker
    /// acts on created in `(after, until]`, newest first, as Stripe's Node
    /// library asks for them (`stripe.events.list({ created: { gt, lte },
    /// delivery_success: false, limit, types, starting_after })`).
    pub fn request(&self, api_base: &str, api_key: &str) -> HttpCall {
        let mut path = format!(
            "/v1/events?created[gt]={}&created[lte]={}&delivery_success=false&limit={PAGE_SIZE}{TYPES}",
            self.after, self.until
        );
        if let Some(cursor) = &self.cursor {
            path.push_str("&starting_after=");
            path.push_str(cursor);
        }
        get_request(api_base, api_key, &path)
    }

    /// Where the reading stands when Stripe refused the page with
    /// `status`: a cursor Stripe does not page from (400 or 404: an
    /// invalid request, or no such event) is dropped, and the window read
    /// again from its newest event (what was acted on has its row then).
    /// None: read the same page at the next run.
    pub fn after_refusal(&self, status: u16) -> Option<Position> {
        (matches!(status, 400 | 404) && self.cursor.is_some()).then_some(Position {
            after: self.after,
            until: self.until,
            cursor: None,
        })
    }

    /// Where the reading stands after this page: past it when each of its
    /// events was acted on (`done`), else where it was (the page is read
    /// again; what was acted on has its row then, and is skipped).
    pub fn after_page(&self, page: &EventsPage, done: bool) -> Position {
        match (done, page.has_more, page.events.last()) {
            (false, ..) => Position { after: self.after, until: self.until, cursor: self.cursor.clone() },
            (true, true, Some((last, _))) => {
                Position { after: self.after, until: self.until, cursor: Some(last.clone()) }
            }
            _ => Position { after: self.until, until: 0, cursor: None },
        }
    }
}

/// Why no page was read.
#[derive(Debug, PartialEq, Eq)]
pub enum Unread {
    /// The key may not read events (403): no failure of the moment, and
    /// no problem of the self-test's (its reading back is off until the
    /// key gets the permission; the health check warns: [`NOT_ALLOWED`]).
    NotAllowed,
    /// Stripe did not answer, or not with a list: the next run asks again.
    Failed(String),
}

/// What a key without *Events: Read* means, for the owner.
pub const NOT_ALLOWED: &str = "STRIPE_API_KEY may not read events (Stripe answered 403), so an event whose delivery fails is not read back from Stripe's list: give the restricted key \"Events: Read\" too";

/// A page of Stripe's list: each event's id with what it says (or why it
/// cannot be read: one malformed event does not stop the others), newest
/// first; whether older ones follow.
#[derive(Debug)]
pub struct EventsPage {
    pub events: Vec<(String, Result<WebhookEvent, WebhookError>)>,
    pub has_more: bool,
}

/// Reads Stripe's answer to [`Walk::request`]; `Err` says why nothing can
/// be read (for the log, and the owner when it is the key).
pub fn page(status: u16, body: &str) -> Result<EventsPage, Unread> {
    match status {
        200 => {}
        401 => return Err(Unread::Failed("Stripe refused STRIPE_API_KEY (401: rolled, revoked or mistyped)".into())),
        403 => return Err(Unread::NotAllowed),
        _ => return Err(Unread::Failed(format!("Stripe answered {status}"))),
    }
    let list = json::parse(body).map_err(|e| Unread::Failed(format!("Stripe's list: {e}")))?;
    let has_more = matches!(list.get("has_more"), Some(Json::Bool(true)));
    let Some(Json::Array(data)) = list.get("data") else {
        return Err(Unread::Failed("Stripe's answer is no list".into()));
    };
    let events = data
        .iter()
        .cloned()
        .map(|value| {
            let id = match value.get("id") {
                Some(Json::String(id)) => id.clone(),
                _ => String::new(),
            };
            (id, listed_event(value))
        })
        .collect();
    Ok(EventsPage { events, has_more })
}

/// `GET /v1/events?limit=1`: whether the key may read events at all, for
/// the deep health check (`stripe_webhook`).
pub fn probe_request(api_base: &str, api_key: &str) -> HttpCall {
    get_request(api_base, api_key, "/v1/events?limit=1")
}

/// The health check's warning when Stripe refused [`probe_request`]
/// (403): a key made before the Worker read events back lacks the
/// permission, and nothing else would say that the safety net is off.
pub fn probe_warning(status: u16) -> Option<&'static str> {
    (status == 403).then_some(NOT_ALLOWED)
}

/// How many events the Worker had to read back while the webhook failed,
/// and when the last was: `acted` more at `now`, counted afresh once the
/// `stripe_undelivered` problem has cleared.
pub fn undelivered(count: u64, at: u64, acted: u64, now: u64) -> (u64, u64) {
    match acted {
        0 => (count, at),
        _ if now.saturating_sub(at) >= UNDELIVERED_SECS => (acted, now),
        _ => (count + acted, now),
    }
}

/// The `stripe_undelivered` problem, for an hour after the last event the
/// Worker read back (`count` of them since the first, the last at `at`).
pub fn undelivered_problem(count: u64, at: u64, now: u64) -> Option<String> {
    (count > 0 && now.saturating_sub(at) < UNDELIVERED_SECS).then(|| {
        format!(
            "Stripe could not deliver {count} event{} (paid checkouts, refunds or disputes) to the shop's webhook; the Worker read {} back from Stripe's event list and acted on {}, later than the webhook would have (minutes, or since D1 came back). Nothing is lost. After D1 was down (the webhook answered 503 meanwhile) that was the cause, and nothing needs doing; otherwise Stripe's webhook is not reaching the shop or is refused: check the endpoint's address and STRIPE_WEBHOOK_SECRET (`site-gen doctor`, `site-gen orders payments` lists refused deliveries)",
            if count == 1 { "" } else { "s" },
            if count == 1 { "it" } else { "them" },
            if count == 1 { "it" } else { "each" },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::stripe_endpoints::NEEDED_EVENTS;
    use crate::payments::EventKind;

    const NOW: u64 = 1_760_000_000;

    #[test]
    fn a_first_run_starts_the_reading_at_its_own_time() {
        let first = Position::default().walk(NOW).unwrap_err();
        assert_eq!(first, Position { after: NOW - SETTLE_SECS, until: 0, cursor: None });
        // Five minutes on: the settled seconds since.
        let walk = first.walk(NOW + 300).unwrap();
        assert_eq!((walk.after, walk.until, walk.cursor), (NOW - SETTLE_SECS, NOW + 300 - SETTLE_SECS, None));
        // Within the same settled second: nothing to read.
        assert_eq!(first.walk(NOW).unwrap_err(), first);
    }

    #[test]
    fn the_walk_reaches_back_no_further_than_stripe_lists() {
        // D1 down for 40 days: the reading resumes at the oldest event Stripe still lists.
        let old = Position { after: NOW - 40 * 86_400, until: 0, cursor: None };
        let walk = old.walk(NOW).unwrap();
        assert_eq!(walk.after, NOW - LISTED_SECS);
        assert_eq!(walk.until, NOW - SETTLE_SECS);
        // A walk under way whose window has left Stripe's list is over: a new one starts.
        let stale = Position { after: NOW - 40 * 86_400, until: NOW - 35 * 86_400, cursor: Some("evt_1".into()) };
        let walk = stale.walk(NOW).unwrap();
        assert_eq!((walk.after, walk.until, walk.cursor), (NOW - LISTED_SECS, NOW - SETTLE_SECS, None));
    }

    fn listed(id: &str, created: u64) -> String {
        format!(
            r#"{{"id":"{id}","object":"event","type":"charge.refunded","livemode":true,"created":{created},"data":{{"object":{{"payment_intent":"pi_{id}","amount":1800,"amount_refunded":1800,"currency":"eur"}}}}}}"#
        )
    }

    #[test]
    fn a_page_is_walked_newest_first_then_the_window_closes() {
        let walk = Walk { after: NOW - 3_600, until: NOW - SETTLE_SECS, cursor: None };
        let body = format!(
            r#"{{"object":"list","data":[{},{}],"has_more":true}}"#,
            listed("evt_2", NOW - 200),
            listed("evt_1", NOW - 900)
        );
        let first = page(200, &body).unwrap();
        assert_eq!(first.events.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["evt_2", "evt_1"]);
        let next = walk.after_page(&first, true);
        assert_eq!(next, Position { after: walk.after, until: walk.until, cursor: Some("evt_1".into()) });
        // The next run goes on past evt_1 in the same window, however late it runs.
        let second = next.walk(NOW + 3_600).unwrap();
        assert_eq!((second.until, second.cursor.as_deref()), (walk.until, Some("evt_1")));
        assert!(second.request("https://api.stripe.com", "rk_live_x").url.ends_with("&starting_after=evt_1"));
        let last = page(200, r#"{"object":"list","data":[],"has_more":false}"#).unwrap();
        assert_eq!(second.after_page(&last, true), Position { after: walk.until, until: 0, cursor: None });
    }

    #[test]
    fn a_page_not_acted_on_in_full_is_read_again() {
        let walk = Walk { after: NOW - 3_600, until: NOW - SETTLE_SECS, cursor: Some("evt_9".into()) };
        let body = format!(r#"{{"data":[{}],"has_more":false}}"#, listed("evt_3", NOW - 500));
        let read = page(200, &body).unwrap();
        assert_eq!(
            walk.after_page(&read, false),
            Position { after: walk.after, until: walk.until, cursor: Some("evt_9".into()) }
        );
    }

    #[test]
    fn a_cursor_stripe_refuses_restarts_the_window() {
        let walk = Walk { after: NOW - 3_600, until: NOW - SETTLE_SECS, cursor: Some("evt_9".into()) };
        assert_eq!(walk.after_refusal(400), Some(Position { after: walk.after, until: walk.until, cursor: None }));
        assert_eq!(walk.after_refusal(404), walk.after_refusal(400));
        assert_eq!(walk.after_refusal(500), None);
        assert_eq!(Walk { cursor: None, ..walk }.after_refusal(400), None);
    }

    #[test]
    fn the_request_is_the_one_stripes_library_sends() {
        let walk = Walk { after: 1_700_000_000, until: 1_700_003_600, cursor: None };
        let call = walk.request("https://api.stripe.com/", "rk_live_key");
        assert_eq!(call.method, "GET");
        assert_eq!(
            call.url,
            "https://api.stripe.com/v1/events?created[gt]=1700000000&created[lte]=1700003600&delivery_success=false&limit=10\
             &types[0]=checkout.session.completed&types[1]=checkout.session.async_payment_succeeded\
             &types[2]=checkout.session.async_payment_failed&types[3]=charge.refunded&types[4]=charge.dispute.created\
             &types[5]=charge.dispute.closed&types[6]=refund.failed&types[7]=refund.updated"
        );
        assert!(call.headers.contains(&("authorization", "Bearer rk_live_key".to_string())));
        assert!(call.body.is_empty());
        // Every type the Worker acts on, and no other.
        let types: String = NEEDED_EVENTS.iter().enumerate().map(|(i, t)| format!("&types[{i}]={t}")).collect();
        assert_eq!(TYPES, types);
    }

    #[test]
    fn one_malformed_event_does_not_stop_the_others() {
        let body = format!(
            r#"{{"data":[{},{{"id":"evt_bad","type":"charge.refunded","data":{{"object":{{"amount":"x"}}}}}}],"has_more":false}}"#,
            listed("evt_ok", NOW)
        );
        let read = page(200, &body).unwrap();
        assert!(
            matches!(&read.events[0].1, Ok(e) if matches!(e.kind, EventKind::Refunded(_)) && e.event_id == "evt_ok")
        );
        assert!(matches!(&read.events[1], (id, Err(WebhookError::MalformedEvent(_))) if id == "evt_bad"));
    }

    #[test]
    fn the_health_check_asks_whether_the_key_may_read_events() {
        let call = probe_request("https://api.stripe.com", "rk_live_key");
        assert_eq!(call.url, "https://api.stripe.com/v1/events?limit=1");
        assert!(probe_warning(403).unwrap().contains("Events: Read"));
        assert_eq!(probe_warning(200), None);
        // Another failure is the endpoints' look's to tell (a rolled key: 401).
        assert_eq!(probe_warning(401), None);
    }

    #[test]
    fn stripe_refusing_the_list_says_what_to_do() {
        assert_eq!(page(403, "{}").unwrap_err(), Unread::NotAllowed);
        assert!(NOT_ALLOWED.contains("\"Events: Read\""));
        assert!(matches!(page(401, "{}"), Err(Unread::Failed(e)) if e.contains("401")));
        assert_eq!(page(500, "{}").unwrap_err(), Unread::Failed("Stripe answered 500".into()));
        assert!(matches!(page(200, "[]"), Err(Unread::Failed(_))));
    }

    #[test]
    fn the_owner_hears_while_events_are_read_back_and_an_hour_after() {
        let (count, at) = undelivered(0, 0, 2, NOW);
        assert_eq!((count, at), (2, NOW));
        let problem = undelivered_problem(count, at, NOW + 60).unwrap();
        assert!(problem.starts_with("Stripe could not deliver 2 events"), "{problem}");
        // A D1 outage's 503s are a cause that needs nothing: said first.
        assert!(problem.contains("Nothing is lost. After D1 was down (the webhook answered 503 meanwhile) that was the cause, and nothing needs doing; otherwise"), "{problem}");
        // A run with nothing read back keeps the count and the time.
        assert_eq!(undelivered(count, at, 0, NOW + 300), (2, NOW));
        assert_eq!(undelivered(count, at, 1, NOW + 300), (3, NOW + 300));
        assert!(undelivered_problem(2, NOW, NOW + UNDELIVERED_SECS - 1).is_some());
        assert_eq!(undelivered_problem(2, NOW, NOW + UNDELIVERED_SECS), None);
        // After it cleared, counted afresh.
        assert_eq!(undelivered(2, NOW, 1, NOW + UNDELIVERED_SECS), (1, NOW + UNDELIVERED_SECS));
        assert_eq!(undelivered_problem(0, 0, NOW), None);
    }
}
