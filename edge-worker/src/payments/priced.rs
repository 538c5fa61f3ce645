//! The price the cart's checkout asked, sealed by the Worker into the
//! Checkout Session's metadata (`priced`), so that the webhook honours what
//! the customer was shown after the owner changes the catalog's prices: a
//! session stays open for 24 hours, and a bank debit confirms days later
//! (docs/payments.md, "Prices changed while a customer pays").
//!
//! The seal is an HMAC under the Worker's link-signing key (`TOKEN_KEYS`),
//! which a leaked Stripe key cannot make: a checkout made with the key alone
//! is still checked against the catalog.

use clipstore_core::{Keyring, SigningKey};

use crate::monitor::hex;

/// The metadata key of the seal.
pub const METADATA_KEY: &str = "priced";

/// What the seal's MAC is over, before its message: no token's prefix.
const DOMAIN: &[u8] = b"clipstore-checkout-price-v1\0";

/// The sealed message: the amount, the currency and the items, in the
/// order the session's metadata lists them.
fn message(amount: u64, currency: &str, items: &[&str]) -> String {
    format!("{amount}\n{}\n{}", currency.to_ascii_lowercase(), items.join(","))
}

/// `AMOUNT:CURRENCY:KEY_ID:TAG` (TAG: 64 hex digits), at most 120
/// characters (Stripe takes 500 per metadata value).
pub fn seal(key: &SigningKey, items: &[&str], currency: &str, amount: u64) -> String {
    let tag = key.mac_for(DOMAIN, message(amount, currency, items).as_bytes());
    format!("{amount}:{}:{}:{}", currency.to_ascii_lowercase(), key.key_id(), hex(&tag))
}

/// The amount the Worker asked for `items` in `currency`, when `sealed` is
/// its seal of them under a key still in `keyring`; `None` otherwise (no
/// seal, another currency or other items, a forged or retired one).
pub fn asked(sealed: &str, keyring: &Keyring, items: &[String], currency: &str) -> Option<u64> {
    let mut parts = sealed.splitn(4, ':');
    let (amount, sealed_currency, key_id, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let amount: u64 = amount.parse().ok()?;
    if !sealed_currency.eq_ignore_ascii_case(currency) {
        return None;
    }
    let tag = unhex(tag)?;
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    keyring.get(key_id)?.verify_for(DOMAIN, message(amount, currency, &items).as_bytes(), &tag).then_some(amount)
}

/// The 32 bytes of 64 hex digits.
fn unhex(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks(2)) {
        let digit = |d: u8| (d as char).to_digit(16);
        *byte = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};

    fn key(id: &str, fill: u8) -> SigningKey {
        SigningKey::new(id, vec![fill; 32]).unwrap()
    }

    fn items(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_seal_opens_for_what_was_sealed_and_nothing_else() {
        let k1 = key("k1", 1);
        let ring = Keyring::new(vec![key("k1", 1), key("k0", 9)]);
        let sealed = seal(&k1, &["harbor", "fjord:web:extended"], "EUR", 3600);
        assert!(sealed.starts_with("3600:eur:k1:"), "{sealed}");
        assert!(sealed.len() <= 120);
        let both = items(&["harbor", "fjord:web:extended"]);
        assert_eq!(asked(&sealed, &ring, &both, "eur"), Some(3600));
        assert_eq!(asked(&sealed, &ring, &items(&["harbor"]), "eur"), None, "other items");
        assert_eq!(asked(&sealed, &ring, &items(&["fjord:web:extended", "harbor"]), "eur"), None, "another order");
        assert_eq!(asked(&sealed, &ring, &both, "usd"), None, "another currency");
        let cheaper = sealed.replacen("3600:", "1:", 1);
        assert_eq!(asked(&cheaper, &ring, &both, "eur"), None, "the amount is sealed");
        let other_key = sealed.replacen(":k1:", ":k0:", 1);
        assert_eq!(asked(&other_key, &ring, &both, "eur"), None);
        let retired = Keyring::new(vec![key("k0", 9)]);
        assert_eq!(asked(&sealed, &retired, &both, "eur"), None, "a key no longer in the keyring");
        let forged = seal(&key("k1", 2), &["harbor", "fjord:web:extended"], "eur", 1);
        assert_eq!(asked(&forged, &ring, &both, "eur"), None, "the same key id, another secret");
        for junk in ["", "3600", "3600:eur:k1", "3600:eur:k1:zz", "x:eur:k1:00", &format!("{sealed}0")] {
            assert_eq!(asked(junk, &ring, &both, "eur"), None, "{junk}");
        }
    }

    /// The tag is HMAC-SHA256 over the domain and the message, as documented.
    #[test]
    fn the_tag_is_hmac_sha256_of_the_domain_and_the_message() {
        let mut reference = Hmac::<sha2::Sha256>::new_from_slice(&[1; 32]).unwrap();
        reference.update(b"clipstore-checkout-price-v1\0900\neur\nharbor");
        let sealed = seal(&key("k1", 1), &["harbor"], "eur", 900);
        assert_eq!(sealed, format!("900:eur:k1:{}", hex(&reference.finalize().into_bytes())));
    }
}
