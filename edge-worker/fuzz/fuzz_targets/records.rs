//! Any text read as what the Worker reads as JSON through
//! `clipstore_core::json`. The first byte picks the reader (and, for
//! answers, the status); the rest is the text:
//!
//! - 0 a Stripe webhook event (`stripe::parse_event`, after the signature
//!   check): read the same from the text as from the text written back from
//!   its tree (what is read does not depend on spacing, escapes or number
//!   spelling), every refusal says why;
//! - 1 a fallback record, 2 the revocation list, 3 the monitor state (D1
//!   and R2 keep them), 4 the admin API's new order: what is accepted is
//!   written and read again as the same value, and written again as the
//!   same text; a record names an object key under the ledger's prefixes,
//!   an incident's announced keys are a set (sorted, each once), an order's
//!   items are checked against a catalog without panicking;
//! - 5 Stripe's answer to a Checkout Session request, 6 Resend's answer
//!   to a mail: read for a few statuses; a session is only taken with a
//!   payment page URL; 7 a Checkout Session as Stripe's API answers it
//!   (`stripe::parse_session`, the success page while D1 fails): read the
//!   same from the text as from the text written back.
//!
//! And no panic in any of them.
#![no_main]

use clipstore_core::json;
use edge_worker::admin::{order_items, NewOrder};
use edge_worker::ledger::FallbackRecord;
use edge_worker::mail::resend::Resend;
use edge_worker::mail::MailProvider;
use edge_worker::monitor::MonitorState;
use edge_worker::payments::stripe::{parse_event, parse_session};
use edge_worker::payments::stripe_checkout::session_answer;
use edge_worker::payments::WebhookError;
use edge_worker::revocations::RevocationList;
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 8] = [200, 201, 400, 402, 409, 429, 500, 503];

/// Written, read again and written again: the same value, the same text.
fn round_trip<T: PartialEq + std::fmt::Debug>(value: &T, to_json: fn(&T) -> String, from_json: fn(&str) -> Option<T>) {
    let written = to_json(value);
    let again = from_json(&written).unwrap_or_else(|| panic!("{value:?} written as {written:?} is refused"));
    assert_eq!(&again, value, "{written:?}");
    assert_eq!(to_json(&again), written);
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let status = STATUSES[usize::from(which >> 3) % STATUSES.len()];
    match which % 8 {
        0 => {
            let event = parse_event(rest);
            if let Err(WebhookError::MalformedEvent(why)) = &event {
                assert!(!why.is_empty());
            }
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Ok(tree) = json::parse(text) {
                let written = json::to_string(&tree);
                assert_eq!(parse_event(written.as_bytes()), event, "{text:?} written as {written:?}");
            }
        }
        1 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Ok(record) = FallbackRecord::from_json(text) {
                round_trip(&record, FallbackRecord::to_json, |t| FallbackRecord::from_json(t).ok());
                assert!(clipstore_core::reserved_key(&record.object_key()), "{record:?}");
            }
        }
        2 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Ok(list) = RevocationList::from_json(text) {
                round_trip(&list, RevocationList::to_json, |t| RevocationList::from_json(t).ok());
            }
        }
        3 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Ok(state) = MonitorState::from_json(text) {
                round_trip(&state, MonitorState::to_json, |t| MonitorState::from_json(t).ok());
                if let Some(incident) = &state.incident {
                    assert!(incident.announced.windows(2).all(|w| w[0] < w[1]), "{incident:?}");
                }
            }
        }
        4 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Some(order) = NewOrder::from_json(text) {
                round_trip(&order, |o| json::to_string(o), NewOrder::from_json);
                let catalog = clipstore_core::testing::catalog(which & 0x80 != 0);
                let _ = order_items(&catalog, &order.clips);
            }
        }
        5 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            match session_answer(status, text) {
                Ok(session) => {
                    assert!((200..300).contains(&status));
                    assert!(session.url.starts_with("https://") || session.url.starts_with("http://"), "{session:?}");
                }
                Err(failure) => assert!(!failure.detail.is_empty()),
            }
        }
        6 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let resend = Resend::from_settings(Some("re_fuzz_0123456789"), Some("Shop <shop@example.com>"), None, None)
                .unwrap()
                .unwrap();
            match resend.outcome(status, text) {
                Ok(_) => assert!((200..300).contains(&status)),
                Err(failure) => assert!(!(200..300).contains(&status) && !failure.detail.is_empty()),
            }
        }
        7 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let session = parse_session(text);
            if let Err(WebhookError::MalformedEvent(why)) = &session {
                assert!(!why.is_empty());
            }
            if let Ok(tree) = json::parse(text) {
                let written = json::to_string(&tree);
                assert_eq!(parse_session(&written), session, "{text:?} written as {written:?}");
            }
        }
        _ => {}
    }
});
