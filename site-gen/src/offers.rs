//! What a clip is sold as: each of its files (the main file and its
//! `[[variants]]`) under each of the shop's licence tiers, with the item
//! string a cart posts for it, its price and its description.
//!
//! Every price here comes from [`clipstore_core::CatalogManifest::resolve`],
//! the rule the Worker's checkout charges, so the clip page's choice, the
//! cart's `/cart/clips.json`, the list cards and the structured data show
//! what the customer will pay. Nothing on the site computes a price in
//! JavaScript: the pages and the cart only look these numbers up.

use clipstore_core::{CatalogManifest, Choice, Item};
use serde_json::{json, Value};

use crate::content::{human_size, Clip, Price, Shop};
use crate::render::{manifest_clip, shop_info};

/// A clip's files and licences, priced.
#[derive(Debug, Clone)]
pub struct Offers {
    /// The shop's licence tiers, the default first; empty when the shop has
    /// none (one licence, the shop's terms).
    pub licences: Vec<LicenceOffer>,
    /// The clip's files, the main file first.
    pub files: Vec<FileOffer>,
}

/// A licence tier as the clip page shows it.
#[derive(Debug, Clone)]
pub struct LicenceOffer {
    pub id: String,
    pub name: String,
    pub page: String,
    /// How it changes a file's price, in words: `the file's price`,
    /// `2.5 × the file's price + €10.00`.
    pub effect: String,
}

/// One file of a clip and its price under each licence.
#[derive(Debug, Clone)]
pub struct FileOffer {
    /// The variant id (`4k`, `web`); for the main file its own id when the
    /// clip has variants, else none.
    pub id: Option<String>,
    pub label: String,
    pub resolution: String,
    pub resolution_label: String,
    pub file_name: String,
    pub size: u64,
    /// One per licence, in the shop's order (one when the shop has no tiers).
    pub prices: Vec<Priced>,
}

/// One (file, licence) pair: what the cart posts, pays and calls it.
#[derive(Debug, Clone)]
pub struct Priced {
    /// The shortest item string for it (`slug` for the main file under the
    /// default licence, `slug:web`, `slug::extended`, `slug:web:extended`).
    pub item: String,
    pub price: Price,
    /// As the Worker's checkout names the line: `Title (720p, Extended licence)`.
    pub description: String,
}

impl Offers {
    /// Prices every file of `clip` under every licence of the shop.
    pub fn of(shop: &Shop, clip: &Clip) -> Offers {
        let currency = shop.config.currency.as_str();
        let tiers = &shop.config.licences;
        if clip.variants.is_empty() && tiers.is_empty() {
            // One file, one licence: what the resolver gives, without
            // building a manifest for every clip of a shop that sells so.
            let file = FileOffer {
                id: None,
                label: clip.resolution.label(),
                resolution: clip.resolution.to_string(),
                resolution_label: clip.resolution.label(),
                file_name: clip.file_name.clone(),
                size: clip.size,
                prices: vec![Priced { item: clip.slug.clone(), price: clip.price, description: clip.title.clone() }],
            };
            return Offers { licences: Vec::new(), files: vec![file] };
        }
        let mut m = CatalogManifest::new(shop_info(shop));
        m.clips.insert(clip.slug.clone(), manifest_clip(shop, clip));
        let default_licence = tiers.first().map(|l| l.id.as_str());
        let licence_ids: Vec<Option<&str>> =
            if tiers.is_empty() { vec![None] } else { tiers.iter().map(|l| Some(l.id.as_str())).collect() };
        let price = |variant: Option<&str>, licence: Option<&str>| {
            let item = Item {
                slug: clip.slug.clone(),
                choice: Choice {
                    variant: variant.map(str::to_owned),
                    licence: licence.filter(|l| Some(*l) != default_licence).map(str::to_owned),
                },
            };
            let resolved = m.resolve(&item).expect("a clip's own files and the shop's licences resolve");
            Priced {
                item: item.to_item_string(),
                price: from_minor_units(resolved.price, currency),
                description: resolved.description,
            }
        };
        let main = FileOffer {
            id: clip.variant.clone(),
            label: clip.resolution.label(),
            resolution: clip.resolution.to_string(),
            resolution_label: clip.resolution.label(),
            file_name: clip.file_name.clone(),
            size: clip.size,
            prices: licence_ids.iter().map(|l| price(None, *l)).collect(),
        };
        let others = clip.variants.iter().map(|v| FileOffer {
            id: Some(v.id.clone()),
            label: v.label.clone(),
            resolution: v.resolution.to_string(),
            resolution_label: v.resolution.label(),
            file_name: v.file_name.clone(),
            size: v.size,
            prices: licence_ids.iter().map(|l| price(Some(&v.id), *l)).collect(),
        });
        let licences = tiers
            .iter()
            .map(|l| LicenceOffer {
                id: l.id.clone(),
                name: l.name.clone(),
                page: l.page.clone(),
                effect: effect(l.factor_permille, l.surcharge, currency),
            })
            .collect();
        Offers { licences, files: std::iter::once(main).chain(others).collect() }
    }

    /// Whether the customer has something to choose: several files, or licence tiers.
    pub fn has_choice(&self) -> bool {
        self.files.len() > 1 || !self.licences.is_empty()
    }

    /// The plain slug's offer: the main file under the default licence.
    pub fn default(&self) -> &Priced {
        &self.files[0].prices[0]
    }

    /// Each file under the default licence, the main file first.
    pub fn per_file(&self) -> impl Iterator<Item = &Priced> {
        self.files.iter().map(|f| &f.prices[0])
    }

    /// The lowest price of a file under the default licence.
    pub fn lowest(&self) -> Price {
        self.per_file().map(|p| p.price).min().expect("a clip has its main file")
    }

    /// What `clip.html` gets as `clip.choice` (see docs/templates.md).
    pub fn template_value(&self, currency: &str) -> Value {
        let priced = |f: &FileOffer, j: usize, p: &Priced, default: bool| {
            // The radio's name for a screen reader: `4K, Extended licence`.
            let label = match self.licences.get(j) {
                Some(l) => format!("{}, {} licence", f.label, l.name),
                None => f.label.clone(),
            };
            json!({
                "item": p.item, "description": p.description, "default": default, "label": label,
                "price": p.price.amount(), "price_cents": p.price.cents, "price_display": p.price.display(currency),
            })
        };
        let files: Vec<Value> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                json!({
                    "id": f.id, "label": f.label, "resolution": f.resolution, "resolution_label": f.resolution_label,
                    "file_name": f.file_name, "size": f.size, "size_display": human_size(f.size),
                    "prices": f.prices.iter().enumerate().map(|(j, p)| priced(f, j, p, i == 0 && j == 0)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let licences: Vec<Value> = self
            .licences
            .iter()
            .map(|l| json!({"id": l.id, "name": l.name, "page": l.page, "effect": l.effect}))
            .collect();
        json!({"files": files, "licences": licences})
    }

    /// What `/cart/clips.json` holds of the clip's items (`items`): each
    /// by its part after the slug (`""` for the plain slug, `:web`,
    /// `::extended`, `:web:extended`), as `[price_cents, price_display,
    /// details]`, where details is the description after the clip's title
    /// (` (720p, Extended licence)`): the cart writes `title + details`, the
    /// description the checkout gives the line, without repeating the title
    /// in every item of every clip.
    pub fn cart_items(&self, slug: &str, title: &str, currency: &str) -> serde_json::Map<String, Value> {
        self.files
            .iter()
            .flat_map(|f| &f.prices)
            .map(|p| {
                let key = p.item.strip_prefix(slug).unwrap_or(&p.item).to_owned();
                let details = p.description.strip_prefix(title).unwrap_or(&p.description);
                (key, json!([p.price.cents, p.price.display(currency), details]))
            })
            .collect()
    }
}

/// A price in the currency's smallest unit (as the resolver gives it) in
/// the hundredths site-gen writes prices in; a three-decimal currency's
/// thousandths are rounded to hundredths for display.
pub fn from_minor_units(minor: u64, currency: &str) -> Price {
    let cents = match clipstore_core::currency_decimals(currency) {
        0 => minor.saturating_mul(100),
        3 => minor.saturating_add(5) / 10,
        _ => minor,
    };
    Price { cents }
}

/// `the file's price`, `2.5 × the file's price`, `the file's price + €10.00`.
fn effect(factor_permille: u32, surcharge: Price, currency: &str) -> String {
    let mut text = if factor_permille == 1000 {
        "the file's price".to_string()
    } else {
        let factor = format!("{}.{:03}", factor_permille / 1000, factor_permille % 1000);
        format!("{} × the file's price", factor.trim_end_matches('0').trim_end_matches('.'))
    };
    if surcharge.cents > 0 {
        text += &format!(" + {}", surcharge.display(currency));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_effects_in_words() {
        let p = |cents| Price { cents };
        assert_eq!(effect(1000, p(0), "EUR"), "the file's price");
        assert_eq!(effect(2500, p(1000), "EUR"), "2.5 × the file's price + €10.00");
        assert_eq!(effect(1250, p(0), "EUR"), "1.25 × the file's price");
        assert_eq!(effect(3000, p(0), "EUR"), "3 × the file's price");
        assert_eq!(effect(1000, p(500), "CHF"), "the file's price + 5.00 CHF");
    }

    #[test]
    fn minor_units_back_to_hundredths() {
        assert_eq!(from_minor_units(2450, "EUR").cents, 2450);
        assert_eq!(from_minor_units(1800, "JPY").cents, 180_000);
        assert_eq!(from_minor_units(24_505, "KWD").cents, 2451);
    }
}
