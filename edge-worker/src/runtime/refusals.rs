//! Refused download requests in the runtime: this isolate's counts
//! (`crate::refusals`), written to D1 in batches, and pruned by the cron.

use std::cell::RefCell;

use worker::*;

use super::{batch, bind, d1_error, now_unix, num, text};
use crate::ledger::sql;
use crate::refusals::RefusalCounter;

/// Days of refusal counts kept.
const KEEP_DAYS: u64 = 30;

thread_local! {
    static COUNTER: RefCell<RefusalCounter> = RefCell::new(RefusalCounter::default());
}

/// Counts a refusal (writing the isolate's counts when they are due);
/// `true` when it also gets a `download_attempts` row of its own.
pub(super) async fn count(env: &Env, at_ms: u64, code: &str, order: Option<&str>) -> bool {
    let minute = at_ms / 60_000;
    let (row, due) = COUNTER.with(|c| {
        let mut c = c.borrow_mut();
        (c.count(minute, code, order), c.due(minute))
    });
    if due {
        flush(env).await;
    }
    row
}

/// Writes this isolate's counts in one batch; on failure they wait for the
/// next one (counts an isolate still holds when it goes away are lost).
pub(super) async fn flush(env: &Env) {
    let counts = COUNTER.with(|c| c.borrow_mut().take());
    if counts.is_empty() {
        return;
    }
    let written = async {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let statements = counts
            .iter()
            .map(|(minute, code, n)| bind(&db, sql::COUNT_REFUSALS, &[num(*minute), text(code), num(*n)]))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        batch(&db, statements).await.map(|_| ())
    };
    match written.await {
        Ok(()) => console_log!(
            "{}",
            log_line!({ "event": "refusals_counted", "refusals": counts.iter().map(|(_, _, n)| n).sum::<u64>() })
        ),
        Err(e) => {
            console_warn!("{}", log_line!({ "event": "refusal_count_failed", "error": format!("{e:?}") }));
            COUNTER.with(|c| c.borrow_mut().restore(counts));
        }
    }
}

/// Forgets counts older than [`KEEP_DAYS`] (cron).
pub(super) async fn prune(env: &Env) {
    let pruned = async {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let before = now_unix().saturating_sub(KEEP_DAYS * 86_400) / 60;
        batch(&db, vec![bind(&db, sql::PRUNE_REFUSAL_MINUTES, &[num(before)])?]).await.map(|_| ())
    };
    if let Err(e) = pruned.await {
        console_warn!("{}", log_line!({ "event": "prune_failed", "error": format!("{e:?}") }));
    }
}
