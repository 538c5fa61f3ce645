//! site-gen: builds a clip shop's `content/` and `templates/` into a static
//! site in `public/` plus the catalog manifest the edge Worker reads.
//!
//! The pipeline never mixes its stages: [`content::load`] reads and validates
//! everything into one [`content::Shop`] (collecting every error), [`render`]
//! plans its files, [`links`] checks the Markdown's links against them, and
//! [`render`] writes each page into [`output`]'s staging folder as it is
//! rendered, while [`search`] indexes the clips into the same folder; the
//! staging folder replaces `public/` only when all of that succeeded.

pub mod admin_client;
pub mod config;
pub mod content;
pub mod deployed_folder;
pub mod diagnostics;
pub mod doctor;
pub mod existing_order;
pub mod front_matter;
pub mod front_matter_edit;
pub mod front_matter_slips;
pub mod guides;
pub mod incremental;
pub mod init;
pub mod kept;
pub mod kept_pages;
pub mod links;
pub mod markdown;
pub mod markdown_cache;
pub mod media;
pub mod media_made;
pub mod media_variants;
pub mod minting_key;
pub mod new;
pub mod offers;
pub mod orders;
pub mod output;
pub mod placeholders;
pub mod progress;
pub mod purchase_token;
pub mod push;
pub mod removed;
pub mod render;
pub mod resolved_path;
pub mod search;
pub mod secondary;
pub mod serve;
pub mod structured_data;
pub mod template_blocks;
pub mod template_uses;
pub mod templates;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::content::{LoadOptions, Shop};
use crate::diagnostics::Diagnostics;
use crate::links::SiteFiles;

/// Default output folder, relative to the shop root.
pub const DEFAULT_OUT: &str = "public";
/// Default path of the catalog manifest, relative to the shop root (outside
/// `public/`, so it is never served).
pub const DEFAULT_MANIFEST: &str = "catalog-manifest.json";

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub root: PathBuf,
    pub out: PathBuf,
    pub manifest: PathBuf,
    pub drafts: bool,
    pub now: DateTime<Utc>,
}

impl BuildOptions {
    /// Options with the default output paths under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        BuildOptions {
            out: root.join(DEFAULT_OUT),
            manifest: root.join(DEFAULT_MANIFEST),
            root,
            drafts: false,
            now: Utc::now(),
        }
    }
}

#[derive(Debug)]
pub struct BuildSummary {
    pub pages: usize,
    /// Of `pages`, those taken from the last build, made from the same inputs
    /// (see [`kept_pages`]); the others were rendered.
    pub pages_kept: usize,
    pub static_files: usize,
    pub clips: usize,
    pub posts: usize,
    pub tags: usize,
    pub elapsed: Duration,
    /// What was left out, a line each: `content/clips/x.md: a draft`.
    pub left_out: Vec<String>,
    /// What an earlier build's catalog had and this one has not (its
    /// buyers' links answer "Not found" once deployed): [`removed`].
    pub gone: Vec<removed::Removed>,
    /// What the owner must hear of though the shop builds, each as printed.
    pub warnings: Vec<String>,
    /// The catalog manifest written differs from the one there before (or
    /// there was none): the Worker, which embeds it, must be built and
    /// deployed again.
    pub catalog_changed: bool,
}

impl BuildSummary {
    fn of(shop: &Shop, pages: usize, tags: usize, started: Instant) -> Self {
        let left_out = left_out_lines(shop);
        BuildSummary {
            pages,
            pages_kept: 0,
            static_files: shop.published_static().count(),
            clips: shop.clips.len(),
            posts: shop.posts.len(),
            tags,
            elapsed: started.elapsed(),
            left_out,
            gone: Vec::new(),
            warnings: shop.warnings.iter().map(|d| d.to_string().replacen("error:", "warning:", 1)).collect(),
            catalog_changed: false,
        }
    }

    /// What `build` prints when the catalog the Worker embeds changed: the
    /// commands that deploy it, as the shop at `root` runs them (one made
    /// by `site-gen init` builds its Worker in `wrangler deploy`, from its
    /// `catalog-manifest.json`).
    pub fn catalog_changed_text(&self, root: &Path, manifest: &Path) -> Option<String> {
        if !self.catalog_changed {
            return None;
        }
        let manifest = std::fs::canonicalize(manifest).unwrap_or_else(|_| manifest.to_path_buf());
        let mut note = String::new();
        let builds_its_own = std::fs::read_to_string(root.join("wrangler.toml"))
            .is_ok_and(|config| config.lines().any(|l| l.trim() == "[build]"))
            && std::fs::canonicalize(root.join(DEFAULT_MANIFEST)).is_ok_and(|m| m == manifest);
        let how = if builds_its_own {
            let config = std::fs::read_to_string(root.join("wrangler.toml")).unwrap_or_default();
            // A shop made by an older `init` watched content/ in `wrangler dev`.
            let old_watch = config.lines().any(|l| l.replace(' ', "") == "watch_dir=\"content\"");
            let dev = if old_watch {
                note = format!(
                    "\nA `wrangler dev` running here misses each build while wrangler.toml says `watch_dir = \
                     \"content\"` (written by an older `site-gen init`): change that line to `watch_dir = {}`.",
                    init::WATCH_DIR
                );
                ""
            } else {
                " (a `wrangler dev` running here builds and reloads by itself)"
            };
            format!(
                "deploy the Worker again: `\"$W\" deploy --config wrangler.toml` in {} builds it with this \
                 catalog first (the shop's README.md, step 5){dev}",
                std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()).display()
            )
        } else {
            let clipstore = init::clipstore_of_current_exe();
            let script = clipstore.as_ref().map_or_else(
                || "scripts/build-worker.sh in your clipstore checkout".to_string(),
                |c| c.join("scripts/build-worker.sh").display().to_string(),
            );
            format!(
                "build the Worker with it and deploy (`CLIPSTORE_MANIFEST={} bash {script}`, then `wrangler \
                 deploy`: {})",
                manifest.display(),
                guides::guide_in(clipstore.as_deref(), "deploy.md")
            )
        };
        Some(format!(
            "The catalog changed: the Worker sells and serves from its own copy of it, so after `site-gen push` \
             of any new clip files, {how}. Until then, checkout and downloads go by the catalog deployed before.{note}"
        ))
    }

    /// What `build` and `check` print of what is gone from the catalog
    /// since the last build.
    pub fn gone_text(&self) -> Option<String> {
        removed::warning(&self.gone).map(|text| format!("Warning: {text}"))
    }

    /// What `build` and `check` print of the items left out: the first 20.
    pub fn left_out_text(&self) -> Option<String> {
        left_out_text(&self.left_out)
    }
}

/// The items `shop` left out, a line each (`content/clips/x.md: a draft`),
/// sorted.
pub fn left_out_lines(shop: &Shop) -> Vec<String> {
    let mut left_out: Vec<String> = shop
        .left_out
        .iter()
        .map(|(source, date)| match date {
            None => format!("{}: a draft", source.display()),
            Some(date) => format!(
                "{}: dated {}, on the site from the first build after that",
                source.display(),
                date.format("%Y-%m-%d %H:%M UTC")
            ),
        })
        .collect();
    left_out.sort();
    left_out
}

/// What `build`, `check` and `serve` print of the items left out
/// ([`left_out_lines`]): the first 20.
pub fn left_out_text(left_out: &[String]) -> Option<String> {
    const SHOWN: usize = 20;
    (!left_out.is_empty()).then(|| {
        let mut lines: Vec<String> = left_out.iter().take(SHOWN).map(|l| format!("  {l}")).collect();
        if left_out.len() > SHOWN {
            lines.push(format!("  and {} more", left_out.len() - SHOWN));
        }
        format!("Left out ({}):\n{}", left_out.len(), lines.join("\n"))
    })
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Content(Diagnostics),
    #[error("could not write the site, the previous build is unchanged: {0}")]
    Output(#[from] output::OutputError),
    #[error("{0}; the previous build is unchanged")]
    Search(#[from] search::SearchError),
    #[error("the site is built, but its catalog manifest could not be written (the Worker would sell from the old one): {0}; build again once this is fixed")]
    Manifest(output::OutputError),
}

/// Loads the shop and its templates (with their digest), with every error of both.
fn load(
    root: &Path,
    drafts: bool,
    now: DateTime<Utc>,
) -> Result<(Shop, (tera::Tera, templates::TemplatesDigest)), Diagnostics> {
    let options = LoadOptions { drafts, now };
    let (shop, tera) = rayon::join(|| content::load(root, &options), || templates::load_with_digest(root));
    match (shop, tera) {
        (Ok(shop), Ok(tera)) => Ok((shop, tera)),
        (shop, tera) => {
            let mut errors = Diagnostics::default();
            errors.extend(shop.err().into_iter().flat_map(|d| d.0));
            errors.extend(tera.err().into_iter().flat_map(|d| d.0));
            Err(errors)
        }
    }
}

/// Checks the links of the shop's Markdown against the files the site will have.
fn check_content_links(shop: &Shop, paths: impl Iterator<Item = String>) -> Result<(), Diagnostics> {
    let mut errors = links::check_content_links(shop, &SiteFiles::from_paths(paths.collect()), &shop.hidden);
    if errors.is_empty() {
        Ok(())
    } else {
        errors.sort();
        Err(errors)
    }
}

/// Builds the shop into `options.out` and writes the manifest.
///
/// Everything that can be checked before rendering is (content, templates,
/// links: these need only the files' paths); then every page is written into
/// the staging folder as soon as it is rendered, on all cores, and the
/// staging folder replaces `out` only when every page rendered and was
/// written (see [`output::Staging`]).
/// Why `out` cannot take a build of the shop at `root`, if it cannot: it
/// would contain the shop's content, or lie inside a folder the shop is made
/// from, where each build would copy the last one into itself (and `serve`
/// would rebuild for ever).
pub fn unfit_output(root: &Path, out: &Path) -> Option<&'static str> {
    // Where they lead: `../shop/static/p` is in static/, and so is a folder
    // reached through a link to it.
    let (root, out) = (&resolved_path::resolved(root), &resolved_path::resolved(out));
    if resolved_path::resolved(&root.join("content")).starts_with(out) || out == root {
        return Some("the output folder would contain the shop's own content");
    }
    ["content", "static", templates::TEMPLATES_DIR]
        .iter()
        .any(|source| out.starts_with(resolved_path::resolved(&root.join(source))))
        .then_some("the output folder is inside a folder the shop is made from (content/, static/ or templates/)")
}

/// Why the catalog manifest cannot be written at `manifest`, if it cannot:
/// it would replace a file that is not an earlier manifest (the shop's
/// settings, a clip), or land in the site (published) or in a folder the
/// shop is made from. A drafts build writes none.
pub fn unfit_manifest(root: &Path, out: &Path, manifest: &Path) -> Option<String> {
    let resolved = resolved_path::resolved(manifest);
    let inside = [("content", root.join("content")), ("static", root.join("static"))]
        .into_iter()
        .chain([(templates::TEMPLATES_DIR, root.join(templates::TEMPLATES_DIR))])
        .chain([("the output folder", out.to_path_buf())])
        .find(|(_, folder)| resolved.starts_with(resolved_path::resolved(folder)));
    if let Some((name, _)) = inside {
        let name = if name.contains(' ') { name.to_string() } else { format!("{name}/") };
        return Some(format!("the catalog manifest would be written inside {name}: the Worker's copy of the catalog belongs outside the site and the shop's own files"));
    }
    match std::fs::metadata(manifest) {
        Ok(meta) if meta.is_dir() => Some("this is a folder, not a file for the catalog manifest".to_string()),
        Ok(_) => {
            /// What every manifest site-gen wrote has; the rest is skipped.
            #[derive(serde::Deserialize)]
            #[allow(dead_code)]
            struct Earlier {
                version: serde::de::IgnoredAny,
                clips: std::collections::HashMap<String, serde::de::IgnoredAny>,
            }
            let last = std::fs::read(manifest).ok()?;
            let is_manifest = serde_json::from_slice::<Earlier>(&last).is_ok();
            (!is_manifest).then(|| {
                "this file is not a catalog manifest that site-gen wrote: writing the catalog here would replace it"
                    .to_string()
            })
        }
        Err(_) => None,
    }
}

/// Why the build cannot go into `options.out`, or write its manifest at
/// `options.manifest`, if it cannot.
fn unfit_out(options: &BuildOptions) -> Option<BuildError> {
    let out = &options.out;
    if let Some(why) = unfit_output(&options.root, out) {
        return Some(BuildError::Content(Diagnostics(vec![
            diagnostics::Diagnostic::new(out, why).with_help("choose an output folder of its own, like `public`")
        ])));
    }
    if let Some(why) = (!options.drafts).then(|| unfit_manifest(&options.root, out, &options.manifest)).flatten() {
        return Some(BuildError::Content(Diagnostics(vec![diagnostics::Diagnostic::new(&options.manifest, why)
            .with_help("leave out --manifest (the shop's catalog-manifest.json), or name a new file outside content/, static/, templates/ and the output folder")])));
    }
    let folder = options.drafts.then(|| deployed_folder::drafts_would_be_deployed(&options.root, out)).flatten()?;
    Some(BuildError::Content(Diagnostics(vec![diagnostics::Diagnostic::new(
        out,
        format!(
            "drafts never go into {}: `wrangler deploy` publishes that folder, and would publish the drafts \
             and the items dated later with it",
            folder.display()
        ),
    )
    .with_help(
        "leave out --out: a build with --drafts goes to .site-gen/preview-drafts; to look at it, \
         `site-gen serve --drafts`",
    )])))
}

pub fn build(options: &BuildOptions) -> Result<BuildSummary, BuildError> {
    let started = Instant::now();
    let unfit = unfit_out(options);
    // The output's sibling is listed beside loading (`Staging::open`), only
    // for an output that may take the build.
    let (loaded, opened) = match unfit {
        None => rayon::join(
            || load(&options.root, options.drafts, options.now),
            || output::Staging::open(&options.out).map(Some),
        ),
        Some(_) => (load(&options.root, options.drafts, options.now), Ok(None)),
    };
    let (shop, (tera, templates)) = loaded.map_err(BuildError::Content)?;
    let mut staging = match (unfit, opened?) {
        (Some(unfit), _) => return Err(unfit),
        (None, staging) => staging.expect("opened for a fit output"),
    };
    let site = render::Site::plan(&shop, &tera).map_err(BuildError::Content)?;
    let paths: Vec<String> = site.paths().collect();
    check_content_links(&shop, paths.iter().cloned()).map_err(BuildError::Content)?;
    let mut summary = BuildSummary::of(&shop, site.pages(), site.tags(), started);
    staging.make_room(paths.iter().map(String::as_str))?;
    let site_files = paths.len();
    drop(paths);
    // The search index needs only the loaded shop: it is made beside the
    // pages, and so is the look at the last build's catalog.
    // The catalog too, and the placeholders on the site (`check` lists
    // every one, published or not, as a to-do).
    // Pages made from the same inputs as in the build being replaced are
    // taken from it (none when a template reads outside its context).
    let kept = templates.map(|digest| kept_pages::KeptPages::open(&options.root, staging.last_build(), digest));
    let (written, searched) = rayon::join(
        || site.render_each(kept.as_ref(), |file| staging.put(&file)),
        || -> Result<_, BuildError> {
            let index = search::cached(&options.root, &shop)?;
            staging.put_more(&index)?;
            let unfilled = placeholders::published(&shop);
            // A preview with drafts never becomes the Worker's catalog: it
            // would sell clips not yet meant for sale.
            if options.drafts {
                return Ok((Vec::new(), None, unfilled, index.len()));
            }
            let catalog = render::manifest(&shop);
            let json = catalog.to_json();
            let changed = std::fs::read(&options.manifest).map_or(true, |old| old != json.as_bytes());
            let memory = removed::memory(&options.root, &options.manifest);
            let gone = removed::not_in(memory.as_deref(), &options.manifest, &shop, &catalog, options.now.timestamp());
            Ok((gone, Some((json, changed)), unfilled, index.len()))
        },
    );
    written.map_err(BuildError::Content)?.into_iter().collect::<Result<(), _>>()?;
    let (gone, manifest, unfilled, index_files) = searched?;
    summary.warnings.extend(unfilled.iter().map(|d| d.to_string().replacen("error:", "warning:", 1)));
    summary.warnings.extend(content::checks::too_many_to_deploy(site_files + index_files));
    summary.warnings.extend(init::older_wrangler_toml(&options.root));
    // Held until the manifest is written, so it is this build's.
    let _lock = staging.commit()?;
    summary.pages_kept = kept.as_ref().map_or(0, kept_pages::KeptPages::kept);
    // Freeing the loaded shop takes one core a per cent or two of a build:
    // done beside writing the manifest, not after.
    let catalog_changed = manifest.as_ref().is_some_and(|(_, changed)| *changed);
    let (written, ()) = rayon::join(
        || manifest.map_or(Ok(()), |(json, _)| output::write_file_atomic(&options.manifest, json.as_bytes())),
        move || {
            if let Some(kept) = kept {
                kept.save();
            }
            drop((shop, tera))
        },
    );
    written.map_err(BuildError::Manifest)?;
    if let Some(memory) = removed::memory(&options.root, &options.manifest).filter(|_| !options.drafts) {
        removed::remember(&memory, &gone);
    }
    Ok(BuildSummary { elapsed: started.elapsed(), gone, catalog_changed, ..summary })
}

/// Validates all content, templates and every internal link (also those that
/// templates write) without writing output.
pub fn check(root: &Path, drafts: bool, now: DateTime<Utc>) -> Result<BuildSummary, Diagnostics> {
    let started = Instant::now();
    let (shop, (tera, _)) = load(root, drafts, now)?;
    let site = render::render(&shop, &tera)?;
    check_content_links(&shop, site.files.iter().map(|f| f.path.clone()))?;
    let errors = links::check_rendered_links(&site.files, &SiteFiles::new(&site.files), &shop.config.base_url);
    if !errors.is_empty() {
        return Err(errors);
    }
    // What a build would now take out of the catalog (drafts shown are not sold).
    let gone = if drafts {
        Vec::new()
    } else {
        let manifest = root.join(DEFAULT_MANIFEST);
        let memory = removed::memory(root, &manifest);
        removed::not_in(memory.as_deref(), &manifest, &shop, &render::manifest(&shop), now.timestamp())
    };
    let mut summary = BuildSummary { gone, ..BuildSummary::of(&shop, site.pages, site.tags, started) };
    // The search index is not made here: about one file per clip.
    summary.warnings.extend(content::checks::too_many_to_deploy(site.files.len() + shop.clips.len()));
    summary.warnings.extend(init::older_wrangler_toml(root));
    Ok(summary)
}

/// What every command says when `root` holds no shop (the most common
/// slip: a command run before `cd my-shop`).
pub fn no_shop_in(root: &Path) -> String {
    format!(
        "there is no shop in {} (no content/site.toml): run this in the shop's folder (cd my-shop), or give --root",
        root.display()
    )
}

/// Loads the shop (published items only), for commands that need the catalog.
pub fn load_shop(root: &Path) -> Result<Shop, Diagnostics> {
    content::load(root, &LoadOptions { drafts: false, now: Utc::now() })
}
