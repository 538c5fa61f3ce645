//! Property tests of the purchase-token format: round trips, tampering,
//! canonical encoding, keys and clock.

use std::collections::BTreeSet;

use clipstore_core::token::{raw, Choice, CLOCK_SKEW_SECS};
use clipstore_core::{
    decode_unverified, decode_unverified_payload, sign_token, verify_token, Claims, Keyring, SigningKey, TokenError,
};
use proptest::prelude::*;

fn slug() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,64}"
}

fn choice_id() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,32}"
}

fn printable(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[!-~]{{1,{max}}}")).unwrap()
}

/// Any valid claims, with up to `max_clips` clips, signed by `key_id`.
fn claims_for(key_id: String, max_clips: usize) -> impl Strategy<Value = Claims> {
    (
        printable(64),
        proptest::collection::btree_set(slug(), 1..=max_clips),
        any::<u64>(),
        any::<u64>(),
        1..=u32::MAX,
        proptest::option::of(printable(64)),
        // Per clip, maybe a variant and a licence (version 2 when any).
        proptest::collection::vec((proptest::option::of(choice_id()), proptest::option::of(choice_id())), max_clips),
    )
        .prop_filter("expires_at must differ from issued_at", |(_, _, a, b, _, _, _)| a != b)
        .prop_map(move |(order_id, clips, a, b, downloads, customer_ref, picks)| {
            let clips: Vec<String> = clips.into_iter().collect();
            let choices = clips
                .iter()
                .zip(picks)
                .map(|(slug, (variant, licence))| (slug.clone(), Choice { variant, licence }))
                .filter(|(_, choice)| !choice.is_plain())
                .collect();
            Claims {
                key_id: key_id.clone(),
                order_id,
                clips,
                issued_at: a.min(b),
                expires_at: a.max(b),
                downloads,
                customer_ref,
                choices,
            }
        })
}

fn key_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,32}"
}

/// A key and claims signed by it.
fn key_and_claims(max_clips: usize) -> impl Strategy<Value = (SigningKey, Claims)> {
    (key_id(), proptest::collection::vec(any::<u8>(), 32..=64)).prop_flat_map(move |(id, secret)| {
        let key = SigningKey::new(id.clone(), secret).unwrap();
        claims_for(id, max_clips).prop_map(move |c| (key.clone(), c))
    })
}

/// A moment inside the validity window, picked by `pick`.
fn inside_window(c: &Claims, pick: u64) -> u64 {
    let start = c.issued_at.saturating_sub(CLOCK_SKEW_SECS);
    let end = c.expires_at.saturating_add(CLOCK_SKEW_SECS); // exclusive
    start + pick % (end - start)
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips((key, claims) in key_and_claims(64), pick in any::<u64>()) {
        let token = sign_token(&claims, &key).unwrap();
        let ring = Keyring::new(vec![key]);
        let now = inside_window(&claims, pick);
        prop_assert_eq!(verify_token(&token, &ring, now), Ok(claims.clone()));
        prop_assert_eq!(decode_unverified(&token), Ok(claims.clone()));
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        // Deterministic: the same claims and key give the same string.
        prop_assert_eq!(sign_token(&claims, &ring.keys()[0]).unwrap(), token);
    }

    #[test]
    fn a_sorted_set_of_claims_has_one_payload((_, claims) in key_and_claims(8)) {
        let payload = raw::encode_payload(&claims);
        prop_assert_eq!(raw::parse_payload(&payload), Ok((claims, 0)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_single_bit_flip_is_rejected((key, claims) in key_and_claims(3)) {
        let token = sign_token(&claims, &key).unwrap();
        let ring = Keyring::new(vec![key]);
        let now = claims.issued_at;
        let mut checked = 0;
        for i in 0..token.len() {
            for bit in 0..8 {
                let mut bytes = token.clone().into_bytes();
                bytes[i] ^= 1 << bit;
                // A flip that leaves UTF-8 cannot even be handed to verify_token.
                let Ok(flipped) = String::from_utf8(bytes) else { continue };
                let result = verify_token(&flipped, &ring, now);
                prop_assert!(result.is_err(), "byte {} bit {} accepted: {}", i, bit, flipped);
                checked += 1;
            }
        }
        prop_assert!(checked >= token.len() * 7);
    }

    #[test]
    fn every_truncation_is_rejected((key, claims) in key_and_claims(3)) {
        let token = sign_token(&claims, &key).unwrap();
        let ring = Keyring::new(vec![key]);
        for len in 0..token.len() {
            let cut = &token[..len];
            prop_assert!(verify_token(cut, &ring, claims.issued_at).is_err(), "{}", cut);
            prop_assert!(decode_unverified(cut).is_err(), "{}", cut);
        }
        // Cut in its signature, the payload still names the order (for the
        // owner's `token inspect`); cut in its payload, it names nothing.
        let dot = token.find('.').unwrap();
        for len in dot + 1..token.len() {
            prop_assert_eq!(decode_unverified_payload(&token[..len]), Ok(claims.clone()));
        }
        for len in 0..=dot {
            prop_assert!(decode_unverified_payload(&token[..len]).is_err(), "{}", &token[..len]);
        }
    }

    /// Canonical encoding: a payload that differs by any single bit, even
    /// when properly signed, never decodes to the same claims; and every
    /// payload that parses is exactly the encoding of what it parses to.
    #[test]
    fn a_changed_payload_never_means_the_same_claims((key, claims) in key_and_claims(3)) {
        let payload = raw::encode_payload(&claims);
        let ring = Keyring::new(vec![key.clone()]);
        for i in 0..payload.len() {
            for bit in 0..8 {
                let mut mutated = payload.clone();
                mutated[i] ^= 1 << bit;
                if let Ok((parsed, skipped)) = raw::parse_payload(&mutated) {
                    prop_assert_ne!(&parsed, &claims);
                    if skipped == 0 {
                        prop_assert_eq!(raw::encode_payload(&parsed), mutated.clone());
                    }
                }
                let token = raw::sign_payload(&mutated, &key);
                if let Ok(parsed) = verify_token(&token, &ring, claims.issued_at) {
                    prop_assert_ne!(parsed, claims.clone());
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn a_key_id_not_in_the_keyring_is_unknown(
        (key, claims) in key_and_claims(2),
        others in proptest::collection::btree_set(key_id(), 0..4),
    ) {
        let token = sign_token(&claims, &key).unwrap();
        let others: BTreeSet<_> = others.into_iter().filter(|id| id != key.key_id()).collect();
        let ring = Keyring::new(
            others.iter().map(|id| SigningKey::new(id.clone(), vec![7; 32]).unwrap()).collect(),
        );
        prop_assert_eq!(
            verify_token(&token, &ring, claims.issued_at),
            Err(TokenError::UnknownKey(claims.key_id.clone()))
        );
    }

    #[test]
    fn the_same_key_id_with_another_secret_is_a_bad_signature(
        (key, claims) in key_and_claims(2),
        other_secret in proptest::collection::vec(any::<u8>(), 32..=64),
    ) {
        let token = sign_token(&claims, &key).unwrap();
        let impostor = SigningKey::new(key.key_id(), other_secret).unwrap();
        prop_assume!(impostor.to_env_string() != key.to_env_string());
        let ring = Keyring::new(vec![impostor]);
        prop_assert_eq!(verify_token(&token, &ring, claims.issued_at), Err(TokenError::BadSignature));
    }

    #[test]
    fn outside_the_window_is_expired_or_not_yet_valid(
        (key, claims) in key_and_claims(2),
        pick in any::<u64>(),
    ) {
        let token = sign_token(&claims, &key).unwrap();
        let ring = Keyring::new(vec![key]);
        if let Some(last_early) = claims.issued_at.checked_sub(CLOCK_SKEW_SECS + 1) {
            let now = pick % (last_early + 1);
            prop_assert_eq!(
                verify_token(&token, &ring, now),
                Err(TokenError::NotYetValid { issued_at: claims.issued_at, now })
            );
        }
        if let Some(first_late) = claims.expires_at.checked_add(CLOCK_SKEW_SECS) {
            let now = first_late + pick % (u64::MAX - first_late + 1).max(1);
            prop_assert_eq!(
                verify_token(&token, &ring, now),
                Err(TokenError::Expired { expires_at: claims.expires_at, now })
            );
        }
    }

    #[test]
    fn arbitrary_strings_are_refused_without_panicking(s in ".{0,300}", t in "[A-Za-z0-9_-]{0,120}\\.[A-Za-z0-9_-]{43}") {
        let ring = Keyring::new(vec![SigningKey::new("k", vec![1; 32]).unwrap()]);
        prop_assert!(verify_token(&s, &ring, 0).is_err());
        prop_assert!(verify_token(&t, &ring, 0).is_err());
        let _ = decode_unverified(&s);
        let _ = decode_unverified(&t);
        let _ = decode_unverified_payload(&s);
        let _ = decode_unverified_payload(&t);
    }
}
