//! Refused download requests, and answers without a body, are counted, not
//! each written: a flood of junk tokens (or a script hammering a used-up
//! link, or looping `HEAD` on a valid one) must not cost a D1 write per
//! request. Each isolate counts refusals per minute and code in memory
//! and writes the counts to D1 (`refusal_minutes`) in one batch every
//! [`FLUSH_AT`] refusals or when a new minute begins; only the first few of
//! each kind a minute also get a `download_attempts` row of their own.
//! Refusals are never written to R2 (docs/downloads.md).

/// Rows a minute (per isolate) for refusals of one code without an order:
/// tokens that do not verify.
pub const ROWS_PER_MINUTE_WITHOUT_ORDER: u32 = 20;
/// Rows a minute (per isolate) for one order's refusals of one code.
pub const ROWS_PER_MINUTE_PER_ORDER: u32 = 5;
/// Rows a minute (per isolate) for all refusals together.
pub const ROWS_PER_MINUTE: u32 = 200;
/// Counted refusals an isolate holds before it writes them.
pub const FLUSH_AT: u64 = 100;

/// Whether an attempt's outcome is counted here rather than always given a
/// row: a refusal, or an answer without a body (`HEAD`, 304, 416: anyone
/// holding a link could loop them, a D1 row each); not bytes served, and
/// not the Worker's own failures (5xx, which the self-test's failure rate
/// reads from the rows).
pub fn is_counted(outcome: &str, status: u16) -> bool {
    status < 500 && !matches!(outcome, "granted" | "granted_offline")
}

/// One isolate's refusal counts.
#[derive(Debug, Default)]
pub struct RefusalCounter {
    minute: u64,
    rows_this_minute: u32,
    /// Rows given this minute per (code, order).
    rows: Vec<((String, Option<String>), u64)>,
    /// Refusals not yet written per (minute, code), in that order.
    pending: Vec<((u64, String), u64)>,
}

/// The count of `key` in `counts`, a list kept sorted by key (a few keys a
/// minute: no map type of its own in the module, docs/benchmarks.md).
fn entry<K: Ord>(counts: &mut Vec<(K, u64)>, key: K) -> &mut u64 {
    let i = match counts.binary_search_by(|(k, _)| k.cmp(&key)) {
        Ok(i) => i,
        Err(i) => {
            counts.insert(i, (key, 0));
            i
        }
    };
    &mut counts[i].1
}

impl RefusalCounter {
    /// Counts one refusal at `minute` (unix minutes); `true` when it also
    /// gets a row of its own.
    pub fn count(&mut self, minute: u64, code: &str, order: Option<&str>) -> bool {
        if minute != self.minute {
            self.minute = minute;
            self.rows_this_minute = 0;
            self.rows.clear();
        }
        *entry(&mut self.pending, (minute, code.to_string())) += 1;
        let cap = if order.is_some() { ROWS_PER_MINUTE_PER_ORDER } else { ROWS_PER_MINUTE_WITHOUT_ORDER };
        let rows = entry(&mut self.rows, (code.to_string(), order.map(str::to_string)));
        if *rows >= u64::from(cap) || self.rows_this_minute >= ROWS_PER_MINUTE {
            return false;
        }
        *rows += 1;
        self.rows_this_minute += 1;
        true
    }

    /// Whether the counts are due to be written: [`FLUSH_AT`] of them, or
    /// any of a minute before `minute`.
    pub fn due(&self, minute: u64) -> bool {
        self.pending.iter().map(|(_, n)| n).sum::<u64>() >= FLUSH_AT
            || self.pending.first().is_some_and(|((m, _), _)| *m < minute)
    }

    /// Takes the counts to write: (minute, code, count).
    pub fn take(&mut self) -> Vec<(u64, String, u64)> {
        std::mem::take(&mut self.pending).into_iter().map(|((m, c), n)| (m, c, n)).collect()
    }

    /// Puts counts back whose write failed, to go with the next batch.
    pub fn restore(&mut self, counts: Vec<(u64, String, u64)>) {
        for (m, c, n) in counts {
            *entry(&mut self.pending, (m, c)) += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_junk_tokens_gets_a_few_rows_and_a_few_writes() {
        let mut c = RefusalCounter::default();
        let (mut rows, mut writes, mut counted) = (0, 0, 0);
        for i in 0..1000u64 {
            let minute = 1000 + i / 500;
            if c.count(minute, "malformed", None) {
                rows += 1;
            }
            if c.due(minute) {
                writes += 1;
                counted += c.take().iter().map(|(_, _, n)| n).sum::<u64>();
            }
        }
        counted += c.take().iter().map(|(_, _, n)| n).sum::<u64>();
        assert_eq!(rows, 2 * ROWS_PER_MINUTE_WITHOUT_ORDER, "20 rows in each of the two minutes");
        assert_eq!(counted, 1000, "every refusal counted");
        assert_eq!(writes, 10, "one write per {FLUSH_AT}");
    }

    #[test]
    fn each_order_and_code_has_its_own_few_rows_and_all_share_a_cap() {
        let mut c = RefusalCounter::default();
        let rows = (0..20).filter(|_| c.count(7, "allowance_used_up", Some("A"))).count();
        assert_eq!(rows as u32, ROWS_PER_MINUTE_PER_ORDER);
        assert!(c.count(7, "revoked", Some("A")), "another code of the order");
        assert!(c.count(7, "allowance_used_up", Some("B")), "another order");
        assert!(c.count(7, "malformed", None), "tokens without an order");
        // Many orders at once: the minute's cap holds.
        let all = (0..1000).filter(|i| c.count(7, "expired", Some(&format!("O{i}")))).count() as u32;
        assert_eq!(all + ROWS_PER_MINUTE_PER_ORDER + 3, ROWS_PER_MINUTE);
        assert!(c.count(8, "allowance_used_up", Some("A")), "a new minute starts again");
    }

    #[test]
    fn counts_of_a_past_minute_are_due_and_failed_writes_go_with_the_next() {
        let mut c = RefusalCounter::default();
        c.count(5, "expired", None);
        assert!(!c.due(5));
        assert!(c.due(6));
        let taken = c.take();
        assert_eq!(taken, vec![(5, "expired".to_string(), 1)]);
        assert!(!c.due(6));
        c.restore(taken);
        c.count(6, "expired", None);
        assert_eq!(c.take(), vec![(5, "expired".to_string(), 1), (6, "expired".to_string(), 1)]);
    }

    #[test]
    fn refusals_and_answers_without_a_body_are_counted() {
        assert!(is_counted("malformed", 403));
        assert!(is_counted("allowance_used_up", 403));
        assert!(is_counted("no_body", 304), "a HEAD loop on a valid link is a flood too");
        assert!(is_counted("revoked", 403));
        assert!(!is_counted("granted", 200));
        assert!(!is_counted("granted_offline", 206));
        assert!(!is_counted("unavailable", 503));
    }
}
