//! The revocation list in R2 (`crate::revocations`): written from D1 after
//! every revoke, reissue, refund and dispute and on every cron run; read,
//! through a short in-isolate cache, only when D1 fails.

use std::cell::RefCell;

use worker::*;

use super::{batch, bind, d1_error, now_unix, rows, unavailable};
use crate::error::DownloadError;
use crate::ledger::sql;
use crate::revocations::{RevocationList, RevokedClipRow, RevokedOrderRow, CACHE_SECS, KEY};
use clipstore_core::Claims;

thread_local! {
    /// The list this isolate read last, and when (unix seconds).
    static CACHED: RefCell<Option<(u64, RevocationList)>> = const { RefCell::new(None) };
}

/// Writes the whole list from D1. Failing is logged, not fatal: the next
/// cron run writes it again.
pub(super) async fn publish(env: &Env) {
    let written = async {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let r = batch(&db, vec![bind(&db, sql::REVOCATIONS, &[])?, bind(&db, sql::REVOKED_CLIPS_ALL, &[])?]).await?;
        let list =
            RevocationList::from_rows(rows::<RevokedOrderRow>(&r[0])?, rows::<RevokedClipRow>(&r[1])?, now_unix());
        let bucket = env.bucket("CLIPS").map_err(|e| unavailable(format!("R2 binding CLIPS: {e}")))?;
        bucket.put(KEY, list.to_json()).execute().await.map_err(|e| unavailable(format!("R2 put {KEY}: {e}")))?;
        CACHED.with(|c| *c.borrow_mut() = Some((now_unix(), list.clone())));
        Ok::<usize, DownloadError>(list.orders.len())
    };
    match written.await {
        Ok(n) => console_log!("{}", log_line!({ "event": "revocations_published", "orders": n })),
        Err(e) => console_error!("{}", log_line!({ "event": "revocations_not_published", "error": format!("{e:?}") })),
    }
}

/// Why the list refuses a link while D1 is failing (`slug`: a clip, or the
/// order page when `None`). An unreadable list refuses nothing: the
/// download goes on as before, and the log says so.
pub(super) async fn offline_refusal(env: &Env, claims: &Claims, slug: Option<&str>) -> Option<DownloadError> {
    let now = now_unix();
    let fresh = CACHED.with(|c| c.borrow().as_ref().filter(|(at, _)| now.saturating_sub(*at) < CACHE_SECS).cloned());
    let list = match fresh {
        Some((_, list)) => list,
        None => match read(env).await {
            Ok(list) => {
                CACHED.with(|c| *c.borrow_mut() = Some((now, list.clone())));
                list
            }
            Err(e) => {
                console_error!("{}", log_line!({ "event": "revocations_unreadable", "error": e }));
                return None;
            }
        },
    };
    list.refusal(claims, slug)
}

async fn read(env: &Env) -> std::result::Result<RevocationList, String> {
    let bucket = env.bucket("CLIPS").map_err(|e| format!("R2 binding CLIPS: {e}"))?;
    let Some(object) = bucket.get(KEY).execute().await.map_err(|e| format!("R2 get {KEY}: {e}"))? else {
        return Ok(RevocationList::default()); // nothing was ever revoked
    };
    let body = object.body().ok_or_else(|| format!("{KEY} has no body"))?;
    let json = body.text().await.map_err(|e| format!("R2 read {KEY}: {e}"))?;
    RevocationList::from_json(&json).map_err(|e| format!("{KEY}: {e}"))
}
