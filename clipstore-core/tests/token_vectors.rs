//! The shared test vectors in `testdata/token-vectors.json`.
//!
//! Every implementation that reads tokens checks this file: these native
//! tests, and the Worker's end-to-end tests. This file also holds the
//! generator; after a deliberate change to the format, rewrite the file with
//!
//! ```sh
//! cargo test -p clipstore-core --test token_vectors -- --ignored regenerate
//! ```
//!
//! and review the diff: a changed token for unchanged claims breaks every
//! download link already sent.

use std::path::PathBuf;

use clipstore_core::token::Choice;
use clipstore_core::token::{raw, CLOCK_SKEW_SECS, MAX_TOKEN_LEN, TOKEN_VERSION};
use clipstore_core::{decode_unverified, sign_token, verify_token, Claims, Keyring, SigningKey};
use serde::{Deserialize, Serialize};

const REGENERATE: &str = "cargo test -p clipstore-core --test token_vectors -- --ignored regenerate";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    about: String,
    format_version: u8,
    clock_skew_secs: u64,
    /// The `TOKEN_KEYS` value every case is verified with.
    keyring: String,
    /// Every key used, as `KEYID:BASE64URLSECRET`, including those not in the keyring.
    keys: Vec<KeyVector>,
    valid: Vec<ValidVector>,
    must_fail: Vec<FailVector>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyVector {
    name: String,
    env: String,
    in_keyring: bool,
    /// `SigningKey::fingerprint`: what the Worker's deep health check shows.
    fingerprint: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidVector {
    name: String,
    /// Name of the entry in `keys` that signed it.
    signed_with: String,
    now: u64,
    claims: Claims,
    token: String,
    /// Whether `sign_token(claims)` gives exactly `token` (false when the
    /// token carries extension claims this version skips).
    minted_by_sign_token: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailVector {
    name: String,
    token: String,
    now: u64,
    expected_error_code: String,
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/token-vectors.json")
}

// ---------------------------------------------------------------- generator

const ISSUED: u64 = 1_750_000_000; // 2025-06-15T15:06:40Z
const DAY: u64 = 86_400;
/// 9999-12-31T23:59:59Z. Every number in the file stays below 2^53, so
/// JavaScript reads the file exactly.
const END_OF_9999: u64 = 253_402_300_799;
const JS_MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

fn key(name: &str, key_id: &str, first_byte: u8) -> (String, SigningKey) {
    let secret = (first_byte..first_byte + 32).collect();
    (name.to_owned(), SigningKey::new(key_id, secret).unwrap())
}

fn one_clip() -> Claims {
    Claims {
        key_id: "2025-01".into(),
        order_id: "ORD-2025-000123".into(),
        clips: vec!["harbor-dawn".into()],
        issued_at: ISSUED,
        expires_at: ISSUED + 30 * DAY,
        downloads: 3,
        customer_ref: None,
        choices: Default::default(),
    }
}

/// The one clip with a variant and/or licence: a version 2 token.
fn v2_choice(variant: Option<&str>, licence: Option<&str>) -> Claims {
    let choice = Choice { variant: variant.map(Into::into), licence: licence.map(Into::into) };
    Claims { choices: [("harbor-dawn".to_string(), choice)].into(), ..one_clip() }
}

/// Replaces the character at `i` (counted from the end when negative).
fn replace_char(s: &str, i: isize, with: char) -> String {
    let i = if i < 0 { s.len() as isize + i } else { i } as usize;
    let mut out = s.to_owned();
    out.replace_range(i..i + 1, &with.to_string());
    out
}

/// The base64url character whose 6-bit value differs in the lowest bit. In
/// the last character of a string whose length is not a multiple of 4 that
/// bit is unused (so a lenient decoder would ignore the change); anywhere
/// else it changes the decoded bytes.
fn flip_low_bit(c: char) -> char {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = ALPHABET.iter().position(|&a| a as char == c).unwrap();
    ALPHABET[pos ^ 1] as char
}

fn generate() -> Vectors {
    let keys = [
        key("2025-01", "2025-01", 0x00),
        key("2024-07", "2024-07", 0x40),
        key("retired", "2023-01", 0x80),
        key("2025-01-wrong-secret", "2025-01", 0xc0),
    ];
    let k = |name: &str| &keys.iter().find(|(n, _)| n == name).unwrap().1;
    let ring = Keyring::new(vec![k("2025-01").clone(), k("2024-07").clone()]);
    let now = ISSUED + 100;

    let mut valid = Vec::new();
    let mut add_valid = |name: &str, signed_with: &str, now: u64, claims: Claims| {
        let token = sign_token(&claims, k(signed_with)).unwrap();
        valid.push(ValidVector {
            name: name.into(),
            signed_with: signed_with.into(),
            now,
            claims,
            token,
            minted_by_sign_token: true,
        });
    };
    add_valid("one_clip", "2025-01", now, one_clip());
    add_valid(
        "several_clips_with_customer_ref_older_key",
        "2024-07",
        now,
        Claims {
            key_id: "2024-07".into(),
            order_id: "cs_test_a1B2c3D4e5".into(),
            clips: vec!["city-lights".into(), "harbor-dawn".into(), "night-rain-4k".into()],
            issued_at: ISSUED,
            expires_at: ISSUED + 7 * DAY,
            downloads: 5,
            choices: Default::default(),
            customer_ref: Some("cust_000042".into()),
        },
    );
    add_valid("earliest_moment", "2025-01", ISSUED - CLOCK_SKEW_SECS, one_clip());
    add_valid("last_moment", "2025-01", ISSUED + 30 * DAY + CLOCK_SKEW_SECS - 1, one_clip());
    add_valid(
        "longest_fields",
        "2025-01",
        now,
        Claims {
            order_id: "O".repeat(64),
            clips: vec!["a".repeat(64), "b".repeat(64), format!("{}9", "z-".repeat(31) + "z")],
            downloads: u32::MAX,
            expires_at: END_OF_9999,
            customer_ref: Some("~".repeat(64)),
            ..one_clip()
        },
    );
    // Version 2: what was bought of each clip (docs/token-format.md).
    let choice = |variant: Option<&str>, licence: Option<&str>| Choice {
        variant: variant.map(Into::into),
        licence: licence.map(Into::into),
    };
    add_valid(
        "v2_variant_and_licence",
        "2025-01",
        now,
        Claims { choices: [("harbor-dawn".into(), choice(Some("4k"), Some("extended")))].into(), ..one_clip() },
    );
    add_valid(
        "v2_mixed_clips_older_key",
        "2024-07",
        now,
        Claims {
            key_id: "2024-07".into(),
            clips: vec!["city-lights".into(), "harbor-dawn".into(), "night-rain".into()],
            customer_ref: Some("cust_000042".into()),
            choices: [
                ("city-lights".into(), choice(None, Some("standard"))),
                ("night-rain".into(), choice(Some("web-720"), None)),
            ]
            .into(),
            ..one_clip()
        },
    );
    add_valid(
        "v2_longest_ids",
        "2025-01",
        now,
        Claims {
            choices: [("harbor-dawn".into(), choice(Some(&"v".repeat(32)), Some(&"l".repeat(32))))].into(),
            ..one_clip()
        },
    );
    // A future informational claim (even tag 4) that this version skips.
    let mut payload = raw::encode_payload(&one_clip());
    payload.extend_from_slice(&[4, 3, b'f', b'o', b'o']);
    valid.push(ValidVector {
        name: "unknown_informational_claim_is_skipped".into(),
        signed_with: "2025-01".into(),
        now,
        claims: one_clip(),
        token: raw::sign_payload(&payload, k("2025-01")),
        minted_by_sign_token: false,
    });

    let good = sign_token(&one_clip(), k("2025-01")).unwrap();
    let (good_payload, good_tag) = good.split_once('.').unwrap();
    assert_ne!(good_payload.len() % 4, 0, "the trailing-bits case needs unused bits");
    let signed_body = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut payload = raw::encode_payload(&one_clip());
        f(&mut payload);
        raw::sign_payload(&payload, k("2025-01"))
    };
    let signed_claims = |f: &dyn Fn(&mut Claims)| {
        let mut c = one_clip();
        f(&mut c);
        raw::sign_payload(&raw::encode_payload(&c), k("2025-01"))
    };
    // Offsets into the one-clip payload: 1 version, 1+7 key id, 1+15 order
    // id, 5 issued, 5 expires, then downloads at 35.
    let downloads_at = 1 + 8 + 16 + 5 + 5;
    assert_eq!(raw::encode_payload(&one_clip())[downloads_at], 3);

    let f = |name: &str, token: String, now: u64, code: &str| FailVector {
        name: name.into(),
        token,
        now,
        expected_error_code: code.into(),
    };
    let must_fail = vec![
        // Shape and encoding.
        f("empty", String::new(), now, "malformed"),
        f("payload_only", good_payload.into(), now, "malformed"),
        f("extra_separator", format!("{good}.x"), now, "malformed"),
        f("padded_signature", format!("{good}="), now, "malformed"),
        f("padded_payload", format!("{good_payload}=.{good_tag}"), now, "malformed"),
        f("trailing_newline", format!("{good}\n"), now, "malformed"),
        f("truncated_signature", good[..good.len() - 1].into(), now, "malformed"),
        f("standard_alphabet_plus", replace_char(&good, 3, '+'), now, "malformed"),
        f("standard_alphabet_slash", replace_char(&good, -3, '/'), now, "malformed"),
        f(
            // Same bytes as the valid token under a lenient decoder.
            "signature_noncanonical_trailing_bits",
            replace_char(&good, -1, flip_low_bit(good.chars().last().unwrap())),
            now,
            "malformed",
        ),
        f(
            "payload_noncanonical_trailing_bits",
            format!(
                "{}.{good_tag}",
                replace_char(good_payload, -1, flip_low_bit(good_payload.chars().last().unwrap()))
            ),
            now,
            "malformed",
        ),
        f("too_long", "A".repeat(MAX_TOKEN_LEN + 1), now, "malformed"),
        f("key_id_with_colon", raw::sign_payload(&[1, 3, b'a', b':', b'b'], k("2025-01")), now, "malformed"),
        // Signed, but the body breaks a rule.
        f("trailing_zero_byte", signed_body(&|p| p.push(0)), now, "malformed"),
        f("truncated_body", signed_body(&|p| p.truncate(p.len() - 1)), now, "malformed"),
        f(
            "downloads_not_minimal_varint",
            signed_body(&|p| {
                p.splice(downloads_at..downloads_at + 1, [0x83, 0x00]);
            }),
            now,
            "malformed",
        ),
        f("zero_downloads", signed_claims(&|c| c.downloads = 0), now, "malformed"),
        f("no_clips", signed_claims(&|c| c.clips.clear()), now, "malformed"),
        f("clips_unsorted", signed_claims(&|c| c.clips.insert(0, "zebra".into())), now, "malformed"),
        f("clips_repeated", signed_claims(&|c| c.clips.push("harbor-dawn".into())), now, "malformed"),
        f("uppercase_slug", signed_claims(&|c| c.clips[0] = "Harbor".into()), now, "malformed"),
        f("expires_not_after_issued", signed_claims(&|c| c.expires_at = c.issued_at), now, "malformed"),
        f("empty_customer_ref", signed_claims(&|c| c.customer_ref = Some(String::new())), now, "malformed"),
        f("extensions_out_of_order", signed_body(&|p| p.extend_from_slice(&[4, 0, 2, 1, b'x'])), now, "malformed"),
        // Version 2's own rules.
        f(
            "v2_without_a_choice",
            raw::sign_payload(&[&[2u8][..], &raw::encode_payload(&one_clip())[1..], &[0, 0]].concat(), k("2025-01")),
            now,
            "malformed",
        ),
        f(
            "v2_uppercase_variant",
            raw::sign_payload(&raw::encode_payload(&v2_choice(Some("4K"), None)), k("2025-01")),
            now,
            "malformed",
        ),
        f(
            "v2_macd_as_v1",
            raw::sign_payload_as(1, &raw::encode_payload(&v2_choice(Some("4k"), None)), k("2025-01")),
            now,
            "bad_signature",
        ),
        f(
            "v1_macd_as_v2",
            raw::sign_payload_as(2, &raw::encode_payload(&one_clip()), k("2025-01")),
            now,
            "bad_signature",
        ),
        // Version and claims this version does not understand.
        f(
            "version_3",
            raw::sign_payload(&[&[3u8][..], &raw::encode_payload(&one_clip())[1..]].concat(), k("2025-01")),
            now,
            "unsupported_version",
        ),
        f("version_0", raw::sign_payload(&[0], k("2025-01")), now, "unsupported_version"),
        f("unknown_critical_claim", signed_body(&|p| p.extend_from_slice(&[3, 1, b'x'])), now, "unsupported_claim"),
        // Keys and signatures.
        f(
            "retired_key",
            sign_token(&Claims { key_id: "2023-01".into(), ..one_clip() }, k("retired")).unwrap(),
            now,
            "unknown_key",
        ),
        f("wrong_secret", sign_token(&one_clip(), k("2025-01-wrong-secret")).unwrap(), now, "bad_signature"),
        f(
            "payload_char_changed",
            format!(
                "{}.{good_tag}",
                replace_char(good_payload, -3, flip_low_bit(good_payload.chars().nth_back(2).unwrap()))
            ),
            now,
            "bad_signature",
        ),
        f(
            "signature_char_changed",
            replace_char(&good, -2, flip_low_bit(good.chars().nth_back(1).unwrap())),
            now,
            "bad_signature",
        ),
        f(
            "signature_of_other_key_in_ring",
            format!(
                "{good_payload}.{}",
                raw::sign_payload(&raw::encode_payload(&one_clip()), k("2024-07")).split_once('.').unwrap().1
            ),
            now,
            "bad_signature",
        ),
        f(
            // The signature is checked before the clock.
            "tampered_and_expired",
            replace_char(&good, -2, flip_low_bit(good.chars().nth_back(1).unwrap())),
            ISSUED + 365 * DAY,
            "bad_signature",
        ),
        // Clock.
        f("expired", good.clone(), ISSUED + 30 * DAY + CLOCK_SKEW_SECS, "expired"),
        f("long_expired", good.clone(), END_OF_9999, "expired"),
        f("not_yet_valid", good.clone(), ISSUED - CLOCK_SKEW_SECS - 1, "not_yet_valid"),
    ];

    // The generator must describe what the code does.
    for v in &must_fail {
        let got = verify_token(&v.token, &ring, v.now).err().map(|e| e.code());
        assert_eq!(got, Some(v.expected_error_code.as_str()), "{}", v.name);
    }

    Vectors {
        about: format!(
            "Test vectors for clipstore purchase tokens (docs/token-format.md). Generated by `{REGENERATE}`; do not edit by hand. Every case is verified with the keyring `keyring` at time `now`. These keys are public test keys: never use them for a real shop."
        ),
        format_version: TOKEN_VERSION,
        clock_skew_secs: CLOCK_SKEW_SECS,
        keyring: ring.to_env_string(),
        keys: keys
            .iter()
            .map(|(name, key)| KeyVector {
                name: name.clone(),
                env: key.to_env_string(),
                in_keyring: ring
                    .get(key.key_id())
                    .is_some_and(|k| k.to_env_string() == key.to_env_string()),
                fingerprint: key.fingerprint(),
            })
            .collect(),
        valid,
        must_fail,
    }
}

fn render(v: &Vectors) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

#[test]
#[ignore = "rewrites testdata/token-vectors.json; run on purpose"]
fn regenerate() {
    std::fs::write(vectors_path(), render(&generate())).unwrap();
}

#[test]
fn vectors_file_matches_the_generator_byte_for_byte() {
    let on_disk = std::fs::read_to_string(vectors_path()).unwrap();
    let generated = render(&generate());
    assert!(
        on_disk == generated,
        "testdata/token-vectors.json differs from what the code generates; \
         if the format change is deliberate, run `{REGENERATE}` and review the diff"
    );
}

// ---------------------------------------------------------------- checker
//
// What every implementation does with the file; it uses only the file and
// the public API, not the generator above.

#[test]
fn vectors_file_passes() {
    let v: Vectors = serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    assert_eq!(v.format_version, 2);
    assert_eq!(v.clock_skew_secs, CLOCK_SKEW_SECS);
    let ring = Keyring::from_env_string(&v.keyring).unwrap();
    let key = |name: &str| {
        let k = v.keys.iter().find(|k| k.name == name).unwrap();
        SigningKey::from_env_string(&k.env).unwrap()
    };
    for k in &v.keys {
        let parsed = SigningKey::from_env_string(&k.env).unwrap();
        let in_ring = ring.get(parsed.key_id()).is_some_and(|r| r.to_env_string() == k.env);
        assert_eq!(in_ring, k.in_keyring, "{}", k.name);
        assert_eq!(parsed.fingerprint(), k.fingerprint, "{}", k.name);
    }

    assert!(v.valid.len() >= 5 && v.must_fail.len() >= 30);
    let numbers = v.valid.iter().flat_map(|c| [c.now, c.claims.issued_at, c.claims.expires_at]);
    assert!(numbers.chain(v.must_fail.iter().map(|c| c.now)).all(|n| n <= JS_MAX_SAFE_INTEGER));
    for case in &v.valid {
        let got = verify_token(&case.token, &ring, case.now).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(got, case.claims, "{}", case.name);
        assert_eq!(decode_unverified(&case.token).unwrap(), case.claims, "{}", case.name);
        let minted = sign_token(&case.claims, &key(&case.signed_with)).unwrap();
        assert_eq!(minted == case.token, case.minted_by_sign_token, "{}", case.name);
    }
    for case in &v.must_fail {
        match verify_token(&case.token, &ring, case.now) {
            Ok(claims) => panic!("{}: accepted, gave {claims:?}", case.name),
            Err(e) => assert_eq!(e.code(), case.expected_error_code, "{}: {e}", case.name),
        }
    }
    let one = v.valid.iter().find(|c| c.name == "one_clip").unwrap();
    assert!(one.token.len() < 200, "one-clip token has {} chars", one.token.len());
}
