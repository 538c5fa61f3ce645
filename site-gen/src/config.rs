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
];

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
            }
        }
        if let Some(code) = &currency {
            if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
                let d = f.error_at_key(
                    "currency",
                    format!("`currency` must be a three-letter code like EUR or USD, found \"{code}\""),
                );
                f.push_error(d);
            }
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
        })
    }

    /// The absolute URL of a site path such as `/clips/`.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > "https://".len()
        && !s.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SiteConfig, Vec<Diagnostic>> {
        SiteConfig::parse(&SourceFile { display: SITE_CONFIG.into(), text: text.into() })
    }

    const GOOD: &str = "title = \"Shop\"\nbase_url = \"https://a.example/\"\ncurrency = \"EUR\"\ncontact_email = \"a@a.example\"\ndownload_base_url = \"https://a.example/download\"\n";

    #[test]
    fn reads_settings_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.base_url, "https://a.example");
        assert_eq!(c.items_per_page, 10);
        assert_eq!(c.language, "en");
        assert_eq!(c.absolute("/clips/"), "https://a.example/clips/");
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
}
