//! site-gen: builds a clip shop's `content/` and `templates/` into a static
//! site in `public/` plus the catalog manifest the edge Worker reads.
//!
//! The pipeline never mixes its stages: [`content::load`] reads and validates
//! everything into one [`content::Shop`] (collecting every error), [`render`]
//! turns it into files in memory, [`links`] checks them, and [`output`]
//! swaps them into place only when all of that succeeded.

pub mod config;
pub mod content;
pub mod diagnostics;
pub mod doctor;
pub mod front_matter;
pub mod incremental;
pub mod links;
pub mod markdown;
pub mod new;
pub mod orders;
pub mod output;
pub mod purchase_token;
pub mod push;
pub mod render;
pub mod secondary;
pub mod serve;
pub mod templates;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::content::{LoadOptions, Shop};
use crate::diagnostics::Diagnostics;
use crate::links::SiteFiles;
use crate::render::RenderedSite;

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
    pub static_files: usize,
    pub clips: usize,
    pub posts: usize,
    pub tags: usize,
    pub elapsed: Duration,
}

impl BuildSummary {
    fn of(shop: &Shop, site: &RenderedSite, started: Instant) -> Self {
        BuildSummary {
            pages: site.pages,
            static_files: shop.static_files.len(),
            clips: shop.clips.len(),
            posts: shop.posts.len(),
            tags: site.tags,
            elapsed: started.elapsed(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Content(Diagnostics),
    #[error("could not write the site, the previous build is unchanged: {0}")]
    Output(#[from] output::OutputError),
}

/// Loads, renders and link-checks the shop without writing anything.
fn load_and_render(root: &Path, drafts: bool, now: DateTime<Utc>) -> Result<(Shop, RenderedSite), Diagnostics> {
    let options = LoadOptions { drafts, now };
    let (shop, tera) = rayon::join(|| content::load(root, &options), || templates::load(root));
    let (shop, tera) = match (shop, tera) {
        (Ok(shop), Ok(tera)) => (shop, tera),
        (shop, tera) => {
            let mut errors = Diagnostics::default();
            errors.extend(shop.err().into_iter().flat_map(|d| d.0));
            errors.extend(tera.err().into_iter().flat_map(|d| d.0));
            return Err(errors);
        }
    };
    let site = render::render(&shop, &tera)?;
    let mut errors = links::check_content_links(&shop, &SiteFiles::new(&site.files), &shop.hidden);
    if !errors.is_empty() {
        errors.sort();
        return Err(errors);
    }
    Ok((shop, site))
}

/// Builds the shop into `options.out` and writes the manifest.
pub fn build(options: &BuildOptions) -> Result<BuildSummary, BuildError> {
    let started = Instant::now();
    let (shop, site) = load_and_render(&options.root, options.drafts, options.now).map_err(BuildError::Content)?;
    let out = &options.out;
    if options.root.join("content").starts_with(out) || out == &options.root {
        return Err(BuildError::Content(Diagnostics(vec![diagnostics::Diagnostic::new(
            out,
            "the output folder would contain the shop's own content",
        )
        .with_help("choose an output folder of its own, like `public`")])));
    }
    output::write_site(out, &site.files)?;
    output::write_file_atomic(&options.manifest, site.manifest.to_json().as_bytes())?;
    Ok(BuildSummary::of(&shop, &site, started))
}

/// Validates all content, templates and every internal link (also those that
/// templates write) without writing output.
pub fn check(root: &Path, drafts: bool, now: DateTime<Utc>) -> Result<BuildSummary, Diagnostics> {
    let started = Instant::now();
    let (shop, site) = load_and_render(root, drafts, now)?;
    let errors = links::check_rendered_links(&site.files, &SiteFiles::new(&site.files), &shop.config.base_url);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(BuildSummary::of(&shop, &site, started))
}

/// Loads the shop (published items only), for commands that need the catalog.
pub fn load_shop(root: &Path) -> Result<Shop, Diagnostics> {
    content::load(root, &LoadOptions { drafts: false, now: Utc::now() })
}
