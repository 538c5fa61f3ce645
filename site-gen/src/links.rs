//! Checking that internal links point at something the build produces.
//!
//! Links in Markdown are checked on every build and reported at their line;
//! `site-gen check` also scans the rendered HTML, which covers links that
//! templates write.

use std::collections::HashSet;

use crate::content::Shop;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::markdown::SourceLink;
use crate::render::{file_for_url, OutputFile};

/// Pages the edge Worker renders itself (its route table,
/// `edge-worker/src/routes.rs`): templates may link them though no file
/// is built for them.
const WORKER_PAGES: [&str; 3] = ["/orders/recover", "/checkout", "/thanks"];

/// The site paths a build produces (`clips/index.html`, `css/site.css`, ...).
pub struct SiteFiles(HashSet<String>);

impl SiteFiles {
    pub fn new(files: &[OutputFile]) -> Self {
        SiteFiles(files.iter().map(|f| f.path.clone()).collect())
    }

    /// The site of these output paths.
    pub fn from_paths(paths: HashSet<String>) -> Self {
        SiteFiles(paths)
    }

    /// Whether the site path `path` (like `/clips/a/` or `/css/site.css`) is served.
    pub fn serves(&self, path: &str) -> bool {
        if WORKER_PAGES.contains(&path.trim_end_matches('/')) {
            return true;
        }
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        let file = file_for_url(&decoded);
        self.0.contains(&file) || self.0.contains(&format!("{file}/index.html"))
    }
}

/// The site path a link points to, or `None` for links that leave the site.
/// `page_url` is the address of the page holding the link.
pub fn internal_target(target: &str, page_url: &str, base_url: &str) -> Option<String> {
    let target = target.trim();
    let target = match target.strip_prefix(base_url) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            if rest.is_empty() {
                "/"
            } else {
                rest
            }
        }
        _ => target,
    };
    if target.is_empty() || target.starts_with('#') || target.starts_with("//") || has_scheme(target) {
        return None;
    }
    let path = target.split(['#', '?']).next().unwrap_or("");
    if path.is_empty() {
        return None;
    }
    if path.starts_with('/') {
        return Some(normalize(path));
    }
    let dir = &page_url[..page_url.rfind('/').map_or(0, |i| i + 1)];
    Some(normalize(&format!("{dir}{path}")))
}

fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) => s[..i].chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) && i > 0,
        None => false,
    }
}

/// Resolves `.` and `..` segments.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if (path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..")) && out != "/" {
        out.push('/');
    }
    out
}

/// Every Markdown link of the shop that points at nothing, at its line.
pub fn check_content_links(shop: &Shop, site: &SiteFiles, hidden: &[(String, &'static str)]) -> Diagnostics {
    check_links_of(shop, site, hidden, |_| true)
}

/// Like [`check_content_links`], for the items whose source file `only`
/// accepts (`serve` re-checks just the changed files when no address changed).
pub fn check_links_of(
    shop: &Shop,
    site: &SiteFiles,
    hidden: &[(String, &'static str)],
    only: impl Fn(&std::path::Path) -> bool,
) -> Diagnostics {
    let mut errors = Diagnostics::default();
    let mut check = |source: &std::path::Path, page_url: &str, links: &[SourceLink]| {
        if !only(source) {
            return;
        }
        for link in links {
            let Some(path) = internal_target(&link.target, page_url, &shop.config.base_url) else {
                continue;
            };
            if site.serves(&path) {
                continue;
            }
            let help = match hidden.iter().find(|(url, _)| *url == path) {
                Some((_, why)) => format!("{path} is {why}, so it is not published; publish it or remove the link"),
                None => "check the address: pages are /clips/<name>/, /news/<name>/, /<page>/ and /tags/<tag>/; files come from static/".into(),
            };
            errors.push(
                Diagnostic::new(source, format!("link to a page that does not exist: {}", link.target))
                    .at(link.location.clone())
                    .with_help(help),
            );
        }
    };
    for c in &shop.clips {
        check(&c.source, &c.url(), &c.links);
    }
    for p in &shop.posts {
        check(&p.source, &p.url(), &p.links);
    }
    for p in &shop.pages {
        check(&p.source, &p.url(), &p.links);
    }
    errors
}

/// Every `href`/`src` in rendered HTML that points at nothing.
pub fn check_rendered_links(files: &[OutputFile], site: &SiteFiles, base_url: &str) -> Diagnostics {
    use crate::render::OutputContents;
    let mut errors = Diagnostics::default();
    for f in files {
        let OutputContents::Rendered(bytes) = &f.contents else {
            continue;
        };
        if !f.path.ends_with(".html") {
            continue;
        }
        let html = String::from_utf8_lossy(bytes);
        let page_url = format!("/{}", f.path.trim_end_matches("index.html"));
        for target in attribute_values(&html) {
            let target = target.replace("&amp;", "&");
            let Some(path) = internal_target(&target, &page_url, base_url) else {
                continue;
            };
            if !site.serves(&path) {
                errors.push(
                    Diagnostic::new(
                        format!("public/{}", f.path),
                        format!("the page {page_url} links to {target}, which does not exist"),
                    )
                    .with_help("the link comes from a template (or a Markdown link already reported above)"),
                );
            }
        }
    }
    errors
}

/// Values of `href="..."` and `src="..."` attributes.
fn attribute_values(html: &str) -> impl Iterator<Item = &str> {
    ["href=\"", "src=\""].into_iter().flat_map(move |attr| {
        html.match_indices(attr).filter_map(move |(i, _)| {
            let start = i + attr.len();
            html[start..].find('"').map(|end| &html[start..start + end])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::OutputContents;

    #[test]
    fn targets() {
        let base = "https://shop.example";
        assert_eq!(internal_target("/clips/a/#x", "/", base).as_deref(), Some("/clips/a/"));
        assert_eq!(internal_target("../about/", "/news/post/", base).as_deref(), Some("/news/about/"));
        assert_eq!(internal_target("../../about/", "/news/post/", base).as_deref(), Some("/about/"));
        assert_eq!(internal_target("https://shop.example/faq/", "/", base).as_deref(), Some("/faq/"));
        assert_eq!(internal_target("https://shop.example", "/", base).as_deref(), Some("/"));
        for external in ["https://other.example/", "mailto:a@b", "#top", "//cdn.example/x", "tel:123"] {
            assert_eq!(internal_target(external, "/", base), None, "{external}");
        }
    }

    #[test]
    fn worker_pages_are_served() {
        let site = SiteFiles::from_paths(HashSet::new());
        assert!(site.serves("/orders/recover") && site.serves("/orders/recover/"));
        assert!(!site.serves("/orders/"));
    }

    #[test]
    fn served_paths() {
        let files: Vec<OutputFile> = ["index.html", "clips/a/index.html", "posters/a b.jpg"]
            .iter()
            .map(|p| OutputFile { path: p.to_string(), contents: OutputContents::Rendered(vec![]) })
            .collect();
        let site = SiteFiles::new(&files);
        assert!(site.serves("/"));
        assert!(site.serves("/clips/a/"));
        assert!(site.serves("/clips/a"));
        assert!(site.serves("/posters/a%20b.jpg"));
        assert!(!site.serves("/clips/b/"));
    }

    #[test]
    fn scans_attributes() {
        let v: Vec<_> = attribute_values("<a href=\"/a/\"><img src=\"/b.jpg\">").collect();
        assert_eq!(v, vec!["/a/", "/b.jpg"]);
    }
}
