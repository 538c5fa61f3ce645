//! `site-gen orders`: CSV export and tables (pure), and the CLI against a
//! small fake admin API on loopback (the real one is tested in workerd by
//! `edge-worker/tests/ledger.test.mjs`).

mod common;

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::http::{self, Response};
use serde_json::json;
use site_gen::admin_client::{dotenv_value, safe_for_token};
use site_gen::orders::{csv_field, order_details, orders_table, outbox_table, payments_table, write_csv};

#[test]
fn payments_table_shows_refusals_and_paid_orders() {
    let table = payments_table(&[
        json!({"id": 2, "at": 1_750_000_000_000u64, "provider": "stripe", "event_id": null, "status": 400,
               "outcome": "bad_signature", "order_id": null, "detail": "bad_signature"}),
        json!({"id": 1, "at": 1_750_000_000_000u64, "provider": "stripe", "event_id": "evt_1", "status": 200,
               "outcome": "processed", "order_id": "PAY-1", "detail": "harbor", "customer_email": "b@example.com",
               "amount_total": 1800}),
        json!({"id": 3, "at": 1_750_000_000_000u64, "provider": "stripe", "event_id": "evt_2", "status": 422,
               "outcome": "unknown_clip", "order_id": null,
               "detail": "clip gone is not in the catalog\u{1f}by hand: site-gen orders create PAY-2 --to a@b.example"}),
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[3].ends_with(
            "clip gone is not in the catalog; put the clip back and deploy (Stripe's retry then makes the order), or, \
             with the clip the customer should have in place of the one the catalog lacks, by hand: site-gen orders \
             create PAY-2 --to a@b.example"
        ),
        "the command's separator shown plain: {table:?}"
    );
    assert!(lines[0].starts_with("TIME"));
    assert!(lines[1].contains("400 bad_signature"), "{table}");
    assert!(lines[2].contains("200 processed") && lines[2].contains("PAY-1") && lines[2].contains("b@example.com"));
    // Without an order, the checkout to look up in the Stripe Dashboard
    // (a pending or failed bank debit); said once.
    let waiting = payments_table(&[
        json!({"at": 1_750_000_000_000u64, "status": 200, "outcome": "awaiting_payment", "order_id": null,
               "event_id": "evt_3", "session_id": "cs_live_a", "detail": "payment not yet confirmed"}),
        json!({"at": 1_750_000_000_000u64, "status": 200, "outcome": "unpaid_order", "order_id": "SEPA-1",
               "event_id": "evt_4", "session_id": "cs_live_b", "detail": "the bank debit of checkout cs_live_b failed"}),
    ]);
    let lines: Vec<&str> = waiting.lines().collect();
    assert!(lines[1].ends_with("payment not yet confirmed (checkout cs_live_a)"), "{waiting}");
    assert!(lines[2].ends_with("the bank debit of checkout cs_live_b failed"), "{waiting}");
}

#[test]
fn outbox_table_shows_status_link_and_last_error() {
    let table = outbox_table(&[
        json!({"id": 3, "kind": "order", "order_id": "PAY-1", "to": "buyer@example.com",
               "subject": "Your clips from Saltglass Footage: order PAY-1", "status": "queued", "attempts": 2,
               "created_at": 1_764_000_000, "next_attempt_at": 1_764_000_180, "sent_at": null,
               "last_error": "Resend answered 503: upstream", "link": "http://127.0.0.1:8787/download/v1.abc"}),
        json!({"id": 2, "kind": "alert", "order_id": null, "to": "owner@example.com", "subject": "✅ Shop: recovered",
               "status": "sent", "attempts": 1, "created_at": 1_763_999_000, "sent_at": 1_763_999_001,
               "last_error": null, "link": null}),
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("CREATED") && lines[0].contains("STATUS") && lines[0].ends_with("LINK"));
    assert!(lines[0].contains(" KIND ") && lines[0].contains(" ORDER "), "{table}");
    assert!(lines[1].starts_with("2025-11-24 16:00 queued       2 order          PAY-1 "), "{table}");
    assert!(lines[1].contains(" buyer@example.com "), "{table}");
    assert!(lines[1].ends_with("http://127.0.0.1:8787/download/v1.abc"), "{table}");
    assert!(lines[2].contains("last error (next attempt 2025-11-24 16:03): Resend answered 503: upstream"), "{table}");
    assert!(lines[3].contains("sent") && lines[3].contains("owner@example.com") && lines[3].ends_with(" -"), "{table}");
    assert!(lines[3].contains(" alert          - "), "no order: {table}");
    // The longest kind keeps the columns in line (the owner review:
    // `payment_failed` pushed the order and the address out of line).
    let failed = json!({"kind": "payment_failed", "order_id": null, "to": "debit@example.com", "status": "sent",
        "attempts": 1, "created_at": 1_764_000_000, "link": null});
    let table = outbox_table(&[failed]);
    let [header, line] = table.lines().collect::<Vec<_>>()[..] else { panic!("{table}") };
    assert_eq!(line.find(" - ").map(|i| i + 1), header.find("ORDER"), "{table}");
    assert_eq!(line.find("debit@"), header.find("TO "), "{table}");
}

#[test]
fn csv_quotes_per_rfc_4180_and_defuses_formulas() {
    assert_eq!(csv_field(&json!("plain")), "plain");
    assert_eq!(csv_field(&json!("a,b")), "\"a,b\"");
    assert_eq!(csv_field(&json!("say \"hi\"")), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field(&json!("line\nbreak")), "\"line\nbreak\"");
    assert_eq!(csv_field(&json!("=HYPERLINK(1)")), "'=HYPERLINK(1)");
    assert_eq!(csv_field(&json!(null)), "");
    assert_eq!(csv_field(&json!(206)), "206");
}

#[test]
fn csv_has_a_header_and_one_line_per_attempt() {
    let attempts = vec![
        json!({"id": 1, "attempt_id": "a1", "at": 1_750_000_000_123u64, "order_id": "ORD-1", "clip_slug": "harbor", "key_id": "k1", "country": "NL",
               "method": "GET", "range_header": "bytes=0-", "status": 206, "outcome": "granted", "span_offset": 0,
               "span_length": 10, "charged_bytes": 10, "client_ip": "127.0.0.1", "user_agent": "curl/8, x", "recorded_via": "d1", "completed": 1,
               "reserved_bytes": 10, "sent_bytes": 10, "settled_at": 1_750_000_000_500u64}),
        json!({"id": 2, "attempt_id": "a2", "at": 1_750_000_001_000u64, "order_id": null, "status": 403, "outcome": "bad_signature",
               "method": "GET", "charged_bytes": 0, "recorded_via": "d1"}),
    ];
    let mut out = Vec::new();
    write_csv(&attempts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("id,attempt_id,at,at_utc,order_id,clip_slug,"));
    assert_eq!(lines[1], "1,a1,1750000000123,2025-06-15T15:06:40.123Z,ORD-1,harbor,k1,GET,bytes=0-,206,granted,0,10,10,127.0.0.1,NL,\"curl/8, x\",d1,1,10,10,,1750000000500,");
    assert!(
        lines[2].starts_with("2,a2,1750000001000,2025-06-15T15:06:41.000Z,,,,GET,,403,bad_signature,,,0,,,,d1,,,,,")
    );
    assert_eq!(lines[3], "");
}

#[test]
fn order_details_say_how_each_download_ended() {
    let attempt = |extra: serde_json::Value| {
        let mut a = json!({"at": 1_750_000_000_000u64, "method": "GET", "clip_slug": "harbor", "status": 200,
                           "outcome": "granted", "charged_bytes": 10, "range_header": null});
        a.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        a
    };
    let text = order_details(&json!({
        "order": {"order_id": "ORD-1", "allowance": 1, "source": "token"},
        "clips": [],
        "attempts": [
            attempt(json!({"reserved_bytes": 100, "sent_bytes": 100, "completed": 1, "settled_at": 1})),
            attempt(json!({"reserved_bytes": 100, "sent_bytes": 30, "completed": 0, "settled_at": 1, "credited_bytes": 20})),
            attempt(json!({"reserved_bytes": 100})),
            attempt(json!({"status": 403, "outcome": "allowance_used_up", "charged_bytes": 0})),
            attempt(json!({"reserved_bytes": 100, "sent_bytes": 100, "completed": 0, "settled_at": 1})),
            attempt(json!({"status": 503, "outcome": "storage_unavailable", "charged_bytes": 0, "reserved_bytes": 100,
                           "sent_bytes": 0, "completed": 0, "settled_at": 1})),
            attempt(json!({"status": 503, "outcome": "storage_unavailable", "charged_bytes": 100, "reserved_bytes": 100})),
        ],
        "links": [{"key_id": "k1", "issued_at": 1_764_000_000u64, "expires_at": 1_766_592_000u64, "first_seen_at": 1_764_000_060u64}],
        "events": [{"at": 1_764_000_100u64, "kind": "resend", "clip_slug": null, "detail": "to bob@example.com"}],
    }));
    // Not "broke off after 100 of 100 bytes" (the support review).
    assert!(
        text.lines().any(|l| l.ends_with("(all 100 bytes sent, but the connection closed before the end)")),
        "{text}"
    );
    assert!(text.contains("\n  issued 2025-11-24 16:00, key k1, known since 2025-11-24 16:01\n"), "{text}");
    assert!(
        !text.contains("opened 2025"),
        "not said to be opened: the checkout's link is known from its making: {text}"
    );
    assert!(text.contains("resend ") && text.contains("to bob@example.com"), "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("harbor")).collect();
    assert!(lines[0].ends_with("(finished)"), "{text}");
    assert!(
        lines[1].ends_with("(broke off after 30 of 100 bytes, 20 given back when they were asked for again)"),
        "{text}"
    );
    assert!(lines[1].contains(" 10 bytes charged "), "{text}");
    assert!(lines[2].contains("charged in full"), "{text}");
    assert!(!lines[3].contains('('), "{text}");
    // R2 failing after the reservation: refused, not broken off (the outage review).
    assert!(lines[5].ends_with("(refused: nothing sent)"), "{text}");
    // Not settled yet: still charged in full, which the owner must see (the diff review).
    assert!(lines[6].contains("charged in full"), "{text}");
    assert!(text.contains("revoked:    no\n"), "{text}");
}

#[test]
fn order_details_name_the_file_and_licence_bought_of_each_clip() {
    let text = order_details(&json!({
        "order": {"order_id": "PAY-9", "choices": r#"{"harbor":{"variant":"web","licence":"extended"},"dunes":{"licence":"standard"}}"#},
        "clips": [
            {"clip_slug": "harbor", "downloads_used": 0, "downloads_left": 1, "granted_bytes": 0, "clip_size": 10},
            {"clip_slug": "dunes", "downloads_used": 0, "downloads_left": 1, "granted_bytes": 0, "clip_size": 10},
            {"clip_slug": "city", "downloads_used": 0, "downloads_left": 1, "granted_bytes": 0, "clip_size": 10},
        ],
        "attempts": [],
    }));
    assert!(text.contains("  harbor [file web, licence extended] "), "{text}");
    assert!(text.contains("  dunes [licence standard] "), "{text}");
    assert!(text.contains("  city  "), "{text}");
}

#[test]
fn order_details_say_why_an_order_was_revoked() {
    let show = |order: serde_json::Value| order_details(&json!({"order": order, "clips": [], "attempts": []}));
    let refunded = show(json!({"order_id": "PAY-1", "revoked_at": 5, "revoked_reason": "refunded"}));
    assert!(refunded.contains("revoked:    yes (refunded)\n"), "{refunded}");
    let one_clip = show(json!({"order_id": "PAY-2", "revoked_at": null, "revoked_clips": "[\"harbor\"]"}));
    assert!(one_clip.contains("revoked:    only harbor\n"), "{one_clip}");
    let events = order_details(&json!({"order": {"order_id": "PAY-3"}, "clips": [], "attempts": [], "events": [
        {"at": 1_764_000_000u64, "kind": "create", "clip_slug": null, "detail": "stripe checkout cs_1"},
        {"at": 1_764_000_100u64, "kind": "partial_refund", "clip_slug": null, "detail": "refunded: €18.00 of €36.00 back (refund)"},
        {"at": 1_764_000_200u64, "kind": "revoke", "clip_slug": "harbor", "detail": null},
    ]}));
    let lines: Vec<&str> = events.lines().skip_while(|l| *l != "events:").skip(1).take(3).collect();
    assert!(
        lines[1].contains("partial_refund") && lines[1].ends_with("refunded: €18.00 of €36.00 back (refund)"),
        "{events}"
    );
    assert!(lines[2].contains("revoke") && lines[2].ends_with("harbor"), "{events}");
}

#[test]
fn tables_and_dev_vars() {
    let table = orders_table(&[json!({"order_id": "ORD-1", "clips": "[\"a\",\"b\"]", "allowance": 3, "attempts": 2,
        "granted_bytes": 100, "last_attempt_at": null, "revoked_at": 5, "created_at": 1_764_000_000})]);
    assert!(table.contains("ORD-1"));
    // When it was made: support.md has the owner find a mistyped order by it.
    assert!(table.starts_with("ORDER                    CREATED "), "{table}");
    assert!(table.contains("ORD-1                    2025-11-24 16:00 "), "{table}");
    assert!(table.contains("revoked"));
    assert!(table.contains("a b"));
    // What was bought of each clip, as items are written to `create`, and
    // why an order was revoked (the list said neither: stop 51's note).
    let table = orders_table(&[
        json!({"order_id": "ORD-2", "clips": "[\"a\",\"b\",\"c\"]", "allowance": 1, "attempts": 0,
               "choices": "{\"a\":{\"variant\":\"4k\",\"licence\":\"extended\"},\"b\":{\"licence\":\"extended\"}}",
               "revoked_clips": "[\"c\"]", "revoked_at": null}),
        json!({"order_id": "ORD-3", "clips": "[\"a\"]", "revoked_at": 5, "revoked_reason": "refunded"}),
        json!({"order_id": "ORD-4", "clips": "[\"a\"]", "revoked_at": 5, "revoked_reason": "disputed"}),
        json!({"order_id": "ORD-5", "clips": "[\"a\"]", "revoked_at": 5, "revoked_reason": "admin"}),
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].ends_with(" a:4k:extended b::extended c(revoked)") && lines[1].contains(" active "), "{table}");
    assert!(lines[2].contains(" refunded ") && lines[3].contains(" disputed "), "{table}");
    assert!(lines[4].contains(" revoked ") && lines[4].ends_with(" a"), "{table}");
    // An expired order says so, with when (the customer's link answers
    // "expired"; `show` had no word of it, found by a review).
    let table = orders_table(&[
        json!({"order_id": "OLD-1", "clips": "[\"a\"]", "allowance": 1, "attempts": 0, "granted_bytes": 0,
               "expires_at": 1_750_000_000u64, "revoked_at": null}),
        json!({"order_id": "NEW-1", "clips": "[\"a\"]", "allowance": 1, "attempts": 0, "granted_bytes": 0,
               "expires_at": 4_000_000_000u64, "revoked_at": null}),
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("BYTES CHARGED") && lines[0].contains("EXPIRES"), "{table}");
    assert!(lines[1].contains("2025-06-15 15:06") && lines[1].contains(" expired "), "{table}");
    assert!(lines[2].contains("2096-10-02 07:06") && lines[2].contains(" active "), "{table}");
    let show = |expires_at: u64| {
        order_details(&json!({"order": {"order_id": "OLD-1", "expires_at": expires_at}, "clips": [], "attempts": []}))
    };
    assert!(show(1_750_000_000).contains(
        "expires:    2025-06-15 15:06 UTC (expired: its links answer \"expired\"; `reissue` gives new ones)\n"
    ));
    assert!(show(4_000_000_000).contains("expires:    2096-10-02 07:06 UTC\n"));
    assert_eq!(dotenv_value("TOKEN_KEYS=x\nADMIN_TOKEN=\"s3cret\"\n", "ADMIN_TOKEN").as_deref(), Some("s3cret"));
}

/// A fake of the Worker's admin API: answers 401 unless the bearer token
/// is right, records request lines.
fn fake_admin(token: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let base = http::serve(move |request| {
        let request_line = format!("{} HTTP/1.1", request.line());
        log.lock().unwrap().push(request_line.clone());
        let (status, json) = if !request.has_bearer(token) {
            (401, json!({"error": "unauthorized"}))
        } else if request_line.starts_with("GET /admin/orders?") {
            (
                200,
                json!({"orders": [{"order_id": "ORD-9", "clips": "[\"harbor\"]", "allowance": 3, "attempts": 4, "granted_bytes": 7}]}),
            )
        } else if request_line.starts_with("GET /admin/outbox?limit=7 ") {
            (
                200,
                json!({"outbox": [{"to": "buyer@example.com", "subject": "Your clips", "status": "queued", "attempts": 0,
                                   "created_at": 1_764_000_000, "link": "http://127.0.0.1:8787/download/v1.abc"}]}),
            )
        } else if request_line.starts_with("POST /admin/orders/ORD%2D9/resend?to=a%40b") {
            (
                200,
                json!({"order_id": "ORD-9", "to": "a@b.example", "link": "http://127.0.0.1:8787/download/v1.new",
                       "delivery": {"due": 1, "sent": 0, "no_provider": 1}}),
            )
        } else if request_line.starts_with("GET /admin/outbox?limit=10000 ") {
            // ORD-ALPHA's link went to a typo first, then, corrected, to right@.
            (
                200,
                json!({"outbox": [
                    {"order_id": "ORD-ALPHA", "kind": "resend", "status": "sent", "to": "right@b.example"},
                    {"order_id": "ORD-ALPHA", "kind": "order", "status": "sent", "to": "typo@b.exmaple"}]}),
            )
        } else if request_line.starts_with("POST /admin/orders/ORD%2DALPHA/resend?to=right%40b")
            || request_line.starts_with("POST /admin/orders/ORD%2DALPHA/resend?to=other%40b")
        {
            let to = if request_line.contains("right%40") { "right@b.example" } else { "other@b.example" };
            (
                200,
                json!({"order_id": "ORD-ALPHA", "to": to, "link": "http://127.0.0.1:8787/download/v1.resent",
                       "delivery": {"due": 1, "sent": 0, "no_provider": 1}}),
            )
        } else if request_line.starts_with("POST /admin/orders/ORD%2DREFUNDED/resend") {
            (409, json!({"error": "no e-mail address is known for order ORD-REFUNDED; give one with --to"}))
        } else if request_line.starts_with("GET /admin/orders/ORD%2DDOWN ") {
            (200, json!({"order": {"order_id": "ORD-DOWN", "clips": "[\"harbor\"]", "allowance": 3}}))
        } else if request_line.starts_with("GET /admin/orders/ORD%2DOFF ") {
            (503, json!({"error": "the admin API is disabled: ADMIN_TOKEN is shorter than 16 characters"}))
        } else if request_line.starts_with("POST /admin/orders/ORD%2DDOWN/revoke")
            || request_line.starts_with("GET /admin/orders/ORD%2DDARK ")
        {
            (503, json!({"error": "the ledger is unavailable right now"}))
        } else if request_line.starts_with("GET /admin/orders/ORD%2DGONE ") {
            // An order of a clip the catalog no longer has (`harbor`) and one it has.
            (
                200,
                json!({"order": {"order_id": "ORD-GONE", "clips": "[\"alpha\",\"harbor\"]", "allowance": 3}, "clips": [], "attempts": []}),
            )
        } else if request_line.starts_with("GET /admin/attempts?after=0&") {
            (
                200,
                json!({"attempts": [{"id": 1, "order_id": "ORD-9", "clip_slug": "harbor", "at": 1_764_000_000_000_i64}]}),
            )
        } else if request_line.starts_with("GET /admin/attempts?") {
            (200, json!({"attempts": []}))
        } else if request_line.starts_with("GET /admin/orders/ORD%2D9 ") {
            (200, json!({"order": {"order_id": "ORD-9", "clips": "[\"harbor\",\"alpha\"]", "allowance": 3}}))
        } else if request_line.starts_with("GET /admin/orders/ORD%2DALPHA ") {
            (200, json!({"order": {"order_id": "ORD-ALPHA", "clips": "[\"alpha\"]", "allowance": 3, "expires_at": 1}}))
        } else if request_line.starts_with("POST /admin/orders/ORD%2DALPHA/reissue?")
            || request_line.starts_with("POST /admin/orders/ORD%2DREFUNDED/reissue?")
        {
            (
                200,
                json!({"order": {"order_id": "ORD-ALPHA", "clips": "[\"alpha\"]", "allowance": 3, "customer_ref": "",
                                 "expires_at": 4_000_000_000_u64, "not_before": 1_764_000_001},
                       "link": "https://shop.example/download/v1.signed-by-the-worker"}),
            )
        } else if request_line.starts_with("GET /admin/orders/ORD%2DREFUNDED ") {
            (
                200,
                json!({"order": {"order_id": "ORD-REFUNDED", "clips": "[\"alpha\"]", "allowance": 3,
                                 "revoked_at": 1_764_000_000, "revoked_reason": "refunded"}}),
            )
        } else if request_line.starts_with("POST /admin/orders ") {
            let body = request.json();
            if body["order_id"] == "ORD-9" {
                (409, json!({"error": "order ORD-9 already exists"}))
            } else {
                log.lock().unwrap().push(format!("created {body}"));
                (201, json!({"created": body["order_id"]}))
            }
        } else if request_line.starts_with("POST /admin/orders/ORD%2DBATCH/resend") {
            // The batch delivered another message, not this one.
            (
                200,
                json!({"order_id": "ORD-BATCH", "to": "e@f.example", "link": "http://127.0.0.1:8787/download/v1.batch",
                       "delivery": {"due": 2, "sent": 1, "no_provider": 0}}),
            )
        } else if request_line.starts_with("POST /admin/orders/ORD%2DREFUSED/resend") {
            (
                200,
                json!({"order_id": "ORD-REFUSED", "to": "bad@f.example", "link": "http://127.0.0.1:8787/download/v1.refused",
                       "delivery": {"due": 1, "sent": 0, "no_provider": 0}}),
            )
        } else if request_line.starts_with("GET /admin/outbox?limit=50 ") {
            (
                200,
                json!({"outbox": [
                    {"status": "sent", "link": "http://127.0.0.1:8787/download/v1.other"},
                    {"status": "queued", "link": "http://127.0.0.1:8787/download/v1.batch"},
                    {"status": "failed", "link": "http://127.0.0.1:8787/download/v1.refused", "last_error": "422: invalid `to` address"},
                ]}),
            )
        } else if request_line.starts_with("POST /admin/orders/ORD%2DNEW/resend?to=c%40d") {
            (
                200,
                json!({"order_id": "ORD-NEW", "to": "c@d.example", "link": "http://127.0.0.1:8787/download/v1.created",
                       "delivery": {"due": 1, "sent": 1, "no_provider": 0}}),
            )
        } else if request_line.starts_with("POST /admin/orders/ORD%2D9/reset?clip=harbor ") {
            (200, json!({"order_id": "ORD-9", "clips_reset": 0}))
        } else if request_line.starts_with("POST /admin/orders/ORD%2D9/revoke?clip=harbor ") {
            (200, json!({"order_id": "ORD-9", "clip": "harbor", "already_revoked": false}))
        } else if request_line.starts_with("POST /admin/orders/") && request_line.contains("/revoke ") {
            (200, json!({"revoked": true}))
        } else if let Some(id) = request_line.strip_prefix("GET /admin/orders/") {
            // As the Worker answers an order it does not know.
            let id = id.split(' ').next().unwrap_or("").replace("%2D", "-");
            (404, json!({"error": format!("no order {id} in the ledger")}))
        } else {
            (404, json!({"error": "no such order"}))
        };
        Response::json(status, json)
    });
    (base, seen)
}

fn orders(base: &str, token: Option<&str>, args: &[&str]) -> Output {
    let root = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_site-gen"));
    cmd.arg("orders").arg("--worker-url").arg(base).arg("--root").arg(root.path()).args(args);
    cmd.env_remove("CLIPSTORE_ADMIN_TOKEN").env_remove("CLIPSTORE_WORKER_URL");
    if let Some(t) = token {
        cmd.env("CLIPSTORE_ADMIN_TOKEN", t);
    }
    cmd.output().unwrap()
}

#[test]
fn cli_sends_the_bearer_token_and_reports_refusals() {
    let (base, seen) = fake_admin("right-token-0123456789");
    let ok = orders(&base, Some("right-token-0123456789"), &["list"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ORD-9"));

    let revoke = orders(&base, Some("right-token-0123456789"), &["revoke", "ORD-9"]);
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));

    // D1 down: the Worker answers 503, and the owner is told the links still work.
    let down = orders(&base, Some("right-token-0123456789"), &["revoke", "ORD-DOWN"]);
    assert!(!down.status.success());
    let said = String::from_utf8_lossy(&down.stderr);
    assert!(said.contains("503: the ledger is unavailable right now"), "{said}");
    assert!(said.contains("nothing was changed (a revoke has not stopped the links"), "{said}");
    assert!(said.contains("run this command again once the ledger answers"), "{said}");
    // Refused at the order's first reading (the outage review: revoke and
    // reissue said "503" alone, and the owner took the link for stopped).
    let dark = orders(&base, Some("right-token-0123456789"), &["revoke", "ORD-DARK"]);
    assert!(!dark.status.success());
    let said = String::from_utf8_lossy(&dark.stderr);
    assert!(said.contains("nothing was read or changed: run this command again once it answers"), "{said}");
    // Another 503 does not pass by waiting: no such advice (the diff review).
    let off = orders(&base, Some("right-token-0123456789"), &["revoke", "ORD-OFF"]);
    let said = String::from_utf8_lossy(&off.stderr);
    assert!(said.contains("the admin API is disabled") && !said.contains("run this command again"), "{said}");

    let one_clip = orders(&base, Some("right-token-0123456789"), &["revoke", "ORD-9", "--clip", "harbor"]);
    assert!(one_clip.status.success(), "{}", String::from_utf8_lossy(&one_clip.stderr));
    assert!(
        String::from_utf8_lossy(&one_clip.stdout).contains("clip harbor revoked; the order's other clips keep working")
    );

    let resend = orders(&base, Some("right-token-0123456789"), &["resend", "ORD-9", "--to", "a@b.example"]);
    assert!(resend.status.success(), "{}", String::from_utf8_lossy(&resend.stderr));
    let printed = String::from_utf8_lossy(&resend.stdout);
    assert!(
        printed.contains("a fresh link for a@b.example waits in the outbox: the Worker has no mail provider"),
        "{printed}"
    );
    assert!(printed.contains("http://127.0.0.1:8787/download/v1.new"), "{printed}");

    let wrong = orders(&base, Some("wrong-token-0123456789"), &["list"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("401"));

    let missing = orders(&base, None, &["list"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("CLIPSTORE_ADMIN_TOKEN"));

    let outbox = orders(&base, Some("right-token-0123456789"), &["outbox", "--limit", "7"]);
    assert!(outbox.status.success(), "{}", String::from_utf8_lossy(&outbox.stderr));
    let printed = String::from_utf8_lossy(&outbox.stdout);
    assert!(
        printed.contains("buyer@example.com") && printed.contains("http://127.0.0.1:8787/download/v1.abc"),
        "{printed}"
    );

    let unknown = orders(&base, Some("right-token-0123456789"), &["show", "NOPE"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no order NOPE in the ledger"));

    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|l| l.starts_with("POST /admin/orders/ORD%2D9/revoke")), "{seen:?}");
}

/// The owner's typo must not read as done: an order id the ledger does not
/// know is not revoked (unless the owner says it is a link never used), nor
/// a clip the order does not have; an export that could not be written
/// says so; an empty reset window is refused.
#[test]
fn what_is_likely_a_mistake_is_refused_and_changes_nothing() {
    let (base, seen) = fake_admin("right-token-0123456789");
    let token = Some("right-token-0123456789");
    let typo = orders(&base, token, &["revoke", "ORD-6"]);
    assert!(!typo.status.success());
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(err.contains("no order ORD-6 in the ledger") && err.contains("nothing was revoked"), "{err}");
    assert!(err.contains("--not-in-ledger"), "{err}");
    let unused = orders(&base, token, &["revoke", "ORD-6", "--not-in-ledger"]);
    assert!(unused.status.success(), "{}", String::from_utf8_lossy(&unused.stderr));

    let wrong_clip = orders(&base, token, &["revoke", "ORD-9", "--clip", "harbour"]);
    assert!(!wrong_clip.status.success());
    let err = String::from_utf8_lossy(&wrong_clip.stderr);
    assert!(err.contains("order ORD-9 has no clip harbour (its clips: harbor, alpha)"), "{err}");

    let full = orders(&base, token, &["export", "--out", "/dev/full"]);
    assert!(!full.status.success(), "a full disk is not success");
    let err = String::from_utf8_lossy(&full.stderr);
    assert!(err.contains("could not write the attempts to /dev/full"), "{err}");
    let typo = orders(&base, token, &["export", "--order", "ORD-6", "--out", "/dev/null"]);
    assert!(!typo.status.success(), "a typo's export of headers alone is not success");
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(err.contains("no order ORD-6 in the ledger: nothing was exported"), "{err}");
    let nowhere = orders(&base, token, &["export", "--out", "/nonexistent-dir/a.csv"]);
    assert!(!nowhere.status.success());
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("/nonexistent-dir/a.csv"));

    // A reset of a typo gave back nothing and said "given back for 0 clip(s)".
    let typo = orders(&base, token, &["reset", "ORD-6"]);
    assert!(!typo.status.success());
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(err.contains("no order ORD-6 in the ledger: nothing was reset"), "{err}");
    let wrong_clip = orders(&base, token, &["reset", "ORD-9", "--clip", "harbour"]);
    assert!(!wrong_clip.status.success());
    let err = String::from_utf8_lossy(&wrong_clip.stderr);
    assert!(err.contains("order ORD-9 has no clip harbour (its clips: harbor, alpha); nothing was reset"), "{err}");
    let reset = orders(&base, token, &["reset", "ORD-9", "--clip", "harbor"]);
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    let out = String::from_utf8_lossy(&reset.stdout);
    assert!(
        out.contains("Order ORD-9: nothing to give back: no download of clip harbor is in the ledger yet"),
        "{out}"
    );

    let window = orders(&base, token, &["reset", "--since", "2026-11-12", "--until", "2026-11-12"]);
    assert!(!window.status.success());
    assert!(String::from_utf8_lossy(&window.stderr).contains("the window is empty"));

    let seen = seen.lock().unwrap();
    let revokes: Vec<&String> = seen.iter().filter(|l| l.contains("/revoke")).collect();
    assert_eq!(revokes, ["POST /admin/orders/ORD%2D6/revoke HTTP/1.1"], "only the one the owner confirmed");
    assert!(!seen.iter().any(|l| l.contains("reissue") || l.contains("/admin/reset")), "{seen:?}");
    let resets: Vec<&String> = seen.iter().filter(|l| l.contains("/reset")).collect();
    assert_eq!(resets, ["POST /admin/orders/ORD%2D9/reset?clip=harbor HTTP/1.1"], "only the order and clip that exist");
}

/// A reissue of an order revoked for a refund needs --despite-refund; the
/// check comes before anything is changed.
#[test]
fn a_refunded_order_is_reissued_only_when_the_owner_says_so() {
    let (base, seen) = fake_admin("right-token-0123456789");
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
    let keygen = Command::new(env!("CARGO_BIN_EXE_site-gen")).args(["token", "keygen", "--id", "k1"]).output().unwrap();
    let key = String::from_utf8_lossy(&keygen.stdout).trim().to_string();
    let reissue = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(["orders", "--worker-url", &base, "--root", shop.to_str().unwrap(), "reissue", "ORD-REFUNDED"])
            .args(["--base-url", "http://127.0.0.1:8787/download"])
            .args(extra)
            .env("CLIPSTORE_ADMIN_TOKEN", "right-token-0123456789")
            .env("CLIPSTORE_SIGNING_KEY", &key)
            .env_remove("CLIPSTORE_TOKEN_KEYS")
            .output()
            .unwrap()
    };
    let refused = reissue(&[]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(err.contains("order ORD-REFUNDED was revoked because its payment was refunded"), "{err}");
    assert!(err.contains("--despite-refund") && err.contains("nothing was changed"), "{err}");
    assert!(!seen.lock().unwrap().iter().any(|l| l.contains("reissue")));
    // With the flag, the Worker is asked, and the owner told that the
    // order's downloads work again.
    let done = reissue(&["--despite-refund"]);
    let said = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{said}");
    assert!(
        said.contains("The order was revoked (refunded): the reissue ended that, and its downloads work again"),
        "{said}"
    );
    let asked = seen
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("POST /admin/orders/ORD%2DREFUNDED/reissue?valid_for=2592000 "));
    assert!(asked, "the new link's 30 days become the order's expiry: {:?}", seen.lock().unwrap());
}

/// The Worker signs a reissued order's link: no signing key is needed on
/// the owner's machine (it was, and reissue failed for an owner who had
/// followed "no key is needed here").
#[test]
fn a_reissue_needs_no_signing_key_here() {
    let (base, _) = fake_admin("right-token-0123456789");
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
    let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["orders", "--worker-url", &base, "--root", shop.to_str().unwrap(), "reissue", "ORD-ALPHA"])
        .env("CLIPSTORE_ADMIN_TOKEN", "right-token-0123456789")
        .env_remove("CLIPSTORE_SIGNING_KEY")
        .env_remove("CLIPSTORE_TOKEN_KEYS")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "https://shop.example/download/v1.signed-by-the-worker\n");
    assert!(stderr.contains("Order ORD-ALPHA: new link for alpha"), "{stderr}");
}

/// A reissue mails the new link where the order's last link mail went (an
/// address the owner corrected with `resend --to`), not the checkout's
/// typo again; `--to` chooses; `--no-mail` mails nothing; a refusal is
/// said with the Worker's reason (the diff review).
#[test]
fn a_reissue_mails_where_the_last_link_went() {
    let (base, seen) = fake_admin("right-token-0123456789");
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
    let reissue = |order: &str, extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(["orders", "--worker-url", &base, "--root", shop.to_str().unwrap(), "reissue", order])
            .args(extra)
            .env("CLIPSTORE_ADMIN_TOKEN", "right-token-0123456789")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let resends = || seen.lock().unwrap().iter().filter(|l| l.contains("/resend")).cloned().collect::<Vec<_>>();
    let said = reissue("ORD-ALPHA", &[]);
    assert!(said.contains("a mail with a fresh link to right@b.example waits in the outbox"), "{said}");
    let asked = resends();
    assert!(
        asked.len() == 1 && asked[0].starts_with("POST /admin/orders/ORD%2DALPHA/resend?to=right%40b"),
        "{asked:?}"
    );
    let said = reissue("ORD-ALPHA", &["--to", "other@b.example"]);
    assert!(said.contains("to other@b.example waits"), "{said}");
    let said = reissue("ORD-ALPHA", &["--no-mail"]);
    assert!(said.contains("send the customer this link, or `site-gen orders resend ORD-ALPHA --to ADDRESS`"), "{said}");
    assert_eq!(resends().len(), 2, "--no-mail asks for no mail");
    let said = reissue("ORD-REFUNDED", &["--despite-refund"]);
    assert!(
        said.contains("no mail went out (no e-mail address is known for order ORD-REFUNDED; give one with --to): send the customer this link"),
        "{said}"
    );
}

/// `orders create` puts the order in the ledger and mails its link; an id
/// that exists is refused without touching it.
#[test]
fn an_order_created_by_hand_is_mailed_its_link() {
    let (base, seen) = fake_admin("right-token-0123456789");
    let token = Some("right-token-0123456789");
    let made =
        orders(&base, token, &["create", "ORD-NEW", "--clip", "harbor", "--clip", "alpha:hd", "--to", "c@d.example"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let out = String::from_utf8_lossy(&made.stdout);
    assert!(out.contains("Order ORD-NEW created: 2 clip(s), 5 download(s) each."), "{out}");
    assert!(out.contains("e-mailed to c@d.example: sent") && out.contains("/download/v1.created"), "{out}");
    let created = seen.lock().unwrap().iter().find(|l| l.starts_with("created ")).cloned().unwrap();
    let body: serde_json::Value = serde_json::from_str(&created["created ".len()..]).unwrap();
    assert_eq!(body["clips"], json!(["harbor", "alpha:hd"]));
    assert_eq!(body["downloads"], 5);
    let in_30_days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 30 * 86_400;
    assert!(body["expires_at"].as_u64().unwrap().abs_diff(in_30_days) < 60, "{body}");
    assert_eq!(body["customer_email"], "c@d.example", "kept, so that link recovery finds the order");
    assert_eq!((&body["session_id"], &body["payment_id"]), (&json!(null), &json!(null)));

    let stripe = ["create", "ORD-S", "--clip", "harbor", "--to", "c@d.example", "--session", "cs_test_a1", "--payment"];
    let linked = orders(&base, token, &[&stripe[..], &["pi_3Ab"]].concat());
    // (The fake mails only ORD-NEW.)
    assert!(String::from_utf8_lossy(&linked.stdout).contains("Order ORD-S created"));
    let created = seen.lock().unwrap().iter().rev().find(|l| l.starts_with("created ")).cloned().unwrap();
    let body: serde_json::Value = serde_json::from_str(&created["created ".len()..]).unwrap();
    assert_eq!((&body["session_id"], &body["payment_id"]), (&json!("cs_test_a1"), &json!("pi_3Ab")));
    let wrong = orders(&base, token, &[&stripe[..], &["ch_3Ab"]].concat());
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--payment \"ch_3Ab\" is not a Stripe id (pi_..."));

    let typo = orders(&base, token, &["create", "ORD-NEW2", "--clip", "harbor", "--to", "c@d"]);
    assert!(!typo.status.success());
    assert!(String::from_utf8_lossy(&typo.stderr)
        .contains("is not an e-mail address (name@example.com): nothing was created"));
    // A space in the id: the Worker could not sign its link, and answered
    // "the ledger is unavailable", which sent the owner looking for an outage.
    let spaced = orders(&base, token, &["create", "ORD 2001", "--clip", "harbor", "--to", "c@d.example"]);
    assert!(!spaced.status.success());
    let err = String::from_utf8_lossy(&spaced.stderr);
    assert!(err.contains("\"ORD 2001\" cannot be an order id (an order id is 1-64 printable ASCII characters without spaces, like ORD-2001): nothing was created"), "{err}");
    // More clips than one link covers: said so, nothing sent (the scale
    // review: "the ledger is unavailable", to be tried again).
    let mut many = vec!["create", "ORD-BIG"];
    for _ in 0..65 {
        many.extend(["--clip", "harbor"]);
    }
    many.extend(["--to", "c@d.example"]);
    let big = orders(&base, token, &many);
    assert!(!big.status.success());
    let err = String::from_utf8_lossy(&big.stderr);
    assert!(
        err.contains("one order (one link) covers at most 64 clips, not 65: make two orders: nothing was created"),
        "{err}"
    );
    let creates = seen.lock().unwrap().iter().filter(|l| l.starts_with("POST /admin/orders HTTP")).count();
    assert_eq!(creates, 2, "only ORD-NEW and ORD-S were asked for, not the orders with a bad id, address or payment");

    let exists = orders(&base, token, &["create", "ORD-9", "--clip", "harbor", "--to", "c@d.example"]);
    assert!(!exists.status.success());
    let err = String::from_utf8_lossy(&exists.stderr);
    assert!(err.contains("order ORD-9 already exists: nothing was created"), "{err}");
    assert!(
        !seen.lock().unwrap().iter().any(|l| l.contains("ORD%2D9/resend?to=c")),
        "no mail for an order not created"
    );
}

/// A token the Worker could never hold is refused before anything is sent,
/// and never printed.
#[test]
fn an_admin_token_of_the_wrong_shape_is_refused_unsent() {
    let (base, seen) = fake_admin("right-token-0123456789");
    for (token, why) in [
        ("right-token-0123456789\u{201d}", "the character '\u{201d}'"),
        ("right-token\n0123456789", "a line break or control character"),
        ("short-token", "11 characters long"),
    ] {
        let out = orders(&base, Some(token), &["list"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("the admin token from CLIPSTORE_ADMIN_TOKEN is not one the Worker can have"), "{err}");
        assert!(err.contains(why), "{why}: {err}");
        assert!(!err.contains("0123456789"), "the token is not shown: {err}");
    }
    assert!(seen.lock().unwrap().is_empty());
    // Spaces inside are kept by the Worker (it trims only the ends): such a
    // token is sent, and refused only by the Worker, for being wrong.
    let spaced = orders(&base, Some("right token 0123456789"), &["list"]);
    assert!(String::from_utf8_lossy(&spaced.stderr).contains("401"), "{}", String::from_utf8_lossy(&spaced.stderr));
}

#[test]
fn the_admin_token_never_travels_in_clear_text() {
    for ok in ["https://shop.example", "http://127.0.0.1:8787", "http://localhost:8787/", "http://[::1]:8787"] {
        assert!(safe_for_token(ok), "{ok}");
    }
    for bad in [
        "http://shop.example",
        "http://127.0.0.1.evil.example",
        "http://localhost.evil.example:80",
        // What the HTTP client reads as host evil.example (`\` is `/`).
        "http://evil.example\\@127.0.0.1:9",
        "http://evil.example\\127.0.0.1",
        "http://127.0.0.1:9@evil.example",
        "http://127.0.0.2",
        "ftp://x",
        "shop.example",
    ] {
        assert!(!safe_for_token(bad), "{bad}");
    }
    // The CLI refuses before connecting: the fake server sees nothing.
    let (base, seen) = fake_admin("right-token-0123456789");
    let port = base.rsplit(':').next().unwrap();
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    for cmd in [vec!["orders", "list"], vec!["doctor"], vec!["push"]] {
        let url = format!("http://shop.example:{port}");
        let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(&cmd)
            .args(["--worker-url", &url, "--root"])
            .arg(&shop)
            .env("CLIPSTORE_ADMIN_TOKEN", "right-token-0123456789")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("refusing to send the admin token to http://shop.example"), "{cmd:?}: {err}");
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn a_worker_address_with_a_unicode_domain_is_refused_with_what_to_write() {
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["orders", "list", "--worker-url", "https://bäckerei.example", "--root"])
        .arg(&shop)
        .env("CLIPSTORE_ADMIN_TOKEN", "right-token-0123456789")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("xn--") && stderr.contains("bäckerei.example"), "{stderr}");
}

/// A reissue stops the order's old links: it is refused, and the Worker not
/// asked, when the new link could not be minted (a clip left the catalog).
#[test]
fn a_reissue_that_could_not_mint_changes_nothing() {
    let (base, seen) = fake_admin("right-token-0123456789");
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
    let keygen = Command::new(env!("CARGO_BIN_EXE_site-gen")).args(["token", "keygen", "--id", "k1"]).output().unwrap();
    let key = String::from_utf8_lossy(&keygen.stdout).trim().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["orders", "--worker-url", &base, "--root", shop.to_str().unwrap(), "reissue", "ORD-GONE"])
        .args(["--base-url", "http://127.0.0.1:8787/download"])
        .env("CLIPSTORE_ADMIN_TOKEN", "right-token-0123456789")
        .env("CLIPSTORE_SIGNING_KEY", &key)
        .env_remove("CLIPSTORE_TOKEN_KEYS")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("order ORD-GONE cannot be reissued, nothing was changed"), "{err}");
    assert!(err.contains("harbor"), "names the clip: {err}");
    // What works: a new order for the clips still for sale; never a link
    // minted under the same id, which would take the order over.
    assert!(err.contains("`site-gen orders create ORD-GONE-2 --to ADDRESS --clip …`"), "{err}");
    assert!(!err.contains("token mint --order ORD-GONE"), "{err}");
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|l| l.starts_with("GET /admin/orders/ORD%2DGONE ")), "{seen:?}");
    assert!(!seen.iter().any(|l| l.contains("reissue")), "the Worker was not asked: {seen:?}");
}

/// A resend says what became of its own message, found in the outbox by
/// its link, not what the batch delivered: another message sent in the same
/// batch does not make this one "sent"; a refusal is told with its reason.
#[test]
fn a_resend_reports_its_own_message() {
    let (base, _) = fake_admin("right-token-0123456789");
    let token = Some("right-token-0123456789");
    let batch = orders(&base, token, &["resend", "ORD-BATCH"]);
    assert!(batch.status.success(), "{}", String::from_utf8_lossy(&batch.stderr));
    let out = String::from_utf8_lossy(&batch.stdout);
    assert!(out.contains("a fresh link for e@f.example is queued in the outbox") && !out.contains(": sent."), "{out}");
    let refused = orders(&base, token, &["resend", "ORD-REFUSED"]);
    let out = String::from_utf8_lossy(&refused.stdout);
    assert!(out.contains("the mail provider refused the message to bad@f.example: 422: invalid `to` address"), "{out}");
    assert!(out.contains("http://127.0.0.1:8787/download/v1.refused"), "the link is printed: {out}");
}

/// Without --worker-url or CLIPSTORE_WORKER_URL, the Worker is where the
/// shop's download links go (download_base_url, without its /download),
/// said on stderr; never a placeholder address, where the admin token
/// would go to a stranger.
#[test]
fn the_worker_defaults_to_where_the_download_links_go_but_never_a_placeholder() {
    let (base, seen) = fake_admin("right-token-0123456789");
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("content")).unwrap();
    let settings = |download: &str| {
        let toml = format!(
            "title = \"Shop\"\nbase_url = \"https://a.example\"\ncurrency = \"EUR\"\ncontact_email = \"a@a.example\"\ndownload_base_url = \"{download}\"\n"
        );
        std::fs::write(root.path().join("content/site.toml"), toml).unwrap();
    };
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(["orders", "--root", root.path().to_str().unwrap(), "list"])
            .env_remove("CLIPSTORE_WORKER_URL")
            .env("CLIPSTORE_ADMIN_TOKEN", "right-token-0123456789")
            .output()
            .unwrap()
    };
    settings(&format!("{base}/download"));
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ORD-9"));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains(&format!("The Worker at {base} (download_base_url in content/site.toml")));
    let asked = seen.lock().unwrap().len();
    settings("https://change-me.example/download");
    let o = run();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no Worker address"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(seen.lock().unwrap().len(), asked, "nothing sent");
}

/// A Worker address that redirects (www. to the bare domain): the owner is
/// told where to, and the token is not sent on. It said "the Worker
/// answered 301: " with nothing after it, or "Failed to read JSON".
#[test]
fn a_redirecting_address_is_named_with_where_it_points() {
    let asked = Arc::new(Mutex::new(0));
    let count = asked.clone();
    let base = http::serve(move |_| {
        *count.lock().unwrap() += 1;
        Response::empty(301).header("location", "http://localhost:9/admin/orders?limit=20")
    });
    for args in [&["list"][..], &["show", "ORD-9"][..]] {
        let out = orders(&base, Some("right-token-0123456789"), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(err.contains("answered 301, a redirect to http://localhost:9/admin/orders?limit=20"), "{err}");
        // Another site: no address is suggested to send the token to.
        assert!(err.contains("check that --worker-url") && !err.contains("--worker-url http"), "{err}");
    }
    assert_eq!(*asked.lock().unwrap(), 2, "one request each, not followed");
    // The same site at another address (a port, https, www. or not): the
    // address it answers at is suggested.
    let same = http::serve(|_| Response::empty(308).header("location", "https://127.0.0.1:9/admin/orders?limit=20"));
    let out = orders(&same, Some("right-token-0123456789"), &["list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("answered 308") && err.contains("--worker-url https://127.0.0.1:9 (or"), "{err}");
}
