//! What a purchase token says, and the rules a set of claims must follow.
//!
//! The same rules are applied when signing (a violation is
//! [`TokenError::InvalidClaims`](super::TokenError::InvalidClaims)) and when
//! parsing (a violation is [`TokenError::Malformed`](super::TokenError::Malformed)),
//! so every token that parses could have been signed and vice versa.

use serde::{Deserialize, Serialize};

use crate::SortedMap;

/// Longest key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 32;
/// Longest order id, in bytes.
pub const MAX_ORDER_ID_LEN: usize = 64;
/// Longest clip slug, in bytes.
pub const MAX_SLUG_LEN: usize = 64;
/// Most clips one token may cover.
pub const MAX_CLIPS: usize = 64;
/// Longest customer reference, in bytes.
pub const MAX_CUSTOMER_REF_LEN: usize = 64;
/// Longest variant or licence id, in bytes.
pub const MAX_CHOICE_ID_LEN: usize = 32;

/// What was bought of one clip besides the clip itself (version 2): which of
/// its files (`variant`; none: the clip's main file) under which of the
/// shop's licences (`licence`; none: the shop has no licence tiers).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
}
crate::json_fields!(
    #[deny_unknown_fields]
    Choice {
        #[skip_empty]
        variant,
        #[skip_empty]
        licence
    }
);

impl Choice {
    /// Neither a variant nor a licence: what a version 1 token says of every clip.
    pub fn is_plain(&self) -> bool {
        self.variant.is_none() && self.licence.is_none()
    }
}

/// The claims a purchase token carries.
///
/// The format version is not a field: it is implied by the encoding, and
/// [`verify_token`](super::verify_token) only returns claims of a version it
/// understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Id of the key that signs the token: 1–32 bytes of `[A-Za-z0-9._-]`.
    pub key_id: String,
    /// The order the token was issued for: 1–64 bytes of printable ASCII
    /// without space (`0x21..=0x7E`).
    pub order_id: String,
    /// Slugs of the clips the order covers: 1–64 of them, each 1–64 bytes of
    /// `[a-z0-9-]`, sorted by byte value with no duplicates (the canonical
    /// order; [`Claims::normalize_clips`] puts them in it).
    pub clips: Vec<String>,
    /// When the token was issued, in unix seconds.
    pub issued_at: u64,
    /// When the token stops being valid, in unix seconds; after `issued_at`.
    pub expires_at: u64,
    /// How many times each clip may be downloaded with this token; at least 1.
    /// The token only carries the allowance: counting downloads is the
    /// Worker's ledger's job.
    pub downloads: u32,
    /// An opaque reference the shop owner may attach (e.g. a customer number):
    /// 1–64 bytes of printable ASCII without space when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    /// The variant and licence bought of the clips that have one, keyed by
    /// slug (each one of `clips`, none plain). Empty: a version 1 token.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub choices: SortedMap<Choice>,
}

impl Claims {
    /// Sorts the clip slugs and removes duplicates, giving the canonical order
    /// that [`sign_token`](super::sign_token) requires.
    ///
    /// Each slug goes in at its place: an order has a few, and the Worker's
    /// module then carries no sort code for them (docs/benchmarks.md).
    pub fn normalize_clips(&mut self) {
        let mut sorted: Vec<String> = Vec::with_capacity(self.clips.len());
        for clip in self.clips.drain(..) {
            if let Err(at) = sorted.binary_search(&clip) {
                sorted.insert(at, clip);
            }
        }
        self.clips = sorted;
    }

    /// Whether the token covers the clip with this slug.
    pub fn covers(&self, slug: &str) -> bool {
        self.clips.binary_search_by(|c| c.as_str().cmp(slug)).is_ok()
    }

    /// What was bought of a clip (plain when the token says nothing more).
    pub fn choice(&self, slug: &str) -> Choice {
        self.choices.get(slug).cloned().unwrap_or_default()
    }

    /// The format version these claims are written in: 2 when any clip has
    /// a variant or a licence, else 1 (so plain orders keep their tokens).
    pub fn version(&self) -> u8 {
        if self.choices.is_empty() {
            1
        } else {
            2
        }
    }

    /// Checks every rule of the format; the error says which one failed.
    pub fn validate(&self) -> Result<(), String> {
        if !is_valid_key_id(&self.key_id) {
            return Err(format!("key id must be 1-{MAX_KEY_ID_LEN} characters of [A-Za-z0-9._-]"));
        }
        if !is_valid_order_id(&self.order_id) {
            return Err(format!("order id must be 1-{MAX_ORDER_ID_LEN} printable ASCII characters without spaces"));
        }
        if self.clips.is_empty() || self.clips.len() > MAX_CLIPS {
            return Err(format!("a token covers 1-{MAX_CLIPS} clips, not {}", self.clips.len()));
        }
        for (i, slug) in self.clips.iter().enumerate() {
            if !is_valid_slug(slug) {
                return Err(format!("clip {} is not a slug of 1-{MAX_SLUG_LEN} characters of [a-z0-9-]", i + 1));
            }
            if i > 0 && self.clips[i - 1].as_bytes() >= slug.as_bytes() {
                return Err(format!("clips must be sorted and unique (clip {} is out of order or repeated)", i + 1));
            }
        }
        if self.expires_at <= self.issued_at {
            return Err("expires_at must be after issued_at".to_owned());
        }
        if self.downloads == 0 {
            return Err("the download allowance must be at least 1".to_owned());
        }
        for (slug, choice) in self.choices.iter() {
            if !self.covers(slug) {
                return Err(format!("the choice for {slug:?} names a clip the token does not cover"));
            }
            if choice.is_plain() {
                return Err(format!("the choice for {slug:?} is empty (a plain clip has no entry)"));
            }
            for (what, id) in [("variant", &choice.variant), ("licence", &choice.licence)] {
                if id.as_deref().is_some_and(|id| !is_valid_choice_id(id)) {
                    return Err(format!("the {what} of {slug:?} is not 1-{MAX_CHOICE_ID_LEN} characters of [a-z0-9-]"));
                }
            }
        }
        if let Some(customer_ref) = &self.customer_ref {
            if !is_printable_id(customer_ref, MAX_CUSTOMER_REF_LEN) {
                return Err(format!(
                    "customer reference must be 1-{MAX_CUSTOMER_REF_LEN} printable ASCII characters without spaces"
                ));
            }
        }
        Ok(())
    }
}

/// Key ids appear in the `KEYID:SECRET` env format, so `:` and `,` are excluded.
pub(crate) fn is_valid_key_id(s: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_valid_slug(s: &str) -> bool {
    (1..=MAX_SLUG_LEN).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Variant and licence ids: what site-gen accepts in front matter and site.toml.
pub fn is_valid_choice_id(s: &str) -> bool {
    (1..=MAX_CHOICE_ID_LEN).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `s` may be an order id: 1–[`MAX_ORDER_ID_LEN`] bytes of
/// printable ASCII without space, as [`Claims::validate`] checks it.
pub fn is_valid_order_id(s: &str) -> bool {
    is_printable_id(s, MAX_ORDER_ID_LEN)
}

/// What an order id must be, for messages.
pub const ORDER_ID_RULE: &str = "an order id is 1-64 printable ASCII characters without spaces, like ORD-2001";

fn is_printable_id(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            key_id: "2025-01".into(),
            order_id: "ORD-1".into(),
            clips: vec!["a".into(), "b-2".into()],
            issued_at: 10,
            expires_at: 11,
            downloads: 1,
            customer_ref: None,
            choices: SortedMap::default(),
        }
    }

    fn choice(variant: Option<&str>, licence: Option<&str>) -> Choice {
        Choice { variant: variant.map(Into::into), licence: licence.map(Into::into) }
    }

    #[test]
    fn accepts_valid_claims() {
        claims().validate().unwrap();
    }

    #[test]
    fn rejects_each_broken_rule() {
        type BreakIt = fn(&mut Claims);
        let cases: Vec<(&str, BreakIt)> = vec![
            ("key id", |c| c.key_id = "a:b".into()),
            ("key id", |c| c.key_id = "k".repeat(33)),
            ("order id", |c| c.order_id = "with space".into()),
            ("order id", |c| c.order_id = String::new()),
            ("order id", |c| c.order_id = "é".into()),
            ("covers 1-64", |c| c.clips.clear()),
            ("covers 1-64", |c| c.clips = (0..65).map(|i| format!("c{i:03}")).collect()),
            ("clip 1", |c| c.clips[0] = "Upper".into()),
            ("clip 2", |c| c.clips[1] = "x".repeat(65)),
            ("sorted", |c| c.clips.reverse()),
            ("sorted", |c| c.clips[1] = "a".into()),
            ("expires_at", |c| c.expires_at = c.issued_at),
            ("allowance", |c| c.downloads = 0),
            ("customer", |c| c.customer_ref = Some(String::new())),
            ("customer", |c| c.customer_ref = Some("x".repeat(65))),
            ("does not cover", |c| _ = c.choices.insert("zzz".into(), choice(Some("4k"), None))),
            ("is empty", |c| _ = c.choices.insert("a".into(), choice(None, None))),
            ("variant of", |c| _ = c.choices.insert("a".into(), choice(Some("4K"), None))),
            ("licence of", |c| _ = c.choices.insert("a".into(), choice(None, Some(&"x".repeat(33))))),
        ];
        for (expected, break_it) in cases {
            let mut c = claims();
            break_it(&mut c);
            let err = c.validate().unwrap_err();
            assert!(err.contains(expected), "{err:?} should mention {expected:?}");
        }
    }

    #[test]
    fn choices_make_a_version_2_token() {
        let mut c = claims();
        assert_eq!((c.version(), c.choice("a")), (1, Choice::default()));
        c.choices.insert("b-2".into(), choice(Some("hd"), Some("extended")));
        c.validate().unwrap();
        assert_eq!(c.version(), 2);
        assert_eq!(c.choice("b-2").licence.as_deref(), Some("extended"));
    }

    #[test]
    fn normalize_sorts_and_dedups_and_covers_finds() {
        let mut c = claims();
        c.clips = vec!["b".into(), "a".into(), "b".into()];
        c.normalize_clips();
        assert_eq!(c.clips, ["a", "b"]);
        c.validate().unwrap();
        assert!(c.covers("a") && c.covers("b") && !c.covers("c"));
        for clips in [vec![], vec!["z", "a", "m", "a", "z", "b-2", "b", "Z", ""], vec!["x", "x", "x"]] {
            c.clips = clips.iter().map(|s| s.to_string()).collect();
            let mut expected = c.clips.clone();
            expected.sort();
            expected.dedup();
            c.normalize_clips();
            assert_eq!(c.clips, expected);
        }
    }

    /// What was bought of an order's clips, as the Worker stores it
    /// (`orders.choices` in D1, fallback records in R2), byte for byte.
    #[test]
    fn stored_choices_are_pinned() {
        let choices: SortedMap<Choice> =
            [("b".to_string(), choice(None, Some("x\"y"))), ("a".to_string(), choice(Some("4k"), Some("extended")))]
                .into();
        let json = crate::json::to_string(&choices);
        assert_eq!(json, serde_json::to_string(&choices).unwrap());
        assert_eq!(json, "{\"a\":{\"variant\":\"4k\",\"licence\":\"extended\"},\"b\":{\"licence\":\"x\\\"y\"}}");
        assert_eq!(crate::json::from_str::<SortedMap<Choice>>(&json).unwrap(), choices);
        let read: SortedMap<Choice> = crate::json::from_str(r#"{"b":{},"a":{"licence":null,"variant":"4k"}}"#).unwrap();
        assert_eq!(crate::json::to_string(&read), r#"{"a":{"variant":"4k"},"b":{}}"#);
        for bad in [
            r#"{"a":{"variant":"4k","size":1}}"#,
            r#"{"a":{"variant":4}}"#,
            r#"{"a":{"variant":"4k","variant":"hd"}}"#,
            r#"{"a":"4k"}"#,
            r#"["a"]"#,
            "null",
        ] {
            assert!(crate::json::from_str::<SortedMap<Choice>>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<SortedMap<Choice>>(bad).is_err(), "{bad}");
        }
    }
}
