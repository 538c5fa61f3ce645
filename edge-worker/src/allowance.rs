//! The download allowance rule: how many bytes of a clip an order may still
//! be charged, and how that reads as "downloads left".
//!
//! A download is charged for the bytes the Worker handed to the network
//! (docs/downloads.md). Per (order, clip), with `N` the token's `downloads`:
//!
//! * `slack = min(clamp(size / 4, 256 KiB, 16 MiB), ⌊beyond / 2N⌋)`, `unit = size + slack`,
//!   and the budget is `N × unit` bytes; `beyond = size − ⌈size / 4⌉`.
//! * A GET that sends a body reserves its span *before* the first byte, only
//!   if `granted + span ≤ budget` (one atomic D1 statement, see
//!   [`crate::ledger::sql::GRANT`]); when the response ends, the reservation
//!   is settled to the bytes sent ([`crate::segments`]).
//! * A request that asks again for bytes an interrupted attempt was charged
//!   for (a resume: those bytes never arrived) gives that attempt's overlap
//!   back, from a credit pool of `max(N, 2) × slack` bytes per (order, clip),
//!   at most `beyond − N × slack` ([`crate::ledger::sql::CREDIT_ATTEMPT`]).
//! * A granted request is charged at least [`DownloadAllowance::least_charge`]
//!   (a 1024th of the clip, 256 KiB at most), whatever
//!   it sent: each one writes a ledger row, and a link asking for one byte
//!   at a time must not write a row per byte of its allowance.
//! * HEAD, 304, 412, 416 and refusals cost nothing.
//! * A media element (`Sec-Fetch-Dest: video|audio`) gets at most one
//!   [`media_chunk`] per 206 (RFC 9110 §15.3.7 lets a server send less than
//!   an open-ended range asked for), so a seek wastes at most one chunk.
//! * Downloads left = whole clips that still fit: `⌊(budget − granted) / size⌋`,
//!   less the credit a new download would get back for the latest
//!   interrupted one ([`DownloadAllowance::remaining_with_credit`]).
//!
//! * A fresh start of the whole clip after its downloads broke off (a
//!   browser's customer cancelled, and the browser deleted the file) is
//!   given back what those downloads are still charged, once per (order,
//!   clip) between resets, while the order never received the clip whole
//!   ([`crate::ledger::sql::RESTART_EVENT`]).
//!
//! Bytes sent ≤ charged + credited ≤ `N × unit + pool` ≤ `N × size + beyond`
//! (the slack and the pool are capped so), plus the one restart's
//! give-back, which covers less than one clip of distinct bytes: no
//! combination of ranges, aborts and resumes yields more than `N` complete
//! clips, three quarters of another, and the pieces broken off before the
//! restart. The reasoning for owners is in `docs/downloads.md`.

/// Smallest bounded chunk a media element is given per request.
pub const MEDIA_CHUNK_MIN: u64 = 64 * 1024;
/// Largest bounded chunk a media element is given per request: a player
/// that jumps wastes at most about one chunk, and 2 MiB per request still
/// feeds a 4K stream at 100 Mbit/s with a request every 150 ms.
pub const MEDIA_CHUNK_MAX: u64 = 2 * 1024 * 1024;
/// A granted request is charged at least this share of the clip
/// ([`DownloadAllowance::least_charge`]).
pub const LEAST_CHARGE_SHARE: u64 = 1024;
/// Smallest slack per download.
pub const SLACK_MIN: u64 = 256 * 1024;
/// Largest slack per download.
pub const SLACK_MAX: u64 = 16 * 1024 * 1024;
/// D1 numbers are JavaScript doubles: keep every byte count exact.
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// What a response that reserved `reserved` bytes and sent `sent` is
/// charged once it ends: what it sent, at least `least`
/// ([`DownloadAllowance::least_charge`]), never more than it reserved
/// (nor less than it sent).
pub fn charged(reserved: u64, sent: u64, least: u64) -> u64 {
    sent.max(least).min(reserved.max(sent))
}

/// Bytes a media element gets per 206 for a clip of `size` bytes:
/// `size / 32`, kept between 64 KiB and 2 MiB.
pub fn media_chunk(size: u64) -> u64 {
    (size / 32).clamp(MEDIA_CHUNK_MIN, MEDIA_CHUNK_MAX)
}

/// Whether the request comes from a `<video>`/`<audio>` element (browsers
/// send `Sec-Fetch-Dest`; download tools do not). Forging it only makes the
/// client's own charges finer-grained, never smaller.
pub fn is_media_element(sec_fetch_dest: Option<&str>) -> bool {
    matches!(sec_fetch_dest.map(str::trim), Some(d) if d.eq_ignore_ascii_case("video") || d.eq_ignore_ascii_case("audio"))
}

/// What a request for the whole clip is, for the reservation's rules
/// (`runtime::reservation::reserve`): a download tool's `opening` request
/// (a plain `GET` of the whole clip that is no browser's navigation: when
/// it does not fit, `aria2c -c` gets its first segment and resumes from
/// the headers), and a browser's fresh start (`restart`: after a cancel,
/// given back once what broken downloads are still charged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WholeRequest {
    pub opening: bool,
    pub restart: bool,
}

impl WholeRequest {
    /// Judged from the request: `ranged` (a `Range` header), `media` (a
    /// player: [`is_media_element`]), the span asked (`offset`, `length`)
    /// of a clip of `size` bytes, and its `Sec-Fetch-Mode` and `User-Agent`.
    /// A browser's click or Retry is a navigation; browsers before
    /// `Sec-Fetch-Mode` (Safari before 16.4) say `Mozilla/` and nothing
    /// more; a tool resumes.
    pub fn of(
        ranged: bool,
        media: bool,
        (offset, length, size): (u64, u64, u64),
        sec_fetch_mode: Option<&str>,
        user_agent: Option<&str>,
    ) -> WholeRequest {
        let navigation = sec_fetch_mode.is_some_and(|m| m.trim().eq_ignore_ascii_case("navigate"));
        let whole = !ranged && !media && offset == 0 && length == size;
        let browser = navigation
            || (sec_fetch_mode.is_none() && user_agent.is_some_and(|ua| ua.trim_start().starts_with("Mozilla/")));
        WholeRequest { opening: whole && !navigation, restart: whole && browser }
    }
}

/// One order's allowance for one clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadAllowance {
    /// Downloads allowed (the token's `downloads` claim).
    pub downloads: u32,
    /// The clip's size in bytes (R2's, or the manifest's for the order page).
    pub size: u64,
}

impl DownloadAllowance {
    pub fn new(downloads: u32, size: u64) -> DownloadAllowance {
        DownloadAllowance { downloads, size }
    }

    /// Extra bytes per download for what a download wastes (a segment in
    /// flight and what the network held when a client went away, a player's
    /// abandoned chunks and re-reads): a quarter of the clip, between 256 KiB
    /// and 16 MiB. Never so large that `downloads` slacks and the credit
    /// pool add up to more than [`Self::beyond`].
    pub fn slack(&self) -> u64 {
        if self.downloads == 0 || self.size == 0 {
            return 0;
        }
        (self.size / 4).clamp(SLACK_MIN, SLACK_MAX).min(self.beyond() / (2 * u64::from(self.downloads)))
    }

    /// The most that can be sent beyond `downloads` whole clips, whatever a
    /// client asks (the slacks and the credit pool together): all but a
    /// quarter of the clip. With all but one byte, a resume from byte 1
    /// after the last download was sent the rest, and the first bytes of an
    /// MP4 are easy to guess: one more copy than sold.
    pub fn beyond(&self) -> u64 {
        self.size - self.size.div_ceil(4)
    }

    /// Bytes that resumes may give back over the order's life for this clip
    /// (bytes charged to attempts that broke off and asked for again):
    /// `max(N, 2) × slack` (one download must absorb both its own waste and
    /// a resume's buffered bytes when there is no other download to draw
    /// from), never more than `beyond − N × slack`, so that the budget and
    /// the pool stay a quarter of a clip below `N + 1` clips.
    pub fn credit_pool(&self) -> u64 {
        if self.downloads == 0 || self.size == 0 {
            return 0;
        }
        let n = u64::from(self.downloads);
        let spread = n.saturating_mul(self.slack());
        n.max(2).saturating_mul(self.slack()).min(self.beyond().saturating_sub(spread)).min(MAX_SAFE)
    }

    /// Bytes a new download of the whole clip gets back now for the latest
    /// interrupted attempt, which was charged `interrupted` bytes and not
    /// credited yet, when `credited` of the pool is spent: what
    /// [`crate::ledger::sql::CREDIT_ATTEMPT`] gives a request for the whole
    /// clip (its overlap with that attempt is all the attempt sent).
    pub fn credit_for_whole_download(&self, interrupted: u64, credited: u64) -> u64 {
        interrupted.min(self.size).min(self.credit_pool().saturating_sub(credited))
    }

    /// Whole downloads left when the next download would be given back
    /// `credit` bytes ([`Self::credit_for_whole_download`]): after a download
    /// broke off, the customer can still start it again, and the page and the
    /// owner's report say so.
    pub fn remaining_with_credit(&self, granted: u64, credit: u64) -> u32 {
        self.remaining(granted.saturating_sub(credit))
    }

    /// The least a granted request is charged, whatever it sent: a
    /// [`LEAST_CHARGE_SHARE`]th of the clip, at most one segment
    /// ([`crate::segments::FIRST_SEGMENT`], 256 KiB, what a response broken
    /// off at once is charged already), never more than the slacks of all
    /// the link's downloads. Every granted request writes a ledger row (and
    /// a batch of D1 statements): charged one byte for `bytes=0-0`, one link
    /// could write a row per byte of its allowance; now about 1,400 rows per
    /// download at most (one per 256 KiB of a clip over 256 MB). A client
    /// that asks for pieces of a 1024th of the clip or more (a download
    /// manager's 16 connections, a player's chunks, a downloader's 64 KiB
    /// pieces of a clip up to 64 MB) is charged what it sent; a probe
    /// (`bytes=0-1`) or a last piece shorter than that costs more.
    /// (At a 32nd of the clip, sequential 64 KiB pieces of a 47 MiB clip
    /// were refused at a third of it on a 1-download link.)
    pub fn least_charge(&self) -> u64 {
        self.size
            .div_ceil(LEAST_CHARGE_SHARE)
            .min(crate::segments::FIRST_SEGMENT)
            .min(self.slack().saturating_mul(u64::from(self.downloads)))
    }

    /// What a request of `bytes` reserves before its first byte: at least
    /// [`Self::least_charge`], so that its charge always fits what it reserved.
    pub fn reservation(&self, bytes: u64) -> u64 {
        bytes.max(self.least_charge())
    }

    /// Bytes one download may cost.
    pub fn unit(&self) -> u64 {
        self.size.saturating_add(self.slack()).min(MAX_SAFE)
    }

    /// Bytes the order may be granted for this clip in total.
    pub fn budget(&self) -> u64 {
        self.unit().saturating_mul(u64::from(self.downloads)).min(MAX_SAFE)
    }

    /// Whether `span` more bytes fit after `granted` (what the atomic D1
    /// statement checks; here for the order page and tests).
    pub fn fits(&self, granted: u64, span: u64) -> bool {
        granted.checked_add(span).is_some_and(|total| total <= self.budget())
    }

    /// Whole downloads still possible: whole clips that still fit,
    /// `⌊(budget − granted) / size⌋` (at most `downloads`).
    pub fn remaining(&self, granted: u64) -> u32 {
        if self.size == 0 {
            return self.downloads;
        }
        let left = self.budget().saturating_sub(granted) / self.size;
        left.min(u64::from(self.downloads)) as u32
    }

    /// Downloads used, as the order page and reports count them.
    pub fn used(&self, granted: u64) -> u32 {
        self.downloads - self.remaining(granted)
    }
}

/// How long a request that does not fit waits for the order's in-flight
/// reservations to settle before it is refused (docs/downloads.md, "The
/// race"): a download manager closes its first `GET` and opens its ranged
/// connections in the same instant, before the Worker has noticed the close.
pub const SETTLEMENT_WAIT_MS: u64 = 8_000;

/// How long after a response sent the clip's end a browser's refused tap on
/// Download is told that it is still downloading (409), not used up: the
/// network's buffers may hold that end for a while (25 MB, 8 s more at
/// 3 MB/s, in the players review).
pub const JUST_SENT_MS: u64 = 60_000;

/// How long a browser's fresh start of the whole clip (a tap on Download)
/// waits for another response of the clip to settle: long enough for one
/// cancelled a moment ago, whose close settles in tens of milliseconds;
/// a second tap while the first runs waited the whole [`SETTLEMENT_WAIT_MS`]
/// on a spinner before its 409 (the browser download review: about 8 s on a
/// phone, which invites a third tap).
pub const RESTART_WAIT_MS: u64 = 2_000;

/// Pauses between the grant attempts of a waiting request, in milliseconds:
/// short at first (a closed connection settles within tens of milliseconds),
/// then longer, [`SETTLEMENT_WAIT_MS`] in all. Each step is one D1 read and
/// at most one D1 write.
pub fn settlement_polls() -> impl Iterator<Item = u64> {
    settlement_polls_within(SETTLEMENT_WAIT_MS)
}

/// [`settlement_polls`] within `total` milliseconds.
pub fn settlement_polls_within(total: u64) -> impl Iterator<Item = u64> {
    let mut waited = 0;
    [50u64, 100, 150, 200, 250].into_iter().chain(std::iter::repeat(500)).map_while(move |pause| {
        let pause = pause.min(total - waited);
        waited += pause;
        (pause > 0).then_some(pause)
    })
}

/// Whether a refused request of `span` bytes could still fit once the
/// reservations in flight (`reserved` of the `granted` bytes) settle: if
/// even giving all of them back would not make room, it is refused at once.
pub fn settlement_could_make_room(granted: u64, reserved: u64, span: u64, budget: u64) -> bool {
    reserved > 0 && granted.saturating_sub(reserved).saturating_add(span) <= budget
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tool's plain GET of the whole clip opens (`aria2c -c` drops it after
    /// the headers); a browser's is a fresh start; ranges, players and
    /// parts of the clip are neither.
    #[test]
    fn a_whole_request_is_judged_by_who_asks() {
        const SIZE: u64 = 1000;
        let of = |ranged, media, span: (u64, u64), mode, ua| {
            WholeRequest::of(ranged, media, (span.0, span.1, SIZE), mode, ua)
        };
        let (tool, browser) = (Some("aria2/1.37"), Some("Mozilla/5.0 (X11) Chrome/131"));
        assert_eq!(of(false, false, (0, SIZE), None, tool), WholeRequest { opening: true, restart: false });
        assert_eq!(of(false, false, (0, SIZE), None, Some("curl/8.5")), WholeRequest { opening: true, restart: false });
        // A click or Retry: a navigation, never a tool's opening.
        assert_eq!(
            of(false, false, (0, SIZE), Some("navigate"), browser),
            WholeRequest { opening: false, restart: true }
        );
        assert_eq!(
            of(false, false, (0, SIZE), Some(" Navigate "), None),
            WholeRequest { opening: false, restart: true }
        );
        // Safari before Sec-Fetch-Mode: `Mozilla/` alone says browser; a
        // fetch() of a page's script is no navigation.
        assert_eq!(of(false, false, (0, SIZE), None, browser), WholeRequest { opening: true, restart: true });
        assert_eq!(of(false, false, (0, SIZE), Some("cors"), browser), WholeRequest { opening: true, restart: false });
        for (ranged, media, span) in [
            (true, false, (0, SIZE)),
            (false, true, (0, SIZE)),
            (false, false, (1, SIZE - 1)),
            (false, false, (0, SIZE - 1)),
        ] {
            assert_eq!(
                of(ranged, media, span, Some("navigate"), browser),
                WholeRequest::default(),
                "{ranged} {media} {span:?}"
            );
            assert_eq!(of(ranged, media, span, None, tool), WholeRequest::default(), "{ranged} {media} {span:?}");
        }
    }

    const S: u64 = 281_694;

    #[test]
    fn budget_and_credits_leave_a_quarter_of_one_more_copy_unsent() {
        for downloads in [1u32, 2, 3, 5, 100, 10_000] {
            for size in [1u64, 2, 3, 10, S, 230_971, 65_536_000, 700_000_000, 5_000_000_000_000] {
                if u64::from(downloads + 1) * size > MAX_SAFE {
                    continue;
                }
                let a = DownloadAllowance::new(downloads, size);
                let n = u64::from(downloads);
                assert!(a.budget() >= n * size, "{downloads} {size}");
                // Everything that can be sent: the budget and the credits.
                let most = a.budget() + a.credit_pool();
                assert!(most + size.div_ceil(4) <= (n + 1) * size, "{downloads} {size}: {most}");
                assert_eq!(a.remaining(0), downloads);
            }
        }
    }

    #[test]
    fn a_resume_from_the_second_byte_after_the_last_download_does_not_fit() {
        // curl -C - with a one-byte file once the N downloads are done: the
        // rest of the clip must not fit what the slack and the pool leave,
        // on the small clips and the many-download links where they are
        // capped (5 downloads of the 230,971-byte sample clip, 3 of a
        // 62.5 MiB clip).
        for (downloads, size) in [(5u32, 230_971u64), (3, 65_536_000), (1, 300_000), (100, S)] {
            let a = DownloadAllowance::new(downloads, size);
            let spent = u64::from(downloads) * size;
            let left = a.budget() - spent + a.credit_pool();
            assert!(left < size - 1, "{downloads} × {size}: {left} left");
            assert!(left <= a.beyond());
        }
        // A 1-download link of a realistic clip keeps its slack and its
        // pool of twice the slack (what download managers measured need).
        let one = DownloadAllowance::new(1, 65_536_000);
        assert_eq!((one.slack(), one.credit_pool()), (16_384_000, 32_768_000));
    }

    #[test]
    fn full_downloads_count_one_each() {
        let a = DownloadAllowance::new(3, S);
        assert_eq!(a.remaining(0), 3);
        assert_eq!(a.remaining(S), 2);
        assert_eq!(a.remaining(2 * S), 1);
        assert_eq!(a.remaining(3 * S), 0);
        assert!(a.fits(2 * S, S));
        assert!(!a.fits(3 * S, S));
        assert_eq!(a.used(3 * S), 3);
    }

    #[test]
    fn open_ended_tricks_never_reach_one_more_copy() {
        // bytes=1-, bytes=0-, bytes=-n, ... in any order: whatever fits is
        // granted, and the total stays below N + 1 whole clips, so some byte
        // was sent at most N times.
        let a = DownloadAllowance::new(3, S);
        let mut granted = 0;
        for span in [S - 1, S - 1, S - 1, S, S - 1, 1000, 1000, 1, 1, 1] {
            if a.fits(granted, span) {
                granted += span;
            }
        }
        assert!(granted < 4 * S);
        assert!(!a.fits(3 * S, S));
    }

    #[test]
    fn sixteen_ranges_are_one_download() {
        let a = DownloadAllowance::new(3, S);
        let part = S.div_ceil(16);
        let granted: u64 = (0..16).map(|i| (S - (i * part).min(S)).min(part)).sum();
        assert_eq!(granted, S);
        assert_eq!(a.remaining(granted), 2);
    }

    #[test]
    fn a_download_with_some_waste_is_one_download() {
        let big = 700_000_000;
        let a = DownloadAllowance::new(3, big);
        assert_eq!(media_chunk(big), MEDIA_CHUNK_MAX);
        assert_eq!(a.slack(), SLACK_MAX);
        // After one download and its waste, two whole clips still fit.
        assert_eq!(a.remaining(big + SLACK_MAX), 2);
        assert_eq!(a.remaining(big + 3 * SLACK_MAX), 2);
        assert_eq!(a.remaining(big + 3 * SLACK_MAX + 1), 1);
        // A 1-download link: an abandoned start leaves the one download.
        let one = DownloadAllowance::new(1, big);
        assert_eq!(one.remaining(one.slack()), 1);
        assert_eq!(one.remaining(one.slack() + 1), 0);
    }

    #[test]
    fn a_download_that_broke_off_leaves_its_download_while_the_pool_lasts() {
        // 1-download link, 40 MB clip: slack 10 MB, pool 20 MB.
        let size = 40_000_000;
        let one = DownloadAllowance::new(1, size);
        assert_eq!((one.slack(), one.credit_pool()), (10_000_000, 20_000_000));
        // Broke off at 60 %: no whole clip fits the budget, but a new
        // download gets 20 MB back and then fits, so one is left.
        let granted = 24_000_000;
        assert_eq!(one.remaining(granted), 0);
        let credit = one.credit_for_whole_download(granted, 0);
        assert_eq!(credit, 20_000_000);
        assert!(one.fits(granted - credit, size));
        assert_eq!(one.remaining_with_credit(granted, credit), 1);
        // Once the pool is spent, nothing is given back: none left.
        assert_eq!(one.credit_for_whole_download(granted, 20_000_000), 0);
        assert_eq!(one.remaining_with_credit(granted, 0), 0);
        // Broke off at 90 % after 15 MB of credit: 5 MB back is not enough.
        let late = one.credit_for_whole_download(36_000_000, 15_000_000);
        assert_eq!(late, 5_000_000);
        assert!(!one.fits(36_000_000 - late, size));
        assert_eq!(one.remaining_with_credit(36_000_000, late), 0);
        // The credit never exceeds what the attempt was charged or the clip.
        assert_eq!(one.credit_for_whole_download(1_000, 0), 1_000);
        let three = DownloadAllowance::new(3, size);
        assert_eq!(three.credit_for_whole_download(u64::MAX, 0), three.credit_pool());
    }

    #[test]
    fn media_requests_are_bounded() {
        assert!(is_media_element(Some("video")));
        assert!(is_media_element(Some("Audio")));
        assert!(!is_media_element(Some("document")));
        assert!(!is_media_element(None));
        assert_eq!(media_chunk(S), MEDIA_CHUNK_MIN);
        assert_eq!(media_chunk(48 << 20), 3 << 19);
    }

    #[test]
    fn a_link_asking_a_byte_at_a_time_writes_a_bounded_number_of_rows() {
        // `bytes=0-0` over and over: each granted request is charged the
        // least charge, so the budget and the pool run out after about 1,400
        // rows per download at most, not one row per byte.
        for (downloads, size) in
            [(1u32, 40_000_000u64), (3, 65_536_000), (1, 4_000_000_000), (5, 230_971), (100, S), (1, 100_000)]
        {
            let a = DownloadAllowance::new(downloads, size);
            let least = a.least_charge();
            assert!(least > 0 && least <= media_chunk(size), "{downloads} × {size}");
            let mut granted = 0;
            let mut rows = 0u64;
            while a.fits(granted, a.reservation(1)) {
                granted += charged(a.reservation(1), 1, least);
                rows += 1;
            }
            // One row per least charge of the budget: at most 1,024 per
            // clip and its slack (3/8 of it at most), about 1,400 per
            // download; one per 256 KiB of a clip over 256 MB.
            let bound = a.budget().div_ceil(crate::segments::FIRST_SEGMENT.min(size.div_ceil(LEAST_CHARGE_SHARE)));
            assert!(rows <= bound, "{downloads} × {size}: {rows} rows");
            let per_download = rows.div_ceil(u64::from(downloads));
            assert!(per_download <= 1_410.max(size / (200 << 10)), "{downloads} × {size}: {rows}");
        }
        // A player's chunk, a download and 64 KiB pieces are charged what
        // they sent; a probe a 1024th of the clip.
        let a = DownloadAllowance::new(1, 40_000_000);
        assert_eq!(a.least_charge(), 39_063);
        assert_eq!(charged(a.reservation(40_000_000), 40_000_000, a.least_charge()), 40_000_000);
        assert_eq!(charged(a.reservation(2), 2, a.least_charge()), 39_063);
        assert_eq!(charged(a.reservation(65_536), 65_536, a.least_charge()), 65_536);
        assert_eq!(
            charged(media_chunk(40_000_000), media_chunk(40_000_000), a.least_charge()),
            media_chunk(40_000_000)
        );
        assert_eq!(DownloadAllowance::new(1, 4_000_000_000).least_charge(), crate::segments::FIRST_SEGMENT);
        let small = DownloadAllowance::new(1, S);
        assert_eq!(small.least_charge(), S.div_ceil(1024));
        assert!(small.least_charge() <= media_chunk(S));
        // Never more than reserved (a response reserved in steps).
        assert_eq!(charged(1000, 10, a.least_charge()), 1000);
        // A probe on a 1-download link of a tiny clip leaves its one download.
        let tiny = DownloadAllowance::new(1, 100_000);
        assert!(tiny.fits(charged(tiny.reservation(2), 2, tiny.least_charge()), 100_000));
    }

    #[test]
    fn a_refused_request_waits_only_if_settlements_could_make_room() {
        let a = DownloadAllowance::new(1, S);
        // A download manager's first GET holds the whole clip; its ranges wait.
        assert!(settlement_could_make_room(a.budget(), S, S / 8, a.budget()));
        // Three complete downloads settled: nothing in flight, refuse at once.
        let b = DownloadAllowance::new(3, S);
        assert!(!settlement_could_make_room(3 * S, 0, S, b.budget()));
        // In flight, but even giving all of it back would not make room.
        assert!(!settlement_could_make_room(b.budget(), 1000, S, b.budget()));
        assert!(settlement_could_make_room(3 * S, S, S, b.budget()));
    }

    #[test]
    fn the_wait_is_bounded() {
        let polls: Vec<u64> = settlement_polls().collect();
        assert_eq!(polls.iter().sum::<u64>(), SETTLEMENT_WAIT_MS);
        assert_eq!(&polls[..3], &[50, 100, 150]);
        assert!(polls.len() < 25, "{} D1 reads at most", polls.len());
        let tap: Vec<u64> = settlement_polls_within(RESTART_WAIT_MS).collect();
        assert_eq!(tap.iter().sum::<u64>(), RESTART_WAIT_MS);
        assert_eq!(tap, [50, 100, 150, 200, 250, 500, 500, 250]);
    }

    #[test]
    fn huge_values_stay_exact_in_javascript() {
        let a = DownloadAllowance::new(u32::MAX, 5_000_000_000_000);
        assert!(a.budget() <= MAX_SAFE);
        assert!(!a.fits(MAX_SAFE, 1));
    }
}
