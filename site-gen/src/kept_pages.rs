//! Pages a build takes from the last build instead of rendering them: those
//! made from the same inputs, whose bytes are still the ones written.
//!
//! Rendering is most of a rebuild's work (docs/benchmarks.md, issue 16),
//! and most pages come out as they were. So each build records, in
//! `.site-gen/pages`, every page's path, the fingerprint of its inputs
//! (`Prepared::fingerprint` in `render.rs`, the one `serve` re-renders by,
//! here over [`content_versions`] and `Prepared::global_across_builds`:
//! the program, the templates' text, the settings) and the hash of its
//! bytes. The next build, for a page whose fingerprint is the one recorded,
//! reads the page from the output folder it replaces (or, with that folder
//! deleted, from the build before it: `output::Staging::last_build`) and
//! takes those bytes when their hash is the one recorded: a page changed or
//! replaced since (by hand, by `serve`, by a build of other content) is
//! rendered afresh.
//! The record is only a speed-up, like the other files of `.site-gen/`: one
//! missing, damaged or made by another program is ignored. (XXH3 tells an
//! edited page from the one written, not from a forgery made to collide
//! with it; whoever can write the output folder and `.site-gen/` can write
//! the shop's templates as well.)
//!
//! What a page reads and its fingerprint does not hash would be kept stale
//! here, as `serve` would leave it: `tests/incremental.rs` checks both
//! against a build into an empty folder over a sequence of edits.

use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

use crate::content::{Clip, ClipVariant, Page, Post, Shop};
use crate::kept;
use crate::markdown_cache::program_id;
use crate::output::FileId;
use crate::render::ItemVersions;

/// Where the record is kept, relative to the shop's root (never published).
pub const RECORD_FILE: &str = ".site-gen/pages";

/// The record's first line: its format, then the program that wrote it.
const RECORD_MAGIC: &str = "clipstore page record 1";

/// A record larger than this is not read: 32 bytes a page, so 8 million pages.
const MAX_RECORD_BYTES: u64 = 256 << 20;

/// One page of a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    /// The hash of its path in the site (`output::path_hash`).
    path: u64,
    /// The fingerprint of its inputs.
    inputs: u64,
    /// The XXH3-128 of its bytes.
    bytes: u128,
}

const ENTRY_BYTES: usize = 32;

/// The last build's record, and this build's as its pages are made.
pub struct KeptPages {
    record: PathBuf,
    /// The folder holding the last build: the output folder, or the build
    /// before it when that is gone (`output::Staging::last_build`).
    /// Nothing is taken without one.
    last_build: Option<PathBuf>,
    /// What the templates stand for in every page's fingerprint.
    pub(crate) templates: u128,
    last: FxHashMap<u64, (u64, u128)>,
    this: Mutex<Vec<Entry>>,
    kept: AtomicUsize,
}

impl KeptPages {
    /// The record of the shop at `root`, for a build replacing the one in
    /// `last_build` (None: there is none, and no page is taken), with
    /// templates of digest `templates` (`templates::TemplatesDigest`).
    pub fn open(root: &Path, last_build: Option<&Path>, templates: u128) -> KeptPages {
        let record = root.join(RECORD_FILE);
        // With no last build (both folders deleted), no page is looked for.
        let last = last_build
            .and_then(|_| kept::read(&record, header().as_bytes(), MAX_RECORD_BYTES))
            .and_then(|bytes| read_entries(&bytes[header().len()..]))
            .map(|entries| entries.into_iter().map(|e| (e.path, (e.inputs, e.bytes))).collect())
            .unwrap_or_default();
        KeptPages {
            record,
            last_build: last_build.map(Path::to_path_buf),
            templates,
            last,
            this: Mutex::new(Vec::new()),
            kept: AtomicUsize::new(0),
        }
    }

    /// The last build's bytes of the page at `path` (in the site), if they
    /// were made from inputs of fingerprint `inputs` and are still those
    /// bytes, with the file they were read from; noted as this build's page.
    pub(crate) fn take(&self, path: &str, inputs: u64) -> Option<(Vec<u8>, FileId)> {
        let path_hash = crate::output::path_hash(path);
        let &(last_inputs, digest) = self.last.get(&path_hash)?;
        if last_inputs != inputs {
            return None;
        }
        let (bytes, file) = read_file(&self.last_build.as_ref()?.join(path))?;
        if xxh3_128(&bytes) != digest {
            return None;
        }
        self.push(Entry { path: path_hash, inputs, bytes: digest });
        self.kept.fetch_add(1, Ordering::Relaxed);
        Some((bytes, file))
    }

    /// Notes the page at `path`, rendered from inputs of fingerprint `inputs`.
    pub(crate) fn note(&self, path: &str, inputs: u64, bytes: &[u8]) {
        self.push(Entry { path: crate::output::path_hash(path), inputs, bytes: xxh3_128(bytes) });
    }

    fn push(&self, entry: Entry) {
        self.this.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }

    /// How many pages were taken from the last build.
    pub fn kept(&self) -> usize {
        self.kept.load(Ordering::Relaxed)
    }

    /// Writes this build's record, unless it is the last one. Call once the
    /// build is in place: a failed build leaves the last record, which
    /// still describes the output folder.
    pub fn save(self) {
        let mut this = self.this.into_inner().unwrap_or_else(|e| e.into_inner());
        this.sort_unstable();
        let unchanged =
            this.len() == self.last.len() && this.iter().all(|e| self.last.get(&e.path) == Some(&(e.inputs, e.bytes)));
        if unchanged {
            return;
        }
        let mut bytes = Vec::with_capacity(header().len() + ENTRY_BYTES * this.len());
        bytes.extend_from_slice(header().as_bytes());
        for e in &this {
            bytes.extend_from_slice(&e.path.to_le_bytes());
            bytes.extend_from_slice(&e.inputs.to_le_bytes());
            bytes.extend_from_slice(&e.bytes.to_le_bytes());
        }
        kept::save(&self.record, &bytes, "the record of the pages built");
    }
}

/// The record's first line, naming the program that writes it: another
/// program (another site-gen, other built-in templates, another hash of
/// the fingerprints) never reads it.
fn header() -> String {
    let program: String = program_id().iter().map(|b| format!("{b:02x}")).collect();
    format!("{RECORD_MAGIC} {program}\n")
}

/// The entries after the header; `None` for anything but whole entries.
fn read_entries(bytes: &[u8]) -> Option<Vec<Entry>> {
    bytes.len().is_multiple_of(ENTRY_BYTES).then(|| {
        bytes
            .chunks_exact(ENTRY_BYTES)
            .map(|c| Entry {
                path: u64::from_le_bytes(c[..8].try_into().unwrap()),
                inputs: u64::from_le_bytes(c[8..16].try_into().unwrap()),
                bytes: u128::from_le_bytes(c[16..].try_into().unwrap()),
            })
            .collect()
    })
}

/// The bytes of the regular file at `path` (not through a symbolic link),
/// and which file it is; `None` on any doubt.
fn read_file(path: &Path) -> Option<(Vec<u8>, FileId)> {
    let mut file = crate::output::open_no_follow(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()? + 1);
    file.read_to_end(&mut bytes).ok()?;
    Some((bytes, FileId::of(&meta)))
}

/// Each item's version for fingerprints across builds: a hash of all of
/// it, so that two builds give an item the same version exactly when it is
/// the same. (`serve` numbers its versions instead: it knows which files
/// it reloaded.) The functions below name every field, so that a field
/// added to an item must be added here to compile.
pub(crate) fn content_versions(shop: &Shop) -> ItemVersions {
    let (clips, (posts, pages)) = rayon::join(
        || shop.clips.par_iter().map(clip_version).collect(),
        || {
            rayon::join(
                || shop.posts.par_iter().map(post_version).collect(),
                || shop.pages.iter().map(page_version).collect(),
            )
        },
    );
    ItemVersions { clips, posts, pages }
}

fn clip_version(clip: &Clip) -> u64 {
    let Clip {
        slug,
        source,
        title,
        date,
        price,
        duration,
        resolution,
        file,
        file_location,
        file_name,
        size,
        sha256,
        content_type,
        poster,
        preview,
        frame_rate,
        codec,
        stripe_payment_link,
        variant,
        variants,
        tags,
        draft,
        description_html,
        links,
    } = clip;
    let mut h = Xxh3::new();
    (slug, source, title, date, price, duration, resolution, file, file_location, file_name).hash(&mut h);
    (size, sha256, content_type, poster, preview, frame_rate, codec, stripe_payment_link, variant).hash(&mut h);
    variants.len().hash(&mut h);
    variants.iter().for_each(|v| variant_version(v, &mut h));
    (tags, draft, description_html, links).hash(&mut h);
    h.finish()
}

fn variant_version(variant: &ClipVariant, h: &mut Xxh3) {
    let ClipVariant { id, label, resolution, file, file_name, size, sha256, content_type, price, location } = variant;
    (id, label, resolution, file, file_name, size, sha256, content_type, price, location).hash(h);
}

fn post_version(post: &Post) -> u64 {
    let Post { slug, source, title, date, updated, draft, tags, summary_html, has_more, content_html, links } = post;
    let mut h = Xxh3::new();
    (slug, source, title, date, updated, draft, tags, summary_html, has_more, content_html, links).hash(&mut h);
    h.finish()
}

fn page_version(page: &Page) -> u64 {
    let Page { slug, source, title, description, weight, content_html, links } = page;
    let mut h = Xxh3::new();
    (slug, source, title, description, weight, content_html, links).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record is read back as written, by this program only; the page is
    /// taken only with the inputs recorded and the bytes still there.
    #[test]
    fn the_record_is_read_back_by_this_program_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, site) = (tmp.path().join("shop"), tmp.path().join("public"));
        std::fs::create_dir_all(site.join("news")).unwrap();
        std::fs::write(site.join("news/index.html"), "<p>news</p>").unwrap();
        let pages = KeptPages::open(&root, Some(&site), 7);
        assert_eq!(pages.take("news/index.html", 1), None, "no record yet");
        pages.note("news/index.html", 1, b"<p>news</p>");
        pages.note("index.html", 2, b"<p>home</p>");
        pages.save();
        let record = root.join(RECORD_FILE);
        assert_eq!(std::fs::read(&record).unwrap().len(), header().len() + 2 * ENTRY_BYTES);

        let pages = KeptPages::open(&root, Some(&site), 7);
        assert_eq!(pages.take("news/index.html", 2), None, "other inputs");
        assert_eq!(pages.take("index.html", 2), None, "recorded, but not in the folder");
        assert_eq!(pages.take("news/index.html", 1).unwrap().0, b"<p>news</p>");
        assert_eq!(pages.kept(), 1);
        let without_a_build = KeptPages::open(&root, None, 7);
        assert_eq!(without_a_build.take("news/index.html", 1), None, "no last build to take it from");

        std::fs::write(site.join("news/index.html"), "<p>news!</p>").unwrap();
        assert_eq!(KeptPages::open(&root, Some(&site), 7).take("news/index.html", 1), None, "other bytes");
        std::fs::write(site.join("news/index.html"), "<p>news</p>").unwrap();
        let text = std::fs::read(&record).unwrap();
        let other = String::from_utf8_lossy(&text[..header().len()]).replace(RECORD_MAGIC, "clipstore page record 0");
        std::fs::write(&record, [other.as_bytes(), &text[header().len()..]].concat()).unwrap();
        assert_eq!(KeptPages::open(&root, Some(&site), 7).take("news/index.html", 1), None, "another program's record");
    }
}
