//! The shop's settings: `content/site.toml`.

use crate::diagnostics::Diagnostic;
use crate::front_matter::{FrontMatter, SourceFile};

/// Path of the settings file, relative to the shop root.
pub const SITE_CONFIG: &str = "content/site.toml";

const KEYS: &[&str] = &[
    "title",
    "base_url",
    "description",
    "language",
    "currency",
    "contact_email",
    "items_per_page",
    "download_base_url",
    "watermark",
    "licences",
    "media_variants",
];
/// Keys of one `[[licences]]` section.
const LICENCE_KEYS: &[&str] = &["id", "name", "page", "factor", "surcharge"];

/// Settings from `content/site.toml`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SiteConfig {
    pub title: String,
    /// Public address of the shop, without a trailing slash.
    pub base_url: String,
    pub description: String,
    pub language: String,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    pub contact_email: String,
    /// Items on one page of the catalog, the news and tag pages.
    pub items_per_page: usize,
    /// Where customers' download links point (the Worker's `/download`).
    pub download_base_url: String,
    /// Text `site-gen media` burns into previews (default: the title).
    pub watermark: Option<String>,
    /// The licence tiers every clip is sold under, the default first;
    /// empty: one licence, the shop's terms.
    pub licences: Vec<LicenceTier>,
    /// The lower resolutions `site-gen media` makes from each master
    /// (`[[media_variants]]`); empty: none.
    #[serde(skip)]
    pub media_variants: Vec<crate::media_variants::VariantSetting>,
}

/// A licence tier (`[[licences]]`): a file's price times `factor`, plus
/// `surcharge`; its terms on `page`. Prices under it come from
/// `clipstore_core::CatalogManifest::resolve` only (in the currency's
/// smallest unit, as the Worker charges), never from these fields directly.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LicenceTier {
    pub id: String,
    pub name: String,
    /// Path of the shop page with the terms, like `/licence-extended/`.
    pub page: String,
    /// Thousandths: 1000 is the file's price as it is.
    pub factor_permille: u32,
    #[serde(skip)]
    pub surcharge: crate::content::Price,
    /// Its `[[licences]]` line, for messages.
    #[serde(skip)]
    pub location: crate::diagnostics::Location,
}

impl LicenceTier {
    /// The tier as the catalog manifest carries it, its surcharge in the
    /// smallest unit of `currency`; `None` when the surcharge has a fraction
    /// that unit cannot hold (which loading the shop reports).
    pub fn in_manifest(&self, currency: &str) -> Option<clipstore_core::ManifestLicence> {
        Some(clipstore_core::ManifestLicence {
            id: self.id.clone(),
            name: self.name.clone(),
            factor_permille: self.factor_permille,
            surcharge: clipstore_core::minor_units(self.surcharge.cents, currency)?,
            page: self.page.clone(),
        })
    }
}

/// Reads the `[[licences]]` sections; errors go to `errors`.
fn licences(f: &mut FrontMatter, errors: &mut Vec<Diagnostic>) -> Vec<LicenceTier> {
    let mut out: Vec<LicenceTier> = Vec::new();
    for mut t in f.tables("licences", LICENCE_KEYS) {
        let mut errs = Vec::new();
        let id = t.string("id", Some("id = \"standard\"")).filter(|id| {
            let ok = clipstore_core::token::is_valid_choice_id(id) && !out.iter().any(|o| o.id == *id);
            if !ok {
                let error =
                    t.error_at_key("id", format!("`id` must be 1-32 of a-z, 0-9 and -, and unique; found \"{id}\""));
                errs.push(match crate::content::fields::id_help("id", id) {
                    Some(help) => error.with_help(help),
                    None => error,
                });
            }
            ok
        });
        let name = t.string("name", Some("name = \"Standard\""));
        let page = t.string("page", Some("page = \"/licence/\"")).filter(|p| {
            let ok = p.starts_with('/') && !p.contains(char::is_whitespace);
            if !ok {
                errs.push(
                    t.error_at_key(
                        "page",
                        format!("`page` must be a path of the shop, like \"/licence/\"; found \"{p}\""),
                    )
                    .with_help("write the licence's terms as a page in content/pages/ and give its address"),
                );
            }
            ok
        });
        let factor_permille = match t.value("factor", None) {
            None => Some(1000),
            Some(v) => {
                let f = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                match f.map(|f| (f * 1000.0).round()) {
                    Some(p) if (1.0..=100_000.0).contains(&p) && (p / 1000.0 - f.unwrap()).abs() < 1e-9 => {
                        Some(p as u32)
                    }
                    _ => {
                        errs.push(t.error_at_key("factor", format!("`factor` must be a number from 0.001 to 100 with at most three decimals, found {v}"))
                            .with_help("`factor = 2.5` charges two and a half times the file's price"));
                        None
                    }
                }
            }
        };
        let surcharge = match t.value("surcharge", None) {
            None => Some(crate::content::Price { cents: 0 }),
            Some(v) => crate::content::Price::parse(&v)
                .map_err(|e| errs.push(t.error_at_key("surcharge", format!("`surcharge` {e}"))))
                .ok(),
        };
        let location = t.start();
        errs.append(&mut t.errors);
        if !errs.is_empty() {
            errors.append(&mut errs);
            continue;
        }
        out.push(LicenceTier {
            id: id.unwrap(),
            name: name.unwrap(),
            page: page.unwrap(),
            factor_permille: factor_permille.unwrap(),
            surcharge: surcharge.unwrap(),
            location,
        });
    }
    out
}

impl SiteConfig {
    pub fn parse(file: &SourceFile) -> Result<SiteConfig, Vec<Diagnostic>> {
        let mut f = FrontMatter::whole_file(file, KEYS)?;
        let title = f.string("title", Some("title = \"My Clip Shop\""));
        let base_url = f.string("base_url", Some("base_url = \"https://shop.example.com\""));
        let description = f.string("description", None).unwrap_or_default();
        let language = f.string("language", None).unwrap_or_else(|| "en".into());
        let currency = f.string("currency", Some("currency = \"EUR\""));
        let contact_email = f.string("contact_email", Some("contact_email = \"hello@shop.example.com\""));
        let items_per_page = f.u64("items_per_page", None).unwrap_or(10);
        let watermark = f.string("watermark", None).filter(|w| !w.trim().is_empty());
        let download_base_url =
            f.string("download_base_url", Some("download_base_url = \"https://shop.example.com/download\""));
        let mut licence_errors = Vec::new();
        let licences = licences(&mut f, &mut licence_errors);
        f.errors.append(&mut licence_errors);
        let mut media_errors = Vec::new();
        let media_variants = crate::media_variants::parse(&mut f, &file.display, &mut media_errors);
        f.errors.append(&mut media_errors);

        if let Some(url) = &base_url {
            if !is_http_url(url) {
                let d = f.error_at_key(
                    "base_url",
                    format!("`base_url` must start with https:// or http://, found \"{url}\""),
                );
                f.push_error(
                    d.with_help("write the shop's public address, like `base_url = \"https://shop.example.com\"`"),
                );
            }
        }
        if let Some(url) = &download_base_url {
            if !is_http_url(url) {
                let d = f.error_at_key(
                    "download_base_url",
                    format!("`download_base_url` must start with https:// or http://, found \"{url}\""),
                );
                f.push_error(d.with_help("usually the shop address followed by /download"));
            } else if url.starts_with("http://") && !crate::admin_client::is_loopback(url) {
                // Each link is a purchase: sent in clear text, anyone on
                // the customer's network could copy and use it.
                let d = f.error_at_key(
                    "download_base_url",
                    format!("`download_base_url` must start with https:// (a download link is the customer's purchase, readable by anyone on their network over http://), found \"{url}\""),
                );
                let fixed = format!("https://{}", &url["http://".len()..]);
                f.push_error(d.with_help(format!(
                    "download_base_url = \"{fixed}\" (http:// only for a Worker on this machine: 127.0.0.1 or localhost)"
                )));
            } else if let Some(fixed) = download_address_fix(url) {
                // The Worker answers links only at /download/ (its route
                // table, and the route of the shop's wrangler.toml): a link
                // elsewhere would be the site's 404 page.
                let d = f.error_at_key(
                    "download_base_url",
                    format!("`download_base_url` must be the shop's address followed by /download, where the Worker answers download links, found \"{url}\""),
                );
                f.push_error(d.with_help(format!("download_base_url = \"{fixed}\"")));
            }
        }
        if let Some(code) = &currency {
            if let Some(help) = currency_problem(code) {
                let d = f.error_at_key(
                    "currency",
                    format!("`currency` must be a currency's three-letter code (ISO 4217), found \"{code}\""),
                );
                f.push_error(d.with_help(help));
            }
        }
        if let Some(help) = language_problem(&language) {
            let d = f.error_at_key(
                "language",
                format!("`language` must be a language's code (BCP 47, like en, de or pt-BR), found \"{language}\""),
            );
            f.push_error(d.with_help(help));
        }
        if let Some(email) = &contact_email {
            if !email.contains('@') || email.contains(char::is_whitespace) {
                let d =
                    f.error_at_key("contact_email", format!("`contact_email` is not an e-mail address: \"{email}\""));
                f.push_error(d);
            }
        }
        if items_per_page == 0 {
            let d = f.error_at_key("items_per_page", "`items_per_page` must be at least 1");
            f.push_error(d);
        }
        if !f.errors.is_empty() {
            return Err(f.errors);
        }
        Ok(SiteConfig {
            title: title.unwrap(),
            base_url: base_url.unwrap().trim_end_matches('/').to_string(),
            description,
            language,
            currency: currency.unwrap(),
            contact_email: contact_email.unwrap(),
            items_per_page: items_per_page as usize,
            download_base_url: download_base_url.unwrap().trim_end_matches('/').to_string(),
            watermark,
            licences,
            media_variants,
        })
    }

    /// The absolute URL of a site path such as `/clips/`.
    /// A site path as a full address; spaces, quotes and letters outside
    /// ASCII in it percent-encoded (a poster named `my poster.jpg` is a
    /// valid `og:image`), a `%` already there kept.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{}", self.base_url, percent_encoding::utf8_percent_encode(path, URL_PATH))
    }
}

/// What a URL's path cannot hold as written (the WHATWG URL standard's path
/// set, which `url` uses): controls, space, quotes, `<>`, `` ` ``, `{}`, and
/// `#`/`?`, which would end the path.
const URL_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'#')
    .add(b'?');

/// The address to write when `url` (an http(s) address) is not its host's
/// `/download`, the one path where the Worker answers download links.
fn download_address_fix(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    (path.trim_end_matches('/') != "download").then(|| format!("{scheme}://{host}/download"))
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > "https://".len()
        && !s.contains(char::is_whitespace)
}

/// What to write when `tag` is not a valid language tag (the pages'
/// `lang`, the feed's `xml:lang`, the search's stemming): the code of a
/// language written by its name, in English or its own.
fn language_problem(tag: &str) -> Option<String> {
    use language_tags::LanguageTag;
    let registered = |tag: &str| LanguageTag::parse(tag).is_ok_and(|t| t.validate().is_ok());
    // A registered language with a region or script the registry lacks
    // (`en-UK`): browsers and search engines take it by its language.
    let parsed = LanguageTag::parse(tag.trim()).ok();
    if registered(tag)
        || parsed.as_ref().is_some_and(|t| registered(t.primary_language()) && t.primary_language().len() <= 3)
    {
        return None;
    }
    // `de_DE`: a locale as programs write it.
    let dashed = tag.trim().replace('_', "-");
    if registered(&dashed) {
        return Some(format!("language = \"{dashed}\""));
    }
    let name = tag.trim().to_lowercase();
    // "English", "Deutsch", "Français", "greek", "eng": a name in English
    // or the language's own, or a three-letter code.
    let plain = |n: &str| {
        let n = n.to_lowercase();
        let n = n.split(" (").next().unwrap_or_default().trim().to_string();
        n.strip_prefix("modern ").map(str::to_string).unwrap_or(n)
    };
    let meant = isolang::Language::from_639_3(&name)
        .or_else(|| isolang::Language::from_639_1(&name))
        .or_else(|| {
            isolang::languages()
                .filter(|l| l.to_639_1().is_some())
                .find(|l| plain(l.to_name()) == name || l.to_autonym().is_some_and(|own| plain(own) == name))
        })
        .and_then(|l| l.to_639_1());
    Some(match meant {
        Some(code) => format!("language = \"{code}\""),
        None => "write the language's code: language = \"en\" for English, \"de\" for German, \"pt-BR\" for Brazilian Portuguese".into(),
    })
}

/// What to write instead of `code`, unless it names a currency (ISO 4217,
/// in capitals, in use: not a fund, a metal or a code replaced).
fn currency_problem(code: &str) -> Option<String> {
    let in_use = |c: &str| {
        iso_currency::Currency::from_code(c)
            .is_some_and(|c| !c.is_fund() && !c.is_special() && c.is_superseded().is_none())
    };
    if in_use(code) {
        return None;
    }
    let by_sign = [
        ("€", "EUR"),
        ("$", "USD"),
        ("£", "GBP"),
        ("¥", "JPY"),
        ("UKP", "GBP"),
        ("RMB", "CNY"),
        ("EURO", "EUR"),
        ("EUROS", "EUR"),
        ("POUND", "GBP"),
        ("POUNDS", "GBP"),
        ("YEN", "JPY"),
        ("FRANC", "CHF"),
        ("FRANCS", "CHF"),
    ];
    let upper = code.trim().to_ascii_uppercase();
    // Many countries' money is the dollar: which one is the owner's to say.
    if upper == "DOLLAR" || upper == "DOLLARS" {
        return Some(
            "which dollar? write currency = \"USD\" (US), \"CAD\" (Canada), \"AUD\" (Australia), \"NZD\", \"SGD\", …"
                .into(),
        );
    }
    let likely = by_sign.iter().find(|(sign, _)| *sign == upper).map(|(_, c)| c.to_string());
    Some(match likely.or_else(|| in_use(&upper).then_some(upper)) {
        Some(c) => format!("write currency = \"{c}\""),
        None => "the three capital letters of the shop's currency, as Stripe takes it: EUR, USD, GBP, JPY, CHF, SEK, …"
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SiteConfig, Vec<Diagnostic>> {
        SiteConfig::parse(&SourceFile { display: SITE_CONFIG.into(), text: text.into() })
    }

    const GOOD: &str = "title = \"Shop\"\nbase_url = \"https://a.example/\"\ncurrency = \"EUR\"\ncontact_email = \"a@a.example\"\ndownload_base_url = \"https://a.example/download\"\n";

    #[test]
    fn download_addresses_are_the_hosts_download_path() {
        for good in ["https://a.example/download", "https://a.example/download/", "http://127.0.0.1:8787/download"] {
            assert_eq!(download_address_fix(good), None, "{good}");
        }
        for (bad, fixed) in [
            ("https://a.example", "https://a.example/download"),
            ("https://a.example/downloads", "https://a.example/download"),
            ("https://a.example/shop/download", "https://a.example/download"),
            ("http://127.0.0.1:8787/dl/", "http://127.0.0.1:8787/download"),
        ] {
            assert_eq!(download_address_fix(bad).as_deref(), Some(fixed), "{bad}");
        }
    }

    #[test]
    fn reads_settings_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.base_url, "https://a.example");
        assert_eq!(c.items_per_page, 10);
        assert_eq!(c.language, "en");
        assert_eq!(c.absolute("/clips/"), "https://a.example/clips/");
        assert_eq!(c.absolute("/posters/my poster é.jpg"), "https://a.example/posters/my%20poster%20%C3%A9.jpg");
        assert_eq!(c.absolute("/posters/a%20b.jpg"), "https://a.example/posters/a%20b.jpg", "kept as written");
        assert_eq!(
            parse(&GOOD.replace("/download\"", "/download/\"")).unwrap().download_base_url,
            "https://a.example/download"
        );
    }

    /// Download links work only under /download/, where the Worker answers.
    #[test]
    fn a_download_base_url_over_plain_http_is_refused_unless_local() {
        let errs = parse(&GOOD.replace("https://a.example/download", "http://a.example/download")).unwrap_err();
        assert!(errs[0].message.contains("`download_base_url` must start with https://"), "{:?}", errs[0]);
        assert_eq!(
            errs[0].help.as_deref(),
            Some("download_base_url = \"https://a.example/download\" (http:// only for a Worker on this machine: 127.0.0.1 or localhost)")
        );
        for local in ["http://127.0.0.1:8787/download", "http://localhost:8787/download"] {
            assert!(parse(&GOOD.replace("https://a.example/download", local)).is_ok(), "{local}");
        }
    }

    #[test]
    fn a_download_base_url_elsewhere_than_download_is_refused_with_the_fix() {
        let errs = parse(&GOOD.replace("https://a.example/download", "https://a.example")).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].message.contains("must be the shop's address followed by /download"), "{errs:#?}");
        assert_eq!(errs[0].help.as_deref(), Some("download_base_url = \"https://a.example/download\""));
        assert_eq!(errs[0].location.as_ref().unwrap().line, 5);
    }

    #[test]
    fn licence_tiers_with_factor_or_surcharge() {
        let text = format!(
            "{GOOD}[[licences]]\nid = \"standard\"\nname = \"Standard\"\npage = \"/licence/\"\n\n[[licences]]\nid = \"extended\"\nname = \"Extended\"\npage = \"/licence-extended/\"\nfactor = 2.5\nsurcharge = 10\n"
        );
        let c = parse(&text).unwrap();
        let [std, ext] = &c.licences[..] else { panic!("{:?}", c.licences) };
        assert_eq!((std.factor_permille, std.surcharge.cents), (1000, 0));
        assert_eq!((ext.factor_permille, ext.surcharge.cents, ext.page.as_str()), (2500, 1000, "/licence-extended/"));
        assert_eq!(parse(GOOD).unwrap().licences.len(), 0);
    }

    #[test]
    fn licence_mistakes_point_at_their_line() {
        let text = format!(
            "{GOOD}[[licences]]\nid = \"Std\"\nname = \"Standard\"\npage = \"licence\"\nfactor = 0.0001\n[[licences]]\nname = \"X\"\npage = \"/x/\"\nprize = 1\n"
        );
        let msgs: Vec<String> = parse(&text).unwrap_err().iter().map(|d| d.to_string()).collect();
        let has = |needle: &str, line: &str| msgs.iter().any(|m| m.contains(needle) && m.contains(line));
        assert!(has("`id` must be", ":7:"), "{msgs:#?}");
        assert!(has("`page` must be a path", ":9:"), "{msgs:#?}");
        assert!(has("`factor` must be", ":10:"), "{msgs:#?}");
        assert!(has("missing required field `id` in this `[[licences]]`", ":11:"), "{msgs:#?}");
        assert!(has("unknown setting `prize`", ":14:"), "{msgs:#?}");
    }

    #[test]
    fn reports_every_problem_with_its_line() {
        let text =
            GOOD.replace("\"EUR\"", "\"euro\"").replace("https://a.example/\"", "a.example\"") + "items_per_pgae = 5\n";
        let errs = parse(&text).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
        assert_eq!(errs.len(), 3, "{msgs:#?}");
        assert!(
            msgs.iter().any(|m| m.contains("did you mean `items_per_page`") && m.contains("site.toml:6:1")),
            "{msgs:#?}"
        );
        assert!(msgs.iter().any(|m| m.contains("`base_url` must start with") && m.contains(":2:1")));
        assert!(msgs.iter().any(|m| m.contains("three-letter code")));
    }

    /// `language = "English"` built pages with `lang="English"` (the owner
    /// review): a language is a BCP 47 tag, and a name gets its code.
    #[test]
    fn a_language_is_a_tag_and_a_name_gets_its_code() {
        // `en-UK`: the region is not registered (GB is), but browsers take
        // it as English, and shops have it.
        for good in ["en", "EN", "de", "pt-BR", "en-GB", "zh-Hant", "sr-Latn-RS", "en-UK"] {
            assert_eq!(super::language_problem(good), None, "{good}");
        }
        for (bad, help) in [
            ("English", "language = \"en\""),
            ("english", "language = \"en\""),
            ("Deutsch", "language = \"de\""),
            ("deutsch", "language = \"de\""),
            ("français", "language = \"fr\""),
            ("Français", "language = \"fr\""),
            ("Español", "language = \"es\""),
            ("greek", "language = \"el\""),
            ("eng", "language = \"en\""),
            ("de_DE", "language = \"de-DE\""),
            ("xx", "write the language's code"),
            ("", "write the language's code"),
            ("en-", "write the language's code"),
        ] {
            let problem = super::language_problem(bad).unwrap_or_else(|| panic!("{bad} passed"));
            assert!(problem.starts_with(help), "{bad}: {problem}");
        }
        let errs = parse(&format!("{GOOD}language = \"English\"\n")).unwrap_err();
        let msg = errs[0].to_string();
        assert!(
            msg.contains("`language` must be a language's code (BCP 47, like en, de or pt-BR), found \"English\""),
            "{msg}"
        );
        assert!(msg.contains("help: language = \"en\""), "{msg}");
    }

    /// Any three capitals were taken: `UKP` built a shop whose every
    /// checkout Stripe refused. A currency is one ISO 4217 has in use.
    #[test]
    fn a_currency_is_one_in_use_and_a_slip_gets_the_code_meant() {
        for good in ["EUR", "USD", "GBP", "JPY", "ISK", "KWD", "CHF", "SEK"] {
            assert_eq!(super::currency_problem(good), None, "{good}");
        }
        for (bad, help) in [
            ("UKP", "write currency = \"GBP\""),
            ("eur", "write currency = \"EUR\""),
            ("€", "write currency = \"EUR\""),
            ("euro", "write currency = \"EUR\""),
            ("Dollars", "which dollar? write currency = \"USD\" (US), \"CAD\""),
            ("XAU", "the three capital letters"), // gold, not money Stripe takes
            ("CHE", "the three capital letters"), // a fund
            ("HRK", "the three capital letters"), // replaced by the euro
            ("ABC", "the three capital letters"),
        ] {
            let problem = super::currency_problem(bad).unwrap_or_else(|| panic!("{bad} passed"));
            assert!(problem.starts_with(help), "{bad}: {problem}");
        }
        let errs = parse(&GOOD.replace("\"EUR\"", "\"UKP\"")).unwrap_err();
        let msg = errs[0].to_string();
        assert!(
            msg.contains("found \"UKP\"") && msg.contains("site.toml:3:1") && msg.contains("write currency = \"GBP\""),
            "{msg}"
        );
    }
}
