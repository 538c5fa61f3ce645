//! The shop as one validated value: settings, clips, news posts, pages and
//! static files. `load` builds it from `content/` and collects every error;
//! rendering only ever sees a valid [`Shop`].

pub(crate) mod fields;
pub use fields::human_size;
pub mod checks;
pub mod load;

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use fields::{Duration, Price, Resolution};
pub use load::{is_private_static, load, LoadOptions};

use crate::config::SiteConfig;
use crate::markdown::SourceLink;

/// A tag as written by the owner, and its URL-safe slug.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag {
    pub slug: String,
    pub name: String,
}

impl Tag {
    pub fn url(&self) -> String {
        format!("/tags/{}/", self.slug)
    }
}

/// One clip of the catalog (`content/clips/<slug>.md`).
#[derive(Debug, Clone)]
pub struct Clip {
    pub slug: String,
    pub source: PathBuf,
    pub title: String,
    pub date: DateTime<Utc>,
    pub price: Price,
    pub duration: Duration,
    pub resolution: Resolution,
    /// Object key in the bucket.
    pub file: String,
    /// Where `file` is written, for messages about it.
    pub file_location: crate::diagnostics::Location,
    /// File name the customer's download is saved as.
    pub file_name: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub content_type: String,
    pub poster: String,
    pub preview: Option<String>,
    /// Frames per second, like `25` or `29.97` (`site-gen media` fills it).
    pub frame_rate: Option<String>,
    /// The video codec, like `h264` (`site-gen media` fills it).
    pub codec: Option<String>,
    /// The clip's Stripe Payment Link (docs/payments.md): the buy button goes
    /// there; without it, to an e-mail to the shop.
    pub stripe_payment_link: Option<String>,
    /// When the clip is sold in several files: the main file's variant id
    /// (`variant`, else its resolution's name, like `4k`) and the others.
    pub variant: Option<String>,
    pub variants: Vec<ClipVariant>,
    pub tags: Vec<Tag>,
    pub draft: bool,
    pub description_html: String,
    pub links: Vec<SourceLink>,
}

impl Clip {
    pub fn url(&self) -> String {
        format!("/clips/{}/", self.slug)
    }

    /// The addresses of its poster and preview, as its front matter gives them.
    pub fn media(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.poster.as_str()).chain(self.preview.as_deref())
    }
}

/// Another file of a clip, sold beside its main file (`[[variants]]`).
#[derive(Debug, Clone)]
pub struct ClipVariant {
    /// `[a-z0-9-]`: what carts, tokens and the ledger name.
    pub id: String,
    /// What customers read (`label`, else the resolution's name: `720p`).
    pub label: String,
    pub resolution: Resolution,
    pub file: String,
    pub file_name: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub content_type: String,
    pub price: Price,
    /// Its `[[variants]]` line, for messages about it.
    pub location: crate::diagnostics::Location,
}

impl Shop {
    /// The files under `static/` (relative to it, with `/`) left out of the
    /// site with the clip they belong to: a left-out clip's poster and
    /// preview, unless a published clip shows them too, or published text
    /// links them (a "coming soon" post with the scheduled clip's poster).
    /// `site-gen media` makes them for drafts as well, and a preview of a
    /// clip not yet for sale must not be public at a guessable address
    /// before it is.
    pub fn withheld_static(&self) -> HashSet<String> {
        let linked = self.clips.iter().flat_map(|c| &c.links).chain(self.posts.iter().flat_map(|p| &p.links));
        let linked = linked.chain(self.pages.iter().flat_map(|p| &p.links));
        let linked = linked.map(|l| l.target.split(['?', '#']).next().unwrap_or_default());
        let shown: HashSet<&str> = self.clips.iter().flat_map(Clip::media).chain(linked).collect();
        self.hidden_media
            .iter()
            .filter(|m| !shown.contains(m.as_str()))
            .filter_map(|m| m.strip_prefix('/'))
            .map(str::to_string)
            .collect()
    }

    /// The files under `static/` the site publishes (relative to it, with
    /// `/`): all but the [withheld](Shop::withheld_static) ones.
    pub fn published_static(&self) -> impl Iterator<Item = (&PathBuf, String)> {
        let withheld = self.withheld_static();
        self.static_files
            .iter()
            .map(|rel| (rel, rel.to_string_lossy().replace('\\', "/")))
            .filter(move |(_, path)| !withheld.contains(path))
    }
}

/// One news post (`content/news/<slug>.md`).
#[derive(Debug, Clone)]
pub struct Post {
    pub slug: String,
    pub source: PathBuf,
    pub title: String,
    pub date: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub draft: bool,
    pub tags: Vec<Tag>,
    /// The front matter `summary`, else the part before `<!-- more -->`, else
    /// the first paragraph.
    pub summary_html: String,
    /// True when the post has more to read than its summary.
    pub has_more: bool,
    pub content_html: String,
    pub links: Vec<SourceLink>,
}

impl Post {
    pub fn url(&self) -> String {
        format!("/news/{}/", self.slug)
    }
}

/// A stand-alone page (`content/pages/<slug>.md`), served at `/<slug>/`.
#[derive(Debug, Clone)]
pub struct Page {
    pub slug: String,
    pub source: PathBuf,
    pub title: String,
    pub description: Option<String>,
    /// Order in the navigation (lower first, then by title).
    pub weight: i64,
    pub content_html: String,
    pub links: Vec<SourceLink>,
}

impl Page {
    pub fn url(&self) -> String {
        format!("/{}/", self.slug)
    }
}

/// The whole shop, ready to render. Lists are sorted newest first.
#[derive(Debug, Clone)]
pub struct Shop {
    pub root: PathBuf,
    pub config: SiteConfig,
    pub clips: Vec<Clip>,
    pub posts: Vec<Post>,
    pub pages: Vec<Page>,
    /// Files under `static/`, relative to it, copied verbatim.
    pub static_files: Vec<PathBuf>,
    /// Addresses of drafts and future items left out of this build, with why,
    /// so a link to one can say so.
    pub hidden: Vec<(String, &'static str)>,
    /// The posters and previews ([`Clip::media`]) of the clips left out.
    pub hidden_media: Vec<String>,
    /// When the build happens (drafts and future posts are judged against it).
    pub now: DateTime<Utc>,
    /// The earliest date of an item left out as dated later (not a draft):
    /// a `serve` still running then publishes it.
    pub next_publish: Option<DateTime<Utc>>,
    /// The clips and posts left out of this build, by file: `None` a
    /// draft, else the date it is published from. `build` and `check` list
    /// them: a slip in a year (2052 for 2025) took a clip off sale unsaid.
    pub left_out: Vec<(PathBuf, Option<DateTime<Utc>>)>,
    /// What does not stop the build but the owner must hear of on each
    /// (a price Stripe will not charge alone): of the published items
    /// ([`load::content_warnings`]), then of the static files (too big to
    /// deploy), which only a full load lists.
    pub warnings: Vec<crate::diagnostics::Diagnostic>,
    /// How many of `warnings`, at their end, are the static files'.
    pub static_warnings: usize,
}
