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

/// How far Stripe's `created` of the session may lie from the seal's time:
/// the session is made right after the seal (a few seconds later, give or
/// take the clocks), so a seal copied from an old session into a new one
/// (a leaked Stripe key can read old sessions) does not open.
pub const SEALED_BEFORE_CREATED_SECS: (u64, u64) = (300, 900);

/// The sealed message: the amount, the currency, the Worker's time and the
/// items, in the order the session's metadata lists them.
fn message(amount: u64, currency: &str, at: u64, items: &[&str]) -> String {
    format!("{amount}\n{}\n{at}\n{}", currency.to_ascii_lowercase(), items.join(","))
}

/// `AMOUNT:CURRENCY:AT:KEY_ID:TAG` (AT: unix seconds when sealed; TAG: 64
/// hex digits), at most 140 characters (Stripe takes 500 per metadata value).
pub fn seal(key: &SigningKey, items: &[&str], currency: &str, amount: u64, at: u64) -> String {
    let tag = key.mac_for(DOMAIN, message(amount, currency, at, items).as_bytes());
    format!("{amount}:{}:{at}:{}:{}", currency.to_ascii_lowercase(), key.key_id(), hex(&tag))
}

/// The amount the Worker asked for `items` in `currency`, when `sealed` is
/// its seal of them under a key still in `keyring`, made within
/// [`SEALED_BEFORE_CREATED_SECS`] of the session's `created`; `None`
/// otherwise (no seal, another currency or other items, a forged, retired
/// or copied one, no `created`).
pub fn asked(sealed: &str, keyring: &Keyring, items: &[String], currency: &str, created: Option<u64>) -> Option<u64> {
    let mut parts = sealed.splitn(5, ':');
    let (amount, sealed_currency, at, key_id, tag) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(amount) || !digits(at) || !sealed_currency.eq_ignore_ascii_case(currency) {
        return None;
    }
    let (amount, at): (u64, u64) = (amount.parse().ok()?, at.parse().ok()?);
    let (before, after) = SEALED_BEFORE_CREATED_SECS;
    if !(at.saturating_sub(before)..=at.saturating_add(after)).contains(&created?) {
        return None;
    }
    let tag = unhex(tag)?;
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    keyring.get(key_id)?.verify_for(DOMAIN, message(amount, currency, at, &items).as_bytes(), &tag).then_some(amount)
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

    const AT: u64 = 1_780_000_000;

    #[test]
    fn a_seal_opens_for_what_was_sealed_and_nothing_else() {
        let k1 = key("k1", 1);
        let ring = Keyring::new(vec![key("k1", 1), key("k0", 9)]);
        let sealed = seal(&k1, &["harbor", "fjord:web:extended"], "EUR", 3600, AT);
        assert!(sealed.starts_with(&format!("3600:eur:{AT}:k1:")), "{sealed}");
        assert!(sealed.len() <= 140);
        let both = items(&["harbor", "fjord:web:extended"]);
        let created = Some(AT + 2);
        assert_eq!(asked(&sealed, &ring, &both, "eur", created), Some(3600));
        assert_eq!(asked(&sealed, &ring, &items(&["harbor"]), "eur", created), None, "other items");
        assert_eq!(
            asked(&sealed, &ring, &items(&["fjord:web:extended", "harbor"]), "eur", created),
            None,
            "another order"
        );
        assert_eq!(asked(&sealed, &ring, &both, "usd", created), None, "another currency");
        let cheaper = sealed.replacen("3600:", "1:", 1);
        assert_eq!(asked(&cheaper, &ring, &both, "eur", created), None, "the amount is sealed");
        let later = sealed.replacen(&format!(":{AT}:"), &format!(":{}:", AT + 86_400), 1);
        assert_eq!(asked(&later, &ring, &both, "eur", Some(AT + 86_400)), None, "the time is sealed");
        let other_key = sealed.replacen(":k1:", ":k0:", 1);
        assert_eq!(asked(&other_key, &ring, &both, "eur", created), None);
        let retired = Keyring::new(vec![key("k0", 9)]);
        assert_eq!(asked(&sealed, &retired, &both, "eur", created), None, "a key no longer in the keyring");
        let forged = seal(&key("k1", 2), &["harbor", "fjord:web:extended"], "eur", 1, AT);
        assert_eq!(asked(&forged, &ring, &both, "eur", created), None, "the same key id, another secret");
        for junk in [
            "",
            "3600",
            "3600:eur:1:k1",
            "3600:eur:1:k1:zz",
            "x:eur:1:k1:00",
            "+3600:eur:1:k1:00",
            &format!("{sealed}0"),
        ] {
            assert_eq!(asked(junk, &ring, &both, "eur", created), None, "{junk}");
        }
    }

    /// A leaked Stripe key can read old sessions: a seal copied from one
    /// (a sale, a test purchase) into a new session made now does not open;
    /// nor does one without Stripe's `created`.
    #[test]
    fn a_seal_opens_only_for_a_session_made_when_it_was_sealed() {
        let ring = Keyring::new(vec![key("k1", 1)]);
        let sealed = seal(&key("k1", 1), &["harbor"], "eur", 100, AT);
        let opens = |created| asked(&sealed, &ring, &items(&["harbor"]), "eur", created).is_some();
        assert!(opens(Some(AT)) && opens(Some(AT - 300)) && opens(Some(AT + 900)), "the clocks a few minutes apart");
        assert!(!opens(Some(AT + 901)) && !opens(Some(AT + 86_400)), "a seal copied into a later session");
        assert!(!opens(Some(AT - 301)));
        assert!(!opens(None));
    }

    /// The tag is HMAC-SHA256 over the domain and the message, as documented.
    #[test]
    fn the_tag_is_hmac_sha256_of_the_domain_and_the_message() {
        let mut reference = Hmac::<sha2::Sha256>::new_from_slice(&[1; 32]).unwrap();
        reference.update(b"clipstore-checkout-price-v1\0900\neur\n1780000000\nharbor");
        let sealed = seal(&key("k1", 1), &["harbor"], "eur", 900, AT);
        assert_eq!(sealed, format!("900:eur:{AT}:k1:{}", hex(&reference.finalize().into_bytes())));
    }
}
