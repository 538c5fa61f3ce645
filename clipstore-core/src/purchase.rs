//! What a customer buys: a clip, in one of its files (variant), under one of
//! the shop's licences; how a cart line writes it, and what it costs.
//!
//! The written form, an *item*, is what the cart form, the checkout's
//! metadata and Payment Link metadata carry (docs/payments.md):
//!
//! ```text
//! item = slug [ ":" variant [ ":" licence ] ]        harbour-at-dawn
//!                                                    harbour-at-dawn:4k
//!                                                    harbour-at-dawn::extended
//!                                                    harbour-at-dawn:web:standard
//! ```
//!
//! [`CatalogManifest::resolve`] checks an item against the catalog and puts
//! it in its one canonical form (the main file as no variant, the default
//! licence named) with its price, so that site-gen's pages and the Worker's
//! checkout charge the same amount for the same thing.

use crate::manifest::{CatalogManifest, ManifestClip};
use crate::token::{is_valid_choice_id, Choice};

/// An item as a cart or a checkout names it (not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub slug: String,
    pub choice: Choice,
}

impl Item {
    /// Reads `slug[:variant[:licence]]`; empty parts are "none". `None`
    /// when it has more parts or an id outside `[a-z0-9-]`.
    pub fn parse(s: &str) -> Option<Item> {
        let mut parts = s.trim().split(':');
        let slug = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let mut id = || -> Option<Option<String>> {
            match parts.next() {
                None | Some("") => Some(None),
                Some(id) if is_valid_choice_id(id) => Some(Some(id.to_owned())),
                Some(_) => None,
            }
        };
        let choice = Choice { variant: id()?, licence: id()? };
        parts.next().is_none().then_some(Item { slug, choice })
    }

    /// The written form, shortest first (`slug` when plain).
    pub fn to_item_string(&self) -> String {
        match (&self.choice.variant, &self.choice.licence) {
            (None, None) => self.slug.clone(),
            (Some(v), None) => format!("{}:{v}", self.slug),
            (v, Some(l)) => format!("{}:{}:{l}", self.slug, v.as_deref().unwrap_or("")),
        }
    }
}

impl crate::token::Claims {
    /// What the claims cover, one item per clip, in the clips' order.
    pub fn items(&self) -> Vec<Item> {
        self.clips.iter().map(|slug| Item { slug: slug.clone(), choice: self.choice(slug) }).collect()
    }

    /// The items written out and joined by `, `, for people reading a token.
    pub fn items_text(&self) -> String {
        self.items().iter().map(Item::to_item_string).collect::<Vec<_>>().join(", ")
    }
}

/// An item checked against the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub slug: String,
    /// Canonical: the main file is no variant; the licence is named
    /// whenever the shop has tiers (the default when none was asked for).
    pub choice: Choice,
    /// The file bought, as [`ManifestClip::file`] gives it.
    pub file: ManifestClip,
    /// In the currency's smallest unit: the file's price under the licence.
    pub price: u64,
    /// What a receipt or cart line calls it: `Title`, `Title (4K)`,
    /// `Title (4K, Extended licence)`.
    pub description: String,
}

/// Why an item cannot be bought; each names what is wrong for the customer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("the clip {0:?} is not in the catalog")]
    UnknownClip(String),
    #[error("the clip {slug:?} has no variant {variant:?}")]
    UnknownVariant { slug: String, variant: String },
    #[error("the shop has no licence {0:?}")]
    UnknownLicence(String),
    #[error("the price of {0:?} does not fit")]
    Overflow(String),
}

impl CatalogManifest {
    /// Checks an item against the catalog: its clip and variant exist, its
    /// licence is one of the shop's; gives its canonical choice and price.
    pub fn resolve(&self, item: &Item) -> Result<Resolved, ResolveError> {
        let clip = self.clip(&item.slug).ok_or_else(|| ResolveError::UnknownClip(item.slug.clone()))?;
        let file = clip.file(item.choice.variant.as_deref()).ok_or_else(|| ResolveError::UnknownVariant {
            slug: item.slug.clone(),
            variant: item.choice.variant.clone().unwrap_or_default(),
        })?;
        let variant = match (&item.choice.variant, &clip.variant) {
            (Some(asked), Some(main)) if *asked == main.id => None,
            (asked, _) => asked.clone(),
        };
        let licence = match &item.choice.licence {
            Some(id) => Some(self.licence(id).ok_or_else(|| ResolveError::UnknownLicence(id.clone()))?),
            None => self.shop.licences.first(),
        };
        let price = match licence {
            Some(l) => {
                l.price(file.price, &self.shop.currency).ok_or_else(|| ResolveError::Overflow(item.slug.clone()))?
            }
            None => file.price,
        };
        let mut details: Vec<String> = file.variant.iter().map(|v| v.label.clone()).collect();
        details.extend(licence.map(|l| format!("{} licence", l.name)));
        let description =
            if details.is_empty() { file.title.clone() } else { format!("{} ({})", file.title, details.join(", ")) };
        Ok(Resolved {
            slug: item.slug.clone(),
            choice: Choice { variant, licence: licence.map(|l| l.id.clone()) },
            file,
            price,
            description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::catalog as manifest;

    fn item(s: &str) -> Item {
        Item::parse(s).unwrap_or_else(|| panic!("{s:?} should parse"))
    }

    #[test]
    fn items_parse_and_write_back() {
        for s in ["h", "h:web", "h::extended", "h:web:standard"] {
            assert_eq!(item(s).to_item_string(), s);
        }
        assert_eq!(item("h:").to_item_string(), "h");
        assert_eq!(item(" h:web: ").to_item_string(), "h:web");
        for bad in ["", ":web", "h:WEB", "h:web:std:x", "h:we b", "h:../x"] {
            assert_eq!(Item::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resolving_prices_the_file_under_the_licence() {
        let m = manifest(true);
        let r = m.resolve(&item("h")).unwrap();
        assert_eq!((r.price, r.choice.licence.as_deref(), r.choice.variant.as_deref()), (2400, Some("standard"), None));
        assert_eq!(r.description, "H (4K, Standard licence)");
        let r = m.resolve(&item("h:web:extended")).unwrap();
        assert_eq!((r.price, r.file.object_key.as_str()), (900 * 5 / 2 + 1000, "clips/h-720.mp4"));
        assert_eq!(r.description, "H (720p, Extended licence)");
        // The main file's id is the same as no variant.
        assert_eq!(m.resolve(&item("h:4k")).unwrap().choice, m.resolve(&item("h")).unwrap().choice);
    }

    #[test]
    fn without_tiers_there_is_no_licence() {
        let m = manifest(false);
        let r = m.resolve(&item("h:web")).unwrap();
        assert_eq!((r.price, r.choice.licence), (900, None));
        assert_eq!(m.resolve(&item("h::standard")), Err(ResolveError::UnknownLicence("standard".into())));
    }

    #[test]
    fn unknown_things_are_refused() {
        let m = manifest(true);
        assert_eq!(m.resolve(&item("x")), Err(ResolveError::UnknownClip("x".into())));
        assert!(matches!(m.resolve(&item("h:8k")), Err(ResolveError::UnknownVariant { .. })));
        assert_eq!(m.resolve(&item("h::gold")), Err(ResolveError::UnknownLicence("gold".into())));
    }
}
