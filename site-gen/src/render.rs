//! Rendering a [`Shop`] into the files of `public/` and the catalog manifest.
//!
//! Every output page is an independent job rendered in parallel. List and tag
//! pages receive only their own slice of items and a constant-size
//! paginator, so the total work is linear in the number of items.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use clipstore_core::{CatalogManifest, ManifestClip, ShopInfo, SortedMap};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use tera::{Context, Tera};

use crate::content::{Clip, Post, Price, Shop, Tag};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::kept_pages::{self, KeptPages};
use crate::search::SEARCH_PATH;
use crate::templates::{self, cause_chain, BUILTIN_CART_SCRIPT, BUILTIN_SEARCH_SCRIPT, BUILTIN_STYLESHEET};

/// Number of clips and posts on the home page.
const HOME_CLIPS: usize = 6;
const HOME_POSTS: usize = 3;
/// Number of posts in the Atom feed.
const FEED_POSTS: usize = 20;
/// Bytes to reserve for a rendered page besides its body (the built-in
/// templates' list and tag pages come to about 8 KB).
const PAGE_SIZE_HINT: usize = 12 * 1024;
/// Public path of the news feed.
pub const FEED_PATH: &str = "/news/atom.xml";
/// Public path of the cart page (filled in the browser by `static/js/cart.js`).
pub const CART_PATH: &str = "/cart/";
/// Public path of the list of clips the cart can take (slug to title, price
/// and address), which `static/js/cart.js` fetches once per page: the add
/// buttons carry only a slug.
pub const CART_CLIPS_PATH: &str = "/cart/clips.json";
/// Where the cart and each clip's buy button post their order: the Worker's
/// checkout, which answers with a redirect to Stripe's hosted checkout page.
pub const CHECKOUT_PATH: &str = "/checkout";

/// One file of the built site.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// Path inside `public/`, with `/` separators, e.g. `clips/index.html`.
    pub path: String,
    pub contents: OutputContents,
}

#[derive(Debug, Clone)]
pub enum OutputContents {
    Rendered(Vec<u8>),
    /// A static file copied verbatim from this absolute path.
    Copy(PathBuf),
    /// A page taken from the last build ([`crate::kept_pages`]): the bytes
    /// its file there holds, and which file that is, so that the staging
    /// folder's twin of it need not be read again.
    Kept(Vec<u8>, crate::output::FileId),
}

/// The whole result of rendering, still in memory.
#[derive(Debug)]
pub struct RenderedSite {
    pub files: Vec<OutputFile>,
    pub manifest: CatalogManifest,
    pub pages: usize,
    pub tags: usize,
}

/// What one output page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Job {
    Home,
    ClipList {
        page: usize,
    },
    Clip(usize),
    NewsList {
        page: usize,
    },
    Post(usize),
    TagIndex,
    Tag {
        tag: usize,
        page: usize,
    },
    Page(usize),
    Cart,
    /// The search page (`crate::search`; its index is not a page).
    Search,
    /// The clips the cart can take, with what it shows of each (`/cart/clips.json`).
    CartClips,
    NotFound,
    Feed,
}

/// An item on a tag page.
#[derive(Debug, Clone, Copy)]
enum Tagged {
    Clip(usize),
    Post(usize),
}

struct TagEntry<'a> {
    tag: &'a Tag,
    items: Vec<Tagged>,
    clip_count: usize,
    post_count: usize,
}

/// Everything jobs share, computed once.
pub(crate) struct Prepared<'a> {
    shop: &'a Shop,
    /// The shop's templates, or, when it has none of its own, the built-in
    /// ones made for its site (`templates::builtin_for_site`).
    tera: Cow<'a, Tera>,
    pub(crate) base: Value,
    /// `base` as the context every page's and card's context is made over
    /// (`Context::over`): one copy of the site's values, not one per page.
    base_context: Arc<Context>,
    clip_cards: Vec<Card>,
    post_cards: Vec<Card>,
    /// Each item's card (`partials/clip_card.html`, `partials/post_card.html`),
    /// rendered the first time a page shows it and then reused: an item is
    /// on up to a dozen list, tag and front pages.
    clip_card_html: Vec<OnceLock<CardResult>>,
    post_card_html: Vec<OnceLock<CardResult>>,
    /// Whether the templates that receive lists of items (and those they
    /// extend or include) are all the built-in ones, which use
    /// nothing of an item in a list but its `card`: then the lists carry
    /// only that, instead of a copy of every field of every item.
    lists_use_only_cards: bool,
    tags: Vec<TagEntry<'a>>,
    per_page: usize,
}

/// The record of the last build's pages, with what this build's pages are
/// fingerprinted by across builds ([`Prepared::global_across_builds`],
/// [`kept_pages::content_versions`]).
pub(crate) struct KeptInputs<'k> {
    kept: &'k KeptPages,
    global: u64,
    versions: ItemVersions,
}

/// A rendered card, or why it failed (template, error message).
type CardResult = Result<String, (String, String)>;

/// The templates that receive lists of items, and those they extend or
/// include, which see the lists too. The built-in ones use only each item's `card`.
const LIST_TEMPLATES: [&str; 8] = [
    "index.html",
    "clips.html",
    "news.html",
    "tag.html",
    "base.html",
    "partials/header.html",
    "partials/footer.html",
    "partials/pagination.html",
];

/// A rendered page (output path, bytes), or why it failed (template, error message).
pub(crate) type JobResult = Result<(String, Vec<u8>), (String, String)>;

/// Identifies each item's current content, so a page's inputs can be
/// fingerprinted without comparing the items themselves: `serve` gives an
/// item it reloads a version never used before (see `crate::incremental`);
/// a build hashes every item (`crate::kept_pages::content_versions`).
#[derive(Debug, Default, Clone)]
pub(crate) struct ItemVersions {
    pub clips: Vec<u64>,
    pub posts: Vec<u64>,
    pub pages: Vec<u64>,
}

/// Renders every page of `shop` with `tera`, into memory (for `check` and
/// tests; `build` streams the files with [`Site::render_each`] instead).
pub fn render(shop: &Shop, tera: &Tera) -> Result<RenderedSite, Diagnostics> {
    let site = Site::plan(shop, tera)?;
    let (pages, tags) = (site.pages(), site.tags());
    let files = site.render_each(None, |file| file)?;
    Ok(RenderedSite { files, manifest: manifest(shop), pages, tags })
}

/// Every file of a shop's site, planned (each one's path is known) but not
/// yet rendered.
pub struct Site<'a> {
    prepared: Prepared<'a>,
    jobs: Vec<Job>,
    /// What is not a page: robots.txt, `_headers`, the static files.
    others: Vec<OutputFile>,
}

impl<'a> Site<'a> {
    /// Plans the site; fails when a static file would overwrite a page.
    pub fn plan(shop: &'a Shop, tera: &'a Tera) -> Result<Site<'a>, Diagnostics> {
        let prepared = prepare(shop, tera);
        let jobs = plan(&prepared);
        let pages: std::collections::HashSet<String> =
            jobs.iter().map(|job| file_for_url(&prepared.job_url(*job))).collect();
        let others = other_files(shop, |path| pages.contains(path))?;
        Ok(Site { prepared, jobs, others })
    }

    /// The path of every file of the site (`clips/index.html`, `css/site.css`).
    pub fn paths(&self) -> impl Iterator<Item = String> + '_ {
        let pages = self.jobs.iter().map(|job| file_for_url(&self.prepared.job_url(*job)));
        pages.chain([SITEMAP_PATH.to_string()]).chain(self.others.iter().map(|f| f.path.clone()))
    }

    /// The number of pages (HTML and the feed; not the sitemap or the cart's list of clips).
    pub fn pages(&self) -> usize {
        self.jobs.len() - 1
    }

    /// The number of tags.
    pub fn tags(&self) -> usize {
        self.prepared.tags.len()
    }

    /// Renders every file on all cores and hands each to `each` as soon as
    /// it is made (`build` writes it, so the whole site is never held in
    /// memory), then returns what `each` returned, pages first, or one error
    /// per failing template. With `kept`, a page made from the same inputs
    /// in the last build is taken from it instead of rendered
    /// ([`crate::kept_pages`]), and every page is noted in `kept`'s record.
    pub fn render_each<T: Send>(
        self,
        kept: Option<&KeptPages>,
        each: impl Fn(OutputFile) -> T + Sync,
    ) -> Result<Vec<T>, Diagnostics> {
        let Site { prepared, jobs, others } = self;
        let shop = prepared.shop;
        let inputs = kept.map(|kept| prepared.kept_inputs(kept));
        // The sitemap needs only the pages' addresses, known from the plan, so it
        // is made beside the pages instead of after them.
        let (results, sitemap): (Vec<Result<T, _>>, _) = rayon::join(
            || jobs.par_iter().map(|job| prepared.kept_or_rendered(*job, inputs.as_ref()).map(&each)).collect(),
            || prepared.sitemap(jobs.iter().map(|job| file_for_url(&prepared.job_url(*job)))),
        );
        let mut done = collect_results(shop, results)?;
        done.reserve(others.len() + 1);
        done.push(each(sitemap.unwrap_or_else(|e| panic!("sitemap: {e}"))));
        // Freeing the cards (a copy of every clip's description) takes a while
        // on a big shop: do it beside the remaining steps.
        let (rest, ()) = rayon::join(|| others.into_par_iter().map(&each).collect::<Vec<T>>(), move || drop(prepared));
        done.extend(rest);
        Ok(done)
    }
}

/// Where the sitemap goes.
const SITEMAP_PATH: &str = "sitemap.xml";

/// The rendered pages of `results`, or one error per failing template.
pub(crate) fn collect_pages(
    shop: &Shop,
    results: Vec<JobResult>,
) -> Result<impl Iterator<Item = OutputFile>, Diagnostics> {
    let pages = collect_results(
        shop,
        results
            .into_iter()
            .map(|r| r.map(|(path, bytes)| OutputFile { path, contents: OutputContents::Rendered(bytes) }))
            .collect(),
    )?;
    Ok(pages.into_iter())
}

/// The values of `results`, or one error per failing template.
fn collect_results<T>(shop: &Shop, results: Vec<Result<T, (String, String)>>) -> Result<Vec<T>, Diagnostics> {
    let mut failures: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut pages = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(page) => pages.push(page),
            Err(key) => *failures.entry(key).or_default() += 1,
        }
    }
    if failures.is_empty() {
        return Ok(pages);
    }
    let mut errors = Diagnostics::default();
    for ((template, message), count) in failures {
        let more = if count > 1 { format!(" (on {count} pages)") } else { String::new() };
        errors.push(
            Diagnostic::new(
                templates::shown_name(&shop.root, &template),
                format!("cannot render template{more}: {message}"),
            )
            .with_help(format!("check the variable names against {}", crate::guides::guide("templates.md"))),
        );
    }
    Err(errors)
}

fn prepare<'a>(shop: &'a Shop, tera: &'a Tera) -> Prepared<'a> {
    // Making the built-in templates for the site is one core's work (about
    // 1.5 % of a build of 2,000 + 1,000): done beside the cards.
    let ((clip_cards, post_cards), for_site) = rayon::join(
        || {
            (
                shop.clips.par_iter().map(|clip| Arc::new(clip_value(shop, clip))).collect(),
                shop.posts.par_iter().map(|post| Arc::new(post_card(post))).collect(),
            )
        },
        || ForSite::of(shop),
    );
    Prepared::with(shop, tera, for_site, clip_cards, post_cards)
}

/// What every template receives, and the built-in templates made for it
/// when the shop has none of its own.
struct ForSite {
    base: Value,
    tera: Option<Tera>,
}

impl ForSite {
    fn of(shop: &Shop) -> ForSite {
        let base = base_value(shop);
        let tera = (!templates::has_own_templates(&shop.root)).then(|| templates::builtin_for_site(&base)).flatten();
        ForSite { base, tera }
    }
}

impl<'a> Prepared<'a> {
    /// Shared data for rendering `shop`, given every clip's [`clip_value`]
    /// and every post's [`post_card`] (in the shop's order).
    pub(crate) fn new(shop: &'a Shop, tera: &'a Tera, clip_cards: Vec<Card>, post_cards: Vec<Card>) -> Self {
        Prepared::with(shop, tera, ForSite::of(shop), clip_cards, post_cards)
    }

    fn with(shop: &'a Shop, tera: &'a Tera, for_site: ForSite, clip_cards: Vec<Card>, post_cards: Vec<Card>) -> Self {
        let own_templates = shop.root.join(templates::TEMPLATES_DIR);
        let ForSite { base, tera: for_site } = for_site;
        Prepared {
            tera: for_site.map_or(Cow::Borrowed(tera), Cow::Owned),
            base_context: Arc::new(Context::from_value(base.clone()).expect("the base is an object")),
            base,
            shop,
            clip_card_html: clip_cards.iter().map(|_| OnceLock::new()).collect(),
            post_card_html: post_cards.iter().map(|_| OnceLock::new()).collect(),
            lists_use_only_cards: LIST_TEMPLATES.iter().all(|name| !own_templates.join(name).exists()),
            clip_cards,
            post_cards,
            tags: tag_index(shop),
            per_page: shop.config.items_per_page,
        }
    }

    /// Gives back the cards passed to [`Prepared::new`].
    pub(crate) fn into_cards(self) -> (Vec<Card>, Vec<Card>) {
        (self.clip_cards, self.post_cards)
    }
}

/// What every template receives (site, nav, build year).
fn base_value(shop: &Shop) -> Value {
    let c = &shop.config;
    let nav: Vec<Value> = shop.pages.iter().map(|p| json!({"title": p.title, "url": p.url()})).collect();
    let base = json!({
        "site": {
            "title": c.title, "description": c.description, "base_url": c.base_url, "language": c.language,
            "currency": c.currency, "contact_email": c.contact_email, "download_base_url": c.download_base_url,
            "feed_url": FEED_PATH, "stylesheet": format!("/{}", BUILTIN_STYLESHEET.0),
            "cart_url": CART_PATH, "checkout_url": CHECKOUT_PATH, "cart_script": format!("/{}", BUILTIN_CART_SCRIPT.0),
            "search_url": SEARCH_PATH, "search_script": format!("/{}", BUILTIN_SEARCH_SCRIPT.0),
            "price_pattern": Price::display_pattern(&c.currency),
            "price_decimals": Price::decimals(&c.currency),
            "favicon": shop.static_files.iter().any(|f| f == std::path::Path::new("favicon.svg")).then_some("/favicon.svg"),
        },
        "nav": nav,
        "build_year": shop.now.format("%Y").to_string(),
    });
    base
}

/// Tags with their items, newest first, built in one pass over each list.
fn tag_index(shop: &Shop) -> Vec<TagEntry<'_>> {
    // Clips and posts are each sorted newest first; merge them by date.
    let mut order = Vec::with_capacity(shop.clips.len() + shop.posts.len());
    let (mut ci, mut pi) = (0, 0);
    while ci < shop.clips.len() || pi < shop.posts.len() {
        let take_clip = match (shop.clips.get(ci), shop.posts.get(pi)) {
            (Some(c), Some(p)) => c.date >= p.date,
            (Some(_), None) => true,
            _ => false,
        };
        if take_clip {
            order.push(Tagged::Clip(ci));
            ci += 1;
        } else {
            order.push(Tagged::Post(pi));
            pi += 1;
        }
    }
    // Reading every item's tags is mostly waiting for memory: do it in
    // parallel chunks, then join the chunks' lists in order.
    let chunk = order.len().div_ceil(rayon::current_num_threads().max(1)).max(1024);
    let parts: Vec<BTreeMap<&str, TagEntry>> = order
        .par_chunks(chunk)
        .map(|items| {
            let mut by_slug: BTreeMap<&str, TagEntry> = BTreeMap::new();
            for &item in items {
                let tags = match item {
                    Tagged::Clip(i) => &shop.clips[i].tags,
                    Tagged::Post(i) => &shop.posts[i].tags,
                };
                for tag in tags {
                    let entry = by_slug.entry(&tag.slug).or_insert_with(|| TagEntry {
                        tag,
                        items: Vec::new(),
                        clip_count: 0,
                        post_count: 0,
                    });
                    match item {
                        Tagged::Clip(_) => entry.clip_count += 1,
                        Tagged::Post(_) => entry.post_count += 1,
                    }
                    entry.items.push(item);
                }
            }
            by_slug
        })
        .collect();
    let mut parts = parts.into_iter();
    let mut by_slug = parts.next().unwrap_or_default();
    for part in parts {
        for (slug, e) in part {
            match by_slug.entry(slug) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(e);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let first = o.get_mut();
                    first.items.extend(e.items);
                    first.clip_count += e.clip_count;
                    first.post_count += e.post_count;
                }
            }
        }
    }
    by_slug.into_values().collect()
}

fn pages_for(items: usize, per_page: usize) -> usize {
    items.div_ceil(per_page).max(1)
}

/// Every page of the site, as jobs.
pub(crate) fn plan(p: &Prepared) -> Vec<Job> {
    let shop = p.shop;
    let mut jobs = vec![Job::Home, Job::TagIndex, Job::Cart, Job::Search, Job::CartClips, Job::NotFound, Job::Feed];
    jobs.extend((1..=pages_for(shop.clips.len(), p.per_page)).map(|page| Job::ClipList { page }));
    jobs.extend((1..=pages_for(shop.posts.len(), p.per_page)).map(|page| Job::NewsList { page }));
    jobs.extend((0..shop.clips.len()).map(Job::Clip));
    jobs.extend((0..shop.posts.len()).map(Job::Post));
    jobs.extend((0..shop.pages.len()).map(Job::Page));
    for (tag, entry) in p.tags.iter().enumerate() {
        jobs.extend((1..=pages_for(entry.items.len(), p.per_page)).map(|page| Job::Tag { tag, page }));
    }
    jobs
}

/// URL of page `page` (1-based) of a list at `base` (`/clips/`).
pub fn pager_url(base: &str, page: usize) -> String {
    if page <= 1 {
        base.to_string()
    } else {
        format!("{base}page/{page}/")
    }
}

/// The output file of a site path: `/clips/` -> `clips/index.html`.
pub fn file_for_url(url: &str) -> String {
    let trimmed = url.trim_start_matches('/');
    if trimmed.is_empty() || trimmed.ends_with('/') {
        format!("{trimmed}index.html")
    } else {
        trimmed.to_string()
    }
}

#[derive(Serialize)]
struct Paginator {
    current: usize,
    total_pages: usize,
    total_items: usize,
    first_url: String,
    last_url: String,
    previous_url: Option<String>,
    next_url: Option<String>,
    /// A window of page links around the current one (constant size, so
    /// paginators stay cheap however long the list is).
    pages: Vec<PagerLink>,
}

#[derive(Serialize)]
struct PagerLink {
    number: usize,
    url: String,
    current: bool,
}

fn paginator(base: &str, current: usize, total_items: usize, per_page: usize) -> Paginator {
    let total_pages = pages_for(total_items, per_page);
    let window = current.saturating_sub(2).max(1)..=(current + 2).min(total_pages);
    Paginator {
        current,
        total_pages,
        total_items,
        first_url: pager_url(base, 1),
        last_url: pager_url(base, total_pages),
        previous_url: (current > 1).then(|| pager_url(base, current - 1)),
        next_url: (current < total_pages).then(|| pager_url(base, current + 1)),
        pages: window.map(|n| PagerLink { number: n, url: pager_url(base, n), current: n == current }).collect(),
    }
}

/// The indices of page `page` (1-based) of a list of `len` items.
fn page_range(len: usize, page: usize, per_page: usize) -> std::ops::Range<usize> {
    let start = ((page - 1) * per_page).min(len);
    start..(start + per_page).min(len)
}

fn page_slice<T>(items: &[T], page: usize, per_page: usize) -> &[T] {
    let start = ((page - 1) * per_page).min(items.len());
    &items[start..(start + per_page).min(items.len())]
}

impl<'a> Prepared<'a> {
    fn context(&self, url: &str, title: Option<&str>) -> Context {
        let mut ctx = Context::over(self.base_context.clone());
        ctx.insert("current_url", url);
        ctx.insert("permalink", &self.shop.config.absolute(url));
        ctx.insert("page_title", &title);
        ctx
    }

    /// An item as a list shows it: its fields (see docs/templates.md) and
    /// `card`, its card's HTML; with the built-in list templates only `card`.
    fn list_item(&self, item: Tagged) -> Result<Value, (String, String)> {
        let (value, html, template, key) = match item {
            Tagged::Clip(i) => (&self.clip_cards[i], &self.clip_card_html[i], "partials/clip_card.html", "clip"),
            Tagged::Post(i) => (&self.post_cards[i], &self.post_card_html[i], "partials/post_card.html", "post"),
        };
        let html = html
            .get_or_init(|| {
                let mut ctx = Context::over(self.base_context.clone());
                ctx.insert_shared(key, value.clone());
                self.tera.render(template, &ctx).map_err(|e| (template.to_string(), cause_chain(&e)))
            })
            .clone()?;
        let mut item = if self.lists_use_only_cards {
            serde_json::Map::with_capacity(1)
        } else {
            value.as_object().expect("cards are objects").clone()
        };
        item.insert("card".to_string(), Value::String(html));
        Ok(Value::Object(item))
    }

    /// Puts the list items of `items` into `ctx` under `key`.
    fn insert_items(
        &self,
        ctx: &mut Context,
        key: &str,
        items: impl Iterator<Item = Tagged>,
    ) -> Result<(), (String, String)> {
        let items = items.map(|item| self.list_item(item)).collect::<Result<Vec<_>, _>>()?;
        put(ctx, key, Value::Array(items));
        Ok(())
    }

    /// The address of the page `job` renders.
    pub(crate) fn job_url(&self, job: Job) -> String {
        let shop = self.shop;
        match job {
            Job::Home => "/".to_string(),
            Job::ClipList { page } => pager_url("/clips/", page),
            Job::Clip(i) => shop.clips[i].url(),
            Job::NewsList { page } => pager_url("/news/", page),
            Job::Post(i) => shop.posts[i].url(),
            Job::TagIndex => "/tags/".to_string(),
            Job::Tag { tag, page } => pager_url(&self.tags[tag].tag.url(), page),
            Job::Page(i) => shop.pages[i].url(),
            Job::Cart => CART_PATH.to_string(),
            Job::Search => SEARCH_PATH.to_string(),
            Job::CartClips => CART_CLIPS_PATH.to_string(),
            Job::NotFound => "/404.html".to_string(),
            Job::Feed => FEED_PATH.to_string(),
        }
    }

    /// Renders one job into (output path, bytes), or (template, error message).
    pub(crate) fn render_job(&self, job: Job) -> JobResult {
        let shop = self.shop;
        let per_page = self.per_page;
        if job == Job::CartClips {
            return Ok((file_for_url(CART_CLIPS_PATH), cart_clips(shop)));
        }
        let (template, url, ctx) = match job {
            Job::Home => {
                let mut ctx = self.context("/", None);
                self.insert_items(&mut ctx, "clips", (0..HOME_CLIPS.min(shop.clips.len())).map(Tagged::Clip))?;
                self.insert_items(&mut ctx, "posts", (0..HOME_POSTS.min(shop.posts.len())).map(Tagged::Post))?;
                ("index.html", "/".to_string(), ctx)
            }
            Job::ClipList { page } => {
                let url = pager_url("/clips/", page);
                let mut ctx = self.context(&url, Some("Clips"));
                self.insert_items(&mut ctx, "clips", page_range(shop.clips.len(), page, per_page).map(Tagged::Clip))?;
                ctx.insert("paginator", &paginator("/clips/", page, shop.clips.len(), per_page));
                ("clips.html", url, ctx)
            }
            Job::Clip(i) => {
                let clip = &shop.clips[i];
                let mut ctx = self.context(&clip.url(), Some(&clip.title));
                ctx.insert_shared("clip", self.clip_cards[i].clone());
                ctx.insert("structured_data", &crate::structured_data::clip(shop, clip));
                let summary = crate::markdown::first_paragraph(&clip.description_html);
                ctx.insert("description", &crate::structured_data::plain_text(summary));
                ("clip.html", clip.url(), ctx)
            }
            Job::NewsList { page } => {
                let url = pager_url("/news/", page);
                let mut ctx = self.context(&url, Some("News"));
                self.insert_items(&mut ctx, "posts", page_range(shop.posts.len(), page, per_page).map(Tagged::Post))?;
                ctx.insert("paginator", &paginator("/news/", page, shop.posts.len(), per_page));
                ("news.html", url, ctx)
            }
            Job::Post(i) => {
                let post = &shop.posts[i];
                let mut ctx = self.context(&post.url(), Some(&post.title));
                let mut value = Value::clone(&self.post_cards[i]);
                value["content"] = Value::String(post.content_html.clone());
                put(&mut ctx, "post", value);
                let card = |j: Option<usize>| j.and_then(|j| self.post_cards.get(j)).cloned().unwrap_or_default();
                ctx.insert_shared("newer", card(i.checked_sub(1)));
                ctx.insert_shared("older", card(Some(i + 1)));
                ctx.insert("structured_data", &crate::structured_data::post(shop, post));
                ctx.insert("description", &crate::structured_data::plain_text(&post.summary_html));
                ("post.html", post.url(), ctx)
            }
            Job::TagIndex => {
                let mut ctx = self.context("/tags/", Some("Tags"));
                let tags: Vec<Value> = self
                    .tags
                    .iter()
                    .map(|e| json!({"name": e.tag.name, "slug": e.tag.slug, "url": e.tag.url(), "clip_count": e.clip_count, "post_count": e.post_count}))
                    .collect();
                put(&mut ctx, "tags", Value::Array(tags));
                ("tags.html", "/tags/".to_string(), ctx)
            }
            Job::Tag { tag, page } => {
                let entry = &self.tags[tag];
                let base = entry.tag.url();
                let url = pager_url(&base, page);
                let mut ctx = self.context(&url, Some(&entry.tag.name));
                let items: Vec<Value> = page_slice(&entry.items, page, per_page)
                    .iter()
                    .map(|&item| {
                        let kind = match item {
                            Tagged::Clip(_) => "clip",
                            Tagged::Post(_) => "post",
                        };
                        Ok::<_, (String, String)>(tagged_item(kind, self.list_item(item)?))
                    })
                    .collect::<Result<_, _>>()?;
                ctx.insert("tag", &json!({"name": entry.tag.name, "slug": entry.tag.slug, "url": base, "clip_count": entry.clip_count, "post_count": entry.post_count}));
                put(&mut ctx, "items", Value::Array(items));
                ctx.insert("paginator", &paginator(&base, page, entry.items.len(), per_page));
                ("tag.html", url, ctx)
            }
            Job::Page(i) => {
                let page = &shop.pages[i];
                let mut ctx = self.context(&page.url(), Some(&page.title));
                ctx.insert(
                    "page",
                    &json!({"slug": page.slug, "title": page.title, "description": page.description, "url": page.url(), "content": page.content_html}),
                );
                ("page.html", page.url(), ctx)
            }
            Job::Cart => ("cart.html", CART_PATH.to_string(), self.context(CART_PATH, Some("Cart"))),
            Job::Search => {
                let mut ctx = self.context(SEARCH_PATH, Some("Search"));
                put(&mut ctx, "filters", crate::search::filter_options(shop));
                ("search.html", SEARCH_PATH.to_string(), ctx)
            }
            Job::CartClips => unreachable!("written above"),
            Job::NotFound => ("404.html", "/404.html".to_string(), self.context("/404.html", Some("Page not found"))),
            Job::Feed => {
                let mut ctx = self.context(FEED_PATH, None);
                let posts: Vec<Value> = shop
                    .posts
                    .iter()
                    .zip(&self.post_cards)
                    .take(FEED_POSTS)
                    .map(|(post, card)| {
                        let mut v = Value::clone(card);
                        v["content"] = Value::String(post.content_html.clone());
                        v["permalink"] = Value::String(shop.config.absolute(&post.url()));
                        v
                    })
                    .collect();
                let updated = shop.posts.iter().map(|p| p.updated.unwrap_or(p.date)).max().unwrap_or(shop.now);
                put(&mut ctx, "posts", Value::Array(posts));
                ctx.insert("updated", &rfc3339(updated));
                ctx.insert("feed_url", &shop.config.absolute(FEED_PATH));
                ("atom.xml", FEED_PATH.to_string(), ctx)
            }
        };
        debug_assert_eq!(url, self.job_url(job), "job_url must agree with the page rendered");
        let size_hint = PAGE_SIZE_HINT
            + match job {
                Job::Post(i) => shop.posts[i].content_html.len(),
                Job::Clip(i) => shop.clips[i].description_html.len(),
                Job::Page(i) => shop.pages[i].content_html.len(),
                // Escaped bodies: about twice their size.
                Job::Feed => shop.posts.iter().take(FEED_POSTS).map(|p| 2 * p.content_html.len()).sum(),
                _ => 0,
            };
        // Rendering into a buffer of about the page's final size saves the
        // repeated growing (and copying) that `Tera::render` does from 2 KB.
        let mut out = Vec::with_capacity(size_hint);
        match self.tera.render_to(template, &ctx, &mut out) {
            Ok(()) => {
                out.shrink_to_fit();
                Ok((file_for_url(&url), out))
            }
            Err(e) => Err((template.to_string(), cause_chain(&e))),
        }
    }

    /// A fingerprint of everything [`Prepared::render_job`] reads for `job`,
    /// apart from what `global` stands for (the templates, the site settings,
    /// the menu). Items enter by their version, so when an item changes,
    /// exactly the pages that show it get a new fingerprint: its own page,
    /// its neighbours' (newer/older), the list and tag pages whose slice or
    /// paginator changed, the home page and the feed. Keep this beside
    /// `render_job` and in step with it: the incremental differential test
    /// (tests/incremental.rs) fails when a page reads something not hashed here.
    pub(crate) fn fingerprint(&self, job: Job, global: u64, v: &ItemVersions) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        // The kind of page, but not the item's index: an item keeps its
        // version when others are added before it, and its page need not change.
        let kind: (u8, usize) = match job {
            Job::Home => (0, 0),
            Job::ClipList { page } => (1, page),
            Job::Clip(_) => (2, 0),
            Job::NewsList { page } => (3, page),
            Job::Post(_) => (4, 0),
            Job::TagIndex => (5, 0),
            Job::Tag { page, .. } => (6, page),
            Job::Page(_) => (7, 0),
            Job::NotFound => (8, 0),
            Job::Feed => (9, 0),
            Job::Cart => (10, 0),
            Job::CartClips => (11, 0),
            Job::Search => (12, 0),
        };
        (global, kind).hash(&mut h);
        let per_page = self.per_page;
        let slice = |h: &mut std::hash::DefaultHasher, versions: &[u64], page: usize| {
            (versions.len(), page_slice(versions, page, per_page)).hash(h);
        };
        match job {
            Job::Home => {
                v.clips[..HOME_CLIPS.min(v.clips.len())].hash(&mut h);
                v.posts[..HOME_POSTS.min(v.posts.len())].hash(&mut h);
            }
            Job::ClipList { page } => slice(&mut h, &v.clips, page),
            Job::NewsList { page } => slice(&mut h, &v.posts, page),
            Job::Clip(i) => v.clips[i].hash(&mut h),
            Job::Post(i) => (i.checked_sub(1).map(|j| v.posts[j]), v.posts[i], v.posts.get(i + 1)).hash(&mut h),
            Job::Page(i) => v.pages[i].hash(&mut h),
            Job::TagIndex => {
                for e in &self.tags {
                    (&e.tag, e.clip_count, e.post_count).hash(&mut h);
                }
            }
            Job::Tag { tag, page } => {
                let e = &self.tags[tag];
                (&e.tag, e.clip_count, e.post_count, e.items.len()).hash(&mut h);
                for item in page_slice(&e.items, page, per_page) {
                    match *item {
                        Tagged::Clip(i) => (0u8, v.clips[i]).hash(&mut h),
                        Tagged::Post(i) => (1u8, v.posts[i]).hash(&mut h),
                    }
                }
            }
            // The cart page shows no items: the browser fills it in.
            Job::NotFound | Job::Cart => {}
            Job::CartClips => v.clips.hash(&mut h),
            // Its filters' values come from every clip.
            Job::Search => v.clips.hash(&mut h),
            Job::Feed => {
                v.posts[..FEED_POSTS.min(v.posts.len())].hash(&mut h);
                self.shop.posts.iter().map(|p| p.updated.unwrap_or(p.date)).max().unwrap_or(self.shop.now).hash(&mut h);
            }
        }
        h.finish()
    }

    /// What [`Prepared::kept_or_rendered`] takes pages by.
    pub(crate) fn kept_inputs<'k>(&self, kept: &'k KeptPages) -> KeptInputs<'k> {
        KeptInputs {
            kept,
            global: self.global_across_builds(kept.templates),
            versions: kept_pages::content_versions(self.shop),
        }
    }

    /// The page of `job`: taken from the last build when `inputs` has it,
    /// made from the same inputs ([`OutputContents::Kept`]), else rendered
    /// (and noted in `inputs`' record).
    pub(crate) fn kept_or_rendered(
        &self,
        job: Job,
        inputs: Option<&KeptInputs>,
    ) -> Result<OutputFile, (String, String)> {
        let rendered = |(path, bytes)| OutputFile { path, contents: OutputContents::Rendered(bytes) };
        // The cart's list of clips is not a page and is made without a template.
        let Some(KeptInputs { kept, global, versions }) = inputs.filter(|_| job != Job::CartClips) else {
            return self.render_job(job).map(rendered);
        };
        let fingerprint = self.fingerprint(job, *global, versions);
        let path = file_for_url(&self.job_url(job));
        if let Some((bytes, from)) = kept.take(&path, fingerprint) {
            return Ok(OutputFile { path, contents: OutputContents::Kept(bytes, from) });
        }
        let page = self.render_job(job)?;
        kept.note(&page.0, fingerprint, &page.1);
        Ok(rendered(page))
    }

    /// What `global` stands for in [`Prepared::fingerprint`] across builds,
    /// given the templates' digest (`templates::TemplatesDigest`): the
    /// program (its built-in templates, its rendering), the templates, the
    /// site settings and what every page receives (`base`: the menu, the
    /// year), and how lists are made. `serve` counts its own instead.
    pub(crate) fn global_across_builds(&self, templates: u128) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        let for_site = matches!(self.tera, Cow::Owned(_));
        (crate::markdown_cache::program_id(), templates, format!("{:?}", self.shop.config)).hash(&mut h);
        (self.base.to_string(), self.per_page, self.lists_use_only_cards, for_site).hash(&mut h);
        h.finish()
    }

    /// A fingerprint of what the sitemap shows: every page's address (the
    /// plan: the items' slugs, the number of list and tag pages) and the
    /// clips' and posts' dates.
    pub(crate) fn sitemap_fingerprint(&self, global: u64) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        global.hash(&mut h);
        for c in &self.shop.clips {
            (&c.slug, c.date).hash(&mut h);
        }
        for p in &self.shop.posts {
            (&p.slug, p.updated.unwrap_or(p.date)).hash(&mut h);
        }
        for p in &self.shop.pages {
            p.slug.hash(&mut h);
        }
        for e in &self.tags {
            (&e.tag.slug, e.items.len()).hash(&mut h);
        }
        h.finish()
    }

    /// The sitemap of the pages at `paths` (output files, like `clips/index.html`).
    /// An error is reported (as a panic) only if all other pages rendered.
    pub(crate) fn sitemap(&self, paths: impl Iterator<Item = String>) -> Result<OutputFile, String> {
        let shop = self.shop;
        let mut lastmod: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for clip in &shop.clips {
            lastmod.insert(clip.url(), clip.date);
        }
        for post in &shop.posts {
            lastmod.insert(post.url(), post.updated.unwrap_or(post.date));
        }
        let mut entries: Vec<Value> = paths
            // The cart and the search page are filled in the browser: nothing to index.
            .filter(|path| {
                path.ends_with("index.html") && *path != file_for_url(CART_PATH) && *path != file_for_url(SEARCH_PATH)
            })
            .map(|path| {
                let url = format!("/{}", path.trim_end_matches("index.html"));
                json!({"loc": shop.config.absolute(&url), "lastmod": lastmod.get(&url).map(|d| d.format("%Y-%m-%d").to_string())})
            })
            .collect();
        entries.sort_by(|a, b| a["loc"].as_str().cmp(&b["loc"].as_str()));
        let mut ctx = self.context("/sitemap.xml", None);
        put(&mut ctx, "entries", Value::Array(entries));
        let xml = self.tera.render("sitemap.xml", &ctx).map_err(|e| cause_chain(&e))?;
        Ok(OutputFile { path: SITEMAP_PATH.into(), contents: OutputContents::Rendered(xml.into_bytes()) })
    }
}

/// An item's values as templates see them ([`clip_value`], [`post_card`]),
/// shared by the contexts of every page and card that shows the item.
pub(crate) type Card = Arc<Value>;

/// Moves `value` into `ctx` under `key`. (`Context::insert` would serialize
/// it into a second deep copy; for the cards and bodies on every page that
/// copy was a fifth of the build's CPU time.)
fn put(ctx: &mut Context, key: &str, value: Value) {
    let mut map = serde_json::Map::with_capacity(1);
    map.insert(key.to_string(), value);
    ctx.extend(Context::from_value(Value::Object(map)).expect("an object"));
}

/// `{"kind": kind, kind: item}`: an item on a tag page.
fn tagged_item(kind: &str, item: Value) -> Value {
    let mut map = serde_json::Map::with_capacity(2);
    map.insert("kind".to_string(), Value::String(kind.to_string()));
    map.insert(kind.to_string(), item);
    Value::Object(map)
}

fn rfc3339(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn tag_values(tags: &[Tag]) -> Vec<Value> {
    tags.iter().map(|t| json!({"name": t.name, "slug": t.slug, "url": t.url()})).collect()
}

fn date_fields(d: DateTime<Utc>) -> (String, String) {
    (rfc3339(d), d.format("%-d %B %Y").to_string())
}

/// Everything a template gets about a clip (see docs/templates.md).
pub(crate) fn clip_value(shop: &Shop, clip: &Clip) -> Value {
    let (date, date_display) = date_fields(clip.date);
    let currency = &shop.config.currency;
    let subject = format!("Order: {} ({})", clip.title, clip.slug);
    let order_email_url = format!("mailto:{}?subject={}", shop.config.contact_email, percent_encode(&subject));
    let offers = crate::offers::Offers::of(shop, clip);
    // The files and licences to choose from, priced by clipstore_core (null
    // when there is nothing to choose, or the clip sells through a Payment Link).
    let choice = if offers.has_choice() && clip.stripe_payment_link.is_none() {
        offers.template_value(currency)
    } else {
        Value::Null
    };
    json!({
        "slug": clip.slug, "url": clip.url(), "title": clip.title,
        "date": date, "date_display": date_display,
        "price": clip.price.amount(), "price_cents": clip.price.cents, "price_display": clip.price.display(currency),
        "currency": currency,
        "duration": clip.duration.to_string(), "duration_seconds": clip.duration.seconds,
        "resolution": clip.resolution.to_string(), "resolution_label": clip.resolution.label(),
        "file_name": clip.file_name, "size": clip.size, "size_display": crate::content::human_size(clip.size),
        "content_type": clip.content_type, "poster": clip.poster, "preview": clip.preview,
        // Full addresses, for sharing tags (a poster may be on another host).
        "poster_url": crate::structured_data::absolute(shop, &clip.poster),
        "preview_url": clip.preview.as_deref().map(|p| crate::structured_data::absolute(shop, p)),
        "tags": tag_values(&clip.tags), "draft": clip.draft,
        "summary": crate::markdown::first_paragraph(&clip.description_html),
        "description": clip.description_html,
        // Kept for templates written before the checkout form: the built-in
        // clip.html posts to the checkout unless the clip has a Payment Link.
        "buy_url": clip.stripe_payment_link.clone().unwrap_or_else(|| order_email_url.clone()),
        "order_email_url": order_email_url,
        "stripe_payment_link": clip.stripe_payment_link,
        // A clip sold through a Payment Link sells what its link sells, at
        // the price its page shows: no "from", no choice.
        "has_variants": !clip.variants.is_empty() && clip.stripe_payment_link.is_none(),
        "offer_price_display": if clip.stripe_payment_link.is_some() { clip.price } else { offers.default().price }.display(currency),
        "lowest_price_display": if clip.stripe_payment_link.is_some() { clip.price } else { offers.lowest() }.display(currency),
        "choice": choice,
    })
}

/// Everything a template gets about a post in a list (see docs/templates.md).
pub(crate) fn post_card(post: &Post) -> Value {
    let (date, date_display) = date_fields(post.date);
    let updated = post.updated.map(date_fields);
    json!({
        "slug": post.slug, "url": post.url(), "title": post.title,
        "date": date, "date_display": date_display,
        "updated": updated.as_ref().map(|u| &u.0), "updated_display": updated.as_ref().map(|u| &u.1),
        "tags": tag_values(&post.tags), "draft": post.draft,
        "summary": post.summary_html, "has_more": post.has_more,
    })
}

/// `/cart/clips.json`: every clip the cart can take (not those sold through
/// a Payment Link, which have no cart button), by slug, with what the cart
/// shows and stores of it: the plain slug's title and price, and, when the
/// clip has variants or the shop licence tiers, every item's price and
/// description (`items`, see [`crate::offers::Offers::cart_items`]). One file instead of the same data in every add
/// button's attributes, on every page that lists the clip.
fn cart_clips(shop: &Shop) -> Vec<u8> {
    let currency = &shop.config.currency;
    let clips: serde_json::Map<String, Value> = shop
        .clips
        .iter()
        .filter(|clip| clip.stripe_payment_link.is_none())
        .map(|clip| {
            let offers = crate::offers::Offers::of(shop, clip);
            let plain = offers.default();
            let mut line = json!({
                "title": clip.title, "price_cents": plain.price.cents,
                "price_display": plain.price.display(currency), "url": clip.url(),
            });
            if offers.has_choice() {
                line["items"] = Value::Object(offers.cart_items(&clip.slug, &clip.title, currency));
            }
            (clip.slug.clone(), line)
        })
        .collect();
    let mut json = serde_json::to_vec(&clips).expect("the clips serialize");
    json.push(b'\n');
    json
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(crate) fn robots(shop: &Shop) -> String {
    format!("User-agent: *\nDisallow: /download/\nSitemap: {}\n", shop.config.absolute("/sitemap.xml"))
}

/// The files of the site besides its pages and the sitemap: robots.txt,
/// `_headers`, the static files, and the built-in stylesheet and cart
/// script unless `static/` has its own. A static file may not take the
/// place of a generated one (`is_page`: a page's path). The build and
/// `serve` both make them here.
pub fn other_files(shop: &Shop, is_page: impl Fn(&str) -> bool) -> Result<Vec<OutputFile>, Diagnostics> {
    let mut files = Vec::with_capacity(shop.static_files.len() + 4);
    files.push(OutputFile { path: "robots.txt".into(), contents: OutputContents::Rendered(robots(shop).into_bytes()) });
    let headers = clipstore_core::security_headers::headers_file().into_bytes();
    files.push(OutputFile { path: "_headers".into(), contents: OutputContents::Rendered(headers) });
    let mut errors = Diagnostics::default();
    for (rel, path) in shop.published_static() {
        if is_page(&path) || path == SITEMAP_PATH || files[..2].iter().any(|f| f.path == path) {
            errors.push(
                Diagnostic::new(
                    format!("static/{path}"),
                    format!("this static file would overwrite the generated page /{path}"),
                )
                .with_help("rename or remove the static file"),
            );
        }
        files.push(OutputFile { path, contents: OutputContents::Copy(shop.root.join("static").join(rel)) });
    }
    for (path, text) in templates::builtin_static_files_missing(&shop.static_files) {
        files.push(OutputFile { path: path.into(), contents: OutputContents::Rendered(text.as_bytes().to_vec()) });
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// The Worker's view of the catalog: every published clip by slug.
pub fn manifest(shop: &Shop) -> CatalogManifest {
    let mut m = CatalogManifest::new(shop_info(shop));
    m.clips = SortedMap::from_unsorted(shop.clips.iter().map(|c| (c.slug.clone(), manifest_clip(shop, c))).collect());
    m
}

/// The shop as the manifest describes it (title, currency, licence tiers).
pub(crate) fn shop_info(shop: &Shop) -> ShopInfo {
    let c = &shop.config;
    ShopInfo {
        title: c.title.clone(),
        base_url: c.base_url.clone(),
        contact_email: c.contact_email.clone(),
        currency: c.currency.clone(),
        stylesheet: format!("/{}", BUILTIN_STYLESHEET.0),
        licences: c.licences.iter().map(|l| l.in_manifest(&c.currency).expect("load checked prices")).collect(),
    }
}

/// One clip as the manifest describes it: its main file and its variants.
pub(crate) fn manifest_clip(shop: &Shop, clip: &Clip) -> ManifestClip {
    let currency = shop.config.currency.as_str();
    let minor = |price: Price| clipstore_core::minor_units(price.cents, currency).expect("load checked prices");
    ManifestClip {
        title: clip.title.clone(),
        object_key: clip.file.clone(),
        file_name: clip.file_name.clone(),
        size: clip.size,
        content_type: clip.content_type.clone(),
        price: minor(clip.price),
        sha256: clip.sha256.clone(),
        variant: clip
            .variant
            .as_ref()
            .map(|id| clipstore_core::VariantName { id: id.clone(), label: clip.resolution.label() }),
        variants: clip
            .variants
            .iter()
            .map(|v| {
                let variant = clipstore_core::ManifestVariant {
                    label: v.label.clone(),
                    object_key: v.file.clone(),
                    file_name: v.file_name.clone(),
                    size: v.size,
                    content_type: v.content_type.clone(),
                    price: minor(v.price),
                    sha256: v.sha256.clone(),
                };
                (v.id.clone(), variant)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_files() {
        assert_eq!(pager_url("/clips/", 1), "/clips/");
        assert_eq!(pager_url("/clips/", 3), "/clips/page/3/");
        assert_eq!(file_for_url("/"), "index.html");
        assert_eq!(file_for_url("/tags/a/page/2/"), "tags/a/page/2/index.html");
        assert_eq!(file_for_url("/news/atom.xml"), "news/atom.xml");
    }

    #[test]
    fn paginator_window_is_bounded() {
        let p = paginator("/news/", 50, 1000, 10);
        assert_eq!(p.total_pages, 100);
        assert_eq!(p.pages.iter().map(|l| l.number).collect::<Vec<_>>(), vec![48, 49, 50, 51, 52]);
        assert_eq!(p.previous_url.as_deref(), Some("/news/page/49/"));
        assert_eq!(p.next_url.as_deref(), Some("/news/page/51/"));
        let first = paginator("/news/", 1, 5, 10);
        assert_eq!((first.total_pages, first.previous_url, first.next_url), (1, None, None));
        assert_eq!(pages_for(0, 10), 1);
        assert_eq!(pages_for(21, 10), 3);
    }

    /// The fixture shop of tests/build.rs, rendered with the built-in templates.
    fn small_shop() -> (Shop, RenderedSite) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        let shop = crate::content::load(&root, &crate::content::LoadOptions { drafts: false, now }).unwrap();
        let tera = templates::load(&root).unwrap();
        let site = render(&shop, &tera).unwrap();
        (shop, site)
    }

    fn page<'a>(site: &'a RenderedSite, path: &str) -> &'a str {
        let file = site.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no {path}"));
        match &file.contents {
            OutputContents::Rendered(bytes) | OutputContents::Kept(bytes, _) => std::str::from_utf8(bytes).unwrap(),
            OutputContents::Copy(from) => panic!("{path} is a copy of {}", from.display()),
        }
    }

    #[test]
    fn the_cart_page_is_built_and_left_out_of_the_sitemap() {
        let (_, site) = small_shop();
        let cart = page(&site, "cart/index.html");
        assert!(cart.contains("<title>Cart · Small Shop</title>"));
        assert!(cart.contains(r#"<meta name="robots" content="noindex">"#));
        // The form the script fills, and the shop's way of writing prices for its total.
        assert!(cart.contains(r#"<form class="cart-checkout" method="post" action="/checkout" data-cart-form>"#));
        assert!(cart.contains(r#"data-price-pattern="€{amount}""#));
        assert!(cart.contains("The cart needs JavaScript"), "says what works without JavaScript");
        assert!(cart.contains(r#"<a class="cart-link" href="/cart/" aria-current="page">"#));
        assert!(!page(&site, "sitemap.xml").contains("/cart/"));
        // Every page loads the script, from a file the build writes (no inline script).
        let script = r#"<script src="/js/cart.js" defer></script>"#;
        assert!(page(&site, "index.html").contains(script) && cart.contains(script));
        assert_eq!(page(&site, "js/cart.js"), BUILTIN_CART_SCRIPT.1);
        for file in &site.files {
            if let OutputContents::Rendered(bytes) = &file.contents {
                let text = String::from_utf8_lossy(bytes);
                let data_blocks = text.matches(r#"<script type="application/ld+json">"#).count();
                let search_script = text.matches(r#"<script src="/js/search.js" defer></script>"#).count();
                assert_eq!(
                    text.matches("<script").count(),
                    text.matches(script).count() + data_blocks + search_script,
                    "{}",
                    file.path
                );
                assert!(!text.contains(" onclick="), "{}", file.path);
            }
        }
    }

    #[test]
    fn add_buttons_carry_the_slug_and_one_file_the_rest() {
        let (_, site) = small_shop();
        let alpha = r#"<button type="button" class="button button-cart" hidden data-cart-add data-slug="alpha">Add to cart</button>"#;
        // On the list pages (cards) and each clip's own page; hidden until
        // the script shows them. Beta sells through a Payment Link: no cart.
        for path in ["index.html", "clips/index.html", "tags/sea/index.html", "clips/alpha/index.html"] {
            let html = page(&site, path);
            assert!(html.contains(alpha), "{path} lacks {alpha}");
            assert!(!html.contains(r#"data-slug="beta""#), "{path}: a Payment Link clip has no cart button");
            assert!(!html.contains("data-price-cents"), "{path}: the price is in /cart/clips.json");
        }
        // What the cart shows and stores of each clip it can take, once for the shop.
        let clips: Value = serde_json::from_str(page(&site, "cart/clips.json")).unwrap();
        assert_eq!(
            clips,
            json!({"alpha": {"title": "Alpha <Sunrise>", "price_cents": 1250, "price_display": "€12.50", "url": "/clips/alpha/"}})
        );
        assert!(!page(&site, "sitemap.xml").contains("clips.json"));
        assert_eq!(
            site.pages,
            site.files.iter().filter(|f| f.path.ends_with(".html") || f.path.ends_with(".xml")).count() - 1
        );
    }

    fn variant_shop() -> (Shop, RenderedSite) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variant-shop");
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        let shop = crate::content::load(&root, &crate::content::LoadOptions { drafts: false, now }).unwrap();
        let tera = templates::load(&root).unwrap();
        let site = render(&shop, &tera).unwrap();
        (shop, site)
    }

    /// The (item, shown price) of each radio of a clip page's choice.
    fn radios(html: &str) -> Vec<(String, String)> {
        html.split(r#"<input type="radio" name="clip" value=""#)
            .skip(1)
            .map(|rest| {
                let item = rest.split('"').next().unwrap().to_string();
                let label = rest.split("</label>").next().unwrap();
                let price = label.rsplit("</span>").next().unwrap().to_string();
                (item, price)
            })
            .collect()
    }

    #[test]
    fn a_clip_page_offers_each_file_under_each_licence_at_the_checkout_price() {
        let (shop, site) = variant_shop();
        let m = manifest(&shop);
        let html = page(&site, "clips/harbour/index.html");
        let shown = radios(html);
        let items: Vec<&str> = shown.iter().map(|(item, _)| item.as_str()).collect();
        assert_eq!(
            items,
            [
                "harbour",
                "harbour::extended",
                "harbour:hd",
                "harbour:hd:extended",
                "harbour:web",
                "harbour:web:extended"
            ]
        );
        for (item, price) in &shown {
            let resolved = m.resolve(&clipstore_core::Item::parse(item).unwrap()).unwrap();
            assert_eq!(*price, crate::offers::from_minor_units(resolved.price, "EUR").display("EUR"), "{item}");
        }
        assert_eq!(shown[5].1, "€33.75", "9.50 × 2.5 + 10.00");
        assert!(html.contains(r#"value="harbour" checked>"#), "the plain item is the default");
        for part in [
            r#"<form class="buy-form buy-choice" method="post" action="/checkout" data-cart-choice>"#,
            "<legend>Choose a file and a licence</legend>",
            r#"<a href="/licence-extended/">Extended licence</a> <span class="choice-effect">2.5 × the file&#x27;s price + €10.00</span>"#,
            r#"<th scope="row">HD <span class="choice-effect">1920×1080 · 250 MB</span></th>"#,
            r#"<span class="visually-hidden">720p, Extended licence: </span>€33.75</label>"#,
            r#"<button type="button" class="button button-cart" hidden data-cart-add data-slug="harbour">Add to cart</button>"#,
            r#"<strong class="price">from €9.50</strong>"#,
            // The facts are the main file's, and say so.
            "<dt>Resolution of the main file</dt>",
            "<dt>Main file</dt>",
        ] {
            assert!(html.contains(part), "lacks {part}\n{html}");
        }
        assert!(!html.contains(r#"type="hidden" name="clip""#), "the radios are the clip field");
        // One file, two licences: a choice of licence only.
        let quay = page(&site, "clips/quay/index.html");
        assert!(quay.contains("<legend>Choose a licence</legend>"), "{quay}");
        assert!(quay.contains("<dt>Resolution</dt>") && quay.contains("<dt>File</dt>"), "one file: {quay}");
        assert_eq!(radios(quay), [("quay".into(), "€12.50".into()), ("quay::extended".into(), "€41.25".into())]);
        // The cards: the price of what the add button buys, and with
        // several files, how many and the lowest.
        let list = page(&site, "clips/index.html");
        assert!(list.contains(r#"<strong class="price">€48.00</strong> · 3 files, from €9.50"#), "{list}");
        assert!(list.contains(r#"<strong class="price">€12.50</strong>"#), "{list}");
    }

    #[test]
    fn the_product_has_an_offer_per_file() {
        let (_, site) = variant_shop();
        let json_ld = |path: &str| -> Value {
            let html = page(&site, path);
            let start = html.find(r#"<script type="application/ld+json">"#).unwrap() + 35;
            serde_json::from_str(&html[start..start + html[start..].find("</script>").unwrap()]).unwrap()
        };
        let offers = json_ld("clips/harbour/index.html")["@graph"][1]["offers"].clone();
        let seen: Vec<(&str, &str, &str)> = offers
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["sku"].as_str().unwrap(), o["price"].as_str().unwrap(), o["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            seen,
            [
                ("harbour", "48.00", "Harbour (4K, Standard licence)"),
                ("harbour:hd", "24.00", "Harbour (HD, Standard licence)"),
                ("harbour:web", "9.50", "Harbour (720p, Standard licence)")
            ]
        );
        assert_eq!((offers[0]["priceCurrency"].as_str(), offers[0]["@type"].as_str()), (Some("EUR"), Some("Offer")));
        // One file: one Offer, as before.
        let quay = json_ld("clips/quay/index.html")["@graph"][1]["offers"].clone();
        assert_eq!((quay["@type"].as_str(), quay["price"].as_str()), (Some("Offer"), Some("12.50")));
    }

    #[test]
    fn the_carts_list_prices_every_item_as_the_checkout_does() {
        let (shop, site) = variant_shop();
        let m = manifest(&shop);
        let clips: Value = serde_json::from_str(page(&site, "cart/clips.json")).unwrap();
        let harbour = &clips["harbour"];
        assert_eq!((harbour["title"].as_str(), harbour["price_cents"].as_u64()), (Some("Harbour"), Some(4800)));
        let items = harbour["items"].as_object().unwrap();
        assert_eq!(items.len(), 6);
        for (rest, line) in items {
            let resolved = m.resolve(&clipstore_core::Item::parse(&format!("harbour{rest}")).unwrap()).unwrap();
            assert_eq!(line[0].as_u64(), Some(resolved.price), "{rest}");
            assert_eq!(
                line[1].as_str().unwrap(),
                crate::offers::from_minor_units(resolved.price, "EUR").display("EUR")
            );
            assert_eq!(format!("Harbour{}", line[2].as_str().unwrap()), resolved.description, "{rest}");
        }
        assert_eq!(items[":web:extended"], json!([3375, "€33.75", " (720p, Extended licence)"]));
        assert_eq!(clips["quay"]["items"][""], json!([1250, "€12.50", " (Standard licence)"]));
    }

    #[test]
    fn a_plain_clip_has_no_choice() {
        let (shop, site) = small_shop();
        for path in ["clips/alpha/index.html", "clips/beta/index.html"] {
            let html = page(&site, path);
            assert!(!html.contains("data-cart-choice") && !html.contains("choice-table"), "{path}");
            assert!(!html.contains(">from "), "{path}");
        }
        let alpha = clip_value(&shop, &shop.clips[1]);
        assert_eq!((alpha["choice"].clone(), alpha["has_variants"].clone()), (Value::Null, json!(false)));
        assert_eq!(alpha["offer_price_display"], alpha["price_display"]);
        assert_eq!(alpha["lowest_price_display"], alpha["price_display"]);
    }

    #[test]
    fn the_buy_button_posts_the_clip_unless_it_has_a_payment_link() {
        let (_, site) = small_shop();
        let alpha = page(&site, "clips/alpha/index.html");
        let form = r#"<form class="buy-form" method="post" action="/checkout">
<input type="hidden" name="clip" value="alpha">
<button type="submit" class="button button-buy">Buy this clip</button>
</form>"#;
        assert!(alpha.contains(form), "{alpha}");
        assert!(!alpha.contains(r#"name="cart""#), "the Worker makes a key itself");
        // The e-mail stays, as the way to ask or to order by hand.
        assert!(alpha.contains(
            r#"<a href="mailto:hello@small.example?subject=Order%3A%20Alpha%20%3CSunrise%3E%20%28alpha%29">"#
        ));

        let beta = page(&site, "clips/beta/index.html");
        assert!(
            beta.contains(r#"<a class="button button-buy" href="https://buy.stripe.com/test_beta">Buy this clip</a>"#)
        );
        assert!(!beta.contains(r#"action="/checkout""#), "a Payment Link clip keeps its link");
    }

    #[test]
    fn clip_values_for_the_cart() {
        let (shop, _) = small_shop();
        let alpha = clip_value(&shop, &shop.clips[1]);
        assert_eq!(alpha["slug"], "alpha");
        assert_eq!((alpha["price"].as_str(), alpha["price_cents"].as_u64()), (Some("12.50"), Some(1250)));
        assert_eq!(alpha["buy_url"], alpha["order_email_url"], "buy_url keeps its old meaning without a link");
        let beta = clip_value(&shop, &shop.clips[0]);
        assert_eq!(beta["buy_url"], "https://buy.stripe.com/test_beta");
        let base = base_value(&shop);
        assert_eq!(
            (base["site"]["cart_url"].as_str(), base["site"]["checkout_url"].as_str()),
            (Some("/cart/"), Some("/checkout"))
        );
        assert_eq!(base["site"]["price_pattern"], "€{amount}");
    }

    /// A clip with variants sold through a Payment Link sells what its link
    /// sells, at the price its page shows: no "from", one offer in its
    /// structured data; its sharing tags get full addresses, also for a
    /// poster on another host.
    #[test]
    fn a_payment_link_clip_is_one_offer_and_its_poster_a_full_address() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variant-shop");
        let mut shop = crate::load_shop(&root).unwrap();
        let i = shop.clips.iter().position(|c| !c.variants.is_empty()).unwrap();
        let with_choice = clip_value(&shop, &shop.clips[i]);
        assert_eq!(with_choice["has_variants"], true);
        assert!(crate::structured_data::clip(&shop, &shop.clips[i]).contains("\"sku\""));
        shop.clips[i].stripe_payment_link = Some("https://buy.stripe.com/test_x".into());
        shop.clips[i].poster = "https://cdn.example/p.jpg".into();
        let clip = &shop.clips[i];
        let v = clip_value(&shop, clip);
        let shown = clip.price.display(&shop.config.currency);
        assert_eq!(
            (&v["has_variants"], &v["lowest_price_display"], &v["offer_price_display"]),
            (&json!(false), &json!(shown), &json!(shown))
        );
        let ld = crate::structured_data::clip(&shop, clip);
        assert!(
            !ld.contains("\"sku\":\"harbour:") && ld.contains(&format!("\"price\":\"{}\"", clip.price.amount())),
            "{ld}"
        );
        assert_eq!(v["poster_url"], "https://cdn.example/p.jpg");
        let quay = shop.clips.iter().find(|c| c.variants.is_empty()).unwrap();
        assert_eq!(
            clip_value(&shop, quay)["poster_url"],
            format!("{}/posters/gamma.jpg", shop.config.base_url.trim_end_matches('/'))
        );
    }

    /// A copy of the small fixture shop in a temporary folder.
    fn small_shop_copy() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
        for e in walkdir::WalkDir::new(&fixture) {
            let e = e.unwrap();
            let dest = root.join(e.path().strip_prefix(&fixture).unwrap());
            if e.file_type().is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
            } else {
                std::fs::copy(e.path(), &dest).unwrap();
            }
        }
        tmp
    }

    /// With the built-in list templates, lists carry only each item's card,
    /// rendered once: every page comes out byte for byte as with every
    /// field of every item (what a shop's own list templates get).
    #[test]
    fn built_in_lists_get_only_cards_and_render_the_same() {
        let (shop, site) = small_shop();
        let tera = templates::load(&shop.root).unwrap();
        let mut prepared = prepare(&shop, &tera);
        assert!(prepared.lists_use_only_cards);
        prepared.lists_use_only_cards = false;
        let jobs = plan(&prepared);
        assert!(jobs.iter().any(|j| matches!(j, Job::Tag { .. })) && jobs.contains(&Job::Home));
        for job in jobs {
            let (path, bytes) = prepared.render_job(job).unwrap();
            assert_eq!(page(&site, &path), std::str::from_utf8(&bytes).unwrap(), "{path}");
        }
        // Each card is rendered once, and shows on every list that has its item.
        let card = prepared.clip_card_html[1].get().unwrap().as_ref().unwrap();
        assert!(card.starts_with(r#"<article class="clip-card">"#) && card.contains("Alpha &lt;Sunrise&gt;"), "{card}");
        for path in ["index.html", "clips/index.html", "tags/sea/index.html"] {
            assert!(page(&site, path).contains(card.as_str()), "{path}");
        }
    }

    /// A shop without templates of its own gets the built-in ones made for
    /// its site (values written in, the footer rendered once): every page
    /// and the sitemap come out byte for byte as with the templates as loaded,
    /// also when a site value needs escaping or holds a brace (left to Tera).
    #[test]
    fn built_in_templates_made_for_the_site_render_the_same() {
        let tmp = small_shop_copy();
        let root = tmp.path();
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        for title in ["Small Shop", "Tom's <Small> & \"Shop\"", "The {{ shop }} {% raw %}", "a {% endraw %} b"] {
            let config = std::fs::read_to_string(root.join("content/site.toml")).unwrap();
            let config: String = config
                .lines()
                .map(|l| if l.starts_with("title = ") { format!("title = {title:?}\n") } else { format!("{l}\n") })
                .collect();
            std::fs::write(root.join("content/site.toml"), config).unwrap();
            let shop = crate::content::load(root, &crate::content::LoadOptions { drafts: false, now }).unwrap();
            assert_eq!(shop.config.title, title);
            let tera = templates::load(root).unwrap();
            let made = prepare(&shop, &tera);
            assert!(matches!(made.tera, Cow::Owned(_)), "no templates of its own");
            let loaded = Prepared { tera: Cow::Borrowed(&tera), ..prepare(&shop, &tera) };
            let jobs = plan(&made);
            assert!(jobs.iter().any(|j| matches!(j, Job::Page(_))), "the menu has a page");
            for job in jobs {
                let (path, bytes) = made.render_job(job).unwrap();
                assert_eq!(bytes, loaded.render_job(job).unwrap().1, "{path} with title {title}");
            }
            let paths = || plan(&made).into_iter().map(|job| file_for_url(&made.job_url(job)));
            let sitemap = |p: &Prepared| match p.sitemap(paths()).unwrap().contents {
                OutputContents::Rendered(bytes) => bytes,
                OutputContents::Copy(_) | OutputContents::Kept(..) => unreachable!(),
            };
            assert_eq!(sitemap(&made), sitemap(&loaded));
        }
        std::fs::create_dir_all(root.join("templates")).unwrap();
        std::fs::write(root.join("templates/page.html"), "{% extends \"base.html\" %}").unwrap();
        let shop = crate::content::load(root, &crate::content::LoadOptions { drafts: false, now }).unwrap();
        let tera = templates::load(root).unwrap();
        assert!(matches!(prepare(&shop, &tera).tera, Cow::Borrowed(_)), "a template of its own");
    }

    /// A shop's own card partial is what the lists show, and a shop's own
    /// list template gets every field of its items besides `card`.
    #[test]
    fn own_card_and_list_templates() {
        let tmp = small_shop_copy();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("templates/partials")).unwrap();
        std::fs::write(
            root.join("templates/partials/clip_card.html"),
            "<p class=\"mine\">{{ clip.title }} for {{ clip.price_display }} at {{ site.title }}</p>\n",
        )
        .unwrap();
        std::fs::write(
            root.join("templates/news.html"),
            "{% extends \"base.html\" %}{% block content %}{% for post in posts %}<i>{{ post.title }}, {{ post.date_display }}</i>{{ post.card | safe }}{% endfor %}{% endblock content %}",
        )
        .unwrap();
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        let shop = crate::content::load(root, &crate::content::LoadOptions { drafts: false, now }).unwrap();
        let tera = templates::load(root).unwrap();
        assert!(!prepare(&shop, &tera).lists_use_only_cards);
        let site = render(&shop, &tera).unwrap();
        let mine = r#"<p class="mine">Alpha &lt;Sunrise&gt; for €12.50 at Small Shop</p>"#;
        for path in ["index.html", "clips/index.html", "tags/sea/index.html"] {
            assert!(page(&site, path).contains(mine), "{path}: {}", page(&site, path));
        }
        let news = page(&site, "news/index.html");
        assert!(news.contains(r#"<i>Second &amp; final, 5 February 2026</i><article class="post-card">"#), "{news}");
    }

    #[test]
    fn a_shop_with_its_own_cart_script_keeps_it() {
        let tmp = small_shop_copy();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("static/js")).unwrap();
        std::fs::write(root.join("static/js/cart.js"), "// mine\n").unwrap();
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        let shop = crate::content::load(root, &crate::content::LoadOptions { drafts: false, now }).unwrap();
        let site = render(&shop, &templates::load(root).unwrap()).unwrap();
        let scripts: Vec<_> = site.files.iter().filter(|f| f.path == "js/cart.js").collect();
        assert_eq!(scripts.len(), 1);
        assert!(matches!(&scripts[0].contents, OutputContents::Copy(p) if p.ends_with("static/js/cart.js")));
    }

    #[test]
    fn slices_of_pages() {
        let items: Vec<u32> = (0..25).collect();
        assert_eq!(page_slice(&items, 3, 10), &[20, 21, 22, 23, 24]);
        assert!(page_slice(&items, 4, 10).is_empty());
    }
}
