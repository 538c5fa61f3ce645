//! The HTTP answer for a clip download, decided before any byte is read.
//!
//! Given the request method, its conditional and `Range` headers, and what
//! the clip's origin (R2, or the secondary origin when R2 fails) reports
//! about the object, [`plan`] picks the status, the headers and the byte
//! range to fetch. The Worker glue then reads exactly that range from the
//! origin, in segments, and hands the stream to the runtime.

use crate::content_disposition;
use crate::preconditions::{http_date, Conditions, Precondition, Validators};
use crate::range::RangeSelection;

/// The request facts that shape the answer.
#[derive(Debug, Clone, Default)]
pub struct DownloadRequest<'a> {
    /// `HEAD` gets the headers a `GET` would, without a body.
    pub head: bool,
    pub range: Option<&'a str>,
    pub conditions: Conditions<'a>,
    /// Longest body a 206 may carry (media elements get bounded chunks,
    /// see [`crate::allowance::media_chunk`]); `None` for no bound.
    pub max_partial: Option<u64>,
}

/// The stored object, as R2 and the catalog manifest describe it.
#[derive(Debug, Clone)]
pub struct StoredClip<'a> {
    pub size: u64,
    pub validators: Validators,
    pub content_type: &'a str,
    pub file_name: &'a str,
}

/// The bytes to stream: `offset..offset+length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSpan {
    pub offset: u64,
    pub length: u64,
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// `Some` when a body is sent: the exact bytes to stream from R2.
    pub body: Option<ByteSpan>,
}

/// Downloads are personal and short-lived: never stored by any cache.
pub const CACHE_CONTROL: &str = "private, no-store";

/// Decides status, headers and body span (RFC 9110 §13–15).
///
/// `Range` is honoured for GET only: RFC 9110 §14.2 defines range handling
/// for GET and tells servers to ignore it otherwise, so a HEAD answers with
/// the full-representation 200 headers.
pub fn plan(request: &DownloadRequest<'_>, clip: &StoredClip<'_>) -> Plan {
    let v = &clip.validators;
    let mut headers = vec![
        ("accept-ranges", "bytes".to_string()),
        ("cache-control", CACHE_CONTROL.to_string()),
        ("etag", v.etag.clone()),
        ("last-modified", http_date(v.last_modified)),
    ];
    match request.conditions.evaluate(v) {
        Precondition::Failed => return Plan { status: 412, headers, body: None },
        Precondition::NotModified => return Plan { status: 304, headers, body: None },
        Precondition::Proceed => {}
    }

    let selection = if request.head || !request.conditions.range_allowed(v) {
        RangeSelection::Full
    } else {
        RangeSelection::from_header(request.range, clip.size)
    };

    headers.push(("content-type", clip.content_type.to_string()));
    headers.push(("content-disposition", content_disposition::attachment(clip.file_name)));
    headers.push(("x-content-type-options", "nosniff".to_string()));

    let (status, span) = match selection {
        RangeSelection::Unsatisfiable => {
            headers.retain(|(name, _)| *name != "content-type");
            headers.push(("content-range", format!("bytes */{}", clip.size)));
            headers.push(("content-length", "0".to_string()));
            return Plan { status: 416, headers, body: None };
        }
        RangeSelection::Full => (200, ByteSpan { offset: 0, length: clip.size }),
        RangeSelection::Partial { start, end } => {
            // RFC 9110 §15.3.7: a server may send less than was asked for;
            // the 206 says exactly what it carries.
            let end = match request.max_partial {
                Some(max) if max > 0 => end.min(start.saturating_add(max - 1)),
                _ => end,
            };
            headers.push(("content-range", format!("bytes {start}-{end}/{}", clip.size)));
            (206, ByteSpan { offset: start, length: end - start + 1 })
        }
    };
    headers.push(("content-length", span.length.to_string()));
    Plan { status, headers, body: (!request.head).then_some(span) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip() -> StoredClip<'static> {
        StoredClip {
            size: 1000,
            validators: Validators { etag: "\"e1\"".into(), last_modified: 784_111_777 },
            content_type: "video/mp4",
            file_name: "Harbor.mp4",
        }
    }

    fn header<'p>(plan: &'p Plan, name: &str) -> Option<&'p str> {
        plan.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    fn get(range: Option<&'static str>) -> DownloadRequest<'static> {
        DownloadRequest { head: false, range, conditions: Conditions::default(), max_partial: None }
    }

    #[test]
    fn full_download_has_every_header() {
        let p = plan(&get(None), &clip());
        assert_eq!(p.status, 200);
        assert_eq!(p.body, Some(ByteSpan { offset: 0, length: 1000 }));
        assert_eq!(header(&p, "content-length"), Some("1000"));
        assert_eq!(header(&p, "content-type"), Some("video/mp4"));
        assert_eq!(header(&p, "content-disposition"), Some("attachment; filename=\"Harbor.mp4\""));
        assert_eq!(header(&p, "accept-ranges"), Some("bytes"));
        assert_eq!(header(&p, "etag"), Some("\"e1\""));
        assert_eq!(header(&p, "last-modified"), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(header(&p, "cache-control"), Some("private, no-store"));
        assert_eq!(header(&p, "content-range"), None);
    }

    #[test]
    fn single_range_is_206_with_content_range() {
        let p = plan(&get(Some("bytes=100-199")), &clip());
        assert_eq!(p.status, 206);
        assert_eq!(p.body, Some(ByteSpan { offset: 100, length: 100 }));
        assert_eq!(header(&p, "content-range"), Some("bytes 100-199/1000"));
        assert_eq!(header(&p, "content-length"), Some("100"));
        let p = plan(&get(Some("bytes=-10")), &clip());
        assert_eq!(header(&p, "content-range"), Some("bytes 990-999/1000"));
    }

    #[test]
    fn a_bounded_partial_answers_the_first_chunk_of_an_open_range() {
        let mut r = get(Some("bytes=100-"));
        r.max_partial = Some(64);
        let p = plan(&r, &clip());
        assert_eq!(p.status, 206);
        assert_eq!(p.body, Some(ByteSpan { offset: 100, length: 64 }));
        assert_eq!(header(&p, "content-range"), Some("bytes 100-163/1000"));
        assert_eq!(header(&p, "content-length"), Some("64"));
        r.range = Some("bytes=990-");
        assert_eq!(header(&plan(&r, &clip()), "content-range"), Some("bytes 990-999/1000"));
    }

    #[test]
    fn unsatisfiable_is_416_with_star_range() {
        let p = plan(&get(Some("bytes=1000-")), &clip());
        assert_eq!(p.status, 416);
        assert_eq!(p.body, None);
        assert_eq!(header(&p, "content-range"), Some("bytes */1000"));
    }

    #[test]
    fn head_gets_get_headers_without_body_and_ignores_range() {
        let mut r = get(Some("bytes=0-9"));
        r.head = true;
        let p = plan(&r, &clip());
        assert_eq!(p.status, 200);
        assert_eq!(p.body, None);
        assert_eq!(header(&p, "content-length"), Some("1000"));
    }

    #[test]
    fn if_none_match_gives_304_with_validators() {
        let mut r = get(None);
        r.conditions.if_none_match = Some("\"e1\"");
        let p = plan(&r, &clip());
        assert_eq!(p.status, 304);
        assert_eq!(p.body, None);
        assert_eq!(header(&p, "etag"), Some("\"e1\""));
        assert_eq!(header(&p, "content-length"), None);
    }

    #[test]
    fn stale_if_range_sends_everything() {
        let mut r = get(Some("bytes=0-9"));
        r.conditions.if_range = Some("\"old\"");
        assert_eq!(plan(&r, &clip()).status, 200);
        r.conditions.if_range = Some("\"e1\"");
        assert_eq!(plan(&r, &clip()).status, 206);
    }

    #[test]
    fn failed_if_match_is_412() {
        let mut r = get(None);
        r.conditions.if_match = Some("\"nope\"");
        assert_eq!(plan(&r, &clip()).status, 412);
    }
}
