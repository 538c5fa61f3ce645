//! What the customer's order page shows, assembled from the verified token
//! claims, the catalog manifest and the bytes granted per clip in the ledger.

use clipstore_core::{CatalogManifest, Choice, SortedMap};

use crate::ledger::OrderClipRow;

/// One clip on the order page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub slug: String,
    pub title: String,
    /// The file bought, when the clip is sold in several (`4K`).
    pub variant: Option<String>,
    /// The licence bought (name, terms page), when the shop has tiers.
    pub licence: Option<(String, String)>,
    pub file_name: String,
    pub size: u64,
    /// The file's lower-case hex SHA-256 when the catalog knows it, so the
    /// customer can check what arrived.
    pub sha256: Option<String>,
    /// Whole downloads left for this clip (see [`crate::allowance`]); `None`
    /// when the ledger could not be read.
    pub remaining: Option<u32>,
    /// A download of it is streaming now (its bytes held until it ends).
    pub in_flight: bool,
    /// Where the last download that broke off stopped, in per cent of the
    /// clip, when resuming it would be granted though a new one would not.
    pub resumable_percent: Option<u64>,
    /// No whole download is left, and the last one finished as far as the
    /// Worker can tell: how many of the clip's last bytes a resume would
    /// still be sent, for a file that stopped short all the same
    /// (`OrderClipRow::resume_tail`).
    pub resume_tail: Option<u64>,
    /// No whole download is left, but its download broke off and a fresh
    /// start is given back once (the customer cancelled it in the browser,
    /// which deleted the file): `OrderClipRow::restart_offered`.
    pub restart: bool,
    /// This clip of the order was revoked for a refund (a partial refund).
    pub refunded: bool,
    /// The owner revoked this clip of the order, not for a refund.
    pub withdrawn_by_shop: bool,
    /// Relative link to the clip: `<token>/<slug>` from `/download/<token>/`,
    /// written absolute here so it works with and without the trailing slash.
    pub href: String,
    /// The clip's licence certificate: `<href>/licence`.
    pub certificate_href: String,
}

/// The order page's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub order_id: String,
    /// The date of the order, as the licence certificate gives it: when
    /// the ledger first had it, or the link was issued if that was earlier
    /// (a link minted by hand, used later), so that every link of one
    /// order (resent, recovered) gives the same date.
    pub issued_at: u64,
    /// The owner's reference for the customer, if the token has one.
    pub customer_ref: Option<String>,
    pub expires_at: u64,
    /// Downloads allowed per clip.
    pub allowance: u32,
    pub lines: Vec<OrderLine>,
    /// Slugs the token names that are no longer in the catalog.
    pub withdrawn: Vec<String>,
}

/// The token facts the order page needs (a subset of the token claims).
#[derive(Debug, Clone, Copy)]
pub struct OrderClaims<'a> {
    pub order_id: &'a str,
    pub clips: &'a [String],
    /// What was bought of each clip (version 2 tokens).
    pub choices: &'a SortedMap<Choice>,
    pub issued_at: u64,
    pub customer_ref: Option<&'a str>,
    pub expires_at: u64,
    pub downloads: u32,
}

/// The clips of an order revoked one by one (`revoked_clips`): all of
/// them, and those revoked for a refund.
#[derive(Debug, Clone, Default)]
pub struct RevokedClips {
    pub all: Vec<String>,
    pub refunded: Vec<String>,
}

impl OrderLine {
    /// Revoked on its own, for a refund or by the owner: no downloads, no
    /// licence left to certify.
    pub fn ended(&self) -> bool {
        self.refunded || self.withdrawn_by_shop
    }
}

impl OrderView {
    /// `charged`: the ledger's rows of this order's clips (what each was
    /// granted and credited); `None` when the ledger is unavailable.
    /// `revoked`: clips revoked one by one.
    pub fn new(
        claims: OrderClaims<'_>,
        manifest: &CatalogManifest,
        charged: Option<&[OrderClipRow]>,
        revoked: &RevokedClips,
        token: &str,
    ) -> OrderView {
        let mut lines = Vec::new();
        let mut withdrawn = Vec::new();
        for slug in claims.clips {
            let choice = claims.choices.get(slug).cloned().unwrap_or_default();
            let licence = choice.licence.as_deref().and_then(|id| manifest.licence(id));
            match manifest.clip(slug).and_then(|clip| clip.file(choice.variant.as_deref())) {
                Some(clip) => lines.push(OrderLine {
                    slug: slug.clone(),
                    title: clip.title.clone(),
                    variant: clip.variant.as_ref().map(|v| v.label.clone()),
                    licence: licence.map(|l| (l.name.clone(), l.page.clone())),
                    file_name: clip.file_name.clone(),
                    size: clip.size,
                    sha256: clip.sha256.clone(),
                    in_flight: charged
                        .is_some_and(|rows| rows.iter().any(|r| r.clip_slug == *slug && r.reserved_bytes > 0)),
                    resumable_percent: charged
                        .and_then(|rows| rows.iter().find(|r| r.clip_slug == *slug))
                        .and_then(|r| r.resumable_percent(claims.downloads, clip.size)),
                    restart: charged
                        .and_then(|rows| rows.iter().find(|r| r.clip_slug == *slug))
                        .is_some_and(|r| r.restart_offered(claims.downloads, clip.size)),
                    resume_tail: charged
                        .and_then(|rows| rows.iter().find(|r| r.clip_slug == *slug))
                        .and_then(|r| r.resume_tail(claims.downloads, clip.size)),
                    remaining: charged.map(|rows| {
                        rows.iter()
                            .find(|r| r.clip_slug == *slug)
                            .map_or(claims.downloads, |r| r.downloads_left(claims.downloads, clip.size))
                    }),
                    refunded: revoked.refunded.contains(slug),
                    withdrawn_by_shop: revoked.all.contains(slug) && !revoked.refunded.contains(slug),
                    href: format!("/download/{token}/{slug}"),
                    certificate_href: format!("/download/{token}/{slug}/{}", crate::routes::CERTIFICATE_PAGE),
                }),
                None => withdrawn.push(slug.clone()),
            }
        }
        OrderView {
            order_id: claims.order_id.to_string(),
            issued_at: claims.issued_at,
            customer_ref: claims.customer_ref.map(str::to_string),
            expires_at: claims.expires_at,
            allowance: claims.downloads,
            lines,
            withdrawn,
        }
    }
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
        m.clips.insert(
            "harbor".into(),
            ManifestClip {
                variant: None,
                variants: Default::default(),
                title: "Harbor".into(),
                object_key: "clips/harbor.mp4".into(),
                file_name: "Harbor.mp4".into(),
                size: 2_500_000,
                content_type: "video/mp4".into(),
                price: 1800,
                sha256: None,
            },
        );
        m
    }

    fn charged(slug: &str, granted: u64, credited: u64, interrupted: Option<u64>) -> OrderClipRow {
        OrderClipRow {
            clip_slug: slug.into(),
            granted_bytes: granted,
            clip_size: 2_500_000,
            unit_bytes: 0,
            budget_bytes: 0,
            updated_at: 0,
            credited_bytes: credited,
            reserved_bytes: 0,
            interrupted_bytes: interrupted,
            broken_at: None,
            restart_credit: None,
            finished_from: None,
        }
    }

    #[test]
    fn a_download_that_broke_off_still_counts_as_left_while_a_new_one_would_be_granted() {
        let clips = vec!["harbor".to_string()];
        let choices = SortedMap::default();
        let claims = OrderClaims {
            order_id: "o-1",
            clips: &clips,
            choices: &choices,
            issued_at: 1,
            customer_ref: None,
            expires_at: 10,
            downloads: 1,
        };
        // 2.5 MB on a 1-download link: slack 625 kB, pool 1.25 MB.
        let left = |row: OrderClipRow| {
            OrderView::new(claims, &manifest(), Some(&[row]), &RevokedClips::default(), "T").lines[0].remaining
        };
        assert_eq!(left(charged("harbor", 1_500_000, 0, Some(1_500_000))), Some(1), "broke off at 60 %");
        assert_eq!(left(charged("harbor", 1_500_000, 0, None)), Some(0), "nothing to credit");
        assert_eq!(left(charged("harbor", 1_500_000, 1_000_000, Some(1_500_000))), Some(0), "the pool is spent");
        assert_eq!(left(charged("harbor", 2_600_000, 0, Some(100_000))), Some(0), "a whole download and a bit");
        // Counted with the size the object had when granted, else the catalog's.
        let bigger = OrderClipRow { clip_size: 5_000_000, ..charged("harbor", 1_000_000, 0, None) };
        assert_eq!(left(bigger), Some(1));
        let unknown = OrderClipRow { clip_size: 0, ..charged("harbor", 1_000_000, 0, None) };
        assert_eq!(left(unknown), Some(0));
        // While a download streams, the page says so.
        let streaming = OrderClipRow { reserved_bytes: 2_500_000, ..charged("harbor", 2_500_000, 0, None) };
        let view = OrderView::new(claims, &manifest(), Some(&[streaming]), &RevokedClips::default(), "T");
        assert_eq!((view.lines[0].remaining, view.lines[0].in_flight), (Some(0), true));
    }

    #[test]
    fn lines_follow_the_token_and_count_remaining() {
        let clips = vec!["gone".to_string(), "harbor".to_string()];
        let granted = [charged("harbor", 2 * 2_500_000, 0, None)];
        let view = OrderView::new(
            OrderClaims {
                order_id: "o-1",
                clips: &clips,
                choices: &SortedMap::default(),
                issued_at: 1,
                customer_ref: None,
                expires_at: 10,
                downloads: 5,
            },
            &manifest(),
            Some(&granted[..]),
            &RevokedClips { all: vec!["harbor".to_string()], refunded: vec!["harbor".to_string()] },
            "TOK",
        );
        assert_eq!(view.lines.len(), 1);
        assert_eq!(view.lines[0].remaining, Some(3));
        assert!(view.lines[0].refunded);
        assert_eq!(view.lines[0].href, "/download/TOK/harbor");
        assert_eq!(view.withdrawn, vec!["gone".to_string()]);
        assert_eq!(view.lines[0].certificate_href, "/download/TOK/harbor/licence");
        assert_eq!((view.lines[0].variant.as_ref(), view.lines[0].licence.as_ref()), (None, None));
    }

    #[test]
    fn a_line_is_the_file_and_licence_bought() {
        let mut m = manifest();
        m.shop.licences = vec![clipstore_core::ManifestLicence {
            id: "extended".into(),
            name: "Extended".into(),
            factor_permille: 2000,
            surcharge: 0,
            page: "/licence-extended/".into(),
        }];
        let harbor = m.clips.get_mut("harbor").unwrap();
        harbor.variant = Some(clipstore_core::VariantName { id: "4k".into(), label: "4K".into() });
        harbor.variants.insert(
            "web".into(),
            clipstore_core::ManifestVariant {
                label: "720p".into(),
                object_key: "clips/harbor-720.mp4".into(),
                file_name: "Harbor (720p).mp4".into(),
                size: 500_000,
                content_type: "video/mp4".into(),
                price: 900,
                sha256: Some("cd".repeat(32)),
            },
        );
        let clips = vec!["harbor".to_string()];
        let choice = Choice { variant: Some("web".into()), licence: Some("extended".into()) };
        let choices = SortedMap::from([("harbor".to_string(), choice)]);
        let claims = OrderClaims {
            order_id: "o-1",
            clips: &clips,
            choices: &choices,
            issued_at: 1,
            customer_ref: Some("c-9"),
            expires_at: 10,
            downloads: 1,
        };
        let view = OrderView::new(claims, &m, Some(&[]), &RevokedClips::default(), "TOK");
        let line = &view.lines[0];
        assert_eq!((line.file_name.as_str(), line.size), ("Harbor (720p).mp4", 500_000));
        assert_eq!(line.sha256, Some("cd".repeat(32)));
        assert_eq!(line.variant.as_deref(), Some("720p"));
        assert_eq!(line.licence, Some(("Extended".to_string(), "/licence-extended/".to_string())));
        assert_eq!(line.remaining, Some(1), "the allowance counts the variant's size");
        assert_eq!(view.customer_ref.as_deref(), Some("c-9"));
    }
}
