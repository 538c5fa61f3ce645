//! The owner's admin API (`/admin/…`): its route table, its
//! authentication, and the order it creates and reissues as JSON. The
//! handlers in the runtime glue run the statements of
//! [`crate::ledger::sql`] and answer JSON.
//!
//! | Request | Answer |
//! |---|---|
//! | `GET /admin/orders[?limit=N]` | orders with totals, newest first |
//! | `GET /admin/orders?email=ADDRESS[&limit=N]` | the orders of a customer's address (their checkout's, or where a link of theirs was mailed), newest first |
//! | `GET /admin/orders?filter=never-fully-downloaded[&since=S][&until=S]` | orders (created in the window, unix seconds) with a clip whose bodies streamed to their end held less than the clip, or not its last byte |
//! | `POST /admin/orders` (JSON `{order_id, clips, downloads, expires_at?, customer_ref?}`; each clip an item, `slug[:variant[:licence]]`) | 201; 400 naming an item the catalog lacks; 409 if it exists |
//! | `GET /admin/orders/<id>` | the order, its clips (downloads used/left) and attempts |
//! | `POST /admin/orders/<id>/reset[?clip=slug]` | gives back all downloads |
//! | `POST /admin/reset?since=S&until=S` | gives back all downloads of every order with an attempt in the window |
//! | `POST /admin/orders/<id>/revoke[?clip=slug]` | every link of the order stops working (or only that clip of it: a partial refund) |
//! | `POST /admin/orders/<id>/unrevoke[?clip=slug]` | undoes the owner's revoke: the order (or that clip) downloads again with the links already sent |
//! | `POST /admin/orders/<id>/resend[?to=address][&replace=1]` | e-mails a fresh link of the order (sharing its downloads) to the checkout's address, or `to`; with `replace=1`, `to` becomes the order's address (a typo at checkout): the earlier ones no longer find it through "Lost your download link?" |
//! | `POST /admin/orders/<id>/reissue[?valid_for=S][&exchange=ITEM]` | every link issued up to now stops working (links carry whole seconds: `not_before` becomes the next second, new links are issued at it); with `valid_for`, the order's links now expire S seconds from now (the new link's expiry); with `exchange` (`slug:variant[:licence]`), that clip of the order becomes that file and licence, its downloads start again; answers the order and its new link |
//! | `GET /admin/attempts[?order=<id>][&after=<id>][&limit=N]` | attempts, oldest first (export) |
//! | `POST /admin/ledger/merge` | merges the R2 fallback records into D1, then settles the reservations of downloads that stopped mid-stream (`crate::stale`): `{"merged": n, "settled_stale": n}` |
//! | `GET /admin/health` | deep health check: storage, ledger, catalog, keys (200 or 503) |
//! | `GET /admin/keys` | the signing keys the Worker verifies, with their fingerprints (what `site-gen token mint` asks) |
//! | `GET /admin/catalog[?offset=N][&limit=N]` | each catalog clip's object in R2 against the catalog |
//! | `GET /admin/objects/<key>` | size, sha256 and ETag of a bucket object, or 404 |
//! | `PUT /admin/objects/<key>` (body: the file; `x-content-sha256: <hex>` optional) | uploads a clip (`site-gen push`) |
//! | `GET /admin/payments[?limit=N]` | payment webhook deliveries (`payment_events`), newest first |
//! | `GET /admin/outbox[?limit=N]` | e-mail in the outbox, newest first: status, attempts, last error, first link (docs/mail.md) |
//!
//! Every request needs `Authorization: Bearer <ADMIN_TOKEN>`; without the
//! secret configured the API answers 503, with a missing or wrong token 401.

use clipstore_core::{CatalogManifest, Choice, Item, SortedMap, MIN_ADMIN_TOKEN_LEN};
use percent_encoding::percent_decode_str;
use subtle::ConstantTimeEq;

use crate::ledger::OrderClipRow;
use crate::request_url::query_param;

/// An admin request, parsed from method, path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    ListOrders {
        limit: u32,
    },
    /// An address's orders (its checkouts', or where their links were mailed).
    OrdersOfEmail {
        email: String,
        limit: u32,
    },
    /// `since..until` in unix seconds.
    NeverFullyDownloaded {
        since: u64,
        until: u64,
        limit: u32,
    },
    ResetWindow {
        since: u64,
        until: u64,
    },
    CreateOrder,
    ShowOrder {
        order_id: String,
    },
    Reset {
        order_id: String,
        clip: Option<String>,
    },
    Revoke {
        order_id: String,
        /// Only this clip of the order.
        clip: Option<String>,
    },
    /// Undoes the owner's revoke (`site-gen orders unrevoke`): the order,
    /// or this clip of it, downloads again with the links already sent.
    Unrevoke {
        order_id: String,
        clip: Option<String>,
    },
    Resend {
        order_id: String,
        /// Another address than the checkout's.
        to: Option<String>,
        /// `to` replaces the order's address (a typo at checkout): only it
        /// finds the order through "Lost your download link?" from now on.
        replace: bool,
    },
    Reissue {
        order_id: String,
        /// Seconds the new link is valid: the order's new expiry.
        valid_for: Option<u64>,
        /// An item (`slug:variant:licence`) of the order's clip to exchange
        /// for ([`exchange`]).
        exchange: Option<String>,
    },
    Attempts {
        order_id: Option<String>,
        after: u64,
        limit: u32,
    },
    Merge,
    /// The deep health check (`crate::monitor`).
    Health,
    /// The keys of `TOKEN_KEYS` with their fingerprints, as the deep check
    /// names them, without its other checks: what `site-gen token mint`
    /// asks before every link.
    Keys,
    /// Catalog clips `offset..offset+limit` (slug order) checked against R2.
    Catalog {
        offset: u32,
        limit: u32,
    },
    /// Object `key` (percent-decoded) in the bucket: read its facts (GET)
    /// or upload it (PUT). Never a ledger fallback record.
    ObjectInfo {
        key: String,
    },
    PutObject {
        key: String,
    },
    /// Payment webhook deliveries, newest first (docs/payments.md).
    Payments {
        limit: u32,
    },
    /// The mail outbox, newest first (docs/mail.md).
    Outbox {
        limit: u32,
    },
    /// Right path, wrong method (405).
    MethodNotAllowed,
    NotFound,
}

pub const PREFIX: &str = "/admin/";
pub const DEFAULT_LIMIT: u32 = 1000;
pub const MAX_LIMIT: u32 = 10_000;
/// Clips per `GET /admin/catalog` page: each is one R2 call (a subrequest).
pub const CATALOG_DEFAULT_LIMIT: u32 = 40;
pub const CATALOG_MAX_LIMIT: u32 = 500;
/// Messages per `GET /admin/outbox` by default (each reads its text body to
/// find its link).
pub const OUTBOX_DEFAULT_LIMIT: u32 = 100;

/// Upper end of an open time window (unix seconds; ms of it fits in 2^53).
pub const MAX_TIME: u64 = 1 << 40;

fn number(query: &str, name: &str) -> Option<u64> {
    query_param(query, name).and_then(|v| v.parse().ok()).map(|n: u64| n.min(MAX_TIME))
}

fn limit(query: &str) -> u32 {
    query_param(query, "limit").and_then(|l| l.parse().ok()).unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// Maps an admin request to its route. `path` is as sent (percent-encoded).
pub fn route(method: &str, path: &str, query: &str) -> AdminRoute {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return AdminRoute::NotFound;
    };
    if let Some(key) = rest.strip_prefix("objects/") {
        let Some(key) = percent_decode_str(key).decode_utf8().ok().map(|k| k.into_owned()) else {
            return AdminRoute::NotFound;
        };
        if !valid_object_key(&key) {
            return AdminRoute::NotFound;
        }
        return match method {
            "GET" | "HEAD" => AdminRoute::ObjectInfo { key },
            "PUT" => AdminRoute::PutObject { key },
            _ => AdminRoute::MethodNotAllowed,
        };
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let decode = |s: &str| percent_decode_str(s).decode_utf8().ok().map(|c| c.into_owned()).filter(|s| !s.is_empty());
    let (get, post) = (method == "GET", method == "POST");
    let expect = |ok: bool, r: AdminRoute| if ok { r } else { AdminRoute::MethodNotAllowed };
    match parts.as_slice() {
        ["orders"] if get => match query_param(query, "filter").as_deref() {
            Some("never-fully-downloaded") => AdminRoute::NeverFullyDownloaded {
                since: number(query, "since").unwrap_or(0),
                until: number(query, "until").unwrap_or(MAX_TIME),
                limit: limit(query),
            },
            _ => match query_param(query, "email") {
                Some(email) => AdminRoute::OrdersOfEmail { email, limit: limit(query) },
                None => AdminRoute::ListOrders { limit: limit(query) },
            },
        },
        ["reset"] => match (number(query, "since"), number(query, "until")) {
            (Some(since), Some(until)) if since < until => expect(post, AdminRoute::ResetWindow { since, until }),
            _ => AdminRoute::NotFound,
        },
        ["orders"] => expect(post, AdminRoute::CreateOrder),
        ["orders", id] => match decode(id) {
            Some(order_id) => expect(get, AdminRoute::ShowOrder { order_id }),
            None => AdminRoute::NotFound,
        },
        ["orders", id, action] => {
            let Some(order_id) = decode(id) else {
                return AdminRoute::NotFound;
            };
            let r = match *action {
                "reset" => AdminRoute::Reset { order_id, clip: query_param(query, "clip").filter(|c| !c.is_empty()) },
                "revoke" => AdminRoute::Revoke { order_id, clip: query_param(query, "clip").filter(|c| !c.is_empty()) },
                "unrevoke" => {
                    AdminRoute::Unrevoke { order_id, clip: query_param(query, "clip").filter(|c| !c.is_empty()) }
                }
                "resend" => AdminRoute::Resend {
                    order_id,
                    to: query_param(query, "to").filter(|c| !c.is_empty()),
                    replace: query_param(query, "replace").as_deref() == Some("1"),
                },
                "reissue" => AdminRoute::Reissue {
                    order_id,
                    valid_for: number(query, "valid_for"),
                    exchange: query_param(query, "exchange").filter(|e| !e.is_empty()),
                },
                _ => return AdminRoute::NotFound,
            };
            expect(post, r)
        }
        ["attempts"] => expect(
            get,
            AdminRoute::Attempts {
                order_id: query_param(query, "order").filter(|o| !o.is_empty()),
                after: number(query, "after").unwrap_or(0),
                limit: limit(query),
            },
        ),
        ["ledger", "merge"] => expect(post, AdminRoute::Merge),
        ["health"] => expect(get, AdminRoute::Health),
        ["keys"] => expect(get, AdminRoute::Keys),
        ["catalog"] => expect(
            get,
            AdminRoute::Catalog {
                offset: number(query, "offset").unwrap_or(0).min(u32::MAX.into()) as u32,
                limit: query_param(query, "limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(CATALOG_DEFAULT_LIMIT)
                    .clamp(1, CATALOG_MAX_LIMIT),
            },
        ),
        ["payments"] => expect(get, AdminRoute::Payments { limit: limit(query) }),
        ["outbox"] => expect(
            get,
            AdminRoute::Outbox {
                limit: query_param(query, "limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(OUTBOX_DEFAULT_LIMIT)
                    .clamp(1, MAX_LIMIT),
            },
        ),
        _ => AdminRoute::NotFound,
    }
}

/// Whether the admin API may read or write `key`: not empty, not too long,
/// no `.`/`..` segments, and never the ledger's own records (fallback and
/// set aside).
pub fn valid_object_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 1024
        && !clipstore_core::reserved_key(key)
        && key.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Why an admin request is not authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// `ADMIN_TOKEN` is not configured (or too short to be safe): 503.
    NotConfigured,
    /// Missing or wrong credentials: 401.
    Unauthorized,
}

/// Checks `Authorization: Bearer <token>` against the `ADMIN_TOKEN` secret,
/// comparing in constant time (`subtle`) their SHA-256 digests: `subtle`
/// answers at once for slices of different lengths, which told a guesser
/// the token's length.
pub fn authorize(configured: Option<&str>, authorization: Option<&str>) -> Result<(), AuthError> {
    let expected =
        configured.map(str::trim).filter(|t| t.len() >= MIN_ADMIN_TOKEN_LEN).ok_or(AuthError::NotConfigured)?;
    let given = authorization
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(AuthError::Unauthorized)?;
    use sha2::{Digest, Sha256};
    if bool::from(Sha256::digest(given.as_bytes()).as_slice().ct_eq(Sha256::digest(expected.as_bytes()).as_slice())) {
        Ok(())
    } else {
        Err(AuthError::Unauthorized)
    }
}

/// The body of `POST /admin/orders` (`site-gen orders create`, `token mint`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewOrder {
    pub order_id: String,
    pub clips: Vec<String>,
    pub downloads: u32,
    pub expires_at: Option<u64>,
    pub customer_ref: Option<String>,
    /// Kept as a checkout's, so that "Lost your download link?" and
    /// `resend` find the order by it.
    pub customer_email: Option<String>,
    /// The Stripe checkout and payment it was paid by (a checkout the
    /// webhook refused): a refund then revokes it, and Stripe's retry of
    /// that checkout makes no second order.
    pub session_id: Option<String>,
    pub payment_id: Option<String>,
}
clipstore_core::json_fields!(NewOrder {
    order_id,
    clips,
    downloads,
    expires_at,
    customer_ref,
    customer_email,
    session_id,
    payment_id
});

impl NewOrder {
    /// The order a request's body asks for; `None` when the body is not
    /// that object (refused with what is expected).
    pub fn from_json(body: &str) -> Option<NewOrder> {
        clipstore_core::json::from_str(body).ok()
    }
}

/// The order as `sql::REISSUE` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReissuedOrder {
    pub order_id: String,
    pub clips: String,
    pub allowance: u32,
    pub customer_ref: Option<String>,
    pub expires_at: Option<u64>,
    pub not_before: u64,
    /// JSON object of what was bought of each clip, or null.
    pub choices: Option<String>,
}
crate::from_row!(ReissuedOrder { order_id, clips, allowance, customer_ref, expires_at, not_before, choices });
clipstore_core::json_fields!(ReissuedOrder {
    order_id,
    clips,
    allowance,
    customer_ref,
    expires_at,
    not_before,
    choices
});

/// One clip of an order, as the admin API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipUsage {
    pub clip_slug: String,
    pub granted_bytes: u64,
    pub clip_size: u64,
    pub downloads_used: u32,
    pub downloads_left: u32,
}
clipstore_core::json_fields!(ClipUsage { clip_slug, granted_bytes, clip_size, downloads_used, downloads_left });

impl ClipUsage {
    /// `row`: the clip's row in the ledger, if it has one. Downloads left as
    /// the order page counts them (a download that broke off is left while a
    /// new one would be credited for it); used = the rest.
    pub fn new(clip_slug: String, allowance: u32, clip_size: u64, row: Option<&OrderClipRow>) -> ClipUsage {
        let downloads_left = row.map_or(allowance, |r| r.downloads_left(allowance, clip_size));
        ClipUsage {
            clip_slug,
            granted_bytes: row.map_or(0, |r| r.granted_bytes),
            clip_size,
            downloads_used: allowance - downloads_left,
            downloads_left,
        }
    }
}

/// The clips of an order the owner creates (`POST /admin/orders`), each an
/// item as a cart writes it (`harbour-at-dawn`, `harbour-at-dawn:480p:extended`),
/// checked against the catalog as a checkout is: the clips' slugs, and what
/// was bought of each (canonical, as a token carries it). The error says
/// which item is wrong and why.
pub fn order_items(manifest: &CatalogManifest, written: &[String]) -> Result<(Vec<String>, SortedMap<Choice>), String> {
    if written.is_empty() {
        return Err("an order needs at least one clip".into());
    }
    // One link covers at most that many: an order of more could never be
    // opened (the scale review: made, then "the ledger is unavailable" on
    // every resend and reissue).
    if written.len() > clipstore_core::token::MAX_CLIPS {
        return Err(format!(
            "one order (one link) covers at most {} clips, not {}: make two orders",
            clipstore_core::token::MAX_CLIPS,
            written.len()
        ));
    }
    let (mut slugs, mut choices) = (Vec::new(), SortedMap::default());
    for text in written {
        let item = Item::parse(text).ok_or_else(|| {
            format!("{text:?} is not an item: write a clip's slug, slug:variant or slug:variant:licence")
        })?;
        let resolved = manifest.resolve(&item).map_err(|e| format!("{text:?}: {e}"))?;
        // An order's clips are a set, and a link lists them sorted (the
        // token format): `orders create --clip b --clip a` is the order of
        // a and b. (Kept sorted as they come: a sort costs the module 2.5 KB.)
        let Err(at) = slugs.binary_search(&resolved.slug) else {
            return Err(format!("{text:?}: the clip {:?} is in the order twice", resolved.slug));
        };
        if !resolved.choice.is_plain() {
            choices.insert(resolved.slug.clone(), resolved.choice);
        }
        slugs.insert(at, resolved.slug);
    }
    Ok((slugs, choices))
}

/// An order's clip exchanged for another file or licence of it (the
/// customer bought the wrong one): what [`exchange`] makes of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub slug: String,
    /// The order's `choices` after it (JSON; None when every clip is plain).
    pub choices: Option<String>,
    /// The `exchange` event's detail: `720p:extended, was 360p:standard`.
    pub detail: String,
    /// The size of the file it becomes, as the catalog gives it.
    pub size: u64,
}

/// The order (`clips` and `choices` as the ledger holds them) with the clip
/// `item` names (`harbour-at-dawn:720p:extended`) exchanged for that file
/// and licence, checked against the catalog as a cart's item is. The same
/// order, so that a refund or dispute of its payment still stops it: the
/// replacement order made by hand before did not.
///
/// `revoked`: the order's clips revoked one by one (JSON), which an
/// exchange would not bring back.
pub fn exchange(
    manifest: &CatalogManifest,
    clips: &str,
    choices: Option<&str>,
    revoked: Option<&str>,
    item: &str,
) -> Result<Exchange, String> {
    let (slugs, chosen) = order_items(manifest, &[item.to_string()])?;
    let [slug] = slugs.as_slice() else {
        return Err(format!("{item:?} is not one item"));
    };
    let ordered: Vec<String> = clipstore_core::json::from_str(clips).unwrap_or_default();
    if !ordered.contains(slug) {
        return Err(format!("the order has no clip {slug:?}; it has: {}", ordered.join(", ")));
    }
    let revoked: Vec<String> = revoked.and_then(|r| clipstore_core::json::from_str(r).ok()).unwrap_or_default();
    if revoked.contains(slug) {
        return Err(format!(
            "its clip {slug} is revoked (refunded or withdrawn): `site-gen orders unrevoke` it first if the customer \
             should have it"
        ));
    }
    let mut all: SortedMap<Choice> = choices.and_then(|c| clipstore_core::json::from_str(c).ok()).unwrap_or_default();
    // The main file by its own id when it has one (`4k`).
    let main = manifest.clip(slug).and_then(|c| c.variant.as_ref()).map_or("main file", |v| v.id.as_str());
    let written = |c: Option<&Choice>| {
        let c = c.cloned().unwrap_or_default();
        format!("{}:{}", c.variant.as_deref().unwrap_or(main), c.licence.as_deref().unwrap_or("standard"))
    };
    let was = written(all.get(slug));
    let now = chosen.get(slug).cloned().unwrap_or_default();
    if written(Some(&now)) == was {
        // Not a way to give downloads back: `orders reset` is.
        return Err(format!("its clip {slug} is {was} already: nothing to exchange"));
    }
    let size = manifest.clip(slug).and_then(|c| c.file(now.variant.as_deref())).map_or(0, |f| f.size);
    let detail = format!("{}, was {was}", written(Some(&now)));
    if now.is_plain() {
        all.remove(slug);
    } else {
        all.insert(slug.clone(), now);
    }
    let choices = (!all.is_empty()).then(|| clipstore_core::json::to_string(&all));
    Ok(Exchange { slug: slug.clone(), choices, detail, size })
}

#[cfg(test)]
mod tests {
    use super::AdminRoute::*;
    use super::*;
    #[test]
    fn an_owners_order_names_its_items_as_a_cart_does() {
        let m = clipstore_core::testing::catalog(true);
        let items = |list: &[&str]| order_items(&m, &list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (slugs, choices) = items(&["h:web:extended"]).unwrap();
        assert_eq!(slugs, ["h"]);
        assert_eq!(choices.get("h"), Some(&Choice { variant: Some("web".into()), licence: Some("extended".into()) }));
        // A plain slug: the main file under the default licence, named.
        let (_, choices) = items(&["h"]).unwrap();
        assert_eq!(choices.get("h"), Some(&Choice { variant: None, licence: Some("standard".into()) }));
        for (bad, says) in [
            (&[][..], "at least one clip"),
            (&["nope"][..], "\"nope\": the clip \"nope\" is not in the catalog"),
            (&["h:8k"][..], "has no variant \"8k\""),
            (&["h::gold"][..], "no licence \"gold\""),
            (&["h:../x"][..], "is not an item"),
            (&["h", "h:web"][..], "in the order twice"),
        ] {
            let e = items(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        // More than one link can hold: refused before anything is made.
        let many: Vec<String> = (0..65).map(|i| format!("clip-{i}")).collect();
        let e = order_items(&m, &many).unwrap_err();
        assert_eq!(e, "one order (one link) covers at most 64 clips, not 65: make two orders");
        // Written in any order, listed as a link lists them: sorted (a
        // link's clips out of order failed to sign, and the order with it).
        let mut two = m.clone();
        let h = two.clips.get("h").unwrap().clone();
        two.clips.insert("a".into(), h);
        let written: Vec<String> = ["h:web", "a"].iter().map(|s| s.to_string()).collect();
        let (slugs, choices) = order_items(&two, &written).unwrap();
        assert_eq!(slugs, ["a", "h"]);
        assert_eq!(choices.get("h").and_then(|c| c.variant.as_deref()), Some("web"));
    }

    /// The support review's "I bought 4K but needed HD": the same order, its
    /// clip exchanged, others kept; what the order lacks or the catalog
    /// lacks is refused with why.
    #[test]
    fn an_exchange_changes_one_clip_of_the_order_and_says_what_it_was() {
        let m = clipstore_core::testing::catalog(true);
        let choices = r#"{"a":{"licence":"extended"},"h":{"licence":"standard"}}"#;
        let e = exchange(&m, r#"["a","h"]"#, Some(choices), None, "h:web:extended").unwrap();
        assert_eq!(e.size, 10, "the variant's size");
        assert_eq!(e.slug, "h");
        let now: SortedMap<Choice> = clipstore_core::json::from_str(e.choices.as_deref().unwrap()).unwrap();
        assert_eq!(now.get("h"), Some(&Choice { variant: Some("web".into()), licence: Some("extended".into()) }));
        assert_eq!(now.get("a"), Some(&Choice { variant: None, licence: Some("extended".into()) }), "kept");
        assert_eq!(e.detail, "web:extended, was 4k:standard");
        // Back to the plain clip of a shop without tiers: no choices left.
        let plain = clipstore_core::testing::catalog(false);
        let e = exchange(&plain, r#"["h"]"#, Some(r#"{"h":{"variant":"web"}}"#), None, "h").unwrap();
        assert_eq!((e.choices, e.detail.as_str(), e.size), (None, "4k:standard, was web:standard", 100));
        // The same file and licence again is no exchange (it would give the
        // downloads back each time), and a clip revoked on its own stays so.
        let same = exchange(&plain, r#"["h"]"#, Some(r#"{"h":{"variant":"web"}}"#), None, "h:web").unwrap_err();
        assert_eq!(same, "its clip h is web:standard already: nothing to exchange");
        let revoked = exchange(&plain, r#"["h"]"#, None, Some(r#"["h"]"#), "h:web").unwrap_err();
        assert!(revoked.starts_with("its clip h is revoked"), "{revoked}");
        for (item, says) in [
            ("h:8k", "has no variant"),
            ("z", "not in the catalog"),
            ("h:web:gold", "no licence"),
            ("h:../x", "is not an item"),
        ] {
            let refused = exchange(&m, r#"["a","h"]"#, None, None, item).unwrap_err();
            assert!(refused.contains(says), "{item}: {refused}");
        }
        let refused = exchange(&m, r#"["a"]"#, None, None, "h:web").unwrap_err();
        assert_eq!(refused, "the order has no clip \"h\"; it has: a");
    }

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/admin/orders", ""), ListOrders { limit: DEFAULT_LIMIT });
        assert_eq!(
            route("GET", "/admin/orders", "email=Jane%2Bshop%40example.com&limit=3"),
            OrdersOfEmail { email: "Jane+shop@example.com".into(), limit: 3 }
        );
        assert_eq!(
            route("GET", "/admin/orders", "filter=never-fully-downloaded&since=10&limit=5"),
            NeverFullyDownloaded { since: 10, until: MAX_TIME, limit: 5 }
        );
        assert_eq!(route("POST", "/admin/reset", "since=10&until=20"), ResetWindow { since: 10, until: 20 });
        assert_eq!(route("POST", "/admin/reset", "since=20&until=10"), NotFound);
        assert_eq!(route("POST", "/admin/orders", ""), CreateOrder);
        assert_eq!(route("GET", "/admin/orders/ORD%2F1", ""), ShowOrder { order_id: "ORD/1".into() });
        assert_eq!(
            route("POST", "/admin/orders/O1/reset", "clip=harbor"),
            Reset { order_id: "O1".into(), clip: Some("harbor".into()) }
        );
        assert_eq!(route("POST", "/admin/orders/O1/reset", ""), Reset { order_id: "O1".into(), clip: None });
        assert_eq!(route("POST", "/admin/orders/O1/revoke", ""), Revoke { order_id: "O1".into(), clip: None });
        assert_eq!(
            route("POST", "/admin/orders/O1/revoke", "clip=harbor"),
            Revoke { order_id: "O1".into(), clip: Some("harbor".into()) }
        );
        assert_eq!(
            route("POST", "/admin/orders/O1/unrevoke", "clip=harbor"),
            Unrevoke { order_id: "O1".into(), clip: Some("harbor".into()) }
        );
        assert_eq!(route("GET", "/admin/orders/O1/unrevoke", ""), MethodNotAllowed);
        assert_eq!(
            route("POST", "/admin/orders/O1/resend", "to=a%40b.example"),
            Resend { order_id: "O1".into(), to: Some("a@b.example".into()), replace: false }
        );
        assert_eq!(
            route("POST", "/admin/orders/O1/resend", "to=a%40b.example&replace=1"),
            Resend { order_id: "O1".into(), to: Some("a@b.example".into()), replace: true }
        );
        assert_eq!(route("GET", "/admin/orders/O1/resend", ""), MethodNotAllowed);
        assert_eq!(
            route("POST", "/admin/orders/O1/reissue", ""),
            Reissue { order_id: "O1".into(), valid_for: None, exchange: None }
        );
        assert_eq!(
            route("POST", "/admin/orders/O1/reissue", "exchange=h%3Aweb%3Aextended"),
            Reissue { order_id: "O1".into(), valid_for: None, exchange: Some("h:web:extended".into()) }
        );
        assert_eq!(
            route("POST", "/admin/orders/O1/reissue", "valid_for=86400"),
            Reissue { order_id: "O1".into(), valid_for: Some(86_400), exchange: None }
        );
        assert_eq!(route("GET", "/admin/orders/O1/revoke", ""), MethodNotAllowed);
        assert_eq!(
            route("GET", "/admin/attempts", "order=O1&after=7"),
            Attempts { order_id: Some("O1".into()), after: 7, limit: DEFAULT_LIMIT }
        );
        assert_eq!(route("POST", "/admin/ledger/merge", ""), Merge);
        assert_eq!(route("GET", "/admin/health", ""), Health);
        assert_eq!(route("POST", "/admin/health", ""), MethodNotAllowed);
        assert_eq!(route("GET", "/admin/keys", ""), Keys);
        assert_eq!(route("DELETE", "/admin/keys", ""), MethodNotAllowed);
        assert_eq!(route("GET", "/admin/catalog", ""), Catalog { offset: 0, limit: CATALOG_DEFAULT_LIMIT });
        assert_eq!(
            route("GET", "/admin/catalog", "offset=80&limit=9999"),
            Catalog { offset: 80, limit: CATALOG_MAX_LIMIT }
        );
        assert_eq!(route("GET", "/admin/objects/clips/a%20b.mp4", ""), ObjectInfo { key: "clips/a b.mp4".into() });
        assert_eq!(route("PUT", "/admin/objects/clips/a.mp4", ""), PutObject { key: "clips/a.mp4".into() });
        assert_eq!(route("POST", "/admin/objects/clips/a.mp4", ""), MethodNotAllowed);
        for bad in [
            "/admin/objects/",
            "/admin/objects/ledger-fallback/x",
            "/admin/objects/ledger-quarantine/x",
            "/admin/objects/a/../b",
            "/admin/objects//a",
        ] {
            assert_eq!(route("PUT", bad, ""), NotFound, "{bad}");
        }
        assert_eq!(route("GET", "/admin/payments", "limit=5"), Payments { limit: 5 });
        assert_eq!(route("POST", "/admin/payments", ""), MethodNotAllowed);
        assert_eq!(route("GET", "/admin/outbox", ""), Outbox { limit: OUTBOX_DEFAULT_LIMIT });
        assert_eq!(route("GET", "/admin/outbox", "limit=5"), Outbox { limit: 5 });
        assert_eq!(route("GET", "/admin/outbox", "limit=0"), Outbox { limit: 1 });
        assert_eq!(route("GET", "/admin/outbox", "limit=99999999"), Outbox { limit: MAX_LIMIT });
        assert_eq!(route("POST", "/admin/outbox", ""), MethodNotAllowed);
        assert_eq!(route("GET", "/admin/outbox/1", ""), NotFound);
        assert_eq!(route("GET", "/admin/nope", ""), NotFound);
        assert_eq!(route("GET", "/admin/orders//reset", ""), NotFound);
        assert_eq!(route("GET", "/admin/orders", "limit=999999"), ListOrders { limit: MAX_LIMIT });
    }

    #[test]
    fn auth() {
        let secret = Some("0123456789abcdef-secret");
        assert_eq!(authorize(secret, Some("Bearer 0123456789abcdef-secret")), Ok(()));
        assert_eq!(authorize(secret, Some("bearer  0123456789abcdef-secret ")), Ok(()));
        assert_eq!(authorize(secret, Some("Bearer 0123456789abcdef-secreT")), Err(AuthError::Unauthorized));
        // A prefix or an extension of the token (compared by digest, so the
        // length is not told by the time taken).
        assert_eq!(authorize(secret, Some("Bearer 0123456789abcdef-secre")), Err(AuthError::Unauthorized));
        assert_eq!(authorize(secret, Some("Bearer 0123456789abcdef-secretx")), Err(AuthError::Unauthorized));
        assert_eq!(authorize(secret, Some("Bearer ")), Err(AuthError::Unauthorized));
        assert_eq!(authorize(secret, Some("Basic 0123456789abcdef-secret")), Err(AuthError::Unauthorized));
        assert_eq!(authorize(secret, None), Err(AuthError::Unauthorized));
        assert_eq!(authorize(None, Some("Bearer x")), Err(AuthError::NotConfigured));
        assert_eq!(authorize(Some("short"), Some("Bearer short")), Err(AuthError::NotConfigured));
    }

    #[test]
    fn clip_usage_counts_downloads() {
        let row = |granted_bytes, interrupted_bytes| OrderClipRow {
            clip_slug: "harbor".into(),
            granted_bytes,
            clip_size: 100_000,
            unit_bytes: 0,
            budget_bytes: 0,
            updated_at: 0,
            credited_bytes: 0,
            reserved_bytes: 0,
            interrupted_bytes,
            broken_at: None,
            restart_credit: None,
            finished_from: None,
        };
        let u = ClipUsage::new("harbor".into(), 3, 100_000, Some(&row(100_000, None)));
        assert_eq!((u.granted_bytes, u.downloads_used, u.downloads_left), (100_000, 1, 2));
        let u = ClipUsage::new("harbor".into(), 3, 100_000, None);
        assert_eq!((u.granted_bytes, u.downloads_used, u.downloads_left), (0, 0, 3));
        // Three whole downloads, the last broken off at 60 %: one is left.
        let u = ClipUsage::new("harbor".into(), 3, 100_000, Some(&row(260_000, Some(60_000))));
        assert_eq!((u.downloads_used, u.downloads_left), (2, 1));
    }

    /// The bodies `site-gen` sends (`null` for what it leaves out) and any
    /// order of keys are read; keys not known are ignored.
    #[test]
    fn an_order_request_is_read() {
        let sent = r#"{"clips":["h:web:extended","b"],"customer_email":null,"downloads":3,"expires_at":null,"order_id":"ORD-1","payment_id":null,"session_id":null}"#;
        let o = NewOrder::from_json(sent).unwrap();
        assert_eq!((o.order_id.as_str(), o.clips.len(), o.downloads, o.expires_at), ("ORD-1", 2, 3, None));
        let full = r#"{"order_id":"O","clips":[],"downloads":4294967295,"expires_at":18446744073709551615,"customer_ref":"c","customer_email":"a@b.example","session_id":"cs_1","payment_id":"pi_1","later":{"x":[1.5]}}"#;
        let o = NewOrder::from_json(full).unwrap();
        assert_eq!((o.downloads, o.expires_at, o.payment_id.as_deref()), (u32::MAX, Some(u64::MAX), Some("pi_1")));
        assert_eq!(NewOrder::from_json(r#"{"order_id":"O","clips":["a"],"downloads":1}"#).unwrap().customer_ref, None);
    }

    /// A body that is not such an order is refused, whatever is wrong with it.
    #[test]
    fn a_malformed_order_request_is_refused() {
        for bad in [
            "",
            "null",
            "[]",
            r#"["O",["a"],1]"#,
            r#"{"clips":["a"],"downloads":1}"#,
            r#"{"order_id":"O","downloads":1}"#,
            r#"{"order_id":"O","clips":["a"]}"#,
            r#"{"order_id":null,"clips":["a"],"downloads":1}"#,
            r#"{"order_id":1,"clips":["a"],"downloads":1}"#,
            r#"{"order_id":"O","clips":"a","downloads":1}"#,
            r#"{"order_id":"O","clips":[1],"downloads":1}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":-1}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":1.0}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":4294967296}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":"1"}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":1,"expires_at":-5}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":1,"customer_email":false}"#,
            r#"{"order_id":"O","order_id":"P","clips":["a"],"downloads":1}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":1,"downloads":2}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":1} {}"#,
            r#"{"order_id":"O","clips":["a"],"downloads":1,}"#,
            r#"{"order_id":"O\u0000","clips":["a"],"downloads":1"#,
            "{\"order_id\":\"O\n\",\"clips\":[\"a\"],\"downloads\":1}",
            r#"{"order_id":"\ud800","clips":["a"],"downloads":1}"#,
        ] {
            assert_eq!(NewOrder::from_json(bad), None, "{bad}");
        }
        // Nested deeper than a parser should follow.
        let deep = format!(r#"{{"order_id":"O","clips":{}{},"downloads":1}}"#, "[".repeat(200), "]".repeat(200));
        assert_eq!(NewOrder::from_json(&deep), None);
    }

    #[test]
    fn answers_are_pinned() {
        let reissued = ReissuedOrder {
            order_id: "O".into(),
            clips: r#"["a"]"#.into(),
            allowance: 2,
            customer_ref: None,
            expires_at: Some(9),
            not_before: 3,
            choices: None,
        };
        assert_eq!(
            clipstore_core::json::to_string_sorted(&reissued),
            concat!(
                "{\"allowance\":2,\"choices\":null,\"clips\":\"[\\\"a\\\"]\",",
                r#""customer_ref":null,"expires_at":9,"not_before":3,"#,
                r#""order_id":"O"}"#,
            )
        );
        let usage = ClipUsage::new("harbor".into(), 3, 100, None);
        assert_eq!(
            clipstore_core::json::to_string_sorted(&usage),
            concat!(
                r#"{"clip_size":100,"clip_slug":"harbor","downloads_left":3,"#,
                r#""downloads_used":0,"granted_bytes":0}"#,
            )
        );
    }
}
