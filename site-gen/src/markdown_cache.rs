//! Rendered Markdown kept between builds in `.site-gen/markdown-cache`, so a
//! build renders only the bodies whose files changed.
//!
//! Rendering every news post, clip and page is about a seventh of a build's
//! CPU at thousands of posts (docs/benchmarks.md), and a rebuild renders
//! the same text to the same HTML again. [`markdown::render`] is a pure
//! function of a file's text and where its body starts, so its result is
//! kept under a 128-bit XXH3 hash of those two (SHA-256 was 2–3 % of a
//! rebuild's CPU, hashing every file's 75 MB), in one file that names the source
//! of the program that made it ([`program_id`]): a site-gen made from other
//! source (another pulldown-cmark, other options) starts afresh.
//!
//! Like the search index's cache, it is only a speed-up: one that is
//! missing, damaged or made by another program is ignored, and the build
//! renders what it needs; one that cannot be written is warned of. After a load it holds
//! exactly the bodies of that load; it is written again only when that
//! set changed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use crate::diagnostics::Location;
use crate::kept;
use crate::markdown::{self, RenderedMarkdown, SourceLink};

/// Where the cache is kept, relative to the shop's root (never published).
pub const CACHE_FILE: &str = ".site-gen/markdown-cache";

/// The first line of the cache file: its format, then [`program_id`].
const CACHE_MAGIC: &str = "clipstore markdown cache 2";

/// A cache file larger than this is not read (a stray file in its place
/// must not take the machine's memory); 10,000 posts and 5,000 clips
/// take 68.9 MB (docs/benchmarks.md).
const MAX_CACHE_BYTES: u64 = 4 << 30;

/// A body's key: the hash of its file's text and where its body starts.
type Key = [u8; KEY_BYTES];
const KEY_BYTES: usize = 16;
/// Which program made a cache ([`program_id`]).
pub type ProgramId = [u8; 32];

/// The bodies of the last load (if any were kept) and those rendered since.
pub struct MarkdownCache {
    /// Where to write it; `None`: render only, keep nothing.
    path: Option<PathBuf>,
    /// The kept file's bytes, and each entry's key, span and whether this
    /// load used it.
    kept: Vec<u8>,
    index: FxHashMap<Key, (usize, usize, usize)>,
    used: Vec<AtomicBool>,
    /// Entries rendered in this load, written as they come.
    fresh: Mutex<Fresh>,
    /// Whether a whole cache was read (then a load that used all of it
    /// and rendered nothing has nothing to write).
    loaded: bool,
}

impl MarkdownCache {
    /// A cache that keeps nothing: every body is rendered.
    pub fn off() -> Self {
        MarkdownCache {
            path: None,
            kept: Vec::new(),
            index: FxHashMap::default(),
            used: Vec::new(),
            fresh: Mutex::new(Fresh::default()),
            loaded: false,
        }
    }

    /// The cache of the shop at `root`, with what the last load kept if it
    /// was made by this program and is whole.
    pub fn open(root: &Path) -> Self {
        let path = root.join(CACHE_FILE);
        let mut cache = MarkdownCache { path: Some(path.clone()), ..MarkdownCache::off() };
        if let Some(bytes) = kept::read(&path, header(program_id()).as_bytes(), MAX_CACHE_BYTES) {
            if let Some(index) = read_index(&bytes, program_id()) {
                cache.used = (0..index.len()).map(|_| AtomicBool::new(false)).collect();
                cache.index = index;
                cache.kept = bytes;
                cache.loaded = true;
            }
        }
        cache
    }

    /// [`markdown::render`], or its kept result for the same text.
    pub fn render(&self, file_text: &str, body_start: usize) -> RenderedMarkdown {
        if self.path.is_none() {
            return markdown::render(file_text, body_start);
        }
        let key = key(file_text, body_start);
        if let Some(&(start, end, i)) = self.index.get(&key) {
            if let Some(rendered) = decode(&self.kept[start..end], file_text) {
                self.used[i].store(true, Ordering::Relaxed);
                return rendered;
            }
        }
        let rendered = markdown::render(file_text, body_start);
        if let (Some(encoded), Some(path)) = (encode(&rendered, file_text), &self.path) {
            self.fresh.lock().unwrap_or_else(|e| e.into_inner()).add(path, key, &encoded);
        }
        rendered
    }

    /// Writes the bodies of this load, unless they are exactly the ones
    /// kept. A failure leaves the cache as it was, or absent, and is warned of.
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        let mut fresh = std::mem::take(&mut *self.fresh.lock().unwrap_or_else(|e| e.into_inner()));
        let all_used = self.used.iter().all(|u| u.load(Ordering::Relaxed));
        if fresh.written.is_empty() && fresh.failed.is_none() && all_used && self.loaded {
            return;
        }
        // The kept bodies this load used, after the fresh ones.
        for (k, &(start, end, i)) in &self.index {
            if self.used[i].load(Ordering::Relaxed) {
                fresh.add(path, *k, &self.kept[start..end]);
            }
        }
        let saved = match (fresh.failed.take(), fresh.out.take()) {
            (Some(e), _) => Err(e),
            (None, Some(out)) => out.finish(),
            (None, None) => kept::write(path, header(program_id()).as_bytes()),
        };
        kept::warn_if_unsaved(path, "the rendered Markdown", saved);
    }
}

/// The next cache file, written while the load renders (a first build's
/// bodies are not held twice in memory): opened at its first entry, each
/// key once. A failure stops the writing; [`MarkdownCache::save`] says so.
#[derive(Default)]
struct Fresh {
    out: Option<kept::Pending>,
    written: rustc_hash::FxHashSet<Key>,
    failed: Option<std::io::Error>,
}

impl Fresh {
    fn add(&mut self, path: &Path, key: Key, body: &[u8]) {
        if self.failed.is_some() || !self.written.insert(key) {
            return;
        }
        let written = (|| {
            if self.out.is_none() {
                let mut out = kept::Pending::create(path)?;
                out.write_all(header(program_id()).as_bytes())?;
                self.out = Some(out);
            }
            let out = self.out.as_mut().expect("opened above");
            out.write_all(&key)?;
            out.write_all(&(body.len() as u64).to_le_bytes())?;
            out.write_all(body)
        })();
        if let Err(e) = written {
            self.out = None;
            self.failed = Some(e);
        }
    }
}

/// Which program made a cache, so that a site-gen made from other source
/// never reads one: the hash of its source (`SITE_GEN_SOURCE_ID`, from
/// `build.rs`: `src/`, `Cargo.toml`, `Cargo.lock`) and version. Not the
/// executable's path or time: an image build gives every file the same
/// time, and one path holds one version after another. The dependencies
/// stand in it as `Cargo.lock`'s text: a `cargo install` without
/// `--locked`, which may pick newer versions than the lockfile's, is not
/// told apart from one with it.
pub fn program_id() -> &'static ProgramId {
    static ID: OnceLock<ProgramId> = OnceLock::new();
    ID.get_or_init(|| Sha256::digest(format!("{} {}", env!("SITE_GEN_SOURCE_ID"), env!("CARGO_PKG_VERSION"))).into())
}

fn key(file_text: &str, body_start: usize) -> Key {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&(body_start as u64).to_le_bytes());
    h.update(file_text.as_bytes());
    h.digest128().to_le_bytes()
}

/// The cache file's first line for caches of `program`.
fn header(program: &ProgramId) -> String {
    format!("{CACHE_MAGIC} {}\n", hex(program))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The entries of a cache made by `program`: key → (start, end, number) of
/// the encoded body; `None` for another program or any damage.
fn read_index(bytes: &[u8], program: &ProgramId) -> Option<FxHashMap<Key, (usize, usize, usize)>> {
    let header = header(program);
    let mut at = header.len();
    if !bytes.starts_with(header.as_bytes()) {
        return None;
    }
    let mut index = FxHashMap::default();
    while at < bytes.len() {
        let key: Key = bytes.get(at..at + KEY_BYTES)?.try_into().ok()?;
        let len = u64::from_le_bytes(bytes.get(at + KEY_BYTES..at + KEY_BYTES + 8)?.try_into().ok()?);
        let start = at + KEY_BYTES + 8;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        if end > bytes.len() {
            return None;
        }
        let number = index.len();
        if index.insert(key, (start, end, number)).is_some() {
            // No save writes a key twice.
            return None;
        }
        at = end;
    }
    Some(index)
}

/// One rendered body of `file_text`: its HTML, its summary (absent or
/// present), its links. A link's line is kept as where it starts in the
/// file (the file is at hand whenever the body is read back); `None` if a
/// link's line is not one of the file's.
fn encode(r: &RenderedMarkdown, file_text: &str) -> Option<Vec<u8>> {
    fn text(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    fn number(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    let mut out = Vec::with_capacity(r.html.len() + r.summary_html.as_ref().map_or(0, String::len) + 64);
    text(&mut out, &r.html);
    match &r.summary_html {
        Some(s) => {
            out.push(1);
            text(&mut out, s);
        }
        None => out.push(0),
    }
    number(&mut out, r.links.len());
    let line_starts: Vec<usize> = if r.links.is_empty() {
        Vec::new()
    } else {
        std::iter::once(0).chain(file_text.match_indices('\n').map(|(i, _)| i + 1)).collect()
    };
    for link in &r.links {
        let start = *line_starts.get(link.location.line.checked_sub(1)?)?;
        if line_at(file_text, start)? != link.location.source_line {
            return None;
        }
        text(&mut out, &link.target);
        number(&mut out, link.location.line);
        number(&mut out, link.location.column);
        number(&mut out, start);
    }
    Some(out)
}

/// The line of `file_text` that starts at byte `start`, as
/// [`Location::source_line`] holds it.
fn line_at(file_text: &str, start: usize) -> Option<&str> {
    Some(file_text.get(start..)?.lines().next().unwrap_or(""))
}

/// [`encode`]'s reverse; `None` for anything it did not write.
fn decode(bytes: &[u8], file_text: &str) -> Option<RenderedMarkdown> {
    struct Reader<'b>(&'b [u8]);
    impl Reader<'_> {
        fn number(&mut self) -> Option<usize> {
            let (n, rest) = self.0.split_first_chunk::<8>()?;
            self.0 = rest;
            usize::try_from(u64::from_le_bytes(*n)).ok()
        }
        fn byte(&mut self) -> Option<u8> {
            let (b, rest) = self.0.split_first()?;
            self.0 = rest;
            Some(*b)
        }
        fn text(&mut self) -> Option<String> {
            let len = self.number()?;
            if len > self.0.len() {
                return None;
            }
            let (s, rest) = self.0.split_at(len);
            self.0 = rest;
            String::from_utf8(s.to_vec()).ok()
        }
    }
    let mut r = Reader(bytes);
    let html = r.text()?;
    let summary_html = match r.byte()? {
        0 => None,
        1 => Some(r.text()?),
        _ => return None,
    };
    let count = r.number()?;
    // Each link takes at least 32 bytes: a count beyond that is damage.
    if count > r.0.len() / 32 {
        return None;
    }
    let mut links = Vec::with_capacity(count);
    for _ in 0..count {
        let target = r.text()?;
        let line = r.number()?;
        let column = r.number()?;
        let source_line = line_at(file_text, r.number()?)?.to_string();
        links.push(SourceLink { target, location: Location { line, column, source_line } });
    }
    r.0.is_empty().then_some(RenderedMarkdown { html, summary_html, links })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POST: &str = "+++\ntitle = \"Fog\"\n+++\nThe *harbour* at [dawn](/clips/dawn/) — “quiet”.\n\n<!-- more -->\n\nMore ![still](/posters/fog.jpg) and a | table |\n";

    fn body_start(text: &str) -> usize {
        text.find("+++\nThe").map_or(0, |i| i + 4)
    }

    fn same(a: &RenderedMarkdown, b: &RenderedMarkdown) {
        assert_eq!(a.html, b.html);
        assert_eq!(a.summary_html, b.summary_html);
        assert_eq!(a.links, b.links);
    }

    #[test]
    fn a_kept_body_is_what_rendering_gives() {
        let root = tempfile::tempdir().unwrap();
        let texts = [POST.to_string(), "No links, no summary.".to_string(), String::new(), POST.replace("Fog", "Mist")];
        let cache = MarkdownCache::open(root.path());
        let made: Vec<_> = texts.iter().map(|t| cache.render(t, body_start(t))).collect();
        cache.save();
        let kept = MarkdownCache::open(root.path());
        assert_eq!(kept.index.len(), texts.len());
        for (t, m) in texts.iter().zip(&made) {
            let fresh = markdown::render(t, body_start(t));
            same(m, &fresh);
            same(&kept.render(t, body_start(t)), &fresh);
        }
        assert!(kept.fresh.lock().unwrap().written.is_empty(), "every body came from the cache");
        assert!(made[0].summary_html.is_some() && made[0].links.len() == 2, "the sample has a summary and links");
    }

    #[test]
    fn the_cache_is_read_not_rendered_again() {
        let root = tempfile::tempdir().unwrap();
        let cache = MarkdownCache::open(root.path());
        cache.render(POST, body_start(POST));
        cache.save();
        // A kept body with a marker in place of its HTML shows which was used.
        let bytes = std::fs::read(root.path().join(CACHE_FILE)).unwrap();
        let index = read_index(&bytes, program_id()).unwrap();
        let (start, end, _) = index[&key(POST, body_start(POST))];
        let mut body = decode(&bytes[start..end], POST).unwrap();
        body.html = "<p>marker</p>".into();
        let encoded = encode(&body, POST).unwrap();
        let mut patched = bytes[..start - 8].to_vec();
        patched.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
        patched.extend_from_slice(&encoded);
        std::fs::write(root.path().join(CACHE_FILE), patched).unwrap();
        assert_eq!(MarkdownCache::open(root.path()).render(POST, body_start(POST)).html, "<p>marker</p>");
        // Another body start is another key: rendered, not the marker.
        assert_ne!(MarkdownCache::open(root.path()).render(POST, 0).html, "<p>marker</p>");
    }

    #[cfg(unix)]
    #[test]
    fn the_cache_holds_the_last_loads_bodies_and_is_written_only_when_they_change() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join(CACHE_FILE);
        let first = MarkdownCache::open(root.path());
        first.render("one", 0);
        first.render("two", 0);
        first.save();
        // A save writes a new file and renames it: a new inode.
        let inode = std::fs::metadata(&file).unwrap().ino();
        let again = MarkdownCache::open(root.path());
        again.render("two", 0);
        again.render("one", 0);
        again.save();
        assert_eq!(std::fs::metadata(&file).unwrap().ino(), inode, "the same bodies: not written again");
        // "two" gone, "three" new: the cache holds "one" and "three".
        let next = MarkdownCache::open(root.path());
        next.render("one", 0);
        next.render("three", 0);
        next.save();
        assert_ne!(std::fs::metadata(&file).unwrap().ino(), inode);
        let mut keys: Vec<Key> = MarkdownCache::open(root.path()).index.keys().copied().collect();
        keys.sort();
        let mut want = vec![key("one", 0), key("three", 0)];
        want.sort();
        assert_eq!(keys, want);
    }

    #[test]
    fn a_damaged_or_foreign_cache_is_never_used() {
        let root = tempfile::tempdir().unwrap();
        let cache = MarkdownCache::open(root.path());
        cache.render(POST, body_start(POST));
        cache.save();
        let good = std::fs::read(root.path().join(CACHE_FILE)).unwrap();
        let program = program_id();
        assert!(read_index(&good, program).is_some());
        for cut in [good.len() - 1, good.len() - 9, 10] {
            assert!(read_index(&good[..cut], program).is_none(), "cut at {cut}");
        }
        // Another program's cache.
        let other = [7u8; 32];
        assert!(read_index(&good, &other).is_none());
        // A key twice (no save writes that): refused whole, no panic later.
        let header_len = good.iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut twice = good.clone();
        twice.extend_from_slice(&good[header_len..]);
        assert!(read_index(&twice, program).is_none());
        std::fs::write(root.path().join(CACHE_FILE), &twice).unwrap();
        same(
            &MarkdownCache::open(root.path()).render(POST, body_start(POST)),
            &markdown::render(POST, body_start(POST)),
        );
        // A body that is not one: each entry is checked as it is read.
        let (start, end, _) = read_index(&good, program).unwrap()[&key(POST, body_start(POST))];
        assert!(decode(&good[start..end], POST).is_some());
        assert!(decode(&good[start..end - 1], POST).is_none());
        assert!(decode(&[0xff; 40], POST).is_none());
        let mut bad_utf8 = encode(&markdown::render("x", 0), "x").unwrap();
        bad_utf8[8] = 0xff;
        assert!(decode(&bad_utf8, "x").is_none());
        // A link's line start that is not in the file, or not at a character.
        let linked = "[a](/b)\n\n—[c](/d)\n";
        let mut rendered = markdown::render(linked, 0);
        let encoded = encode(&rendered, linked).unwrap();
        assert_eq!(decode(&encoded, linked).unwrap().links, rendered.links);
        assert!(decode(&encoded, "[a](/b)\n").is_none(), "the second link's line is past the end");
        assert!(decode(&encoded, "[a](/b)\n\u{e9}x").is_none(), "not at a character boundary");
        rendered.links[1].location.source_line = "another line".into();
        assert!(encode(&rendered, linked).is_none(), "a line not in the file is not kept");
        // An unreadable cache file (a folder in its place) is ignored: rendered.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(CACHE_FILE)).unwrap();
        let c = MarkdownCache::open(dir.path());
        same(&c.render(POST, 3), &markdown::render(POST, 3));
        c.save();
        assert!(dir.path().join(CACHE_FILE).is_dir(), "left as it was");
        // Nor is a named pipe read (it would wait for a writer forever).
        let fifo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(fifo.path().join(".site-gen")).unwrap();
        let made = std::process::Command::new("mkfifo").arg(fifo.path().join(CACHE_FILE)).status();
        if made.is_ok_and(|s| s.success()) {
            same(&MarkdownCache::open(fifo.path()).render(POST, 3), &markdown::render(POST, 3));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_save_leaves_no_temporary_file_and_old_ones_are_cleared() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join(".site-gen");
        std::fs::create_dir_all(&folder).unwrap();
        let old = folder.join("markdown-cache.tmp-left-by-a-killed-build");
        let young = folder.join("markdown-cache.tmp-a-save-under-way");
        std::fs::write(&old, b"x").unwrap();
        std::fs::write(&young, b"x").unwrap();
        let long_ago = std::time::SystemTime::now() - kept::STALE_TMP - std::time::Duration::from_secs(60);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(long_ago).unwrap();
        let cache = MarkdownCache::open(root.path());
        cache.render("one", 0);
        cache.save();
        let mut names: Vec<String> =
            std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["markdown-cache", "markdown-cache.tmp-a-save-under-way"]);
        // A shop with no Markdown at all: the empty cache is written once.
        let empty = tempfile::tempdir().unwrap();
        MarkdownCache::open(empty.path()).save();
        let file = empty.path().join(CACHE_FILE);
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(&file).unwrap().ino();
        MarkdownCache::open(empty.path()).save();
        assert_eq!(std::fs::metadata(&file).unwrap().ino(), inode);
    }
}
