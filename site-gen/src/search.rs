//! The shop's search: a static [Pagefind](https://pagefind.app) index of the
//! published clips, written into the site under `/pagefind/`, and what the
//! search page (`/search/`, `templates/search.html` with `static/js/search.js`)
//! offers to filter by.
//!
//! Each clip becomes one Pagefind *custom record* made from the loaded shop
//! (title, description text, tag names), not from its rendered page: nothing
//! is parsed back out of HTML, and the index can be made beside the pages
//! instead of after them. Pagefind's filters are categories, so the clip's
//! price and running time are put into buckets ([`price_bucket`],
//! [`duration_bucket`]); tags and the resolution's familiar name (`1080p`,
//! `4K`) are filters as they are.
//!
//! The index is a pure function of the clips: a clean build and `site-gen
//! serve`'s incremental rebuilds write the same bytes (`crate::incremental`
//! rewrites the bundle whenever a clip changed).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::content::{Clip, Price, Shop};
use crate::render::{OutputContents, OutputFile};

/// Public path of the search page.
pub const SEARCH_PATH: &str = "/search/";
/// The folder of the site that holds Pagefind's bundle (its default,
/// which `static/js/search.js` imports `pagefind.js` from).
pub const BUNDLE_DIR: &str = "pagefind";

/// The price buckets' bounds, in whole units of the shop's currency: a price
/// below the first is "under", one above the last is "over", the rest
/// (bounds included) lie between.
pub const PRICE_BOUNDS: (u64, u64) = (20, 50);
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

/// The three price buckets of a shop in `currency`, cheapest first.
pub fn price_buckets(currency: &str) -> [String; 3] {
    let whole = |n: u64| Price::display_pattern(currency).replace(Price::AMOUNT, &n.to_string());
    let (low, high) = PRICE_BOUNDS;
    [format!("Under {}", whole(low)), format!("{}–{}", whole(low), whole(high)), format!("Over {}", whole(high))]
}

/// The bucket of a price: under 20, 20 to 50 (both included), over 50.
pub fn price_bucket(price: Price, currency: &str) -> String {
    let (low, high) = PRICE_BOUNDS;
    let [under, between, over] = price_buckets(currency);
    if price.cents < low * 100 {
        under
    } else if price.cents <= high * 100 {
        between
    } else {
        over
    }
}

/// The bucket of a running time in seconds.
pub fn duration_bucket(seconds: u64) -> &'static str {
    DURATION_BUCKETS.iter().find(|(max, _)| seconds <= *max).map_or(DURATION_LONGEST, |(_, label)| label)
}

/// A clip's filter values, by filter key. A tag is filtered by its slug,
/// as its tag page is addressed: `Sea` on one clip and `sea` on another are one tag.
pub fn clip_filters(clip: &Clip, currency: &str) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        ("tag".to_string(), clip.tags.iter().map(|t| t.slug.clone()).collect()),
        ("resolution".to_string(), vec![clip.resolution.label()]),
        ("price".to_string(), vec![price_bucket(clip.price, currency)]),
        ("duration".to_string(), vec![duration_bucket(clip.duration.seconds).to_string()]),
    ])
}

/// What a search result shows of a clip (Pagefind's `meta`; `title` and
/// `image` are the names Pagefind itself knows).
pub fn clip_meta(clip: &Clip, currency: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("title".to_string(), clip.title.clone()),
        ("image".to_string(), clip.poster.clone()),
        ("price".to_string(), clip.price.display(currency)),
        ("resolution".to_string(), clip.resolution.label()),
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
    let mut resolutions: Vec<(u32, String)> =
        shop.clips.iter().map(|c| (c.resolution.height.min(c.resolution.width), c.resolution.label())).collect();
    resolutions.sort();
    resolutions.dedup();
    let prices: BTreeSet<String> = shop.clips.iter().map(|c| price_bucket(c.price, currency)).collect();
    let durations: BTreeSet<&str> = shop.clips.iter().map(|c| duration_bucket(c.duration.seconds)).collect();
    let durations_in_order = DURATION_BUCKETS.iter().map(|(_, label)| *label).chain([DURATION_LONGEST]);
    let same = |v: String| json!({"value": v, "label": v});
    let values: [Vec<Value>; 4] = [
        tags.into_iter().map(|(slug, name)| json!({"value": slug, "label": name})).collect(),
        resolutions.into_iter().map(|(_, label)| same(label)).collect(),
        price_buckets(currency).into_iter().filter(|b| prices.contains(b)).map(same).collect(),
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

/// Pagefind's bundle for the shop's clips: the files of `/pagefind/` (paths
/// inside the site, like `pagefind/pagefind.js`), sorted by path.
pub fn index(shop: &Shop) -> Result<Vec<OutputFile>, SearchError> {
    fn err(e: impl std::fmt::Display) -> SearchError {
        SearchError(e.to_string())
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| SearchError(format!("cannot start its runtime: {e}")))?;
    let currency = &shop.config.currency;
    let language = shop.config.language.clone();
    let files = runtime.block_on(async {
        let options = pagefind::options::PagefindServiceConfig::builder().force_language(language.clone()).build();
        let mut index = pagefind::api::PagefindIndex::new(Some(options)).map_err(err)?;
        for clip in &shop.clips {
            index
                .add_custom_record(
                    clip.url(),
                    clip_text(clip),
                    language.clone(),
                    Some(clip_meta(clip, currency)),
                    Some(clip_filters(clip, currency)),
                    None,
                )
                .await
                .map_err(err)?;
        }
        index.get_files().await.map_err(err)
    })?;
    let mut out: Vec<OutputFile> = files
        .into_iter()
        .filter_map(|f| {
            let rel = f.filename.strip_prefix(BUNDLE_DIR).unwrap_or(&f.filename);
            let rel = rel.to_string_lossy().replace('\\', "/");
            (!UNUSED_BUNDLE_FILES.contains(&rel.as_str()) && !rel.starts_with("playground/")).then(|| OutputFile {
                path: format!("{BUNDLE_DIR}/{rel}"),
                contents: OutputContents::Rendered(f.contents),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_fall_into_buckets_with_the_bounds_in_the_middle_one() {
        let bucket = |cents| price_bucket(Price { cents }, "EUR");
        assert_eq!(price_buckets("EUR"), ["Under €20", "€20–€50", "Over €50"]);
        assert_eq!(bucket(0), "Under €20");
        assert_eq!(bucket(1999), "Under €20");
        assert_eq!(bucket(2000), "€20–€50");
        assert_eq!(bucket(5000), "€20–€50");
        assert_eq!(bucket(5001), "Over €50");
        assert_eq!(price_bucket(Price { cents: 1500 }, "CHF"), "Under 20 CHF");
        assert_eq!(price_bucket(Price { cents: 9900 }, "USD"), "Over $50");
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
