//! Resuming after a link's expiry: a download started before the link
//! expired may be finished for [`RESUME_GRACE_SECS`] after it, and nothing
//! else (docs/downloads.md, "When a link expires").
//!
//! Without it, a customer whose download broke off an hour before the link
//! expired (or who paused it overnight) could not finish it: every resume
//! (`wget -c`, a browser's Resume, a download manager's next range, a
//! player's next chunk) answered 410, and only the owner could help, with a
//! new link and often a reset of the allowance too.
//!
//! Bounded so that it cannot extend a link: the grace is counted from the
//! token's own expiry, never from the last request, so chained resumes do
//! not move it; a request qualifies only as a `GET` continuing a span a
//! download of the same order and clip already asked for (the ledger's
//! [`crate::ledger::sql::STARTED_BEFORE`]), never a fresh start, a `HEAD`
//! or a jump ahead; and every byte is still reserved against the same
//! allowance. While D1 is down nothing can show what was started, and the
//! link is expired as before.

use clipstore_core::expired_from;

use crate::delivery::ByteSpan;

/// How long after a link's expiry (and the token's clock slack) a download
/// started before it may be resumed: two days, a weekend's pause.
pub const RESUME_GRACE_SECS: u64 = 2 * 86_400;

/// The time at which to verify a token that failed as expired at `now`:
/// its last valid second, while `now` is within the resume grace; `None`
/// past it.
pub fn verify_at(expires_at: u64, now: u64) -> Option<u64> {
    let ends = expired_from(expires_at);
    (now < ends.saturating_add(RESUME_GRACE_SECS)).then(|| last_valid_second(expires_at))
}

/// The last second at which a link expiring at `expires_at` verifies (with
/// the token's clock slack): when an expired link is verified for what
/// does not expire with it, its licence certificates.
pub fn last_valid_second(expires_at: u64) -> u64 {
    expired_from(expires_at).saturating_sub(1)
}

/// Whether a request past its link's expiry may be a resume: a `GET` whose
/// body starts after the first byte. A fresh download, a `HEAD`, a `304`
/// are not.
pub fn may_resume(head: bool, span: Option<ByteSpan>) -> bool {
    !head && span.is_some_and(|s| s.offset > 0 && s.length > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipstore_core::CLOCK_SKEW_SECS;

    #[test]
    fn the_grace_is_counted_from_the_links_expiry() {
        let expires = 1_000_000;
        let ends = expires + CLOCK_SKEW_SECS;
        assert_eq!(verify_at(expires, ends), Some(ends - 1), "just expired");
        assert_eq!(verify_at(expires, ends + RESUME_GRACE_SECS - 1), Some(ends - 1), "its last second");
        assert_eq!(verify_at(expires, ends + RESUME_GRACE_SECS), None, "over");
        assert_eq!(verify_at(u64::MAX, u64::MAX - 1), Some(u64::MAX - 1), "no overflow");
    }

    #[test]
    fn only_a_get_continuing_past_the_first_byte_may_resume() {
        let span = |offset, length| Some(ByteSpan { offset, length });
        assert!(may_resume(false, span(1, 10)));
        assert!(!may_resume(false, span(0, 10)), "a fresh download");
        assert!(!may_resume(true, span(5, 10)), "HEAD");
        assert!(!may_resume(false, None), "no body (304)");
        assert!(!may_resume(false, span(5, 0)));
    }
}
