//! The catalog manifest: the Worker's only view of the catalog.
//!
//! site-gen writes it as JSON outside the public web root; the Worker embeds it
//! and resolves a clip slug from a URL to an object key only through it, so
//! nothing in a URL can name an arbitrary object in the bucket.

use serde::{Deserialize, Serialize};

use crate::SortedMap;

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
/// (2: each clip's `price`, so the Worker charges what the site shows;
/// 3: a clip's variants and the shop's licence tiers).
pub const MANIFEST_VERSION: u32 = 3;

/// Everything the Worker knows about the shop's catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogManifest {
    pub version: u32,
    /// The shop, for pages the Worker renders itself (order page, errors).
    pub shop: ShopInfo,
    /// Every published clip, keyed by slug (sorted, so output is stable).
    pub clips: SortedMap<ManifestClip>,
}
crate::json_fields!(
    #[deny_unknown_fields]
    CatalogManifest { version, shop, clips }
);

/// The shop facts the Worker shows on pages it renders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopInfo {
    pub title: String,
    pub base_url: String,
    pub contact_email: String,
    /// ISO 4217 code, upper case (`EUR`); prices are in its smallest unit.
    pub currency: String,
    /// Public path of the stylesheet the site uses, e.g. `/css/site.css`.
    pub stylesheet: String,
    /// The licence tiers a clip is sold under, the default first; none: one
    /// licence, the shop's terms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licences: Vec<ManifestLicence>,
}
crate::json_fields!(
    #[deny_unknown_fields]
    ShopInfo {
        title,
        base_url,
        contact_email,
        currency,
        stylesheet,
        #[skip_empty]
        licences
    }
);

impl ShopInfo {
    /// The fields that still hold `site-gen init`'s placeholder
    /// ([`crate::placeholder::has_mark`]): a Worker built so mails its
    /// customers links and an address that lead nowhere (the deploy review).
    pub fn placeholders(&self) -> Vec<&'static str> {
        [("base_url", &self.base_url), ("contact_email", &self.contact_email)]
            .into_iter()
            .filter(|(_, value)| crate::placeholder::has_mark(value))
            .map(|(field, _)| field)
            .collect()
    }
}

/// A licence tier (`[[licences]]` in site.toml): what it is called, what
/// it costs on top of a file's price, and the page with its terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLicence {
    /// `[a-z0-9-]`, 1–32 bytes: what carts, tokens and the ledger name.
    pub id: String,
    pub name: String,
    /// The file's price is multiplied by this many thousandths (1000: as
    /// is; 2500: two and a half times), rounded half up to the smallest
    /// amount the currency is charged in ([`chargeable_step`]),
    pub factor_permille: u32,
    /// and then this is added, in the currency's smallest unit.
    pub surcharge: u64,
    /// Path of the page with the licence's terms, e.g. `/licence-extended/`.
    pub page: String,
}
crate::json_fields!(
    #[deny_unknown_fields]
    ManifestLicence { id, name, factor_permille, surcharge, page }
);

impl ManifestLicence {
    /// A file's price under this licence, in the smallest unit of
    /// `currency`, an amount Stripe charges in it; `None` on overflow.
    pub fn price(&self, file_price: u64, currency: &str) -> Option<u64> {
        let step = u128::from(chargeable_step(currency)) * 1000;
        let scaled = u128::from(file_price) * u128::from(self.factor_permille);
        let rounded = u64::try_from((scaled + step / 2) / step * (step / 1000)).ok()?;
        rounded.checked_add(self.surcharge)
    }
}

/// One downloadable clip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// When the clip is sold in several files: this file's variant id and
    /// label, and the other variants by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantName>,
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub variants: SortedMap<ManifestVariant>,
}
crate::json_fields!(
    #[deny_unknown_fields]
    ManifestClip {
        title,
        object_key,
        file_name,
        size,
        content_type,
        price,
        #[skip_empty]
        sha256,
        #[skip_empty]
        variant,
        #[skip_empty]
        variants
    }
);

/// The id (`[a-z0-9-]`, what tokens carry) and label (what customers read,
/// e.g. `4K`) of a clip's file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantName {
    pub id: String,
    pub label: String,
}
crate::json_fields!(
    #[deny_unknown_fields]
    VariantName { id, label }
);

/// Another file of a clip (`[[variants]]` in its front matter): the fields
/// of [`ManifestClip`] that differ from file to file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestVariant {
    pub label: String,
    pub object_key: String,
    pub file_name: String,
    pub size: u64,
    pub content_type: String,
    pub price: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}
crate::json_fields!(
    #[deny_unknown_fields]
    ManifestVariant {
        label,
        object_key,
        file_name,
        size,
        content_type,
        price,
        #[skip_empty]
        sha256
    }
);

impl ManifestClip {
    /// The clip as one file: itself for `None` or its main variant's id,
    /// else the named variant with the clip's title (`None`: no such
    /// variant). What the Worker streams, sizes and names a download by.
    pub fn file(&self, variant: Option<&str>) -> Option<ManifestClip> {
        let Some(id) = variant.filter(|id| self.variant.as_ref().is_none_or(|main| main.id != *id)) else {
            return Some(ManifestClip { variants: SortedMap::default(), ..self.clone() });
        };
        let v = self.variants.get(id)?;
        Some(ManifestClip {
            title: self.title.clone(),
            object_key: v.object_key.clone(),
            file_name: v.file_name.clone(),
            size: v.size,
            content_type: v.content_type.clone(),
            price: v.price,
            sha256: v.sha256.clone(),
            variant: Some(VariantName { id: id.to_owned(), label: v.label.clone() }),
            variants: SortedMap::default(),
        })
    }

    /// Every file of the clip: the main one (variant `None`) and the others
    /// by id, each as [`ManifestClip::file`] gives it.
    pub fn files(&self) -> impl Iterator<Item = (Option<&str>, ManifestClip)> + '_ {
        std::iter::once(None)
            .chain(self.variants.keys().map(|id| Some(id.as_str())))
            .filter_map(|id| self.file(id).map(|file| (id, file)))
    }
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

/// The smallest amount, in the currency's smallest unit, that Stripe
/// charges: ISK is counted in hundredths but charged in whole krónur (100),
/// three-decimal currencies in tens of their unit (10), the others in 1.
pub fn chargeable_step(currency: &str) -> u64 {
    if currency.eq_ignore_ascii_case("ISK") {
        100
    } else if currency_decimals(currency) == 3 {
        10
    } else {
        1
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
    Json(#[from] crate::json::JsonError),
    #[error("catalog manifest version {found} is not supported (expected {MANIFEST_VERSION}); rebuild the site with a matching site-gen")]
    Version { found: u32 },
}

impl CatalogManifest {
    pub fn new(shop: ShopInfo) -> Self {
        CatalogManifest { version: MANIFEST_VERSION, shop, clips: SortedMap::default() }
    }

    /// Parses a manifest and checks its version (`crate::json`: the parser
    /// the Worker embeds, so that site-gen and the Worker's build refuse the
    /// same manifests).
    pub fn from_json(json: &str) -> Result<Self, ManifestError> {
        let manifest: CatalogManifest = crate::json::from_str(json)?;
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

    /// Every file of the catalog, by name: a clip's main file by its slug,
    /// each other variant as `slug:variant` (what the self-test, `site-gen
    /// doctor` and `site-gen push` check and upload).
    pub fn files(&self) -> Vec<(String, ManifestClip)> {
        self.clips
            .iter()
            .flat_map(|(slug, clip)| {
                clip.files().map(move |(id, file)| (id.map_or_else(|| slug.clone(), |id| format!("{slug}:{id}")), file))
            })
            .collect()
    }

    /// A licence tier by id.
    pub fn licence(&self, id: &str) -> Option<&ManifestLicence> {
        self.shop.licences.iter().find(|l| l.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `site-gen init`'s placeholders, as it writes them, are found; a
    /// shop's own address is not.
    #[test]
    fn a_shop_still_on_init_placeholders_names_them() {
        let mut shop = sample().shop;
        assert!(shop.placeholders().is_empty());
        shop.base_url = "https://change-me.example".into();
        assert_eq!(shop.placeholders(), ["base_url"]);
        shop.contact_email = "CHANGE-ME@shop.example".into();
        assert_eq!(shop.placeholders(), ["base_url", "contact_email"]);
        // A word with the mark inside is the shop's own (the diff review).
        shop.base_url = "https://exchange-media.example".into();
        assert_eq!(shop.placeholders(), ["contact_email"]);
    }

    fn sample() -> CatalogManifest {
        let mut m = CatalogManifest::new(ShopInfo {
            title: "Shop".into(),
            base_url: "https://example.com".into(),
            contact_email: "a@example.com".into(),
            currency: "EUR".into(),
            stylesheet: "/css/site.css".into(),
            licences: Vec::new(),
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
                variant: None,
                variants: SortedMap::default(),
            },
        );
        m
    }

    fn with_variants() -> ManifestClip {
        let mut clip = sample().clips["harbor-dawn"].clone();
        clip.variant = Some(VariantName { id: "4k".into(), label: "4K".into() });
        clip.variants.insert(
            "web".into(),
            ManifestVariant {
                label: "720p".into(),
                object_key: "clips/harbor-dawn-720.mp4".into(),
                file_name: "Harbor at Dawn (720p).mp4".into(),
                size: 99,
                content_type: "video/mp4".into(),
                price: 900,
                sha256: Some("ab".repeat(32)),
            },
        );
        clip
    }

    #[test]
    fn a_variant_is_the_clip_as_another_file() {
        let clip = with_variants();
        let web = clip.file(Some("web")).unwrap();
        assert_eq!((web.object_key.as_str(), web.size, web.price), ("clips/harbor-dawn-720.mp4", 99, 900));
        assert_eq!((web.title.as_str(), web.variant.unwrap().label.as_str()), ("Harbor at dawn", "720p"));
        for main in [None, Some("4k")] {
            let file = clip.file(main).unwrap();
            assert_eq!((file.object_key.as_str(), file.variants.len()), ("clips/harbor-dawn.mp4", 0));
        }
        assert!(clip.file(Some("8k")).is_none());
        assert!(clip.file(Some("../x")).is_none());
        let keys: Vec<_> = clip.files().map(|(id, f)| (id, f.object_key)).collect();
        assert_eq!(
            keys,
            [(None, "clips/harbor-dawn.mp4".to_string()), (Some("web"), "clips/harbor-dawn-720.mp4".into())]
        );
    }

    #[test]
    fn the_catalog_files_are_every_clip_and_variant() {
        let mut m = sample();
        m.clips.insert("with-variants".into(), with_variants());
        let names: Vec<String> = m.files().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["harbor-dawn", "with-variants", "with-variants:web"]);
    }

    #[test]
    fn licence_prices_scale_round_half_up_then_add() {
        let l = |factor_permille, surcharge| ManifestLicence {
            id: "x".into(),
            name: "X".into(),
            factor_permille,
            surcharge,
            page: "/x/".into(),
        };
        assert_eq!(l(1000, 0).price(2400, "EUR"), Some(2400));
        assert_eq!(l(2500, 0).price(2401, "EUR"), Some(6003), "6002.5 rounds up");
        assert_eq!(l(1000, 4000).price(2400, "EUR"), Some(6400));
        assert_eq!(l(1500, 100).price(999, "EUR"), Some(1599), "1498.5 -> 1499, + 100");
        assert_eq!(l(u32::MAX, 0).price(u64::MAX, "EUR"), None);
        // What Stripe charges: whole krónur, tens of fils, whole yen.
        assert_eq!(l(2500, 0).price(2500, "ISK"), Some(6300), "25 kr x 2.5 = 62.50 -> 63 kr");
        assert_eq!(l(2500, 0).price(2400, "isk"), Some(6000));
        assert_eq!(l(1500, 0).price(1230, "KWD"), Some(1850), "1.845 KWD -> 1.850");
        assert_eq!(l(2500, 0).price(1801, "JPY"), Some(4503), "yen are whole already");
        for currency in ["ISK", "BHD", "JOD", "KWD", "OMR", "TND", "EUR", "JPY"] {
            for price in [100, 990, 1230, 2500, 9999] {
                let charged = l(1777, 0).price(price, currency).unwrap();
                assert!(charged.is_multiple_of(chargeable_step(currency)), "{price} {currency}: {charged}");
            }
        }
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
        let mut m = sample();
        assert_eq!(CatalogManifest::from_json(&m.to_json()).unwrap(), m);
        m.clips.insert("with-variants".into(), with_variants());
        assert_eq!(CatalogManifest::from_json(&m.to_json()).unwrap(), m);
        // Written by `json` as serde wrote it.
        assert_eq!(crate::json::to_string(&m), serde_json::to_string(&m).unwrap());
    }

    #[test]
    fn rejects_other_versions_and_unknown_fields() {
        // A version-1 manifest (no prices) asks for a rebuild, not a parse error.
        let json = sample().to_json().replace("\"version\": 3", "\"version\": 2");
        assert!(matches!(CatalogManifest::from_json(&json), Err(ManifestError::Version { found: 2 })));
        let json = sample().to_json().replace("\"size\"", "\"bogus\": 1, \"size\"");
        assert!(matches!(CatalogManifest::from_json(&json), Err(ManifestError::Json(_))));
    }

    /// The parser the Worker embeds the manifest with refuses what site-gen
    /// never writes, so a hand-edited manifest fails the Worker's build.
    #[test]
    fn what_the_parser_refuses() {
        let mut m = sample();
        m.shop.licences.push(ManifestLicence {
            id: "extended".into(),
            name: "Extended".into(),
            factor_permille: 2500,
            surcharge: 0,
            page: "/licence-extended/".into(),
        });
        m.clips.insert("with-variants".into(), with_variants());
        let good = m.to_json();
        assert_eq!(CatalogManifest::from_json(&good).unwrap(), m);
        let compact: String = good.split('\n').map(str::trim_start).collect::<Vec<_>>().join("");
        assert_eq!(CatalogManifest::from_json(&compact).unwrap(), m);
        // Absent optional parts read as empty.
        let plain = sample().to_json();
        assert!(!plain.contains("licences") && !plain.contains("sha256") && !plain.contains("variants"));
        assert_eq!(CatalogManifest::from_json(&plain).unwrap(), sample());
        let nulls = plain.replace("\"size\"", "\"sha256\": null, \"variant\": null, \"size\"");
        assert_eq!(CatalogManifest::from_json(&nulls).unwrap(), sample());
        for bad in [
            String::new(),
            "[]".into(),
            good.replace("\"version\": 3,", ""),
            good.replace("\"version\": 3", "\"version\": \"3\""),
            good.replace("\"version\": 3", "\"version\": 3, \"version\": 3"),
            good.replace("\"title\": \"Shop\"", "\"title\": \"Shop\", \"logo\": \"x\""),
            good.replace("\"factor_permille\": 2500", "\"factor_permille\": 4294967296"),
            good.replace("\"surcharge\": 0", "\"surcharge\": -1"),
            good.replace("\"size\": 1234", "\"size\": 1234.0"),
            good.replace("\"size\": 1234", "\"size\": null"),
            good.replace("\"price\": 2400", "\"price\": 2400, \"price\": 2500"),
            good.replace("\"label\": \"720p\"", "\"label\": \"720p\", \"poster\": \"p\""),
            good.replace("\"id\": \"4k\"", "\"id\": \"4k\", \"x\": 1"),
            good.replace("\"id\": \"4k\",", ""),
            good.replace("\"licences\": [", "\"licences\": {\"a\": ").replace("\n    ]", "\n    }"),
            good.replace("\"clips\": {", "\"clips\": [").replace("\n  }\n}", "\n  ]\n}"),
            good.replace("\"sha256\": \"abab", "\"sha256\": [\"abab").replace("abab\",", "abab\"],"),
            format!("{good}{{}}"),
        ] {
            assert!(CatalogManifest::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_slug_is_none() {
        assert!(sample().clip("../secret").is_none());
        assert!(sample().clip("harbor-dawn").is_some());
    }
}
