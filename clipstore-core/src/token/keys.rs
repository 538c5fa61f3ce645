//! Token keys: one [`SigningKey`] to mint, a [`Keyring`] of them to verify.
//!
//! Secrets come from the environment (`TOKEN_KEYS` as a Worker secret in
//! production, a `.dev.vars` line locally) in the form
//! `KEYID:BASE64URLSECRET[,KEYID:BASE64URLSECRET...]`, never from the repo.
//! Generating a secret needs randomness, which this crate deliberately does
//! not depend on (it must build for `wasm32-unknown-unknown` without
//! `getrandom`); `site-gen` generates keys.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::claims::{is_valid_key_id, MAX_KEY_ID_LEN};
use super::{MAC_DOMAIN, MAC_DOMAIN_V2, MAC_LEN};

/// Fewest secret bytes a key may have (HMAC-SHA256's output size).
pub const MIN_SECRET_LEN: usize = 32;
/// Most secret bytes a key may have (anything longer is surely a mistake).
pub const MAX_SECRET_LEN: usize = 256;

/// Strict base64url without padding: the one engine for tokens and secrets.
pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

type HmacSha256 = Hmac<Sha256>;

/// The MAC domain of a key's [fingerprint](SigningKey::fingerprint).
pub const FINGERPRINT_DOMAIN: &[u8] = b"clipstore-key-fingerprint-v1\0";

/// A secret key with its id. Signs tokens; in a [`Keyring`], verifies them.
///
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct SigningKey {
    key_id: String,
    secret: Vec<u8>,
    /// HMAC state already keyed with the secret (no domain prefix yet),
    /// cloned for each token (saves two SHA-256 blocks per token).
    mac: HmacSha256,
}

/// Why a key or keyring could not be built. Never contains secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key id {0:?} is invalid: it must be 1-{MAX_KEY_ID_LEN} characters of [A-Za-z0-9._-]")]
    InvalidKeyId(String),
    #[error("the secret of key {key_id:?} has {len} bytes; it needs {MIN_SECRET_LEN} to {MAX_SECRET_LEN}")]
    SecretLength { key_id: String, len: usize },
    #[error("the secret of key {key_id:?} is not base64url without padding")]
    SecretEncoding { key_id: String },
    #[error("key entry {entry} is not of the form KEYID:BASE64URLSECRET")]
    EntryFormat { entry: usize },
    #[error("key id {0:?} appears more than once in the keyring")]
    DuplicateKeyId(String),
    #[error("the keyring is empty: give at least one KEYID:BASE64URLSECRET entry")]
    Empty,
}

impl SigningKey {
    /// A key from its id and raw secret (at least [`MIN_SECRET_LEN`] bytes).
    pub fn new(key_id: impl Into<String>, secret: Vec<u8>) -> Result<SigningKey, KeyError> {
        let key_id = key_id.into();
        if !is_valid_key_id(&key_id) {
            return Err(KeyError::InvalidKeyId(key_id));
        }
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) {
            return Err(KeyError::SecretLength { key_id, len: secret.len() });
        }
        let mac = HmacSha256::new_from_slice(&secret).expect("HMAC takes keys of any length");
        Ok(SigningKey { key_id, secret, mac })
    }

    /// Parses `KEYID:BASE64URLSECRET` (surrounding whitespace is ignored).
    pub fn from_env_string(s: &str) -> Result<SigningKey, KeyError> {
        Self::parse_entry(s.trim(), 1)
    }

    fn parse_entry(entry: &str, index: usize) -> Result<SigningKey, KeyError> {
        let (key_id, secret) = entry.split_once(':').ok_or(KeyError::EntryFormat { entry: index })?;
        if !is_valid_key_id(key_id) {
            return Err(KeyError::InvalidKeyId(key_id.to_owned()));
        }
        let secret = B64.decode(secret).map_err(|_| KeyError::SecretEncoding { key_id: key_id.to_owned() })?;
        SigningKey::new(key_id, secret)
    }

    /// The id that tokens signed with this key carry.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `KEYID:BASE64URLSECRET`, the form [`SigningKey::from_env_string`] reads.
    /// This contains the secret: write it only to a secret store.
    pub fn to_env_string(&self) -> String {
        format!("{}:{}", self.key_id, B64.encode(&self.secret))
    }

    /// HMAC-SHA256 over the domain prefix and `message`.
    pub(crate) fn mac(&self, version: u8, message: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.keyed(version);
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check of `tag` against the MAC of `message`.
    pub(crate) fn verify_mac(&self, version: u8, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.keyed(version);
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }

    /// HMAC-SHA256 over `domain` and `message`, for what else the Worker
    /// signs with this key (the price a checkout asked). `domain` must name
    /// that use and be neither a token's prefix ([`MAC_DOMAIN`],
    /// [`MAC_DOMAIN_V2`]) nor start with one, so that no tag passes for another's.
    pub fn mac_for(&self, domain: &[u8], message: &[u8]) -> [u8; MAC_LEN] {
        assert!(![MAC_DOMAIN, MAC_DOMAIN_V2].iter().any(|d| d.starts_with(domain) || domain.starts_with(d)));
        let mut mac = self.mac.clone();
        mac.update(domain);
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check of `tag` against [`SigningKey::mac_for`].
    pub fn verify_for(&self, domain: &[u8], message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(domain);
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }

    /// A public name of the secret: the first 8 bytes of HMAC-SHA256 over
    /// [`FINGERPRINT_DOMAIN`] alone, in lower-case hex (16 characters).
    ///
    /// The Worker's deep health check shows it beside each key id, so that
    /// `site-gen` can tell whether the key it mints with is the very key the
    /// Worker verifies with (same id *and* same secret) without the secret
    /// leaving either side. It gives nothing to forge with: a MAC of a fixed
    /// message under its own domain, which no token's or price's tag is over.
    pub fn fingerprint(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let tag = self.mac_for(FINGERPRINT_DOMAIN, b"");
        let mut print = String::with_capacity(16);
        for b in &tag[..8] {
            print.push(char::from(HEX[usize::from(b >> 4)]));
            print.push(char::from(HEX[usize::from(b & 15)]));
        }
        print
    }

    /// The keyed state fed the domain prefix of a token version.
    fn keyed(&self, version: u8) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(if version == 2 { MAC_DOMAIN_V2 } else { MAC_DOMAIN });
        mac
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("key_id", &self.key_id).field("secret", &"<redacted>").finish()
    }
}

/// The keys a verifier accepts, by key id.
///
/// Rotation: put the new key first (it is the [`primary`](Keyring::primary)
/// one that mints), keep the old one after it until every token it signed has
/// expired, then drop it. See `docs/token-format.md`.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<SigningKey>,
}

impl Keyring {
    /// A keyring of these keys, in this order. If two share a key id the
    /// first wins; use [`Keyring::try_new`] to reject that instead.
    pub fn new(keys: Vec<SigningKey>) -> Keyring {
        let mut ring = Keyring { keys: Vec::with_capacity(keys.len()) };
        for key in keys {
            if ring.get(key.key_id()).is_none() {
                ring.keys.push(key);
            }
        }
        ring
    }

    /// Like [`Keyring::new`], but an empty list or a repeated key id is an error.
    pub fn try_new(keys: Vec<SigningKey>) -> Result<Keyring, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.key_id == key.key_id) {
                return Err(KeyError::DuplicateKeyId(key.key_id.clone()));
            }
        }
        Ok(Keyring { keys })
    }

    /// Parses `KEYID:SECRET[,KEYID:SECRET...]` (the `TOKEN_KEYS` format).
    /// Whitespace around entries is ignored; empty entries, an empty list and
    /// repeated key ids are errors.
    pub fn from_env_string(s: &str) -> Result<Keyring, KeyError> {
        if s.trim().is_empty() {
            return Err(KeyError::Empty);
        }
        let keys = s
            .split(',')
            .enumerate()
            .map(|(i, entry)| SigningKey::parse_entry(entry.trim(), i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Keyring::try_new(keys)
    }

    /// The keyring in the form [`Keyring::from_env_string`] reads (contains
    /// the secrets).
    pub fn to_env_string(&self) -> String {
        let entries: Vec<String> = self.keys.iter().map(SigningKey::to_env_string).collect();
        entries.join(",")
    }

    /// The key with this id, if the keyring has it.
    pub fn get(&self, key_id: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.key_id == key_id)
    }

    /// The first key: by convention the one new tokens are signed with.
    pub fn primary(&self) -> Option<&SigningKey> {
        self.keys.first()
    }

    /// All keys, in order.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(b: u8) -> Vec<u8> {
        vec![b; 32]
    }

    #[test]
    fn a_fingerprint_names_the_secret_not_the_id() {
        let key = SigningKey::new("2025-01", (0..32).collect()).unwrap();
        let print = key.fingerprint();
        assert_eq!(print.len(), 16);
        assert!(print.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{print}");
        // Same secret under another id: the same fingerprint; another secret
        // under the same id: another.
        assert_eq!(SigningKey::new("other", (0..32).collect()).unwrap().fingerprint(), print);
        assert_ne!(SigningKey::new("2025-01", (1..33).collect()).unwrap().fingerprint(), print);
        // It is the start of the MAC over its domain, not of a token's.
        let tag = key.mac_for(FINGERPRINT_DOMAIN, b"");
        assert_eq!(print, tag[..8].iter().map(|b| format!("{b:02x}")).collect::<String>());
        assert_ne!(&key.mac(1, b"")[..8], &tag[..8]);
    }

    #[test]
    fn env_string_round_trips() {
        let key = SigningKey::new("2025-01", (0..32).collect()).unwrap();
        let env = key.to_env_string();
        assert_eq!(env, "2025-01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
        let back = SigningKey::from_env_string(&format!(" {env}\n")).unwrap();
        assert_eq!(back.key_id(), "2025-01");
        assert_eq!(back.secret, key.secret);
    }

    #[test]
    fn key_rules() {
        assert_eq!(
            SigningKey::new("k", vec![0; 31]).unwrap_err(),
            KeyError::SecretLength { key_id: "k".into(), len: 31 }
        );
        assert!(SigningKey::new("k", vec![0; 257]).is_err());
        assert!(SigningKey::new("k", vec![0; 256]).is_ok());
        for bad_id in ["", "a:b", "a,b", "a b", &"k".repeat(33)] {
            assert_eq!(SigningKey::new(bad_id, secret(1)).unwrap_err(), KeyError::InvalidKeyId(bad_id.into()));
        }
    }

    #[test]
    fn env_parsing_is_strict() {
        let good = SigningKey::new("a", secret(1)).unwrap().to_env_string();
        let b64 = good.split_once(':').unwrap().1;
        assert!(matches!(SigningKey::from_env_string("no-separator"), Err(KeyError::EntryFormat { entry: 1 })));
        // Padding, standard alphabet and non-canonical trailing bits are refused.
        for bad in
            [format!("a:{b64}="), format!("a:{}", b64.replace('B', "+")), format!("a:{}", &b64[..b64.len() - 1]) + "B"]
        {
            assert!(matches!(SigningKey::from_env_string(&bad), Err(KeyError::SecretEncoding { .. })), "{bad}");
        }
    }

    #[test]
    fn keyring_parsing() {
        let a = SigningKey::new("a", secret(1)).unwrap();
        let b = SigningKey::new("b", secret(2)).unwrap();
        let env = format!("{}, {}\n", a.to_env_string(), b.to_env_string());
        let ring = Keyring::from_env_string(&env).unwrap();
        assert_eq!(ring.primary().unwrap().key_id(), "a");
        assert_eq!(ring.get("b").unwrap().secret, secret(2));
        assert!(ring.get("c").is_none());
        assert_eq!(Keyring::from_env_string(&ring.to_env_string()).unwrap().keys().len(), 2);

        assert_eq!(Keyring::from_env_string(" ").unwrap_err(), KeyError::Empty);
        assert_eq!(
            Keyring::from_env_string(&format!("{},", a.to_env_string())).unwrap_err(),
            KeyError::EntryFormat { entry: 2 }
        );
        assert_eq!(
            Keyring::from_env_string(&format!("{0},{0}", a.to_env_string())).unwrap_err(),
            KeyError::DuplicateKeyId("a".into())
        );
    }

    #[test]
    fn new_keeps_the_first_of_a_repeated_id() {
        let first = SigningKey::new("a", secret(1)).unwrap();
        let second = SigningKey::new("a", secret(2)).unwrap();
        let ring = Keyring::new(vec![first.clone(), second.clone()]);
        assert_eq!(ring.keys().len(), 1);
        assert_eq!(ring.get("a").unwrap().secret, secret(1));
        assert!(Keyring::try_new(vec![first, second]).is_err());
        assert_eq!(Keyring::try_new(vec![]).unwrap_err(), KeyError::Empty);
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = SigningKey::new("a", secret(0x41)).unwrap();
        let ring = Keyring::new(vec![key.clone()]);
        for shown in [format!("{key:?}"), format!("{ring:?}")] {
            assert!(shown.contains("redacted") && !shown.contains("65"), "{shown}");
        }
    }

    #[test]
    fn mac_is_hmac_sha256_over_domain_and_message() {
        // Independent computation with the hmac crate directly.
        let key = SigningKey::new("a", secret(7)).unwrap();
        let mut reference = HmacSha256::new_from_slice(&secret(7)).unwrap();
        reference.update(b"clipstore-token-v1\0hello");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(key.mac(1, b"hello"), expected);
        assert!(key.verify_mac(1, b"hello", &expected));
        assert!(!key.verify_mac(2, b"hello", &expected), "version 2 has its own domain");
        let mut reference = HmacSha256::new_from_slice(&secret(7)).unwrap();
        reference.update(b"clipstore-token-v2\0hello");
        let expected_v2: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(key.mac(2, b"hello"), expected_v2);
        assert!(!key.verify_mac(1, b"hello", &expected[..16]));
        assert!(!key.verify_mac(1, b"hellp", &expected));
    }
}
