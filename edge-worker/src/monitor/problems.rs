//! What the self-test tells the owner about each problem it finds: the
//! wording of every alert line (what happened, what it costs customers,
//! what to do), one function per check. Plain Rust, tested in `super`.

/// Minutes a message may wait in the outbox before the self-test reports
/// `mail_stuck` (var `ALERT_MAIL_STUCK_MINUTES`).
pub const DEFAULT_MAIL_STUCK_MINUTES: u64 = 30;

/// `ALERT_MAIL_STUCK_MINUTES`, or the default when unset, zero or unparsable.
pub fn mail_stuck_minutes(var: Option<&str>) -> u64 {
    var.and_then(|m| m.trim().parse().ok()).filter(|m| *m > 0).unwrap_or(DEFAULT_MAIL_STUCK_MINUTES)
}

/// "1 e-mail", "3 e-mails".
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A waiting time in minutes, or in hours past two.
fn age_words(secs: u64) -> String {
    match secs / 60 {
        0 => "less than a minute".to_string(),
        m if m < 120 => plural(m, "minute", "minutes"),
        m => format!("{} hours", m / 60),
    }
}

/// The `mail_stuck` problem: `stuck` messages unsent for at least `minutes`,
/// the oldest for `oldest_age_secs`; `why` says what the Worker knows of
/// the cause (no provider configured, …).
pub fn mail_stuck_problem(stuck: u64, oldest_age_secs: u64, minutes: u64, why: Option<&str>) -> Option<String> {
    if stuck == 0 {
        return None;
    }
    let mut s = format!(
        "{} waiting in the outbox for more than {minutes} minutes (the oldest for {}); customers may be without their download links",
        plural(stuck, "e-mail", "e-mails"),
        age_words(oldest_age_secs),
    );
    if let Some(why) = why {
        s.push_str(": ");
        s.push_str(why);
    }
    Some(s)
}

/// The `mail_stuck` problem at once, whatever the messages' age: `refused`
/// messages wait because the provider refuses the shop's key or sender
/// (`last_error`, [`crate::mail::SHOP_REFUSED`]), so that no mail goes out
/// at all until the owner fixes it.
pub fn mail_refused_problem(refused: u64, oldest_age_secs: u64, last_error: Option<&str>) -> Option<String> {
    if refused == 0 {
        return None;
    }
    let answer = last_error.map(|e| e.strip_prefix(crate::mail::SHOP_REFUSED).unwrap_or(e).trim_end_matches('.'));
    Some(format!(
        "the mail provider refuses the shop's API key or sender, so no e-mail goes out, download links included: {} waiting (the oldest for {}); it last answered: {}. Put a valid key in the RESEND_API_KEY secret (`npx wrangler secret put RESEND_API_KEY`), or verify the domain of MAIL_FROM at Resend (docs/mail.md); the waiting mail starts going within 5 minutes of the fix, 20 a run",
        plural(refused, "e-mail", "e-mails"),
        age_words(oldest_age_secs),
        answer.unwrap_or("?"),
    ))
}

/// The `ledger_schema` problem: migrations this Worker needs that the D1
/// database lacks (`applied`: the names in wrangler's `d1_migrations`). A
/// Worker deployed before its migrations opens no checkout (nothing paid
/// that it could not make an order of), and what they add does not work.
pub fn schema_problem(applied: &[String]) -> Option<String> {
    let missing: Vec<&str> =
        crate::ledger::MIGRATIONS.iter().copied().filter(|m| !applied.iter().any(|a| a == m)).collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the ledger (D1) lacks {} {}: until it has them, the cart's checkout opens no payment page (customers cannot buy), and downloads are served as in a D1 outage (each link may take its allowance once more; charged when the records kept in R2 are merged). Run `npx wrangler d1 migrations apply DB --remote` in edge-worker/ (in a shop's own folder, with `--config wrangler.toml`)",
            if missing.len() == 1 { "migration" } else { "migrations" },
            missing.join(", ")
        )
    })
}

/// The `ledger_set_aside` problem: fallback records the merge could not
/// read, kept under the quarantine prefix (`first`: one of their keys).
pub fn set_aside_problem(count: usize, first: Option<&str>) -> Option<String> {
    (count > 0).then(|| {
        format!(
            "{count}{} ledger record{} written while D1 was failing could not be read and {} set aside under {} (e.g. {}); the other records were merged. Look at them with `npx wrangler r2 object get`, then delete them",
            if count >= 100 { " or more" } else { "" },
            if count == 1 { "" } else { "s" },
            if count == 1 { "was" } else { "were" },
            crate::ledger::QUARANTINE_PREFIX,
            first.unwrap_or("?")
        )
    })
}

/// Minutes after a customer came back from paying before a missing order
/// is a problem (Stripe delivers the webhook within seconds, and retries).
pub const ORDER_MISSING_MINUTES: u64 = 10;

/// The `orders_missing` problem: customers came back from paying (the
/// oldest `oldest_age_secs` ago) and Stripe's event never came: `waiting`
/// of them have no order, and `from_page` got theirs from the success page
/// (which asked Stripe), but refunds and disputes come by the same webhook,
/// or, where the shop `reads_back` Stripe's undelivered events
/// (`payments::stripe_events`), minutes late by that.
pub fn orders_missing_problem(waiting: u64, from_page: u64, oldest_age_secs: u64, reads_back: bool) -> Option<String> {
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let what = match (waiting, from_page) {
        (0, 0) => return None,
        (0, made) => format!(
            "{made} customer{} came back from paying (the oldest {} minutes ago) and Stripe's event never arrived: the shop asked Stripe and made the order{} (the success page, or the self-test for a customer who had left it), but Stripe's webhook is not reaching the shop or is refused, so {}",
            plural(made),
            oldest_age_secs / 60,
            plural(made),
            if reads_back {
                "refunds, disputes and the orders of customers who never come back from Stripe's page take effect only when the self-test reads them back from Stripe, minutes late"
            } else {
                "refunds and disputes do not end links, and a customer who never comes back from Stripe's page gets nothing"
            }
        ),
        (missing, made) => format!(
            "{missing} customer{} came back from paying (the oldest {} minutes ago) but no order exists{}: Stripe's webhook is not reaching the shop or is refused",
            plural(missing),
            oldest_age_secs / 60,
            if made > 0 { format!(", and {made} more got theirs only because the shop asked Stripe") } else { String::new() }
        ),
    };
    Some(format!(
        "{what}. Check the endpoint's address and STRIPE_WEBHOOK_SECRET (`site-gen orders payments` lists refused deliveries); {}",
        if reads_back {
            "the shop reads back what the webhook missed for up to 30 days"
        } else {
            "Stripe retries for three days, so the orders and refunds arrive once it is fixed"
        }
    ))
}

/// Hours a mail the provider refused for good stays a `mail_failed` problem.
pub const MAIL_FAILED_HOURS: u64 = 24;

/// The `mail_failed` problem: `failed` messages the provider refused for
/// good in the last [`MAIL_FAILED_HOURS`]; `latest` describes the newest.
pub fn mail_failed_problem(failed: u64, latest: Option<&str>) -> Option<String> {
    (failed > 0).then(|| {
        format!(
            "{failed} e-mail{} refused by the mail provider for good (latest: {}); the customer has no mail: see `site-gen orders outbox`, fix the address or the sender, and send again with `site-gen orders resend ORDER --to ADDRESS`",
            if failed == 1 { "" } else { "s" },
            latest.unwrap_or("?")
        )
    })
}

/// Links refused in the last hour for a key `TOKEN_KEYS` lacks before they
/// are a `links_refused` problem (one or two are a stranger's made-up link).
pub const LINKS_REFUSED_MIN: u64 = 3;

/// The `links_refused` problem: `refused` requests of the last hour whose
/// link was signed with a key the Worker does not have (`key_ids`: those
/// the refused links named). A rotated `TOKEN_KEYS` that left out the key
/// of links already sent stops every one of them at once, and each
/// customer writes in: the eleven days this shop exists to prevent.
pub fn links_refused_problem(refused: u64, key_ids: Option<&str>) -> Option<String> {
    (refused >= LINKS_REFUSED_MIN).then(|| {
        let which = key_ids.filter(|k| !k.is_empty()).map_or(String::new(), |k| format!(" (key {k})"));
        format!(
            "{refused} download requests in the last hour were refused because their link was signed with a key TOKEN_KEYS does not have{which}: \
             every customer with such a link sees \"This download link is not valid\". If you changed TOKEN_KEYS, put the old key back \
             after the new one (the first signs new links, the others still open the old ones), keep it until those links expire, \
             and `site-gen doctor` shows the keys the Worker has (docs/deploy.md). If you never had such a key, someone is trying \
             made-up links: nothing to do"
        )
    })
}

/// Refused deliveries to the payment webhook in the last hour before they
/// are a `webhook_refused` problem.
pub const WEBHOOK_REFUSED_MIN: u64 = 3;

/// The `webhook_refused` problem: `refused` deliveries of the last hour
/// to the payment webhook whose signature did not verify. Stripe's signing
/// secret changed (a new endpoint, a rolled secret): every paid order waits
/// for the owner, and a shop of Payment Links only had no other sign of it.
pub fn webhook_refused_problem(refused: u64, _latest: Option<&str>) -> Option<String> {
    (refused >= WEBHOOK_REFUSED_MIN).then(|| {
        format!(
            "{refused} deliveries to the payment webhook in the last hour were refused because their signature did not match \
             STRIPE_WEBHOOK_SECRET: if the webhook's signing secret changed in the Stripe Dashboard (Developers → Webhooks → \
             the endpoint → Signing secret), put the new whsec_… in with `wrangler secret put STRIPE_WEBHOOK_SECRET`; until \
             then paid orders wait (Stripe retries each for three days), and `site-gen orders payments` lists the refusals \
             (docs/payments.md). If nothing changed at Stripe, someone is posting made-up events: nothing to do"
        )
    })
}

/// Hours a customer refused a resume stays a `downloads_stuck` problem.
pub const DOWNLOADS_STUCK_HOURS: u64 = 24;

/// The `downloads_stuck` problem: `stuck` customers (order and clip) whose
/// resume of a clip they never received whole was refused for the
/// allowance in the last [`DOWNLOADS_STUCK_HOURS`] (a line that broke off
/// more often than the resume credit covers); `latest` names the newest
/// five (`order O, clip c; …`): naming one left the owner to find the
/// others by hand (the downloads review). Without the owner, they write
/// in: this says so first.
pub fn downloads_stuck_problem(stuck: u64, latest: Option<&str>) -> Option<String> {
    (stuck > 0).then(|| {
        let named = match stuck {
            1 => latest.unwrap_or("?").to_string(),
            2..=5 => format!("newest first: {}", latest.unwrap_or("?")),
            _ => format!("the newest 5: {}; once they are reset, the next alert names the others", latest.unwrap_or("?")),
        };
        format!(
            "{stuck} customer{} refused a clip they never received whole: their downloads are used up by downloads that broke off ({named}). `site-gen orders show ORDER` shows them; `site-gen orders reset ORDER --clip SLUG` gives the clip's downloads back (docs/downloads.md)",
            if stuck == 1 { " was" } else { "s were" },
        )
    })
}

/// How long a refund, dispute or price mismatch stays a `payments` problem
/// (it alerts once, then "recovered" after this window).
pub const PAYMENT_ATTENTION_HOURS: u64 = 24;

/// The `payments` problem: paid orders that need the owner's decision, from
/// `payment_events` rows (order, outcome, detail) of the last
/// [`PAYMENT_ATTENTION_HOURS`].
pub fn payment_attention_problem(rows: &[(Option<String>, String, String)]) -> Option<String> {
    if rows.is_empty() {
        return None;
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|(order, outcome, detail)| {
            let order = order.as_deref().unwrap_or("no order");
            // A refused paid checkout's command, filled in from it
            // (`payments::order_by_hand`), or a blank one.
            let (detail, by_hand) = match detail.split_once(crate::payments::BY_HAND) {
                Some((detail, command)) => (detail, command),
                None => (detail.as_str(), "site-gen orders create ORDER --clip SLUG --to ADDRESS --session CS --payment PI"),
            };
            match outcome.as_str() {
                "partial_refund" => format!(
                    "{order}: partially refunded ({detail}); its links still work. To stop one clip: site-gen orders revoke {order} --clip SLUG"
                ),
                "amount_mismatch" => format!(
                    "{order}: {detail}; the order was created and its links work. Check the Payment Link's or promotion's price"
                ),
                "refund_failed" if order == "no order" => format!(
                    "{detail}, for a payment with no shop order yet: if its checkout arrives, the order is made revoked as the refund asked (`site-gen orders reissue ORDER --despite-refund` if the customer should have it); if it was not a sale of the shop's, nothing needs doing"
                ),
                "refund_failed" => format!(
                    "{order}: {detail}; the order stays as the refund left it (revoked if it was a full refund; a partial one revoked nothing). Refund the customer another way; or, if a full refund revoked it and they should have the clips after all: site-gen orders reissue {order} --despite-refund"
                ),
                "paid_twice" => {
                    let (earlier, what) = detail.split_once(": ").unwrap_or(("another order", detail));
                    let slug = what.split(", bought on").next().unwrap_or("SLUG");
                    format!(
                        "{order}: paid for again ({what} in order {earlier}: two payment pages of the same clip, both paid). If it was a mistake, refund the payment of the order the customer has not downloaded with (`site-gen orders show {earlier}` and `show {order}` list their downloads; if neither has any, {order}) in the Stripe Dashboard, which stops its link while the other's keeps working; if that order bought other clips too, refund only this clip's price and `site-gen orders revoke ORDER --clip {slug}`. If they meant to buy it twice, nothing needs doing"
                    )
                }
                "unpaid_order" => format!(
                    "{order}: {detail}, but the order was made before the money arrived (`orders create --session`) and its links work. If the customer does not pay another way: site-gen orders revoke {order}"
                ),
                "revoke_pending" => format!(
                    "a refund or dispute of a payment with no shop order yet ({detail}): if its checkout arrives, the order is created revoked, with no mail; if it was not a sale of the shop's, nothing needs doing"
                ),
                "unknown_clip" => format!(
                    "a paid checkout could not become an order ({detail}): the customer has no link. Put the clip back in the catalog and deploy within three days (Stripe's retry then creates the order), or make it by hand, with the clip the customer should have in place of the one the catalog lacks: `{by_hand}` (docs/payments.md)"
                ),
                "no_clips" => format!(
                    "a paid checkout names no clips ({detail}): if it was a sale of the shop's, its Payment Link lacks the `clips` metadata and the customer has no link: `{by_hand}`, with the clips they bought (docs/payments.md); if it was not, nothing needs doing"
                ),
                "underpaid" => format!(
                    "a checkout made with the shop's Stripe key, not by its cart or a Payment Link, paid less than the catalog ({detail}): no order was made. If you did not make it, STRIPE_API_KEY has leaked: roll the key in the Stripe Dashboard (Developers → API keys), put the new one in with `wrangler secret put STRIPE_API_KEY`, and refund the payment. If it was a sale of yours: `{by_hand}` (docs/payments.md)"
                ),
                "checkout_unavailable" if blames_the_key(detail) => format!(
                    "a customer's checkout could not start ({detail}); nothing was charged. Fix {} (docs/payments.md)",
                    if detail.starts_with("STRIPE_WEBHOOK_SECRET") { "STRIPE_WEBHOOK_SECRET" } else { "STRIPE_API_KEY" }
                ),
                // Turned away before Stripe was asked: what it says is the fix.
                "checkout_unavailable" if !detail.to_ascii_lowercase().starts_with("stripe") => format!(
                    "a customer's checkout was turned away before paying, because a paid order could not have been delivered ({detail}); nothing was charged. Fix that, then `site-gen doctor` shows the checkout ready (docs/deploy.md)"
                ),
                "checkout_unavailable" => format!(
                    "a customer's checkout could not start ({detail}); nothing was charged. Stripe's message says why (a total under Stripe's minimum charge, an account not yet activated for live payments)"
                ),
                _ => format!("{order}: {outcome} ({detail})"),
            }
        })
        .collect();
    Some(format!("{} payment matter(s) need a look: {}", rows.len(), lines.join("; ")))
}

/// Whether a refused checkout's `detail` is the key's fault: its shape
/// (`check_api_key`), or Stripe refusing it (401, 403).
fn blames_the_key(detail: &str) -> bool {
    detail.starts_with("STRIPE_API_KEY")
        || detail.starts_with("STRIPE_WEBHOOK_SECRET")
        || detail.starts_with("Stripe answered 401")
        || detail.starts_with("Stripe answered 403")
}

/// Days a delayed payment (a bank debit: typically 5 working days) may go
/// unconfirmed before the owner hears of it, and the days after that it
/// stays a problem.
pub const PAYMENT_UNCONFIRMED_DAYS: (u64, u64) = (10, 7);

/// The `payments_unconfirmed` problem: `count` delayed payments announced
/// [`PAYMENT_UNCONFIRMED_DAYS`] ago that neither became an order nor failed.
pub fn payments_unconfirmed_problem(count: u64, session: Option<&str>) -> Option<String> {
    (count > 0).then(|| {
        format!(
            "{count} delayed payment{} (a bank debit) announced {} days ago neither became an order nor failed (checkout {}): check that the Stripe webhook sends checkout.session.async_payment_succeeded and checkout.session.async_payment_failed; if the Dashboard shows the payment succeeded, the customer has paid and has no link: `site-gen orders create ORDER --clip SLUG --to ADDRESS --session CS --payment PI` (docs/payments.md)",
            if count == 1 { "" } else { "s" },
            PAYMENT_UNCONFIRMED_DAYS.0,
            session.unwrap_or("?")
        )
    })
}

/// Days a paid checkout the Worker refused (it named a clip the catalog
/// lacks) stays a `checkouts_refused` problem while it has no order: the
/// `payments` alert about it ends after [`PAYMENT_ATTENTION_HOURS`], and
/// the customer still has no link.
pub const CHECKOUT_REFUSED_DAYS: u64 = 30;

/// The `checkouts_refused` problem: `count` paid checkouts refused in the
/// last [`CHECKOUT_REFUSED_DAYS`] that still have no order (nor a full
/// refund or a dispute); `latest` names the newest.
pub fn checkouts_refused_problem(count: u64, latest: Option<&str>) -> Option<String> {
    let (what, who) = match count {
        0 => return None,
        1 => ("checkout could not become an order, and still has none", "it named a clip the catalog lacks, and its customer has no download link. `site-gen orders payments` lists it"),
        _ => ("checkouts could not become orders, and still have none", "they named clips the catalog lacks, and their customers have no download link. `site-gen orders payments` lists each"),
    };
    let once = if count == 1 { "it has" } else { "each has" };
    Some(format!(
        "{count} paid {what} (latest: {}): {who} with the command that makes its order; this clears once {once} its order or its payment is refunded (docs/payments.md)",
        latest.unwrap_or("?")
    ))
}

/// The `ledger_merge` problem: the download records kept in R2 while D1
/// failed could not be merged into D1 (`error`).
pub fn merge_failed_problem(error: &str) -> String {
    format!(
        "download records kept in R2 could not be merged into D1 ({error}): D1 may be refusing writes (full, or read-only); \
         downloads go on and are counted in R2 until it takes them. Look at the D1 database in the Cloudflare dashboard"
    )
}

/// What the owner runs when the ledger's tables are missing.
pub const APPLY_MIGRATIONS: &str = "the ledger's migrations are not applied: `npx wrangler d1 migrations apply DB --remote` (`--local` for `wrangler dev`; with `--config wrangler.toml` in a shop's own folder)";

/// The `ledger` problem of a D1 whose state could not be read (`error`):
/// tables missing (migrations), or D1 not answering: what still works and
/// what waits for it (docs/outages.md).
pub fn ledger_down_problem(error: &str) -> String {
    if error.contains("no such table") {
        return format!("{error}: {APPLY_MIGRATIONS}");
    }
    format!(
        "D1 does not answer ({error}): downloads go on, counted in R2 until it is back (not while R2 fails too: then they wait for either); paid checkouts wait for it (Stripe retries each for three days; the success page shows the link meanwhile when Stripe can be asked), and so do revokes, resets and `site-gen orders`. Look at the D1 database in the Cloudflare dashboard and at Cloudflare's status page"
    )
}

/// The `ledger_writes` problem: D1 answered the self-test's reads but
/// refused its one write (`error`): it refuses every write (full, or
/// read-only). Nothing else says so until a download's record fails to
/// merge (`ledger_merge`), and meanwhile Stripe's payment events cannot
/// become orders.
pub fn writes_refused_problem(error: &str) -> String {
    format!(
        "D1 answers reads but refuses writes ({error}): paid checkouts cannot become orders (Stripe retries each for three days, and the cron reads Stripe's undelivered events of the last 30 days back with a key that may read events, so the orders follow once D1 takes writes), and downloads are counted in R2 until it takes them. Look at the D1 database in the Cloudflare dashboard (its size against the plan's limit)"
    )
}

/// What a problem key means, in the owner's words, for an alert's subject
/// (the alerts review: "clip:… cleared", "ledger", "orders_missing" told a
/// shop owner nothing). The key itself stays in each line and in the
/// webhook's data, as docs/monitoring.md names them.
pub fn title(key: &str) -> String {
    if let Some(clip) = key.strip_prefix(super::CLIP_PREFIX) {
        return match clip.strip_suffix("@secondary") {
            Some(slug) => format!("the backup copy of clip {slug}"),
            None => format!("the file of clip {clip} in storage"),
        };
    }
    let check = key.split('#').next().unwrap_or(key);
    match check {
        "storage" => "clip storage (R2)",
        "ledger" => "the download records (D1)",
        "ledger_writes" => "the download records (D1) refusing writes",
        "ledger_schema" => "the download records (D1) missing updates",
        "ledger_merge" | "ledger_set_aside" => "downloads counted during an outage",
        "signing_keys" => "the keys of the download links",
        "failure_rate" => "downloads failing",
        "downloads_stuck" => "a customer who cannot finish a download",
        "links_refused" => "download links refused",
        "mail_stuck" => "e-mail not going out",
        "mail_failed" => "an e-mail that could not be delivered",
        "orders_missing" => "paid orders not arriving from Stripe",
        "payments" => "payments to look at",
        "payments_unconfirmed" | "stripe_undelivered" => "payments Stripe has not confirmed to the shop",
        "webhook_refused" => "Stripe's messages refused",
        "checkout" | "checkouts_refused" => "the cart's checkout",
        "catalog_manifest" => "the catalog the Worker was built with",
        "catalog_sold" => "clips customers bought, gone from the catalog",
        "secondary" | "r2_failover" => "the backup copy of the clips",
        "alerts" => "the alerts themselves",
        other => other,
    }
    .to_string()
}
