//! What a build took out of the catalog (a clip, one of its files, a
//! licence tier), and the warning `build`, `check` and `serve` give of it
//! on every build until it is back, not only on the build that took it out.
//!
//! Once deployed, a bought clip or file no longer in the catalog answers
//! "Not found" to its buyers' links. The build that takes it out compares
//! with the last build's manifest, which it then replaces, so the next
//! build would see nothing: an owner who built twice before deploying (a
//! typo fixed in a post) never saw the warning again (the authoring
//! review). What was taken out is therefore remembered in
//! `.site-gen/removed-from-catalog.json`, for [`REMEMBERED_DAYS`].

use std::path::{Path, PathBuf};

use clipstore_core::CatalogManifest;

use crate::content::Shop;

/// How long an item taken out is warned of: the days a checkout's link
/// lasts unless the shop's Worker says otherwise (`CHECKOUT_LINK_DAYS`).
/// Later, no link sold before it went is left but those reissued by hand.
pub const REMEMBERED_DAYS: u64 = 30;

/// One item taken out of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Removed {
    /// The clip's slug.
    pub slug: String,
    /// The file (variant) taken out of a clip still sold; none for the clip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A licence tier taken out (then `slug` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// The clip's key in the bucket when it went: a clip that has it now,
    /// under another slug, was most likely renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    /// When a build first found it gone (unix seconds).
    pub since: i64,
    /// How the owner is told of it now (a rename's fix as the shop is
    /// now, not as it was when it went: the diff review).
    #[serde(skip)]
    pub text: String,
}

impl Removed {
    /// Whether `catalog` has it again.
    fn is_back(&self, catalog: &CatalogManifest) -> bool {
        if let Some(licence) = &self.licence {
            return catalog.shop.licences.iter().any(|l| &l.id == licence);
        }
        let Some(clip) = catalog.clips.get(&self.slug) else { return false };
        match &self.file {
            None => true,
            Some(file) => clip.variant.as_ref().is_some_and(|v| &v.id == file) || clip.variants.get(file).is_some(),
        }
    }
}

/// Where the items taken out of the catalog at `manifest` are remembered:
/// in the shop's `.site-gen/` for its own `catalog-manifest.json`, the one
/// its Worker is built with; none for a manifest written elsewhere (a
/// build with `--manifest` is not the shop's catalog).
pub fn memory(root: &Path, manifest: &Path) -> Option<PathBuf> {
    let own = root.join(crate::DEFAULT_MANIFEST);
    let same_folder = |a: &Path, b: &Path| match (a.parent(), b.parent()) {
        (Some(a), Some(b)) => a == b || a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a)),
        _ => false,
    };
    (manifest.file_name() == own.file_name() && same_folder(manifest, &own))
        .then(|| root.join(".site-gen").join("removed-from-catalog.json"))
}

/// The items taken out that the owner must hear of now: those `catalog`
/// lacks of the last build's manifest at `manifest`, and those remembered
/// at `memory` that are not back and went less than [`REMEMBERED_DAYS`]
/// before `now` (unix seconds), oldest first; a clip's files are not named
/// beside the clip. Each with its text as the shop is now.
pub fn not_in(
    memory: Option<&Path>,
    manifest: &Path,
    shop: &Shop,
    catalog: &CatalogManifest,
    now: i64,
) -> Vec<Removed> {
    let mut items: Vec<Removed> = memory
        .map(remembered)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !r.is_back(catalog) && now.saturating_sub(r.since) < (REMEMBERED_DAYS * 86_400) as i64)
        .collect();
    for item in since_last(manifest, catalog, now) {
        if !items.iter().any(|r| (&r.slug, &r.file, &r.licence) == (&item.slug, &item.file, &item.licence)) {
            items.push(item);
        }
    }
    let gone_clips: Vec<String> =
        items.iter().filter(|r| r.file.is_none() && r.licence.is_none()).map(|r| r.slug.clone()).collect();
    items.retain(|r| r.file.is_none() || !gone_clips.contains(&r.slug));
    for item in &mut items {
        item.text = describe(item, shop, catalog);
    }
    items
}

/// How the owner is told of `item`: a clip whose bucket key another clip
/// of `catalog` now has was most likely renamed, and is said so with the
/// fix that keeps its links working.
fn describe(item: &Removed, shop: &Shop, catalog: &CatalogManifest) -> String {
    if let Some(licence) = &item.licence {
        return format!(
            "the licence {licence} (its buyers' downloads go on, but their licence certificates no longer name it)"
        );
    }
    let slug = &item.slug;
    if let Some(file) = &item.file {
        return format!("{slug}'s file {file}");
    }
    let renamed = item
        .object_key
        .as_deref()
        .filter(|key| !key.is_empty())
        .and_then(|key| catalog.clips.iter().find(|(_, c)| c.object_key == key))
        .and_then(|(s, _)| shop.clips.iter().find(|c| &c.slug == s));
    match renamed {
        Some(to) => {
            // The owner changed its `slug` line, or renamed the file.
            let text = std::fs::read_to_string(shop.root.join(&to.source)).unwrap_or_default();
            let has_slug = text
                .lines()
                .any(|l| l.trim_start().strip_prefix("slug").is_some_and(|r| r.trim_start().starts_with('=')));
            let how = if has_slug { "change its `slug` line back to" } else { "add" };
            format!(
                "{slug} (renamed {}? to keep its buyers' links working, {how} `slug = \"{slug}\"` in {})",
                to.slug,
                to.source.display()
            )
        }
        None => slug.clone(),
    }
}

/// Keeps `items` (what [`not_in`] found for the build just written) at
/// `path` for the builds after it. A failure is told, not fatal: the site
/// is built.
pub fn remember(path: &Path, items: &[Removed]) {
    let saved = if items.is_empty() {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    } else {
        let json = serde_json::to_vec_pretty(items).expect("plain data");
        crate::kept::write(path, &json)
    };
    if let Err(e) = saved {
        eprintln!(
            "warning: could not keep in {} what this build took out of the catalog: {e}\n  \
             the next builds will not warn of it again; make .site-gen a folder you can write to",
            path.display()
        );
    }
}

fn remembered(path: &Path) -> Vec<Removed> {
    crate::kept::read(path, b"[", 64 << 20).and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// At most this many items are named in the warning; the rest counted.
const NAMED: usize = 20;

/// What the owner is told of `items`.
pub fn warning(items: &[Removed]) -> Option<String> {
    (!items.is_empty()).then(|| {
        let mut named: Vec<&str> = items.iter().take(NAMED).map(|r| r.text.as_str()).collect();
        let more = format!("and {} more", items.len().saturating_sub(NAMED));
        if items.len() > NAMED {
            named.push(&more);
        }
        format!(
            "{} item(s) of an earlier build's catalog are not in this one: {}. \
             Customers who bought a clip or file listed get \"Not found\" from their download links once this is \
             deployed. \
             If that was not meant, put them back (a draft or a future date also takes a clip out; a \
             `[[variants]]` section or a `[[licences]]` tier removed takes that file or tier out). \
             Each build says this again for {REMEMBERED_DAYS} days after the item went, until it is back; if it was \
             meant (nothing of it was sold, or its buyers' links may stop), delete \
             .site-gen/removed-from-catalog.json in the shop's folder to stop it",
            items.len(),
            named.join(", ")
        )
    })
}

/// What of the manifest at `path` (the last build's) `catalog` (this
/// build's) no longer sells, in slug order: clips, other files (variants)
/// of the clips still there, and licence tiers; links to a bought clip or
/// file answer "Not found" once deployed, a tier's certificates no longer
/// name it. A clip `site-gen init` wrote and no one filled in (`CHANGE-ME`
/// in its title or file name) was never sold: renaming or deleting it is
/// the first thing a new shop does. None when there is no readable
/// manifest there; read leniently (an older build's manifest), only what is
/// compared.
fn since_last(path: &Path, catalog: &CatalogManifest, now: i64) -> Vec<Removed> {
    use std::collections::BTreeMap;
    #[derive(serde::Deserialize)]
    struct LastCatalog {
        clips: BTreeMap<String, LastClip>,
        #[serde(default)]
        shop: Option<LastShop>,
    }
    #[derive(serde::Deserialize)]
    struct LastClip {
        #[serde(default)]
        title: String,
        #[serde(default)]
        file_name: String,
        #[serde(default)]
        object_key: String,
        #[serde(default)]
        variant: Option<LastId>,
        #[serde(default)]
        variants: BTreeMap<String, serde::de::IgnoredAny>,
    }
    #[derive(serde::Deserialize)]
    struct LastShop {
        #[serde(default)]
        licences: Vec<LastId>,
    }
    #[derive(serde::Deserialize)]
    struct LastId {
        id: String,
    }
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(last) = serde_json::from_str::<LastCatalog>(&text) else { return Vec::new() };
    let item = |slug: &str, file: Option<&str>, licence: Option<&str>, object_key: Option<&str>| Removed {
        slug: slug.to_string(),
        file: file.map(str::to_string),
        licence: licence.map(str::to_string),
        object_key: object_key.map(str::to_string),
        since: now,
        text: String::new(),
    };
    let mut gone = Vec::new();
    for (slug, clip) in &last.clips {
        if clip.title.contains(crate::placeholders::MARK) || clip.file_name.contains(crate::placeholders::MARK) {
            continue;
        }
        let Some(current) = catalog.clips.get(slug) else {
            gone.push(item(slug, None, None, Some(&clip.object_key)));
            continue;
        };
        let ids = |main: Option<&str>, others: Vec<&str>| -> Vec<String> {
            main.into_iter().chain(others).map(str::to_string).collect()
        };
        let had = ids(clip.variant.as_ref().map(|v| v.id.as_str()), clip.variants.keys().map(String::as_str).collect());
        let has =
            ids(current.variant.as_ref().map(|v| v.id.as_str()), current.variants.keys().map(String::as_str).collect());
        gone.extend(had.iter().filter(|id| !has.contains(id)).map(|id| item(slug, Some(id), None, None)));
    }
    let tiers: Vec<&str> = catalog.shop.licences.iter().map(|l| l.id.as_str()).collect();
    for licence in last.shop.map(|s| s.licences).unwrap_or_default() {
        if !tiers.contains(&licence.id.as_str()) {
            gone.push(item("", None, Some(&licence.id), None));
        }
    }
    gone
}
