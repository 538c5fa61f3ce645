//! Downloads that never settled: a response whose isolate stops mid-stream
//! never runs its settlement (a Workers runtime update ends unfinished
//! requests after its grace period; a 4K clip on a slow line can stream
//! longer than that), and its reservation would stay charged in full, so a
//! customer on a 1-download link could neither resume nor start again.
//!
//! So a long response reports its progress to the ledger (the bytes of the
//! segments it has started, [`crate::ledger::sql::PROGRESS`]) every
//! [`report_every_ms`] while it streams, and the cron (and the owner's
//! `site-gen orders merge`) settles a reservation that has had no news for
//! the stale window to what it last reported ([`settlement`]): it broke off
//! there, as far as anyone can tell, and a resume or a new download is then
//! credited as after any broken download (docs/downloads.md).
//!
//! What this may under-charge is what a stopped response sent after its last
//! report, at most one report interval of streaming. A response still alive
//! reports 20 times per window; if it is taken for stale all the same (D1
//! failed under its reports for the whole window), its own settlement
//! charges what it sent beyond the sweep's (`ledger::sql::CORRECT_SWEPT_CLIP`).

use crate::delivery::ByteSpan;
use crate::segments::Segments;

/// The stale window when `STALE_DOWNLOAD_SECONDS` is not set: 10 minutes.
pub const DEFAULT_STALE_SECONDS: u64 = 600;
/// The smallest window the setting may ask for.
pub const MIN_STALE_SECONDS: u64 = 2;
/// Reports are at most this far apart.
pub const MAX_REPORT_EVERY_MS: u64 = 30_000;

/// The stale window from the `STALE_DOWNLOAD_SECONDS` setting: the default
/// when it is missing, `Err` (with the default) when it is not a whole
/// number of seconds of at least [`MIN_STALE_SECONDS`].
pub fn stale_seconds(setting: Option<&str>) -> Result<u64, String> {
    let Some(text) = setting.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(DEFAULT_STALE_SECONDS) };
    match text.parse::<u64>() {
        Ok(s) if s >= MIN_STALE_SECONDS => Ok(s),
        _ => Err(format!(
            "STALE_DOWNLOAD_SECONDS is {text:?}: write a whole number of seconds, at least {MIN_STALE_SECONDS} \
             (using {DEFAULT_STALE_SECONDS})"
        )),
    }
}

/// How often a streaming response reports: 20 times per stale window, at
/// most every [`MAX_REPORT_EVERY_MS`].
pub fn report_every_ms(stale_seconds: u64) -> u64 {
    (stale_seconds.saturating_mul(1000) / 20).clamp(100, MAX_REPORT_EVERY_MS)
}

/// What a stale response is settled to, `(reserved, sent)`: sent is what it
/// last reported, or, with no report, its first segment (which is piped as
/// soon as the response starts); never more than its span. `reserved` (the
/// attempt's row) grows to `sent` for a response reserved in steps, whose
/// row holds only its first reservation.
pub fn settlement(span: ByteSpan, clip_size: u64, reserved: u64, progress: Option<u64>) -> (u64, u64) {
    let size = clip_size.max(span.offset.saturating_add(span.length));
    let first = Segments::new(span, size).next().map_or(0, |s| s.length);
    let sent = progress.unwrap_or(first).max(first).min(span.length);
    (reserved.max(sent), sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    #[test]
    fn the_window_is_a_whole_number_of_seconds_or_the_default() {
        assert_eq!(stale_seconds(None), Ok(600));
        assert_eq!(stale_seconds(Some(" ")), Ok(600));
        assert_eq!(stale_seconds(Some("90")), Ok(90));
        assert_eq!(stale_seconds(Some("2")), Ok(2));
        for bad in ["1", "0", "-5", "10m", "1.5"] {
            let e = stale_seconds(Some(bad)).unwrap_err();
            assert!(e.contains("STALE_DOWNLOAD_SECONDS") && e.contains("using 600"), "{e}");
        }
    }

    #[test]
    fn a_live_response_reports_twenty_times_per_window() {
        assert_eq!(report_every_ms(600), 30_000);
        assert_eq!(report_every_ms(3_600), 30_000);
        assert_eq!(report_every_ms(60), 3_000);
        assert_eq!(report_every_ms(2), 100);
        for s in [2, 10, 60, 600, 86_400] {
            assert!(report_every_ms(s) * 20 <= s * 1000, "{s}");
        }
    }

    #[test]
    fn a_stale_response_is_charged_what_it_last_reported() {
        let whole = ByteSpan { offset: 0, length: 200 * MB };
        assert_eq!(settlement(whole, 200 * MB, 200 * MB, Some(80 * MB)), (200 * MB, 80 * MB));
        // No report: it started its first segment.
        assert_eq!(settlement(whole, 200 * MB, 200 * MB, None), (200 * MB, 256 * 1024));
        // Never more than the span, never less than the first segment.
        assert_eq!(settlement(whole, 200 * MB, 200 * MB, Some(300 * MB)), (200 * MB, 200 * MB));
        assert_eq!(settlement(whole, 200 * MB, 200 * MB, Some(1)), (200 * MB, 256 * 1024));
        // Reserved in steps: the row holds the first reservation only.
        assert_eq!(settlement(whole, 200 * MB, 256 * 1024, Some(30 * MB)), (30 * MB, 30 * MB));
        // A small range, a clip the ledger does not know the size of.
        let small = ByteSpan { offset: 5_000, length: 1_000 };
        assert_eq!(settlement(small, 0, 1_000, None), (1_000, 1_000));
    }
}
