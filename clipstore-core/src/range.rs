//! Which bytes of a clip a `Range` request header asks for (RFC 9110 §14):
//! the Worker's answer to a download, and `site-gen serve`'s to a preview
//! video, so that the preview seeks as the shop will.
//!
//! Parsing is done by the `http-range-header` crate; this module only adds the
//! decisions the crate leaves to the server:
//!
//! * A header that is not a valid `bytes` range set is ignored (full 200), as
//!   RFC 9110 §14.2 requires. That includes `last-pos < first-pos`.
//! * A suffix longer than the clip selects the whole clip (§14.1.2).
//! * **Multiple ranges are answered with the whole clip (200).** RFC 9110
//!   lets a server ignore `Range`; download managers that ask for several
//!   ranges at once fall back to single ranges or accept the full body, and a
//!   multipart body could not be handed to the runtime as one R2 stream.
//!   See `docs/worker.md`.

use http_range_header::{EndPosition, StartPosition};

/// What to send for a request's `Range` header, given the clip's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSelection {
    /// No usable single range: send the whole clip with 200.
    Full,
    /// Send bytes `start..=end` (inclusive, as in `Content-Range`) with 206.
    Partial { start: u64, end: u64 },
    /// A single valid range that does not overlap the clip: 416.
    Unsatisfiable,
}

impl RangeSelection {
    /// Decides from the raw `Range` header value and the object size.
    pub fn from_header(range: Option<&str>, size: u64) -> RangeSelection {
        let Some(value) = range else {
            return RangeSelection::Full;
        };
        let Ok(parsed) = http_range_header::parse_range_header(value) else {
            return RangeSelection::Full;
        };
        let [only] = parsed.ranges.as_slice() else {
            return RangeSelection::Full;
        };
        match (only.start, only.end) {
            (StartPosition::Index(first), EndPosition::Index(last)) => {
                if last < first {
                    RangeSelection::Full
                } else if first >= size {
                    RangeSelection::Unsatisfiable
                } else {
                    RangeSelection::Partial { start: first, end: last.min(size - 1) }
                }
            }
            (StartPosition::Index(first), EndPosition::LastByte) => {
                if first >= size {
                    RangeSelection::Unsatisfiable
                } else {
                    RangeSelection::Partial { start: first, end: size - 1 }
                }
            }
            (StartPosition::FromLast(suffix), _) => {
                // The parser rejects `-0`; an empty clip has no last bytes.
                if size == 0 || suffix == 0 {
                    RangeSelection::Unsatisfiable
                } else {
                    RangeSelection::Partial { start: size - suffix.min(size), end: size - 1 }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RangeSelection::{self, *};

    fn sel(h: &str, size: u64) -> RangeSelection {
        RangeSelection::from_header(Some(h), size)
    }

    #[test]
    fn no_header_is_full() {
        assert_eq!(RangeSelection::from_header(None, 10), Full);
    }

    #[test]
    fn the_three_single_range_forms() {
        assert_eq!(sel("bytes=0-0", 10), Partial { start: 0, end: 0 });
        assert_eq!(sel("bytes=2-5", 10), Partial { start: 2, end: 5 });
        assert_eq!(sel("bytes=4-", 10), Partial { start: 4, end: 9 });
        assert_eq!(sel("bytes=-3", 10), Partial { start: 7, end: 9 });
    }

    #[test]
    fn last_pos_past_the_end_is_clamped() {
        assert_eq!(sel("bytes=5-999", 10), Partial { start: 5, end: 9 });
        assert_eq!(sel("bytes=0-9", 10), Partial { start: 0, end: 9 });
    }

    #[test]
    fn long_suffix_selects_everything() {
        assert_eq!(sel("bytes=-999", 10), Partial { start: 0, end: 9 });
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(sel("bytes=10-", 10), Unsatisfiable);
        assert_eq!(sel("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(sel("bytes=-5", 0), Unsatisfiable);
        assert_eq!(sel("bytes=0-", 0), Unsatisfiable);
    }

    #[test]
    fn invalid_headers_are_ignored() {
        for h in ["bytes=5-2", "bytes=abc", "items=0-5", "bytes=", "bytes=-", "bytes=0-5,abc", "bytes= 0-5", "0-5"] {
            assert_eq!(sel(h, 10), Full, "{h}");
        }
    }

    #[test]
    fn multiple_ranges_get_the_whole_clip() {
        assert_eq!(sel("bytes=0-1,5-6", 10), Full);
        assert_eq!(sel("bytes=0-1, -2", 10), Full);
        assert_eq!(sel("bytes=0-5,3-8", 10), Full);
    }
}
