//! Incremental rebuilds, for `site-gen serve`: after some files change,
//! reload only those into the [`Shop`], re-render only the pages whose
//! inputs changed, and write only the files whose bytes changed.
//!
//! How it decides: every item (clip, post, page) carries a version, a number
//! never reused, that changes whenever its file is reloaded. Every output
//! page has a fingerprint of its inputs (`Prepared::fingerprint` in
//! `render.rs`: the versions of the items it shows, its slice of a list, the
//! list's length, the tag's counts, plus one "global" value standing for the
//! templates, the site settings and the menu). A page is re-rendered when its
//! fingerprint differs from the one it was last written with, so the
//! dependencies are not a separate graph that could drift from what a page
//! really reads. Changes to `content/site.toml`, `static/` or a folder
//! appearing reload everything (still writing only what changed); a template
//! change re-renders every page.
//!
//! The result must equal a clean [`crate::build`] of the same content byte for
//! byte, deletions included; `tests/incremental.rs` checks that over a
//! sequence of edits. What this is not: a second pipeline. Loading, rendering,
//! link checking and writing are the same functions the full build uses, and
//! nothing is written unless all of them succeeded (the previous output
//! stays as it was).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use tera::Tera;

use crate::content::checks;
use crate::content::load::{self, ContentItem, ContentKind, LoadOptions};
use crate::content::Shop;
use crate::diagnostics::{display_path, Diagnostic, Diagnostics};
use crate::kept_pages::KeptPages;
use crate::links::{self, SiteFiles};
use crate::output::{self, OutputError};
use crate::render::{self, file_for_url, ItemVersions, JobResult, OutputContents, OutputFile, Prepared};
use crate::{search, templates};

/// What one rebuild did.
#[derive(Debug, Clone, Default)]
pub struct RebuildReport {
    /// Pages rendered (the others were known to be unchanged).
    pub rendered: usize,
    /// Of those known to be unchanged, the pages a full rebuild took from
    /// what a build or an earlier `serve` left in the folder
    /// (`crate::kept_pages`).
    pub kept: usize,
    /// Files written because their bytes changed (pages and static files).
    pub written: usize,
    /// Files deleted because the site no longer has them.
    pub deleted: usize,
    /// Whether the whole shop was reloaded.
    pub full: bool,
    pub elapsed: Duration,
    /// What `build` would warn of (each as a diagnostic): the published
    /// items', placeholders on the site, and clips gone from the last
    /// build's catalog. `serve` shows them; they do not stop it.
    pub warnings: Vec<Diagnostic>,
    /// What `build` lists as left out (a draft, or dated later: a slip in
    /// a year), a line each, sorted.
    pub left_out: Vec<String>,
}

/// The loaded shop with what rendering it needs, kept between rebuilds.
struct Loaded {
    shop: Shop,
    /// The source file of each entry of `shop.hidden`.
    hidden_sources: Vec<PathBuf>,
    tera: Tera,
    /// What the templates stand for in the pages' fingerprints across builds.
    templates: templates::TemplatesDigest,
    /// `render::clip_value` / `render::post_card` of each item, in the shop's order.
    clip_cards: Vec<render::Card>,
    post_cards: Vec<render::Card>,
    versions: ItemVersions,
}

/// A site kept up to date in an output folder.
pub struct Incremental {
    root: PathBuf,
    out: PathBuf,
    options: LoadOptions,
    loaded: Option<Loaded>,
    /// Reload the shop and templates in full on the next rebuild.
    reload_all: bool,
    /// Reload the templates on the next rebuild.
    reload_templates: bool,
    /// Content files (relative to the root) changed since the last
    /// successful rebuild and not yet applied to the shop.
    pending: BTreeSet<PathBuf>,
    /// The shop was reloaded in full and `out` not yet fully brought in line with it.
    resync: bool,
    /// Bumped whenever the templates or the whole shop are reloaded.
    generation: u64,
    next_version: u64,
    /// The pages in `out` (in the plan's order), and the fingerprints they
    /// were rendered from.
    paths: Vec<String>,
    fps: Vec<u64>,
    sitemap: Option<u64>,
    /// Every address of the last good build, for link checks.
    site_files: Option<SiteFiles>,
    /// The last link check failed: check every link next time.
    recheck_links: bool,
    /// Content files (display paths) reloaded since the last good build.
    applied: Vec<PathBuf>,
    /// The other files in `out` (static files, stylesheet, robots.txt, sitemap, markers).
    others: HashSet<String>,
    /// The search index's files in `out`, and the fingerprint of what they
    /// were made from (the clips' versions, the currency and the language).
    search_paths: HashSet<String>,
    search_fp: Option<u64>,
    /// `out`'s list of the site's files ([`output::BUILD_FILES`]) as the
    /// last rebuild left it. When `out` holds another list, something else
    /// wrote the folder meanwhile: a `site-gen build --out` into it swapped
    /// in its own build (without the drafts a `serve --drafts` shows, say),
    /// and what this site knows of `out` no longer holds.
    listed: Option<Vec<u8>>,
    /// The static files the last good rebuild left out with their clips
    /// ([`Shop::withheld_static`]): when that changes, the static files are
    /// brought in line again.
    withheld: Option<HashSet<String>>,
    /// The clips gone from the last build's catalog, and the clips'
    /// versions that was found for (made again only when a clip changed).
    gone: Option<(Vec<u64>, Vec<crate::removed::Removed>)>,
    /// Each published item's own warnings ([`load::item_warnings`]), by the
    /// file they name: asked again of the files a rebuild reloaded only.
    item_warnings: BTreeMap<PathBuf, Vec<Diagnostic>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("{0}")]
    Content(Diagnostics),
    #[error("could not write the site: {0}")]
    Output(#[from] OutputError),
}

impl From<Diagnostics> for RebuildError {
    fn from(d: Diagnostics) -> Self {
        RebuildError::Content(d)
    }
}

/// What these items of `shop` are warned of: their own warnings and the
/// placeholders left in them, each naming its file.
fn item_and_placeholder_warnings(
    root: &Path,
    shop: &Shop,
    clips: &[crate::content::Clip],
    posts: &[crate::content::Post],
    pages: &[crate::content::Page],
) -> Vec<Diagnostic> {
    let mut warnings = load::item_warnings(root, &shop.config, clips, posts, pages);
    warnings.extend(crate::placeholders::published_in(root, clips, posts, pages));
    warnings
}

/// Warnings grouped by the file they name.
fn by_file(warnings: Vec<Diagnostic>) -> BTreeMap<PathBuf, Vec<Diagnostic>> {
    let mut by_file: BTreeMap<PathBuf, Vec<Diagnostic>> = BTreeMap::new();
    for w in warnings {
        by_file.entry(w.file.clone()).or_default().push(w);
    }
    by_file
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_path_buf(), source }
}

/// How a changed path affects the site.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Content(PathBuf),
    Templates,
    Everything,
    Nothing,
}

fn classify(rel: &Path) -> Change {
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
    match first.as_deref() {
        Some(templates::TEMPLATES_DIR) => Change::Templates,
        Some("static") => Change::Everything,
        Some("content") if rel == Path::new(crate::config::SITE_CONFIG) || rel == Path::new("content") => {
            Change::Everything
        }
        Some("content") => match load::content_kind(rel) {
            Some(_) => Change::Content(rel.to_path_buf()),
            // What editors leave beside files: nothing to read.
            None if load::is_hidden(rel) => Change::Nothing,
            // A content folder itself (created, removed or renamed), or a
            // file no build reads (`x.md.txt`): a full load names it.
            None => Change::Everything,
        },
        _ => Change::Nothing,
    }
}

impl Incremental {
    /// A site for the shop at `root`, kept in `out` (which must be empty,
    /// missing, or an earlier build). Nothing happens until [`Self::rebuild`].
    pub fn new(root: &Path, out: &Path, options: LoadOptions) -> Self {
        Incremental {
            root: root.to_path_buf(),
            out: out.to_path_buf(),
            options,
            loaded: None,
            reload_all: true,
            reload_templates: false,
            pending: BTreeSet::new(),
            resync: true,
            generation: 0,
            next_version: 0,
            paths: Vec::new(),
            fps: Vec::new(),
            sitemap: None,
            site_files: None,
            recheck_links: true,
            applied: Vec::new(),
            others: HashSet::new(),
            search_paths: HashSet::new(),
            search_fp: None,
            listed: None,
            withheld: None,
            gone: None,
            item_warnings: BTreeMap::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Records that the files at `paths` (absolute, or relative to the
    /// shop's root) changed, were created, deleted or renamed. Returns
    /// whether any of them matters to the site.
    pub fn note_changes<'p>(&mut self, paths: impl IntoIterator<Item = &'p Path>) -> bool {
        let mut relevant = false;
        for path in paths {
            let rel = path.strip_prefix(&self.root).unwrap_or(path);
            if rel.is_absolute() {
                continue;
            }
            match classify(rel) {
                Change::Content(rel) => {
                    self.pending.insert(rel);
                }
                Change::Templates => self.reload_templates = true,
                Change::Everything => self.reload_all = true,
                Change::Nothing => continue,
            }
            relevant = true;
        }
        relevant
    }

    /// Notes that changes were lost (the watcher's queue overflowed, as a
    /// `git pull` or a bulk edit can make it): everything is loaded again.
    pub fn note_everything(&mut self) {
        self.reload_all = true;
    }

    /// Moves the time that decides what is published (dated items) to
    /// `now`. When an item left out as dated later is due (or on a new day,
    /// UTC), everything is loaded again: a post dated today, or today at
    /// 18:00, hidden as "in the future" when `serve` started, appears with
    /// the next rebuild after.
    pub fn set_now(&mut self, now: DateTime<Utc>) {
        let due = self.loaded.as_ref().and_then(|l| l.shop.next_publish).is_some_and(|at| at <= now);
        if due || now.date_naive() != self.options.now.date_naive() {
            self.reload_all = true;
        }
        self.options.now = now;
    }

    /// Brings `out` up to date with everything noted so far. On error nothing
    /// is written: `out` keeps the last good build, and the changes stay
    /// noted, to be retried with the next ones.
    pub fn rebuild(&mut self) -> Result<RebuildReport, RebuildError> {
        let started = Instant::now();
        output::check_ours(&self.out)?;
        if self.listed.is_some() && fs::read(self.out.join(output::BUILD_FILES)).ok() != self.listed {
            self.forget_out();
        }
        let full = self.reload_all || self.loaded.is_none();
        if full {
            self.load_all()?;
            self.resync = true;
        } else {
            if self.reload_templates {
                let (tera, digest) = templates::load_with_digest(&self.root)?;
                let loaded = self.loaded.as_mut().expect("loaded");
                (loaded.tera, loaded.templates) = (tera, digest);
                self.reload_templates = false;
                self.generation += 1;
            }
            self.apply_pending()?;
        }
        // A clip published or left out takes its poster and preview with it:
        // the static files are brought in line as when one of them changed.
        let withheld = self.loaded.as_ref().expect("loaded").shop.withheld_static();
        let resync = self.resync || self.withheld.as_ref() != Some(&withheld);
        let mut report = self.render_and_write(resync)?;
        self.withheld = Some(withheld);
        self.resync = false;
        report.full = resync;
        report.warnings = self.warnings();
        report.left_out = crate::left_out_lines(&self.loaded.as_ref().expect("loaded").shop);
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// What a build of the shop as loaded now would warn of (in another
    /// order: by file, then the shop's).
    fn warnings(&mut self) -> Vec<Diagnostic> {
        let l = self.loaded.as_ref().expect("loaded");
        let shop = &l.shop;
        let mut warnings: Vec<Diagnostic> = self.item_warnings.values().flatten().cloned().collect();
        warnings.extend(checks::shared_payment_links(&self.root, &shop.clips));
        warnings.extend(shop.warnings[shop.warnings.len() - shop.static_warnings..].iter().cloned());
        // A preview with drafts is not the catalog a build writes.
        if !self.options.drafts {
            if self.gone.as_ref().is_none_or(|(versions, _)| *versions != l.versions.clips) {
                let catalog = render::manifest(&l.shop);
                let manifest = self.root.join(crate::DEFAULT_MANIFEST);
                let memory = crate::removed::memory(&self.root, &manifest);
                let now = self.options.now.timestamp();
                let gone = crate::removed::not_in(memory.as_deref(), &manifest, &l.shop, &catalog, now);
                self.gone = Some((l.versions.clips.clone(), gone));
            }
            let gone = self.gone.as_ref().map(|(_, gone)| gone.as_slice()).unwrap_or_default();
            warnings.extend(crate::removed::warning(gone).map(|text| Diagnostic::new(crate::DEFAULT_MANIFEST, text)));
        }
        warnings
    }

    /// Forgets what `out` holds, so the next rebuild writes every file of
    /// the site where its bytes differ, deletes the rest, and lists them
    /// all: else the pages a build left out (drafts) would stay missing, and
    /// those rewritten later would be missing from the build's list, for the
    /// next build to name as put into `out` by hand.
    fn forget_out(&mut self) {
        self.paths.clear();
        self.fps.clear();
        self.sitemap = None;
        self.search_fp = None;
        self.listed = None;
        self.resync = true;
    }

    /// Loads the whole shop and the templates.
    fn load_all(&mut self) -> Result<(), Diagnostics> {
        let root = &self.root;
        let (shop, tera) =
            rayon::join(|| load::load_tracked(root, &self.options), || templates::load_with_digest(root));
        let ((shop, hidden_sources), (tera, templates)) = match (shop, tera) {
            (Ok(shop), Ok(tera)) => (shop, tera),
            (shop, tera) => {
                let mut errors = Diagnostics::default();
                errors.extend(shop.err().into_iter().flat_map(|d| d.0));
                errors.extend(tera.err().into_iter().flat_map(|d| d.0));
                self.loaded = None;
                return Err(errors);
            }
        };
        let clip_cards = shop.clips.par_iter().map(|c| Arc::new(render::clip_value(&shop, c))).collect();
        let post_cards = shop.posts.par_iter().map(|p| Arc::new(render::post_card(p))).collect();
        let mut versions = ItemVersions::default();
        for (list, n) in [
            (&mut versions.clips, shop.clips.len()),
            (&mut versions.posts, shop.posts.len()),
            (&mut versions.pages, shop.pages.len()),
        ] {
            list.extend((0..n).map(|i| self.next_version + 1 + i as u64));
            self.next_version += n as u64;
        }
        self.item_warnings = by_file(item_and_placeholder_warnings(root, &shop, &shop.clips, &shop.posts, &shop.pages));
        self.loaded = Some(Loaded { shop, hidden_sources, tera, templates, clip_cards, post_cards, versions });
        self.generation += 1;
        self.reload_all = false;
        self.reload_templates = false;
        self.pending.clear();
        Ok(())
    }

    /// Reloads every pending content file into the shop. Files that fail stay pending.
    fn apply_pending(&mut self) -> Result<(), Diagnostics> {
        let pending = std::mem::take(&mut self.pending);
        let pending_clips = pending.iter().any(|rel| load::content_kind(rel) == Some(ContentKind::Clip));
        let root = self.root.clone();
        let l = self.loaded.as_mut().expect("loaded");
        // Everything the changed files held goes first, so a file may take
        // an address another changed file gave up (a rename, a slug change).
        for rel in &pending {
            let kind = load::content_kind(rel).expect("only content files are pending");
            let source = display_path(&root, &root.join(rel));
            l.remove(kind, &source);
            self.applied.push(source);
        }
        let mut errors = Diagnostics::default();
        for rel in pending {
            let kind = load::content_kind(&rel).expect("only content files are pending");
            let abs = root.join(&rel);
            if !abs.exists() {
                continue;
            }
            self.next_version += 1;
            let result =
                load::load_file(&root, &abs, kind).and_then(|item| l.insert(item, self.next_version, &self.options));
            if let Err(e) = result {
                errors.extend(e);
                self.pending.insert(rel);
            }
        }
        if pending_clips {
            l.shop.hidden_media = l.hidden_clips().iter().flat_map(|c| c.media().map(str::to_string)).collect();
        }
        // What a full load checks across the shop: a licence's terms page
        // renamed or deleted leaves its links dead.
        if errors.is_empty() {
            errors.extend(checks::missing_licence_pages(&l.shop.config, &l.shop.pages, &l.shop.static_files));
        }
        if errors.is_empty() {
            // The warnings of the files reloaded, asked again (the static
            // files' stay until a full load: a change under static/ is one).
            let changed: HashSet<PathBuf> = self.applied.iter().cloned().collect();
            self.item_warnings.retain(|file, _| !changed.contains(file));
            let shop = &l.shop;
            let of = |source: &PathBuf| changed.contains(&display_path(&root, &root.join(source)));
            let clips: Vec<_> = shop.clips.iter().filter(|c| of(&c.source)).cloned().collect();
            let posts: Vec<_> = shop.posts.iter().filter(|p| of(&p.source)).cloned().collect();
            let pages: Vec<_> = shop.pages.iter().filter(|p| of(&p.source)).cloned().collect();
            self.item_warnings.extend(by_file(item_and_placeholder_warnings(&root, shop, &clips, &posts, &pages)));
            Ok(())
        } else {
            errors.sort();
            Err(errors)
        }
    }

    /// Renders the pages whose fingerprint changed, checks links, and writes.
    /// `full`: also bring the static files and the rest in line, and delete
    /// whatever else `out` holds.
    fn render_and_write(&mut self, full: bool) -> Result<RebuildReport, RebuildError> {
        let l = self.loaded.as_mut().expect("loaded");
        let shop = &l.shop;
        let prepared =
            Prepared::new(shop, &l.tera, std::mem::take(&mut l.clip_cards), std::mem::take(&mut l.post_cards));
        let global = {
            let mut h = std::hash::DefaultHasher::new();
            (self.generation, prepared.base.to_string(), shop.config.items_per_page).hash(&mut h);
            h.finish()
        };
        let jobs = render::plan(&prepared);
        let (paths, fps): (Vec<String>, Vec<u64>) = jobs
            .par_iter()
            .map(|&job| (file_for_url(&prepared.job_url(job)), prepared.fingerprint(job, global, &l.versions)))
            .unzip();
        // Usually no address changed and pages compare by position; otherwise by path.
        let same_paths = !full && paths == self.paths;
        let todo: Vec<usize> = if same_paths {
            (0..jobs.len()).filter(|&i| fps[i] != self.fps[i]).collect()
        } else {
            let old: HashMap<&str, u64> = self.paths.iter().map(String::as_str).zip(self.fps.iter().copied()).collect();
            (0..jobs.len()).filter(|&i| old.get(paths[i].as_str()) != Some(&fps[i])).collect()
        };
        // The search index is a function of the clips alone: made again
        // (beside the pages) whenever one changed, then written where its bytes differ.
        let search_fp = {
            let mut h = std::hash::DefaultHasher::new();
            (&shop.config.currency, &shop.config.language, &l.versions.clips).hash(&mut h);
            h.finish()
        };
        let reindex = full || self.search_fp != Some(search_fp);
        // A full rebuild (serve's first, mostly) takes from `out` the pages
        // made there from the same inputs, by a build or an earlier `serve`
        // (`crate::kept_pages`): they are in `out` already.
        let kept = l.templates.filter(|_| full).map(|digest| KeptPages::open(&self.root, Some(&self.out), digest));
        let inputs = kept.as_ref().map(|kept| prepared.kept_inputs(kept));
        let (results, search): (Vec<Option<JobResult>>, _) = rayon::join(
            || {
                todo.par_iter()
                    .map(|&i| match prepared.kept_or_rendered(jobs[i], inputs.as_ref()) {
                        Ok(OutputFile { contents: OutputContents::Kept(..), .. }) => None,
                        Ok(OutputFile { path, contents: OutputContents::Rendered(bytes) }) => Some(Ok((path, bytes))),
                        Ok(OutputFile { contents: OutputContents::Copy(_), .. }) => unreachable!("pages are rendered"),
                        Err(e) => Some(Err(e)),
                    })
                    .collect()
            },
            || reindex.then(|| search::cached(&shop.root, shop)),
        );
        // The items' hashes go now; `kept` is saved once all is written.
        drop(inputs);
        let rendered_count = results.iter().flatten().count();
        let results: Vec<JobResult> = results.into_iter().flatten().collect();
        let sitemap_fp = prepared.sitemap_fingerprint(global);
        let sitemap = (full || self.sitemap != Some(sitemap_fp)).then(|| prepared.sitemap(paths.iter().cloned()));
        // The cards go back before any error returns: the next rebuild
        // (after the owner's fix) renders with them.
        let (clip_cards, post_cards) = prepared.into_cards();
        l.clip_cards = clip_cards;
        l.post_cards = post_cards;
        let shop = &l.shop;
        let search = search.transpose().map_err(|e| Diagnostics(vec![Diagnostic::new(&shop.root, e.to_string())]))?;

        let mut rendered: Vec<(String, Vec<u8>)> = render::collect_pages(shop, results)?
            .map(|f| match f.contents {
                OutputContents::Rendered(bytes) => (f.path, bytes),
                OutputContents::Copy(_) | OutputContents::Kept(..) => unreachable!("pages are rendered"),
            })
            .collect();
        if let Some(sitemap) = sitemap {
            match sitemap {
                Ok(f) => match f.contents {
                    OutputContents::Rendered(bytes) => rendered.push((f.path, bytes)),
                    OutputContents::Copy(_) | OutputContents::Kept(..) => unreachable!("the sitemap is rendered"),
                },
                Err(message) => {
                    return Err(Diagnostics(vec![Diagnostic::new(
                        templates::shown_name(&shop.root, "sitemap.xml"),
                        format!("cannot render template: {message}"),
                    )])
                    .into())
                }
            }
        }

        // The other files, as the full build makes them (render::render); they
        // change only with a full reload, and can clash with pages only when
        // an address changed.
        let others = if full || !same_paths { Some(other_files(shop, &paths)?) } else { None };
        // Kept only once this build succeeds: it must match `self.paths`.
        let new_site_files = others.as_ref().map(|others| {
            SiteFiles::from_paths(paths.iter().cloned().chain(others.iter().map(|(p, _)| p.clone())).collect())
        });
        let site_files =
            new_site_files.as_ref().or(self.site_files.as_ref()).expect("site files known after a full rebuild");
        // Links can only break where files changed, unless an address changed
        // (or the last check failed): then every link is checked again.
        let mut errors = if same_paths && !self.recheck_links {
            let applied: HashSet<&Path> = self.applied.iter().map(PathBuf::as_path).collect();
            links::check_links_of(shop, site_files, &shop.hidden, |source| applied.contains(source))
        } else {
            links::check_content_links(shop, site_files, &shop.hidden)
        };
        if !errors.is_empty() {
            self.recheck_links = true;
            errors.sort();
            return Err(errors.into());
        }

        // Everything succeeded: write.
        let kept_count = kept.as_ref().map_or(0, KeptPages::kept);
        let mut report = RebuildReport { rendered: rendered_count, kept: kept_count, ..Default::default() };
        fs::create_dir_all(&self.out).map_err(io_error(&self.out))?;
        let written: Vec<bool> = rendered
            .par_iter()
            .map(|(path, bytes)| write_if_changed(&self.out, path, bytes))
            .collect::<Result<_, _>>()?;
        report.written += written.iter().filter(|w| **w).count();
        if let Some(files) = &search {
            let written: Vec<bool> = files
                .par_iter()
                .map(|f| match &f.contents {
                    OutputContents::Rendered(bytes) => write_if_changed(&self.out, &f.path, bytes),
                    OutputContents::Copy(_) | OutputContents::Kept(..) => unreachable!("the index is made in memory"),
                })
                .collect::<Result<_, _>>()?;
            report.written += written.iter().filter(|w| **w).count();
            let paths: HashSet<String> = files.iter().map(|f| f.path.clone()).collect();
            // An index file named after contents that are gone (the others stay:
            // in a full rebuild, the walk below removes what nothing claims).
            for path in self.search_paths.iter().filter(|p| !paths.contains(*p)) {
                remove_file_and_empty_parents(&self.out, path)?;
                report.deleted += 1;
            }
            self.search_paths = paths;
            self.search_fp = Some(search_fp);
        }
        if full {
            let others = others.expect("computed on a full rebuild");
            let markers = output::marker_files();
            let marker_files =
                markers.iter().map(|(p, c)| (p.to_string(), OutputContents::Rendered(c.as_bytes().to_vec())));
            let all: Vec<(String, OutputContents)> =
                others.into_iter().filter(|(p, _)| p != "sitemap.xml").chain(marker_files).collect();
            let written: Vec<bool> = all
                .par_iter()
                .map(|(path, contents)| match contents {
                    OutputContents::Rendered(bytes) | OutputContents::Kept(bytes, _) => {
                        write_if_changed(&self.out, path, bytes)
                    }
                    OutputContents::Copy(src) => {
                        let bytes = fs::read(src).map_err(io_error(src))?;
                        write_if_changed(&self.out, path, &bytes)
                    }
                })
                .collect::<Result<_, _>>()?;
            report.written += written.iter().filter(|w| **w).count();
            self.others = all.into_iter().map(|(p, _)| p).chain(["sitemap.xml".to_string()]).collect();
            // Whatever else the folder holds (an earlier run's pages) goes.
            let pages: HashSet<&str> = paths.iter().map(String::as_str).collect();
            let gone: Vec<String> = walkdir::WalkDir::new(&self.out)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .filter_map(|e| e.path().strip_prefix(&self.out).ok().map(|p| p.to_string_lossy().replace('\\', "/")))
                .filter(|p| {
                    !pages.contains(p.as_str())
                        && !self.others.contains(p)
                        && !self.search_paths.contains(p)
                        && p != output::BUILD_FILES
                })
                .collect();
            for path in &gone {
                remove_file_and_empty_parents(&self.out, path)?;
            }
            report.deleted += gone.len();
        } else if !same_paths {
            let pages: HashSet<&str> = paths.iter().map(String::as_str).collect();
            let gone: Vec<&String> =
                self.paths.iter().filter(|p| !pages.contains(p.as_str()) && !self.others.contains(*p)).collect();
            for path in &gone {
                remove_file_and_empty_parents(&self.out, path)?;
            }
            report.deleted += gone.len();
        }
        if full || !same_paths || search.is_some() {
            // The site's files, as a build lists them (`output::BUILD_FILES`).
            let listed = paths.iter().chain(&self.others).chain(&self.search_paths).map(String::as_str);
            let list = output::build_files_list(listed.chain([output::BUILD_FILES]));
            report.written += usize::from(write_if_changed(&self.out, output::BUILD_FILES, &list)?);
            self.listed = Some(list);
        }
        if new_site_files.is_some() {
            self.site_files = new_site_files;
        }
        self.paths = paths;
        self.fps = fps;
        self.sitemap = Some(sitemap_fp);
        self.recheck_links = false;
        self.applied.clear();
        if let Some(kept) = kept {
            kept.save();
        }
        Ok(report)
    }
}

/// The files of the site besides its pages, as the full build makes them
/// ([`render::other_files`]), and the sitemap's place (written after the
/// pages).
fn other_files(shop: &Shop, pages: &[String]) -> Result<Vec<(String, OutputContents)>, Diagnostics> {
    let page_paths: HashSet<&str> = pages.iter().map(String::as_str).collect();
    let files = render::other_files(shop, |path| page_paths.contains(path))?;
    let sitemap = ("sitemap.xml".to_string(), OutputContents::Rendered(Vec::new()));
    Ok(std::iter::once(sitemap).chain(files.into_iter().map(|f| (f.path, f.contents))).collect())
}

impl Loaded {
    /// Removes what the shop holds from `source` (a content file of `kind`).
    fn remove(&mut self, kind: ContentKind, source: &Path) {
        let shop = &mut self.shop;
        match kind {
            ContentKind::Clip => {
                if let Some(i) = shop.clips.iter().position(|c| c.source == source) {
                    shop.clips.remove(i);
                    self.clip_cards.remove(i);
                    self.versions.clips.remove(i);
                }
            }
            ContentKind::Post => {
                if let Some(i) = shop.posts.iter().position(|p| p.source == source) {
                    shop.posts.remove(i);
                    self.post_cards.remove(i);
                    self.versions.posts.remove(i);
                }
            }
            ContentKind::Page => {
                if let Some(i) = shop.pages.iter().position(|p| p.source == source) {
                    shop.pages.remove(i);
                    self.versions.pages.remove(i);
                }
            }
        }
        if let Some(i) = self.hidden_sources.iter().position(|s| s == source) {
            self.hidden_sources.remove(i);
            shop.hidden.remove(i);
        }
        shop.left_out.retain(|(s, _)| s != source);
    }

    /// Keeps the earliest date an item left out as dated later is due.
    fn note_dated_later(&mut self, draft: bool, date: DateTime<Utc>) {
        if !draft {
            self.shop.next_publish = Some(self.shop.next_publish.map_or(date, |at| at.min(date)));
        }
    }

    /// The hidden clips, read again from their files (few, and only when a
    /// clip changed).
    fn hidden_clips(&self) -> Vec<crate::content::Clip> {
        let root = &self.shop.root;
        self.hidden_sources
            .iter()
            .filter(|s| load::content_kind(s) == Some(ContentKind::Clip))
            .filter_map(|s| match load::load_file(root, &root.join(s), ContentKind::Clip) {
                Ok(ContentItem::Clip(clip)) => Some(clip),
                _ => None,
            })
            .collect()
    }

    /// The source of a hidden item at `url`, if any.
    fn hidden_at(&self, url: &str) -> Option<&Path> {
        self.shop.hidden.iter().position(|(u, _)| u == url).map(|i| self.hidden_sources[i].as_path())
    }

    /// Adds a freshly loaded item, checking what [`load::load`] checks across files.
    fn insert(&mut self, item: ContentItem, version: u64, options: &LoadOptions) -> Result<(), Vec<Diagnostic>> {
        // The duplicate is reported on the later file name, as a full load does.
        let root = self.shop.root.clone();
        let duplicate = |kind: &str, slug: &str, a: &Path, b: &Path| {
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            vec![load::duplicate_slug(&root, kind, slug, second, first)]
        };
        match item {
            ContentItem::Clip(clip) => {
                let other = self.shop.clips.iter().find(|c| c.slug == clip.slug).map(|c| c.source.as_path());
                if let Some(other) = other.or_else(|| self.hidden_at(&clip.url())) {
                    return Err(duplicate("clip", &clip.slug, &clip.source, other));
                }
                let prices = checks::unpayable_prices(&self.shop.root, std::slice::from_ref(&clip), &self.shop.config);
                if !prices.is_empty() {
                    return Err(prices.iter().cloned().collect());
                }
                // Hidden clips (drafts, dated later) count too, as in a full
                // load: they will be published one day.
                let hidden = self.hidden_clips();
                let shared = checks::shared_files(self.shop.clips.iter().chain(&hidden).chain([&clip]));
                if !shared.is_empty() {
                    return Err(shared);
                }
                if !load::is_visible(options, clip.draft, clip.date) {
                    self.note_dated_later(clip.draft, clip.date);
                    self.shop.left_out.push((clip.source.clone(), (!clip.draft).then_some(clip.date)));
                    self.shop.hidden.push((clip.url(), load::hidden_reason(clip.draft)));
                    self.hidden_sources.push(clip.source);
                    return Ok(());
                }
                let card = Arc::new(render::clip_value(&self.shop, &clip));
                let i = self.shop.clips.partition_point(|c| load::clip_order(c, &clip).is_lt());
                self.shop.clips.insert(i, clip);
                self.clip_cards.insert(i, card);
                self.versions.clips.insert(i, version);
            }
            ContentItem::Post(post) => {
                let other = self.shop.posts.iter().find(|p| p.slug == post.slug).map(|p| p.source.as_path());
                if let Some(other) = other.or_else(|| self.hidden_at(&post.url())) {
                    return Err(duplicate("news post", &post.slug, &post.source, other));
                }
                if !load::is_visible(options, post.draft, post.date) {
                    self.note_dated_later(post.draft, post.date);
                    self.shop.left_out.push((post.source.clone(), (!post.draft).then_some(post.date)));
                    self.shop.hidden.push((post.url(), load::hidden_reason(post.draft)));
                    self.hidden_sources.push(post.source);
                    return Ok(());
                }
                let card = Arc::new(render::post_card(&post));
                let i = self.shop.posts.partition_point(|p| load::post_order(p, &post).is_lt());
                self.shop.posts.insert(i, post);
                self.post_cards.insert(i, card);
                self.versions.posts.insert(i, version);
            }
            ContentItem::Page(page) => {
                if let Some(other) = self.shop.pages.iter().find(|p| p.slug == page.slug) {
                    return Err(duplicate("page", &page.slug, &page.source, &other.source));
                }
                if let Some(e) = load::reserved_page_slug(&root, &page) {
                    return Err(vec![e]);
                }
                let i = self.shop.pages.partition_point(|p| load::page_order(p, &page).is_lt());
                self.shop.pages.insert(i, page);
                self.versions.pages.insert(i, version);
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to `out/path` unless the file already holds exactly them
/// (through a temporary file, so the server never sends half a page).
/// Returns whether it wrote.
fn write_if_changed(out: &Path, path: &str, bytes: &[u8]) -> Result<bool, OutputError> {
    let dest = out.join(path);
    if fs::read(&dest).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(io_error(&tmp))?;
    fs::rename(&tmp, &dest).map_err(io_error(&dest))?;
    Ok(true)
}

/// Deletes `out/path`, and the folders it leaves empty (a clean build has none).
fn remove_file_and_empty_parents(out: &Path, path: &str) -> Result<(), OutputError> {
    let file = out.join(path);
    match fs::remove_file(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&file)(e)),
    }
    let mut dir = file.parent();
    while let Some(d) = dir.filter(|d| *d != out && d.starts_with(out)) {
        if fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_changes() {
        assert_eq!(classify(Path::new("content/news/a.md")), Change::Content("content/news/a.md".into()));
        assert_eq!(classify(Path::new("content/clips/b.md")), Change::Content("content/clips/b.md".into()));
        assert_eq!(classify(Path::new("content/news/.a.md.swp")), Change::Nothing);
        assert_eq!(classify(Path::new("content/news/a.md~")), Change::Nothing);
        // Files no build reads: a full load, which names them.
        assert_eq!(classify(Path::new("content/news/sub/a.md")), Change::Everything);
        assert_eq!(classify(Path::new("content/clips/b.md.txt")), Change::Everything);
        assert_eq!(classify(Path::new("content/clips/#b.md#")), Change::Nothing);
        assert_eq!(classify(Path::new("content/news")), Change::Everything);
        assert_eq!(classify(Path::new("content/site.toml")), Change::Everything);
        assert_eq!(classify(Path::new("static/posters/a.jpg")), Change::Everything);
        assert_eq!(classify(Path::new("templates/post.html")), Change::Templates);
        assert_eq!(classify(Path::new("public/index.html")), Change::Nothing);
    }
}
