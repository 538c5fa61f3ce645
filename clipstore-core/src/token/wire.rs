//! The binary payload of a version 1 or 2 token (layout: `docs/token-format.md`).
//!
//! Parsing is strict: every set of claims has exactly one byte string, and
//! any other byte string is rejected (minimal varints, sorted clips, extension
//! claims in ascending tag order, nothing left over). The header (version and
//! key id) is parsed separately so that the MAC can be checked before the rest
//! of the body is looked at.

use crate::SortedMap;

use super::claims::{is_valid_key_id, Choice, Claims, MAX_CHOICE_ID_LEN, MAX_CLIPS, MAX_KEY_ID_LEN};
use super::TokenError;

/// The newest format version this code reads and writes: 2 (a variant and a
/// licence per clip). Version 1 (clips only) is read, and written for claims
/// without choices, so that plain orders keep the tokens they always had.
pub const TOKEN_VERSION: u8 = 2;

/// Extension claim tag of [`Claims::customer_ref`]. Even: informational.
pub const TAG_CUSTOMER_REF: u64 = 2;

/// Writes the payload of claims that passed [`Claims::validate`].
pub fn encode_payload(claims: &Claims) -> Vec<u8> {
    let version = claims.version();
    let mut out = Vec::with_capacity(32 + claims.clips.iter().map(|c| c.len() + 1).sum::<usize>());
    out.push(version);
    put_bytes(&mut out, claims.key_id.as_bytes());
    put_bytes(&mut out, claims.order_id.as_bytes());
    put_varint(&mut out, claims.issued_at);
    put_varint(&mut out, claims.expires_at);
    put_varint(&mut out, u64::from(claims.downloads));
    put_varint(&mut out, claims.clips.len() as u64);
    for clip in &claims.clips {
        put_bytes(&mut out, clip.as_bytes());
        if version == 2 {
            let choice = claims.choices.get(clip);
            for id in [choice.and_then(|c| c.variant.as_deref()), choice.and_then(|c| c.licence.as_deref())] {
                put_bytes(&mut out, id.unwrap_or("").as_bytes());
            }
        }
    }
    if let Some(customer_ref) = &claims.customer_ref {
        put_varint(&mut out, TAG_CUSTOMER_REF);
        put_bytes(&mut out, customer_ref.as_bytes());
    }
    out
}

/// The header of a payload: what is read before the MAC is checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub version: u8,
    pub key_id: &'a str,
    pub body: &'a [u8],
}

/// Reads the version byte and the key id.
pub fn parse_header(payload: &[u8]) -> Result<Header<'_>, TokenError> {
    let mut r = Reader { buf: payload };
    let version = r.byte("the version")?;
    if !(1..=TOKEN_VERSION).contains(&version) {
        return Err(TokenError::UnsupportedVersion(version));
    }
    let key_id = r.str("the key id", MAX_KEY_ID_LEN)?;
    if !is_valid_key_id(key_id) {
        return Err(malformed("the key id has characters outside [A-Za-z0-9._-]"));
    }
    Ok(Header { version, key_id, body: r.buf })
}

/// Reads the body that follows the header. Also returns how many unknown
/// informational (even-tagged) extension claims were skipped.
pub fn parse_body(header: &Header<'_>) -> Result<(Claims, usize), TokenError> {
    let Header { version, key_id, body } = *header;
    let mut r = Reader { buf: body };
    let order_id = r.str("the order id", usize::MAX)?;
    let issued_at = r.varint("issued_at")?;
    let expires_at = r.varint("expires_at")?;
    let downloads = u32::try_from(r.varint("the download allowance")?)
        .map_err(|_| malformed("the download allowance does not fit in 32 bits"))?;
    let count = r.varint("the clip count")?;
    if count == 0 || count > MAX_CLIPS as u64 {
        return Err(malformed(&format!("a token covers 1-{MAX_CLIPS} clips")));
    }
    let mut clips = Vec::with_capacity(count as usize);
    let mut choices = SortedMap::default();
    for _ in 0..count {
        let slug = r.str("a clip slug", usize::MAX)?.to_owned();
        if version == 2 {
            let choice = Choice { variant: r.id("a variant")?, licence: r.id("a licence")? };
            if !choice.is_plain() {
                choices.insert(slug.clone(), choice);
            }
        }
        clips.push(slug);
    }
    if version == 2 && choices.is_empty() {
        return Err(malformed("a version 2 token names a variant or a licence (else it is written as version 1)"));
    }
    let mut customer_ref = None;
    let mut skipped = 0;
    let mut last_tag = 0;
    while !r.buf.is_empty() {
        let tag = r.varint("an extension claim tag")?;
        if tag <= last_tag {
            return Err(malformed("extension claims must have ascending, non-zero tags, each at most once"));
        }
        last_tag = tag;
        let value = r.bytes("an extension claim")?;
        match tag {
            TAG_CUSTOMER_REF => customer_ref = Some(utf8(value, "the customer reference")?.to_owned()),
            odd if odd & 1 == 1 => return Err(TokenError::UnsupportedClaim { tag }),
            _ => skipped += 1,
        }
    }
    let claims = Claims {
        key_id: key_id.to_owned(),
        order_id: order_id.to_owned(),
        clips,
        issued_at,
        expires_at,
        downloads,
        customer_ref,
        choices,
    };
    claims.validate().map_err(TokenError::Malformed)?;
    Ok((claims, skipped))
}

/// Header and body together; see [`parse_body`] for the count.
pub fn parse_payload(payload: &[u8]) -> Result<(Claims, usize), TokenError> {
    parse_body(&parse_header(payload)?)
}

fn malformed(reason: &str) -> TokenError {
    TokenError::Malformed(reason.to_owned())
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, TokenError> {
    std::str::from_utf8(bytes).map_err(|_| malformed(&format!("{what} is not valid text")))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self, what: &str) -> Result<u8, TokenError> {
        let (&b, rest) = self.buf.split_first().ok_or_else(|| malformed(&format!("the token ends before {what}")))?;
        self.buf = rest;
        Ok(b)
    }

    /// Unsigned LEB128 of at most 10 bytes, minimal (no trailing zero groups).
    fn varint(&mut self, what: &str) -> Result<u64, TokenError> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte(what)?;
            if i == 9 && b > 1 {
                return Err(malformed(&format!("{what} does not fit in 64 bits")));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(malformed(&format!("{what} is not minimally encoded")));
                }
                return Ok(value);
            }
        }
        unreachable!("the tenth byte either ends the varint or is rejected")
    }

    /// A varint length, then that many bytes.
    fn bytes(&mut self, what: &str) -> Result<&'a [u8], TokenError> {
        let len = self.varint(what)?;
        if len > self.buf.len() as u64 {
            return Err(malformed(&format!("the token ends inside {what}")));
        }
        let (bytes, rest) = self.buf.split_at(len as usize);
        self.buf = rest;
        Ok(bytes)
    }

    /// A variant or licence id; the empty string is "none".
    fn id(&mut self, what: &str) -> Result<Option<String>, TokenError> {
        let bytes = self.bytes(what)?;
        if bytes.len() > MAX_CHOICE_ID_LEN {
            return Err(malformed(&format!("{what} has a bad length")));
        }
        Ok((!bytes.is_empty()).then(|| utf8(bytes, what)).transpose()?.map(str::to_owned))
    }

    /// Length-prefixed UTF-8; `max` rejects early what could never validate.
    fn str(&mut self, what: &str, max: usize) -> Result<&'a str, TokenError> {
        let bytes = self.bytes(what)?;
        if bytes.is_empty() || bytes.len() > max {
            return Err(malformed(&format!("{what} has a bad length")));
        }
        utf8(bytes, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(bytes: &[u8]) -> Result<u64, TokenError> {
        let mut r = Reader { buf: bytes };
        let v = r.varint("x")?;
        assert!(r.buf.is_empty(), "left over: {:?}", r.buf);
        Ok(v)
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0, 1, 127, 128, 16383, 16384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(varint(&out).unwrap(), v, "{out:?}");
        }
        let mut out = Vec::new();
        put_varint(&mut out, u64::MAX);
        assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    }

    #[test]
    fn varints_must_be_minimal_and_fit() {
        assert!(varint(&[0x80, 0x00]).is_err(), "zero in two bytes");
        assert!(varint(&[0x81, 0x80, 0x00]).is_err(), "1 in three bytes");
        assert!(varint(&[0xff; 9].iter().copied().chain([0x02]).collect::<Vec<_>>()).is_err());
        assert!(varint(&[0x80; 10]).is_err(), "eleven bytes");
        assert!(varint(&[0x80]).is_err(), "truncated");
        assert!(varint(&[]).is_err());
    }

    fn claims() -> Claims {
        Claims {
            key_id: "k1".into(),
            order_id: "o-1".into(),
            clips: vec!["harbor-dawn".into()],
            issued_at: 1_750_000_000,
            expires_at: 1_752_592_000,
            downloads: 3,
            customer_ref: Some("cust-42".into()),
            choices: SortedMap::default(),
        }
    }

    fn with_choice(mut c: Claims, variant: Option<&str>, licence: Option<&str>) -> Claims {
        let choice = Choice { variant: variant.map(Into::into), licence: licence.map(Into::into) };
        c.choices.insert(c.clips[0].clone(), choice);
        c
    }

    #[test]
    fn payload_round_trips() {
        let c = claims();
        let bytes = encode_payload(&c);
        assert_eq!(parse_payload(&bytes).unwrap(), (c, 0));
    }

    #[test]
    fn known_layout() {
        let mut c = claims();
        c.customer_ref = None;
        c.issued_at = 1;
        c.expires_at = 300;
        let mut expected = vec![1, 2, b'k', b'1', 3, b'o', b'-', b'1', 1, 0xac, 0x02, 3, 1, 11];
        expected.extend_from_slice(b"harbor-dawn");
        assert_eq!(encode_payload(&c), expected);
    }

    #[test]
    fn version_2_layout_and_round_trip() {
        let mut c = Claims { customer_ref: None, issued_at: 1, expires_at: 300, ..claims() };
        c.clips.push("z".into());
        let c = with_choice(c, Some("4k"), None);
        let mut expected = vec![2, 2, b'k', b'1', 3, b'o', b'-', b'1', 1, 0xac, 0x02, 3, 2, 11];
        expected.extend_from_slice(b"harbor-dawn");
        expected.extend_from_slice(&[2, b'4', b'k', 0, 1, b'z', 0, 0]);
        assert_eq!(encode_payload(&c), expected);
        assert_eq!(parse_payload(&expected).unwrap(), (c.clone(), 0));
        for v in [None, Some("hd")] {
            let c = with_choice(claims(), v, Some("extended"));
            assert_eq!(parse_payload(&encode_payload(&c)).unwrap(), (c, 0));
        }
    }

    #[test]
    fn version_2_without_a_choice_or_with_a_bad_id_is_malformed() {
        let plain = encode_payload(&Claims { customer_ref: None, ..claims() });
        // The same clips as version 2 with empty choices: not canonical.
        let mut v2 = plain.clone();
        v2[0] = 2;
        v2.extend_from_slice(&[0, 0]);
        assert!(matches!(parse_payload(&v2), Err(TokenError::Malformed(_))), "{v2:?}");
        let bad = encode_payload(&with_choice(Claims { customer_ref: None, ..claims() }, Some("4K"), None));
        assert!(matches!(parse_payload(&bad), Err(TokenError::Malformed(_))));
        let long = encode_payload(&with_choice(Claims { customer_ref: None, ..claims() }, Some(&"a".repeat(33)), None));
        assert!(matches!(parse_payload(&long), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn unknown_extensions_even_skipped_odd_rejected_order_enforced() {
        let base = encode_payload(&Claims { customer_ref: None, ..claims() });
        let with = |ext: &[u8]| [base.as_slice(), ext].concat();
        assert_eq!(parse_payload(&with(&[4, 1, b'x'])).unwrap().1, 1);
        assert_eq!(parse_payload(&with(&[5, 0])), Err(TokenError::UnsupportedClaim { tag: 5 }));
        for bad in [&[0, 0][..], &[4, 0, 4, 0], &[4, 0, 2, 1, b'x'], &[2, 2, b'x'], &[4]] {
            assert!(matches!(parse_payload(&with(bad)), Err(TokenError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn header_errors() {
        assert_eq!(parse_header(&[3, 1, b'k']), Err(TokenError::UnsupportedVersion(3)));
        assert_eq!(parse_header(&[0, 1, b'k']), Err(TokenError::UnsupportedVersion(0)));
        assert_eq!(parse_header(&[2, 1, b'k']).unwrap().version, 2);
        assert!(matches!(parse_header(&[]), Err(TokenError::Malformed(_))));
        assert!(matches!(parse_header(&[1, 0]), Err(TokenError::Malformed(_))));
        assert!(matches!(parse_header(&[1, 1, b':']), Err(TokenError::Malformed(_))));
        assert!(matches!(parse_header(&[1, 2, b'k']), Err(TokenError::Malformed(_))));
    }
}
