//! A small catalog for tests on both sides of the contract (this crate's,
//! and the Worker's with the `testing` feature): one clip, `h`, whose main
//! file is `4k` (2400) with a `web` variant (900), and optionally the tiers
//! `standard` (× 1) and `extended` (× 2.5 + 10.00).

use crate::manifest::{CatalogManifest, ManifestClip, ManifestLicence, ManifestVariant, ShopInfo, VariantName};

/// The catalog, with the two licence tiers when `licences`.
pub fn catalog(licences: bool) -> CatalogManifest {
    let mut m = CatalogManifest::new(ShopInfo {
        title: "Shop".into(),
        base_url: "https://example.com".into(),
        contact_email: "a@example.com".into(),
        currency: "EUR".into(),
        stylesheet: "/css/site.css".into(),
        licences: Vec::new(),
    });
    if licences {
        let tier = |id: &str, name: &str, factor_permille, surcharge| ManifestLicence {
            id: id.into(),
            name: name.into(),
            factor_permille,
            surcharge,
            page: format!("/licence-{id}/"),
        };
        m.shop.licences = vec![tier("standard", "Standard", 1000, 0), tier("extended", "Extended", 2500, 1000)];
    }
    let mut variants = crate::SortedMap::default();
    variants.insert(
        "web".into(),
        ManifestVariant {
            label: "720p".into(),
            object_key: "clips/h-720.mp4".into(),
            file_name: "H (720p).mp4".into(),
            size: 10,
            content_type: "video/mp4".into(),
            price: 900,
            sha256: None,
        },
    );
    m.clips.insert(
        "h".into(),
        ManifestClip {
            title: "H".into(),
            object_key: "clips/h.mp4".into(),
            file_name: "H.mp4".into(),
            size: 100,
            content_type: "video/mp4".into(),
            price: 2400,
            sha256: None,
            variant: Some(VariantName { id: "4k".into(), label: "4K".into() }),
            variants,
        },
    );
    m
}
