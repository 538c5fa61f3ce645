//! `site-gen doctor`: checks, from the owner's machine and through the
//! Worker's admin API, that the shop can deliver what it sells: the Worker's
//! deep health check (storage, ledger, catalog, signing keys, alerts, the
//! secondary origin), every catalog clip in the bucket (and in the secondary
//! origin, when there is one) with the right size and hash, and the deployed
//! catalog against `content/` (docs/monitoring.md).
//!
//! The HTTP calls are in [`run`]; the report is a pure function of the
//! answers ([`Report::new`]), tested natively.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clipstore_core::CatalogManifest;
use serde_json::Value;

use crate::orders::{admin_token, resolve_worker_url, AdminClient, OrdersError};

/// `site-gen doctor`
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// The Worker's address (default: $CLIPSTORE_WORKER_URL).
    #[arg(long, value_name = "URL")]
    pub worker_url: Option<String>,
    /// The shop's folder: content/ to compare with the deployed catalog, and
    /// its .dev.vars for a local admin token.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
}

/// Clips per `/admin/catalog` page (each clip is one R2 call in the Worker).
const PAGE: usize = 40;

/// What doctor found: printable lines and the number of problems.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: Vec<String>,
    pub problems: usize,
    pub warnings: usize,
}

impl Report {
    fn ok(&mut self, s: String) {
        self.lines.push(format!("  ok    {s}"));
    }

    fn fail(&mut self, s: String) {
        self.problems += 1;
        self.lines.push(format!("  FAIL  {s}"));
    }

    fn warn(&mut self, s: String) {
        self.warnings += 1;
        self.lines.push(format!("  warn  {s}"));
    }

    /// Builds the report from the deep health answer, the catalog report's
    /// clips (`GET /admin/catalog`, or why they could not be had) and the
    /// local catalog (None when `content/` could not be loaded). What could
    /// not be checked is a problem: a report with nothing checked must never
    /// read "All good".
    pub fn new(health: &Value, remote: Result<&[Value], String>, local: Option<&CatalogManifest>) -> Report {
        let mut r = Report::default();
        r.lines.push("The Worker's checks:".into());
        let Some(checks) = health.get("checks").and_then(Value::as_array) else {
            let why = health.get("error").and_then(Value::as_str).map_or_else(|| health.to_string(), str::to_string);
            r.fail(format!("the Worker's health check did not run: {why}"));
            return r.bucket(remote, local);
        };
        for check in checks {
            let name = check.get("name").and_then(Value::as_str).unwrap_or("?");
            let detail = check.get("detail").and_then(Value::as_str).unwrap_or("");
            match check.get("ok").and_then(Value::as_bool) {
                Some(true) if name == "alerts" && detail.contains("not set") => r.warn(format!("{name}: {detail}")),
                // Passing, but the self-test has problems it alerted of, or
                // has never run (no cron trigger?).
                Some(true) if detail.contains("open incident") || detail.contains("has not run yet") => {
                    r.warn(format!("{name}: {detail}"))
                }
                Some(true) => r.ok(format!("{name}: {detail}")),
                _ => r.fail(format!("{name}: {detail}")),
            }
        }
        r.bucket(remote, local)
    }

    /// The bucket's part of the report, and the deployed catalog against
    /// `content/`.
    fn bucket(mut self, remote: Result<&[Value], String>, local: Option<&CatalogManifest>) -> Report {
        let r = &mut self;
        let remote = match remote {
            Ok(clips) => clips,
            Err(why) => {
                r.lines.push("The bucket:".into());
                r.fail(format!("could not be checked: {why}"));
                return self;
            }
        };
        r.lines.push(format!("The bucket ({} catalog clips):", remote.len()));
        let (mut verified, mut size_only) = (0, 0);
        for clip in remote {
            let slug = clip.get("slug").and_then(Value::as_str).unwrap_or("?");
            let key = clip.get("object_key").and_then(Value::as_str).unwrap_or("?");
            match clip.get("problem").filter(|p| !p.is_null()) {
                Some(p) => r.fail(format!("clip {slug} ({key}): {}", describe(p))),
                None => {
                    let expected = clip.get("sha256").and_then(Value::as_str);
                    let found = clip.pointer("/found/sha256").and_then(Value::as_str);
                    if expected.is_some() && found.is_some() {
                        verified += 1;
                    } else {
                        size_only += 1;
                    }
                }
            }
        }
        if verified > 0 {
            r.ok(format!("{verified} clip(s) present with the right size and sha256"));
        }
        if size_only > 0 {
            r.warn(format!(
                "{size_only} clip(s) present with the right size; sha256 not compared (no hash in the catalog or the bucket; `site-gen push` records it in the catalog and uploads with it)"
            ));
        }

        r.secondary(remote);

        r.lines.push("The deployed catalog against content/:".into());
        let Some(local) = local else {
            r.warn("content/ could not be loaded: not compared".into());
            return self;
        };
        let deployed: BTreeMap<&str, &Value> =
            remote.iter().filter_map(|c| Some((c.get("slug")?.as_str()?, c))).collect();
        let before = r.problems + r.warnings;
        let files = local.files();
        for (slug, clip) in &files {
            match deployed.get(slug.as_str()) {
                None => r.warn(format!(
                    "clip {slug} is in content/ but not in the deployed Worker: build and deploy to sell it"
                )),
                Some(d) => {
                    let size = d.get("size").and_then(Value::as_u64);
                    let sha = d.get("sha256").and_then(Value::as_str);
                    if size != Some(clip.size) || sha != clip.sha256.as_deref() {
                        r.warn(format!(
                            "clip {slug}: content/ says {} bytes{}, the deployed Worker {} bytes{}: build and deploy",
                            clip.size,
                            clip.sha256.as_deref().map(|s| format!(" sha256 {s}")).unwrap_or_default(),
                            size.unwrap_or(0),
                            sha.map(|s| format!(" sha256 {s}")).unwrap_or_default()
                        ))
                    }
                }
            }
        }
        for slug in deployed.keys().filter(|s| !files.iter().any(|(name, _)| name == **s)) {
            r.warn(format!(
                "clip {slug} is sold by the deployed Worker but is no longer in content/: deployed, that build would answer \"Not found\" to the download links of everyone who bought it; put its file back in content/clips/ unless none was sold"
            ));
        }
        if r.problems + r.warnings == before {
            r.ok("the deployed catalog matches content/".into());
        }
        self
    }

    /// The secondary origin's copy of each clip (docs/secondary-origin.md),
    /// when the Worker has one (its catalog entries carry `secondary`).
    fn secondary(&mut self, remote: &[Value]) {
        let copies: Vec<&Value> = remote.iter().filter(|c| c.get("secondary").is_some()).collect();
        if copies.is_empty() {
            return;
        }
        self.lines.push(format!("The secondary origin ({} catalog clips):", copies.len()));
        let mut good = 0;
        for clip in copies {
            let slug = clip.get("slug").and_then(Value::as_str).unwrap_or("?");
            let key = clip.get("object_key").and_then(Value::as_str).unwrap_or("?");
            match clip.pointer("/secondary/problem").filter(|p| !p.is_null()) {
                Some(p) => self.fail(format!("clip {slug} ({key}) in the secondary: {}", describe(p))),
                None => good += 1,
            }
        }
        if good > 0 {
            self.ok(format!(
                "{good} clip(s) present in the secondary with the catalog's size (and sha256 where known)"
            ));
        }
    }

    pub fn summary(&self) -> String {
        match (self.problems, self.warnings) {
            (0, 0) => "All good.".into(),
            (0, w) => format!("No problems; {w} warning(s)."),
            (p, _) => {
                format!("{p} problem(s): customers' downloads may fail. See {}.", crate::guides::guide("monitoring.md"))
            }
        }
    }
}

fn describe(problem: &Value) -> String {
    let n = |k: &str| problem.get(k).map(Value::to_string).unwrap_or_default();
    match problem.get("problem").and_then(Value::as_str) {
        Some("missing") => "missing from the bucket (upload it: `site-gen push`)".into(),
        Some("wrong_size") => {
            format!("wrong size: {} bytes in the bucket, the catalog says {}", n("found"), n("expected"))
        }
        Some("wrong_hash") => format!("wrong sha256: {} in the bucket, the catalog says {}", n("found"), n("expected")),
        Some("unavailable") => problem.get("detail").and_then(Value::as_str).unwrap_or("unavailable").to_string(),
        _ => problem.to_string(),
    }
}

/// Runs `site-gen doctor`: 0 when nothing failed, 1 otherwise.
pub fn run(args: DoctorArgs) -> Result<ExitCode, OrdersError> {
    let client = AdminClient::new(&resolve_worker_url(args.worker_url.as_deref())?, &admin_token(&args.root)?)?;
    let (_, health) = client.get_report("/admin/health")?;
    let mut remote = Vec::new();
    let mut refused = None;
    loop {
        let (status, page) = client.get_report(&format!("/admin/catalog?offset={}&limit={PAGE}", remote.len()))?;
        if status != 200 {
            let error = page.get("error").and_then(Value::as_str).unwrap_or("unknown error");
            refused = Some(format!("the Worker answered {status}: {error}"));
            break;
        }
        let clips = page.get("clips").and_then(Value::as_array).cloned().unwrap_or_default();
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
        let got = clips.len();
        remote.extend(clips);
        if got == 0 || remote.len() >= total {
            break;
        }
    }
    let local = crate::load_shop(&args.root).ok().map(|shop| crate::render::manifest(&shop));
    let report = Report::new(&health, refused.map_or(Ok(&remote[..]), Err), local.as_ref());
    println!("site-gen doctor: {}", client.base());
    for line in &report.lines {
        println!("{line}");
    }
    println!("{}", report.summary());
    Ok(if report.problems == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use clipstore_core::{ManifestClip, ShopInfo};
    use serde_json::json;

    use super::*;

    fn local(clips: &[(&str, u64, Option<&str>)]) -> CatalogManifest {
        let mut m = CatalogManifest::new(ShopInfo {
            title: "S".into(),
            base_url: "https://s.example".into(),
            contact_email: "a@s.example".into(),
            currency: "EUR".into(),
            stylesheet: "/css/site.css".into(),
            licences: Vec::new(),
        });
        for (slug, size, sha) in clips {
            m.clips.insert(
                slug.to_string(),
                ManifestClip {
                    title: slug.to_string(),
                    object_key: format!("clips/{slug}.mp4"),
                    file_name: format!("{slug}.mp4"),
                    size: *size,
                    content_type: "video/mp4".into(),
                    price: 1800,
                    sha256: sha.map(str::to_string),
                    variant: None,
                    variants: Default::default(),
                },
            );
        }
        m
    }

    #[test]
    fn report_names_every_problem() {
        let health = json!({ "ok": false, "checks": [
            { "name": "storage", "ok": true, "detail": "R2 bucket reachable" },
            { "name": "signing_keys", "ok": false, "detail": "the TOKEN_KEYS secret is not set" },
            { "name": "alerts", "ok": true, "detail": "ALERT_WEBHOOK_URL is not set: alerts only go to the logs" },
        ]});
        let remote = vec![
            json!({ "slug": "a", "object_key": "clips/a.mp4", "size": 10, "sha256": "aa", "found": { "size": 10, "sha256": "aa" }, "problem": null }),
            json!({ "slug": "b", "object_key": "clips/b.mp4", "size": 10, "sha256": null, "found": null, "problem": { "problem": "missing" } }),
            json!({ "slug": "c", "object_key": "clips/c.mp4", "size": 10, "found": { "size": 9 }, "problem": { "problem": "wrong_size", "expected": 10, "found": 9 } }),
            json!({ "slug": "d", "object_key": "clips/d.mp4", "size": 5, "found": { "size": 5 }, "problem": null }),
        ];
        let r = Report::new(
            &health,
            Ok(&remote),
            Some(&local(&[("a", 10, Some("aa")), ("b", 10, None), ("c", 11, None), ("e", 1, None)])),
        );
        let text = r.lines.join("\n");
        assert_eq!(r.problems, 3, "{text}");
        assert!(text.contains("FAIL  signing_keys"), "{text}");
        assert!(text.contains("warn  alerts"), "{text}");
        assert!(text.contains("FAIL  clip b (clips/b.mp4): missing from the bucket"), "{text}");
        assert!(
            text.contains("FAIL  clip c (clips/c.mp4): wrong size: 9 bytes in the bucket, the catalog says 10"),
            "{text}"
        );
        assert!(text.contains("1 clip(s) present with the right size and sha256"), "{text}");
        assert!(text.contains("1 clip(s) present with the right size; sha256 not compared"), "{text}");
        assert!(text.contains("clip e is in content/ but not in the deployed Worker"), "{text}");
        assert!(text.contains("clip d is sold by the deployed Worker but is no longer in content/: deployed, that build would answer \"Not found\" to the download links of everyone who bought it"), "{text}");
        assert!(text.contains("clip c: content/ says 11 bytes"), "{text}");
        assert!(r.summary().starts_with("3 problem(s)"));
    }

    #[test]
    fn both_origins_are_reported() {
        let health = json!({ "ok": true, "checks": [{ "name": "secondary", "ok": true, "detail": "secondary origin reachable" }] });
        let remote = vec![
            json!({ "slug": "a", "object_key": "clips/a.mp4", "size": 10, "found": { "size": 10 }, "problem": null,
                    "secondary": { "found": { "size": 10 }, "problem": null } }),
            json!({ "slug": "b", "object_key": "clips/b.mp4", "size": 10, "found": { "size": 10 }, "problem": null,
                    "secondary": { "found": null, "problem": { "problem": "missing" } } }),
        ];
        let r = Report::new(&health, Ok(&remote), None);
        let text = r.lines.join("\n");
        assert!(text.contains("The secondary origin (2 catalog clips):"), "{text}");
        assert!(text.contains("FAIL  clip b (clips/b.mp4) in the secondary: missing"), "{text}");
        assert!(text.contains("ok    1 clip(s) present in the secondary"), "{text}");
        assert!(text.contains("ok    secondary: secondary origin reachable"), "{text}");
    }

    #[test]
    fn healthy_shop() {
        let health = json!({ "ok": true, "checks": [{ "name": "storage", "ok": true, "detail": "ok" }] });
        let remote = vec![
            json!({ "slug": "a", "object_key": "clips/a.mp4", "size": 10, "sha256": "aa", "found": { "size": 10, "sha256": "aa" }, "problem": null }),
        ];
        let r = Report::new(&health, Ok(&remote), Some(&local(&[("a", 10, Some("aa"))])));
        assert_eq!((r.problems, r.warnings), (0, 0), "{:?}", r.lines);
        assert_eq!(r.summary(), "All good.");
        assert!(Report::new(&health, Ok(&remote), None).lines.iter().any(|l| l.contains("not compared")));
    }

    /// A Worker whose admin API is off, or whose catalog could not be read,
    /// checked nothing: that is never "All good" nor "No problems".
    #[test]
    fn what_could_not_be_checked_is_a_problem() {
        let disabled = json!({ "error": "admin API is disabled" });
        let r = Report::new(&disabled, Ok(&[]), Some(&local(&[("a", 10, Some("aa"))])));
        let text = r.lines.join("\n");
        assert!(text.contains("FAIL  the Worker's health check did not run: admin API is disabled"), "{text}");
        assert!(r.summary().starts_with("1 problem(s)"), "{}", r.summary());

        let health = json!({ "ok": true, "checks": [{ "name": "storage", "ok": true, "detail": "ok" }] });
        let r = Report::new(&health, Err("the Worker answered 503: D1 unavailable".into()), None);
        let text = r.lines.join("\n");
        assert!(text.contains("FAIL  could not be checked: the Worker answered 503: D1 unavailable"), "{text}");
        assert_eq!(r.problems, 1);
    }
}
