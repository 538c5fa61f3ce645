//! `site-gen doctor` against a small fake of the Worker's admin API on
//! loopback: what it gathers besides the health answer (the payment events
//! the Worker verified) decides whether a Worker without a mail provider
//! fails. (The report itself: the unit tests in `src/doctor.rs`; the real
//! Worker: `edge-worker/tests/monitoring.test.mjs`.)

mod common;

use std::process::{Command, Output};

use common::http::{self, Response};
use serde_json::{json, Value};

const TOKEN: &str = "doctor-test-token-0123456789";

/// A Worker with no mail provider and no clips, whose `/admin/payments`
/// answers `payments`.
fn fake_worker(payments: Value) -> String {
    http::serve(move |request| {
        let target = request.target.as_str();
        let body = if target.starts_with("/admin/health") {
            json!({ "ok": true, "checks": [
                { "name": "ledger", "ok": true, "detail": "D1 reachable" },
                { "name": "mail", "ok": true, "detail": "no mail provider (RESEND_API_KEY is not set): e-mail stays in the outbox" },
            ]})
        } else if target.starts_with("/admin/catalog") {
            json!({ "total": 0, "offset": 0, "clips": [] })
        } else if target.starts_with("/admin/payments") {
            json!({ "payments": payments })
        } else {
            json!({ "error": "no such route" })
        };
        Response::json(200, body)
    })
}

fn doctor(base: &str) -> Output {
    let root = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["doctor", "--worker-url", base, "--root"])
        .arg(root.path())
        .env("CLIPSTORE_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A Worker that has verified Stripe's events takes payments: without a
/// mail provider its customers get no link by mail, so doctor fails. A
/// refused delivery (no event id: anyone can post one) is no such sign.
#[test]
fn no_mail_provider_fails_once_the_worker_has_had_stripe_s_events() {
    let paid = doctor(&fake_worker(json!([
        { "at": 1_764_000_000_000_i64, "status": 200, "outcome": "order_created", "event_id": "evt_1", "order_id": "ORD-1" }
    ])));
    let said = text(&paid);
    assert!(!paid.status.success(), "{said}");
    assert!(said.contains("FAIL  mail: no mail provider"), "{said}");
    assert!(said.contains("the Worker has received Stripe's payment events"), "{said}");
    assert!(said.contains("customers who pay get no download link by e-mail"), "{said}");
    assert!(said.contains("mail.md"), "{said}");

    let refused = doctor(&fake_worker(json!([
        { "at": 1_764_000_000_000_i64, "status": 400, "outcome": "bad_signature", "event_id": null }
    ])));
    let said = text(&refused);
    assert!(refused.status.success(), "{said}");
    assert!(said.contains("warn  mail: no mail provider"), "{said}");
}
