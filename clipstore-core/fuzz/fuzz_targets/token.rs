//! Feeds arbitrary bytes to every entry point that reads a token.
//!
//! Checks, besides "no panic": a payload that parses is exactly the encoding
//! of its claims (canonical), its claims can be signed again, and a token
//! that verifies decodes to the same claims without verification.

#![no_main]

use std::sync::OnceLock;

use clipstore_core::token::raw;
use clipstore_core::{decode_unverified, sign_token, verify_token, Keyring, SigningKey};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_750_000_000;

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::new("k", vec![7; 32]).unwrap())
}

/// The key ids of the seed corpus (testdata/token-vectors.json), all with the
/// fuzz key's secret, so any of them reaches the body parser behind the MAC.
fn ring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        let keys = ["k", "2025-01", "2024-07"].map(|id| SigningKey::new(id, vec![7; 32]).unwrap());
        Keyring::new(keys.into())
    })
}

fuzz_target!(|data: &[u8]| {
    // The input as a token string, as it arrives in a URL.
    if let Ok(token) = std::str::from_utf8(data) {
        let unverified = decode_unverified(token);
        if let Ok(claims) = verify_token(token, ring(), NOW) {
            assert_eq!(unverified, Ok(claims));
        }
    }

    // The input as a payload: parsed directly ...
    if let Ok((claims, skipped)) = raw::parse_payload(data) {
        let encoded = raw::encode_payload(&claims);
        if skipped == 0 {
            assert_eq!(encoded, data, "a parsed payload must be canonical");
        } else {
            assert_eq!(raw::parse_payload(&encoded), Ok((claims.clone(), 0)));
        }
        let key = SigningKey::new(claims.key_id.clone(), vec![7; 32]).unwrap();
        let token = sign_token(&claims, &key).expect("parsed claims are valid claims");
        assert_eq!(decode_unverified(&token), Ok(claims));
    }

    // ... and behind a valid MAC, through the whole verifier.
    let token = raw::sign_payload(data, key());
    if let Ok(claims) = verify_token(&token, ring(), NOW) {
        assert_eq!(raw::parse_payload(data).map(|(c, _)| c), Ok(claims));
    }
});
