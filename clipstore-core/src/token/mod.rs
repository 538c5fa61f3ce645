//! Purchase tokens: what a customer's download link carries.
//!
//! A token says which clips an order covers, until when, and how often each
//! may be downloaded, signed with HMAC-SHA256 so the Worker can decide from
//! the token alone, with no central server, whether to serve a clip. The
//! format is specified in `docs/token-format.md`; this module is its only
//! implementation, shared by `site-gen` (which mints) and the Worker (which
//! verifies).
//!
//! ```text
//! token = base64url(payload) "." base64url(HMAC-SHA256(key, "clipstore-token-v1\0" || base64url(payload)))
//! ```
//!
//! Minting ([`sign_token`]) needs one [`SigningKey`]; verifying
//! ([`verify_token`]) needs a [`Keyring`] and the caller's clock. The module
//! does no I/O, reads no clock and needs no randomness.

mod claims;
mod error;
mod keys;
mod wire;

use base64::Engine as _;

pub use claims::{
    is_valid_choice_id, is_valid_order_id, Choice, Claims, MAX_CHOICE_ID_LEN, MAX_CLIPS, MAX_CUSTOMER_REF_LEN,
    MAX_KEY_ID_LEN, MAX_ORDER_ID_LEN, MAX_SLUG_LEN, ORDER_ID_RULE,
};
pub use error::TokenError;
pub use keys::{KeyError, Keyring, SigningKey, FINGERPRINT_DOMAIN, MAX_SECRET_LEN, MIN_SECRET_LEN};
pub use wire::TOKEN_VERSION;

use keys::B64;

/// How far the verifier's clock may disagree with the minter's, in seconds.
///
/// A token is accepted while
/// `issued_at - CLOCK_SKEW_SECS <= now < expires_at + CLOCK_SKEW_SECS`.
/// Five minutes: the Worker's clock is accurate, but `site-gen` runs on the
/// shop owner's computer, whose clock may be a few minutes off; a fresh link
/// must not be refused as "not yet valid" because of that. Five extra minutes
/// at the end of a link that lives for days is harmless.
pub const CLOCK_SKEW_SECS: u64 = 300;

/// The first second at which a link that expires at `expires_at` is
/// refused as expired: `expires_at` + [`CLOCK_SKEW_SECS`]. What the Worker
/// says of a link it verified as of an earlier moment (its expired order
/// page, a resume after expiry) follows the same rule from here.
#[inline]
pub fn expired_from(expires_at: u64) -> u64 {
    expires_at.saturating_add(CLOCK_SKEW_SECS)
}

/// Prefix of every MAC input, so a key used for tokens can never produce a
/// MAC that is valid for anything else (and vice versa).
pub const MAC_DOMAIN: &[u8] = b"clipstore-token-v1\0";
/// The prefix of version 2 tokens: a version 2 payload can never pass for a
/// version 1 one under the same key, nor the other way round.
pub const MAC_DOMAIN_V2: &[u8] = b"clipstore-token-v2\0";

/// Bytes of the MAC tag: the full HMAC-SHA256 output, not truncated.
pub const MAC_LEN: usize = 32;

/// Longest token string accepted, in characters; longer input is refused
/// before any decoding. The longest valid version 1 token is under 6,000.
pub const MAX_TOKEN_LEN: usize = 8192;

/// Characters of the base64url-encoded MAC tag.
const TAG_B64_LEN: usize = 43;

/// Signs `claims` with `key`.
///
/// Fails with [`TokenError::KeyMismatch`] if `claims.key_id` is not the key's
/// id and with [`TokenError::InvalidClaims`] if the claims break a rule of
/// the format (see [`Claims::validate`]; clips must already be sorted and
/// unique, which [`Claims::normalize_clips`] ensures).
pub fn sign_token(claims: &Claims, key: &SigningKey) -> Result<String, TokenError> {
    if claims.key_id != key.key_id() {
        return Err(TokenError::KeyMismatch { claims_key_id: claims.key_id.clone(), key_id: key.key_id().to_owned() });
    }
    claims.validate().map_err(TokenError::InvalidClaims)?;
    Ok(sign_payload(&wire::encode_payload(claims), key))
}

/// Verifies a token against a keyring at time `now_unix` (unix seconds) and
/// returns its claims.
///
/// Checks, in order: shape and encoding, version, key id in the keyring, MAC
/// (constant time), the body's rules, then the validity window with
/// [`CLOCK_SKEW_SECS`] of slack. The error names the first check that failed.
/// Whether the clip asked for is among [`Claims::clips`] and whether the
/// allowance is used up are the caller's decisions.
pub fn verify_token(token: &str, keyring: &Keyring, now_unix: u64) -> Result<Claims, TokenError> {
    let parts = split(token)?;
    let header = wire::parse_header(&parts.payload)?;
    let key = keyring.get(header.key_id).ok_or_else(|| TokenError::UnknownKey(header.key_id.to_owned()))?;
    if !key.verify_mac(header.version, parts.payload_b64.as_bytes(), &parts.tag) {
        return Err(TokenError::BadSignature);
    }
    let (claims, _skipped) = wire::parse_body(&header)?;
    check_time(&claims, now_unix)?;
    Ok(claims)
}

/// Reads a token's claims WITHOUT verifying it: no key, no MAC check, no
/// clock. For inspecting a token (`site-gen token inspect`) only; never base
/// a decision to serve a clip on what this returns. Fails on tokens whose
/// shape or body is not valid.
pub fn decode_unverified(token: &str) -> Result<Claims, TokenError> {
    let parts = split(token)?;
    wire::parse_payload(&parts.payload).map(|(claims, _skipped)| claims)
}

/// Reads the claims of a token's payload alone (what comes before its
/// `.`, which must be there), WITHOUT verifying anything, as
/// [`decode_unverified`]: for a link cut short in its signature, so that
/// the owner still learns which order it names. A payload cut short can
/// read as other claims, hence the `.`. Never a reason to serve anything.
pub fn decode_unverified_payload(token: &str) -> Result<Claims, TokenError> {
    let Some((payload_b64, _)) = token.split_once('.') else {
        return Err(TokenError::Malformed("it has no '.' between payload and signature".to_owned()));
    };
    if payload_b64.is_empty() || payload_b64.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("the payload is empty or too long".to_owned()));
    }
    let payload = B64
        .decode(payload_b64)
        .map_err(|_| TokenError::Malformed("the payload is not canonical base64url without padding".to_owned()))?;
    wire::parse_payload(&payload).map(|(claims, _skipped)| claims)
}

fn check_time(claims: &Claims, now: u64) -> Result<(), TokenError> {
    if now.saturating_add(CLOCK_SKEW_SECS) < claims.issued_at {
        return Err(TokenError::NotYetValid { issued_at: claims.issued_at, now });
    }
    if now >= expired_from(claims.expires_at) {
        return Err(TokenError::Expired { expires_at: claims.expires_at, now });
    }
    Ok(())
}

/// Signs payload bytes under the domain of their version byte (`2`: v2,
/// anything else: v1).
fn sign_payload(payload: &[u8], key: &SigningKey) -> String {
    let mut token = B64.encode(payload);
    let tag = key.mac(payload.first().copied().unwrap_or(1), token.as_bytes());
    token.push('.');
    B64.encode_string(tag, &mut token);
    token
}

struct Parts<'a> {
    payload_b64: &'a str,
    payload: Vec<u8>,
    tag: [u8; MAC_LEN],
}

/// Splits `payload.tag` and decodes both halves strictly.
fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    let malformed = |reason: &str| Err(TokenError::Malformed(reason.to_owned()));
    if token.len() > MAX_TOKEN_LEN {
        return malformed("it is too long");
    }
    let Some((payload_b64, tag_b64)) = token.split_once('.') else {
        return malformed("it has no '.' between payload and signature");
    };
    if tag_b64.len() != TAG_B64_LEN {
        return malformed("the signature has the wrong length");
    }
    if payload_b64.is_empty() {
        return malformed("the payload is empty");
    }
    let Ok(payload) = B64.decode(payload_b64) else {
        return malformed("the payload is not canonical base64url without padding");
    };
    let mut tag = [0u8; MAC_LEN];
    match B64.decode_slice(tag_b64, &mut tag) {
        Ok(MAC_LEN) => {}
        _ => return malformed("the signature is not canonical base64url without padding"),
    }
    Ok(Parts { payload_b64, payload, tag })
}

/// The binary layer, exposed for the test vectors, property tests and fuzz
/// targets. Not for application code: nothing here checks claims before
/// signing or verifies anything when parsing.
#[doc(hidden)]
pub mod raw {
    use super::{wire, Claims, SigningKey, TokenError};

    /// The payload bytes of `claims`, without checking them.
    pub fn encode_payload(claims: &Claims) -> Vec<u8> {
        wire::encode_payload(claims)
    }

    /// Parses a payload; also returns how many unknown informational
    /// extension claims were skipped.
    pub fn parse_payload(payload: &[u8]) -> Result<(Claims, usize), TokenError> {
        wire::parse_payload(payload)
    }

    /// Signs arbitrary payload bytes (to make tokens with a valid MAC but a
    /// broken body, for tests).
    pub fn sign_payload(payload: &[u8], key: &SigningKey) -> String {
        super::sign_payload(payload, key)
    }

    /// Signs payload bytes under the MAC domain of `version`, whatever their
    /// version byte says (a version 2 payload MAC'd as version 1, for tests).
    pub fn sign_payload_as(version: u8, payload: &[u8], key: &SigningKey) -> String {
        use base64::Engine as _;
        let mut token = super::B64.encode(payload);
        let tag = key.mac(version, token.as_bytes());
        token.push('.');
        super::B64.encode_string(tag, &mut token);
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, fill: u8) -> SigningKey {
        SigningKey::new(id, vec![fill; 32]).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            key_id: "2025-01".into(),
            order_id: "ORD-2025-000123".into(),
            clips: vec!["harbor-dawn".into()],
            issued_at: 1_750_000_000,
            expires_at: 1_750_000_000 + 30 * 86_400,
            downloads: 3,
            customer_ref: None,
            choices: Default::default(),
        }
    }

    #[test]
    fn sign_then_verify() {
        let k = key("2025-01", 1);
        let token = sign_token(&claims(), &k).unwrap();
        let ring = Keyring::new(vec![key("old", 2), k]);
        assert_eq!(verify_token(&token, &ring, 1_750_000_100).unwrap(), claims());
        assert_eq!(decode_unverified(&token).unwrap(), claims());
        assert!(token.len() < 120, "{} chars: {token}", token.len());
    }

    #[test]
    fn signing_checks_key_and_claims() {
        let err = sign_token(&claims(), &key("other", 1)).unwrap_err();
        assert_eq!(err.code(), "key_mismatch");
        let mut c = claims();
        c.clips.push("a-before-h".into());
        assert_eq!(sign_token(&c, &key("2025-01", 1)).unwrap_err().code(), "invalid_claims");
    }

    #[test]
    fn validity_window_edges() {
        let c = claims();
        let ring = Keyring::new(vec![key("2025-01", 1)]);
        let token = sign_token(&c, &ring.keys()[0]).unwrap();
        let at = |now| verify_token(&token, &ring, now).map_err(|e| e.code());
        assert_eq!(at(c.issued_at - CLOCK_SKEW_SECS - 1), Err("not_yet_valid"));
        assert!(at(c.issued_at - CLOCK_SKEW_SECS).is_ok());
        assert!(at(c.expires_at + CLOCK_SKEW_SECS - 1).is_ok());
        assert_eq!(at(c.expires_at + CLOCK_SKEW_SECS), Err("expired"));
        assert_eq!(at(expired_from(c.expires_at)), Err("expired"));
        assert!(at(expired_from(c.expires_at) - 1).is_ok());
        assert_eq!(expired_from(u64::MAX), u64::MAX, "no overflow");
        assert_eq!(at(u64::MAX), Err("expired"));
        assert_eq!(at(0), Err("not_yet_valid"));
    }

    #[test]
    fn expiry_near_the_end_of_time_does_not_overflow() {
        let mut c = claims();
        c.expires_at = u64::MAX;
        let ring = Keyring::new(vec![key("2025-01", 1)]);
        let token = sign_token(&c, &ring.keys()[0]).unwrap();
        assert!(verify_token(&token, &ring, u64::MAX - 1).is_ok());
        assert_eq!(verify_token(&token, &ring, u64::MAX).unwrap_err().code(), "expired");
    }

    #[test]
    fn check_order_and_codes() {
        let k = key("2025-01", 1);
        let ring = Keyring::new(vec![k.clone()]);
        let token = sign_token(&claims(), &k).unwrap();
        let now = claims().issued_at;
        let code = |t: &str| verify_token(t, &ring, now).unwrap_err().code();

        assert_eq!(code(""), "malformed");
        assert_eq!(code(&token.replace('.', "")), "malformed");
        assert_eq!(code(&format!("{token}=")), "malformed");
        assert_eq!(code(&"A".repeat(MAX_TOKEN_LEN + 1)), "malformed");
        let other_key = sign_token(&Claims { key_id: "nope".into(), ..claims() }, &key("nope", 1)).unwrap();
        assert_eq!(code(&other_key), "unknown_key");
        let wrong_secret = sign_token(&claims(), &key("2025-01", 2)).unwrap();
        assert_eq!(code(&wrong_secret), "bad_signature");
        let v3 = raw::sign_payload(&[3, 7, b'2', b'0', b'2', b'5', b'-', b'0', b'1'], &k);
        assert_eq!(code(&v3), "unsupported_version");
        // A broken body behind a good MAC is malformed, behind a bad MAC it is
        // never looked at.
        let mut body = raw::encode_payload(&claims());
        body.push(0);
        assert_eq!(code(&raw::sign_payload(&body, &k)), "malformed");
        assert_eq!(code(&raw::sign_payload(&body, &key("2025-01", 2))), "bad_signature");
        // An unknown critical claim, signed.
        let mut body = raw::encode_payload(&claims());
        body.extend_from_slice(&[3, 0]);
        assert_eq!(code(&raw::sign_payload(&body, &k)), "unsupported_claim");
    }

    #[test]
    fn version_2_is_macd_under_its_own_domain() {
        let k = key("2025-01", 1);
        let ring = Keyring::new(vec![k.clone()]);
        let mut c = claims();
        c.choices.insert("harbor-dawn".into(), Choice { variant: Some("4k".into()), licence: None });
        let token = sign_token(&c, &k).unwrap();
        assert_eq!(verify_token(&token, &ring, c.issued_at).unwrap(), c);
        // The same payload MAC'd under the version 1 domain is refused.
        let payload = raw::encode_payload(&c);
        let (b64, _) = token.split_once('.').unwrap();
        let v1_tag = B64.encode(k.mac(1, b64.as_bytes()));
        let forged = format!("{b64}.{v1_tag}");
        assert_eq!(verify_token(&forged, &ring, c.issued_at).unwrap_err().code(), "bad_signature");
        assert_eq!(payload[0], 2);
        // Plain claims still make the version 1 token they always made.
        assert_eq!(raw::encode_payload(&claims())[0], 1);
    }

    #[test]
    fn messages_are_for_humans() {
        let e = TokenError::Expired { expires_at: 5, now: 9 };
        assert_eq!(e.to_string(), "the purchase token expired at 5 (unix time; it is now 9)");
        assert!(TokenError::UnknownKey("k9".into()).to_string().contains("\"k9\""));
    }
}
