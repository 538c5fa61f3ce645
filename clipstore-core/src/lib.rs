//! The contract between `site-gen` (which writes) and `edge-worker` (which reads).
//!
//! Only what both sides must agree on byte for byte lives here: the catalog
//! manifest that maps a clip slug to its object in the bucket, (in `token`)
//! the purchase-token format, the security headers of every page, how a
//! `Range` header is answered, how sizes, prices and dates are written for
//! people, the shape of an e-mail address, `site-gen init`'s placeholder
//! mark, and the shortest admin token. No I/O, no Worker dependency: it
//! builds natively and for `wasm32-unknown-unknown`.

pub mod address;
pub mod display;
pub mod json;
pub mod manifest;
pub mod placeholder;
pub mod purchase;
pub mod range;
pub mod security_headers;
pub mod sorted_map;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod token;

pub use manifest::{
    chargeable_step, currency_decimals, minor_units, reserved_key, CatalogManifest, ManifestClip, ManifestLicence,
    ManifestVariant, ShopInfo, VariantName,
};
pub use purchase::{Item, ResolveError, Resolved};
pub use sorted_map::SortedMap;
pub use token::{
    decode_unverified, decode_unverified_payload, expired_from, sign_token, verify_token, Choice, Claims, KeyError,
    Keyring, SigningKey, TokenError, CLOCK_SKEW_SECS,
};

/// The shortest `ADMIN_TOKEN` the Worker accepts, and so the shortest
/// site-gen sends (a shorter one is refused before anything is sent).
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;
