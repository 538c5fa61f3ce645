//! `site-gen doctor`: checks, from the owner's machine and through the
//! Worker's admin API, that the shop can deliver what it sells: the Worker's
//! deep health check (storage, ledger, catalog, signing keys, alerts, the
//! secondary origin), every catalog clip in the bucket (and in the secondary
//! origin, when there is one) with the right size and hash, and the deployed
//! catalog against `content/` (docs/monitoring.md).
//!
//! The HTTP calls are in [`run`]; the report is a pure function of the
//! answers and of what `content/` says ([`Report::new`]), tested natively.
//!
//! What fails (exit 1) is what may leave a customer without a link or a
//! download: an open incident of the Worker's self-test about orders, mail,
//! the ledger, storage or a clip ([`incident()`], in `doctor/incident.rs`), no mail provider on a shop
//! that takes payments, a clip missing or different in an origin, a key
//! `site-gen token mint` signs with that the Worker would refuse
//! (`minting_key.rs`). Each says
//! what it means and where to look next; doctor knows three sides of a clip
//! (`content/`, the deployed catalog, the bucket) and names the one that
//! disagrees.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clipstore_core::{CatalogManifest, ManifestClip, SigningKey};
use serde_json::Value;

use crate::admin_client::{admin_token, resolve_worker_url, AdminClient, OrdersError};
use crate::guides::guide;
use crate::minting_key::{self, KeyMatch};
use crate::purchase_token::KeySource;

mod incident;
pub use incident::incident;
use incident::{open_incident, payments_in};

/// `site-gen doctor`
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// The Worker's address (default: $CLIPSTORE_WORKER_URL, else download_base_url's address in content/site.toml).
    #[arg(long, value_name = "URL")]
    pub worker_url: Option<String>,
    /// The shop's folder: content/ to compare with the deployed catalog, and
    /// its .dev.vars for a local admin token.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
}

/// Clips per `/admin/catalog` page (each clip is one R2 call in the Worker).
pub(crate) const PAGE: usize = 40;

/// What doctor knows of the shop besides the Worker's health and catalog
/// reports: `content/` on this machine, and signs that it takes payments.
#[derive(Debug, Default)]
pub struct ShopFacts {
    /// The catalog `content/` builds; None when it could not be loaded.
    pub catalog: Option<CatalogManifest>,
    /// Why `content/` could not be loaded (its first mistake, or that
    /// there is no shop in the folder); None when it was, or not tried.
    pub unreadable: Option<Unreadable>,
    /// Clips of `content/clips/` that a build leaves out, by slug.
    pub left_out: BTreeMap<String, LeftOut>,
    /// Why the shop is known to take payments (a Payment Link in
    /// `content/`, payments the Worker recorded); None: no sign of it.
    pub takes_payments: Option<String>,
    /// A clip of `content/` that sells through a Stripe Payment Link (so
    /// the shop sells without the cart's checkout), by slug.
    pub payment_link: Option<String>,
    /// The Worker's address, when it is not on this machine (a deployed
    /// Worker, not `wrangler dev`).
    pub public_worker: Option<String>,
    /// Files of `content/` (`slug` or `slug:variant`) the deployed
    /// Worker's catalog lacks that the deployed site sells
    /// (`existing_order::on_the_site`): the Worker refuses them at checkout.
    pub sold_by_the_site_only: Vec<String>,
    /// The shop's folder doctor read `content/` from.
    pub root: PathBuf,
    /// The key `site-gen token mint` signs with on this machine, and where
    /// it came from; None when there is none (or only the local Worker's,
    /// which `mint` refuses for a deployed shop anyway).
    pub minting_key: Option<(SigningKey, String)>,
    /// Why the key on this machine cannot sign (a malformed
    /// `CLIPSTORE_SIGNING_KEY`): `mint` refuses it, and doctor says so.
    pub minting_key_unusable: Option<String>,
}

/// A clip file a build leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// Its file, as the owner finds it (relative to the shop).
    pub file: PathBuf,
    /// None: a draft (`draft = true`); else the date it is published from.
    pub from: Option<DateTime<Utc>>,
}

/// For an incident's `clip:<slug>` (or `clip:<slug>@secondary`) key whose
/// clip the catalog report covers: whether it is in place now (Some(true))
/// or has a problem of its own line there (Some(false)); None for other
/// keys, and clips the report does not cover.
fn checked_below(key: &str, remote: &Result<&[Value], String>) -> Option<bool> {
    let clip = key.strip_prefix("clip:")?;
    let (slug, origin) = match clip.strip_suffix("@secondary") {
        Some(slug) => (slug, "/secondary/problem"),
        None => (clip, "/problem"),
    };
    let entry = remote.as_ref().ok()?.iter().find(|c| c.get("slug").and_then(Value::as_str) == Some(slug))?;
    if origin == "/secondary/problem" && entry.get("secondary").is_none() {
        return None;
    }
    Some(entry.pointer(origin).is_none_or(Value::is_null))
}

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

    /// A line that is neither a check nor a finding (a heading of findings).
    fn note(&mut self, s: String) {
        self.lines.push(format!("        {s}"));
    }

    /// Builds the report from the deep health answer, the catalog report's
    /// clips (`GET /admin/catalog`, or why they could not be had) and what
    /// doctor knows of the shop. What could not be checked is a problem: a
    /// report with nothing checked must never read "All good".
    pub fn new(health: &Value, remote: Result<&[Value], String>, shop: &ShopFacts) -> Report {
        let mut r = Report::default();
        r.lines.push("The Worker's checks:".into());
        let Some(checks) = health.get("checks").and_then(Value::as_array) else {
            let why = health.get("error").and_then(Value::as_str).map_or_else(|| health.to_string(), str::to_string);
            r.fail(format!("the Worker's health check did not run: {why}"));
            return r.bucket(remote, shop);
        };
        let detail_of = |check: &Value| check.get("detail").and_then(Value::as_str).unwrap_or("").to_string();
        let details: Vec<String> = checks.iter().map(detail_of).collect();
        let incident_keys: Vec<&str> = details.iter().filter_map(|d| open_incident(d)).flatten().collect();
        // A check that fails on its own (`ledger_writes`) is said once, as
        // the check, not again as the incident that found it.
        let failing: Vec<&str> = checks
            .iter()
            .filter(|c| c.get("ok").and_then(Value::as_bool) == Some(false))
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .collect();
        // A deployed cart that opens Stripe's payment page sells, whatever
        // content/ says (`wrangler dev` with a test key is a try-out).
        let cart_sells = shop.public_worker.is_some()
            && checks.iter().zip(&details).any(|(c, d)| {
                c.get("name").and_then(Value::as_str) == Some("checkout")
                    && c.get("ok").and_then(Value::as_bool) == Some(true)
                    && d.starts_with("STRIPE_API_KEY is set")
            });
        let takes_payments = shop.takes_payments.clone().or_else(|| payments_in(&incident_keys)).or_else(|| {
            cart_sells.then(|| "its cart's Checkout opens Stripe's payment page: STRIPE_API_KEY is set".to_string())
        });
        for (check, detail) in checks.iter().zip(&details) {
            let name = check.get("name").and_then(Value::as_str).unwrap_or("?");
            match check.get("ok").and_then(Value::as_bool) {
                Some(true) if name == "alerts" && detail.contains("not set") => r.warn(format!("{name}: {detail}")),
                Some(true) if name == "mail" && detail.contains("no mail provider") => {
                    r.no_mail(detail, takes_payments.as_deref())
                }
                Some(true) if name == "checkout" && detail.contains("not set") => r.no_checkout(detail, shop),
                Some(true) if name == "checkout" && detail.contains("in test mode (STRIPE_TEST_MODE") => {
                    r.test_mode(detail, shop)
                }
                // Anyone could loop checkouts into Stripe's rate limit.
                Some(true) if name == "checkout" && detail.contains("not rate limited") => {
                    r.warn(format!("{name}: {detail}"))
                }
                // A key that may not list webhook endpoints, Stripe not
                // answering: the webhook is unknown, not wrong. One that
                // may not read events: what the webhook misses stays missed.
                Some(true)
                    if name == "stripe_webhook"
                        && (detail.contains("was not checked") || detail.contains("may not read events")) =>
                {
                    r.warn(format!("{name}: {detail}"))
                }
                // Passing, but the self-test has problems it alerted of.
                Some(true) if open_incident(detail).is_some() => {
                    r.note(format!(
                        "{name}: {detail} (the Worker's alert, by mail to ALERT_EMAIL or to ALERT_WEBHOOK_URL, and its logs have the details):"
                    ));
                    for key in open_incident(detail).unwrap_or_default().into_iter().filter(|k| !failing.contains(k)) {
                        match (incident(key), checked_below(key, &remote)) {
                            // Doctor checks that clip itself below: its line
                            // there is the current truth, counted once.
                            ((_, what), Some(true)) => r.note(format!(
                                "open incident `{key}`: {what} (checked again below: in place now; the incident closes when the self-test next checks it)"
                            )),
                            ((_, what), Some(false)) => r.note(format!("open incident `{key}`: {what}")),
                            ((true, what), None) => r.fail(format!("open incident `{key}`: {what}")),
                            ((false, what), None) => r.warn(format!("open incident `{key}`: {what}")),
                        }
                    }
                }
                // The self-test has never run (no cron trigger?).
                Some(true) if detail.contains("has not run yet") => r.warn(format!("{name}: {detail}")),
                Some(true) => r.ok(format!("{name}: {detail}")),
                _ => r.fail(format!("{name}: {detail}")),
            }
        }
        r.minting_key(health, shop);
        r.shop_address(health, shop);
        r.logs(shop);
        r.bucket(remote, shop)
    }

    /// The address the Worker was built with against content/site.toml's:
    /// its mails and the orders it makes from Stripe's answer link there
    /// (the deploy review: a site built with the shop's address, a Worker
    /// still on the placeholder, and doctor said "No problems").
    fn shop_address(&mut self, health: &Value, shop: &ShopFacts) {
        let (Some(deployed), Some(catalog)) = (health.get("base_url").and_then(Value::as_str), &shop.catalog) else {
            return;
        };
        let content = catalog.shop.base_url.as_str();
        if deployed.trim_end_matches('/') == content.trim_end_matches('/') {
            return;
        }
        // Built and deployed with the shop's own, content/ back on the
        // placeholder: building now would ship the placeholder (the diff
        // review).
        if clipstore_core::placeholder::has_mark(content) {
            self.fail(format!(
                "shop address: content/site.toml's base_url is site-gen init's placeholder {content}, while the \
                 Worker was built with {deployed}: put the shop's address back into content/site.toml before the \
                 next build, or the Worker built from it mails customers links to {content}"
            ));
        } else {
            self.fail(format!(
                "shop address: the Worker was built with base_url {deployed}, content/site.toml says {content}: the \
                 links in its mails, and in orders it makes from Stripe's answer, go to {deployed}. Build the site \
                 (`site-gen build`), then the Worker from it, and deploy both ({}, step 5)",
                guide("deploy.md")
            ));
        }
    }

    /// A shop made by `site-gen init` before its Workers Logs kept no
    /// invocation logs: each holds a request's URL, a download link.
    fn logs(&mut self, shop: &ShopFacts) {
        let Ok(config) = std::fs::read_to_string(shop.root.join("wrangler.toml")) else { return };
        if !config.contains("[observability]") || invocation_logs_off(&config) {
            return;
        }
        self.warn(
            "logs: the shop's wrangler.toml keeps Workers Logs' invocation logs, which store every request's URL, \
             customers' download links among them: add `[observability.logs]` with `enabled = true` and \
             `invocation_logs = false` under `[observability]`, then deploy (docs/worker.md)"
                .to_string(),
        );
    }

    /// Whether links `site-gen token mint` signs on this machine open on
    /// this Worker: the minting key against the keys its health check names.
    fn minting_key(&mut self, health: &Value, shop: &ShopFacts) {
        if let Some(why) = &shop.minting_key_unusable {
            self.warn(format!("minting key: {why} (`site-gen token mint` refuses it)"));
        }
        let Some((key, source)) = &shop.minting_key else { return };
        let worker = match &shop.public_worker {
            Some(address) => format!("the Worker at {address}"),
            None => "the Worker".to_string(),
        };
        let found = minting_key::judge(key, health);
        match &found {
            KeyMatch::Verified { .. } => match minting_key::retiring(key, &worker, &found) {
                Some(warning) => self.warn(format!("minting key: {warning}")),
                None => self.ok(format!(
                    "minting key: links `site-gen token mint` signs with key {} (from {source}) open on this Worker",
                    key.key_id()
                )),
            },
            // Unset or invalid keys fail the `signing_keys` check above.
            KeyMatch::NotNamed => self.note(format!(
                "minting key: not compared: {worker} does not name its keys (deployed before it did, or TOKEN_KEYS unusable)"
            )),
            // `mint` refuses such a key while it can ask the Worker, so no
            // customer gets a link from it: a warning.
            _ => {
                if let Some((what, help)) = minting_key::problem(key, source, &worker, &found) {
                    self.warn(format!("minting key: {what} (`site-gen token mint` refuses it). To fix: {help}"))
                }
            }
        }
    }

    /// The Worker takes test payments only (`STRIPE_TEST_MODE`): right for
    /// `wrangler dev` on this machine, a failure for a deployed Worker,
    /// whose customers could not pay and whose clips Stripe's test cards buy.
    fn test_mode(&mut self, detail: &str, shop: &ShopFacts) {
        match &shop.public_worker {
            Some(a) => self.fail(format!(
                "checkout: {detail}, on the Worker at {a}: customers cannot pay with real cards, and Stripe's test card numbers get clips for nothing. Going live: the live restricted key (rk_live_…), the live webhook endpoint's signing secret, STRIPE_TEST_MODE removed from wrangler.toml, then deploy ({})",
                guide("payments.md")
            )),
            None if detail.contains("not rate limited") => self.warn(format!("checkout: {detail}")),
            None => self.ok(format!("checkout: {detail}")),
        }
    }

    /// The Worker has no mail provider: no order mail, and the lost-link
    /// page sends nothing. A failure on a shop that takes payments.
    fn no_mail(&mut self, detail: &str, takes_payments: Option<&str>) {
        match takes_payments {
            Some(why) => self.fail(format!(
                "mail: {detail}. The shop takes payments ({why}): customers who pay get no download link by e-mail, and the \"lost your link?\" page cannot send them new ones. Set up the mail provider: {}",
                guide("mail.md")
            )),
            None => self.warn(format!(
                "mail: {detail}. If the shop takes payments (doctor saw no sign of it: no Payment Link in content/, no payment recorded), customers get no download link by e-mail and cannot recover lost ones: {}",
                guide("mail.md")
            )),
        }
    }

    /// The Worker has no Stripe key: the cart's Checkout, on every clip
    /// page, cannot work. A failure unless clips sell through Payment Links.
    fn no_checkout(&mut self, detail: &str, shop: &ShopFacts) {
        let fix =
            format!("put in a restricted key: `npx wrangler secret put STRIPE_API_KEY` ({})", guide("payments.md"));
        match shop.payment_link.as_deref() {
            // content/ could not be read: whether clips sell through
            // Payment Links is not known.
            None if shop.catalog.is_none() => self.warn(format!(
                "checkout: {detail}; unless clips sell through Payment Links, nothing in the shop can be bought: {fix}"
            )),
            Some(slug) => self.warn(format!(
                "checkout: {detail}; clips with a Payment Link (like {slug}) still sell, but \"Checkout\" in the cart does not: {fix}"
            )),
            None => self.fail(format!(
                "checkout: {detail}, and no clip has a Payment Link: nothing in the shop can be bought. To sell through the cart, {fix}"
            )),
        }
    }

    /// The bucket's part of the report, and the deployed catalog against
    /// `content/`.
    fn bucket(mut self, remote: Result<&[Value], String>, shop: &ShopFacts) -> Report {
        let r = &mut self;
        let remote = match remote {
            Ok(clips) => clips,
            Err(why) => {
                r.lines.push("The bucket:".into());
                r.fail(format!("could not be checked: {why}"));
                return self;
            }
        };
        let files: Vec<(String, ManifestClip)> = shop.catalog.as_ref().map(CatalogManifest::files).unwrap_or_default();
        let in_content: BTreeMap<&str, &ManifestClip> = files.iter().map(|(name, f)| (name.as_str(), f)).collect();
        let content_of = |slug: &str| shop.catalog.as_ref().map(|_| in_content.get(slug).copied());
        r.lines.push(format!("The bucket ({} catalog clips):", remote.len()));
        // Size only: the catalog has no hash, or the bucket's object carries none.
        let (mut verified, mut no_catalog_hash, mut no_object_hash) = (0, 0, 0);
        for clip in remote {
            let slug = clip.get("slug").and_then(Value::as_str).unwrap_or("?");
            let key = clip.get("object_key").and_then(Value::as_str).unwrap_or("?");
            match clip.get("problem").filter(|p| !p.is_null()) {
                Some(p) => r.fail(format!("clip {slug} ({key}): {}", describe(p, "bucket", content_of(slug)))),
                None => {
                    let expected = clip.get("sha256").and_then(Value::as_str);
                    let found = clip.pointer("/found/sha256").and_then(Value::as_str);
                    match (expected, found) {
                        (Some(_), Some(_)) => verified += 1,
                        (None, _) => no_catalog_hash += 1,
                        (Some(_), None) => no_object_hash += 1,
                    }
                }
            }
        }
        if verified > 0 {
            r.ok(format!("{verified} clip(s) present with the right size and sha256"));
        }
        if no_catalog_hash > 0 {
            r.warn(format!(
                "{no_catalog_hash} clip(s) present with the right size; sha256 not compared: the catalog has none for them (`site-gen push` records it in their front matter)"
            ));
        }
        if no_object_hash > 0 {
            r.warn(format!(
                "{no_object_hash} clip(s) present with the right size; sha256 not compared: their objects in the bucket carry none (put there otherwise than by `site-gen push`, which uploads with it: `wrangler r2 object put`, or scripts/run-local.sh); `site-gen push` uploads them again with it (up to 100 MB)"
            ));
        }

        r.secondary(remote, &content_of);

        r.lines.push("The deployed catalog against content/:".into());
        if shop.catalog.is_none() {
            let folder = shop.root.display();
            match &shop.unreadable {
                // A shop whose content/ does not build cannot be deployed
                // either: the owner must hear which file is wrong.
                Some(Unreadable::Mistakes { first, count }) => r.fail(format!(
                    "content/ in {folder} does not build ({count} mistake{}): not compared; \
                     `site-gen check --root {folder}` lists them all. The first:\n        {}",
                    if *count == 1 { "" } else { "s" },
                    first.trim_end().replace('\n', "\n        ")
                )),
                Some(Unreadable::NoShop) => r.warn(format!(
                    "no shop in {folder} (no content/ folder): the Worker was checked alone; run doctor in the \
                     shop's folder, or give --root"
                )),
                None => r.warn("content/ could not be loaded: not compared".into()),
            }
            return self;
        }
        let deployed: BTreeMap<&str, &Value> =
            remote.iter().filter_map(|c| Some((c.get("slug")?.as_str()?, c))).collect();
        let before = r.problems + r.warnings;
        for (slug, clip) in &files {
            match deployed.get(slug.as_str()) {
                // The site was deployed with a Worker built before the clip
                // (`npx wrangler deploy` without `build-worker.sh`): its
                // buyers were told "no longer for sale" (the deploy review).
                None if shop.sold_by_the_site_only.contains(slug) => r.fail(format!(
                    "clip {slug} is on the deployed site (its page /clips/{}/ offers it) but not in the deployed \
                         Worker, which refuses it at checkout (\"no longer for sale\"): the Worker was built before \
                         the clip. Build the Worker after the site (`bash scripts/build-worker.sh`; a shop made by \
                         `site-gen init` builds it at every deploy) and deploy",
                    slug.split(':').next().unwrap_or(slug)
                )),
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
        // Not one clip in common: the Worker was built from another
        // catalog (the sample shop's, another shop's), and every link of
        // this shop's would answer "Not found".
        if !files.is_empty() && !deployed.is_empty() && files.iter().all(|(s, _)| !deployed.contains_key(s.as_str())) {
            let sold: Vec<&str> = deployed.keys().take(3).copied().collect();
            r.fail(format!(
                "the deployed Worker sells none of the clips of {} (it sells {}{}): either that is not this Worker's shop (run doctor in the shop's folder, or give it `--root`), or the Worker was built from another shop's catalog (build the site with `site-gen build` and deploy the shop's Worker from the shop's folder: {})",
                shop.root.join("content").display(),
                sold.join(", "),
                if deployed.len() > 3 { ", …" } else { "" },
                guide("deploy.md")
            ));
            return self;
        }
        for slug in deployed.keys().filter(|s| !in_content.contains_key(**s)) {
            r.warn(not_in_content(slug, shop));
        }
        if r.problems + r.warnings == before {
            r.ok("the deployed catalog matches content/".into());
        }
        self
    }

    /// The secondary origin's copy of each clip (docs/secondary-origin.md),
    /// when the Worker has one (its catalog entries carry `secondary`).
    fn secondary<'a>(&mut self, remote: &[Value], content_of: &dyn Fn(&str) -> Option<Option<&'a ManifestClip>>) {
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
                Some(p) => self.fail(format!(
                    "clip {slug} ({key}) in the secondary: {}",
                    describe(p, "secondary", content_of(slug))
                )),
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
                // Not "downloads may fail": most problems are payments, mail
                // or a ledger that counts in R2 meanwhile (the outage
                // review); each FAIL line says what it stops.
                format!(
                    "{p} problem(s): each FAIL line above says what it stops and what to do. See {}.",
                    crate::guides::guide("monitoring.md")
                )
            }
        }
    }
}

/// A clip's problem in an origin (`bucket` or `secondary`, as the Worker's
/// catalog report gives it), with the next step: `content` is the clip as
/// `content/` describes it (None: `content/` could not be loaded; Some(None):
/// it is not there).
fn describe(problem: &Value, origin: &str, content: Option<Option<&ManifestClip>>) -> String {
    let n = |k: &str| problem.get(k).map(Value::to_string).unwrap_or_default();
    let s = |k: &str| problem.get(k).and_then(Value::as_str);
    match problem.get("problem").and_then(Value::as_str) {
        Some("missing") => format!("missing from the {origin} (upload it: `site-gen push`)"),
        Some("wrong_size") => {
            let (found, expected) =
                (problem.get("found").and_then(Value::as_u64), problem.get("expected").and_then(Value::as_u64));
            let local = content.map(|c| c.map(|c| c.size));
            format!(
                "wrong size: {} bytes in the {origin}, the catalog says {}: {}",
                n("found"),
                n("expected"),
                which_is_right(found, expected, local, origin)
            )
        }
        Some("wrong_hash") => {
            let local = content.map(|c| c.and_then(|c| c.sha256.as_deref()));
            format!(
                "wrong sha256: {} in the {origin}, the catalog says {}: {}",
                s("found").unwrap_or("?"),
                s("expected").unwrap_or("?"),
                which_is_right(s("found"), s("expected"), local, origin)
            )
        }
        Some("unavailable") => s("detail").unwrap_or("unavailable").to_string(),
        _ => problem.to_string(),
    }
}

/// What to do when an origin's object (`found`) is not what the deployed
/// catalog says (`expected`), given what `content/` says (`local`; None: not
/// known): the side that disagrees with the other two is the one to change.
fn which_is_right<T: PartialEq>(
    found: Option<T>,
    expected: Option<T>,
    local: Option<Option<T>>,
    origin: &str,
) -> String {
    match local {
        Some(Some(l)) if found.as_ref() == Some(&l) => format!(
            "content/ already describes the {origin}'s file, the deployed Worker does not yet: build and deploy"
        ),
        Some(Some(l)) if expected.as_ref() == Some(&l) => format!(
            "content/ and the deployed catalog agree, the {origin} holds another file: `site-gen push` uploads the one under your media folder"
        ),
        Some(Some(_)) => format!(
            "content/ says something else again: `site-gen push` uploads your master to the {origin} and records its size and sha256 in content/, then build and deploy"
        ),
        _ => format!(
            "`site-gen push` uploads your master to the {origin} and records its size and sha256 in content/, then build and deploy"
        ),
    }
}

/// A clip (or one of its files, `slug:variant`) the deployed Worker sells
/// that a build of `content/` would not: why, as far as doctor can tell.
fn not_in_content(deployed: &str, shop: &ShopFacts) -> String {
    let (slug, variant) = match deployed.split_once(':') {
        Some((slug, variant)) => (slug, Some(variant)),
        None => (deployed, None),
    };
    let what = match variant {
        Some(v) => format!("clip {slug}'s file {v:?} (a `[[variants]]` section)"),
        None => format!("clip {slug}"),
    };
    let harm = "deployed, that build would answer \"Not found\" to the download links of everyone who bought it";
    if let Some(left) = shop.left_out.get(slug) {
        let file = left.file.display();
        return match left.from {
            None => format!(
                "{what} is sold by the deployed Worker, but {file} is a draft (`draft = true`), which a build leaves out: {harm}; remove `draft = true` unless none was sold"
            ),
            Some(from) => format!(
                "{what} is sold by the deployed Worker, but {file} is dated {}, in the future, and a build leaves it out until then: {harm}; correct its `date` unless that is meant and none was sold",
                from.format("%Y-%m-%d %H:%M UTC")
            ),
        };
    }
    let clip_in_content = shop.catalog.as_ref().is_some_and(|c| c.clips.get(slug).is_some());
    match variant {
        Some(v) if clip_in_content => format!(
            "{what} is sold by the deployed Worker but clip {slug} in content/ has no `[[variants]]` section with id = {v:?} (removed, or its id changed): {harm}; put the section back unless none was sold"
        ),
        _ => format!(
            "{what} is sold by the deployed Worker but is no longer in content/: {harm}; put its file back in content/clips/ unless none was sold"
        ),
    }
}

/// Why doctor could not read the shop's `content/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// No `content/` folder: doctor was run elsewhere (as `site-gen`'s
    /// other commands tell a shop). A shop without its `site.toml` is a
    /// mistake like any.
    NoShop,
    /// The shop has mistakes: the first, and how many in all.
    Mistakes { first: String, count: usize },
}

/// What `content/` under `root` tells doctor: its catalog, the clips a
/// build leaves out, and whether a clip sells through a Payment Link.
pub fn shop_facts(root: &std::path::Path) -> ShopFacts {
    let options = crate::content::LoadOptions { drafts: false, now: Utc::now() };
    let (shop, hidden_sources) = match crate::content::load::load_tracked(root, &options) {
        Ok(loaded) => loaded,
        Err(mistakes) => {
            let unreadable = match mistakes.0.first() {
                _ if !root.join("content").is_dir() => Unreadable::NoShop,
                Some(first) => Unreadable::Mistakes { first: first.to_string(), count: mistakes.0.len() },
                None => Unreadable::NoShop,
            };
            return ShopFacts { unreadable: Some(unreadable), root: root.to_path_buf(), ..ShopFacts::default() };
        }
    };
    // `hidden` and its sources are in the same order; `left_out` has the date.
    let left_out = shop
        .hidden
        .iter()
        .zip(&hidden_sources)
        .filter_map(|((url, _), source)| {
            let slug = url.strip_prefix("/clips/")?.trim_end_matches('/');
            let from = shop.left_out.iter().find(|(s, _)| s == source).and_then(|(_, from)| *from);
            let file = crate::diagnostics::display_path(root, source);
            Some((slug.to_string(), LeftOut { file, from }))
        })
        .collect();
    let payment_link = shop.clips.iter().find(|c| c.stripe_payment_link.is_some()).map(|c| c.slug.clone());
    let takes_payments = payment_link.as_ref().map(|slug| format!("clip {slug} sells through a Stripe Payment Link"));
    ShopFacts {
        catalog: Some(crate::render::manifest(&shop)),
        left_out,
        takes_payments,
        payment_link,
        public_worker: None,
        sold_by_the_site_only: Vec::new(),
        root: root.to_path_buf(),
        minting_key: None,
        minting_key_unusable: None,
        unreadable: None,
    }
}

/// What `"$W"` in doctor's advice is: the shop's README sets it (`W=…`,
/// clipstore's own wrangler), but a new terminal has no `W`.
fn wrangler_note(root: &std::path::Path) -> String {
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    match readme.lines().map(str::trim).find(|l| l.starts_with("W=")) {
        Some(set) => format!(
            "(\"$W\" above is clipstore's wrangler, as the shop's README sets it: run `{set}` first in a new terminal)"
        ),
        None => {
            "(\"$W\" above is clipstore's wrangler: edge-worker/node_modules/.bin/wrangler in the clipstore checkout)"
                .to_string()
        }
    }
}

/// Whether a `wrangler.toml` turns Workers Logs' invocation logs off.
fn invocation_logs_off(config: &str) -> bool {
    config.lines().any(|l| {
        let l = l.split('#').next().unwrap_or_default().replace(' ', "");
        l == "invocation_logs=false"
    })
}

/// The advice in `text` for a shop with a `wrangler.toml` of its own
/// (`own_config`: one made by `site-gen init`), whose wrangler commands run
/// in its folder as `"$W" … --config wrangler.toml` (its README sets `W`).
/// The Worker's and doctor's advice is written for the clipstore checkout,
/// `npx wrangler …` in `edge-worker/`, where the same command would set up
/// the sample shop's Worker and leave the owner's as it was.
/// `text`'s wrangler commands for a Worker on this machine (`local`: a
/// `wrangler dev`), whose D1 is the local one and whose secrets are in
/// `.dev.vars`: `--remote` and `secret put` would change the deployed
/// shop instead.
/// How to run the self-test of a `wrangler dev` at `base` now, which runs
/// no cron by itself.
fn local_self_test_note(base: &str) -> String {
    format!(
        "note: a `wrangler dev` runs the scheduled self-test only when asked: \
         `curl '{}/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*'` runs it now (docs/monitoring.md)",
        base.trim_end_matches('/')
    )
}

pub(crate) fn for_this_worker(text: &str, local: bool) -> String {
    if !local {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    // (A `wrangler dev` takes a changed .dev.vars when started again.)
    let mut rest = text.replace(" --remote", " --local").replace(", then deploy", "");
    while let Some((at, prefix)) = ["`npx wrangler secret put ", "`\"$W\" secret put "]
        .iter()
        .filter_map(|p| rest.find(p).map(|at| (at, *p)))
        .min()
    {
        let after = &rest[at + prefix.len()..];
        let Some(end) = after.find('`') else { break };
        let name = after[..end].split_whitespace().next().unwrap_or("");
        out.push_str(&rest[..at]);
        out.push_str(&format!("`{name}=…` in the Worker's .dev.vars (then start `wrangler dev` again)"));
        rest = after[end + 1..].to_string();
    }
    out.push_str(&rest);
    out
}

fn for_the_shop(text: &str, own_config: bool) -> String {
    if !own_config {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some((at, prefix)) =
        ["`npx wrangler ", "`wrangler "].iter().filter_map(|p| rest.find(p).map(|at| (at, *p))).min()
    {
        let after = &rest[at + prefix.len()..];
        let Some(end) = after.find('`') else { break };
        let command = &after[..end];
        out.push_str(&rest[..at]);
        out.push_str("`\"$W\" ");
        out.push_str(command);
        if !command.contains("--config") {
            out.push_str(" --config wrangler.toml");
        }
        out.push('`');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    [
        (" (in a shop's own folder, with `--config wrangler.toml`)", ""),
        ("; with `--config wrangler.toml` in a shop's own folder", ""),
        ("in edge-worker/, ", "in the shop's folder, "),
        (" in edge-worker/", " in the shop's folder"),
    ]
    .iter()
    .fold(out, |out, (from, to)| out.replace(from, to))
}

/// Runs `site-gen doctor`: 0 when nothing failed, 1 otherwise.
pub fn run(args: DoctorArgs) -> Result<ExitCode, OrdersError> {
    let client =
        AdminClient::new(&resolve_worker_url(args.worker_url.as_deref(), &args.root)?, &admin_token(&args.root)?)?;
    let (_, health) = client.get_report("/admin/health")?;
    let mut remote = Vec::new();
    let mut refused = None;
    loop {
        // A page that does not come (a secondary origin that hangs makes the
        // Worker wait on each clip's copy there) is said as such, beside
        // the health checks already had: doctor printed only "could not
        // reach the Worker" (the outage review).
        let (status, page) = match client.get_report(&format!("/admin/catalog?offset={}&limit={PAGE}", remote.len())) {
            Ok(answer) => answer,
            Err(OrdersError::Transport { error, .. } | OrdersError::BadAnswer(error)) => {
                refused = Some(format!(
                    "the catalog report did not come ({error}): the Worker checks each clip's copy in the bucket and \
                     on the secondary origin, and one of them does not answer; see the `storage` and `secondary` \
                     checks above"
                ));
                break;
            }
            Err(e) => return Err(e),
        };
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
    let mut facts = shop_facts(&args.root);
    if let Some(catalog) = &facts.catalog {
        let deployed: Vec<&str> = remote.iter().filter_map(|c| c.get("slug")?.as_str()).collect();
        let mut missing: Vec<String> =
            catalog.files().into_iter().map(|(name, _)| name).filter(|n| !deployed.contains(&n.as_str())).collect();
        missing.truncate(20);
        facts.sold_by_the_site_only = crate::existing_order::on_the_site(client.base(), &missing);
    }
    let base = client.base().to_string();
    facts.public_worker = (!crate::admin_client::is_loopback(&base)).then_some(base);
    // `.dev.vars`' key signs for a Worker on this machine only: `mint`
    // refuses it for a deployed one.
    facts.minting_key = match crate::purchase_token::signing_key_from(&args.root) {
        Ok((key, source)) if source == KeySource::Env || facts.public_worker.is_none() => {
            Some((key, source.describe(&args.root)))
        }
        // No key here is no problem (the Worker signs what it sends);
        // one that cannot sign is, for whoever mints with it.
        Err(crate::purchase_token::TokenCommandError::NoKey) | Ok(_) => None,
        Err(e) => {
            facts.minting_key_unusable = Some(e.to_string());
            None
        }
    };
    if facts.takes_payments.is_none() {
        // A webhook event of Stripe's the Worker verified (it has an event
        // id; a refused delivery, anyone's to make, has none). An older
        // Worker without this route: no sign either way.
        if let Ok((200, v)) = client.get_report("/admin/payments?limit=50") {
            let signed = |p: &Value| p.get("event_id").is_some_and(Value::is_string);
            if v.get("payments").and_then(Value::as_array).is_some_and(|p| p.iter().any(signed)) {
                facts.takes_payments =
                    Some("the Worker has received Stripe's payment events: `site-gen orders payments`".into());
            }
        }
    }
    let report = Report::new(&health, refused.map_or(Ok(&remote[..]), Err), &facts);
    let own_config = args.root.join("wrangler.toml").is_file();
    let local = crate::admin_client::is_loopback(client.base());
    println!("site-gen doctor: {}", client.base());
    let mut named_w = false;
    let mut self_test = false;
    for line in &report.lines {
        let line = for_this_worker(&for_the_shop(&line.to_string(), own_config), local);
        named_w |= line.contains("\"$W\"");
        self_test |= !line.starts_with("  ok") && line.contains("self-test");
        println!("{line}");
    }
    if named_w {
        println!("{}", wrangler_note(&args.root));
    }
    // A `wrangler dev` runs no cron of itself: what the self-test last
    // found stays until it is run (the deployer review).
    if local && self_test {
        println!("{}", local_self_test_note(client.base()));
    }
    println!("{}", report.summary());
    Ok(if report.problems == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use clipstore_core::{ManifestClip, ShopInfo};
    use serde_json::json;

    use super::*;

    #[test]
    fn the_wrangler_of_an_init_shop_is_named_from_its_readme() {
        let shop = tempfile::tempdir().unwrap();
        assert!(wrangler_note(shop.path()).contains("edge-worker/node_modules/.bin/wrangler"));
        std::fs::write(
            shop.path().join("README.md"),
            "```sh\n   W=/src/clipstore/edge-worker/node_modules/.bin/wrangler\n```\n",
        )
        .unwrap();
        assert!(
            wrangler_note(shop.path()).contains("run `W=/src/clipstore/edge-worker/node_modules/.bin/wrangler` first")
        );
    }

    #[test]
    fn an_old_shops_config_that_logs_invocations_is_named() {
        assert!(invocation_logs_off("[observability.logs]\nenabled = true\ninvocation_logs = false # links\n"));
        assert!(!invocation_logs_off("[observability]\nenabled = true\n"));
        assert!(!invocation_logs_off("# invocation_logs = false\n"));
        assert!(invocation_logs_off(include_str!("../../edge-worker/wrangler.toml")), "a new shop's, copied from it");
    }

    #[test]
    fn a_shop_of_its_own_is_told_its_own_wrangler_commands() {
        let worker = "FAIL ledger_schema: the ledger (D1) lacks migration 0015_x.sql: downloads may not be settled. \
                      Run `npx wrangler d1 migrations apply DB --remote` in edge-worker/ (in a shop's own folder, with `--config wrangler.toml`)";
        assert_eq!(
            for_the_shop(worker, true),
            "FAIL ledger_schema: the ledger (D1) lacks migration 0015_x.sql: downloads may not be settled. \
             Run `\"$W\" d1 migrations apply DB --remote --config wrangler.toml` in the shop's folder"
        );
        assert_eq!(for_the_shop(worker, false), worker, "the clipstore checkout's advice is for it");
        // Asked of a `wrangler dev` on this machine: its local database.
        assert!(for_this_worker(worker, true).contains("migrations apply DB --local` in edge-worker/"));
        assert_eq!(for_this_worker(worker, false), worker);
        assert_eq!(
            for_this_worker("put a valid key in it (`npx wrangler secret put RESEND_API_KEY`), or …", true),
            "put a valid key in it (`RESEND_API_KEY=…` in the Worker's .dev.vars (then start `wrangler dev` again)), or …"
        );
        assert_eq!(
            for_this_worker(&for_the_shop("`npx wrangler secret put STRIPE_API_KEY` then", true), true),
            "`STRIPE_API_KEY=…` in the Worker's .dev.vars (then start `wrangler dev` again) then"
        );
        let doctor = "put in a restricted key: `npx wrangler secret put STRIPE_API_KEY` (docs); and `wrangler tail --config wrangler.toml`";
        assert_eq!(
            for_the_shop(doctor, true),
            "put in a restricted key: `\"$W\" secret put STRIPE_API_KEY --config wrangler.toml` (docs); and `\"$W\" tail --config wrangler.toml`"
        );
        assert_eq!(for_the_shop("no `npx wrangler unclosed", true), "no `npx wrangler unclosed");
    }

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

    fn facts(catalog: CatalogManifest) -> ShopFacts {
        ShopFacts { catalog: Some(catalog), ..ShopFacts::default() }
    }

    fn lines(r: &Report) -> String {
        r.lines.join("\n")
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
            json!({ "slug": "f", "object_key": "clips/f.mp4", "size": 5, "sha256": "ff", "found": { "size": 5 }, "problem": null }),
        ];
        let r = Report::new(
            &health,
            Ok(&remote),
            &facts(local(&[("a", 10, Some("aa")), ("b", 10, None), ("c", 11, None), ("e", 1, None)])),
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
        assert!(
            text.contains("1 clip(s) present with the right size; sha256 not compared: the catalog has none for them"),
            "{text}"
        );
        // The object without one (run-local.sh's, wrangler's): push would not
        // change it, so the warning does not send the owner there for it.
        assert!(text.contains("1 clip(s) present with the right size; sha256 not compared: their objects in the bucket carry none (put there otherwise than by `site-gen push`"), "{text}");
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
        let r = Report::new(&health, Ok(&remote), &ShopFacts::default());
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
        let r = Report::new(&health, Ok(&remote), &facts(local(&[("a", 10, Some("aa"))])));
        assert_eq!((r.problems, r.warnings), (0, 0), "{:?}", r.lines);
        assert_eq!(r.summary(), "All good.");
        let unknown = ShopFacts::default();
        assert!(Report::new(&health, Ok(&remote), &unknown).lines.iter().any(|l| l.contains("not compared")));
    }

    /// A clip of content/ the deployed Worker lacks is a warning (build and
    /// deploy to sell it), and a failure once the deployed site sells it:
    /// its buyers are refused at checkout (the deploy review).
    #[test]
    fn a_clip_the_site_sells_and_the_worker_lacks_fails() {
        let health = json!({ "ok": true, "checks": [{ "name": "storage", "ok": true, "detail": "ok" }] });
        let remote = vec![
            json!({ "slug": "a", "object_key": "clips/a.mp4", "size": 10, "sha256": "aa", "found": { "size": 10, "sha256": "aa" }, "problem": null }),
        ];
        let mut shop = facts(local(&[("a", 10, Some("aa")), ("b", 10, Some("bb"))]));
        let not_yet = Report::new(&health, Ok(&remote), &shop);
        assert_eq!((not_yet.problems, not_yet.warnings), (0, 1), "{}", lines(&not_yet));
        shop.sold_by_the_site_only = vec!["b".into()];
        let sold = Report::new(&health, Ok(&remote), &shop);
        assert_eq!(sold.problems, 1, "{}", lines(&sold));
        assert!(
            lines(&sold).contains(
                "FAIL  clip b is on the deployed site (its page /clips/b/ offers it) but not in the deployed Worker"
            ),
            "{}",
            lines(&sold)
        );
    }

    /// A Worker built with another address than content/site.toml's fails
    /// (the deploy review: a Worker still on the placeholder mailed paid
    /// customers links to it while doctor said "No problems"); the same
    /// address, with or without a final slash, passes, and an older Worker
    /// that does not say its address is not judged.
    #[test]
    fn a_worker_built_with_another_address_fails() {
        let shop = facts(local(&[("a", 10, Some("aa"))]));
        let content = shop.catalog.as_ref().unwrap().shop.base_url.clone();
        let remote = vec![
            json!({ "slug": "a", "object_key": "clips/a.mp4", "size": 10, "sha256": "aa", "found": { "size": 10, "sha256": "aa" }, "problem": null }),
        ];
        let built_with = |base_url: Option<&str>| {
            let mut health = json!({ "ok": true, "checks": [{ "name": "storage", "ok": true, "detail": "ok" }] });
            if let Some(base_url) = base_url {
                health["base_url"] = json!(base_url);
            }
            Report::new(&health, Ok(&remote), &shop)
        };
        let placeholder = built_with(Some("https://change-me.example"));
        assert_eq!(placeholder.problems, 1, "{}", lines(&placeholder));
        assert!(
            lines(&placeholder).contains(&format!(
                "FAIL  shop address: the Worker was built with base_url https://change-me.example, content/site.toml says {content}"
            )),
            "{}",
            lines(&placeholder)
        );
        assert_eq!(built_with(Some(&format!("{content}/"))).problems, 0);
        // content/ on the placeholder, the Worker on the shop's address:
        // not "build and deploy", which would ship the placeholder.
        let mut back = facts(local(&[("a", 10, Some("aa"))]));
        back.catalog.as_mut().unwrap().shop.base_url = "https://change-me.example".into();
        let report = Report::new(&json!({ "ok": true, "checks": [], "base_url": content }), Ok(&remote), &back);
        assert!(lines(&report).contains("put the shop's address back into content/site.toml"), "{}", lines(&report));
        assert_eq!(built_with(None).problems, 0);
    }

    /// Links minted on this machine that the Worker would refuse are a
    /// warning (`mint` refuses such a key); the Worker's own key passes, an
    /// older one it still verifies is a warning; a Worker that names no
    /// keys is not judged.
    #[test]
    fn the_minting_key_is_compared_with_the_workers() {
        let theirs = SigningKey::new("2026-12", vec![7; 32]).unwrap();
        let health = json!({ "ok": true,
            "checks": [{ "name": "signing_keys", "ok": true, "detail": "TOKEN_KEYS is set and valid: 2026-12" }],
            "signing_keys": [{ "key_id": "2026-12", "fingerprint": theirs.fingerprint() }] });
        let remote = vec![
            json!({ "slug": "a", "object_key": "clips/a.mp4", "size": 10, "sha256": "aa", "found": { "size": 10, "sha256": "aa" }, "problem": null }),
        ];
        let shop = |key: &SigningKey| ShopFacts {
            minting_key: Some((key.clone(), "CLIPSTORE_SIGNING_KEY".into())),
            public_worker: Some("https://shop.example".into()),
            ..facts(local(&[("a", 10, Some("aa"))]))
        };
        let r = Report::new(&health, Ok(&remote), &shop(&theirs));
        assert_eq!((r.problems, r.warnings), (0, 0), "{:?}", r.lines);
        assert!(
            lines(&r).contains("ok    minting key: links `site-gen token mint` signs with key 2026-12"),
            "{}",
            lines(&r)
        );

        let regenerated = SigningKey::new("2026-12", vec![8; 32]).unwrap();
        let r = Report::new(&health, Ok(&remote), &shop(&regenerated));
        assert_eq!((r.problems, r.warnings), (0, 1), "{:?}", r.lines);
        assert!(
            lines(&r).contains(
                "warn  minting key: the Worker at https://shop.example has a key 2026-12, but with another secret"
            ),
            "{}",
            lines(&r)
        );

        let other = SigningKey::new("laptop", vec![7; 32]).unwrap();
        let r = Report::new(&health, Ok(&remote), &shop(&other));
        assert_eq!((r.problems, r.warnings), (0, 1), "{:?}", r.lines);
        assert!(
            lines(&r).contains("is not one the Worker at https://shop.example verifies (its TOKEN_KEYS: 2026-12)"),
            "{}",
            lines(&r)
        );

        // Rotation: the Worker signs with a newer key and still verifies this one.
        let newer = SigningKey::new("2027-06", vec![9; 32]).unwrap();
        let mut rotated = health.clone();
        rotated["signing_keys"] = json!([{ "key_id": "2027-06", "fingerprint": newer.fingerprint() },
            { "key_id": "2026-12", "fingerprint": theirs.fingerprint() }]);
        let r = Report::new(&rotated, Ok(&remote), &shop(&theirs));
        assert_eq!((r.problems, r.warnings), (0, 1), "{:?}", r.lines);
        assert!(lines(&r).contains("still verifies key 2026-12 but signs its own links with 2027-06"), "{}", lines(&r));

        let older_worker = json!({ "ok": true, "checks": health["checks"].clone() });
        let r = Report::new(&older_worker, Ok(&remote), &shop(&other));
        assert_eq!((r.problems, r.warnings), (0, 0), "{:?}", r.lines);
        assert!(lines(&r).contains("minting key: not compared"), "{}", lines(&r));
    }

    /// A Worker whose admin API is off, or whose catalog could not be read,
    /// checked nothing: that is never "All good" nor "No problems".
    #[test]
    fn what_could_not_be_checked_is_a_problem() {
        let disabled = json!({ "error": "admin API is disabled" });
        let r = Report::new(&disabled, Ok(&[]), &facts(local(&[("a", 10, Some("aa"))])));
        let text = r.lines.join("\n");
        assert!(text.contains("FAIL  the Worker's health check did not run: admin API is disabled"), "{text}");
        assert!(r.summary().starts_with("1 problem(s)"), "{}", r.summary());

        let health = json!({ "ok": true, "checks": [{ "name": "storage", "ok": true, "detail": "ok" }] });
        let r = Report::new(&health, Err("the Worker answered 503: D1 unavailable".into()), &ShopFacts::default());
        let text = r.lines.join("\n");
        assert!(text.contains("FAIL  could not be checked: the Worker answered 503: D1 unavailable"), "{text}");
        assert_eq!(r.problems, 1);
    }

    /// The self-test's open incident is not a warning when it means a
    /// customer may be without a link or a download: each key is a line
    /// of its own, in words, with where to look next.
    #[test]
    fn an_open_incident_that_leaves_customers_without_links_fails() {
        let health = json!({ "ok": true, "checks": [
            { "name": "ledger", "ok": true,
              "detail": "D1 reachable; the self-test has an open incident: clip:a, mail_failed#12, orders_missing, payments#41, r2_failover" },
            { "name": "mail", "ok": true, "detail": "Resend is configured; mail is sent as Shop <s@s.example>" },
        ]});
        let r = Report::new(&health, Ok(&[]), &facts(local(&[])));
        let text = lines(&r);
        assert_eq!((r.problems, r.warnings), (3, 2), "{text}");
        assert!(text.contains("        ledger: D1 reachable; the self-test has an open incident"), "{text}");
        assert!(text.contains("ALERT_EMAIL or to ALERT_WEBHOOK_URL"), "where the details are: {text}");
        assert!(
            text.contains("FAIL  open incident `orders_missing`: customers came back from paying but Stripe's event for their checkout never arrived"),
            "{text}"
        );
        assert!(text.contains("`site-gen orders payments` lists refused deliveries"), "{text}");
        assert!(text.contains("FAIL  open incident `mail_failed#12`: the mail provider refused"), "{text}");
        assert!(text.contains("`site-gen orders outbox`"), "{text}");
        assert!(
            text.contains(
                "FAIL  open incident `clip:a`: clip a is missing from the bucket or is not the catalog's file"
            ),
            "{text}"
        );
        assert!(text.contains("warn  open incident `payments#41`: a refund"), "{text}");
        assert!(text.contains("warn  open incident `r2_failover`"), "{text}");
        assert!(r.summary().starts_with("3 problem(s)"), "{}", r.summary());

        // A clip doctor checks itself is counted once, by its own line: a
        // FAIL there, or nothing when it is in place again.
        let checked = |problem: Value| {
            vec![json!({ "slug": "a", "object_key": "clips/a.mp4", "size": 10, "found": null, "problem": problem })]
        };
        let r = Report::new(&health, Ok(&checked(json!({ "problem": "missing" }))), &facts(local(&[("a", 10, None)])));
        let text = lines(&r);
        assert_eq!(r.problems, 3, "{text}");
        assert!(text.contains("        open incident `clip:a`: clip a is missing"), "{text}");
        assert!(text.contains("FAIL  clip a (clips/a.mp4): missing from the bucket"), "{text}");
        let r = Report::new(&health, Ok(&checked(Value::Null)), &facts(local(&[("a", 10, None)])));
        assert_eq!(r.problems, 2, "{}", lines(&r));
        assert!(lines(&r).contains("in place now; the incident closes when the self-test next checks it"));

        // A finding the Worker's health fails on its own (D1 refusing
        // writes) is one problem, said as the check.
        let health = json!({ "ok": false, "checks": [
            { "name": "ledger", "ok": true, "detail": "D1 reachable; the self-test has an open incident: ledger_writes" },
            { "name": "ledger_writes", "ok": false, "detail": "D1 answers reads but refuses writes (the last self-test's write): paid checkouts cannot become orders" },
        ]});
        let r = Report::new(&health, Ok(&[]), &facts(local(&[])));
        let text = lines(&r);
        assert_eq!(r.problems, 1, "{text}");
        assert!(text.contains("FAIL  ledger_writes: D1 answers reads but refuses writes"), "{text}");
        assert!(!text.contains("open incident `ledger_writes`"), "{text}");
    }

    /// No mail provider: on a shop that takes payments, customers who pay
    /// get no link and the lost-link page sends nothing; a warning where
    /// doctor sees no sign of payments.
    #[test]
    fn no_mail_provider_fails_a_shop_that_takes_payments() {
        let no_mail = |extra: Option<Value>| {
            let mut checks = vec![json!({ "name": "mail", "ok": true,
                "detail": "no mail provider (RESEND_API_KEY is not set): e-mail stays in the outbox" })];
            checks.extend(extra);
            json!({ "ok": true, "checks": checks })
        };
        let paying = ShopFacts {
            takes_payments: Some("clip b sells through a Stripe Payment Link".into()),
            ..facts(local(&[]))
        };
        let r = Report::new(&no_mail(None), Ok(&[]), &paying);
        let text = lines(&r);
        assert_eq!(r.problems, 1, "{text}");
        assert!(text.contains("FAIL  mail: no mail provider"), "{text}");
        assert!(text.contains("clip b sells through a Stripe Payment Link"), "{text}");
        assert!(text.contains("customers who pay get no download link by e-mail"), "{text}");
        assert!(text.contains("\"lost your link?\" page cannot send them new ones"), "{text}");
        assert!(text.contains(&guide("mail.md")), "{text}");

        let r = Report::new(&no_mail(None), Ok(&[]), &facts(local(&[])));
        assert_eq!((r.problems, r.warnings), (0, 1), "{:?}", r.lines);
        assert!(lines(&r).contains("warn  mail: no mail provider"), "{:?}", r.lines);

        // The self-test's incident tells payments are taken, too.
        let incident = json!({ "name": "ledger", "ok": true, "detail": "D1 reachable; the self-test has an open incident: orders_missing" });
        let r = Report::new(&no_mail(Some(incident)), Ok(&[]), &ShopFacts::default());
        assert!(lines(&r).contains("FAIL  mail: no mail provider (RESEND_API_KEY is not set): e-mail stays in the outbox. The shop takes payments (the self-test reports `orders_missing`)"), "{}", lines(&r));

        // A cart whose Checkout opens Stripe's payment page sells: a new
        // shop with no Payment Link and no payment yet included.
        let cart = json!({ "name": "checkout", "ok": true, "detail": "STRIPE_API_KEY is set: the cart's Checkout opens Stripe's payment page" });
        let deployed = ShopFacts { public_worker: Some("https://shop.example".into()), ..ShopFacts::default() };
        let r = Report::new(&no_mail(Some(cart.clone())), Ok(&[]), &deployed);
        assert!(lines(&r).contains("FAIL  mail: no mail provider (RESEND_API_KEY is not set): e-mail stays in the outbox. The shop takes payments (its cart's Checkout opens Stripe's payment page"), "{}", lines(&r));
        let unset = json!({ "name": "checkout", "ok": true, "detail": "STRIPE_API_KEY is not set: the cart's Checkout cannot open a payment page" });
        assert!(lines(&Report::new(&no_mail(Some(unset)), Ok(&[]), &deployed)).contains("warn  mail"));
        // `wrangler dev` with a key, as scripts/run-local.sh runs it: a try-out.
        assert!(lines(&Report::new(&no_mail(Some(cart)), Ok(&[]), &ShopFacts::default())).contains("warn  mail"));
    }

    /// Stripe's webhook endpoint as the Worker found it: missing or
    /// disabled fails, not checked (the key may not read endpoints) warns.
    #[test]
    fn stripe_webhook_endpoint_problems_fail_and_an_unchecked_one_warns() {
        let health = |ok: bool, detail: &str| json!({ "ok": ok, "checks": [{ "name": "stripe_webhook", "ok": ok, "detail": detail }] });
        let disabled = "Stripe's webhook endpoint https://shop.example/payments/stripe/webhook (we_1) is disabled, so Stripe sends it no event";
        let text = lines(&Report::new(&health(false, disabled), Ok(&[]), &facts(local(&[]))));
        assert!(text.contains(&format!("FAIL  stripe_webhook: {disabled}")), "{text}");
        let unchecked = "whether Stripe sends the shop's events was not checked: STRIPE_API_KEY may not read webhook endpoints (Stripe answered 403)";
        let r = Report::new(&health(true, unchecked), Ok(&[]), &facts(local(&[])));
        assert_eq!((r.problems, r.warnings), (0, 1), "{}", lines(&r));
        assert!(lines(&r).contains(&format!("warn  stripe_webhook: {unchecked}")));
        let fine = "Stripe sends the shop's events to https://shop.example/payments/stripe/webhook (we_1)";
        assert!(lines(&Report::new(&health(true, fine), Ok(&[]), &facts(local(&[]))))
            .contains(&format!("ok    stripe_webhook: {fine}")));
        // Sent, but what the webhook misses would not be read back.
        let blind = format!("{fine}; STRIPE_API_KEY may not read events (Stripe answered 403), so an event whose delivery fails is not read back from Stripe's list: give the restricted key \"Events: Read\" too");
        let r = Report::new(&health(true, &blind), Ok(&[]), &facts(local(&[])));
        assert_eq!((r.problems, r.warnings), (0, 1), "{}", lines(&r));
        assert!(lines(&r).contains(&format!("warn  stripe_webhook: {blind}")));
    }

    /// Test mode on a deployed Worker fails; on this machine it is what a
    /// local run is.
    #[test]
    fn test_mode_fails_a_shop_at_a_public_address() {
        let detail = "STRIPE_API_KEY is set: the cart's Checkout opens Stripe's payment page; in test mode (STRIPE_TEST_MODE = \"true\"): only Stripe's test cards pay";
        let health = json!({ "ok": true, "checks": [{ "name": "checkout", "ok": true, "detail": detail }] });
        let public = ShopFacts { public_worker: Some("https://shop.example".into()), ..facts(local(&[])) };
        let text = lines(&Report::new(&health, Ok(&[]), &public));
        assert!(text.contains("FAIL  checkout: STRIPE_API_KEY is set"), "{text}");
        assert!(text.contains("on the Worker at https://shop.example: customers cannot pay with real cards"), "{text}");
        let text = lines(&Report::new(&health, Ok(&[]), &facts(local(&[]))));
        assert!(text.contains("ok    checkout: STRIPE_API_KEY is set") && !text.contains("FAIL"), "{text}");
    }

    /// No Stripe key on the Worker: the cart's Checkout, on every clip page,
    /// cannot work. A failure when no clip has a Payment Link either (nothing
    /// can be bought), a warning when some do; a key that is set and usable
    /// is fine, and one of the wrong shape fails as the Worker says.
    #[test]
    fn no_stripe_key_fails_a_shop_that_sells_only_through_the_cart() {
        let health = |ok: bool, detail: &str| json!({ "ok": ok, "checks": [{ "name": "checkout", "ok": ok, "detail": detail }] });
        let unset = health(true, "STRIPE_API_KEY is not set: the cart's Checkout cannot open a payment page");
        let r = Report::new(&unset, Ok(&[]), &facts(local(&[])));
        let text = lines(&r);
        assert_eq!(r.problems, 1, "{text}");
        assert!(text.contains("FAIL  checkout: STRIPE_API_KEY is not set"), "{text}");
        assert!(text.contains("no clip has a Payment Link: nothing in the shop can be bought"), "{text}");
        assert!(
            text.contains("npx wrangler secret put STRIPE_API_KEY") && text.contains(&guide("payments.md")),
            "{text}"
        );

        let linked = ShopFacts { payment_link: Some("harbor".into()), ..facts(local(&[])) };
        let r = Report::new(&unset, Ok(&[]), &linked);
        assert_eq!((r.problems, r.warnings), (0, 1), "{:?}", r.lines);
        assert!(lines(&r).contains("warn  checkout: STRIPE_API_KEY is not set"), "{:?}", r.lines);
        assert!(lines(&r).contains("(like harbor) still sell"), "{:?}", r.lines);

        let set = health(true, "STRIPE_API_KEY is set: the cart's Checkout opens Stripe's payment page");
        let r = Report::new(&set, Ok(&[]), &facts(local(&[])));
        assert_eq!((r.problems, r.warnings), (0, 0), "{:?}", r.lines);
        let unlimited = health(
            true,
            "STRIPE_API_KEY is set: the cart's Checkout opens Stripe's payment page; checkouts are not rate limited (no CHECKOUT_LIMITER binding: …)",
        );
        let r = Report::new(&unlimited, Ok(&[]), &facts(local(&[])));
        assert_eq!((r.problems, r.warnings), (0, 1), "{:?}", r.lines);
        let wrong = health(false, "the cart's checkout cannot start: STRIPE_API_KEY is a secret key (sk_)");
        assert_eq!(Report::new(&wrong, Ok(&[]), &linked).problems, 1);
        // content/ could not be loaded: doctor cannot know, so it warns.
        let r = Report::new(&unset, Ok(&[]), &ShopFacts::default());
        assert!(lines(&r).contains("warn  checkout: STRIPE_API_KEY is not set"), "{:?}", r.lines);
    }

    /// A size or hash that differs: of content/, the deployed catalog and
    /// the bucket, the one that disagrees says what to do.
    #[test]
    fn a_wrong_size_names_the_side_that_disagrees() {
        let health = json!({ "ok": true, "checks": [] });
        let wrong = |slug: &str, found: u64| {
            json!({ "slug": slug, "object_key": format!("clips/{slug}.mp4"), "size": 10,
            "found": { "size": found }, "problem": { "problem": "wrong_size", "expected": 10, "found": found } })
        };
        let remote = vec![
            wrong("built", 12),  // content/ says 12, like the bucket
            wrong("pushed", 9),  // content/ says 10, like the deployed catalog
            wrong("neither", 8), // content/ says 7
            json!({ "slug": "hashed", "object_key": "clips/hashed.mp4", "size": 10, "sha256": "aa", "found": { "size": 10, "sha256": "bb" },
                    "problem": { "problem": "wrong_hash", "expected": "aa", "found": "bb" },
                    "secondary": { "found": null, "problem": { "problem": "wrong_size", "expected": 10, "found": 3 } } }),
        ];
        let content =
            local(&[("built", 12, None), ("pushed", 10, None), ("neither", 7, None), ("hashed", 10, Some("bb"))]);
        let text = lines(&Report::new(&health, Ok(&remote), &facts(content)));
        assert!(text.contains("clip built (clips/built.mp4): wrong size: 12 bytes in the bucket, the catalog says 10: content/ already describes the bucket's file, the deployed Worker does not yet: build and deploy"), "{text}");
        assert!(text.contains("clip pushed (clips/pushed.mp4): wrong size: 9 bytes in the bucket, the catalog says 10: content/ and the deployed catalog agree, the bucket holds another file: `site-gen push`"), "{text}");
        assert!(text.contains("clip neither (clips/neither.mp4): wrong size: 8 bytes in the bucket, the catalog says 10: content/ says something else again: `site-gen push`"), "{text}");
        assert!(text.contains("clip hashed (clips/hashed.mp4): wrong sha256: bb in the bucket, the catalog says aa: content/ already describes the bucket's file"), "{text}");
        assert!(text.contains("clip hashed (clips/hashed.mp4) in the secondary: wrong size: 3 bytes in the secondary, the catalog says 10: content/ and the deployed catalog agree, the secondary holds another file: `site-gen push`"), "{text}");
    }

    /// A Worker built from another catalog (the sample shop's, another
    /// shop's) sells none of content/'s clips: its links all answer "Not
    /// found", and that fails, where a clip or two apart are warnings.
    #[test]
    fn a_worker_built_from_another_shops_catalog_fails() {
        let health = json!({ "ok": true, "checks": [] });
        let fine = |slug: &str| json!({ "slug": slug, "object_key": format!("clips/{slug}.mp4"), "size": 1, "found": { "size": 1 }, "problem": null });
        let remote: Vec<Value> = ["harbour", "swell", "dunes", "ferry"].iter().map(|s| fine(s)).collect();
        let other = lines(&Report::new(&health, Ok(&remote), &facts(local(&[("first-clip", 1, None)]))));
        assert!(
            other.contains("FAIL  the deployed Worker sells none of the clips of content (it sells dunes, ferry, harbour, …): either that is not this Worker's shop"),
            "{other}"
        );
        assert!(!other.contains("is sold by the deployed Worker, but"), "one failure, not a warning per clip: {other}");
        let one_apart =
            lines(&Report::new(&health, Ok(&remote), &facts(local(&[("harbour", 1, None), ("new", 1, None)]))));
        assert!(!one_apart.contains("another shop's catalog") && !one_apart.contains("FAIL"), "{one_apart}");
    }

    /// A clip the deployed Worker sells that a build would not: a draft, a
    /// date in the future, a removed `[[variants]]` section, or a file gone.
    #[test]
    fn a_clip_left_out_of_content_says_why() {
        let health = json!({ "ok": true, "checks": [] });
        let fine = |slug: &str| json!({ "slug": slug, "object_key": format!("clips/{slug}.mp4"), "size": 1, "found": { "size": 1 }, "problem": null });
        let remote = vec![fine("v"), fine("v:360p"), fine("drafted"), fine("later"), fine("gone")];
        let from = DateTime::parse_from_rfc3339("2052-03-01T09:00:00Z").unwrap().with_timezone(&Utc);
        let shop = ShopFacts {
            catalog: Some(local(&[("v", 1, None)])),
            left_out: BTreeMap::from([
                ("drafted".to_string(), LeftOut { file: "content/clips/drafted.md".into(), from: None }),
                ("later".to_string(), LeftOut { file: "content/clips/later.md".into(), from: Some(from) }),
            ]),
            ..ShopFacts::default()
        };
        let text = lines(&Report::new(&health, Ok(&remote), &shop));
        assert!(
            text.contains(
                "clip drafted is sold by the deployed Worker, but content/clips/drafted.md is a draft (`draft = true`)"
            ),
            "{text}"
        );
        assert!(text.contains("remove `draft = true` unless none was sold"), "{text}");
        assert!(text.contains("clip later is sold by the deployed Worker, but content/clips/later.md is dated 2052-03-01 09:00 UTC, in the future"), "{text}");
        assert!(text.contains("clip v's file \"360p\" (a `[[variants]]` section) is sold by the deployed Worker but clip v in content/ has no `[[variants]]` section with id = \"360p\""), "{text}");
        assert!(text.contains("clip gone is sold by the deployed Worker but is no longer in content/"), "{text}");
        assert_eq!(
            text.matches("put its file back in content/clips/").count(),
            1,
            "only for the file that is gone: {text}"
        );
    }

    /// What doctor reads of content/: a draft is left out with its file, a
    /// Payment Link tells the shop takes payments.
    #[test]
    fn facts_of_a_shop_on_disk() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
        let facts = shop_facts(&root);
        assert!(facts.catalog.as_ref().is_some_and(|c| c.clips.get("alpha").is_some()));
        let gamma = facts.left_out.get("gamma").expect("gamma is a draft");
        assert_eq!((gamma.file.as_path(), gamma.from), (std::path::Path::new("content/clips/gamma.md"), None));
        assert!(facts.takes_payments.as_deref().is_some_and(|w| w.contains("clip beta")), "{:?}", facts.takes_payments);
    }
}
