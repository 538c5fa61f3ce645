//! `site-gen doctor` against a small fake of the Worker's admin API on
//! loopback: what it gathers besides the health answer (the payment events
//! the Worker verified) decides whether a Worker without a mail provider
//! fails. (The report itself: the unit tests in `src/doctor.rs`; the real
//! Worker: `edge-worker/tests/monitoring.test.mjs`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use serde_json::{json, Value};

const TOKEN: &str = "doctor-test-token-0123456789";

/// A Worker with no mail provider and no clips, whose `/admin/payments`
/// answers `payments`; one request per connection.
fn fake_worker(payments: Value) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap();
                    }
                }
            }
            reader.read_exact(&mut vec![0; length]).unwrap();
            let target = request_line.split_whitespace().nth(1).unwrap_or("");
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
            }
            .to_string();
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    base
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
