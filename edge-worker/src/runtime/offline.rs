//! While D1 fails: a response's bytes reserved against the link's allowance
//! in its R2 fallback records (`crate::offline`), before the first byte and
//! then segment by segment, as `runtime/reservation.rs` does in D1.

use worker::*;

use super::reservation::{wait_for_settlement, Reserved};
use super::stream::MoreBytes;
use super::unavailable;
use crate::allowance::{self, DownloadAllowance};
use crate::delivery::ByteSpan;
use crate::error::DownloadError;
use crate::ledger::FallbackRecord;
use crate::offline::{self, Tally};

/// Listing pages read for one tally (1,000 records each). A link with more
/// records than that in one outage (ten thousand tiny ranges) counts as
/// used up: serving it unbounded is what the tally is there to prevent.
const MAX_TALLY_PAGES: usize = 10;

/// Writes a fallback record with the custom metadata the tally reads.
pub(super) async fn put_record(bucket: &Bucket, record: &FallbackRecord) -> Result<()> {
    let charged = record.charge.map_or(0, |c| c.bytes);
    let open = record.charge.is_some() && record.attempt.settled_at.is_none();
    let metadata: std::collections::HashMap<String, String> = offline::metadata(charged, open).into_iter().collect();
    bucket.put(record.object_key(), record.to_json()).custom_metadata(metadata).execute().await.map(|_| ())
}

/// This response's record and what it has reserved so far.
pub(super) struct OfflineSteps {
    bucket: Bucket,
    record: FallbackRecord,
    budget: u64,
    reserved: u64,
}

impl OfflineSteps {
    /// What the responses of the record's (order, clip) that came before
    /// this one hold. Later ones are left out: they count this one, so two
    /// requests racing never both withdraw (the earlier one goes on).
    async fn others(&self) -> std::result::Result<Tally, String> {
        let (Some(order), Some(clip)) =
            (self.record.attempt.order_id.as_deref(), self.record.attempt.clip_slug.as_deref())
        else {
            return Err("a fallback record without an order".into());
        };
        let (prefix, own) = (offline::tally_prefix(order, clip), self.record.object_key());
        let mut tally = Tally::default();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TALLY_PAGES {
            let mut list = self.bucket.list().prefix(prefix.clone()).include(vec![Include::CustomMetadata]);
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(|e| format!("R2 list {prefix}: {e}"))?;
            // Keys sort by time, then attempt id (`FallbackRecord::object_key`).
            for object in page.objects().iter().filter(|o| o.key() < own) {
                let metadata = object.custom_metadata().unwrap_or_default();
                tally.add(
                    metadata.get(offline::CHARGED).map(String::as_str),
                    metadata.get(offline::OPEN).map(String::as_str),
                );
            }
            if !page.truncated() {
                return Ok(tally);
            }
            cursor = page.cursor();
        }
        console_warn!("{}", log_line!({ "event": "offline_tally_full", "prefix": prefix }));
        Ok(Tally { held: u64::MAX, in_flight: 0 })
    }

    async fn write(&mut self, charged: u64) -> std::result::Result<(), String> {
        if let Some(charge) = self.record.charge.as_mut() {
            charge.bytes = charged;
        }
        self.record.attempt.charged_bytes = charged;
        self.record.attempt.reserved_bytes = Some(charged);
        put_record(&self.bucket, &self.record).await.map_err(|e| format!("R2 put {}: {e}", self.record.object_key()))
    }

    /// Reserves `bytes` more if the link's earlier records leave room: writes
    /// the larger charge first and then tallies, so that a later request
    /// racing this one sees it; withdraws it when over. `Ok(Some(others))`: no
    /// room, and what the others hold.
    async fn try_reserve(&mut self, bytes: u64) -> std::result::Result<Option<Tally>, String> {
        let total = self.reserved.saturating_add(bytes);
        self.write(total).await?;
        let others = self.others().await?;
        if others.held.saturating_add(total) <= self.budget {
            self.reserved = total;
            return Ok(None);
        }
        if self.reserved == 0 {
            let _ = self.bucket.delete(self.record.object_key()).await;
        } else {
            self.write(self.reserved).await?;
        }
        Ok(Some(others))
    }
}

impl MoreBytes for OfflineSteps {
    async fn reserve(&mut self, bytes: u64) -> bool {
        let mut polls = allowance::settlement_polls();
        loop {
            match self.try_reserve(bytes).await {
                Ok(None) => return true,
                Ok(Some(others))
                    if allowance::settlement_could_make_room(others.held, others.in_flight, bytes, self.budget) => {}
                Ok(Some(_)) => return false,
                Err(e) => {
                    console_error!("{}", log_line!({ "event": "offline_reservation_failed", "error": e }));
                    return false;
                }
            }
            if !wait_for_settlement(&mut polls).await {
                return false;
            }
        }
    }

    fn reserved(&self) -> u64 {
        self.reserved
    }
}

/// Reserves a response's span while D1 fails: the whole span when the
/// link's records leave room for it, else (while other responses of the link
/// are still streaming and could settle down) its first segment, waiting a
/// bounded time as with D1; else `PausedOffline`. `record` is the
/// attempt's fallback record, charged nothing yet. When R2 cannot be written
/// either, a response whose bytes come from R2 is served unbounded (and
/// logged): R2 answered its reads, and a paying customer is not refused over
/// the ledger. One whose bytes come from the secondary origin
/// (`from_secondary`: R2 is failing) is refused: nothing could bound or
/// record it, and the revocation list (in R2) cannot be read either.
pub(super) async fn reserve(
    bucket: Bucket,
    record: FallbackRecord,
    span: ByteSpan,
    first: u64,
    allowance: DownloadAllowance,
    from_secondary: bool,
) -> std::result::Result<(Reserved, Option<OfflineSteps>), DownloadError> {
    let mut steps = OfflineSteps { bucket, record, budget: allowance.budget(), reserved: 0 };
    let mut polls = allowance::settlement_polls();
    // At least the least charge, as with D1 (`DownloadAllowance::least_charge`).
    let (length, first) = (allowance.reservation(span.length), allowance.reservation(first));
    loop {
        let others = match steps.try_reserve(length).await {
            Ok(None) => return Ok((Reserved::Whole(length), None)),
            Ok(Some(others)) => others,
            Err(e) => {
                console_error!("{}", log_line!({ "event": "offline_reservation_failed", "error": e }));
                if from_secondary {
                    return Err(unavailable(format!("neither D1 nor R2 can record the download: {e}")));
                }
                return Ok((Reserved::Whole(length), None));
            }
        };
        if !allowance::settlement_could_make_room(others.held, others.in_flight, length, steps.budget) {
            return Err(DownloadError::PausedOffline);
        }
        match steps.try_reserve(first).await {
            Ok(None) => return Ok((Reserved::InSteps(first), Some(steps))),
            Ok(Some(_)) => {}
            Err(e) => return Err(unavailable(e)),
        }
        if !wait_for_settlement(&mut polls).await {
            return Err(DownloadError::PausedOffline);
        }
    }
}
