//! The cron's reading of Stripe's events that the webhook did not get
//! (`payments::stripe_events`): one page a run, each event acted on as its
//! delivery would have been (`payments::act_on`).

use worker::*;

use super::d1::Query;
use super::payments;
use super::{bind, d1_error, manifest, now_unix, text};
use crate::error::DownloadError;
use crate::ledger::sql;
use crate::monitor::{RunFindings, StripeReading};
use crate::payments::stripe::Stripe;
use crate::payments::stripe_events::{self, Position, Unread};
use crate::payments::{PaymentProvider, WebhookEvent};

/// Reads the next page of Stripe's undelivered events and acts on each
/// the Worker has no row of; puts where the reading stands, and the
/// `stripe_undelivered` problem, into `findings`. Nothing without a usable
/// `STRIPE_API_KEY` (a shop of Payment Links only: its webhook alone
/// brings the events). Whether the shop reads them: false without such a
/// key, or when Stripe refused or failed this run's page.
pub(super) async fn read_back(env: &Env, db: &D1Database, previous: StripeReading, findings: &mut RunFindings) -> bool {
    let Ok((key, base)) = super::checkout::configuration(env) else { return false };
    let now = now_unix();
    let mut reading = previous;
    // A walk not yet due follows a page read (Stripe refusing the key
    // leaves the reading where it was, always due), except a shop's first.
    let (acted, reads) = match reading.position.walk(now) {
        Err(position) => {
            let reads = reading.position.after != 0;
            reading.position = position;
            (0, reads)
        }
        Ok(walk) => match next_page(env, db, &walk, &key, &base).await {
            Ok((position, acted)) => {
                reading.position = position;
                (acted, true)
            }
            // The permission missing is the owner's choice to make (the
            // health check warns); the problem it announced clears as ever.
            Err(Unread::NotAllowed) => {
                console_warn!(
                    "{}",
                    log_line!({ "event": "stripe_events_unread", "error": stripe_events::NOT_ALLOWED })
                );
                (0, false)
            }
            Err(Unread::Failed(e)) => {
                console_error!("{}", log_line!({ "event": "stripe_events_unread", "error": e }));
                findings.unchecked.push("stripe_undelivered");
                (0, false)
            }
        },
    };
    (reading.missed, reading.missed_at) = stripe_events::undelivered(reading.missed, reading.missed_at, acted, now);
    if let Some(problem) = stripe_events::undelivered_problem(reading.missed, reading.missed_at, now) {
        findings.system.push(("stripe_undelivered".into(), problem));
    }
    findings.stripe_reading = Some(reading);
    reads
}

/// One page: where the reading stands after it, and how many of its
/// events were acted on (those the webhook got are skipped). An event
/// whose batch fails holds the reading at this page; what fails it (D1,
/// `TOKEN_KEYS`) is a problem the self-test alerts on by itself.
async fn next_page(
    env: &Env,
    db: &D1Database,
    walk: &stripe_events::Walk,
    key: &str,
    base: &str,
) -> std::result::Result<(Position, u64), Unread> {
    let (status, body) = super::http::execute(&walk.request(base, key), 10).await.map_err(Unread::Failed)?;
    if let Some(position) = walk.after_refusal(status) {
        return Ok((position, 0));
    }
    let page = stripe_events::page(status, &body)?;
    // The webhook's secret is not needed to act on what Stripe's API said.
    let provider = Stripe::new(String::new());
    let origin = manifest().shop.base_url.trim_end_matches('/').to_string();
    let mut acted = 0;
    let mut done = true;
    for (id, event) in &page.events {
        let at = Date::now().as_millis();
        match event {
            Ok(event) => match act_once(env, db, &provider, event, at, &origin).await {
                Ok(true) => {
                    acted += 1;
                    console_warn!("{}", log_line!({ "event": "stripe_event_read_back", "event_id": id }));
                }
                Ok(false) => {}
                Err(e) => {
                    done = false;
                    console_error!(
                        "{}",
                        log_line!({ "event": "stripe_event_failed", "event_id": id, "error": format!("{e:?}") })
                    );
                    break;
                }
            },
            // Recorded as a delivery that cannot be read is.
            Err(error) => {
                let _ = payments::webhook_refused(env, provider.name(), None, error, at).await;
            }
        }
    }
    Ok((walk.after_page(&page, done), acted))
}

struct Recorded {
    seen: u64,
}
crate::from_row!(Recorded { seen });

/// Acts on `event` unless the Worker has a row of it: whether it acted.
/// A row means the webhook got it, whatever it answered: a refusal on
/// purpose (a clip the catalog lacks, answered 422 for Stripe to retry)
/// is listed as undelivered too, and was told to the owner then; and so
/// is an event another endpoint of the account failed to take.
async fn act_once(
    env: &Env,
    db: &D1Database,
    provider: &Stripe,
    event: &WebhookEvent,
    at: u64,
    origin: &str,
) -> std::result::Result<bool, DownloadError> {
    let values = [text(provider.name()), text(&event.event_id), text(payments::subject_of(event))];
    let recorded = bind(db, sql::EVENT_RECORDED, &values)?
        .first_row::<Recorded>()
        .await
        .map_err(|e| d1_error("event recorded", e))?;
    if recorded.is_some_and(|r| r.seen > 0) {
        return Ok(false);
    }
    if let payments::WebhookAnswer::Refused(error) = payments::act_on(env, provider, event, at, origin).await? {
        let _ = payments::webhook_refused(env, provider.name(), Some(event), &error, at).await;
    }
    Ok(true)
}
