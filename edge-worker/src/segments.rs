//! How a granted byte span is streamed: as R2 reads of growing size, piped one
//! after another into the response, so that the Worker knows how much it
//! handed to the network without the bytes ever entering wasm.
//!
//! A response whose client goes away stops at the segment whose pipe fails;
//! the download is then charged the bytes of every segment started, an upper
//! bound on what was sent that is at most one segment too high
//! (docs/downloads.md, "Settlement"). Segments start small, so an abandoned
//! request (a download manager's first `GET`, a player's seek) costs little,
//! and grow, so a whole download costs few R2 reads:
//!
//! * the first is [`FIRST_SEGMENT`] (256 KiB), each next one twice the last;
//! * none is larger than [`segment_cap`]: 1/16 of the clip, between 256 KiB
//!   and 16 MiB, so what a broken stream is over-charged stays a small share
//!   of the clip (and a resume gives it back, docs/downloads.md rule 5),
//!   while a whole download costs few R2 reads: about 21 for 200 MB, about
//!   130 for 2 GB. Every R2 read costs time and, in local workerd, CPU
//!   (docs/benchmarks.md): 1/64 of the clip cost 67 reads for 200 MB.

use crate::delivery::ByteSpan;

/// The first R2 read of every response.
pub const FIRST_SEGMENT: u64 = 256 * 1024;
/// The largest R2 read, for clips of 1 GiB and more.
pub const MAX_SEGMENT: u64 = 16 * 1024 * 1024;
/// Segments are at most `size / CAP_DIVISOR` of the clip.
pub const CAP_DIVISOR: u64 = 16;

/// The largest segment for a clip of `size` bytes.
pub fn segment_cap(size: u64) -> u64 {
    (size / CAP_DIVISOR).clamp(FIRST_SEGMENT, MAX_SEGMENT)
}

/// The R2 reads that stream `span` of a clip of `size` bytes, in order.
#[derive(Debug, Clone)]
pub struct Segments {
    next: u64,
    end: u64,
    len: u64,
    cap: u64,
}

impl Segments {
    pub fn new(span: ByteSpan, size: u64) -> Segments {
        let cap = segment_cap(size);
        Segments { next: span.offset, end: span.offset.saturating_add(span.length), len: FIRST_SEGMENT.min(cap), cap }
    }
}

impl Iterator for Segments {
    type Item = ByteSpan;

    fn next(&mut self) -> Option<ByteSpan> {
        if self.next >= self.end {
            return None;
        }
        let length = self.len.min(self.end - self.next);
        let segment = ByteSpan { offset: self.next, length };
        self.next += length;
        self.len = self.len.saturating_mul(2).min(self.cap);
        Some(segment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn spans(offset: u64, length: u64, size: u64) -> Vec<ByteSpan> {
        Segments::new(ByteSpan { offset, length }, size).collect()
    }

    #[test]
    fn segments_cover_the_span_exactly_in_order() {
        for (offset, length, size) in
            [(0, 1, 1), (0, 48 * MIB, 48 * MIB), (12_345, 200_000_000, 300_000_000), (7, 3 * MIB + 5, 2_000_000_000)]
        {
            let s = spans(offset, length, size);
            assert_eq!(s[0].offset, offset);
            for pair in s.windows(2) {
                assert_eq!(pair[0].offset + pair[0].length, pair[1].offset);
            }
            assert_eq!(s.iter().map(|x| x.length).sum::<u64>(), length);
            assert!(s.iter().all(|x| x.length > 0 && x.length <= segment_cap(size)));
        }
        assert!(spans(10, 0, 100).is_empty());
    }

    #[test]
    fn segments_start_small_and_double_up_to_the_cap() {
        let s = spans(0, 2_000 * MIB, 2_000 * MIB);
        let lengths: Vec<u64> = s.iter().take(8).map(|x| x.length / 1024).collect();
        assert_eq!(lengths, [256, 512, 1024, 2048, 4096, 8192, 16384, 16384]);
        // A 2 GB download is about 130 R2 reads, and no D1 write per read.
        assert!(s.len() < 140, "{}", s.len());
    }

    #[test]
    fn the_cap_is_a_small_share_of_the_clip() {
        assert_eq!(segment_cap(100_000), FIRST_SEGMENT);
        assert_eq!(segment_cap(48 * MIB), 3 * MIB);
        assert_eq!(segment_cap(200_000_000), 200_000_000 / 16);
        assert_eq!(segment_cap(5_000_000_000), MAX_SEGMENT);
        // Over 4 MiB, one segment is at most 1/16 of the clip: a stream
        // broken anywhere is over-charged by at most 6.25 % of the clip.
        for size in [5 * MIB, 48 * MIB, 200 * MIB, 1 << 30, 5 << 30] {
            assert!(segment_cap(size) * 16 <= size, "{size}");
        }
        // 256 KiB, 512 KiB, 1, 2 MiB, then 3 MiB each.
        let s = spans(0, 48 * MIB, 48 * MIB);
        assert_eq!(s.len() as u64, 4 + (48 * MIB - (3 * MIB + 768 * 1024)).div_ceil(3 * MIB));
        assert_eq!(spans(0, 200_000_000, 200_000_000).len(), 21);
    }
}
