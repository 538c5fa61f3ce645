//! Any text read as the shared types the Worker reads with `json_fields!`,
//! against serde's derived readers of the same types over serde_json. The
//! first byte picks the type: 0 the catalog manifest, 1 a token's choices
//! (`SortedMap<Choice>`, as the ledger keeps them); the rest is the text.
//!
//! Checks, besides "no panic": what serde accepts is accepted, but for a
//! struct written as an array of its fields (which serde took; refused,
//! and the error says so); nothing serde refuses is accepted; what both
//! accept is the same value, written byte for byte as serde_json writes it
//! (keys sorted too), and read again from that text it is the same value.
//! The manifest is also read by `CatalogManifest::from_json` (accepted
//! exactly when its version is the current one) and read again from what
//! site-gen writes of it (`to_json`, pretty).
#![no_main]

use std::fmt::Debug;

use clipstore_core::json::{self, FromJson, ToJson};
use clipstore_core::manifest::MANIFEST_VERSION;
use clipstore_core::{CatalogManifest, Choice, SortedMap};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The structs read (`json_fields!`), as errors name them.
const STRUCTS: [&str; 7] =
    ["CatalogManifest", "ShopInfo", "ManifestLicence", "ManifestClip", "VariantName", "ManifestVariant", "Choice"];

/// Reads `text` as a `T` both ways and compares; the value both read.
fn compare<T>(text: &str) -> Option<T>
where
    T: FromJson + ToJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    let ours = json::from_str::<T>(text);
    let theirs = serde_json::from_str::<T>(text);
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => {
            assert_eq!(ours, theirs, "{text:?}");
            let written = json::to_string(&ours);
            assert_eq!(written, serde_json::to_string(&theirs).unwrap(), "{text:?}");
            assert_eq!(json::to_string_sorted(&ours), serde_json::to_value(&theirs).unwrap().to_string(), "{text:?}");
            let again = json::from_str::<T>(&written).unwrap_or_else(|e| panic!("{written:?} of {text:?}: {e}"));
            assert_eq!(again, ours, "{written:?} of {text:?}");
            Some(ours)
        }
        (Err(_), Err(_)) => None,
        (Ok(ours), Err(e)) => panic!("{text:?}: accepted as {ours:?}, serde refuses: {e}"),
        (Err(e), Ok(theirs)) => {
            // The one thing serde took and `json` does not: the error is
            // `[path: ]invalid type: sequence, expected struct <one of them>`.
            let e = e.to_string();
            assert!(
                STRUCTS.iter().any(|s| e.ends_with(&format!("invalid type: sequence, expected struct {s}"))),
                "{text:?}: {e}; serde: {theirs:?}"
            );
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match which % 2 {
        0 => {
            let read = compare::<CatalogManifest>(text);
            match CatalogManifest::from_json(text) {
                Ok(manifest) => {
                    assert_eq!(manifest.version, MANIFEST_VERSION);
                    assert_eq!(Some(&manifest), read.as_ref(), "{text:?}");
                    let pretty = manifest.to_json();
                    assert_eq!(CatalogManifest::from_json(&pretty).ok(), Some(manifest), "{pretty:?}");
                }
                Err(_) => assert!(read.is_none_or(|m| m.version != MANIFEST_VERSION), "{text:?}"),
            }
        }
        _ => {
            compare::<SortedMap<Choice>>(text);
        }
    }
});
