//! A cart sent to `POST /checkout`: parsed, checked against the catalog and
//! priced from the manifest, never from the request (docs/payments.md).
//!
//! The form is `clip=<item>` once per line (an item is a slug, or
//! `slug:variant:licence`: `clipstore_core::purchase`) and optionally
//! `cart=<id>`, the browser's cart id (22 of `[A-Za-z0-9_-]`, made by
//! `static/js/cart.js`). An order takes one file of each clip. Which items
//! were bought travels in the checkout's metadata, comma-separated, split
//! over `clips`, `clips_2`, … so that no value exceeds Stripe's 500
//! characters ([`metadata_clips`], read back by [`clips_from_metadata`]).

use clipstore_core::{CatalogManifest, Item, ResolveError};
use sha2::{Digest, Sha256};

/// Most lines in one checkout: the most clips one download link covers
/// (`clipstore_core::token::MAX_CLIPS`, 64; Stripe's own limit per Checkout
/// Session is 100). A paid cart of more could never become an order: its
/// link could not be signed, and the customer was charged for nothing.
pub const MAX_LINES: usize = clipstore_core::token::MAX_CLIPS;

/// Largest form body read, checked before reading: 100 lines of 64-byte
/// slugs need about 7 KB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Stripe's limits on a metadata value and on the number of keys.
pub const METADATA_VALUE_MAX: usize = 500;
pub const METADATA_KEYS_MAX: usize = 50;

/// One priced line of a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub slug: String,
    /// The item in its canonical form (`slug`, or `slug:variant:licence`).
    pub item: String,
    /// The clip's title with the file and licence bought (`Title (4K,
    /// Extended licence)`): the line's name on the payment page.
    pub title: String,
    /// In the currency's smallest unit, from the manifest.
    pub unit_amount: u64,
    /// The file bought: its key in the bucket.
    pub object_key: String,
}

/// A cart checked against the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub lines: Vec<CartLine>,
    /// Lower-case ISO 4217 code, as Stripe takes it.
    pub currency: String,
    /// The browser's cart id, if it sent one.
    pub cart_id: Option<String>,
}

/// Why a cart cannot go to checkout; each is a page for the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartError {
    /// No `clip` field.
    Empty,
    /// More than [`MAX_LINES`] clips.
    TooManyLines(usize),
    /// A slug that is not in the catalog (removed since the cart was filled).
    UnknownClip(String),
    /// A variant or licence the catalog does not have (any more), or an
    /// item that is not written as one: what is wrong, for the customer.
    Unavailable(String),
    /// Two files of one clip (title): an order takes one of each.
    SameClipTwice(String),
    /// Not a form, a bad cart id, or a body over [`MAX_BODY_BYTES`].
    Malformed(&'static str),
}

impl CartError {
    pub fn status(&self) -> u16 {
        match self {
            CartError::Malformed("the cart is too large") => 413,
            _ => 400,
        }
    }

    /// Short stable name for logs.
    pub fn code(&self) -> &'static str {
        match self {
            CartError::Empty => "empty_cart",
            CartError::TooManyLines(_) => "too_many_lines",
            CartError::UnknownClip(_) => "unknown_clip",
            CartError::Unavailable(_) => "unavailable_item",
            CartError::SameClipTwice(_) => "same_clip_twice",
            CartError::Malformed(_) => "malformed_cart",
        }
    }
}

/// Parses a checkout form body and prices it from the catalog. Repeated
/// items count once; the order of first appearance is kept.
pub fn parse_cart(body: &[u8], manifest: &CatalogManifest) -> Result<Cart, CartError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(CartError::Malformed("the cart is too large"));
    }
    let mut slugs: Vec<String> = Vec::new();
    let mut cart_id = None;
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "clip" => {
                let slug = value.trim();
                if !slug.is_empty() && !slugs.iter().any(|s| s == slug) {
                    slugs.push(slug.to_string());
                }
            }
            "cart" if !value.is_empty() => {
                if !valid_cart_id(&value) {
                    return Err(CartError::Malformed("the cart id is not valid"));
                }
                cart_id = Some(value.into_owned());
            }
            _ => {}
        }
    }
    if slugs.is_empty() {
        return Err(CartError::Empty);
    }
    if slugs.len() > MAX_LINES {
        return Err(CartError::TooManyLines(slugs.len()));
    }
    let mut lines: Vec<CartLine> = Vec::with_capacity(slugs.len());
    for written in slugs {
        let item = Item::parse(&written).ok_or_else(|| CartError::Unavailable(format!("“{written}” is not a clip")))?;
        let resolved = manifest.resolve(&item).map_err(|e| match e {
            ResolveError::UnknownClip(slug) => CartError::UnknownClip(slug),
            other => CartError::Unavailable(other.to_string()),
        })?;
        let line = CartLine {
            item: Item { slug: resolved.slug.clone(), choice: resolved.choice }.to_item_string(),
            slug: resolved.slug,
            title: resolved.description,
            unit_amount: resolved.price,
            object_key: resolved.file.object_key.clone(),
        };
        match lines.iter().find(|l| l.slug == line.slug) {
            Some(same) if same.item == line.item => {}
            Some(_) => return Err(CartError::SameClipTwice(resolved.file.title)),
            None => lines.push(line),
        }
    }
    Ok(Cart { lines, currency: manifest.shop.currency.to_ascii_lowercase(), cart_id })
}

/// A cart id as `cart.js` makes it: 16–64 of `[A-Za-z0-9_-]`.
pub fn valid_cart_id(id: &str) -> bool {
    (16..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Cart {
    /// What the catalog says the cart costs, in the smallest unit.
    pub fn total(&self) -> u64 {
        self.lines.iter().map(|l| l.unit_amount).sum()
    }

    pub fn slugs(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.slug.as_str()).collect()
    }

    /// The lines' items, canonical: what the checkout's metadata carries.
    pub fn items(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.item.as_str()).collect()
    }

    /// The idempotency key of this cart's checkout: the same cart (id),
    /// sending the same request `body` (clips, prices, titles, addresses)
    /// within the same two minutes (`now`), gets the same Checkout Session:
    /// a double click or a reload opens one payment page, not two. A later
    /// try, or any change (another price, the shop reached at another
    /// address), is a new request: Stripe replays a key's first answer, a
    /// 500 included, and refuses a key with other parameters. Without a
    /// cart id (a clip page's buy button) nothing tells two customers apart,
    /// so the caller's `fresh` random value makes the key unique. The
    /// `client`'s network is in it too: a cart id is the browser's to send,
    /// and a stranger sending the same one got the same session, and from
    /// `/thanks` its link once the customer had paid (the attack review).
    pub fn idempotency_key(&self, body: &str, now: u64, fresh: &str, client: &str) -> String {
        let mut hash = Sha256::new();
        match &self.cart_id {
            Some(id) => hash.update(id.as_bytes()),
            None => hash.update(fresh.as_bytes()),
        }
        hash.update(b"\n");
        hash.update(client.as_bytes());
        hash.update(b"\n");
        hash.update((now / IDEMPOTENCY_WINDOW_SECS).to_string().as_bytes());
        hash.update(b"\n");
        hash.update(body.as_bytes());
        let hex: String = hash.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("clipstore-cart-{hex}")
    }
}

/// How long a resubmitted cart keeps its Checkout Session ([`Cart::idempotency_key`]).
pub const IDEMPOTENCY_WINDOW_SECS: u64 = 120;

/// The metadata naming the bought clips: `clips`, `clips_2`, … each at most
/// [`METADATA_VALUE_MAX`] characters of comma-separated slugs.
pub fn metadata_clips(slugs: &[&str]) -> Vec<(String, String)> {
    let mut values: Vec<String> = Vec::new();
    for slug in slugs {
        match values.last_mut() {
            Some(last) if last.len() + 1 + slug.len() <= METADATA_VALUE_MAX => {
                last.push(',');
                last.push_str(slug);
            }
            _ => values.push(slug.to_string()),
        }
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (if i == 0 { "clips".to_string() } else { format!("clips_{}", i + 1) }, v))
        .collect()
}

/// The clips a checkout's metadata names: `clips`, then `clips_2`, `clips_3`,
/// … up to the first missing key. `get` looks a key up.
pub fn clips_from_metadata<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Vec<String> {
    let mut slugs = Vec::new();
    let mut n = 1;
    loop {
        let key = if n == 1 { "clips".to_string() } else { format!("clips_{n}") };
        let Some(value) = get(&key) else { break };
        slugs.extend(value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string));
        n += 1;
        if n > METADATA_KEYS_MAX {
            break;
        }
    }
    slugs
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipstore_core::{ManifestClip, ShopInfo};
    use std::collections::HashMap;

    fn manifest(slugs: &[String]) -> CatalogManifest {
        let mut m = CatalogManifest::new(ShopInfo {
            licences: Vec::new(),
            title: "Shop".into(),
            base_url: "https://example.com".into(),
            contact_email: "a@example.com".into(),
            currency: "EUR".into(),
            stylesheet: "/css/site.css".into(),
        });
        for (i, slug) in slugs.iter().enumerate() {
            m.clips.insert(
                slug.clone(),
                ManifestClip {
                    variant: None,
                    variants: Default::default(),
                    title: format!("Clip {i}"),
                    object_key: format!("clips/{slug}.mp4"),
                    file_name: format!("{slug}.mp4"),
                    size: 1000,
                    content_type: "video/mp4".into(),
                    price: 1000 + i as u64,
                    sha256: None,
                },
            );
        }
        m
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("a-clip-{i:02}")).collect()
    }

    #[test]
    fn prices_come_from_the_catalog_never_the_request() {
        let m = manifest(&names(3));
        let cart =
            parse_cart(b"clip=a-clip-02&clip=a-clip-00&price=1&amount=1&cart=AAAAAAAAAAAAAAAAAAAAAA", &m).unwrap();
        assert_eq!(cart.slugs(), ["a-clip-02", "a-clip-00"]);
        assert_eq!(cart.lines[0].unit_amount, 1002);
        assert_eq!(cart.total(), 2002);
        assert_eq!(cart.currency, "eur");
        assert_eq!(cart.cart_id.as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAA"));
    }

    /// `a-clip-00` in a main file (`4k`) and `web`, under two licence tiers.
    fn with_variants_and_tiers() -> CatalogManifest {
        let mut m = manifest(&names(2));
        let tier = |id: &str, factor_permille| clipstore_core::ManifestLicence {
            id: id.into(),
            name: id.to_uppercase(),
            factor_permille,
            surcharge: 0,
            page: format!("/{id}/"),
        };
        m.shop.licences = vec![tier("standard", 1000), tier("extended", 3000)];
        let clip = m.clips.get_mut("a-clip-00").unwrap();
        clip.variant = Some(clipstore_core::VariantName { id: "4k".into(), label: "4K".into() });
        clip.variants.insert(
            "web".into(),
            clipstore_core::ManifestVariant {
                label: "720p".into(),
                object_key: "clips/a-720.mp4".into(),
                file_name: "a (720p).mp4".into(),
                size: 10,
                content_type: "video/mp4".into(),
                price: 400,
                sha256: None,
            },
        );
        m
    }

    #[test]
    fn items_are_priced_by_variant_and_licence_from_the_catalog() {
        let m = with_variants_and_tiers();
        let cart = parse_cart(b"clip=a-clip-00%3Aweb%3Aextended&clip=a-clip-01", &m).unwrap();
        assert_eq!(cart.items(), ["a-clip-00:web:extended", "a-clip-01::standard"]);
        assert_eq!(cart.lines[0].unit_amount, 1200);
        assert_eq!(cart.lines[0].title, "Clip 0 (720p, EXTENDED licence)");
        assert_eq!(cart.lines[1].unit_amount, 1001);
        // The main file named by its id is the main file.
        assert_eq!(parse_cart(b"clip=a-clip-00:4k", &m).unwrap().items(), ["a-clip-00::standard"]);
    }

    #[test]
    fn two_files_of_one_clip_or_unknown_choices_are_refused() {
        let m = with_variants_and_tiers();
        assert_eq!(
            parse_cart(b"clip=a-clip-00&clip=a-clip-00:web", &m),
            Err(CartError::SameClipTwice("Clip 0".into()))
        );
        assert!(parse_cart(b"clip=a-clip-00:web&clip=a-clip-00:web:", &m).is_ok(), "the same item twice counts once");
        for bad in [&b"clip=a-clip-00:8k"[..], b"clip=a-clip-00::gold", b"clip=a-clip-00:WEB", b"clip=a-clip-00:a:b:c"]
        {
            assert!(
                matches!(parse_cart(bad, &m), Err(CartError::Unavailable(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn repeated_clips_count_once() {
        let m = manifest(&names(2));
        let cart = parse_cart(b"clip=a-clip-01&clip=a-clip-01&clip=a-clip-00", &m).unwrap();
        assert_eq!(cart.slugs(), ["a-clip-01", "a-clip-00"]);
    }

    #[test]
    fn bad_carts_are_refused_with_their_reason() {
        let m = manifest(&names(2));
        assert_eq!(parse_cart(b"", &m), Err(CartError::Empty));
        assert_eq!(parse_cart(b"clip=&cart=", &m), Err(CartError::Empty));
        assert_eq!(parse_cart(b"clip=gone", &m), Err(CartError::UnknownClip("gone".into())));
        assert_eq!(parse_cart(b"clip=..%2Fsecret", &m), Err(CartError::UnknownClip("../secret".into())));
        assert!(matches!(parse_cart(b"clip=a-clip-00&cart=short", &m), Err(CartError::Malformed(_))));
        assert!(matches!(
            parse_cart(b"clip=a-clip-00&cart=%22%3E%3Cscript%3Exxxxxxxxxxx", &m),
            Err(CartError::Malformed(_))
        ));
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        assert_eq!(parse_cart(&big, &m).unwrap_err().status(), 413);
        let many = names(MAX_LINES + 1);
        let body: Vec<String> = many.iter().map(|s| format!("clip={s}")).collect();
        assert_eq!(parse_cart(body.join("&").as_bytes(), &manifest(&many)), Err(CartError::TooManyLines(65)));
        // What a link covers is what a checkout takes: a paid cart of more
        // could not become an order.
        assert_eq!(MAX_LINES, clipstore_core::token::MAX_CLIPS);
        let mut most = many[..MAX_LINES].to_vec();
        most.sort();
        let claims = clipstore_core::token::Claims {
            key_id: "k1".into(),
            order_id: "PAY-1".into(),
            clips: most,
            issued_at: 1,
            expires_at: 2,
            downloads: 1,
            customer_ref: None,
            choices: Default::default(),
        };
        assert_eq!(claims.validate(), Ok(()), "a full cart's link signs");
        let mut all = many.clone();
        all.sort();
        let over = clipstore_core::token::Claims { clips: all, ..claims };
        assert!(over.validate().is_err(), "one more clip than a link covers");
    }

    #[test]
    fn idempotency_key_follows_the_cart_and_the_request() {
        let m = manifest(&names(3));
        let id = "BBBBBBBBBBBBBBBBBBBBBB";
        let a = parse_cart(format!("clip=a-clip-00&clip=a-clip-01&cart={id}").as_bytes(), &m).unwrap();
        let key =
            |cart: &Cart, body: &str, now: u64, fresh: &str| cart.idempotency_key(body, now, fresh, "203.0.113.7");
        assert_eq!(key(&a, "b", 1000, "x"), key(&a, "b", 1001, "y"), "a double click: the cart id decides");
        assert_ne!(key(&a, "b", 1000, "x"), key(&a, "b", 1000 + 240, "x"), "a try minutes later is new");
        assert_ne!(key(&a, "b", 1000, "x"), key(&a, "b2", 1000, "x"), "another price or address is new");
        let anonymous = parse_cart(b"clip=a-clip-00", &m).unwrap();
        assert_ne!(key(&anonymous, "b", 1, "r1"), key(&anonymous, "b", 1, "r2"));
        assert!(key(&a, "b", 1, "x").len() <= 255, "Stripe's limit on idempotency keys");
        assert_ne!(
            a.idempotency_key("b", 1000, "x", "203.0.113.7"),
            a.idempotency_key("b", 1000, "x", "198.51.100.4"),
            "another network, another session, whatever cart id it sends"
        );
    }

    /// The largest cart allowed: 64 clips with the longest slugs site-gen
    /// accepts (64 bytes) fits Stripe's metadata limits and reads back whole.
    #[test]
    fn the_largest_cart_fits_stripes_metadata_limits() {
        let slugs: Vec<String> = (0..MAX_LINES).map(|i| format!("{i:03}-{}", "x".repeat(60))).collect();
        assert!(slugs.iter().all(|s| s.len() == 64));
        let refs: Vec<&str> = slugs.iter().map(String::as_str).collect();
        let metadata = metadata_clips(&refs);
        assert!(metadata.len() < METADATA_KEYS_MAX, "{} keys", metadata.len());
        assert!(metadata.iter().all(|(k, v)| v.len() <= METADATA_VALUE_MAX && k.len() <= 40));
        let map: HashMap<String, String> = metadata.into_iter().collect();
        assert_eq!(clips_from_metadata(|k| map.get(k).map(String::as_str)), slugs);
    }

    #[test]
    fn payment_link_metadata_still_reads() {
        let map = HashMap::from([("clips", "harbour-at-dawn, dune-grass")]);
        assert_eq!(clips_from_metadata(|k| map.get(k).copied()), ["harbour-at-dawn", "dune-grass"]);
        assert!(clips_from_metadata(|_| None).is_empty());
    }
}
