//! The catalog manifest: the Worker's only view of the catalog.
//!
//! site-gen writes it as JSON outside the public web root; the Worker embeds it
//! and resolves a clip slug from a URL to an object key only through it, so
//! nothing in a URL can name an arbitrary object in the bucket.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bucket key prefixes the Worker keeps for itself: its ledger records
/// written while D1 fails, malformed ones set aside, and its own state. No clip may live
/// under them (site-gen refuses such a `file`).
pub const LEDGER_FALLBACK_PREFIX: &str = "ledger-fallback/";
pub const LEDGER_QUARANTINE_PREFIX: &str = "ledger-quarantine/";
/// The Worker's own state kept in the bucket (its revocation list).
pub const LEDGER_STATE_PREFIX: &str = "ledger-state/";

/// Whether `key` is under a prefix the Worker keeps for itself.
pub fn reserved_key(key: &str) -> bool {
    [LEDGER_FALLBACK_PREFIX, LEDGER_QUARANTINE_PREFIX, LEDGER_STATE_PREFIX].iter().any(|p| key.starts_with(p))
}

/// Version of the manifest layout; bumped on any incompatible change
/// (2: each clip's `price`, so the Worker charges what the site shows).
pub const MANIFEST_VERSION: u32 = 2;

/// Everything the Worker knows about the shop's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogManifest {
    pub version: u32,
    /// The shop, for pages the Worker renders itself (order page, errors).
    pub shop: ShopInfo,
    /// Every published clip, keyed by slug (sorted, so output is stable).
    pub clips: BTreeMap<String, ManifestClip>,
}

/// The shop facts the Worker shows on pages it renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopInfo {
    pub title: String,
    pub base_url: String,
    pub contact_email: String,
    /// ISO 4217 code, upper case (`EUR`); prices are in its smallest unit.
    pub currency: String,
    /// Public path of the stylesheet the site uses, e.g. `/css/site.css`.
    pub stylesheet: String,
}

/// One downloadable clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestClip {
    pub title: String,
    /// Key of the object in the R2 bucket.
    pub object_key: String,
    /// File name the customer's browser saves the download as.
    pub file_name: String,
    /// Size of the object in bytes.
    pub size: u64,
    /// MIME type sent with the download.
    pub content_type: String,
    /// Price in the currency's smallest unit (cents), as the site shows it.
    pub price: u64,
    /// Lower-case hex SHA-256 of the object, when the owner recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Decimal places of a currency's smallest unit, as payment providers count
/// it (Stripe's list of zero- and three-decimal currencies): `price` in the
/// manifest is in that unit, so 18.00 EUR is 1800 and 1800 JPY is 1800.
pub fn currency_decimals(code: &str) -> u32 {
    const ZERO: [&str; 16] = [
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];
    let code = code.to_ascii_uppercase();
    if ZERO.contains(&code.as_str()) {
        0
    } else if THREE.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// An amount in hundredths (how the site reads `price = 24.50`) in the
/// currency's smallest unit; `None` when it has a fraction that unit cannot
/// hold (24.50 JPY).
pub fn minor_units(hundredths: u64, currency: &str) -> Option<u64> {
    // Stripe counts ISK in hundredths but charges only whole krónur.
    if currency.eq_ignore_ascii_case("ISK") && !hundredths.is_multiple_of(100) {
        return None;
    }
    match currency_decimals(currency) {
        0 => hundredths.is_multiple_of(100).then_some(hundredths / 100),
        3 => hundredths.checked_mul(10),
        _ => Some(hundredths),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("catalog manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("catalog manifest version {found} is not supported (expected {MANIFEST_VERSION}); rebuild the site with a matching site-gen")]
    Version { found: u32 },
}

impl CatalogManifest {
    pub fn new(shop: ShopInfo) -> Self {
        CatalogManifest { version: MANIFEST_VERSION, shop, clips: BTreeMap::new() }
    }

    /// Parses a manifest and checks its version.
    pub fn from_json(json: &str) -> Result<Self, ManifestError> {
        let manifest: CatalogManifest = serde_json::from_str(json)?;
        if manifest.version != MANIFEST_VERSION {
            return Err(ManifestError::Version { found: manifest.version });
        }
        Ok(manifest)
    }

    /// Pretty JSON with a trailing newline (stable: clips are sorted by slug).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s
    }

    /// The clip a URL slug names, if it is in the catalog.
    pub fn clip(&self, slug: &str) -> Option<&ManifestClip> {
        self.clips.get(slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CatalogManifest {
        let mut m = CatalogManifest::new(ShopInfo {
            title: "Shop".into(),
            base_url: "https://example.com".into(),
            contact_email: "a@example.com".into(),
            currency: "EUR".into(),
            stylesheet: "/css/site.css".into(),
        });
        m.clips.insert(
            "harbor-dawn".into(),
            ManifestClip {
                title: "Harbor at dawn".into(),
                object_key: "clips/harbor-dawn.mp4".into(),
                file_name: "Harbor at Dawn.mp4".into(),
                size: 1234,
                content_type: "video/mp4".into(),
                price: 2400,
                sha256: None,
            },
        );
        m
    }

    #[test]
    fn prices_in_the_currency_smallest_unit() {
        assert_eq!(minor_units(2450, "EUR"), Some(2450));
        assert_eq!(minor_units(180000, "JPY"), Some(1800));
        assert_eq!(minor_units(2450, "jpy"), None);
        assert_eq!(minor_units(2450, "KWD"), Some(24500));
        assert_eq!(minor_units(2400, "ISK"), Some(2400), "two decimals as Stripe counts them");
        assert_eq!(minor_units(2450, "ISK"), None, "but whole krónur only");
    }

    #[test]
    fn round_trips_through_json() {
        let m = sample();
        assert_eq!(CatalogManifest::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn rejects_other_versions_and_unknown_fields() {
        // A version-1 manifest (no prices) asks for a rebuild, not a parse error.
        let json = sample().to_json().replace("\"version\": 2", "\"version\": 1");
        assert!(matches!(CatalogManifest::from_json(&json), Err(ManifestError::Version { found: 1 })));
        let json = sample().to_json().replace("\"size\"", "\"bogus\": 1, \"size\"");
        assert!(matches!(CatalogManifest::from_json(&json), Err(ManifestError::Json(_))));
    }

    #[test]
    fn unknown_slug_is_none() {
        assert!(sample().clip("../secret").is_none());
        assert!(sample().clip("harbor-dawn").is_some());
    }
}
