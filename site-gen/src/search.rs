//! The shop's search: a static [Pagefind](https://pagefind.app) index of the
//! published clips, written into the site under `/pagefind/`, and what the
//! search page (`/search/`, `templates/search.html` with `static/js/search.js`)
//! offers to filter by.
//!
//! Each clip becomes one Pagefind *custom record* made from the loaded shop
//! (title, description text, tag names), not from its rendered page: nothing
//! is parsed back out of HTML, and the index can be made beside the pages
//! instead of after them. Pagefind's filters are categories, so the clip's
//! price and running time are put into buckets ([`PriceBands`],
//! [`duration_bucket`]); tags and the resolution's familiar name (`1080p`,
//! `4K`) are filters as they are.
//!
//! The index is a pure function of the clips: a clean build and `site-gen
//! serve`'s incremental rebuilds write the same bytes (`crate::incremental`
//! rewrites the bundle whenever a clip changed). Making it is most of a
//! build's time at thousands of clips (docs/benchmarks.md), so [`cached`]
//! keeps the last bundle in `.site-gen/search-index` under the hash of
//! everything it was made from, and a build whose clips did not change for
//! the index (a news post, a template, another price bucket excepted) uses it
//! again.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::content::{Clip, Price, Shop};
use crate::render::{OutputContents, OutputFile};

/// Public path of the search page.
pub const SEARCH_PATH: &str = "/search/";
/// The folder of the site that holds Pagefind's bundle (its default,
/// which `static/js/search.js` imports `pagefind.js` from).
pub const BUNDLE_DIR: &str = "pagefind";

/// The running-time buckets: (upper bound in seconds, inclusive; label).
/// A clip longer than the last bound is in [`DURATION_LONGEST`].
pub const DURATION_BUCKETS: [(u64, &str); 3] = [(9, "Under 10 s"), (30, "10–30 s"), (60, "30 s–1 min")];
/// The bucket of clips longer than a minute.
pub const DURATION_LONGEST: &str = "Over 1 min";

/// The filters, in the order the search page shows them: (key in the
/// index, label of the control).
pub const FILTERS: [(&str, &str); 4] =
    [("tag", "Tag"), ("resolution", "Resolution"), ("price", "Price"), ("duration", "Duration")];

/// Pagefind's files that the search page does not use (its ready-made
/// interfaces and their styles, the playground): left out of the site.
const UNUSED_BUNDLE_FILES: [&str; 7] = [
    "pagefind-ui.js",
    "pagefind-ui.css",
    "pagefind-modular-ui.js",
    "pagefind-modular-ui.css",
    "pagefind-component-ui.js",
    "pagefind-component-ui.css",
    "pagefind-highlight.js",
];

#[derive(Debug, thiserror::Error)]
#[error("could not build the search index: {0}")]
pub struct SearchError(String);

/// The price filter's three buckets: under `low`, `low` to `high` (both
/// included), over `high`, in whole units of the shop's currency. The bounds
/// are chosen from the shop's own prices ([`PriceBands::of`]): fixed amounts
/// put every clip of a yen shop, or of a shop selling 4K clips at €80, into
/// one bucket, and the filter would narrow nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceBands {
    pub low: u64,
    pub high: u64,
}

impl PriceBands {
    /// The bounds of a shop without clips.
    const DEFAULT: PriceBands = PriceBands { low: 20, high: 50 };

    /// The round bounds (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 times a power of
    /// ten, whole units) that split the shop's clips, by the price their
    /// cards show, most evenly into three; of equally even splits, the one
    /// with more in the cheaper buckets (two clips: "under" and the middle),
    /// then the lowest bounds.
    pub fn of(shop: &Shop) -> PriceBands {
        Self::splitting(shop.clips.iter().map(|c| shown_price(shop, c).0.cents).collect())
    }

    /// [`Self::of`] for prices in hundredths of the currency's unit.
    fn splitting(mut prices: Vec<u64>) -> PriceBands {
        let Some(&most) = prices.iter().max() else { return Self::DEFAULT };
        prices.sort_unstable();
        // Round numbers of whole units, up to the first above every price
        // (two at least).
        let mut rounds = Vec::new();
        let mut scale: u64 = 1;
        'scales: while scale <= u64::MAX / 1000 {
            for tenths in [10, 15, 20, 25, 30, 40, 50, 60, 75] {
                if !(tenths * scale).is_multiple_of(10) {
                    continue;
                }
                let round = tenths * scale / 10;
                rounds.push(round);
                if round.saturating_mul(100) > most && rounds.len() > 1 {
                    break 'scales;
                }
            }
            scale *= 10;
        }
        // Clips under a bound, and at most at it, by binary search.
        let below = |whole: u64| prices.partition_point(|&p| p < whole.saturating_mul(100));
        let up_to = |whole: u64| prices.partition_point(|&p| p <= whole.saturating_mul(100));
        // Nine times the squared distance from a third in each bucket.
        let n = prices.len() as i128;
        let unevenness = |counts: [usize; 3]| counts.iter().map(|&c| (3 * c as i128 - n).pow(2)).sum::<i128>();
        type Rank = (i128, std::cmp::Reverse<[usize; 3]>);
        let mut best: Option<(Rank, PriceBands)> = None;
        for (i, &low) in rounds.iter().enumerate() {
            for &high in &rounds[i + 1..] {
                let (under, at_most_high) = (below(low), up_to(high));
                let counts = [under, at_most_high - under, prices.len() - at_most_high];
                let rank = (unevenness(counts), std::cmp::Reverse(counts));
                if best.as_ref().is_none_or(|(best, _)| rank < *best) {
                    best = Some((rank, PriceBands { low, high }));
                }
            }
        }
        best.map_or(Self::DEFAULT, |(_, bands)| bands)
    }

    /// The three buckets' names in `currency`, cheapest first.
    pub fn labels(self, currency: &str) -> [String; 3] {
        let whole = |n: u64| Price::display_pattern(currency).replace(Price::AMOUNT, &n.to_string());
        let (low, high) = (whole(self.low), whole(self.high));
        [format!("Under {low}"), format!("{low}–{high}"), format!("Over {high}")]
    }

    /// The name of the bucket `price` falls into.
    pub fn bucket(self, price: Price, currency: &str) -> String {
        let [under, between, over] = self.labels(currency);
        if price.cents < self.low.saturating_mul(100) {
            under
        } else if price.cents <= self.high.saturating_mul(100) {
            between
        } else {
            over
        }
    }
}

/// The bucket of a running time in seconds.
pub fn duration_bucket(seconds: u64) -> &'static str {
    DURATION_BUCKETS.iter().find(|(max, _)| seconds <= *max).map_or(DURATION_LONGEST, |(_, label)| label)
}

/// A clip's filter values, by filter key, with the shop's price `bands`. A
/// tag is filtered by its slug, as its tag page is addressed: `Sea` on one
/// clip and `sea` on another are one tag.
pub fn clip_filters(shop: &Shop, clip: &Clip, bands: PriceBands) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        ("tag".to_string(), clip.tags.iter().map(|t| t.slug.clone()).collect()),
        ("resolution".to_string(), resolutions(clip).into_iter().map(|(_, label)| label).collect()),
        ("price".to_string(), price_buckets(shop, clip, bands)),
        ("duration".to_string(), vec![duration_bucket(clip.duration.seconds).to_string()]),
    ])
}

/// The price buckets of each file a clip sells, under the default
/// licence: a 4K clip at 48 with a 720p file at 24 is found between 20 and
/// 25 too, not only under its lowest price's bucket.
fn price_buckets(shop: &Shop, clip: &Clip, bands: PriceBands) -> Vec<String> {
    let currency = &shop.config.currency;
    if clip.stripe_payment_link.is_some() {
        return vec![bands.bucket(clip.price, currency)];
    }
    let mut buckets: Vec<String> = Vec::new();
    for priced in crate::offers::Offers::of(shop, clip).per_file() {
        let bucket = bands.bucket(priced.price, currency);
        if !buckets.contains(&bucket) {
            buckets.push(bucket);
        }
    }
    buckets
}

/// The resolutions a clip is sold in, highest first, by their familiar
/// names, with the short side they sort by: its main file's and its other
/// files'. A customer filtering for 720p finds a 4K clip sold in 720p too.
fn resolutions(clip: &Clip) -> Vec<(u32, String)> {
    let all = std::iter::once(&clip.resolution).chain(clip.variants.iter().map(|v| &v.resolution));
    let mut named: Vec<(u32, String)> = all.map(|r| (r.height.min(r.width), r.label())).collect();
    named.sort_by(|a, b| b.cmp(a));
    named.dedup_by(|a, b| a.1 == b.1);
    named
}

/// The price a clip's card shows, as the checkout charges it: its main
/// file's under the default licence, or, with other files, the lowest
/// (`true`: "from").
fn shown_price(shop: &Shop, clip: &Clip) -> (Price, bool) {
    if clip.stripe_payment_link.is_some() {
        // Its Payment Link sells one thing, at the price its page shows.
        return (clip.price, false);
    }
    let offers = crate::offers::Offers::of(shop, clip);
    if clip.variants.is_empty() {
        (offers.default().price, false)
    } else {
        (offers.lowest(), true)
    }
}

/// What a search result shows of a clip (Pagefind's `meta`; `title` and
/// `image` are the names Pagefind itself knows).
pub fn clip_meta(shop: &Shop, clip: &Clip) -> BTreeMap<String, String> {
    let (price, from) = shown_price(shop, clip);
    let price = price.display(&shop.config.currency);
    BTreeMap::from([
        ("title".to_string(), clip.title.clone()),
        ("image".to_string(), clip.poster.clone()),
        ("price".to_string(), if from { format!("from {price}") } else { price }),
        (
            "resolution".to_string(),
            resolutions(clip).into_iter().map(|(_, label)| label).collect::<Vec<_>>().join(", "),
        ),
        ("duration".to_string(), clip.duration.to_string()),
    ])
}

/// The words a clip is found by: its title, its description's text, its tags.
pub fn clip_text(clip: &Clip) -> String {
    let tags: Vec<&str> = clip.tags.iter().map(|t| t.name.as_str()).collect();
    format!("{}. {} {}", clip.title, crate::structured_data::plain_text(&clip.description_html), tags.join(" "))
}

/// What the search page offers for each filter, for `templates/search.html`:
/// `[{key, label, values: [{value, label}]}]` in [`FILTERS`] order; the
/// clips' tags (by slug, named as on their newest clip) and resolutions
/// (lowest first), the buckets in their own order; only values some clip has.
pub fn filter_options(shop: &Shop) -> Value {
    let currency = &shop.config.currency;
    let mut tags: BTreeMap<&str, &str> = BTreeMap::new();
    for tag in shop.clips.iter().flat_map(|c| &c.tags) {
        tags.entry(&tag.slug).or_insert(&tag.name);
    }
    let mut resolutions: Vec<(u32, String)> = shop.clips.iter().flat_map(resolutions).collect();
    resolutions.sort();
    resolutions.dedup();
    let bands = PriceBands::of(shop);
    let prices: BTreeSet<String> = shop.clips.iter().map(|c| bands.bucket(shown_price(shop, c).0, currency)).collect();
    let durations: BTreeSet<&str> = shop.clips.iter().map(|c| duration_bucket(c.duration.seconds)).collect();
    let durations_in_order = DURATION_BUCKETS.iter().map(|(_, label)| *label).chain([DURATION_LONGEST]);
    let same = |v: String| json!({"value": v, "label": v});
    let values: [Vec<Value>; 4] = [
        tags.into_iter().map(|(slug, name)| json!({"value": slug, "label": name})).collect(),
        resolutions.into_iter().map(|(_, label)| same(label)).collect(),
        bands.labels(currency).into_iter().filter(|b| prices.contains(b)).map(same).collect(),
        durations_in_order.filter(|d| durations.contains(d)).map(|d| same(d.to_string())).collect(),
    ];
    Value::Array(
        FILTERS
            .iter()
            .zip(values)
            .map(|((key, label), values)| json!({"key": key, "label": label, "values": values}))
            .collect(),
    )
}

/// Where the last bundle is kept, relative to the shop's root (beside
/// `site-gen media`'s `.site-gen/media.json`; never published).
pub const CACHE_FILE: &str = ".site-gen/search-index";

/// The Pagefind release the bundle is made with: part of the cache key, so
/// that an upgrade makes the index afresh (a test checks it against
/// Cargo.lock).
const PAGEFIND_VERSION: &str = "1.6.0";

/// The first line of the cache file: its format, then the key.
const CACHE_MAGIC: &str = "clipstore search index cache 2";

/// A cache file larger than this is not read: 5,000 clips take 7 MB.
const MAX_CACHE_BYTES: u64 = 1 << 30;

/// [`index`], or the bundle the last build made when the clips' records
/// are the same: what `site-gen build` writes. The cache is only a speed-up:
/// one that is missing, stale or damaged is made afresh, and one that
/// cannot be written is warned of (nothing else changes).
pub fn cached(root: &std::path::Path, shop: &Shop) -> Result<Vec<OutputFile>, SearchError> {
    let path = root.join(CACHE_FILE);
    let key = cache_key(shop);
    let kept = crate::kept::read(&path, cache_header(&key).as_bytes(), MAX_CACHE_BYTES);
    if let Some(files) = kept.and_then(|bytes| read_cache(&bytes, &key)) {
        return Ok(files);
    }
    let files = index(shop)?;
    crate::kept::save(&path, &write_cache(&key, &files), "the search index");
    Ok(files)
}

/// The hash of everything the bundle is made from: the Pagefind release,
/// the program that makes the records, the shop's language and currency,
/// and what each record is made of. A record's text is hashed as what
/// [`clip_text`] makes it from (title, description HTML, tag names), not
/// made: that would be most of the key's cost, and the program's source
/// (`markdown_cache::program_id`) stands for how it is made. XXH3-128, as
/// for the rendered Markdown and the pages kept: it tells an edit apart
/// (a forgery made to collide needs write access to `.site-gen/`, and
/// with it the shop); SHA-256 over every description was 4.6 % of a clean
/// build's instructions.
fn cache_key(shop: &Shop) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(PAGEFIND_VERSION.as_bytes());
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(crate::markdown_cache::program_id());
    field(shop.config.language.as_bytes());
    field(shop.config.currency.as_bytes());
    let bands = PriceBands::of(shop);
    for clip in &shop.clips {
        field(clip.url().as_bytes());
        field(clip.title.as_bytes());
        field(clip.description_html.as_bytes());
        field(&(clip.tags.len() as u64).to_le_bytes());
        for tag in &clip.tags {
            field(tag.name.as_bytes());
        }
        field(serde_json::to_string(&clip_meta(shop, clip)).unwrap_or_default().as_bytes());
        field(serde_json::to_string(&clip_filters(shop, clip, bands)).unwrap_or_default().as_bytes());
    }
    format!("{:032x}", h.digest128())
}

/// The cache file's first line for a bundle made under `key`.
fn cache_header(key: &str) -> String {
    format!("{CACHE_MAGIC} {key}\n")
}

/// The cache file: the magic and key on one line, then per file its path,
/// a tab, its length and a newline, then its bytes.
fn write_cache(key: &str, files: &[OutputFile]) -> Vec<u8> {
    let mut out = cache_header(key).into_bytes();
    for f in files {
        if let OutputContents::Rendered(bytes) = &f.contents {
            out.extend_from_slice(format!("{}\t{}\n", f.path, bytes.len()).as_bytes());
            out.extend_from_slice(bytes);
        }
    }
    out
}

/// The files of a cache made under `key`; `None` for another key or any
/// damage (a cut-off file, a bad length, a path outside the bundle).
fn read_cache(bytes: &[u8], key: &str) -> Option<Vec<OutputFile>> {
    let mut rest = bytes.strip_prefix(cache_header(key).as_bytes())?;
    let mut files = Vec::new();
    while !rest.is_empty() {
        let line_end = rest.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&rest[..line_end]).ok()?;
        let (path, len) = line.split_once('\t')?;
        let len: usize = len.parse().ok()?;
        let ok_path = path.strip_prefix(BUNDLE_DIR).is_some_and(|p| p.starts_with('/'))
            && !path.split('/').any(|part| part.is_empty() || part == "..");
        if !ok_path || rest.len() < line_end + 1 + len {
            return None;
        }
        let contents = rest[line_end + 1..line_end + 1 + len].to_vec();
        if wanted(path) {
            files.push(OutputFile { path: path.to_string(), contents: OutputContents::Rendered(contents) });
        }
        rest = &rest[line_end + 1 + len..];
    }
    (!files.is_empty()).then_some(files)
}

/// Whether a file of Pagefind's bundle (`pagefind/…`) goes into the site.
fn wanted(path: &str) -> bool {
    let rel = path.strip_prefix(BUNDLE_DIR).and_then(|p| p.strip_prefix('/')).unwrap_or(path);
    !UNUSED_BUNDLE_FILES.contains(&rel) && !rel.starts_with("playground/")
}

/// Pagefind's bundle for the shop's clips: the files of `/pagefind/` (paths
/// inside the site, like `pagefind/pagefind.js`), sorted by path.
pub fn index(shop: &Shop) -> Result<Vec<OutputFile>, SearchError> {
    fn err(e: impl std::fmt::Display) -> SearchError {
        SearchError(e.to_string())
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| SearchError(format!("cannot start its runtime: {e}")))?;
    let language = shop.config.language.clone();
    let files = runtime.block_on(async {
        let options = pagefind::options::PagefindServiceConfig::builder().force_language(language.clone()).build();
        let mut index = pagefind::api::PagefindIndex::new(Some(options)).map_err(err)?;
        let bands = PriceBands::of(shop);
        let records = shop
            .clips
            .iter()
            .map(|clip| pagefind::api::CustomRecord {
                url: clip.url(),
                content: clip_text(clip),
                language: language.clone(),
                meta: Some(clip_meta(shop, clip)),
                filters: Some(clip_filters(shop, clip, bands)),
                sort: None,
            })
            .collect();
        // All at once, so that Pagefind splits them into words on all cores.
        index.add_custom_records(records).await.map_err(err)?;
        index.get_files().await.map_err(err)
    })?;
    let mut out: Vec<OutputFile> = files
        .into_iter()
        .filter_map(|f| {
            let rel = f.filename.strip_prefix(BUNDLE_DIR).unwrap_or(&f.filename);
            let path = format!("{BUNDLE_DIR}/{}", rel.to_string_lossy().replace('\\', "/"));
            wanted(&path).then_some(OutputFile { path, contents: OutputContents::Rendered(f.contents) })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file's contents, gunzipped when gzipped (Pagefind's index files,
    /// and the WebAssembly it ships gzipped).
    fn gunzipped(bytes: &[u8]) -> Vec<u8> {
        use std::io::Read;
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            return bytes.to_vec();
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("valid gzip");
        out
    }

    fn small_shop() -> Shop {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop");
        crate::load_shop(&root).expect("the fixture loads")
    }

    fn paths(files: &[OutputFile]) -> Vec<&str> {
        files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn the_cache_is_used_again_only_for_the_same_records() {
        let root = tempfile::tempdir().unwrap();
        let mut shop = small_shop();
        let made = cached(root.path(), &shop).unwrap();
        assert!(root.path().join(CACHE_FILE).is_file());
        assert!(paths(&made).contains(&"pagefind/pagefind-entry.json"));
        // What the cache holds is what the next build writes: a cache
        // holding a marker instead shows it was read, not made again.
        let marker = OutputFile { path: "pagefind/marker".into(), contents: OutputContents::Rendered(b"m".to_vec()) };
        std::fs::write(root.path().join(CACHE_FILE), write_cache(&cache_key(&shop), &[marker])).unwrap();
        assert_eq!(paths(&cached(root.path(), &shop).unwrap()), ["pagefind/marker"]);
        // Another title: another key, the index made afresh and kept.
        shop.clips[0].title.push_str(" (new)");
        let fresh = cached(root.path(), &shop).unwrap();
        assert_eq!(fresh.len(), made.len());
        assert_ne!(paths(&fresh), paths(&made), "the changed clip's fragment and the index have new names");
        let kept = std::fs::read(root.path().join(CACHE_FILE)).unwrap();
        assert!(read_cache(&kept, &cache_key(&shop)).is_some());
        assert!(read_cache(&kept, &cache_key(&small_shop())).is_none(), "the old key no longer matches");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_or_a_named_pipe_at_the_cache_is_not_read() {
        let shop = small_shop();
        let marker = OutputFile { path: "pagefind/marker".into(), contents: OutputContents::Rendered(b"m".to_vec()) };
        let linked = write_cache(&cache_key(&shop), &[marker]);
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("index");
        std::fs::write(&target, &linked).unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(".site-gen")).unwrap();
        std::os::unix::fs::symlink(&target, root.path().join(CACHE_FILE)).unwrap();
        let made = cached(root.path(), &shop).unwrap();
        assert!(paths(&made).contains(&"pagefind/pagefind-entry.json"), "made afresh, not the link's marker");
        assert!(root.path().join(CACHE_FILE).is_file() && !root.path().join(CACHE_FILE).is_symlink(), "replaced");
        assert_eq!(std::fs::read(&target).unwrap(), linked, "the link's target untouched");
        // A named pipe would stall the build on open: it is passed over.
        let fifo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(fifo.path().join(".site-gen")).unwrap();
        if std::process::Command::new("mkfifo").arg(fifo.path().join(CACHE_FILE)).status().is_ok_and(|s| s.success()) {
            assert_eq!(paths(&cached(fifo.path(), &shop).unwrap()), paths(&made));
        }
    }

    #[test]
    fn every_part_of_a_record_is_in_the_cache_key() {
        let shop = small_shop();
        let key = cache_key(&shop);
        let changed: [fn(&mut Shop); 6] = [
            |s| s.clips[0].description_html.push_str("<p>more</p>"),
            |s| s.clips[0].tags[0].name.push('s'),
            |s| {
                let tag = s.clips[0].tags[0].clone();
                s.clips[0].tags.push(tag);
            },
            |s| s.clips[0].duration.seconds += 60,
            |s| s.clips[0].poster.push_str("?v=2"),
            |s| s.config.language = "de".into(),
        ];
        for (i, change) in changed.iter().enumerate() {
            let mut other = small_shop();
            change(&mut other);
            assert_ne!(cache_key(&other), key, "change {i}");
        }
        assert_eq!(cache_key(&small_shop()), key);
    }

    #[test]
    fn a_damaged_cache_is_never_used() {
        let shop = small_shop();
        let key = cache_key(&shop);
        let file = |path: &str| OutputFile { path: path.into(), contents: OutputContents::Rendered(b"abc".to_vec()) };
        let good = write_cache(&key, &[file("pagefind/a.js"), file("pagefind/b/c.pf_meta")]);
        assert_eq!(read_cache(&good, &key).map(|f| f.len()), Some(2));
        for cut in [good.len() - 1, good.len() - 4, 10] {
            assert!(read_cache(&good[..cut], &key).is_none(), "cut at {cut}");
        }
        for bad in ["pagefind/../x", "other/x", "pagefind//x", "pagefindx/y"] {
            assert!(read_cache(&write_cache(&key, &[file(bad)]), &key).is_none(), "{bad}");
        }
        // A file Pagefind makes but the site leaves out stays out.
        let ui = read_cache(&write_cache(&key, &[file("pagefind/a.js"), file("pagefind/pagefind-ui.js")]), &key);
        assert_eq!(ui.map(|f| f.len()), Some(1));
    }

    /// The bundle for a shop of 2,500 clips, whose words recur across the
    /// clips (some with a diacritic, some without), holds what the published
    /// Pagefind 1.6.0 makes, file for file and byte for byte once gunzipped
    /// (`vendor/pagefind` gzips at level 6, not 9): it indexes them in
    /// chunks of 1,024 (vendor/README.md), and the last chunk lost or the
    /// chunks merged in reverse order change it (both tried); chunks of 7
    /// give the same bundle (tried). The digest was taken while the copy
    /// wrote the published crate's very bytes (a digest of those, taken with
    /// the published crate, was pinned here until then); another Pagefind
    /// release makes another bundle, and takes it again.
    #[test]
    fn the_index_of_many_clips_is_the_one_published_pagefind_makes() {
        use sha2::Digest;
        let mut shop = small_shop();
        let clips = std::mem::take(&mut shop.clips);
        shop.clips = (0..2500)
            .map(|i| {
                let mut clip = clips[i % clips.len()].clone();
                clip.slug = format!("clip-{i:04}");
                clip.title = format!("{} {i}", clip.title);
                let accent = if i % 5 == 0 { "café" } else { "cafe" };
                clip.description_html.push_str(&format!(
                    "<p>Take {i} of group g{} at the {accent}, crème {}.</p>",
                    i % 37,
                    i % 3
                ));
                clip
            })
            .collect();
        let mut digest = sha2::Sha256::new();
        for file in index(&shop).unwrap() {
            let OutputContents::Rendered(bytes) = &file.contents else { panic!("{} not rendered", file.path) };
            let bytes = gunzipped(bytes);
            digest.update(format!("{}\t{}\n", file.path, bytes.len()).as_bytes());
            digest.update(&bytes);
        }
        let digest: String = digest.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            digest, "3fe941502e2c05703ac0c69dcc988a375c95f294aa63faba4b926172a8ff9b85",
            "the bundle of 2,500 clips differs from published Pagefind's"
        );
    }

    #[test]
    fn the_cache_key_names_the_pagefind_release_in_cargo_lock() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        let entry = lock.split("[[package]]").find(|p| p.contains("name = \"pagefind\"\n")).unwrap();
        assert!(entry.contains(&format!("version = \"{PAGEFIND_VERSION}\"")), "update PAGEFIND_VERSION: {entry}");
    }

    #[test]
    fn prices_fall_into_buckets_with_the_bounds_in_the_middle_one() {
        let bands = PriceBands { low: 20, high: 50 };
        let bucket = |cents| bands.bucket(Price { cents }, "EUR");
        assert_eq!(bands.labels("EUR"), ["Under €20", "€20–€50", "Over €50"]);
        assert_eq!(bucket(0), "Under €20");
        assert_eq!(bucket(1999), "Under €20");
        assert_eq!(bucket(2000), "€20–€50");
        assert_eq!(bucket(5000), "€20–€50");
        assert_eq!(bucket(5001), "Over €50");
        assert_eq!(bands.bucket(Price { cents: 1500 }, "CHF"), "Under 20 CHF");
        assert_eq!(bands.bucket(Price { cents: 9900 }, "USD"), "Over $50");
        assert_eq!(PriceBands { low: 2000, high: 5000 }.labels("JPY"), ["Under ¥2000", "¥2000–¥5000", "Over ¥5000"]);
    }

    /// The bands split the shop's own prices: a yen shop's clips, or a shop
    /// of 4K clips at €60 to €300, are not all "Over 50".
    #[test]
    fn the_price_bands_split_the_shops_own_prices_into_thirds() {
        let whole = |prices: &[u64]| PriceBands::splitting(prices.iter().map(|p| p * 100).collect());
        let counts = |prices: &[u64], bands: PriceBands| {
            let mut counts = [0; 3];
            for &p in prices {
                let label = bands.bucket(Price { cents: p * 100 }, "EUR");
                counts[bands.labels("EUR").iter().position(|l| *l == label).unwrap()] += 1;
            }
            counts
        };
        let yen = [800, 1200, 1500, 1800, 2400, 3000, 4500, 6000, 9000];
        assert_eq!(whole(&yen), PriceBands { low: 2000, high: 5000 });
        assert_eq!(counts(&yen, whole(&yen)), [4, 3, 2]);
        let footage = [59, 79, 79, 99, 129, 149, 199, 249, 299, 349];
        assert_eq!(whole(&footage), PriceBands { low: 100, high: 200 });
        assert_eq!(counts(&footage, whole(&footage)), [4, 3, 3]);
        // The sample shop's prices.
        let sample = [12, 18, 19, 22, 24, 25, 26, 27, 29, 32];
        assert_eq!(whole(&sample), PriceBands { low: 20, high: 25 });
        // One price, or none: one bucket, and bounds that still read well.
        assert_eq!(counts(&[25, 25, 25], whole(&[25, 25, 25])).iter().filter(|&&c| c > 0).count(), 1);
        assert_eq!(PriceBands::splitting(Vec::new()), PriceBands::DEFAULT);
        // Fractions and the largest amounts do not overflow or loop.
        assert_eq!(PriceBands::splitting(vec![1, 2, 3]), PriceBands { low: 1, high: 2 });
        let huge = PriceBands::splitting(vec![u64::MAX / 2, u64::MAX]);
        assert!(huge.low < huge.high);
    }

    #[test]
    fn a_result_shows_the_price_its_card_shows() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variant-shop");
        let shop = crate::load_shop(&root).expect("the fixture loads");
        let clip = |slug: &str| shop.clips.iter().find(|c| c.slug == slug).unwrap();
        let currency = &shop.config.currency;
        // Sold in three files (48, 24, 9.50): from the lowest.
        let harbour = clip("harbour");
        assert_eq!(clip_meta(&shop, harbour)["price"], format!("from {}", Price { cents: 950 }.display(currency)));
        let bands = PriceBands::of(&shop);
        // Found by each of its files' prices, not only the lowest's.
        let mut expected: Vec<String> =
            [4800, 2400, 950].iter().map(|&cents| bands.bucket(Price { cents }, currency)).collect();
        expected.dedup();
        assert_eq!(clip_filters(&shop, harbour, bands)["price"], expected);
        assert!(expected.len() > 1, "the fixture's files fall into more than one band: {expected:?}");
        let quay = clip("quay");
        assert_eq!(clip_meta(&shop, quay)["price"], Price { cents: 1250 }.display(currency));
    }

    #[test]
    fn a_clip_is_found_by_the_resolution_of_each_of_its_files() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variant-shop");
        let shop = crate::load_shop(&root).expect("the fixture loads");
        let clip = |slug: &str| shop.clips.iter().find(|c| c.slug == slug).unwrap();
        let bands = PriceBands::of(&shop);
        // 3840x2160, with 1920x1080 and 1280x720 files: each, highest first.
        let harbour = clip("harbour");
        assert_eq!(clip_filters(&shop, harbour, bands)["resolution"], ["4K", "1080p", "720p"]);
        assert_eq!(clip_meta(&shop, harbour)["resolution"], "4K, 1080p, 720p");
        let quay = clip("quay");
        assert_eq!(clip_filters(&shop, quay, bands)["resolution"], ["1080p"]);
        assert_eq!(clip_meta(&shop, quay)["resolution"], "1080p");
        // The search page offers 720p, which only a variant has, lowest first.
        let options = filter_options(&shop);
        let offered: Vec<&str> =
            options[1]["values"].as_array().unwrap().iter().map(|v| v["value"].as_str().unwrap()).collect();
        assert_eq!(options[1]["key"], "resolution");
        assert_eq!(offered, ["720p", "1080p", "4K"]);
    }

    #[test]
    fn running_times_fall_into_buckets() {
        let cases = [
            (1, "Under 10 s"),
            (9, "Under 10 s"),
            (10, "10–30 s"),
            (30, "10–30 s"),
            (31, "30 s–1 min"),
            (60, "30 s–1 min"),
            (61, "Over 1 min"),
            (3723, "Over 1 min"),
        ];
        for (seconds, bucket) in cases {
            assert_eq!(duration_bucket(seconds), bucket, "{seconds} s");
        }
    }
}
