//! What the Worker's self-test means by each problem key of an open
//! incident (`GET /admin/health`'s `ledger` check names them; the keys are
//! made in `edge-worker/src/monitor.rs` and `runtime/monitor.rs`), for
//! `site-gen doctor`: a sentence the owner understands, the next command or
//! place to look, and whether a customer may be without a link or a
//! download because of it (doctor fails) or not (a warning).

use crate::guides::guide;

/// The problem keys of the Worker's self-test (`edge-worker/src/monitor/`)
/// in an open incident: what each means in plain words and where to look
/// next; `true` when a customer may be without a link or a download because
/// of it (doctor fails), `false` for a warning.
pub fn incident(key: &str) -> (bool, String) {
    let check = key.split('#').next().unwrap_or(key);
    if let Some(clip) = check.strip_prefix("clip:") {
        return match clip.strip_suffix("@secondary") {
            Some(slug) => (
                true,
                format!(
                    "the secondary origin's copy of clip {slug} is missing or is not the catalog's file: if R2 fails, its buyers get no download. `site-gen push` uploads it (its line under \"The secondary origin\" below says what differs)"
                ),
            ),
            None => (
                true,
                format!(
                    "clip {clip} is missing from the bucket or is not the catalog's file: its buyers cannot download it (unless the secondary origin serves it). Its line under \"The bucket\" below says what differs and what to do"
                ),
            ),
        };
    }
    let payments = || guide("payments.md");
    let mail = || guide("mail.md");
    match check {
        "orders_missing" => (true, format!(
            "customers came back from paying but Stripe's event for their checkout never arrived: the shop asks Stripe for such checkouts and makes their orders (the success page after ten seconds, the self-test for a customer who left it; with a usable STRIPE_API_KEY). Refunds, disputes and the orders of customers who never came back from Stripe's page come by the webhook, or minutes late from the self-test's reading of Stripe's undelivered events, which needs that key to have Events: Read (without it, a refund does not end a link and such a customer has no link until the webhook works). Stripe's webhook is not reaching the shop or is refused. `site-gen orders payments` lists refused deliveries; check the webhook's address in the Stripe Dashboard and STRIPE_WEBHOOK_SECRET ({}). Stripe retries for three days, and the self-test reads back what it missed for 30 days",
            payments()
        )),
        "mail_failed" => (true, format!(
            "the mail provider refused a customer's e-mail for good, so that customer has no link: `site-gen orders outbox` shows it; fix the address or the sender, then `site-gen orders resend ORDER --to ADDRESS` ({})",
            mail()
        )),
        "mail_stuck" => (true, format!(
            "e-mail has waited in the outbox too long, so customers may be without their download links: `site-gen orders outbox` shows each message, why it waits, and its link ({})",
            mail()
        )),
        "payments_unconfirmed" => (true, format!(
            "a delayed payment (a bank debit) neither became an order nor failed: if the Stripe Dashboard shows it paid, the customer has no link; make the order with `site-gen orders create ORDER --clip SLUG --to ADDRESS --session CS --payment PI` ({})",
            payments()
        )),
        "webhook_refused" => (true, format!(
            "Stripe's deliveries to the payment webhook are refused for their signature, so paid orders wait: put the endpoint's signing secret (whsec_…, Stripe Dashboard → Developers → Webhooks) into STRIPE_WEBHOOK_SECRET; `site-gen orders payments` lists the refusals ({})",
            payments()
        )),
        "links_refused" => (true, format!(
            "customers' links were refused because they were signed with a key TOKEN_KEYS no longer has: if you changed TOKEN_KEYS, put the old key back after the new one and keep it until those links expire (the signing keys line above names the keys the Worker has; {})",
            guide("deploy.md")
        )),
        "downloads_stuck" => (true, format!(
            "a customer was refused a clip they never received whole: downloads that broke off used up what their link allows. The Worker's alert names the order and clip; `site-gen orders show ORDER` shows its downloads, and `site-gen orders reset ORDER --clip SLUG` gives them back ({})",
            guide("downloads.md")
        )),
        "checkouts_refused" => (true, format!(
            "a customer paid, but the checkout named a clip the catalog lacks, so no order was made and the customer has no download link: `site-gen orders payments` lists the checkout with the command that makes its order (put in the clip the customer should have). Or put the clip back and deploy within three days of the payment: Stripe's retry then makes the order ({})",
            payments()
        )),
        "checkout" => (true, format!(
            "STRIPE_API_KEY is set but cannot be used, so every cart checkout fails: put in a restricted key (rk_live_…) with `npx wrangler secret put STRIPE_API_KEY` ({})",
            payments()
        )),
        "storage" => (true, format!(
            "the Worker could not use its R2 bucket, so downloads fail: check the CLIPS binding in wrangler.toml and Cloudflare's status page ({})",
            guide("deploy.md")
        )),
        "failure_rate" => (true, format!(
            "many download attempts failed with a server error lately: `npx wrangler tail` in edge-worker/ shows the Worker's log lines, `site-gen orders show ORDER` an order's attempts ({})",
            guide("monitoring.md")
        )),
        "ledger" => (true, format!(
            "the Worker could not use its ledger (D1), so orders may not be recorded and downloads not counted: the ledger check above says why ({})",
            guide("downloads.md")
        )),
        "ledger_schema" => (true,
            "the ledger (D1) lacks migrations this Worker needs, so customers cannot buy (the checkout is closed) and downloads are served as in a D1 outage, each link up to its allowance once more: in edge-worker/, run `npx wrangler d1 migrations apply DB --remote`".to_string()
        ),
        "ledger_writes" => (true,
            "D1 answers reads but refuses writes (full, or read-only): paid checkouts cannot become orders (Stripe retries each for three days, and the Worker reads Stripe's undelivered events of the last 30 days back with a key that may read events) and downloads are counted in R2 meanwhile. Look at the D1 database in the Cloudflare dashboard, its size against the plan's limit; once it takes writes, run `site-gen orders merge`".to_string()
        ),
        "ledger_merge" => (true,
            "D1 refuses writes: the download records kept in R2 meanwhile cannot be merged into it. Look at the D1 database in the Cloudflare dashboard, then run `site-gen orders merge`".to_string()
        ),
        "catalog_sold" => (true, format!(
            "orders that still download bought a clip or file the deployed catalog no longer has (renamed, removed, or a `[[variants]]` section taken out), so their links answer \"Not found\": the Worker's alert names them. Put them back in content/ (a renamed clip keeps its old address with `slug = \"old-name\"`), build the site and the Worker, and deploy ({})",
            guide("content.md")
        )),
        "signing_keys" => (true, format!(
            "the Worker's signing keys (TOKEN_KEYS) are missing or invalid, so no download link works: {}, step 3",
            guide("deploy.md")
        )),
        "catalog_manifest" => (true, format!(
            "the Worker was built with site-gen init's placeholder (change-me) in content/site.toml's base_url or contact_email: customers' mails link to an address that leads nowhere. Set the shop's own, then build the site, then the Worker, and deploy ({}, step 5)",
            guide("deploy.md")
        )),
        "payments" => (false,
            "a refund, a dispute or a payment needs your decision: `site-gen orders payments` lists it".to_string()
        ),
        // The customers have their links: the Worker read the events back.
        "stripe_undelivered" => (false, format!(
            "Stripe could not deliver events to the shop's webhook; the Worker read them back from Stripe's event list and acted on them, later than the webhook would have. Check the webhook's address in the Stripe Dashboard and STRIPE_WEBHOOK_SECRET; `site-gen orders payments` lists refused deliveries ({})",
            payments()
        )),
        "ledger_set_aside" => (false, format!(
            "ledger records written while D1 was failing could not be read and were set aside under ledger-quarantine/ in the bucket ({})",
            guide("downloads.md")
        )),
        "secondary" => (false, format!(
            "the secondary origin's settings or key cannot be used: downloads come from R2 only ({})",
            guide("secondary-origin.md")
        )),
        "r2_failover" => (false,
            "R2 did not serve some downloads (R2 failing, or files missing from the bucket) and the secondary origin served them: the bucket's lines below say what it lacks (`site-gen push` uploads it); if nothing is missing, look at Cloudflare's status page".to_string()
        ),
        _ => (false, "see the Worker's alert".to_string()),
    }
}

/// The problem keys of the self-test's open incident, if a health check's
/// `detail` names one ("…; the self-test has an open incident: a, b").
pub(super) fn open_incident(detail: &str) -> Option<Vec<&str>> {
    let (_, keys) = detail.split_once("open incident: ")?;
    Some(keys.split(',').map(str::trim).filter(|k| !k.is_empty()).collect())
}

/// The incident's keys that tell the shop takes payments through Stripe.
pub(super) fn payments_in(keys: &[&str]) -> Option<String> {
    keys.iter()
        .find(|k| {
            matches!(
                k.split('#').next(),
                Some(
                    "payments"
                        | "payments_unconfirmed"
                        | "checkouts_refused"
                        | "orders_missing"
                        | "checkout"
                        | "stripe_undelivered"
                )
            )
        })
        .map(|k| format!("the self-test reports `{k}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_leaves_a_customer_without_a_link_fails() {
        for key in [
            "orders_missing",
            "mail_failed#3",
            "mail_stuck",
            "payments_unconfirmed#9",
            "clip:a",
            "clip:a:360p",
            "clip:a@secondary",
            "storage",
            "failure_rate",
            "ledger",
            "ledger_schema",
            "ledger_merge",
            "ledger_writes",
            "signing_keys",
            "catalog_manifest",
            "checkout",
            "checkouts_refused",
            "downloads_stuck#7",
            "catalog_sold",
        ] {
            let (fails, what) = incident(key);
            assert!(fails, "{key}: {what}");
            assert!(what.contains(':') && what.len() > 60, "a sentence and a next step: {key}: {what}");
        }
        for key in ["payments#4", "stripe_undelivered", "secondary", "r2_failover", "ledger_set_aside", "not_known_yet"]
        {
            assert!(!incident(key).0, "{key}");
        }
        assert!(incident("clip:a@secondary").1.contains("secondary origin's copy of clip a"));
    }

    #[test]
    fn keys_are_read_from_the_health_detail() {
        let detail = "D1 reachable; the self-test has an open incident: clip:a:360p, mail_failed#12, storage";
        assert_eq!(open_incident(detail), Some(vec!["clip:a:360p", "mail_failed#12", "storage"]));
        assert_eq!(open_incident("D1 reachable"), None);
        assert_eq!(payments_in(&["storage", "payments#41"]).as_deref(), Some("the self-test reports `payments#41`"));
        assert_eq!(payments_in(&["storage", "mail_stuck"]), None);
        assert!(payments_in(&["checkouts_refused"]).is_some(), "a refused paid checkout is a payment");
    }
}
