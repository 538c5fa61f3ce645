//! Checking that internal links point at something the build produces.
//!
//! Links in Markdown are checked on every build and reported at their line;
//! `site-gen check` also scans the rendered HTML, which covers links that
//! templates write.

use std::collections::HashSet;

use crate::content::Shop;
use crate::diagnostics::{nearest, Diagnostic, Diagnostics};
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

    /// The address the owner most likely meant by `target`, a link that
    /// points at nothing whose site path is `path`: the same address in
    /// other letter case, with the `/` it lacks in front, without a
    /// `/static` in front, or else the nearest address of the same kind
    /// (file or page) when it is only a few letters off.
    pub fn likely_meant(&self, target: &str, path: &str) -> Option<String> {
        let decoded = |p: &str| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned();
        let path = decoded(path);
        let is_file = has_extension(&path);
        // Addresses of the same kind: `/clips/a/` for pages, `/css/site.css` for files.
        let mut addresses: Vec<String> = self
            .0
            .iter()
            .filter_map(|f| match f.strip_suffix("index.html") {
                Some(dir) if !is_file && (dir.is_empty() || dir.ends_with('/')) => Some(format!("/{dir}")),
                None if is_file => Some(format!("/{f}")),
                _ => None,
            })
            .collect();
        addresses.sort();
        let lower = path.to_lowercase();
        if let Some(same) = addresses.iter().find(|a| a.to_lowercase() == lower) {
            return Some(same.clone());
        }
        let target = decoded(target.split(['#', '?']).next().unwrap_or_default().trim());
        let fixes = [
            (!target.starts_with('/')).then(|| normalize(&format!("/{target}"))),
            path.strip_prefix("/static/").map(|rest| format!("/{rest}")),
            // A page's Markdown file (`/news/welcome.md`,
            // `content/pages/about.md`): the page is its folder.
            page_of_markdown(&path),
            page_of_markdown(&normalize(&format!("/{}", target.trim_start_matches('/')))),
        ];
        if let Some(fix) = fixes.into_iter().flatten().find(|fix| self.serves(fix)) {
            return Some(fix);
        }
        // A typo: a few letters off, as many as a typo of the last part of
        // the address makes (`/posters/harbour.jpg` is not `/posters/alpha.jpg`).
        let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        let most = 2.max(name.chars().count() / 3);
        // Only addresses whose length is close enough (a big shop has tens of thousands).
        let close: Vec<&str> =
            addresses.iter().map(String::as_str).filter(|a| a.len().abs_diff(path.len()) <= most).collect();
        nearest(&path, &close).filter(|a| strsim::damerau_levenshtein(&path, a) <= most).map(str::to_string)
    }
}

/// The page made from the Markdown file at `path` (`/content/pages/about.md`
/// or `/about.md` is `/about/`, `/news/welcome.md` is `/news/welcome/`).
fn page_of_markdown(path: &str) -> Option<String> {
    let page = path.strip_suffix(".md")?;
    let page = page.strip_prefix("/content").unwrap_or(page);
    let page = page.strip_prefix("/pages").unwrap_or(page);
    Some(format!("{page}/"))
}

/// The web address a link without its scheme most likely meant
/// (`www.example.com`, `example.com/page`, `http//example.com`), which the
/// shop would take for one of its own files.
fn web_address_meant(target: &str) -> Option<String> {
    const COMMON_ENDINGS: [&str; 16] =
        ["com", "org", "net", "io", "co", "de", "uk", "fr", "nl", "eu", "info", "dev", "app", "tv", "me", "us"];
    let target = target.trim();
    for broken in ["https//", "http//", "https:/", "http:/"] {
        if let Some(rest) = target.strip_prefix(broken) {
            return Some(format!("https://{}", rest.trim_start_matches('/')));
        }
    }
    let host = target.split(['/', '?', '#']).next().unwrap_or_default();
    let domain_like = host.contains('.')
        && !host.starts_with('.')
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let ending = host.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    (domain_like && (host.to_ascii_lowercase().starts_with("www.") || COMMON_ENDINGS.contains(&ending.as_str())))
        .then(|| format!("https://{target}"))
}

/// Whether the site path `path` names a file (`/posters/a.jpg`) rather
/// than a page (`/about/`, `/about`).
fn has_extension(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    last.rsplit_once('.').is_some_and(|(name, ext)| !name.is_empty() && !ext.is_empty())
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
    only: impl Fn(&std::path::Path) -> bool + Sync,
) -> Diagnostics {
    use rayon::prelude::*;
    let check = |source: &std::path::Path, page_url: &str, links: &[SourceLink]| {
        let mut errors = Vec::new();
        if !only(source) {
            return errors;
        }
        for link in links {
            let Some(path) = internal_target(&link.target, page_url, &shop.config.base_url) else {
                continue;
            };
            if site.serves(&path) {
                continue;
            }
            let hidden = hidden.iter().find(|(url, _)| *url == path);
            let meant = || site.likely_meant(&link.target, &path);
            let (message, help) = if let Some(web) = web_address_meant(&link.target) {
                (
                    format!("link to {}, which is no page or file of the shop", link.target),
                    format!("write {web}: an address without https:// is taken for one of the shop's own"),
                )
            } else if has_extension(&path) {
                // A picture or other file: it comes from static/.
                let file = percent_encoding::percent_decode_str(&path).decode_utf8_lossy().into_owned();
                // `static/posters/a.jpg`: the folder's name written into the
                // address, which starts below it.
                let below_static = link.target.trim_start_matches("./").trim_start_matches('/').strip_prefix("static/");
                let help = match (below_static, meant()) {
                    (Some(rest), _) => format!(
                        "write /{rest}: a file in static/ is addressed without static/ (static/{rest} is /{rest}){}",
                        if site.serves(&format!("/{rest}")) { "" } else { ", and that file does not exist yet either" }
                    ),
                    (None, Some(meant)) => format!("did you mean {meant}?"),
                    (None, None) => format!(
                        "put the file at static{file}, or correct the address: the address {file} is the file static{file}{}",
                        // Where `site-gen media` puts what it makes.
                        if file.starts_with("/posters/") || file.starts_with("/previews/") {
                            "; `site-gen media` makes a clip's poster and preview again from its master"
                        } else {
                            ""
                        }
                    ),
                };
                (format!("the file static{file} does not exist"), help)
            } else {
                let help = match hidden.map(|(_, why)| why).ok_or_else(meant) {
                    Ok(why) => format!("{path} is {why}, so it is not published; publish it or remove the link"),
                    Err(Some(meant)) => format!("did you mean {meant}?"),
                    Err(None) => "check the address: pages are /clips/<name>/, /news/<name>/, /<page>/ and /tags/<tag>/; files come from static/".into(),
                };
                (format!("link to a page that does not exist: {}", link.target), help)
            };
            errors.push(Diagnostic::new(source, message).at(link.location.clone()).with_help(help));
        }
        errors
    };
    // On all cores: a build waits for it before writing any page.
    let clips = shop.clips.par_iter().flat_map_iter(|c| check(&c.source, &c.url(), &c.links));
    let posts = shop.posts.par_iter().flat_map_iter(|p| check(&p.source, &p.url(), &p.links));
    let pages = shop.pages.par_iter().flat_map_iter(|p| check(&p.source, &p.url(), &p.links));
    Diagnostics(clips.chain(posts).chain(pages).collect())
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

    /// The small fixture shop, its about page's text replaced by `body`.
    fn shop_with_about_page(body: &str) -> (tempfile::TempDir, Shop) {
        let tmp = tempfile::tempdir().unwrap();
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
        for e in walkdir::WalkDir::new(&fixture) {
            let e = e.unwrap();
            let dest = tmp.path().join(e.path().strip_prefix(&fixture).unwrap());
            if e.file_type().is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
            } else {
                std::fs::copy(e.path(), &dest).unwrap();
            }
        }
        let about = format!("+++\ntitle = \"About\"\n+++\n{body}");
        std::fs::write(tmp.path().join("content/pages/about.md"), about).unwrap();
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        let shop = crate::content::load(tmp.path(), &crate::content::LoadOptions { drafts: false, now }).unwrap();
        (tmp, shop)
    }

    /// A missing picture is called a missing file of static/, not a page,
    /// and the address most likely meant is named.
    #[test]
    fn a_missing_file_is_named_with_the_address_likely_meant() {
        let lines = [
            "![a](/posters/harbour.jpg)",
            "![b](/posters/Alpha.JPG)",
            "![c](posters/alpha.jpg)",
            "![d](/static/posters/alpha.jpg)",
            "![e](/posters/alpah.jpg)",
            "[f](/abuot/)",
            "[g](/clips/nope/)",
            "![h](static/posters/beta.jpg)",
            "![i](static/posters/gamma.jpg)",
        ];
        let (_tmp, shop) = shop_with_about_page(&lines.join("\n\n"));
        let paths =
            ["index.html", "about/index.html", "clips/alpha/index.html", "posters/alpha.jpg", "posters/beta.jpg"];
        let site = SiteFiles::from_paths(paths.iter().map(|p| p.to_string()).collect());
        let about = |d: &&Diagnostic| d.file.ends_with("about.md");
        let errors: Vec<Diagnostic> = check_content_links(&shop, &site, &[]).iter().filter(about).cloned().collect();
        let got: Vec<(String, String)> =
            errors.iter().map(|d| (d.message.clone(), d.help.clone().unwrap_or_default())).collect();
        let want = [
            (
                "the file static/posters/harbour.jpg does not exist",
                "put the file at static/posters/harbour.jpg, or correct the address: \
                 the address /posters/harbour.jpg is the file static/posters/harbour.jpg; \
                 `site-gen media` makes a clip's poster and preview again from its master",
            ),
            ("the file static/posters/Alpha.JPG does not exist", "did you mean /posters/alpha.jpg?"),
            // Relative to the page /about/.
            ("the file static/about/posters/alpha.jpg does not exist", "did you mean /posters/alpha.jpg?"),
            (
                "the file static/static/posters/alpha.jpg does not exist",
                "write /posters/alpha.jpg: a file in static/ is addressed without static/ \
                 (static/posters/alpha.jpg is /posters/alpha.jpg)",
            ),
            ("the file static/posters/alpah.jpg does not exist", "did you mean /posters/alpha.jpg?"),
            // Pages keep their wording.
            ("link to a page that does not exist: /abuot/", "did you mean /about/?"),
            (
                "link to a page that does not exist: /clips/nope/",
                "check the address: pages are /clips/<name>/, /news/<name>/, /<page>/ and /tags/<tag>/; files come from static/",
            ),
            // Relative to the page: what the owner review found unexplained.
            (
                "the file static/about/static/posters/beta.jpg does not exist",
                "write /posters/beta.jpg: a file in static/ is addressed without static/ \
                 (static/posters/beta.jpg is /posters/beta.jpg)",
            ),
            (
                "the file static/about/static/posters/gamma.jpg does not exist",
                "write /posters/gamma.jpg: a file in static/ is addressed without static/ \
                 (static/posters/gamma.jpg is /posters/gamma.jpg), and that file does not exist yet either",
            ),
        ];
        let want: Vec<(String, String)> = want.iter().map(|(m, h)| (m.to_string(), h.to_string())).collect();
        assert_eq!(got, want);
        // Each at its line of content/pages/about.md.
        let lines: Vec<usize> = errors.iter().map(|d| d.location.as_ref().unwrap().line).collect();
        assert_eq!(lines, [4, 6, 8, 10, 12, 14, 16, 18, 20]);
        // A draft's address still says it is a draft.
        let hidden = [("/clips/nope/".to_string(), "a draft")];
        let errors = check_content_links(&shop, &site, &hidden);
        assert!(errors.iter().filter(about).any(|d| d.help.as_deref()
            == Some("/clips/nope/ is a draft, so it is not published; publish it or remove the link")));
    }

    /// A web address written without `https://` is taken for the shop's
    /// own file or page: the message says to write the scheme (the owner
    /// review: `[k](www.google.com)` was told to put a file at
    /// static/about/www.google.com). A page's Markdown file names its page.
    #[test]
    fn a_web_address_without_its_scheme_is_named_as_one() {
        let lines = [
            "[a](www.google.com)",
            "[b](http//example.com/x)",
            "[c](example.org/page)",
            "[e](/about.md)",
            "[f](content/pages/about.md)",
            "![g](photo.jpg)",
        ];
        let (_tmp, shop) = shop_with_about_page(&lines.join("\n\n"));
        let site = SiteFiles::from_paths(["index.html", "about/index.html"].iter().map(|p| p.to_string()).collect());
        let about = |d: &&Diagnostic| d.file.ends_with("about.md");
        let got: Vec<(String, String)> = check_content_links(&shop, &site, &[])
            .iter()
            .filter(about)
            .map(|d| (d.message.clone(), d.help.clone().unwrap_or_default()))
            .collect();
        let web = |target: &str, meant: &str| {
            (
                format!("link to {target}, which is no page or file of the shop"),
                format!("write {meant}: an address without https:// is taken for one of the shop's own"),
            )
        };
        let want = vec![
            web("www.google.com", "https://www.google.com"),
            web("http//example.com/x", "https://example.com/x"),
            web("example.org/page", "https://example.org/page"),
            ("the file static/about.md does not exist".to_string(), "did you mean /about/?".to_string()),
            ("the file static/about/content/pages/about.md does not exist".to_string(), "did you mean /about/?".to_string()),
            (
                "the file static/about/photo.jpg does not exist".to_string(),
                "put the file at static/about/photo.jpg, or correct the address: the address /about/photo.jpg is the file static/about/photo.jpg".to_string(),
            ),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn files_have_an_extension_and_pages_do_not() {
        for file in ["/a.jpg", "/posters/a b.JPEG", "/v1.2/x.css"] {
            assert!(has_extension(file), "{file}");
        }
        for page in ["/", "/about/", "/about", "/v1.2/", "/.well-known/", "/x/.hidden"] {
            assert!(!has_extension(page), "{page}");
        }
    }

    #[test]
    fn scans_attributes() {
        let v: Vec<_> = attribute_values("<a href=\"/a/\"><img src=\"/b.jpg\">").collect();
        assert_eq!(v, vec!["/a/", "/b.jpg"]);
    }
}
