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

/// Doctor run where there is no shop says so; run on a shop with a mistake
/// it fails and names the file (it said "content/ could not be loaded", and
/// let the run pass). A malformed signing key is named, not left out.
#[test]
fn a_shop_that_does_not_build_and_a_key_that_cannot_sign_are_named() {
    let base = fake_worker(json!([]));
    let said = text(&doctor(&base));
    assert!(said.contains("warn  no shop in ") && said.contains("give --root"), "{said}");

    let root = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
    copy_dir(&fixture, root.path());
    let clip = root.path().join("content/clips/alpha.md");
    let text_of_clip = std::fs::read_to_string(&clip).unwrap();
    std::fs::write(&clip, text_of_clip.replacen("+++\n", "+++\nprice = \"cheap\"\n", 1)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["doctor", "--worker-url", &base, "--root"])
        .arg(root.path())
        .env("CLIPSTORE_ADMIN_TOKEN", TOKEN)
        .env("CLIPSTORE_SIGNING_KEY", "k1:not-a-key")
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("FAIL  content/ in ") && said.contains("does not build (1 mistake): not compared"), "{said}");
    assert!(said.contains("alpha.md") && said.contains("`site-gen check --root "), "{said}");
    assert!(said.contains("warn  minting key: ") && said.contains("CLIPSTORE_SIGNING_KEY"), "{said}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A catalog report that does not come whole (the Worker waiting on a
/// secondary origin that hangs, until the connection is given up) is said
/// as such, beside the health checks already had: doctor printed "could
/// not reach the Worker" alone (the outage review).
#[test]
fn a_catalog_report_that_does_not_come_is_said_beside_the_checks() {
    let base = http::serve(move |request| {
        let target = request.target.as_str();
        if target.starts_with("/admin/health") {
            Response::json(
                200,
                json!({ "ok": true, "checks": [{ "name": "ledger", "ok": true, "detail": "D1 reachable" }]}),
            )
        } else if target.starts_with("/admin/catalog") {
            // Cut off: fewer bytes than announced.
            Response::empty(200)
                .header("content-type", "application/json")
                .header("content-length", "500")
                .body("{\"total\": 3")
        } else {
            Response::json(404, json!({ "error": "no such route" }))
        }
    });
    let o = doctor(&base);
    let said = text(&o);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("the catalog report did not come ("), "{said}");
    assert!(said.contains("see the `storage` and `secondary` checks above"), "{said}");
    assert!(said.contains("D1 reachable"), "the checks had are reported: {said}");
    assert!(!said.contains("could not reach the Worker"), "{said}");
}

/// A clip of content/ whose page the deployed site serves while the
/// deployed Worker's catalog lacks it fails, asked of the site itself
/// (`HEAD /clips/<slug>/`; the warning for a page not deployed yet is in
/// the unit tests). The deploy review: the site sold a clip the Worker
/// refused at checkout, and doctor only warned.
#[test]
fn a_clip_the_deployed_site_sells_without_the_worker_fails() {
    let shop = tempfile::tempdir().unwrap();
    copy_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/small-shop")), shop.path());
    // A file of a clip the Worker sells, added since: the deployed page
    // offers it, the Worker lacks it (the diff review).
    let alpha = shop.path().join("content/clips/alpha.md");
    let page = std::fs::read_to_string(&alpha).unwrap().replacen(
        "tags = [\"Sea\", \"dawn\"]\n",
        "tags = [\"Sea\", \"dawn\"]\n\n[[variants]]\nid = \"4k\"\nlabel = \"4K\"\nresolution = \"3840x2160\"\nprice = 40.00\nfile = \"clips/alpha-4k.mp4\"\nfile_name = \"Alpha (4K).mp4\"\nsize = 5000\n",
        1,
    );
    std::fs::write(&alpha, page).unwrap();
    let base = http::serve(move |request| {
        let target = request.target.as_str();
        if request.line().starts_with("HEAD ") {
            return Response::empty(if target == "/clips/beta/" { 200 } else { 404 });
        }
        if request.line().starts_with("GET /clips/alpha/") {
            return Response::empty(200).header("content-type", "text/html").body(
                r#"<script type="application/ld+json">{"offers":[{"sku":"alpha"},{"sku":"alpha:4k"}]}</script>"#,
            );
        }
        let body = if target.starts_with("/admin/health") {
            json!({ "ok": true, "checks": [{ "name": "ledger", "ok": true, "detail": "D1 reachable" }] })
        } else if target.starts_with("/admin/catalog") {
            json!({ "total": 1, "offset": 0, "clips": [
                { "slug": "alpha", "object_key": "clips/alpha.mp4", "size": 1000, "found": { "size": 1000 }, "problem": null }
            ]})
        } else {
            json!({ "error": "no such route" })
        };
        Response::json(200, body)
    });
    let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["doctor", "--worker-url", &base, "--root"])
        .arg(shop.path())
        .env("CLIPSTORE_ADMIN_TOKEN", TOKEN)
        .env_remove("CLIPSTORE_SIGNING_KEY")
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("FAIL  clip beta is on the deployed site (its page /clips/beta/ offers it)"), "{said}");
    assert!(said.contains("FAIL  clip alpha:4k is on the deployed site (its page /clips/alpha/ offers it)"), "{said}");
    assert_eq!(said.matches("  FAIL  ").count(), 2, "{said}");
}
