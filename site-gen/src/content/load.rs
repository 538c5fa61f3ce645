//! Reading `content/` into a [`Shop`], collecting every error on the way.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rayon::prelude::*;

use super::checks::{
    blocked_html, doubtful_payment_links, empty_bodies, indented_paragraphs, mismatched_file_endings,
    missing_licence_pages, posts_without_summary, shared_files, shared_payment_links, smaller_files_costing_more,
    under_stripe_minimum, unmade_images, unpayable_prices,
};
use super::fields::{Duration, Price, Resolution};
use super::{Clip, ClipVariant, Page, Post, Shop, Tag};
use crate::config::{SiteConfig, SITE_CONFIG};
use crate::diagnostics::{display_path, Diagnostic, Diagnostics, Location};
use crate::front_matter::{FrontMatter, SourceFile};
use crate::markdown;
use crate::markdown_cache::MarkdownCache;

pub const CLIPS_DIR: &str = "content/clips";
pub const NEWS_DIR: &str = "content/news";
pub const PAGES_DIR: &str = "content/pages";
pub const STATIC_DIR: &str = "static";

const CLIP_KEYS: &[&str] = &[
    "title",
    "date",
    "price",
    "duration",
    "resolution",
    "file",
    "file_name",
    "size",
    "sha256",
    "poster",
    "preview",
    "tags",
    "draft",
    "slug",
    "stripe_payment_link",
    "frame_rate",
    "codec",
    "variant",
    "variants",
];
/// Keys of one `[[variants]]` section of a clip.
const VARIANT_KEYS: &[&str] = &["id", "label", "resolution", "price", "file", "file_name", "size", "sha256"];
const POST_KEYS: &[&str] = &["title", "date", "updated", "draft", "tags", "summary", "slug"];
const PAGE_KEYS: &[&str] = &["title", "description", "weight", "slug"];

/// Top-level addresses that belong to generated sections, so no page may take them.
pub(crate) const RESERVED_PAGE_SLUGS: &[&str] = &[
    "clips", "news", "tags", "download", "health", "admin", "page", "payments", "thanks", "cart", "checkout", "search",
    "pagefind",
];

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Include drafts and items dated in the future.
    pub drafts: bool,
    pub now: DateTime<Utc>,
}

/// Loads and validates the shop at `root`. On error, returns every problem found.
pub fn load(root: &Path, options: &LoadOptions) -> Result<Shop, Diagnostics> {
    load_tracked(root, options).map(|(shop, _)| shop)
}

/// Like [`load`], and also the source file of each entry of `shop.hidden`
/// (same order), so `serve` can update that list when one file changes.
pub fn load_tracked(root: &Path, options: &LoadOptions) -> Result<(Shop, Vec<PathBuf>), Diagnostics> {
    let mut errors = Diagnostics::default();

    let config = match read_source(root, &root.join(SITE_CONFIG)) {
        Ok(file) => SiteConfig::parse(&file).map_err(|e| errors.extend(e)).ok(),
        Err(e) => {
            errors.push(e.with_help(format!(
                "every shop needs content/site.toml with its title, address and currency; {} lists its fields",
                crate::guides::guide("content.md")
            )));
            None
        }
    };

    // Bodies rendered by the last load are taken from it (markdown_cache.rs).
    let md = MarkdownCache::open(root);
    let clips = load_kind(root, CLIPS_DIR, &mut errors, |f, s| parse_clip(f, s, &md));
    let posts = load_kind(root, NEWS_DIR, &mut errors, |f, s| parse_post(f, s, &md));
    let pages = load_kind(root, PAGES_DIR, &mut errors, |f, s| parse_page(f, s, &md));

    errors.extend(unread_files(root));
    check_unique(root, &clips, |c| (&c.slug, &c.source), "clip", &mut errors);
    check_unique(root, &posts, |p| (&p.slug, &p.source), "news post", &mut errors);
    check_unique(root, &pages, |p| (&p.slug, &p.source), "page", &mut errors);
    errors.extend(pages.iter().filter_map(|page| reserved_page_slug(root, page)));
    errors.extend(shared_files(&clips));

    let (StaticFiles { files: static_files, oversized, private }, ()) =
        rayon::join(|| list_static(root, &mut errors), || md.save());

    // Prices are checked beside the other mistakes, so that one run lists
    // them all; a licence's page only once every page was read (one that
    // failed to load is not missing).
    let Some(config) = config else {
        errors.sort();
        return Err(errors);
    };
    errors.extend(unpayable_prices(root, &clips, &config).0);
    if errors.is_empty() {
        errors.extend(missing_licence_pages(&config, &pages, &static_files));
    }
    if !errors.is_empty() {
        errors.sort();
        return Err(errors);
    }

    let visible = |draft: bool, date: &DateTime<Utc>| is_visible(options, draft, *date);
    let why = hidden_reason;
    let mut hidden: Vec<(String, &'static str)> = Vec::new();
    let mut hidden_sources: Vec<PathBuf> = Vec::new();
    let mut hidden_media: Vec<String> = Vec::new();
    let mut left_out = Vec::new();
    for c in clips.iter().filter(|c| !visible(c.draft, &c.date)) {
        hidden.push((c.url(), why(c.draft)));
        hidden_media.extend(c.media().map(str::to_string));
        hidden_sources.push(c.source.clone());
        left_out.push((c.source.clone(), (!c.draft).then_some(c.date)));
    }
    for p in posts.iter().filter(|p| !visible(p.draft, &p.date)) {
        hidden.push((p.url(), why(p.draft)));
        hidden_sources.push(p.source.clone());
        left_out.push((p.source.clone(), (!p.draft).then_some(p.date)));
    }
    let dated_later = |draft: bool, date: DateTime<Utc>| (!draft && !visible(draft, &date)).then_some(date);
    let next_publish = clips
        .iter()
        .map(|c| dated_later(c.draft, c.date))
        .chain(posts.iter().map(|p| dated_later(p.draft, p.date)))
        .flatten()
        .min();
    let mut clips: Vec<Clip> = clips.into_iter().filter(|c| visible(c.draft, &c.date)).collect();
    let mut posts: Vec<Post> = posts.into_iter().filter(|p| visible(p.draft, &p.date)).collect();
    let mut pages = pages;
    clips.sort_by(clip_order);
    posts.sort_by(post_order);
    pages.sort_by(page_order);
    let mut warnings = content_warnings(root, &config, &clips, &posts, &pages);
    let static_warnings = oversized.len() + private.len();
    warnings.extend(oversized.iter().map(|(file, bytes)| super::checks::too_big_to_deploy(file, *bytes)));
    warnings.extend(private.iter().map(|file| super::checks::private_static_left_out(file)));

    let shop = Shop {
        root: root.to_path_buf(),
        config,
        clips,
        posts,
        pages,
        static_files,
        hidden,
        hidden_media,
        now: options.now,
        next_publish,
        left_out,
        warnings,
        static_warnings,
    };
    Ok((shop, hidden_sources))
}

/// What the owner must hear of in the published items though the shop
/// builds (a load's `Shop::warnings`, less the static files too big to
/// deploy): [`item_warnings`], then the Payment Links two clips share.
pub fn content_warnings(
    root: &Path,
    config: &SiteConfig,
    clips: &[Clip],
    posts: &[Post],
    pages: &[Page],
) -> Vec<Diagnostic> {
    let mut warnings = item_warnings(root, config, clips, posts, pages);
    warnings.extend(shared_payment_links(root, clips));
    warnings
}

/// The warnings each item earns on its own, each naming its file: `serve`
/// keeps them per file and asks again of the files an edit changed only
/// (on 15,000 items, asking all of them took 40 ms of every rebuild).
pub fn item_warnings(
    root: &Path,
    config: &SiteConfig,
    clips: &[Clip],
    posts: &[Post],
    pages: &[Page],
) -> Vec<Diagnostic> {
    let mut warnings = under_stripe_minimum(root, clips, config);
    warnings.extend(doubtful_payment_links(root, clips));
    warnings.extend(smaller_files_costing_more(root, clips, &config.currency));
    warnings.extend(empty_bodies(root, posts, pages));
    warnings.extend(unmade_images(root, clips, posts, pages));
    warnings.extend(blocked_html(root, clips, posts, pages));
    warnings.extend(indented_paragraphs(root, clips, posts, pages));
    warnings.extend(posts_without_summary(root, posts));
    warnings.extend(mismatched_file_endings(root, clips));
    warnings.extend(crate::media_variants::stale_shares(root, &config.media_variants, &config.currency, clips));
    warnings
}

/// Whether an item is published in a build with `options`.
pub fn is_visible(options: &LoadOptions, draft: bool, date: DateTime<Utc>) -> bool {
    options.drafts || (!draft && date <= options.now)
}

/// Why an unpublished item is left out (for link errors).
pub fn hidden_reason(draft: bool) -> &'static str {
    if draft {
        "a draft"
    } else {
        "dated in the future"
    }
}

/// The catalog's order: newest first, then by slug.
pub fn clip_order(a: &Clip, b: &Clip) -> std::cmp::Ordering {
    b.date.cmp(&a.date).then_with(|| a.slug.cmp(&b.slug))
}

/// The news order: newest first, then by slug.
pub fn post_order(a: &Post, b: &Post) -> std::cmp::Ordering {
    b.date.cmp(&a.date).then_with(|| a.slug.cmp(&b.slug))
}

/// The menu order: by weight, then by title.
pub fn page_order(a: &Page, b: &Page) -> std::cmp::Ordering {
    a.weight.cmp(&b.weight).then_with(|| a.title.cmp(&b.title))
}

/// The kinds of content file, by folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Clip,
    Post,
    Page,
}

/// One content file, parsed on its own (short-lived: each goes straight
/// into the `Shop`, so the variants' sizes do not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ContentItem {
    Clip(Clip),
    Post(Post),
    Page(Page),
}

/// What kind of content file `rel` (relative to the shop's root) is, if
/// [`load`] reads it: a visible `.md` file directly in a content folder.
pub fn content_kind(rel: &Path) -> Option<ContentKind> {
    if rel.extension().is_none_or(|ext| ext != "md") || is_hidden(rel) {
        return None;
    }
    let dir = rel.parent()?;
    [(CLIPS_DIR, ContentKind::Clip), (NEWS_DIR, ContentKind::Post), (PAGES_DIR, ContentKind::Page)]
        .into_iter()
        .find(|(d, _)| dir == Path::new(d))
        .map(|(_, kind)| kind)
}

/// Reads and parses one content file (`path` absolute or relative to the
/// current folder) exactly as [`load`] does; checks that span several files
/// (unique slugs, reserved page names) are the caller's.
pub fn load_file(root: &Path, path: &Path, kind: ContentKind) -> Result<ContentItem, Vec<Diagnostic>> {
    let file = read_source(root, path).map_err(|d| vec![d])?;
    parse_source(&file, kind)
}

/// Parses one content file already read (front matter, fields, Markdown);
/// what `load_file` does after reading, and what the fuzz target drives.
pub fn parse_source(file: &SourceFile, kind: ContentKind) -> Result<ContentItem, Vec<Diagnostic>> {
    let slug = slug_from_path(file)?;
    match kind {
        ContentKind::Clip => parse_clip(file, slug, &MarkdownCache::off()).map(ContentItem::Clip),
        ContentKind::Post => parse_post(file, slug, &MarkdownCache::off()).map(ContentItem::Post),
        ContentKind::Page => parse_page(file, slug, &MarkdownCache::off()).map(ContentItem::Page),
    }
}

/// The error for a second item at an address already taken (`source` and
/// `first` relative to `root`). Two files of one folder cannot share a
/// name, so one of them has a `slug = ` line that takes the other's
/// address: the error is at that line.
pub fn duplicate_slug(root: &Path, kind: &str, slug: &str, source: &Path, first: &Path) -> Diagnostic {
    let (file, other, at) = match (slug_line(root, source), slug_line(root, first)) {
        (Some(at), _) => (source, first, Some(at)),
        (None, Some(at)) => (first, source, Some(at)),
        (None, None) => (source, first, None),
    };
    let d = Diagnostic::new(file, format!("duplicate {kind} slug `{slug}`: {} has the same address", other.display()));
    match at {
        Some(at) => {
            d.at(at).with_help("change this `slug`, or take the line out (the address is then the file's name)")
        }
        None => d.with_help("give one of the files another name"),
    }
}

/// Where the front matter of `file` (relative to `root`) sets `slug = `.
fn slug_line(root: &Path, file: &Path) -> Option<Location> {
    let text = fs::read_to_string(root.join(file)).ok()?;
    let fence = text.lines().skip(1).position(|l| l.trim() == "+++" || l.trim() == "---").map_or(usize::MAX, |i| i + 1);
    let at = text
        .lines()
        .take(fence)
        .position(|l| l.trim_start().strip_prefix("slug").is_some_and(|rest| rest.trim_start().starts_with('=')))?;
    Some(Location::from_line(&text, at + 1))
}

/// The error for a page named like one of the shop's own sections, if it
/// is: at its `slug = ` line when that is what names it (renaming the
/// file, as the error said then, changed nothing).
pub fn reserved_page_slug(root: &Path, page: &Page) -> Option<Diagnostic> {
    RESERVED_PAGE_SLUGS.contains(&page.slug.as_str()).then(|| {
        let d = Diagnostic::new(
            &page.source,
            format!("a page cannot be called `{}`: /{}/ is used by the shop itself", page.slug, page.slug),
        );
        match slug_line(root, &page.source) {
            Some(at) => d.at(at).with_help("change this `slug`, for example to `about-the-shop`"),
            None => d.with_help("rename the file, for example to `about-the-shop.md`"),
        }
    })
}

/// Every `.md` file of one content folder, parsed in parallel.
fn load_kind<T: Send>(
    root: &Path,
    dir: &str,
    errors: &mut Diagnostics,
    parse: impl Fn(&SourceFile, String) -> Result<T, Vec<Diagnostic>> + Sync,
) -> Vec<T> {
    let dir_path = root.join(dir);
    let entries = match fs::read_dir(&dir_path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(Diagnostic::new(dir, format!("cannot read the folder: {e}")));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "md") && !is_hidden(p))
        .collect();
    paths.sort();
    let results: Vec<Result<T, Vec<Diagnostic>>> = paths
        .par_iter()
        .map(|path| {
            let file = read_source(root, path).map_err(|d| vec![d])?;
            let slug = slug_from_path(&file)?;
            parse(&file, slug)
        })
        .collect();
    let mut items = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(item) => items.push(item),
            Err(e) => errors.extend(e),
        }
    }
    items
}

/// Files and folders under `content/` that no build reads: a clip saved as
/// `harbour.md.txt` (Notepad's default) or `harbour.MD`, a post in a
/// folder of its own, a folder called `Clips`. Each would leave its item
/// out of the site without a word, and a clip out of the catalog, whose
/// customers' links then answer "Not found".
pub fn unread_files(root: &Path) -> Vec<Diagnostic> {
    // Each entry with the kind its folder listing gives, at no cost: a
    // regular file needs no `stat` of its own (15,000 of them in a big shop).
    let listed = |dir: &Path| -> Vec<(PathBuf, Option<fs::FileType>)> {
        let mut paths: Vec<(PathBuf, Option<fs::FileType>)> = fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| (e.path(), e.file_type().ok()))).collect())
            .unwrap_or_default();
        paths.retain(|(p, _)| !is_hidden(p));
        paths.sort_by(|(a, _), (b, _)| a.cmp(b));
        paths
    };
    let entries = |dir: &Path| -> Vec<PathBuf> { listed(dir).into_iter().map(|(p, _)| p).collect() };
    // What `Path::is_file` answers (following a symbolic link), asking the
    // file system only when the listing does not tell.
    let is_file = |path: &Path, kind: Option<fs::FileType>| match kind {
        Some(kind) if kind.is_file() => true,
        Some(kind) if kind.is_dir() => false,
        _ => path.is_file(),
    };
    let folders = [CLIPS_DIR, NEWS_DIR, PAGES_DIR];
    let mut errors = Vec::new();
    for path in entries(&root.join("content")) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // Where file names ignore case (macOS, Windows) `content/Clips` is
        // the folder a build reads as `content/clips`.
        let known = folders
            .iter()
            .any(|f| root.join(f) == path || same_file::is_same_file(root.join(f), &path).unwrap_or(false))
            || name == "site.toml";
        if known {
            continue;
        }
        let like = folders.iter().map(|f| &f["content/".len()..]).find(|f| f.eq_ignore_ascii_case(name));
        let help = match like {
            Some(folder) => format!("rename the folder to `{folder}` (in lower case)"),
            None if name.eq_ignore_ascii_case("site.toml") => "rename it to `site.toml` (in lower case)".to_string(),
            // `site.toml.txt`: an editor's ending, often hidden.
            None if name.to_ascii_lowercase().starts_with("site.toml") => {
                "rename it to `site.toml` (an editor may hide the real ending: show file extensions)".to_string()
            }
            None => {
                "clips go in content/clips/, news posts in content/news/, pages in content/pages/, the settings in \
                     content/site.toml; images and other files under static/"
                    .to_string()
            }
        };
        errors.push(
            Diagnostic::new(display_path(root, &path), "site-gen does not read this: nothing in it is on the site")
                .with_help(help),
        );
    }
    for folder in folders {
        for (path, kind) in listed(&root.join(folder)) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.extension().is_some_and(|e| e == "md") && is_file(&path, kind) {
                continue;
            }
            let help = if path.is_dir() {
                format!("site-gen reads only the files directly in {folder}/: move the files up into it")
            } else if let Some(stem) = [".md.txt", ".markdown", ".mdown", ".txt", ".md"].iter().find_map(|ext| {
                name.len()
                    .checked_sub(ext.len())
                    .filter(|&at| name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(ext))
                    .map(|at| &name[..at])
            }) {
                // The name the web address allows too, so that one rename does.
                let stem = if is_valid_slug(stem) { stem.to_string() } else { slug::slugify(stem) };
                if path.with_file_name(format!("{stem}.md")).exists() {
                    // A rename would replace that file: which one is meant?
                    format!(
                        "{folder}/{stem}.md is there too: keep the one you mean as `{stem}.md` and delete or move \
                         the other (an editor may hide the real ending: show file extensions)"
                    )
                } else {
                    format!("rename it to `{stem}.md` (an editor may hide the real ending: show file extensions)")
                }
            } else {
                "only `.md` files are read here: images and other files go under static/".to_string()
            };
            errors.push(
                Diagnostic::new(display_path(root, &path), "site-gen does not read this: nothing in it is on the site")
                    .with_help(help),
            );
        }
    }
    errors
}

/// Hidden files, and what an operating system, an editor or a merge leaves
/// beside files: backups (`x.md~`), Windows' thumbnails, Emacs' autosaves
/// (`#x.md#`), Office's locks (`~$x.md`), macOS's folder icons, a merge's
/// `.orig` and `.rej`. No build reads them, and none is an error.
pub(crate) fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.starts_with('.')
            || n.ends_with('~')
            || matches!(n, "Thumbs.db" | "desktop.ini" | "Icon\r")
            || n.starts_with('#')
            || n.starts_with("~$")
            || [".orig", ".rej", ".bak", ".swp", ".tmp"].iter().any(|end| n.ends_with(end))
    })
}

/// Reads a file as UTF-8, naming the first bad byte's line when it is not.
pub fn read_source(root: &Path, path: &Path) -> Result<SourceFile, Diagnostic> {
    let display = display_path(root, path);
    let bytes = fs::read(path).map_err(|e| Diagnostic::new(&display, format!("cannot read the file: {e}")))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile { display, text }),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let good_prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            Err(Diagnostic::new(&display, format!("the file is not UTF-8 text (bad byte at offset {valid})"))
                .at(Location::from_offset(&text, good_prefix.len()))
                .with_help("save the file as UTF-8 in your editor (\"Save with encoding\" → UTF-8)"))
        }
    }
}

/// The slug is the file name without `.md`; it must already be URL-safe.
fn slug_from_path(file: &SourceFile) -> Result<String, Vec<Diagnostic>> {
    let stem = file.display.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    if is_valid_slug(&stem) {
        return Ok(stem);
    }
    let suggestion = slug::slugify(&stem);
    Err(vec![Diagnostic::new(&file.display, format!("the file name `{stem}.md` cannot be used in a web address"))
        .with_help(format!("rename it to `{suggestion}.md` (lower-case letters, digits and dashes only)"))])
}

/// Lower-case ASCII letters and digits in dash-separated words, at most 64 bytes.
pub fn is_valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The `slug` front matter field, which overrides the file name's slug.
fn slug_field(fm: &mut FrontMatter, from_file_name: String) -> String {
    match fm.string("slug", None) {
        Some(s) if is_valid_slug(&s) => s,
        Some(s) => {
            let d = fm.error_at_key("slug", format!("`slug` \"{s}\" cannot be used in a web address")).with_help(
                format!("use lower-case letters, digits and dashes, like `slug = \"{}\"`", slug::slugify(&s)),
            );
            fm.push_error(d);
            from_file_name
        }
        None => from_file_name,
    }
}

fn tags(fm: &mut FrontMatter, errors: &mut Vec<Diagnostic>) -> Vec<Tag> {
    let mut tags: Vec<Tag> = Vec::new();
    for name in fm.string_list("tags") {
        let slug = slug::slugify(&name);
        if slug.is_empty() {
            errors.push(fm.error_at_key("tags", format!("the tag \"{name}\" has no letters or digits")));
        } else if !tags.iter().any(|t| t.slug == slug) {
            tags.push(Tag { slug, name: name.trim().to_string() });
        }
    }
    tags
}

fn parse_clip(file: &SourceFile, slug: String, md: &MarkdownCache) -> Result<Clip, Vec<Diagnostic>> {
    let mut fm = FrontMatter::parse(file, CLIP_KEYS)?;
    let slug = slug_field(&mut fm, slug);
    let mut errors = Vec::new();
    // A draft is not sold: what `site-gen media` fills in from the master
    // (running time, size) may still be the zeros `site-gen new` wrote.
    let draft = fm.bool("draft");
    let title = fm.string("title", Some("title = \"Harbor at Dawn\""));
    let date = fm.date("date", Some("date = 2026-03-14"));
    let price = fm
        .value("price", Some("price = 24.00"))
        .and_then(|v| Price::parse(&v).map_err(|e| errors.push(fm.error_at_key("price", format!("`price` {e}")))).ok());
    let duration = fm.value("duration", Some("duration = \"0:12\"")).and_then(|v| match Duration::parse(&v) {
        Ok(d) => Some(d),
        Err(_) if draft && Duration::is_zero(&v) => Some(Duration { seconds: 0 }),
        // Unquoted, the help is the quotes, not `site-gen media`.
        Err(e) if e.contains("without quotes") => {
            errors.push(fm.error_at_key("duration", format!("`duration` {e}")));
            None
        }
        Err(e) => {
            errors.push(fm.error_at_key("duration", format!("`duration` {e}")).with_help(FILLED_BY_MEDIA));
            None
        }
    });
    let resolution = fm.string("resolution", Some("resolution = \"1920x1080\"")).and_then(|s| {
        Resolution::parse(&s).map_err(|e| errors.push(fm.error_at_key("resolution", format!("`resolution` {e}")))).ok()
    });
    let object_key = object_key_field(&mut fm, &mut errors);
    let file_name = file_name_field(&mut fm, &mut errors, object_key.as_deref());
    let size = size_field(&mut fm, &mut errors, draft, FILLED_BY_MEDIA);
    let sha256 = sha256_field(&mut fm, &mut errors);
    let variant_id = fm.string("variant", None);
    let variants = variants(&mut fm, &mut errors);
    // The clip's own poster, as `site-gen media` makes and names it (the
    // help named the sample shop's: the authoring review).
    let poster = fm.string("poster", Some(&format!("poster = \"/posters/{slug}.jpg\"")));
    if poster.is_none() {
        if let Some(missing) = fm.errors.iter_mut().find(|d| d.message == "missing required field `poster`") {
            let help = missing.help.take().unwrap_or_default();
            missing.help = Some(format!(
                "{help}, or run `site-gen media`: it makes the poster from the clip's master and writes the line"
            ));
        }
    }
    let preview = fm.string("preview", None);
    // Filled by `site-gen media` from the master (ffprobe); shown as written.
    let frame_rate = fm.string("frame_rate", None);
    let codec = fm.string("codec", None);
    let stripe_payment_link = fm.string("stripe_payment_link", None).and_then(|url| {
        let url = url.trim().to_string();
        let rest = url.strip_prefix("https://").unwrap_or_default();
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.eq_ignore_ascii_case("dashboard.stripe.com") {
            errors.push(
                fm.error_at_key(
                    "stripe_payment_link",
                    "`stripe_payment_link` is the Stripe Dashboard's page of the link, which only you can open",
                )
                .with_help(
                    "copy the address the Payment Link shows customers instead (Payment links → the link → Copy), \
                     like \"https://buy.stripe.com/abc123\"",
                ),
            );
            None
        } else if rest.is_empty() || rest.contains(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>') {
            errors.push(
                fm.error_at_key("stripe_payment_link", "`stripe_payment_link` must be an https:// address").with_help(
                    "copy the Payment Link's address from Stripe, like \"https://buy.stripe.com/test_abc123\"",
                ),
            );
            None
        } else {
            Some(url)
        }
    });
    let tags = tags(&mut fm, &mut errors);
    let rendered = md.render(&file.text, fm.body_start);
    let mut links = rendered.links;
    for (key, target) in [("poster", &poster), ("preview", &preview)] {
        if let Some(t) = target {
            links
                .push(markdown::SourceLink { target: t.clone(), location: fm.error_at_key(key, "").location.unwrap() });
        }
    }
    errors.append(&mut fm.errors);
    // A clip with mistakes is left out of the checks that follow (prices,
    // links): its price of 0 is said now, so that one run lists them all
    // (it came up only once the others were mended).
    if !errors.is_empty() && !draft && price.is_some_and(|p| p.cents == 0) {
        let zero = fm.error_at_key("price", "`price` is 0: a clip on sale needs a price");
        errors.push(zero.with_help(super::checks::ZERO_PRICE_HELP));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let file_name = file_name.unwrap();
    let content_type = content_type(&file_name);
    let resolution = resolution.unwrap();
    // The main file's variant id, when the clip has others: `variant`, or
    // the familiar name of its resolution (`4k`, `1080p`).
    let variant = (!variants.is_empty()).then(|| variant_id.unwrap_or_else(|| slug::slugify(resolution.label())));
    if let Some(main) = &variant {
        if !clipstore_core::token::is_valid_choice_id(main) {
            let error =
                fm.error_at_key("variant", format!("`variant` must be 1-32 of a-z, 0-9 and -, found \"{main}\""));
            errors.push(match super::fields::id_help("variant", main) {
                Some(help) => error.with_help(help),
                None => error,
            });
        } else if let Some(clash) = variants.iter().find(|v| v.id == *main) {
            errors.push(
                Diagnostic::new(&file.display, format!("the variant id \"{}\" is also the main file's", clash.id))
                    .at(clash.location.clone())
                    .with_help(
                        "give the clip's own file another id with `variant = \"...\"`, or this section another `id`",
                    ),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let file_location = fm.error_at_key("file", "").location.expect("error_at_key locates");
    Ok(Clip {
        slug,
        file_location,
        source: file.display.clone(),
        title: title.unwrap(),
        date: date.unwrap(),
        price: price.unwrap(),
        duration: duration.unwrap(),
        resolution,
        file: object_key.unwrap(),
        file_name,
        size: size.unwrap(),
        sha256,
        content_type,
        poster: poster.unwrap(),
        preview,
        frame_rate,
        codec,
        stripe_payment_link,
        variant,
        variants,
        tags,
        draft,
        description_html: rendered.html,
        links,
    })
}

fn content_type(file_name: &str) -> String {
    mime_guess::from_path(file_name).first_or_octet_stream().essence_str().to_string()
}

fn object_key_field(fm: &mut FrontMatter, errors: &mut Vec<Diagnostic>) -> Option<String> {
    fm.string("file", Some("file = \"clips/harbor-at-dawn.mp4\"")).and_then(|key| match check_object_key(&key) {
        Ok(()) => Some(key),
        Err(why) => {
            errors.push(
                fm.error_at_key("file", format!("`file` {why}"))
                    .with_help("`file` is the clip's name in the storage bucket, like \"clips/harbor-at-dawn.mp4\""),
            );
            None
        }
    })
}

/// `file_name`; `file`, the object's key, suggests its ending when it lacks one.
fn file_name_field(fm: &mut FrontMatter, errors: &mut Vec<Diagnostic>, file: Option<&str>) -> Option<String> {
    fm.string("file_name", Some("file_name = \"Harbor at Dawn (4K).mp4\"")).and_then(|name| {
        if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
            errors.push(
                fm.error_at_key("file_name", "`file_name` must be a plain file name without folders (no / or \\)"),
            );
            None
        } else if !Path::new(&name).extension().and_then(|e| e.to_str()).is_some_and(|e| {
            (1..=8).contains(&e.len())
                && e.bytes().all(|b| b.is_ascii_alphanumeric())
                && e.bytes().any(|b| b.is_ascii_alphabetic())
        }) {
            // Saved without an ending, the customer's computer does not
            // know to play it. Any ending is one: `.braw`, `.r3d`, `.exr`.
            let ending = file.and_then(|f| Path::new(f).extension()).and_then(|e| e.to_str()).unwrap_or("mp4");
            errors.push(
                fm.error_at_key("file_name", format!("`file_name` \"{name}\" has no file type ending")).with_help(
                    format!(
                        "end it as the file does, like \"{}.{ending}\", so the customer's computer can open it",
                        name.trim_end_matches('.')
                    ),
                ),
            );
            None
        } else {
            Some(name)
        }
    })
}

/// What to do about a running time or size not yet filled in.
const FILLED_BY_MEDIA: &str = "put the clip's master at media/<its file> (or --masters DIR/<its file>) and run \
     `site-gen media`, which fills in size, sha256, duration, resolution, frame rate and codec";

/// What to do about a `[[variants]]` section's size not yet filled in:
/// `media` fills its size and sha256 from its file (not the rest).
const VARIANT_FILLED_BY_MEDIA: &str = "put the file at media/<its file> (or --masters DIR/<its file>) and run \
     `site-gen media`, which fills in the section's size and sha256";

/// `size`, in bytes; 0 only in a draft (not yet filled in). `help`: how it
/// is filled in.
fn size_field(fm: &mut FrontMatter, errors: &mut Vec<Diagnostic>, draft: bool, help: &str) -> Option<u64> {
    let size = fm.u64("size", Some("size = 48213571"));
    if size == Some(0) && !draft {
        errors.push(fm.error_at_key("size", "`size` must be the clip's size in bytes, not 0").with_help(help));
    }
    size
}

fn sha256_field(fm: &mut FrontMatter, errors: &mut Vec<Diagnostic>) -> Option<String> {
    fm.string("sha256", None).and_then(|h| {
        let h = h.trim().to_ascii_lowercase();
        if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(h)
        } else {
            errors.push(
                fm.error_at_key("sha256", "`sha256` must be 64 hexadecimal characters (the output of `sha256sum`)"),
            );
            None
        }
    })
}

/// The clip's other files, one `[[variants]]` section each.
fn variants(fm: &mut FrontMatter, errors: &mut Vec<Diagnostic>) -> Vec<ClipVariant> {
    let mut out: Vec<ClipVariant> = Vec::new();
    for mut v in fm.tables("variants", VARIANT_KEYS) {
        let mut errs = Vec::new();
        let id = v.string("id", Some("id = \"hd\"")).and_then(|id| {
            if !clipstore_core::token::is_valid_choice_id(&id) {
                let error = v.error_at_key("id", format!("`id` must be 1-32 of a-z, 0-9 and -, found \"{id}\""));
                errs.push(match super::fields::id_help("id", &id) {
                    Some(help) => error.with_help(help),
                    None => error,
                });
                None
            } else if out.iter().any(|o| o.id == id) {
                errs.push(v.error_at_key("id", format!("the clip has two variants with the id \"{id}\"")));
                None
            } else {
                Some(id)
            }
        });
        let label = v.string("label", None);
        let resolution = v.string("resolution", Some("resolution = \"1920x1080\"")).and_then(|s| {
            Resolution::parse(&s).map_err(|e| errs.push(v.error_at_key("resolution", format!("`resolution` {e}")))).ok()
        });
        let price = v.value("price", Some("price = 12.00")).and_then(|p| {
            Price::parse(&p).map_err(|e| errs.push(v.error_at_key("price", format!("`price` {e}")))).ok()
        });
        let file = object_key_field(&mut v, &mut errs);
        let file_name = file_name_field(&mut v, &mut errs, file.as_deref());
        let size = size_field(&mut v, &mut errs, false, VARIANT_FILLED_BY_MEDIA);
        let sha256 = sha256_field(&mut v, &mut errs);
        let location = v.start();
        errs.append(&mut v.errors);
        if !errs.is_empty() {
            errors.append(&mut errs);
            continue;
        }
        let (resolution, file_name) = (resolution.unwrap(), file_name.unwrap());
        out.push(ClipVariant {
            id: id.unwrap(),
            label: label.unwrap_or_else(|| resolution.label()),
            resolution,
            file: file.unwrap(),
            content_type: content_type(&file_name),
            file_name,
            size: size.unwrap(),
            sha256,
            price: price.unwrap(),
            location,
        });
    }
    out
}

/// Object keys are plain relative paths: no leading slash, no `..`, no oddities.
fn check_object_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > 512 {
        return Err("must be between 1 and 512 characters");
    }
    if key.starts_with('/') || key.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err("must be a relative path without empty parts, `.` or `..`");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err("must not contain control characters or backslashes");
    }
    if clipstore_core::reserved_key(key) {
        return Err(
            "must not start with ledger-fallback/, ledger-quarantine/ or ledger-state/: the Worker keeps those for its ledger",
        );
    }
    Ok(())
}

fn parse_post(file: &SourceFile, slug: String, md: &MarkdownCache) -> Result<Post, Vec<Diagnostic>> {
    let mut fm = FrontMatter::parse(file, POST_KEYS)?;
    let slug = slug_field(&mut fm, slug);
    let mut errors = Vec::new();
    let title = fm.string("title", Some("title = \"Spring clips are here\""));
    let date = fm.date("date", Some("date = 2026-03-14"));
    let updated = fm.date("updated", None);
    let draft = fm.bool("draft");
    let tags = tags(&mut fm, &mut errors);
    let summary = fm.string("summary", None);
    // A change before the post was published: a slip of the year or of
    // the two fields (the page, the feed and the structured data would
    // say it was modified before it was published). A day's leeway: a
    // time with another offset can fall on the day before in UTC.
    if let (Some(date), Some(changed)) = (date, updated) {
        if changed + chrono::Duration::days(1) < date {
            let d = fm.error_at_key(
                "updated",
                format!(
                    "`updated` ({}) is before `date` ({}): a post cannot change before it is published",
                    changed.date_naive(),
                    date.date_naive()
                ),
            );
            errors.push(d.with_help(
                "write the day of the last real change (on or after `date`), or leave `updated` out; `date` is the day it was published",
            ));
        }
    }
    let rendered = md.render(&file.text, fm.body_start);
    let mut links = rendered.links;
    // The summary is Markdown too, shown on the news list and the feed: its
    // links are checked like the body's, reported at the `summary` line.
    let summary = summary.map(|text| {
        let summary = md.render(&text, 0);
        let at = fm.error_at_key("summary", "").location;
        links.extend(
            summary
                .links
                .into_iter()
                .map(|l| markdown::SourceLink { target: l.target, location: at.clone().unwrap_or(l.location) }),
        );
        summary.html
    });
    errors.append(&mut fm.errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let (summary_html, has_more) = match (summary, rendered.summary_html) {
        (Some(html), _) => (html, true),
        (None, Some(html)) => (html, true),
        (None, None) => {
            let first = markdown::first_paragraph(&rendered.html).to_string();
            let more = first.len() < rendered.html.trim_end().len();
            (first, more)
        }
    };
    Ok(Post {
        slug,
        source: file.display.clone(),
        title: title.unwrap(),
        date: date.unwrap(),
        updated,
        draft,
        tags,
        summary_html,
        has_more,
        content_html: rendered.html,
        links,
    })
}

fn parse_page(file: &SourceFile, slug: String, md: &MarkdownCache) -> Result<Page, Vec<Diagnostic>> {
    let mut fm = FrontMatter::parse(file, PAGE_KEYS)?;
    let slug = slug_field(&mut fm, slug);
    let title = fm.string("title", Some("title = \"About us\""));
    let description = fm.string("description", None);
    let weight = match fm.value("weight", None) {
        None => 0,
        Some(toml::Value::Integer(w)) => w,
        Some(_) => {
            let d = fm.error_at_key("weight", "`weight` must be a whole number (lower comes first in the menu)");
            fm.push_error(d);
            0
        }
    };
    let rendered = md.render(&file.text, fm.body_start);
    if !fm.errors.is_empty() {
        return Err(fm.errors);
    }
    Ok(Page {
        slug,
        source: file.display.clone(),
        title: title.unwrap(),
        description,
        weight,
        content_html: rendered.html,
        links: rendered.links,
    })
}

fn check_unique<'a, T>(
    root: &Path,
    items: &'a [T],
    key: impl Fn(&'a T) -> (&'a String, &'a PathBuf),
    kind: &str,
    errors: &mut Diagnostics,
) {
    let mut seen: HashMap<&String, &PathBuf> = HashMap::new();
    for item in items {
        let (slug, source) = key(item);
        if let Some(first) = seen.insert(slug, source) {
            errors.push(duplicate_slug(root, kind, slug, source, first));
        }
    }
}

/// What `static/` holds: the files to publish (paths inside it), and, as
/// warnings, those too big for Cloudflare to deploy and those left out as
/// private (paths inside the shop).
#[derive(Default)]
struct StaticFiles {
    files: Vec<PathBuf>,
    oversized: Vec<(PathBuf, u64)>,
    private: Vec<PathBuf>,
}

/// Whether a name under `static/` is left out of the site: a dot name
/// (`.env`, `.dev.vars`, `.git/`: secrets and tools' data, which
/// Cloudflare would serve to anyone) other than `.well-known/`, or an
/// editor's backup (`clip.md~`). Not `site-gen media`'s half-written files:
/// those are [`crate::media::is_partial_output`]'s, left out silently.
pub fn is_private_static(name: &str) -> bool {
    (name.starts_with('.') && name != ".well-known")
        || name.ends_with('~')
        || name.ends_with(".bak")
        || is_system_clutter(name)
}

/// A system's own clutter (Finder's, Explorer's): left out with the private
/// files, without a warning at every build.
fn is_system_clutter(name: &str) -> bool {
    matches!(name, ".DS_Store" | "Thumbs.db" | "desktop.ini" | "ehthumbs.db") || name.starts_with("._")
}

fn list_static(root: &Path, errors: &mut Diagnostics) -> StaticFiles {
    let dir = root.join(STATIC_DIR);
    let mut found = StaticFiles::default();
    if !dir.exists() {
        return found;
    }
    let StaticFiles { files, oversized, private } = &mut found;
    let mut walk = walkdir::WalkDir::new(&dir).sort_by_file_name().into_iter();
    while let Some(entry) = walk.next() {
        match entry {
            // Half a file that `site-gen media` is writing: never published.
            Ok(e) if e.file_type().is_file() && crate::media::is_partial_output(&e.file_name().to_string_lossy()) => {}
            // `.well-known/` at the top only (what a domain check asks for).
            Ok(e)
                if e.depth() > 0
                    && (is_private_static(&e.file_name().to_string_lossy())
                        || (e.depth() > 1 && e.file_name() == ".well-known")) =>
            {
                if e.file_type().is_dir() {
                    walk.skip_current_dir();
                }
                if !is_system_clutter(&e.file_name().to_string_lossy()) {
                    private.push(e.path().strip_prefix(root).unwrap_or(e.path()).to_path_buf());
                }
            }
            Ok(e) if e.file_type().is_file() => {
                let bytes = e.metadata().map_or(0, |m| m.len());
                if bytes > super::checks::MAX_DEPLOYED_FILE_BYTES {
                    oversized.push((e.path().strip_prefix(root).unwrap_or(e.path()).to_path_buf(), bytes));
                }
                files.push(e.path().strip_prefix(&dir).expect("walkdir stays inside").to_path_buf())
            }
            Ok(_) => {}
            Err(e) => errors.push(Diagnostic::new(STATIC_DIR, format!("cannot read static files: {e}"))),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `updated` more than a day before `date` is a slip; a time with an
    /// offset that falls on the day before in UTC is not (a review).
    #[test]
    fn a_post_updated_before_it_was_published_is_refused_at_updated() {
        let post = |updated: &str| {
            let text = format!("+++\ntitle = \"T\"\ndate = 2026-01-10\nupdated = {updated}\n+++\nBody.\n");
            let file = SourceFile { display: "content/news/t.md".into(), text };
            parse_source(&file, ContentKind::Post).err().map(|e| e[0].to_string())
        };
        assert_eq!(post("2026-01-10T01:00:00+02:00"), None);
        assert_eq!(post("2026-01-10"), None);
        assert_eq!(post("2026-02-01"), None);
        let slip = post("2025-01-10").expect("a year's slip");
        assert!(slip.contains("`updated` (2025-01-10) is before `date` (2026-01-10)"), "{slip}");
        assert!(slip.contains("content/news/t.md:4:1"), "{slip}");
    }

    #[test]
    fn slugs() {
        assert!(is_valid_slug("harbor-at-dawn-2"));
        for bad in ["", "Harbor", "a--b", "-a", "a_b", "é", &"a".repeat(65)] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn object_keys() {
        assert!(check_object_key("clips/a.mp4").is_ok());
        for bad in [
            "",
            "/clips/a.mp4",
            "clips/../secret",
            "clips//a",
            "a\\b",
            "./a",
            "ledger-fallback/x.json",
            "ledger-quarantine/y",
        ] {
            assert!(check_object_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clip_errors_are_all_reported() {
        let file = SourceFile {
            display: "content/clips/x.md".into(),
            text: "+++\ntitle = \"X\"\ndate = 2026-01-01\nprice = \"cheap\"\nduration = \"0:12\"\nresolution = \"HD\"\nfile = \"../x.mp4\"\nfile_name = \"x.mp4\"\nsize = 10\nposter = \"/p.jpg\"\n+++\n".into(),
        };
        let errs = parse_clip(&file, "x".into(), &MarkdownCache::off()).unwrap_err();
        let lines: Vec<usize> = errs.iter().map(|d| d.location.as_ref().unwrap().line).collect();
        assert_eq!(lines, vec![4, 6, 7], "{errs:#?}");
    }

    /// A clip without its poster line is told its own poster's path, and
    /// that `media` makes it.
    #[test]
    fn a_missing_poster_names_the_clips_own_and_media() {
        let file = SourceFile {
            display: "content/clips/norrsken.md".into(),
            text: "+++\ntitle = \"X\"\ndate = 2026-01-01\nprice = 12\nduration = \"0:12\"\nresolution = \"1920x1080\"\nfile = \"clips/x.mp4\"\nfile_name = \"x.mp4\"\nsize = 10\n+++\n".into(),
        };
        let errs = parse_clip(&file, "norrsken".into(), &MarkdownCache::off()).unwrap_err();
        let help = errs[0].help.as_deref().unwrap();
        assert!(help.starts_with("add a line like `poster = \"/posters/norrsken.jpg\"`"), "{help}");
        assert!(
            help.ends_with("or run `site-gen media`: it makes the poster from the clip's master and writes the line"),
            "{help}"
        );
    }

    fn clip_with(extra: &str) -> Result<Clip, Vec<Diagnostic>> {
        let file = SourceFile {
            display: "content/clips/x.md".into(),
            text: format!("+++\ntitle = \"X\"\ndate = 2026-01-01\nprice = 12\nduration = \"0:12\"\nresolution = \"1920x1080\"\nfile = \"clips/x.mp4\"\nfile_name = \"x.mp4\"\nsize = 10\nposter = \"/p.jpg\"\n{extra}+++\n"),
        };
        parse_clip(&file, "x".into(), &MarkdownCache::off())
    }

    /// A copied clip that kept its original's Payment Link would sell the
    /// original's clip at its price; the Dashboard's page of a link, a
    /// test-mode link and another provider's page take no real order.
    #[test]
    fn payment_links_that_would_sell_the_wrong_clip_or_nothing_are_caught() {
        let with_link = |slug: &str, link: &str| {
            let mut clip = clip_with(&format!("stripe_payment_link = \"{link}\"\n")).unwrap();
            clip.slug = slug.into();
            clip.source = format!("content/clips/{slug}.md").into();
            clip
        };
        let clips = [
            with_link("harbour", "https://buy.stripe.com/abc123"),
            with_link("fjord", "https://buy.stripe.com/def456"),
            with_link("copy", "https://BUY.stripe.com/abc123/?prefilled_email=a%40b.example"),
            with_link("other-case", "https://buy.stripe.com/ABC123"),
        ];
        let shared = shared_payment_links(Path::new("/nonexistent"), &clips);
        assert_eq!(shared.len(), 1, "{shared:#?}");
        assert!(shared[0].message.contains("the clip copy has the Payment Link of the clip harbour"), "{shared:#?}");
        assert_eq!(shared[0].file, Path::new("content/clips/copy.md"));

        let errs =
            clip_with("stripe_payment_link = \"https://dashboard.stripe.com/payment-links/plink_1A\"\n").unwrap_err();
        assert!(errs[0].message.contains("the Stripe Dashboard's page of the link"), "{errs:#?}");
        assert_eq!(errs[0].location.as_ref().unwrap().line, 11);

        let doubtful = doubtful_payment_links(
            Path::new("/nonexistent"),
            &[
                with_link("live", "https://buy.stripe.com/abc123"),
                with_link("test", "https://buy.stripe.com/test_abc123"),
                with_link("paypal", "https://paypal.me/anna/20"),
            ],
        );
        let messages: Vec<&str> = doubtful.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].contains("of test is a test-mode link"));
        assert!(messages[1].contains("of paypal is not on buy.stripe.com (paypal.me)"));
    }

    /// `date = 09:30:00` and `duration = 00:00:12` without quotes are TOML
    /// times: the message shows them as written, never toml's inner table.
    #[test]
    fn unquoted_times_are_shown_as_written() {
        let file = SourceFile {
            display: "content/clips/x.md".into(),
            text: "+++\ntitle = \"X\"\ndate = 09:30:00\nprice = 12\nduration = 00:00:12\nresolution = \"1920x1080\"\nfile = \"clips/x.mp4\"\nfile_name = \"x.mp4\"\nsize = 10\nposter = \"/p.jpg\"\n+++\n".into(),
        };
        let errs = parse_clip(&file, "x".into(), &MarkdownCache::off()).unwrap_err();
        let text: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
        assert!(text.iter().all(|t| !t.contains("toml_private")), "{text:#?}");
        assert!(text.iter().any(|t| t.contains("`date` is not a valid date: 09:30:00")), "{text:#?}");
        let duration = text.iter().find(|t| t.contains("`duration`")).unwrap();
        assert!(duration.contains("found 00:00:12 without quotes (write it as \"00:00:12\")"), "{duration}");
        assert!(!duration.contains("site-gen media"), "the help is the quotes: {duration}");
    }

    #[test]
    fn stripe_payment_link_is_optional_and_must_be_https() {
        assert_eq!(clip_with("").unwrap().stripe_payment_link, None);
        let clip = clip_with("stripe_payment_link = \"https://buy.stripe.com/test_abc\"\n").unwrap();
        assert_eq!(clip.stripe_payment_link.as_deref(), Some("https://buy.stripe.com/test_abc"));
        for bad in ["http://buy.stripe.com/x", "https://", "https://a b", "javascript:alert(1)"] {
            let errs = clip_with(&format!("stripe_payment_link = \"{bad}\"\n")).unwrap_err();
            assert_eq!(errs.len(), 1, "{bad}");
            assert!(errs[0].message.contains("stripe_payment_link"), "{bad}");
        }
    }
}
