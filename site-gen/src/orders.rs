//! `site-gen orders`: the owner's view of the download ledger, through the
//! Worker's admin API (`/admin/…`, see `edge-worker/src/admin.rs` and
//! `docs/downloads.md`; the client itself is `crate::admin_client`).
//!
//! The commands, plus the pure parts that are tested natively: the tables
//! the `list` commands print, the CSV `export` writes, and the checks made
//! before the Worker is asked to change anything.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::admin_client::{admin_token, array, is_loopback, resolve_worker_url, AdminClient, NewOrder, OrdersError};
use crate::purchase_token::{self as pt, MintRequest};

/// `site-gen orders …`
#[derive(clap::Args, Debug)]
pub struct OrdersArgs {
    /// The Worker's address, e.g. https://shop.example or http://127.0.0.1:8787
    /// (default: $CLIPSTORE_WORKER_URL, else download_base_url's address in content/site.toml).
    #[arg(long, value_name = "URL", global = true)]
    pub worker_url: Option<String>,
    /// The shop's folder (for its .dev.vars and, on reissue, the catalog).
    #[arg(long, default_value = ".", value_name = "DIR", global = true)]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: OrdersCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum OrdersCommand {
    /// List orders, newest first, with downloads and attempts.
    List {
        /// At most this many orders (the newest).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        /// Only the orders of this customer's e-mail address: paid with it at
        /// checkout, or whose link was mailed there (case does not matter).
        #[arg(long, value_name = "ADDRESS")]
        email: Option<String>,
    },
    /// "Paid but never fully downloaded": orders (created in the window) with a
    /// clip the Worker never sent completely.
    NeverDownloaded {
        /// Only orders created at or after this time (YYYY-MM-DD, RFC 3339 or unix seconds).
        #[arg(long, value_parser = parse_time)]
        since: Option<u64>,
        /// Only orders created before this time.
        #[arg(long, value_parser = parse_time)]
        until: Option<u64>,
        /// At most this many orders (the newest).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Show one order: its clips, downloads used and left, and every attempt.
    Show { order: String },
    /// Create an order by hand (a payment the Worker never heard of: a
    /// Payment Link without its clips, a bank transfer) and e-mail the
    /// customer its link; the link is printed too, to send yourself when no
    /// mail provider is set up.
    Create {
        /// The order's id, as the shop knows it (e.g. the payment reference).
        order: String,
        /// A clip the order covers; repeat for several. A clip sold in several
        /// files or under licence tiers takes slug:variant:licence.
        #[arg(long = "clip", value_name = "SLUG[:VARIANT[:LICENCE]]", required = true)]
        clips: Vec<String>,
        /// The customer's e-mail address.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
        /// How many times each clip may be downloaded.
        #[arg(long, default_value_t = 5)]
        downloads: u32,
        /// How long the link works: 30d, 12h, 2weeks, ...
        #[arg(long, default_value = "30d")]
        expires: String,
        /// The Stripe checkout session (cs_...) the customer paid through,
        /// when the Worker refused it (the owner's alert names it) or never
        /// had its event (an outage longer than Stripe's retries): a later
        /// refund or dispute then revokes this order, and Stripe's retry of
        /// that checkout makes no second one. If its customer already opened
        /// the link its success page showed, that order (PAY-...) exists:
        /// name it as ORDER and the checkout is attached to it.
        #[arg(long, value_name = "CS_ID")]
        session: Option<String>,
        /// The Stripe payment (pi_...) it was paid by, for the same reason.
        #[arg(long, value_name = "PI_ID")]
        payment: Option<String>,
    },
    /// Give back all downloads of an order (or of one clip), or, with
    /// --since and --until instead of an order, of every order with a download
    /// attempt in that window.
    Reset {
        /// The order whose downloads are given back.
        #[arg(required_unless_present = "since")]
        order: Option<String>,
        /// Only this clip of the order.
        #[arg(long, value_name = "SLUG", requires = "order")]
        clip: Option<String>,
        /// Start of the window, included (YYYY-MM-DD is midnight UTC, or RFC 3339, or unix seconds).
        #[arg(long, value_parser = parse_time, requires = "until", conflicts_with = "order")]
        since: Option<u64>,
        /// End of the window, excluded: `--until 2026-11-12` stops at the end of 11 November (UTC).
        #[arg(long, value_parser = parse_time, requires = "since")]
        until: Option<u64>,
    },
    /// Revoke an order: every link of it stops working. With --clip, only
    /// that clip of it (after a partial refund); its other clips keep working.
    Revoke {
        /// The order to revoke (as `orders list` and the owner's alerts name it).
        order: String,
        /// Only this clip of the order (its slug).
        #[arg(long, value_name = "SLUG")]
        clip: Option<String>,
        /// Revoke an order the ledger does not know yet (a link minted by
        /// hand, never used). Without it, an unknown id is refused: it is
        /// most likely a typo, and the real order would keep working.
        #[arg(long)]
        not_in_ledger: bool,
    },
    /// Undo `revoke` (a mistake, or a partial refund settled another way):
    /// the order, or with --clip that clip of it, downloads again with the
    /// links the customer already has. An order revoked for a refund or a
    /// dispute is not restored here (`reissue --despite-refund` is).
    Unrevoke {
        /// The order (as `orders list` names it).
        order: String,
        /// Only this clip of the order (its slug), revoked with `revoke --clip`.
        #[arg(long, value_name = "SLUG")]
        clip: Option<String>,
    },
    /// E-mail the customer a fresh link of the order (it shares the order's
    /// downloads; the old link keeps working), to the address of the
    /// checkout or --to.
    Resend {
        order: String,
        #[arg(long, value_name = "ADDRESS")]
        to: Option<String>,
    },
    /// Make the order's old links stop working and print a new one, also
    /// e-mailed to the customer when the order has an address (unless
    /// --no-mail). An order revoked by `revoke` works again with the new
    /// link; one revoked for a refund or a dispute needs --despite-refund.
    /// With --exchange, one clip of the order becomes another file or
    /// licence of it.
    Reissue {
        order: String,
        /// Only print the new link: mail the customer nothing.
        #[arg(long, conflicts_with = "to")]
        no_mail: bool,
        /// Mail the new link to this address (default: where the order's
        /// last link mail went, e.g. an address corrected with
        /// `resend --to`; else the checkout's).
        #[arg(long, value_name = "ADDRESS")]
        to: Option<String>,
        /// The order's address was wrong (a typo at checkout, a stranger's
        /// mailbox): --to becomes its address, and the earlier ones no longer
        /// get its links through "Lost your download link?" (the links mailed
        /// there stop with the reissue).
        #[arg(long, requires = "to")]
        replace_address: bool,
        /// The customer bought the wrong file or licence of a clip: the
        /// order's clip becomes this item (`harbour-at-dawn:720p`, a licence
        /// third: `harbour-at-dawn:720p:extended`), and its downloads start
        /// again. The same order, so a refund of its payment still stops it.
        #[arg(long, value_name = "ITEM")]
        exchange: Option<String>,
        /// Exchange for a dearer file or licence without charging the
        /// difference (refused otherwise: the customer would have it for
        /// the price of the cheaper one).
        #[arg(long, requires = "exchange")]
        no_charge: bool,
        /// Reissue an order revoked because its payment was refunded or
        /// disputed (its downloads work again).
        #[arg(long)]
        despite_refund: bool,
        /// How long the new link (and the order) works: 30d, 12h, 1y, ...
        /// [default: 30 days, or what the order has left when that is longer]
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Link base instead of download_base_url from site.toml.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Only for a Worker older than this site-gen, which sends no new
        /// link of its own: sign it with the local Worker's key
        /// (edge-worker/.dev.vars) even for a link that is not for
        /// 127.0.0.1 or localhost. (The Worker signs the link; no key is
        /// needed here.)
        #[arg(long)]
        local_key: bool,
    },
    /// Write every download attempt as CSV (to stdout or --out).
    Export {
        /// Only this order's attempts.
        #[arg(long)]
        order: Option<String>,
        /// Write the CSV to this file instead of the screen.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Merge ledger records the Worker wrote to R2 while D1 was failing.
    Merge,
    /// Payment webhook deliveries, newest first: paid orders, duplicates and
    /// refusals (bad signature, unknown clip, ...); see docs/payments.md in your
    /// clipstore checkout.
    Payments {
        /// At most this many deliveries (the newest).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// E-mail in the Worker's outbox, newest first: its status (queued,
    /// sending, sent, failed), kind (order, resend, recovery, alert), order,
    /// to whom, and the message's link (the order page); see docs/mail.md in
    /// your clipstore checkout.
    Outbox {
        /// At most this many messages (the newest).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only the mail to this address ("I never got the e-mail").
        #[arg(long)]
        email: Option<String>,
        /// Only the mail about this order (its order mail and resends; a
        /// "Lost your download link?" mail covers every order of an
        /// address: find it with --email).
        #[arg(long)]
        order: Option<String>,
    },
}

/// How many of the newest messages `outbox --email`/`--order` looks
/// through: the most the Worker lists at once.
const OUTBOX_SEARCHED: u32 = 10_000;

/// Whether `id` looks like a Stripe id with `prefix` (`cs_a1B2...`).
fn stripe_id(id: &str, prefix: &str) -> bool {
    id.len() > prefix.len()
        && id.len() <= 255
        && id.starts_with(prefix)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The columns `export` writes, in order (the ledger's `download_attempts`).
pub const CSV_COLUMNS: [&str; 23] = [
    "id",
    "attempt_id",
    "at",
    "order_id",
    "clip_slug",
    "key_id",
    "method",
    "range_header",
    "status",
    "outcome",
    "span_offset",
    "span_length",
    "charged_bytes",
    "client_ip",
    "country",
    "user_agent",
    "recorded_via",
    "completed",
    "reserved_bytes",
    "sent_bytes",
    "credited_bytes",
    "settled_at",
    "origin",
];

/// One CSV field (RFC 4180): quoted when it holds `,`, `"`, CR or LF, with
/// `"` doubled. A text starting with `=`, `+`, `-`, `@` (a formula to a
/// spreadsheet) gets a leading `'`, since user agents come from strangers.
pub fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::String(s) => {
            if s.starts_with(['=', '+', '-', '@']) {
                format!("'{s}")
            } else {
                s.clone()
            }
        }
        other => other.to_string(),
    };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The link to mint for an order as the ledger shows it (`order` of
/// `GET /admin/orders/<id>` or of a reissue): its clips, each with the file
/// and licence bought, its allowance and customer reference, from `now`.
fn reissue_request(
    order: &str,
    o: Option<&Value>,
    valid_for: std::time::Duration,
    now: u64,
) -> Result<MintRequest, OrdersError> {
    let o = o.ok_or_else(|| OrdersError::BadAnswer("no `order`".into()))?;
    let clips: Vec<String> = o
        .get("clips")
        .and_then(Value::as_str)
        .and_then(|c| serde_json::from_str(c).ok())
        .ok_or_else(|| OrdersError::BadAnswer("no `clips`".into()))?;
    if clips.is_empty() {
        return Err(OrdersError::Other(format!(
            "order {order} has no clips in the ledger (revoked before its link was ever used, by `orders revoke \
             --not-in-ledger`?), so there is nothing to reissue: nothing was changed\n  \
             help: give the customer a new order under a new id: `site-gen orders create NEW-ID --clip SLUG --to \
             ADDRESS` (mails its link), or `site-gen token mint --order NEW-ID --clip SLUG`; a link under {order} \
             stays revoked"
        )));
    }
    // The file and licence bought of each clip, so the new link serves what
    // was paid for.
    let choices: std::collections::BTreeMap<String, clipstore_core::Choice> =
        o.get("choices").and_then(Value::as_str).and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    let clips = clips
        .into_iter()
        .map(|slug: String| match choices.get(&slug) {
            Some(choice) => clipstore_core::Item { slug, choice: choice.clone() }.to_item_string(),
            None => slug,
        })
        .collect();
    Ok(MintRequest {
        order_id: order.to_string(),
        clips,
        valid_for,
        downloads: o.get("allowance").and_then(Value::as_u64).unwrap_or(0) as u32,
        customer_ref: o.get("customer_ref").and_then(Value::as_str).map(str::to_string),
        now_unix: now,
    })
}

/// The reissue's planned items with the clip `item` names exchanged for it
/// (`orders reissue --exchange`), written as the Worker writes an order's
/// items, so that its answer can be compared.
fn exchanged(order: &str, planned: &mut MintRequest, item: &str) -> Result<(), OrdersError> {
    let parsed = clipstore_core::Item::parse(item).ok_or_else(|| {
        OrdersError::Other(format!(
            "--exchange {item:?} is not an item: write the clip's slug, a file and a licence, like \
             harbour-at-dawn:720p or harbour-at-dawn:720p:extended; nothing was changed"
        ))
    })?;
    let slug_of = |i: &str| i.split(':').next().unwrap_or_default().to_string();
    let Some(at) = planned.clips.iter().position(|i| slug_of(i) == parsed.slug) else {
        return Err(OrdersError::Other(format!(
            "order {order} has no clip {}; it has: {}: nothing was changed",
            parsed.slug,
            planned.clips.iter().map(|i| slug_of(i)).collect::<Vec<_>>().join(", ")
        )));
    };
    planned.clips[at] = parsed.to_item_string();
    Ok(())
}

/// Refuses an exchange of one of `held` (the order's items) for a dearer
/// `item` at the catalog's prices: the customer would have it for the price
/// of the cheaper one (the owner review: 480p Standard became 720p Extended,
/// €18 for €60, without a word). `--no-charge` gives it anyway.
fn dearer_exchange(catalog: &clipstore_core::CatalogManifest, held: &[String], item: &str) -> Result<(), OrdersError> {
    let priced = |written: &str| {
        let parsed = clipstore_core::Item::parse(written)?;
        catalog.resolve(&parsed).ok().map(|r| (parsed.slug, r.price, r.description))
    };
    let Some((slug, price, name)) = priced(item) else { return Ok(()) };
    let Some((_, was, was_name)) = held.iter().filter_map(|h| priced(h)).find(|(s, _, _)| *s == slug) else {
        return Ok(());
    };
    if price <= was {
        return Ok(());
    }
    let currency = &catalog.shop.currency;
    let money = |minor| clipstore_core::display::price_text(minor, currency);
    Err(OrdersError::Other(format!(
        "--exchange {item}: {name} sells for {}, more than the order's {was_name} ({}): nothing was changed. \
         Have the customer buy it, then refund this order in full in the Stripe Dashboard; or, to give it at no \
         charge, add --no-charge",
        money(price),
        money(was)
    )))
}

/// Writes attempts as CSV with a header line, CRLF line ends (RFC 4180).
/// The `at` column is also written as `at_utc` (RFC 3339) for people.
pub fn write_csv(attempts: &[Value], mut out: impl Write) -> std::io::Result<()> {
    let mut header: Vec<&str> = CSV_COLUMNS.to_vec();
    header.insert(3, "at_utc");
    write!(out, "{}\r\n", header.join(","))?;
    for a in attempts {
        let mut fields: Vec<String> =
            CSV_COLUMNS.iter().map(|c| csv_field(a.get(*c).unwrap_or(&Value::Null))).collect();
        let at_utc = a
            .get("at")
            .and_then(Value::as_i64)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        fields.insert(3, at_utc);
        write!(out, "{}\r\n", fields.join(","))?;
    }
    Ok(())
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn time_ms(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_i64)
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Who an order is for: its checkout's address (or where its link was
/// mailed), else the customer reference a minted link carries.
fn customer(order: &Value) -> String {
    match (order.get("customer_email").and_then(Value::as_str), order.get("customer_ref").and_then(Value::as_str)) {
        (Some(email), _) => email.to_string(),
        (None, Some(reference)) => format!("ref {reference}"),
        (None, None) => "-".to_string(),
    }
}

/// Whether `order`'s links have expired at `now` (unix seconds), as the
/// Worker refuses them: from `expires_at` plus its clock slack
/// (`clipstore_core::token::expired_from`), not before.
fn expired(order: &Value, now: u64) -> bool {
    order.get("expires_at").and_then(Value::as_u64).is_some_and(|at| clipstore_core::token::expired_from(at) <= now)
}

/// The table `list` and `never-downloaded` print. BYTES CHARGED is what
/// the allowance counts (bytes sent, less what resumes and resets gave
/// back), not all that was sent. A clip bought in another file or under a
/// licence tier is written as items are given to `create` and `--exchange`
/// (`slug:file:licence`); STATE says why an order was revoked.
pub fn orders_table(orders: &[Value]) -> String {
    let now = unix_now();
    let mut out = format!(
        "{:<24} {:<16} {:>9} {:>8} {:>14} {:<16} {:<16} {:<8} {:<28} {}\n",
        "ORDER",
        "CREATED",
        "DOWNLOADS",
        "ATTEMPTS",
        "BYTES CHARGED",
        "LAST ATTEMPT",
        "EXPIRES",
        "STATE",
        "CUSTOMER",
        "CLIPS"
    );
    for o in orders {
        let json_list = |key: &str| -> Vec<String> {
            o.get(key).and_then(Value::as_str).and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default()
        };
        let revoked = json_list("revoked_clips");
        let choices: std::collections::BTreeMap<String, clipstore_core::Choice> =
            o.get("choices").and_then(Value::as_str).and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
        // A clip refunded on its own (a partial refund) is named so.
        let clips: Vec<String> = json_list("clips")
            .into_iter()
            .map(|c| {
                let choice = choices.get(&c).cloned().unwrap_or_default();
                let item = clipstore_core::Item { slug: c.clone(), choice }.to_item_string();
                if revoked.contains(&c) {
                    format!("{item}(revoked)")
                } else {
                    item
                }
            })
            .collect();
        let state = match o.get("revoked_reason").and_then(Value::as_str) {
            _ if o.get("revoked_at").is_none_or(Value::is_null) => {
                if expired(o, now) {
                    "expired"
                } else {
                    "active"
                }
            }
            Some(reason @ ("refunded" | "disputed")) => reason,
            _ => "revoked",
        };
        out.push_str(&format!(
            "{:<24} {:<16} {:>9} {:>8} {:>14} {:<16} {:<16} {:<8} {:<28} {}\n",
            text(o, "order_id"),
            time_s(o, "created_at"),
            format!("{}/clip", text(o, "allowance")),
            text(o, "attempts"),
            text(o, "granted_bytes"),
            time_ms(o, "last_attempt_at"),
            time_s(o, "expires_at"),
            state,
            customer(o),
            clips.join(" ")
        ));
    }
    out
}

/// The table `payments` prints.
pub fn payments_table(payments: &[Value]) -> String {
    let mut out =
        format!("{:<16} {:>6} {:<20} {:<24} {:<28} {}\n", "TIME", "STATUS", "OUTCOME", "ORDER", "EVENT", "DETAIL");
    for p in payments {
        // A refused paid checkout's command follows a control character
        // (the Worker's `payments::BY_HAND`), shown as a plain separator.
        // Its clip the catalog lacks is the owner's to replace: as written,
        // `orders create` refuses it.
        let separator = if text(p, "outcome") == "unknown_clip" {
            "; put the clip back and deploy (Stripe's retry then makes the order), or, with the clip the customer \
             should have in place of the one the catalog lacks, "
        } else {
            "; "
        };
        let recorded = text(p, "detail").replace('\u{1f}', separator);
        let detail = match p.get("customer_email").and_then(Value::as_str) {
            Some(email) => format!("{recorded} {email} {}", text(p, "amount_total")),
            // Without an order, the checkout to look up in the Stripe
            // Dashboard (the owner review: a pending or failed bank debit
            // could not be told from another).
            None => match p.get("session_id").and_then(Value::as_str).filter(|s| s.starts_with("cs_")) {
                Some(session) if !recorded.contains(session) => format!("{recorded} (checkout {session})"),
                _ => recorded,
            },
        };
        out.push_str(&format!(
            "{:<16} {:>6} {:<20} {:<24} {:<28} {}\n",
            time_ms(p, "at"),
            text(p, "status"),
            text(p, "outcome"),
            text(p, "order_id"),
            text(p, "event_id"),
            detail
        ));
    }
    out
}

fn time_s(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_i64)
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The table `outbox` prints: one line per message (what it is, the order
/// it is about, whole: the subject cut short hid it), and under a message
/// that is retrying or failed, the provider's last answer.
pub fn outbox_table(messages: &[Value]) -> String {
    let mut out = format!(
        "{:<16} {:<8} {:>5} {:<14} {:<24} {:<32} {}\n",
        "CREATED", "STATUS", "TRIES", "KIND", "ORDER", "TO", "LINK"
    );
    for m in messages {
        out.push_str(&format!(
            "{:<16} {:<8} {:>5} {:<14} {:<24} {:<32} {}\n",
            time_s(m, "created_at"),
            text(m, "status"),
            text(m, "attempts"),
            text(m, "kind"),
            text(m, "order_id"),
            text(m, "to"),
            text(m, "link"),
        ));
        if let Some(error) = m.get("last_error").and_then(Value::as_str) {
            let when = match text(m, "status").as_str() {
                "queued" | "sending" => format!(" (next attempt {})", time_s(m, "next_attempt_at")),
                _ => String::new(),
            };
            out.push_str(&format!("{:<16} last error{when}: {error}\n", ""));
        }
    }
    out
}

/// What `show` prints.
pub fn order_details(v: &Value) -> String {
    let order = v.get("order").cloned().unwrap_or(Value::Null);
    let expires = match time_s(&order, "expires_at") {
        at if expired(&order, unix_now()) => {
            format!("{at} UTC (expired: its links answer \"expired\"; `reissue` gives new ones)")
        }
        at => format!("{at} UTC"),
    };
    let buyer = v.get("customer").cloned().unwrap_or(Value::Null);
    let mut who = match (
        buyer.get("customer_email").and_then(Value::as_str),
        order.get("customer_ref").and_then(Value::as_str),
    ) {
        (Some(email), Some(reference)) => format!("{email} (ref {reference})"),
        (Some(email), None) => email.to_string(),
        (None, Some(reference)) => format!("ref {reference}"),
        (None, None) => "-".to_string(),
    };
    if let (Some(amount), Some(currency)) =
        (buyer.get("amount_total").and_then(Value::as_u64), buyer.get("currency").and_then(Value::as_str))
    {
        who.push_str(&format!("\npaid:       {}", clipstore_core::display::price_text(amount, currency)));
        if let Some(payment) = buyer.get("payment_id").and_then(Value::as_str) {
            who.push_str(&format!(" (Stripe payment {payment})"));
        }
    }
    let mut out = format!(
        "order:      {}\nallowance:  {} per clip\ncustomer:   {}\nsource:     {}\nexpires:    {}\nrevoked:    {}\n\nclips:\n",
        text(&order, "order_id"),
        match order.get("allowance").and_then(Value::as_u64) {
            Some(1) => "1 download".to_string(),
            _ => format!("{} downloads", text(&order, "allowance")),
        },
        who,
        text(&order, "source"),
        expires,
        revocation(&order),
    );
    // What was bought of each clip: its file (variant) and licence.
    let choices: std::collections::BTreeMap<String, clipstore_core::Choice> =
        order.get("choices").and_then(Value::as_str).and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    for c in v.get("clips").and_then(Value::as_array).into_iter().flatten() {
        let slug = text(c, "clip_slug");
        let bought = choices.get(&slug).map(|choice| {
            let mut parts = Vec::new();
            parts.extend(choice.variant.as_ref().map(|v| format!("file {v}")));
            parts.extend(choice.licence.as_ref().map(|l| format!("licence {l}")));
            format!(" [{}]", parts.join(", "))
        });
        out.push_str(&format!(
            "  {:<32} {} used, {} left ({} bytes charged; the file is {} bytes)\n",
            format!("{slug}{}", bought.unwrap_or_default()),
            text(c, "downloads_used"),
            text(c, "downloads_left"),
            text(c, "granted_bytes"),
            text(c, "clip_size")
        ));
    }
    // The links known so far (the ledger keeps no link, only when each
    // was issued and first known): a reissue stops those issued before it.
    // Not "opened": the checkout's link is known from its making (the
    // owner review read a stranger's visit into it).
    let links: Vec<&Value> = v.get("links").and_then(Value::as_array).into_iter().flatten().collect();
    if !links.is_empty() {
        out.push_str(
            "\nlinks (known from the checkout that made one, else from its first opening; resend and reissue mail or print new ones; the attempts show what was downloaded):\n",
        );
        for l in links {
            out.push_str(&format!(
                "  issued {}, key {}, known since {}\n",
                time_s(l, "issued_at"),
                text(l, "key_id"),
                time_s(l, "first_seen_at")
            ));
        }
    }
    let events: Vec<&Value> = v.get("events").and_then(Value::as_array).into_iter().flatten().collect();
    if !events.is_empty() {
        out.push_str("\nevents:\n");
        for e in events {
            let clip = e.get("clip_slug").and_then(Value::as_str).unwrap_or("");
            let detail = e.get("detail").and_then(Value::as_str).unwrap_or("");
            out.push_str(format!("  {} {:<15} {:<28} {}\n", time_s(e, "at"), text(e, "kind"), clip, detail).trim_end());
            out.push('\n');
        }
    }
    out.push_str("\nattempts:\n");
    for a in v.get("attempts").and_then(Value::as_array).into_iter().flatten() {
        out.push_str(&format!(
            "  {} {:<4} {:<28} {} {:<18} {:>10} bytes charged  {:<22} {}{}\n",
            time_ms(a, "at"),
            text(a, "method"),
            text(a, "clip_slug"),
            text(a, "status"),
            text(a, "outcome"),
            text(a, "charged_bytes"),
            text(a, "range_header"),
            settlement(a),
            // R2 is the usual origin; only the secondary is worth a word.
            match a.get("origin").and_then(Value::as_str) {
                Some("secondary") => " (from the secondary origin)",
                _ => "",
            }
        ));
    }
    out
}

/// Whether and why the order was revoked: `no`, `yes (refunded)`, or the
/// clips revoked one by one after a partial refund.
fn revocation(order: &Value) -> String {
    let revoked = order.get("revoked_at").is_some_and(|r| !r.is_null());
    let reason = order.get("revoked_reason").and_then(Value::as_str);
    let clips: Vec<String> = order
        .get("revoked_clips")
        .and_then(Value::as_str)
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    match (revoked, reason) {
        (true, Some(reason)) => format!("yes ({reason})"),
        (true, None) => "yes".to_string(),
        (false, _) if !clips.is_empty() => format!("only {}", clips.join(", ")),
        (false, _) => "no".to_string(),
    }
}

/// How an attempt's reservation ended, in words (docs/downloads.md,
/// "Settlement"): finished, broke off after what it sent, or still open.
fn settlement(a: &Value) -> String {
    let number = |key: &str| a.get(key).and_then(Value::as_u64);
    let Some(reserved) = number("reserved_bytes") else { return String::new() };
    // Refused after its reservation (R2 failing), and settled: no byte
    // left, nothing broke off (the outage review read "broke off after 0
    // of N bytes"). Unsettled, it is still charged in full: said below.
    let refused = number("status").is_some_and(|status| status >= 400) && number("sent_bytes").unwrap_or(0) == 0;
    if refused && number("settled_at").is_some() {
        return "(refused: nothing sent)".to_string();
    }
    // Given back when the customer asked for those bytes again: a resume,
    // or a browser's fresh start (the support review read "by a resume"
    // of a customer who never resumed).
    let credited = match number("credited_bytes") {
        Some(c) if c > 0 => format!(", {c} given back when they were asked for again"),
        _ => String::new(),
    };
    match (number("settled_at"), number("completed"), number("sent_bytes")) {
        (None, _, _) => format!("(in flight or never settled: {reserved} reserved, charged in full)"),
        (Some(_), Some(1), _) => format!("(finished{credited})"),
        // Every byte handed to the network, the end never confirmed: the
        // customer went away with some still on their way.
        (Some(_), _, Some(sent)) if sent >= reserved => {
            format!("(all {sent} bytes sent, but the connection closed before the end{credited})")
        }
        (Some(_), _, Some(sent)) => format!("(broke off after {sent} of {reserved} bytes{credited})"),
        _ => String::new(),
    }
}

/// Where a reissued link points without `--base-url`: the Worker asked,
/// when it is a local one, else the shop's `download_base_url`.
fn reissue_base(worker: &str, download_base_url: &str) -> String {
    if is_loopback(worker) {
        format!("{}/download", worker.trim_end_matches('/'))
    } else {
        download_base_url.to_string()
    }
}

fn worker_url(args: &OrdersArgs) -> Result<String, OrdersError> {
    resolve_worker_url(args.worker_url.as_deref(), &args.root)
}

/// Runs `site-gen orders …`.
pub fn run(args: OrdersArgs) -> Result<ExitCode, OrdersError> {
    let worker = worker_url(&args)?;
    let client = AdminClient::new(&worker, &admin_token(&args.root)?)?;
    match args.command {
        OrdersCommand::List { limit, email: None } => print!("{}", orders_table(&client.list(limit)?)),
        OrdersCommand::List { limit, email: Some(email) } => {
            let found = client.orders_of_email(&email, limit)?;
            if found.is_empty() {
                println!(
                    "No order of {email}: none was paid with that address, and no link of one was mailed there. \
                     Ask the customer for the order number, or look the payment up in Stripe's Dashboard (Payments, \
                     search by e-mail)."
                );
            } else {
                print!("{}", orders_table(&found));
            }
        }
        OrdersCommand::NeverDownloaded { since, until, limit } => {
            print!("{}", orders_table(&client.never_fully_downloaded(since, until, limit)?))
        }
        OrdersCommand::Show { order } => print!("{}", order_details(&client.show(&order)?)),
        OrdersCommand::Reset { order: Some(order), clip, .. } => {
            let shown = check_resettable(&client, &order, clip.as_deref())?;
            let v = client.reset(&order, clip.as_deref())?;
            match v.get("clips_reset").and_then(Value::as_u64) {
                Some(0) => println!(
                    "Order {order}: nothing to give back: no download of {} in the ledger yet (downloads made while D1 was down count once merged), so every download is there.",
                    clip.as_deref().map_or("its clips is".to_string(), |c| format!("clip {c} is"))
                ),
                _ => println!("Order {order}: downloads given back for {} clip(s).", text(&v, "clips_reset")),
            }
            if let Some(stopped) = still_stopped(&order, &shown, clip.as_deref()) {
                println!("{stopped}");
            }
        }
        OrdersCommand::Reset { order: None, since, until, .. } => {
            let (Some(since), Some(until)) = (since, until) else {
                return Err(OrdersError::Other("give an order, or --since and --until".into()));
            };
            if since >= until {
                return Err(OrdersError::Other(format!(
                    "--since ({}) must be before --until ({}): the window is empty, nothing was reset",
                    pt::show_time(since),
                    pt::show_time(until)
                )));
            }
            let v = client.reset_window(since, until)?;
            let mut orders: Vec<String> =
                array(&v, "orders_reset")?.iter().filter_map(|o| o.as_str().map(str::to_string)).collect();
            orders.sort();
            orders.dedup();
            println!("Downloads given back to {} order(s): {}", orders.len(), orders.join(" "));
        }
        OrdersCommand::Revoke { order, clip, not_in_ledger } => {
            check_revocable(&client, &order, clip.as_deref(), not_in_ledger)?;
            revoke(&client, &order, clip)?;
        }
        OrdersCommand::Unrevoke { order, clip } => unrevoke(&client, &order, clip.as_deref())?,
        OrdersCommand::Create { order, clips, to, downloads, expires, session, payment } => {
            let valid_for = pt::parse_duration(&expires)?;
            if !clipstore_core::token::is_valid_order_id(&order) {
                return Err(OrdersError::Other(format!(
                    "{order:?} cannot be an order id ({}): nothing was created",
                    clipstore_core::token::ORDER_ID_RULE
                )));
            }
            if downloads == 0 {
                return Err(OrdersError::Other("--downloads must be at least 1".into()));
            }
            // One link covers so many (the scale review: 101 clips were
            // answered "the ledger is unavailable", to be tried again).
            if clips.len() > clipstore_core::token::MAX_CLIPS {
                return Err(OrdersError::Other(format!(
                    "one order (one link) covers at most {} clips, not {}: make two orders: nothing was created",
                    clipstore_core::token::MAX_CLIPS,
                    clips.len()
                )));
            }
            if !clipstore_core::address::valid_address(&to) {
                return Err(OrdersError::Other(format!(
                    "--to {to:?} is not an e-mail address (name@example.com): nothing was created"
                )));
            }
            let ids = [("--session", "cs_", &session), ("--payment", "pi_", &payment)];
            for (flag, prefix, id) in ids {
                if let Some(id) = id.as_deref().filter(|id| !stripe_id(id, prefix)) {
                    return Err(OrdersError::Other(format!(
                        "{flag} {id:?} is not a Stripe id ({prefix}... as the alert or Stripe's Dashboard shows it): \
                         nothing was created"
                    )));
                }
            }
            if payment.is_some() && session.is_none() {
                return Err(OrdersError::Other(
                    "--payment needs the checkout's --session (cs_..., named by the alert and on the payment's page \
                     in Stripe's Dashboard): nothing was created"
                        .into(),
                ));
            }
            let new = NewOrder {
                order_id: &order,
                clips: &clips,
                downloads,
                expires_at: unix_now() + valid_for.as_secs(),
                customer_email: &to,
                session_id: session.as_deref(),
                payment_id: payment.as_deref(),
            };
            let created = client.create(&new).map_err(|e| match e {
                // (A link the Worker could not sign is said in its words: the diff review.)
                OrdersError::Http { status: 409, body }
                    if body.contains("already has order") || body.starts_with("signing the link") =>
                {
                    OrdersError::Other(format!("the Worker answered 409: {body}: nothing was created"))
                }
                OrdersError::Http { status: 409, .. } => OrdersError::Other(format!(
                    "order {order} already exists: nothing was created (`site-gen orders show {order}`; \
                     `site-gen orders resend {order} --to {to}` mails its link again)"
                )),
                e => e,
            })?;
            if created.get("claimed").and_then(Value::as_bool) == Some(true) {
                if !print_claimed(&order, &clips, &created) {
                    return Ok(ExitCode::SUCCESS);
                }
            } else if created.get("revoked").and_then(Value::as_bool) == Some(true) {
                println!(
                    "Order {order} created, and revoked at once: its payment was refunded or disputed (Stripe told \
                     the Worker before). Nothing was mailed; `site-gen orders show {order}` shows why."
                );
                return Ok(ExitCode::SUCCESS);
            } else {
                println!("Order {order} created: {} clip(s), {downloads} download(s) each.", clips.len());
            }
            let sent = client.resend(&order, Some(&to), false).map_err(|e| {
                OrdersError::Other(format!(
                    "order {order} is in the ledger, but its link was not e-mailed: {e}\n  \
                     help: `site-gen orders resend {order} --to ADDRESS` mails it once the cause is fixed"
                ))
            })?;
            print_resent(&order, &sent, outbox_status(&client, &sent));
        }
        OrdersCommand::Resend { order, to } => match client.resend(&order, to.as_deref(), false) {
            Ok(v) => {
                let status = outbox_status(&client, &v);
                print_resent(&order, &v, status)
            }
            Err(OrdersError::Http { status: 409, body }) if body.contains(" expired on ") => {
                return Err(OrdersError::Other(format!(
                    "the Worker answered 409: {body}\n  help: a resent link would share its expiry: \
                     `site-gen orders reissue {order}` prints a new link (valid 30 days, or --expires) and moves \
                     the order's expiry, after which `resend` works again"
                )));
            }
            Err(e) => return Err(e),
        },
        OrdersCommand::Reissue {
            order,
            no_mail,
            to,
            replace_address,
            exchange,
            no_charge,
            despite_refund,
            expires,
            base_url,
            local_key,
        } => {
            if let Some(to) = to.as_deref().filter(|to| !clipstore_core::address::valid_address(to)) {
                return Err(OrdersError::Other(format!(
                    "--to {to:?} is not an e-mail address (name@example.com): nothing was changed"
                )));
            }
            let asked = expires.as_deref().map(pt::parse_duration).transpose()?;
            let shop = crate::load_shop(&args.root).map_err(|d| OrdersError::Other(d.to_string()))?;
            // A local Worker's links are its own (the shop's address is
            // not what it answers, nor what its local key may sign for).
            let base = base_url.unwrap_or_else(|| reissue_base(&worker, &shop.config.download_base_url));
            // Check the new link against the catalog before the Worker is
            // asked: a clip since withdrawn (a draft, a renamed or removed
            // file) must not leave the customer with old links stopped and
            // no new one.
            let shown = client.show(&order)?;
            check_reissuable(&order, &shown, despite_refund)?;
            let valid_for = asked.unwrap_or_else(|| reissued_validity(shown.get("order"), unix_now()));
            let mut planned = reissue_request(&order, shown.get("order"), valid_for, unix_now())?;
            if let Some(item) = &exchange {
                // The item itself first: a file or tier the shop lacks is
                // said as such, not as a clip gone from the catalog (the
                // support review).
                let alone = MintRequest { clips: vec![item.clone()], ..planned.clone() };
                pt::checked_claims(&shop, "", &alone)
                    .map_err(|e| OrdersError::Other(format!("--exchange {item}: {e}; nothing was changed")))?;
                let before = planned.clips.clone();
                exchanged(&order, &mut planned, item)?;
                if !no_charge {
                    dearer_exchange(&crate::render::manifest(&shop), &before, item)?;
                }
            }
            let planned_claims = pt::checked_claims(&shop, "", &planned).map_err(|e| {
                // Never a link minted under the same id: once opened, it
                // would replace the order's clips in the ledger.
                OrdersError::Other(format!(
                    "order {order} cannot be reissued, nothing was changed: {e}\n\
                     Put the clip back in the catalog (or its file, or `draft = false`) and build, then reissue; \
                     or give the customer the order's other clips as a new order: `site-gen orders create \
                     {order}-2 --to ADDRESS --clip …` with one --clip for each of {} still for sale (it mails the \
                     link), then `site-gen orders revoke {order}` if its old links should stop",
                    planned.clips.join(" ")
                ))
            })?;
            let v = client.reissue(&order, valid_for.as_secs(), exchange.as_deref())?;
            let o = v.get("order");
            let not_before = o.and_then(|o| o.get("not_before")).and_then(Value::as_u64).unwrap_or(0);
            let request = reissue_request(&order, o, valid_for, unix_now().max(not_before))?;
            let canonical = pt::checked_claims(&shop, "", &request)?;
            if exchange.is_some() && canonical.choices != planned_claims.choices {
                // A Worker older than this site-gen reissues and ignores it:
                // the old links are stopped, so its new link is the one left.
                if let Some(link) = v.get("link").and_then(Value::as_str) {
                    println!("{link}");
                }
                return Err(OrdersError::Other(format!(
                    "order {order} was reissued (its old links stopped), but the Worker, older than this site-gen, \
                     kept the clip's old file and licence ({}): the link above still serves those (`site-gen orders \
                     resend {order}` mails it). Build and deploy the Worker of this clipstore, then run this command \
                     again",
                    request.clips.join(" ")
                )));
            }
            // The Worker signs the new link with the key it checks, so no
            // key is needed here (a local one, rotated since or mistyped,
            // could sign one that fails). Only a Worker older than this
            // site-gen answers without one: then the key here signs it.
            let claims = match v.get("link").and_then(Value::as_str) {
                Some(link) => {
                    println!("{link}");
                    canonical
                }
                None => {
                    let signed = pt::signing_key_from(&args.root).and_then(|(key, source)| {
                        pt::check_key_for(source, &args.root, &base, local_key)?;
                        pt::mint(&shop, &key, &request)
                    });
                    let (token, claims) = signed.map_err(|e| {
                        OrdersError::Other(format!(
                            "order {order} was reissued (its old links stopped), but the Worker, older than this \
                             site-gen, sent no new link, and none can be signed here: {e}\n\
                             Run `site-gen orders resend {order}`: the Worker e-mails the customer a link it signs"
                        ))
                    })?;
                    println!("{}", pt::download_url(&base, &token));
                    claims
                }
            };
            // The customer's links stopped: they hear of the new one from the
            // shop, not from a "withdrawn or replaced" page (the customer
            // review: an exchange mailed nothing, unlike `create`).
            // Mails before the owner last replaced the order's address (a
            // typo's) are no address to mail again (the review of that change).
            let replaced_at = shown
                .get("events")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|e| text(e, "kind") == "address")
                .filter_map(|e| e.get("at").and_then(Value::as_u64))
                .max()
                .unwrap_or(0);
            let mailed =
                (!no_mail).then(|| mail_reissued(&client, &order, to.as_deref(), replace_address, replaced_at));
            let replaced = matches!(mailed, Some(Ok(_)));
            let tell = match mailed {
                None => format!("send the customer this link, or `site-gen orders resend {order} --to ADDRESS`"),
                Some(Ok(said)) => said,
                // Not replaced either: said so, with the command that does
                // both (the attack review: the typo could still ask for links).
                Some(Err(why)) if replace_address => format!(
                    "the order's address was not replaced ({why}): the earlier address still \
                     gets its links through \"Lost your download link?\"; run `site-gen orders reissue {order} --to \
                     ADDRESS --replace-address` again"
                ),
                Some(Err(why)) => format!(
                    "no mail went out ({why}): send the customer this link, or `site-gen orders resend {order} --to ADDRESS`"
                ),
            };
            // The exchanged clip's downloads start again (said below).
            let used = if exchange.is_some() { "the other clips' downloads" } else { "downloads" };
            eprintln!(
                "Order {}: new link for {} ({}, {used} already used stay used), valid until {}; links issued before it no longer work, and a mail of the order still waiting in the Worker's outbox is withdrawn ({tell}).",
                claims.order_id,
                claims.items_text(),
                downloads_each(u64::from(claims.downloads)),
                pt::show_time(claims.expires_at),
            );
            if let Some(item) = &exchange {
                eprintln!(
                    "Exchanged: the order now has {item}, and that clip's downloads start again (the order page, \
                     the certificate and a refund of the order's payment all go by it)."
                );
            }
            if let Some(reason) =
                shown.pointer("/order/revoked_at").filter(|r| !r.is_null()).map(|_| revoked_reason(&shown))
            {
                eprintln!(
                    "The order was revoked ({reason}): the reissue ended that, and its downloads work again with the new link."
                );
            }
            // The refunded clips of a cart stay stopped, and the mail lists
            // the others only (the refunds review: the output named every clip).
            if let Some(note) = clips_still_stopped(&order, &shown, None) {
                eprintln!("{note} The e-mail lists the order's other clips only.");
            }
            if replace_address && !replaced {
                return Ok(ExitCode::FAILURE);
            }
        }
        OrdersCommand::Export { order, out } => {
            // A typo wrote a file of headers alone and said nothing.
            if let Some(order) = &order {
                match client.show(order) {
                    // The Worker's own answer; a 404 of an address that is
                    // no Worker is not a typo of the id.
                    Err(OrdersError::Http { status: 404, body }) if body.starts_with("no order ") => {
                        return Err(OrdersError::Other(format!(
                            "no order {order} in the ledger: nothing was exported\n  help: check the id (`site-gen orders list` shows them)"
                        )))
                    }
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
            let attempts = client.attempts(order.as_deref())?;
            match out {
                Some(path) => {
                    let io = |e: std::io::Error| {
                        OrdersError::Other(format!("could not write the attempts to {}: {e}", path.display()))
                    };
                    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
                    write_csv(&attempts, &mut file).map_err(io)?;
                    file.into_inner().map_err(|e| io(e.into_error()))?;
                    eprintln!("{} attempts written to {}", attempts.len(), path.display());
                }
                None => {
                    let mut stdout = std::io::stdout().lock();
                    let written = write_csv(&attempts, &mut stdout).and_then(|()| stdout.flush());
                    match written {
                        // `orders export | head`: the reader had enough.
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                        other => other.map_err(|e| OrdersError::Other(format!("could not write the attempts: {e}")))?,
                    }
                }
            }
        }
        OrdersCommand::Payments { limit } => print!("{}", payments_table(&client.payments(limit)?)),
        OrdersCommand::Outbox { limit, email, order } => {
            let filtered = email.is_some() || order.is_some();
            // A filter looks through as much as the Worker lists at once.
            let messages = client.outbox(if filtered { OUTBOX_SEARCHED } else { limit })?;
            let wanted: Vec<Value> = messages
                .into_iter()
                .filter(|m| email.as_deref().is_none_or(|e| text(m, "to").trim().eq_ignore_ascii_case(e.trim())))
                .filter(|m| order.as_deref().is_none_or(|o| text(m, "order_id") == o.trim()))
                .take(limit as usize)
                .collect();
            if filtered && wanted.is_empty() {
                let what = match (&email, &order) {
                    (Some(e), Some(o)) => format!("to {e} about order {o}"),
                    (Some(e), None) => format!("to {e}"),
                    (None, o) => format!("about order {}", o.as_deref().unwrap_or_default()),
                };
                println!(
                    "No e-mail {what} among the newest {OUTBOX_SEARCHED} in the outbox. Check the address for a \
                     slip (`orders list --email` finds orders by the checkout's address); `orders resend ORDER --to \
                     ADDRESS` mails an order's link."
                );
            } else {
                print!("{}", outbox_table(&wanted));
            }
        }
        OrdersCommand::Merge => {
            // The Worker merges a batch per call (its invocation's D1
            // queries are limited), and says when records are left.
            // (A batch all set aside merges none, and more are left: the
            // calls are counted instead, at most 10,000 records' worth.)
            let (mut merged, mut settled, mut more) = (0, 0, false);
            for _ in 0..50 {
                let v = client.merge()?;
                merged += v.get("merged").and_then(Value::as_u64).unwrap_or(0);
                settled += v.get("settled_stale").and_then(Value::as_u64).unwrap_or(0);
                more = v.get("more").and_then(Value::as_bool) == Some(true);
                if !more {
                    break;
                }
            }
            println!("Merged {merged} record(s) from the R2 fallback into the ledger.");
            if more {
                println!(
                    "More are waiting: run `site-gen orders merge` again (the cron also merges 200 every 5 minutes)."
                );
            }
            if settled > 0 {
                println!(
                    "Settled {settled} download(s) that stopped mid-stream without settling, to what each last reported."
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `orders create --session` says when the Worker attached the
/// checkout to the order its own link made (the customer opened the link
/// the success page showed while D1 was down). True when the customer
/// should be mailed the link, as for an order made afresh.
fn print_claimed(order: &str, named: &[String], claimed: &Value) -> bool {
    let clips: Vec<&str> =
        claimed.get("clips").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let downloads = claimed.get("downloads").and_then(Value::as_u64).unwrap_or(0);
    println!(
        "Order {order} already existed: the customer opened the link the checkout's success page showed while \
         the ledger was down. The checkout and its payment are now attached to it, so a refund or dispute of \
         the payment revokes it. It keeps the clips and downloads its link carries: {} ({downloads} download(s) each).",
        clips.join(", ")
    );
    let mut wanted: Vec<&str> = named.iter().map(|c| c.split(':').next().unwrap_or(c)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut kept = clips.clone();
    kept.sort_unstable();
    if wanted != kept {
        println!(
            "  note: --clip named {}; the order was left with its own. A clip to add is a second order \
             (`site-gen orders create ORDER-2 --clip ...`).",
            wanted.join(", ")
        );
    }
    if claimed.get("revoked").and_then(Value::as_bool) == Some(true) {
        println!(
            "The payment was refunded or disputed (Stripe told the Worker before): the order is revoked now, \
             and nothing was mailed. `site-gen orders show {order}` shows why."
        );
        return false;
    }
    if claimed.get("revoked_before").and_then(Value::as_bool) == Some(true) {
        println!(
            "The order was revoked before (`site-gen orders show {order}`), so nothing was mailed; \
             `site-gen orders reissue {order}` gives its customer a fresh link."
        );
        return false;
    }
    true
}

/// What `resend` (and `create`) say: where the link went, whether the mail
/// left, and the link itself, which the owner can send by hand.
fn print_resent(order: &str, v: &Value, status: Option<(String, Option<String>)>) {
    let delivery = v.get("delivery").cloned().unwrap_or(Value::Null);
    let no_provider = delivery.get("no_provider").and_then(Value::as_u64).unwrap_or(0);
    // The batch's report when this message's own status is not known.
    let sent = match &status {
        Some((status, _)) => status == "sent",
        None => delivery.get("sent").and_then(Value::as_u64).unwrap_or(0) > 0,
    };
    let to = text(v, "to");
    if sent {
        println!("Order {order}: a fresh link e-mailed to {to}: sent.");
    } else if let Some(("failed", error)) = status.as_ref().map(|(s, e)| (s.as_str(), e)) {
        println!(
            "Order {order}: the mail provider refused the message to {to}: {}. Check the address (`--to`), \
             or send the customer the link below yourself.",
            error.as_deref().unwrap_or("no reason given")
        );
    } else if no_provider > 0 {
        println!(
            "Order {order}: a fresh link for {to} waits in the outbox: the Worker has no mail provider set up \
             ({} tells how). Send the customer the link below yourself (the mail also goes out once a provider is set up).",
            crate::guides::guide("mail.md")
        );
    } else {
        println!("Order {order}: a fresh link for {to} is queued in the outbox (see `site-gen orders outbox`).");
    }
    println!("{}", text(v, "link"));
}

/// Mails the customer of `order` a fresh link after a reissue (a resend:
/// it shares the reissued order's downloads) at `to`, else where the
/// order's last link mail went, else the checkout's address, and says how
/// that went; the Worker's reason when it could not be queued (no address
/// known, no clip of it left in the catalog).
fn mail_reissued(
    client: &AdminClient,
    order: &str,
    to: Option<&str>,
    replace: bool,
    replaced_at: u64,
) -> Result<String, String> {
    // Where its last link mail went (or was to go, when this reissue
    // withdrew it), not the checkout's address alone: an address corrected
    // with `resend --to` must not get the typo's mail again (the diff and
    // support reviews). As the Worker's resend chooses (`ORDER_TO_RESEND`);
    // asked here too for a Worker older than that.
    let last_sent = || -> Option<String> {
        let messages = client.outbox(OUTBOX_SEARCHED).ok()?;
        messages
            .iter()
            .find(|m| {
                text(m, "order_id") == order
                    && m.get("created_at").and_then(Value::as_u64).unwrap_or(0) >= replaced_at
                    && matches!(text(m, "kind").as_str(), "order" | "resend")
                    && (text(m, "status") != "failed" || text(m, "last_error").starts_with("withdrawn:"))
            })
            .map(|m| text(m, "to"))
    };
    let address = to.map(str::to_string).or_else(last_sent);
    let v = client.resend(order, address.as_deref(), replace).map_err(|e| match e {
        OrdersError::Http { body, .. } => body,
        other => other.to_string(),
    })?;
    let to = text(&v, "to");
    // An older Worker mails, and ignores the replacement: a failure of the
    // command (its text says the mail went).
    let replaced = match replace.then(|| address_replaced(order, &v)) {
        Some(Ok(said)) => said + "; ",
        Some(Err(why)) => return Err(why.to_string()),
        None => String::new(),
    };
    Ok(replaced
        + &match outbox_status(client, &v) {
            Some((status, _)) if status == "sent" => format!("a fresh link was e-mailed to {to}"),
            Some((status, error)) if status == "failed" => format!(
                "the mail provider refused a mail to {to}: {}; send the customer this link yourself",
                error.as_deref().unwrap_or("no reason given")
            ),
            _ => format!(
                "a mail with a fresh link to {to} waits in the outbox: see `site-gen orders outbox --order {order}`"
            ),
        })
}

/// What `--replace-address` did, from the Worker's answer: an older Worker
/// ignores the request, and the typo would still get the order's links.
fn address_replaced(order: &str, v: &Value) -> Result<String, OrdersError> {
    match v.get("address_replaced").and_then(Value::as_bool) {
        Some(true) => Ok(format!(
            "order {order}'s address is now {}: the earlier ones no longer get its links through \"Lost your download link?\"",
            text(v, "to")
        )),
        _ => Err(OrdersError::Other(format!(
            "the link went to {}, but the Worker, older than this site-gen, did not replace order {order}'s address: \
             the earlier one still gets its links through \"Lost your download link?\". Build and deploy the Worker \
             of this clipstore, then run this again",
            text(v, "to")
        ))),
    }
}

/// How long a reissued order works without `--expires`: 30 days, or what
/// it has left when that is longer (a 365-day order reissued for an
/// exchange was cut to 30 days without a word: the support review).
fn reissued_validity(order: Option<&Value>, now: u64) -> std::time::Duration {
    let month = 30 * 86_400;
    let left = order.and_then(|o| o.get("expires_at")).and_then(Value::as_u64).map_or(0, |at| at.saturating_sub(now));
    std::time::Duration::from_secs(left.max(month))
}

/// "1 download each", "3 downloads each".
fn downloads_each(n: u64) -> String {
    format!("{n} download{} each", if n == 1 { "" } else { "s" })
}

/// The status (and last error) in the outbox of the message a resend
/// queued, found by its link: the resend's delivery report counts every
/// message of the batch it sent, not this one alone. None when it cannot
/// be found.
fn outbox_status(client: &AdminClient, resent: &Value) -> Option<(String, Option<String>)> {
    let link = resent.get("link").and_then(Value::as_str)?;
    let messages = client.outbox(50).ok()?;
    let message = messages.iter().find(|m| m.get("link").and_then(Value::as_str) == Some(link))?;
    Some((text(message, "status"), message.get("last_error").and_then(Value::as_str).map(str::to_string)))
}

/// Refuses to revoke what is most likely a typo: an order the ledger does
/// not know (unless `not_in_ledger`), or a clip the order does not have.
fn check_revocable(
    client: &AdminClient,
    order: &str,
    clip: Option<&str>,
    not_in_ledger: bool,
) -> Result<(), OrdersError> {
    let shown = match client.show(order) {
        Ok(shown) => shown,
        Err(OrdersError::Http { status: 404, .. }) if not_in_ledger => return Ok(()),
        Err(OrdersError::Http { status: 404, .. }) => {
            return Err(OrdersError::NotInLedger { order: order.to_string() })
        }
        Err(e) => return Err(e),
    };
    clip_of_order(order, &shown, clip, "revoked")
}

/// Refuses a reset that would give back nothing: an order the ledger does
/// not know, or a clip the order does not have. The Worker resets what
/// matches, and a typo's "given back for 0 clip(s)" read as done while the
/// customer stayed stuck.
/// Why an order is revoked, as `show` answered it.
fn revoked_reason(shown: &Value) -> &str {
    shown.pointer("/order/revoked_reason").and_then(Value::as_str).unwrap_or("admin")
}

/// What a reset does not change, for the owner who reset to help a
/// customer: a revoked order, or a revoked clip, still answers 403.
fn still_stopped(order: &str, shown: &Value, clip: Option<&str>) -> Option<String> {
    if shown.pointer("/order/revoked_at").is_some_and(|r| !r.is_null()) {
        let why = revoked_reason(shown);
        // What the customer's link answers, as the Worker's pages say it.
        let (answer, undo) = match why {
            "refunded" => ("this purchase was refunded", format!("`site-gen orders reissue {order} --despite-refund`")),
            "disputed" => ("this purchase is disputed", "the dispute closing in the shop's favour".to_string()),
            _ => ("this download link is no longer valid", format!("`site-gen orders unrevoke {order}`")),
        };
        return Some(format!(
            "Note: order {order} is revoked ({why}): its links still answer \"{answer}\" until {undo} undoes it."
        ));
    }
    clips_still_stopped(order, shown, clip)
}

/// The clips of an order revoked one by one (those named `clip`, or all),
/// which still answer 403 after a reset or a reissue.
fn clips_still_stopped(order: &str, shown: &Value, clip: Option<&str>) -> Option<String> {
    let revoked: Vec<String> = shown
        .pointer("/order/revoked_clips")
        .and_then(Value::as_str)
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let stopped: Vec<&String> = revoked.iter().filter(|c| clip.is_none_or(|clip| clip == c.as_str())).collect();
    (!stopped.is_empty()).then(|| {
        let names: Vec<&str> = stopped.iter().map(|c| c.as_str()).collect();
        let (which, them) = match names[..] {
            [one] => (format!("clip {one} is"), "it still answers"),
            _ => (format!("clips {} are", names.join(", ")), "each still answers"),
        };
        format!(
            "Note: in order {order}, {which} revoked: {them} \"refunded\" until `site-gen orders unrevoke {order} --clip {}`.",
            names[0]
        )
    })
}

fn check_resettable(client: &AdminClient, order: &str, clip: Option<&str>) -> Result<Value, OrdersError> {
    let shown = match client.show(order) {
        Err(OrdersError::Http { status: 404, .. }) => {
            return Err(OrdersError::Other(format!(
                "no order {order} in the ledger: nothing was reset\n  help: check the id (`site-gen orders list` \
                 shows them; the customer's e-mail and the alert name it)"
            )))
        }
        shown => shown?,
    };
    clip_of_order(order, &shown, clip, "reset")?;
    Ok(shown)
}

/// `clip`, when given, must be one of the order's clips (`shown`: the
/// admin API's order); `done` says what was not done otherwise.
fn clip_of_order(order: &str, shown: &Value, clip: Option<&str>, done: &str) -> Result<(), OrdersError> {
    let Some(clip) = clip else { return Ok(()) };
    let clips: Vec<String> = shown
        .pointer("/order/clips")
        .and_then(Value::as_str)
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    if clips.is_empty() || clips.iter().any(|c| c == clip) {
        return Ok(());
    }
    Err(OrdersError::Other(format!(
        "order {order} has no clip {clip} (its clips: {}); nothing was {done}",
        clips.join(", ")
    )))
}

fn revoke(client: &AdminClient, order: &str, clip: Option<String>) -> Result<(), OrdersError> {
    let Some(clip) = clip else {
        client.revoke(order, None)?;
        println!("Order {order} revoked: its download links no longer work.");
        return Ok(());
    };
    let v = client.revoke(order, Some(&clip))?;
    let already = v.get("already_revoked").and_then(Value::as_bool).unwrap_or(false);
    let note = if already { " (it already was)" } else { "" };
    println!("Order {order}: clip {clip} revoked{note}; the order's other clips keep working.");
    Ok(())
}

/// Undoes the owner's `revoke`, after checking there is one to undo: the
/// Worker restores only what `revoke` did (a refund's or a dispute's
/// revoke stays), and an order whose payment is disputed is not restored
/// while the dispute is open (the owner's revoke since made its reason
/// theirs).
fn unrevoke(client: &AdminClient, order: &str, clip: Option<&str>) -> Result<(), OrdersError> {
    let shown = match client.show(order) {
        Err(OrdersError::Http { status: 404, body }) if body.starts_with("no order ") => {
            return Err(OrdersError::Other(format!(
                "no order {order} in the ledger: nothing was restored\n  help: check the id (`site-gen orders list` shows them)"
            )))
        }
        other => other?,
    };
    clip_of_order(order, &shown, clip, "restored")?;
    let nothing = |why: String| Err(OrdersError::Other(format!("{why}: nothing was restored")));
    let revoked_clips: Vec<String> = shown
        .pointer("/order/revoked_clips")
        .and_then(Value::as_str)
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    match clip {
        Some(clip) if !revoked_clips.iter().any(|c| c == clip) => {
            return nothing(format!("clip {clip} of order {order} is not revoked"));
        }
        Some(_) => {}
        None => {
            let revoked = shown.pointer("/order/revoked_at").is_some_and(|r| !r.is_null());
            let reason = shown.pointer("/order/revoked_reason").and_then(Value::as_str);
            if !revoked {
                let only = if revoked_clips.is_empty() {
                    String::new()
                } else {
                    format!(" (clips revoked one by one: {}; give --clip)", revoked_clips.join(", "))
                };
                return nothing(format!("order {order} is not revoked{only}"));
            }
            if reason != Some("admin") || dispute_open(&shown) {
                let why = if dispute_open(&shown) { "disputed" } else { reason.unwrap_or("refunded") };
                return Err(OrdersError::Other(format!(
                    "order {order} was revoked because its payment was {why}: `unrevoke` undoes only your own \
                     `revoke`; nothing was restored\n  help: if its downloads should work again (the refund \
                     undone, the dispute won), `site-gen orders reissue {order} --despite-refund` gives it a new link"
                )));
            }
        }
    }
    let restored = client.unrevoke(order, clip)?.get("restored").and_then(Value::as_bool).unwrap_or(false);
    if !restored {
        return nothing(format!(
            "the Worker restored nothing for order {order} (revoked for a refund or a dispute meanwhile?): \
             `site-gen orders show {order}` says how it stands"
        ));
    }
    let what = clip.map_or("its links work again".to_string(), |c| format!("clip {c} downloads again"));
    println!(
        "Order {order}: {what}, with the links the customer already has (downloads used stay used). A link mail \
         withdrawn when it was revoked is not sent again: `site-gen orders resend {order}` e-mails one."
    );
    Ok(())
}

/// A dispute of the order's payment still open, though the owner's own
/// revoke since made the reason theirs (so that winning the dispute keeps
/// it): its events, in order, say so.
fn dispute_open(shown: &Value) -> bool {
    shown.get("events").and_then(Value::as_array).is_some_and(|events| {
        events.iter().fold(false, |open, e| {
            let detail = e.get("detail").and_then(Value::as_str).unwrap_or_default();
            match e.get("kind").and_then(Value::as_str) {
                Some("revoke") if detail.starts_with("disputed") => true,
                // Closed in the shop's favour, or lost (the bank gave the
                // money back: a full refund). A reissue closes none.
                Some("restore" | "dispute_closed") => false,
                Some("revoke") if detail.starts_with("refunded") => false,
                _ => open,
            }
        })
    })
}

/// Refuses to reissue an order revoked for a refund or a dispute unless
/// the owner says so: a reissue makes its downloads work again.
fn check_reissuable(order: &str, shown: &Value, despite_refund: bool) -> Result<(), OrdersError> {
    let reason = shown.pointer("/order/revoked_reason").and_then(Value::as_str);
    let revoked = shown.pointer("/order/revoked_at").is_some_and(|r| !r.is_null());
    let dispute_open = dispute_open(shown);
    let reason = if dispute_open && revoked { Some("disputed") } else { reason };
    match reason {
        Some(why @ ("refunded" | "disputed")) if revoked && !despite_refund => Err(OrdersError::Other(format!(
            "order {order} was revoked because its payment was {why}: a reissue would make its downloads work again; \
             nothing was changed\n  help: if that is what you want (the dispute was won, the refund undone), \
             run again with --despite-refund"
        ))),
        _ => Ok(()),
    }
}

/// A time for `--since`/`--until`: unix seconds, `YYYY-MM-DD` or RFC 3339.
pub fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(n) = s.trim().parse::<u64>() {
        return Ok(n);
    }
    crate::front_matter::parse_date(s.trim())
        .map(|t| t.timestamp().max(0) as u64)
        .ok_or_else(|| format!("`{s}` is not a time: use YYYY-MM-DD, RFC 3339 or unix seconds"))
}

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange for a dearer file or licence is refused, naming both
    /// prices; a cheaper or equal one, or an item not priced, goes through.
    #[test]
    fn an_exchange_for_a_dearer_item_is_refused_with_both_prices() {
        let catalog = clipstore_core::testing::catalog(true);
        let held = ["h:web".to_string()];
        let refused = dearer_exchange(&catalog, &held, "h::extended").unwrap_err().to_string();
        assert!(
            refused.contains("sells for €70.00, more than the order's H (720p, Standard licence) (€9.00)"),
            "{refused}"
        );
        assert!(refused.contains("nothing was changed") && refused.ends_with("add --no-charge"), "{refused}");
        assert!(dearer_exchange(&catalog, &["h".to_string()], "h:web").is_ok(), "4K to 720p: cheaper");
        assert!(dearer_exchange(&catalog, &held, "h:web:standard").is_ok(), "the same price");
        assert!(dearer_exchange(&catalog, &held, "other").is_ok(), "not one of the order's clips");
    }

    /// "expired" when the Worker refuses the links: five minutes of clock
    /// slack after `expires_at`, during which they still download.
    #[test]
    fn a_reissue_keeps_a_longer_expiry_than_thirty_days() {
        let days = |d: u64| std::time::Duration::from_secs(d * 86_400);
        let order = |at: u64| serde_json::json!({ "expires_at": at });
        let now = 1_000_000;
        assert_eq!(reissued_validity(Some(&order(now + 365 * 86_400)), now), days(365), "a year left stays a year");
        assert_eq!(reissued_validity(Some(&order(now + 86_400)), now), days(30), "a day left becomes 30 days");
        assert_eq!(reissued_validity(Some(&order(1)), now), days(30), "expired: 30 days");
        assert_eq!(reissued_validity(Some(&serde_json::json!({ "expires_at": null })), now), days(30));
        assert_eq!(reissued_validity(None, now), days(30));
    }

    #[test]
    fn an_order_is_expired_when_the_worker_refuses_its_links() {
        let order = serde_json::json!({ "expires_at": 1_000 });
        assert!(!expired(&order, 1_000), "still served");
        assert!(!expired(&order, 1_000 + clipstore_core::CLOCK_SKEW_SECS - 1));
        assert!(expired(&order, 1_000 + clipstore_core::CLOCK_SKEW_SECS));
        assert!(!expired(&serde_json::json!({ "expires_at": null }), u64::MAX), "never expires");
    }

    /// `orders reissue --worker-url http://127.0.0.1:8787` signs a link for
    /// that Worker, not the shop's address, which the local key was refused
    /// for (a review); a deployed Worker's reissue keeps the shop's.
    #[test]
    fn a_local_workers_reissue_links_to_it() {
        let shop = "https://shop.example/download";
        assert_eq!(reissue_base("http://127.0.0.1:8787", shop), "http://127.0.0.1:8787/download");
        assert_eq!(reissue_base("http://localhost:8787/", shop), "http://localhost:8787/download");
        assert_eq!(reissue_base("https://shop.example", shop), shop);
    }

    /// After `create --session` attached a checkout to the order its link
    /// made, the customer is mailed unless the order is revoked: now (a
    /// refund or dispute Stripe sent before) or earlier (by the owner).
    #[test]
    fn an_attached_order_is_mailed_unless_revoked() {
        let answer = |revoked: bool, before: bool| {
            serde_json::json!({ "created": "PAY-1", "claimed": true, "revoked": revoked,
                "revoked_before": before, "clips": ["a"], "downloads": 1 })
        };
        let named = ["a:web".to_string()];
        assert!(print_claimed("PAY-1", &named, &answer(false, false)));
        assert!(!print_claimed("PAY-1", &named, &answer(true, false)));
        assert!(!print_claimed("PAY-1", &named, &answer(false, true)));
        assert!(!print_claimed("PAY-1", &named, &answer(true, true)));
    }

    /// A reset to help a customer gives downloads back, but a refunded clip
    /// or order still answers 403: the owner is told so.
    #[test]
    fn a_reset_says_what_still_stops_the_customer() {
        let order = |revoked_at: Value, reason: Value, clips: &str| serde_json::json!({ "order": { "revoked_at": revoked_at, "revoked_reason": reason, "revoked_clips": clips } });
        let open = order(Value::Null, Value::Null, "[]");
        assert_eq!(still_stopped("O", &open, None), None);
        assert_eq!(still_stopped("O", &open, Some("a")), None);
        let refunded = order(serde_json::json!(5), serde_json::json!("refunded"), "[]");
        let said = still_stopped("O", &refunded, Some("a")).unwrap();
        assert!(
            said.contains("order O is revoked (refunded): its links still answer \"this purchase was refunded\""),
            "{said}"
        );
        assert!(said.contains("reissue O --despite-refund"), "{said}");
        let own = order(serde_json::json!(5), serde_json::json!("admin"), "[]");
        let said = still_stopped("O", &own, None).unwrap();
        assert!(
            said.contains("\"this download link is no longer valid\" until `site-gen orders unrevoke O`"),
            "{said}"
        );
        let clip = order(Value::Null, Value::Null, r#"["b"]"#);
        assert_eq!(still_stopped("O", &clip, Some("a")), None, "another clip was refunded");
        let said = still_stopped("O", &clip, Some("b")).unwrap();
        assert!(said.contains("clip b is revoked") && said.contains("unrevoke O --clip b"), "{said}");
        assert!(still_stopped("O", &clip, None).unwrap().contains("clip b is revoked"));
    }

    /// A reissue makes a revoked order's downloads work again: one revoked
    /// for a refund or dispute only with --despite-refund, also when the
    /// owner revoked it while the dispute was open (the reason is then the
    /// owner's, the dispute still is).
    #[test]
    fn a_reissue_during_an_open_dispute_asks_for_despite_refund() {
        let shown = |reason: &str, events: Value| serde_json::json!({ "order": { "revoked_at": 5, "revoked_reason": reason }, "events": events });
        let dispute = serde_json::json!({ "kind": "revoke", "detail": "disputed: €1.00 of €1.00 back (fraudulent)" });
        let owner = serde_json::json!({ "kind": "revoke", "detail": null });
        let restore = serde_json::json!({ "kind": "restore", "detail": "won" });
        let open = shown("admin", serde_json::json!([dispute, owner]));
        let refused = check_reissuable("O", &open, false).unwrap_err().to_string();
        assert!(refused.contains("its payment was disputed") && refused.contains("--despite-refund"), "{refused}");
        assert!(check_reissuable("O", &open, true).is_ok());
        // Lost: the bank gave the money back, a refund's revoke closed it.
        let lost =
            serde_json::json!({ "kind": "revoke", "detail": "refunded: €1.00 of €1.00 back (dispute lost, du_1)" });
        assert!(!dispute_open(&shown("refunded", serde_json::json!([dispute, lost]))));
        let closed = shown("admin", serde_json::json!([dispute, restore, owner]));
        assert!(check_reissuable("O", &closed, false).is_ok(), "the dispute closed: the owner's revoke only");
        // Won after the owner's revoke: no restore (the revoke stays), but over.
        let won = serde_json::json!({ "kind": "dispute_closed", "detail": "dispute closed in the shop's favour: €0.00 of €1.00 back (won)" });
        let after = shown("admin", serde_json::json!([dispute, owner, won]));
        assert!(check_reissuable("O", &after, false).is_ok(), "the dispute is over");
        // A reissue despite the dispute closes nothing: a later revoke and
        // reissue still asks.
        let reissue = serde_json::json!({ "kind": "reissue", "detail": null });
        let still = shown("admin", serde_json::json!([dispute, reissue, owner]));
        assert!(check_reissuable("O", &still, false).is_err());
        assert!(check_reissuable("O", &shown("admin", serde_json::json!([owner])), false).is_ok());
        assert!(check_reissuable("O", &shown("refunded", serde_json::json!([])), false).is_err());
    }
}
