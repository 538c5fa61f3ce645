//! What a link may take while D1 fails: at most its allowance per clip,
//! counted from the order's R2 fallback records (docs/downloads.md, "When
//! D1 fails").
//!
//! Each served attempt's record lives under a prefix of its own (order,
//! clip), and carries what it is charged in its custom metadata, so one R2
//! list of that prefix tallies what the link took since D1 failed. A
//! response reserves its bytes as with D1 (whole, or segment by segment
//! while an earlier response may still settle): its record is written
//! first, then the prefix listed, and the reservation withdrawn if it and
//! the records before it (by time) are over the allowance. A later request
//! racing an earlier one thus always sees it, and the earlier one goes on.
//! R2 has no transaction, so responses racing in the same instant can
//! together take more than the allowance, by what the later ones reserved
//! before the earlier ones grew. The merge deletes the records, so the tally
//! starts again at the next outage.

use sha2::{Digest, Sha256};

use crate::ledger::FALLBACK_PREFIX;

/// Custom metadata of a fallback record: bytes it is charged now.
pub const CHARGED: &str = "charged";
/// Custom metadata of a fallback record: `1` while its response is still
/// streaming (its charge may yet be settled down to what was sent).
pub const OPEN: &str = "open";

/// `ledger-fallback/o/<hash of the order id>/<clip>/`: the prefix of every
/// fallback record of (order, clip). Order ids may hold any printable ASCII
/// (`/` included), so the key names a hash of it.
pub fn tally_prefix(order_id: &str, clip: &str) -> String {
    let digest = Sha256::digest(order_id.as_bytes());
    let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{FALLBACK_PREFIX}o/{hash}/{clip}/")
}

/// The custom metadata a record is written with.
pub fn metadata(charged: u64, open: bool) -> [(String, String); 2] {
    [(CHARGED.to_string(), charged.to_string()), (OPEN.to_string(), u8::from(open).to_string())]
}

/// How long a record of a response still streaming waits before a merge
/// takes it as it is: its isolate settles it (rewrites it with what was
/// sent, `open` 0) when the response ends, and merging it before would
/// charge the whole span for good. One past this, the isolate is taken to
/// be gone and the record's charge stands.
pub const OPEN_MERGE_AFTER_SECS: u64 = 6 * 3600;

/// Whether a merge into D1 takes a record now: not while its response may
/// still be streaming (`open` is `1` and it was written within
/// [`OPEN_MERGE_AFTER_SECS`]).
pub fn ready_to_merge(open: Option<&str>, written_secs: u64, now_secs: u64) -> bool {
    open != Some("1") || now_secs.saturating_sub(written_secs) >= OPEN_MERGE_AFTER_SECS
}

/// What the other responses of (order, clip) took while D1 failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Bytes charged to them: what they sent, or reserved while streaming.
    pub held: u64,
    /// Of `held`, what responses still streaming reserved (may be settled
    /// down when they end: a download manager's first `GET`).
    pub in_flight: u64,
}

impl Tally {
    /// Counts one listed record, given its custom metadata. A record
    /// without a readable charge counts as nothing: records are only ever
    /// written by the Worker, and refusing a paying customer over a damaged
    /// one would be worse than the bytes it might hide.
    pub fn add(&mut self, charged: Option<&str>, open: Option<&str>) {
        let Some(charged) = charged.and_then(|c| c.parse::<u64>().ok()) else { return };
        self.held = self.held.saturating_add(charged);
        if open == Some("1") {
            self.in_flight = self.in_flight.saturating_add(charged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_still_streaming_waits_for_its_settlement() {
        let at = 1_000_000;
        assert!(ready_to_merge(Some("0"), at, at), "settled");
        assert!(ready_to_merge(None, at, at), "refusals and older records");
        assert!(!ready_to_merge(Some("1"), at, at + 60), "streaming");
        assert!(!ready_to_merge(Some("1"), at, at + OPEN_MERGE_AFTER_SECS - 1));
        assert!(ready_to_merge(Some("1"), at, at + OPEN_MERGE_AFTER_SECS), "its isolate is gone");
        assert!(!ready_to_merge(Some("1"), at + 5, at), "a clock behind the record's");
    }

    #[test]
    fn each_order_and_clip_has_its_own_prefix() {
        let a = tally_prefix("ORD-1", "harbor-dawn");
        assert!(a.starts_with("ledger-fallback/o/"), "{a}");
        assert!(a.ends_with("/harbor-dawn/"), "{a}");
        assert_eq!(a.len(), "ledger-fallback/o/".len() + 32 + "/harbor-dawn/".len());
        assert_ne!(a, tally_prefix("ORD-2", "harbor-dawn"));
        assert_ne!(a, tally_prefix("ORD-1", "harbor"));
        // A slash in an order id stays inside the hash.
        assert_eq!(tally_prefix("ORD-1/x", "y").matches('/').count(), 4);
    }

    #[test]
    fn tally_counts_charges_and_what_is_still_streaming() {
        let mut t = Tally::default();
        t.add(Some("100"), Some("0"));
        t.add(Some("50"), Some("1"));
        t.add(None, Some("1"));
        t.add(Some("junk"), Some("1"));
        assert_eq!(t, Tally { held: 150, in_flight: 50 });
        t.add(Some(&u64::MAX.to_string()), None);
        assert_eq!(t.held, u64::MAX);
    }

    #[test]
    fn metadata_round_trips_through_the_tally() {
        let [(k1, v1), (k2, v2)] = metadata(42, true);
        assert_eq!((k1.as_str(), k2.as_str()), (CHARGED, OPEN));
        let mut t = Tally::default();
        t.add(Some(&v1), Some(&v2));
        assert_eq!(t, Tally { held: 42, in_flight: 42 });
    }
}
