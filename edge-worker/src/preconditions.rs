//! Conditional requests (RFC 9110 §13): `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since` and `If-Range`.
//!
//! Header parsing and entity-tag comparison come from the `headers` crate;
//! this module applies the evaluation order of RFC 9110 §13.2.2. A header that
//! does not parse is ignored, as if it had not been sent.
//!
//! Times are whole Unix seconds: `Last-Modified` has one-second resolution, so
//! comparing against R2's millisecond upload time would call every clip
//! "modified" a fraction of a second after the date the client echoes back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headers::{
    ETag, Header, HeaderValue, IfMatch, IfModifiedSince, IfNoneMatch, IfRange, IfUnmodifiedSince, LastModified,
};

/// The validators of the stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// The quoted strong entity tag R2 reports (`httpEtag`), e.g. `"3f2a…"`.
    pub etag: String,
    /// Upload time, whole seconds since the Unix epoch.
    pub last_modified: u64,
}

/// The request's conditional headers, raw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
    pub if_range: Option<&'a str>,
}

/// Outcome of the preconditions for a GET or HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Send the representation (subject to `Range`).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// A header, or `None` when it is malformed (then it is ignored, RFC 9110
/// §13.1). Entity tags must hold only `etagc` characters (RFC 9110 §8.8.3):
/// `headers` assumes so (a space inside quotes trips its debug assertion,
/// found by fuzzing), so a value that breaks it is refused here first.
fn decode<H: Header>(raw: Option<&str>) -> Option<H> {
    let raw = raw?;
    if !entity_tags_well_formed(raw) {
        return None;
    }
    let value = HeaderValue::from_str(raw).ok()?;
    H::decode(&mut std::iter::once(&value)).ok()
}

/// Whether every quoted part of `raw` holds only `etagc`: `!`, `#`–`~` and
/// bytes from 0x80 (the quotes themselves delimit).
fn entity_tags_well_formed(raw: &str) -> bool {
    raw.split('"')
        .skip(1)
        .step_by(2)
        .all(|tag| tag.bytes().all(|b| b == b'!' || (b'#'..=b'~').contains(&b) || b >= 0x80))
}

fn time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

impl Validators {
    fn etag(&self) -> Option<ETag> {
        self.etag.parse().ok()
    }
}

impl Conditions<'_> {
    /// RFC 9110 §13.2.2 steps 1–4 for a GET or HEAD.
    pub fn evaluate(&self, object: &Validators) -> Precondition {
        let etag = object.etag();
        let modified = time(object.last_modified);

        if let Some(if_match) = decode::<IfMatch>(self.if_match) {
            let passes = match &etag {
                Some(etag) => if_match.precondition_passes(etag),
                None => if_match.is_any(),
            };
            if !passes {
                return Precondition::Failed;
            }
        } else if let Some(since) = decode::<IfUnmodifiedSince>(self.if_unmodified_since) {
            if !since.precondition_passes(modified) {
                return Precondition::Failed;
            }
        }

        if let Some(if_none_match) = decode::<IfNoneMatch>(self.if_none_match) {
            let passes = match &etag {
                Some(etag) => if_none_match.precondition_passes(etag),
                None => true,
            };
            if !passes {
                return Precondition::NotModified;
            }
        } else if let Some(since) = decode::<IfModifiedSince>(self.if_modified_since) {
            if !since.is_modified(modified) {
                return Precondition::NotModified;
            }
        }
        Precondition::Proceed
    }

    /// RFC 9110 §13.1.5: whether a `Range` may be honoured. Without `If-Range`
    /// it may; with one, only if the validator still matches (strong
    /// comparison for tags). Otherwise the whole clip is sent.
    pub fn range_allowed(&self, object: &Validators) -> bool {
        let Some(raw) = self.if_range else {
            return true;
        };
        let Some(if_range) = decode::<IfRange>(Some(raw)) else {
            return false;
        };
        let last_modified = LastModified::from(time(object.last_modified));
        !if_range.is_modified(object.etag().as_ref(), Some(&last_modified))
    }
}

/// `Last-Modified` / HTTP-date form of a Unix time.
pub fn http_date(unix_secs: u64) -> String {
    // httpdate panics past the year 9999 (a link minted to expire in 7990
    // years made its order page fail): such a date is shown as the last
    // one it can write.
    httpdate::fmt_http_date(time(unix_secs.min(LAST_HTTP_DATE)))
}

/// Fri, 31 Dec 9999 23:59:59 GMT.
const LAST_HTTP_DATE: u64 = 253_402_300_799;

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"abc123\"";

    #[test]
    fn a_date_past_the_year_9999_is_written_as_its_last_day() {
        assert_eq!(http_date(T), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(LAST_HTTP_DATE), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(u64::MAX / 2), "Fri, 31 Dec 9999 23:59:59 GMT");
    }
    // Sun, 06 Nov 1994 08:49:37 GMT
    const T: u64 = 784_111_777;

    fn object() -> Validators {
        Validators { etag: ETAG.into(), last_modified: T }
    }

    #[test]
    fn formats_http_dates() {
        assert_eq!(http_date(T), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn no_conditions_proceed() {
        assert_eq!(Conditions::default().evaluate(&object()), Precondition::Proceed);
    }

    #[test]
    fn if_none_match() {
        let check = |v| Conditions { if_none_match: Some(v), ..Default::default() }.evaluate(&object());
        assert_eq!(check(ETAG), Precondition::NotModified);
        assert_eq!(check("W/\"abc123\""), Precondition::NotModified);
        assert_eq!(check("\"x\", \"abc123\""), Precondition::NotModified);
        assert_eq!(check("*"), Precondition::NotModified);
        assert_eq!(check("\"other\""), Precondition::Proceed);
        assert_eq!(check("garbage"), Precondition::Proceed);
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let c = Conditions {
            if_none_match: Some("\"other\""),
            if_modified_since: Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&object()), Precondition::Proceed);
    }

    #[test]
    fn if_modified_since() {
        let check = |v| Conditions { if_modified_since: Some(v), ..Default::default() }.evaluate(&object());
        assert_eq!(check("Sun, 06 Nov 1994 08:49:37 GMT"), Precondition::NotModified);
        assert_eq!(check("Mon, 07 Nov 1994 08:49:37 GMT"), Precondition::NotModified);
        assert_eq!(check("Sat, 05 Nov 1994 08:49:37 GMT"), Precondition::Proceed);
    }

    #[test]
    fn if_match_and_if_unmodified_since() {
        let c = |m: Option<&'static str>, u: Option<&'static str>| Conditions {
            if_match: m,
            if_unmodified_since: u,
            ..Default::default()
        };
        assert_eq!(c(Some(ETAG), None).evaluate(&object()), Precondition::Proceed);
        assert_eq!(c(Some("*"), None).evaluate(&object()), Precondition::Proceed);
        assert_eq!(c(Some("\"nope\""), None).evaluate(&object()), Precondition::Failed);
        assert_eq!(c(None, Some("Sat, 05 Nov 1994 08:49:37 GMT")).evaluate(&object()), Precondition::Failed);
        assert_eq!(c(None, Some("Sun, 06 Nov 1994 08:49:37 GMT")).evaluate(&object()), Precondition::Proceed);
    }

    #[test]
    fn if_range() {
        let allowed = |v| Conditions { if_range: v, ..Default::default() }.range_allowed(&object());
        assert!(allowed(None));
        assert!(allowed(Some(ETAG)));
        assert!(!allowed(Some("\"changed\"")));
        // Weak tags never match strongly.
        assert!(!allowed(Some("W/\"abc123\"")));
        assert!(allowed(Some("Sun, 06 Nov 1994 08:49:37 GMT")));
        assert!(!allowed(Some("Sat, 05 Nov 1994 08:49:37 GMT")));
        assert!(!allowed(Some("not a validator")));
    }

    #[test]
    fn malformed_entity_tags_are_ignored_not_trusted() {
        let v = Validators { etag: "\"0123abcd\"".into(), last_modified: 1_750_000_000 };
        // Found by fuzzing: a space inside the quotes (once a debug panic in `headers`).
        let c = Conditions { if_none_match: Some("\"0123 abcd\""), ..Default::default() };
        assert_eq!(c.evaluate(&v), Precondition::Proceed);
        assert!(entity_tags_well_formed("\"a\", W/\"b\""));
        assert!(!entity_tags_well_formed("\"a b\""));
        assert!(!entity_tags_well_formed("\"a\tb\""));
    }
}
