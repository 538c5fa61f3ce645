//! Download requests in the runtime: the order page, a clip's response
//! (allowance, reservation, streaming, settlement) and its record in the
//! ledger, in D1 or, while D1 fails, in R2 (docs/downloads.md).

// The runtime's shared glue (bindings, D1 helpers, pages) and its imports.
use super::d1::Query;
use super::origin;
use super::*;
use crate::delivery::ByteSpan;

/// One request for a clip, as it will be recorded.
pub(super) struct Attempt {
    pub(super) record: AttemptRecord,
    pub(super) order: Option<OrderFacts>,
    /// Set when D1 failed to grant: the charge goes to the R2 fallback.
    pub(super) charge: Option<Charge>,
    /// Bytes granted in D1 for this request (refunded if it then fails).
    pub(super) granted: u64,
    /// Milliseconds spent on the ledger before the response (reserving and
    /// recording), for the `Server-Timing` header.
    pub(super) ledger_ms: u64,
    /// The clip's allowance, once known (for the settlement's credit).
    pub(super) allowance: Option<DownloadAllowance>,
}

impl Attempt {
    fn start(req: &Request, slug: &str, head: bool) -> Attempt {
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let random = || (js_sys::Math::random() * 4_294_967_296.0) as u32;
        let mut id = [0u8; 16];
        for chunk in id.chunks_mut(4) {
            chunk.copy_from_slice(&random().to_le_bytes());
        }
        Attempt {
            record: AttemptRecord {
                id: None,
                attempt_id: ledger::attempt_id(id),
                at: Date::now().as_millis(),
                order_id: None,
                clip_slug: Some(slug.to_string()),
                key_id: None,
                method: if head { "HEAD" } else { "GET" }.to_string(),
                range_header: ledger::clip_text(header("range").as_deref(), 200),
                status: 0,
                outcome: String::new(),
                span_offset: None,
                span_length: None,
                charged_bytes: 0,
                client_ip: ledger::clip_text(header("cf-connecting-ip").as_deref(), 64),
                country: req.cf().and_then(|cf| cf.country()),
                user_agent: ledger::clip_text(header("user-agent").as_deref(), 300),
                recorded_via: "d1".to_string(),
                completed: None,
                reserved_bytes: None,
                sent_bytes: None,
                settled_at: None,
                credited_bytes: None,
                origin: None,
                etag: None,
            },
            order: None,
            charge: None,
            granted: 0,
            ledger_ms: 0,
            allowance: None,
        }
    }

    /// The attempt as its R2 fallback record.
    pub(super) fn fallback(&self) -> FallbackRecord {
        // Reserved in D1 (only its row's write failed): the record carries
        // the row as D1 should hold it, recorded there and unsettled, so that
        // once merged the stale sweep and the credits find it.
        let in_d1 = self.charge.is_none() && self.granted > 0;
        FallbackRecord {
            attempt: if in_d1 { reservation::unsettled_row(&self.record).record } else { self.record.clone() },
            order: self.order.clone(),
            charge: self.charge,
            settlement: None,
        }
    }

    pub(super) fn insert(&self, db: &D1Database) -> std::result::Result<D1PreparedStatement, DownloadError> {
        let r = &self.record;
        bind(
            db,
            sql::RECORD_ATTEMPT,
            &[
                text(&r.attempt_id),
                num(r.at),
                opt_text(r.order_id.as_deref()),
                opt_text(r.clip_slug.as_deref()),
                opt_text(r.key_id.as_deref()),
                text(&r.method),
                opt_text(r.range_header.as_deref()),
                num(r.status.into()),
                text(&r.outcome),
                opt_num(r.span_offset),
                opt_num(r.span_length),
                num(r.charged_bytes),
                opt_text(r.client_ip.as_deref()),
                opt_text(r.country.as_deref()),
                opt_text(r.user_agent.as_deref()),
                text(&r.recorded_via),
                opt_num(r.reserved_bytes),
                opt_num(r.sent_bytes),
                opt_num(r.completed.map(u64::from)),
                opt_num(r.settled_at),
                opt_text(r.origin.as_deref()),
                opt_text(r.etag.as_deref()),
            ],
        )
    }
}

thread_local! {
    /// Set when this isolate wrote a fallback record: the next successful
    /// grant merges the fallback in the background.
    static FALLBACK_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes the attempt to D1, or to the R2 fallback when D1 fails (or
/// already failed to grant) and the attempt served bytes. Refusals (and
/// answers without a body) are counted in the isolate (`crate::refusals`)
/// and only the first few of each kind a minute get a row.
pub(super) async fn record(env: &Env, attempt: &mut Attempt) {
    let r = &attempt.record;
    if crate::refusals::is_counted(&r.outcome, r.status)
        && !refusals::count(env, r.at, &r.outcome, r.order_id.as_deref()).await
    {
        // Counted only: the first few of each kind a minute get a row.
        return;
    }
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e));
    if attempt.charge.is_none() {
        if let Ok(db) = &db {
            let written = match attempt.insert(db) {
                Ok(statement) => batch(db, vec![statement]).await.map(|_| ()),
                Err(e) => Err(e),
            };
            match written {
                Ok(()) => return,
                Err(e) => {
                    console_error!("{}", log_line!({ "event": "ledger_write_failed", "error": format!("{e:?}") }))
                }
            }
        }
    }
    let served = attempt.charge.is_some() || attempt.record.outcome == Outcome::Granted.code();
    if !served {
        // Refusals and answers without a body are never written to R2: a
        // flood of them must not fill the bucket. The log keeps them.
        console_warn!(
            "{}",
            log_line!({ "event": "ledger_unrecorded", "record": crate::log_line::RawJson(attempt.fallback().to_json()) })
        );
        return;
    }
    attempt.record.recorded_via = "fallback".to_string();
    write_fallback(env, attempt).await;
}

/// Writes (or rewrites, once settled) the attempt's R2 fallback record.
pub(super) async fn write_fallback(env: &Env, attempt: &Attempt) {
    write_record(env, &attempt.fallback()).await;
}

/// Writes a fallback record to R2 (or, failing that, to the log).
pub(super) async fn write_record(env: &Env, fallback: &FallbackRecord) {
    let key = fallback.object_key();
    let written = match env.bucket("CLIPS") {
        Ok(bucket) => offline::put_record(&bucket, fallback).await,
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            FALLBACK_PENDING.with(|p| p.set(true));
            console_warn!("{}", log_line!({ "event": "ledger_fallback", "key": key }));
        }
        // The log line is the last copy of the record.
        Err(e) => console_error!(
            "{}",
            log_line!({ "event": "ledger_record_lost", "error": format!("{e}"), "record": crate::log_line::RawJson(fallback.to_json()) })
        ),
    }
}

/// Fallback records one merge takes at most. Each costs a D1 batch and two
/// R2 calls, and an invocation may make 1,000 D1 queries (Workers Paid):
/// a cron run merging the hundreds of records of a long outage at once
/// failed part-way, its self-test's own queries with it (a false alarm).
/// The rest waits for the next run; `site-gen orders merge` asks again.
pub(super) const MERGE_BATCH: u32 = 200;

/// What one merge did: the records merged, and whether some are left for
/// the next (the batch was full).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Merged {
    pub(super) merged: u32,
    pub(super) more: bool,
}

/// Merges the R2 fallback records into D1, at most [`MERGE_BATCH`]; deletes
/// each object only after its batch committed.
pub(super) async fn merge_fallback(env: &Env) -> std::result::Result<Merged, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let bucket = env.bucket("CLIPS").map_err(|e| unavailable(format!("R2 binding CLIPS: {e}")))?;
    let mut merged = 0;
    let mut taken = 0;
    let mut more = false;
    let mut cursor: Option<String> = None;
    'pages: loop {
        let mut list = bucket.list().prefix(ledger::FALLBACK_PREFIX).limit(100).include(vec![Include::CustomMetadata]);
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let listing = list.execute().await.map_err(|e| unavailable(format!("R2 list: {e}")))?;
        let objects = listing.objects();
        if objects.is_empty() {
            break;
        }
        for object in objects {
            let key = object.key();
            // A response still streaming settles its record when it ends
            // (read from the listing: such records cost no call).
            let open = object.custom_metadata().ok().and_then(|m| m.get(crate::offline::OPEN).cloned());
            if !crate::offline::ready_to_merge(open.as_deref(), object.uploaded().as_millis() / 1000, now_unix()) {
                continue;
            }
            if taken == MERGE_BATCH {
                more = true;
                break 'pages;
            }
            taken += 1;
            let object = bucket.get(&key).execute().await.map_err(|e| unavailable(format!("R2 get {key}: {e}")))?;
            let Some(body) = object.as_ref().and_then(|o| o.body()) else { continue };
            let json = body.text().await.map_err(|e| unavailable(format!("R2 read {key}: {e}")))?;
            let mut record = match FallbackRecord::from_json(&json) {
                Ok(record) => record,
                Err(e) => {
                    // One unreadable record must not stop the merge of the
                    // others: set it aside, where the self-test sees it.
                    set_aside(&bucket, &key, json, &e.to_string()).await?;
                    continue;
                }
            };
            // Still open this long after it was written: its isolate is gone.
            record.settle_abandoned(Date::now().as_millis());
            let mut statements = Vec::new();
            if let Some(order) = &record.order {
                statements.extend(order_seen(&db, order, record.attempt.key_id.as_deref().unwrap_or(""))?);
            }
            if let (Some(charge), Some(order_id), Some(slug)) =
                (record.charge, record.attempt.order_id.as_deref(), record.attempt.clip_slug.as_deref())
            {
                statements.push(bind(
                    &db,
                    sql::MERGE_GRANT,
                    &[
                        text(order_id),
                        text(slug),
                        num(charge.bytes),
                        num(charge.clip_size),
                        num(charge.unit),
                        num(charge.budget),
                        num(now_unix()),
                        text(&record.attempt.attempt_id),
                    ],
                )?);
            }
            match record.settlement {
                // A settlement D1 refused: the row (if it never got there)
                // and the settlement, which runs only while it is unsettled.
                Some(settlement) => statements.extend(reservation::settlement_statements(
                    &db,
                    &record.attempt,
                    settlement,
                    Some(&reservation::unsettled_row(&record.attempt)),
                    false,
                )?),
                None => {
                    let attempt = Attempt {
                        record: record.attempt.clone(),
                        order: None,
                        charge: None,
                        granted: 0,
                        ledger_ms: 0,
                        allowance: None,
                    };
                    statements.push(attempt.insert(&db)?);
                }
            }
            batch(&db, statements).await?;
            bucket.delete(&key).await.map_err(|e| unavailable(format!("R2 delete {key}: {e}")))?;
            merged += 1;
        }
        match listing.cursor().filter(|_| listing.truncated()) {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if merged > 0 {
        console_log!("{}", log_line!({ "event": "ledger_fallback_merged", "records": merged, "more": more }));
    }
    Ok(Merged { merged, more })
}

/// Moves an unreadable fallback record from `key` to the quarantine prefix
/// (same name), keeping its bytes for the owner, and logs why.
async fn set_aside(bucket: &Bucket, key: &str, json: String, error: &str) -> std::result::Result<(), DownloadError> {
    let name = key.strip_prefix(ledger::FALLBACK_PREFIX).unwrap_or(key);
    let target = format!("{}{name}", ledger::QUARANTINE_PREFIX);
    bucket.put(&target, json).execute().await.map_err(|e| unavailable(format!("R2 put {target}: {e}")))?;
    bucket.delete(key).await.map_err(|e| unavailable(format!("R2 delete {key}: {e}")))?;
    console_error!("{}", log_line!({ "event": "ledger_fallback_set_aside", "key": key, "to": target, "error": error }));
    Ok(())
}

/// Downloads and order pages answer GET and HEAD: whether it is a HEAD, or
/// the 405 for any other method.
pub(super) fn read_method(req: &Request) -> std::result::Result<bool, DownloadError> {
    match req.method() {
        Method::Head => Ok(true),
        Method::Get => Ok(false),
        _ => Err(DownloadError::MethodNotAllowed),
    }
}

/// `/download/<token>`: the order page, or the page of why not; for a link
/// that expired, with the licence certificates, which do not expire.
pub(super) async fn order_request(req: &Request, env: &Env, token: &str) -> Result<Response> {
    let page = async {
        let head = read_method(req)?;
        let view = verified_order_view(env, token, true).await?;
        if now_unix() >= clipstore_core::expired_from(view.expires_at) {
            html_page(&pages::expired_order_page(&manifest().shop, &view), head, 410, &[])
        } else {
            html_page(&pages::order_page(&manifest().shop, &view), head, 200, &[])
        }
    };
    page.await.or_else(|error| error_response(&error))
}

/// `/download/<token>/<slug>`: the clip (see [`clip_request`]).
pub(super) async fn clip_route(req: &Request, env: &Env, ctx: &Context, token: &str, slug: &str) -> Result<Response> {
    match read_method(req) {
        Ok(head) => clip_request(req, env, ctx, token, slug, head).await,
        Err(e) => error_response(&e),
    }
}

/// `/download/<token>/<slug>/licence`: the clip's licence certificate, for
/// a clip the order covers (and has not been refunded), with the order
/// page's checks (the token verifies, the order is not revoked), also once
/// the link expired: the licence does not.
pub(super) async fn certificate_request(req: &Request, env: &Env, token: &str, slug: &str) -> Result<Response> {
    let page = async {
        let head = read_method(req)?;
        let view = verified_order_view(env, token, true).await?;
        let line = view.lines.iter().find(|l| l.slug == slug).ok_or(DownloadError::NotInOrder)?;
        if line.refunded {
            return Err(DownloadError::Refunded);
        }
        html_page(&pages::certificate_page(&manifest().shop, &view, line), head, 200, &[])
    };
    page.await.or_else(|error| error_response(&error))
}

/// Whether a request on a link past its expiry finishes a download started
/// before (`crate::after_expiry`); not while D1 cannot tell.
async fn resumes_what_was_started(env: &Env, claims: &Claims, slug: &str, head: bool, span: Option<ByteSpan>) -> bool {
    let Some(span) = span.filter(|_| crate::after_expiry::may_resume(head, span)) else { return false };
    let Ok(db) = env.d1("DB") else { return false };
    let values = [text(&claims.order_id), text(slug), num(span.offset)];
    matches!(found(&db, sql::STARTED_BEFORE, &values).await, Ok(Some(1..)))
}

struct Found {
    found: u64,
}
crate::from_row!(Found { found });

/// The `found` column of a query's first row, if it has one.
pub(super) async fn found(
    db: &D1Database,
    statement: &str,
    values: &[JsValue],
) -> std::result::Result<Option<u64>, DownloadError> {
    let row = bind(db, statement, values)?.first_row::<Found>().await.map_err(|e| d1_error("a count", e))?;
    Ok(row.map(|r| r.found))
}

/// What the order page of a link shows: verifies the token, records the
/// order and link in the ledger and reads what each clip was charged.
pub(super) fn order_view<'a>(
    env: &'a Env,
    token: &'a str,
) -> impl std::future::Future<Output = std::result::Result<OrderView, DownloadError>> + 'a {
    verified_order_view(env, token, false)
}

/// The same; `lasting`, of a link verified as [`super::verify_lasting`]
/// does, expired or not: what its order page (saying it expired) and
/// licence certificates show.
async fn verified_order_view(env: &Env, token: &str, lasting: bool) -> std::result::Result<OrderView, DownloadError> {
    let verified = if lasting { super::verify_lasting(env, token) } else { verify(env, token) };
    let claims = match verified {
        Ok(claims) => claims,
        Err(e) => {
            // The order page is what a customer opens first: a key the
            // Worker lacks counts for the self-test's `links_refused` too.
            if matches!(e, DownloadError::InvalidToken { code: "unknown_key" }) {
                refusals::count(env, Date::now().as_millis(), "unknown_key", None).await;
            }
            return Err(e);
        }
    };
    let ledger = async {
        let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
        let mut statements = order_seen(&db, &order_facts(&claims), &claims.key_id)?;
        statements.push(bind(&db, sql::ORDER, &[text(&claims.order_id)])?);
        statements.push(bind(&db, sql::ORDER_CLIPS, &[text(&claims.order_id)])?);
        let results = batch(&db, statements).await?;
        let order = rows::<OrderRow>(&results[2])?.into_iter().next();
        Ok::<_, DownloadError>((order, rows::<OrderClipRow>(&results[3])?))
    }
    .await;
    let mut revoked_clips = crate::order::RevokedClips::default();
    let mut dated = claims.issued_at;
    let charged = match ledger {
        Ok((Some(order), charged)) => {
            dated = dated.min(order.created_at).min(order.first_issued.unwrap_or(u64::MAX));
            let list = |json: &Option<String>| -> Vec<String> {
                json.as_deref().and_then(|j| clipstore_core::json::from_str(j).ok()).unwrap_or_default()
            };
            revoked_clips =
                crate::order::RevokedClips { all: list(&order.revoked_clips), refunded: list(&order.refunded_clips) };
            // Every clip revoked on its own: refused as the last of them.
            let all_of = |list: &[String]| claims.clips.iter().all(|c| list.contains(c));
            let clip = match (all_of(&revoked_clips.refunded), all_of(&revoked_clips.all)) {
                (true, _) => crate::error::ClipRevoked::Refunded,
                (false, true) => crate::error::ClipRevoked::ByOwner,
                (false, false) => crate::error::ClipRevoked::No,
            };
            let revocation = DownloadError::revocation(
                order.revoked_at,
                order.revoked_reason.as_deref(),
                clip,
                order.not_before,
                claims.issued_at,
            );
            if let Some(refusal) = revocation {
                return Err(refusal);
            }
            Some(charged)
        }
        Ok((None, charged)) => Some(charged),
        Err(e) => {
            // The page still works without the ledger; it just cannot count.
            console_error!("{}", log_line!({ "event": "ledger_read_failed", "error": format!("{e:?}") }));
            if let Some(refusal) = revocations::offline_refusal(env, &claims, None).await {
                return Err(refusal);
            }
            None
        }
    };
    Ok(OrderView::new(
        OrderClaims {
            order_id: &claims.order_id,
            clips: &claims.clips,
            choices: &claims.choices,
            issued_at: dated,
            customer_ref: claims.customer_ref.as_deref(),
            expires_at: claims.expires_at,
            downloads: claims.downloads,
        },
        manifest(),
        charged.as_deref(),
        &revoked_clips,
        token,
    ))
}

/// `/download/<token>/<slug>`, the clip itself: serves it (or refuses) and
/// records the attempt; once its body has been streamed (`waitUntil`),
/// settles what it was charged.
pub(super) async fn clip_request(
    req: &Request,
    env: &Env,
    ctx: &Context,
    token: &str,
    slug: &str,
    head: bool,
) -> Result<Response> {
    let mut attempt = Attempt::start(req, slug, head);
    let result = clip(req, env, token, slug, head, &mut attempt).await;
    let (result, body) = match result {
        Ok((response, body)) => {
            attempt.record.status = response.status_code();
            (Ok(response), body)
        }
        Err(error) => {
            attempt.record.status = error.status();
            attempt.record.outcome = error.log_code().to_string();
            // Granted, then failed before the first byte: give it back.
            if attempt.charge.is_some() {
                // Reserved in the link's fallback records (D1 down).
                if let Ok(bucket) = env.bucket("CLIPS") {
                    let _ = bucket.delete(attempt.fallback().object_key()).await;
                }
            }
            attempt.charge = None;
            // Reserved in D1: recorded as reserved, then settled below to
            // nothing sent, with the retry and the R2 fallback every
            // settlement has (a single refund that D1 refused left the
            // link charged for good).
            if attempt.granted == 0 {
                attempt.record.charged_bytes = 0;
                attempt.record.reserved_bytes = None;
            }
            (Err(error), None)
        }
    };
    // Recorded before the response goes out, so the settlement below always
    // finds the attempt it settles.
    let recording = Date::now().as_millis();
    record(env, &mut attempt).await;
    attempt.ledger_ms += Date::now().as_millis() - recording;
    if result.is_err() && attempt.granted > 0 {
        // Failed by the Worker before its first byte: charged nothing.
        settle(env, &mut attempt, stream::StreamEnd { sent: 0, completed: false, reserved: None }, 0).await;
    }
    let mut result = result;
    if let Ok(response) = result.as_mut() {
        // How long the ledger held the first byte back, and the whole
        // preparation (token, R2 head, ledger, first R2 read): for the owner's
        // and the benchmark's eyes (docs/benchmarks.md).
        let total = Date::now().as_millis() - attempt.record.at;
        let _ = response
            .headers_mut()
            .set("server-timing", &format!("ledger;dur={}, total;dur={total}", attempt.ledger_ms));
    }
    let merge = attempt.record.outcome == Outcome::Granted.code() && FALLBACK_PENDING.with(|p| p.replace(false));
    if body.is_some() || merge {
        let env = env.clone();
        in_background(ctx, async move {
            if let Some(body) = body {
                // Reserved in D1: a long response reports how far it got (its
                // row with it, if that was not written).
                let reports = match env.d1("DB") {
                    Ok(db) if attempt.charge.is_none() && attempt.granted > 0 => Some(stream::Reports::new(
                        reservation::LedgerProgress {
                            db: std::rc::Rc::new(db),
                            attempt_id: attempt.record.attempt_id.clone(),
                            row: std::rc::Rc::new(std::cell::RefCell::new(
                                (attempt.record.recorded_via == "fallback")
                                    .then(|| reservation::unsettled_row(&attempt.record)),
                            )),
                        },
                        crate::stale::report_every_ms(reservation::stale_seconds(&env)),
                    )),
                    _ => None,
                };
                let end = body.run(reports).await;
                let least = attempt.allowance.map_or(0, |a| a.least_charge());
                settle(&env, &mut attempt, end, least).await;
            }
            if merge {
                match merge_fallback(&env).await {
                    // Records left: the next grant merges more.
                    Ok(done) => FALLBACK_PENDING.with(|p| p.set(done.more)),
                    Err(e) => {
                        FALLBACK_PENDING.with(|p| p.set(true));
                        console_warn!("{}", log_line!({ "event": "ledger_merge_failed", "error": format!("{e:?}") }));
                    }
                }
            }
        });
    }
    match result {
        Ok(response) => Ok(response),
        Err(error) => error_response_at(&error, true),
    }
}

/// Decides and opens the answer to a clip request: the response (its body
/// the readable side of the stream) and, when it has a body, the
/// [`stream::SegmentedBody`] that feeds it.
async fn clip(
    req: &Request,
    env: &Env,
    token: &str,
    slug: &str,
    head: bool,
    attempt: &mut Attempt,
) -> std::result::Result<(Response, Option<stream::SegmentedBody<Steps>>), DownloadError> {
    let (claims, past_expiry) = match super::verify_resumable(env, token, true) {
        Ok(verified) => verified,
        Err(e) => {
            // Signed with a key the Worker lacks: which one, for the
            // self-test's `links_refused` (unverified: a name, no more).
            if matches!(e, DownloadError::InvalidToken { code: "unknown_key" }) {
                attempt.record.key_id = clipstore_core::decode_unverified(token).ok().map(|c| c.key_id);
            }
            return Err(e);
        }
    };
    attempt.record.order_id = Some(claims.order_id.clone());
    attempt.record.key_id = Some(claims.key_id.clone());
    attempt.order = Some(order_facts(&claims));
    // Past its expiry only a resume (a range) may go on: the rest is told so
    // before storage is asked anything.
    if past_expiry && (head || req.headers().get("range").ok().flatten().is_none()) {
        return Err(DownloadError::Expired);
    }
    // The file bought of the clip: its variant, if the token names one.
    let entry = manifest()
        .clip(slug)
        .and_then(|clip| clip.file(claims.choice(slug).variant.as_deref()))
        .ok_or(DownloadError::UnknownClip)?;
    let entry = &entry;
    if !claims.covers(slug) {
        return Err(DownloadError::NotInOrder);
    }
    let key = entry.object_key.as_str();
    let object = origin::locate(env, entry, slug).await?;
    attempt.record.origin = Some(object.origin.name().to_string());
    // Which version of the file (for a download broken off on a replaced
    // one): R2's ETag only, the secondary's differs for the same bytes.
    if matches!(object.origin, origin::Origin::R2 { .. }) {
        attempt.record.etag = Some(object.validators.etag.clone());
    }

    let header = |name: &str| req.headers().get(name).ok().flatten();
    let client = stream::client_of(token, header("user-agent").as_deref());
    let media = allowance::is_media_element(header("sec-fetch-dest").as_deref());
    let (range, if_match, if_none_match, if_modified_since, if_unmodified_since, if_range) = (
        header("range"),
        header("if-match"),
        header("if-none-match"),
        header("if-modified-since"),
        header("if-unmodified-since"),
        header("if-range"),
    );
    let request = DownloadRequest {
        head,
        range: range.as_deref(),
        conditions: Conditions {
            if_match: if_match.as_deref(),
            if_none_match: if_none_match.as_deref(),
            if_modified_since: if_modified_since.as_deref(),
            if_unmodified_since: if_unmodified_since.as_deref(),
            if_range: if_range.as_deref(),
        },
        max_partial: media.then(|| allowance::media_chunk(object.size)),
    };
    let stored = StoredClip {
        size: object.size,
        validators: object.validators.clone(),
        content_type: &entry.content_type,
        file_name: &entry.file_name,
    };
    let mut plan = delivery::plan(&request, &stored);
    // A resume without `If-Range` (curl -C -, wget -c) continues a file on
    // disk; when the download that wrote it was of another version of the
    // clip (the owner replaced it since), the new bytes would be spliced
    // onto the old: answered as an `If-Range` that no longer matches, with
    // the whole clip (curl and wget then say they cannot resume).
    if let (Some(span), Some(db), None, false, origin::Origin::R2 { .. }) =
        (plan.body.filter(|s| s.offset > 0 && plan.status == 206), env.d1("DB").ok(), &if_range, media, &object.origin)
    {
        let values = [text(&claims.order_id), text(slug), num(span.offset), text(&object.validators.etag)];
        if matches!(found(&db, sql::CONTINUES_ANOTHER_VERSION, &values).await, Ok(Some(1..))) {
            plan = delivery::plan(&DownloadRequest { range: None, ..request }, &stored);
        }
    }

    // The allowance: reserve the span before the first byte, settle it to
    // what was sent afterwards (docs/downloads.md).
    let span = plan.body.filter(|span| span.length > 0);
    if past_expiry && !resumes_what_was_started(env, &claims, slug, head, span).await {
        return Err(DownloadError::Expired);
    }
    let mut steps = None;
    // Held while the request is answered, kept once its bytes are on their
    // way (dropped on a refusal, the streams go on).
    let mut stops = None;
    match span {
        Some(span) => {
            attempt.record.span_offset = Some(span.offset);
            attempt.record.span_length = Some(span.length);
            stops = Some(stream::stop_streams_at(&client, slug, span.offset));
            let allowance = DownloadAllowance::new(claims.downloads, object.size);
            attempt.allowance = Some(allowance);
            let first = Segments::new(span, object.size).next().map_or(span.length, |s| s.length);
            let WholeRequest { opening, restart } = WholeRequest::of(
                range.is_some(),
                media,
                (span.offset, span.length, object.size),
                header("sec-fetch-mode").as_deref(),
                header("user-agent").as_deref(),
            );
            let db = env.d1("DB").map_err(|e| d1_error("binding DB", e));
            let started = Date::now().as_millis();
            let reserved = match &db {
                Ok(db) => {
                    let record = &attempt.record;
                    reserve(db, &claims, slug, span, first, allowance, record, opening, restart, stops.as_ref()).await
                }
                Err(e) => Err(e.clone()),
            };
            attempt.ledger_ms += Date::now().as_millis() - started;
            match reserved {
                Ok(how) => {
                    attempt.record.outcome = Outcome::Granted.code().to_string();
                    attempt.granted = match how {
                        Reserved::Whole(bytes) | Reserved::InSteps(bytes) | Reserved::Probe(bytes) => bytes,
                    };
                    if let Reserved::Probe(first) = how {
                        steps = Some(Steps::Probe(first));
                    }
                    if let (Reserved::InSteps(first), Ok(db)) = (how, db) {
                        steps = Some(Steps::Ledger(LedgerSteps {
                            db,
                            claims: claims.clone(),
                            slug: slug.to_string(),
                            allowance,
                            reserved: first,
                            attempt_id: attempt.record.attempt_id.clone(),
                        }));
                    }
                }
                Err(e @ DownloadError::Unavailable { .. }) => {
                    // Serve anyway: the customer paid and the token is valid,
                    // unless the revocation list says the link was ended, or
                    // the link's fallback records say it took its allowance
                    // since D1 failed (crate::offline).
                    console_error!("{}", log_line!({ "event": "ledger_grant_failed", "error": format!("{e:?}") }));
                    // A D1 that still answers reads (full, read-only) says
                    // what the link has taken and whether it was ended: a
                    // span that does not fit in what is left is paused, as
                    // D1 would refuse it (a used-up link was given its
                    // allowance again offline: the second outage review).
                    if let Ok(db) = &db {
                        match reservation::refusal_state(db, &claims, slug).await {
                            Ok(state)
                                if !allowance
                                    .fits(state.granted_bytes.unwrap_or(0), allowance.reservation(span.length)) =>
                            {
                                return Err(DownloadError::PausedOffline);
                            }
                            Err(
                                refusal @ (DownloadError::Revoked | DownloadError::Refunded | DownloadError::Disputed),
                            ) => {
                                return Err(refusal);
                            }
                            _ => {}
                        }
                    }
                    if let Some(refusal) = revocations::offline_refusal(env, &claims, Some(slug)).await {
                        return Err(refusal);
                    }
                    attempt.record.outcome = Outcome::GrantedOffline.code().to_string();
                    attempt.record.recorded_via = "fallback".to_string();
                    attempt.charge = Some(Charge {
                        bytes: 0,
                        clip_size: allowance.size,
                        unit: allowance.unit(),
                        budget: allowance.budget(),
                    });
                    // The fallback records live in R2 even when the clip's
                    // bytes come from the secondary origin; with R2 failing
                    // too, nothing could record the download: it is refused.
                    let bucket = env.bucket("CLIPS").map_err(|e| {
                        unavailable(format!("neither D1 nor R2 can record the download: R2 binding CLIPS: {e}"))
                    })?;
                    let from_secondary = matches!(object.origin, origin::Origin::Secondary { .. });
                    let (how, offline_steps) =
                        offline::reserve(bucket, attempt.fallback(), span, first, allowance, from_secondary).await?;
                    let reserved = match how {
                        Reserved::Whole(bytes) | Reserved::InSteps(bytes) | Reserved::Probe(bytes) => bytes,
                    };
                    if let Some(charge) = attempt.charge.as_mut() {
                        charge.bytes = reserved;
                    }
                    steps = offline_steps.map(|s| Steps::Offline(Box::new(s)));
                }
                Err(refused) => return Err(refused),
            }
            let reserved = attempt.charge.map_or(attempt.granted, |c| c.bytes);
            attempt.record.charged_bytes = reserved;
            attempt.record.reserved_bytes = Some(reserved);
        }
        None => {
            // No bytes, no charge; but a revoked order's links answer nothing,
            // also while D1 fails (the revocation list in R2).
            let checked = match env.d1("DB") {
                Ok(db) => revoked(&db, &claims, slug).await,
                Err(_) => Err(()),
            };
            let refusal = match checked {
                Ok(refusal) => refusal,
                Err(()) => revocations::offline_refusal(env, &claims, Some(slug)).await,
            };
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
            attempt.record.outcome = Outcome::NoBody.code().to_string();
        }
    }

    let headers = Headers::new();
    for (name, value) in &plan.headers {
        headers.set(name, value).map_err(|e| unavailable(format!("header {name}: {e}")))?;
    }
    let (body, streamer) = match span {
        Some(span) => {
            let owner = (client.as_str(), slug);
            let (readable, streamer) =
                stream::SegmentedBody::open(object.origin, key, span, object.size, steps, owner).await?;
            if let Some(stops) = stops.take() {
                stops.keep();
            }
            (ResponseBody::Stream(readable), Some(streamer))
        }
        None => (ResponseBody::Empty, None),
    };
    if plan.body.is_some() {
        console_log!(
            "{}",
            log_line!({
                "event": "download",
                "order": claims.order_id,
                "clip": slug,
                "status": plan.status,
                "bytes": plan.body.map_or(0, |s| s.length),
            })
        );
    }
    let response = Response::from_body(body)
        .map(|r| r.with_status(plan.status).with_headers(headers))
        .map_err(|e| unavailable(format!("building the response: {e}")))?;
    Ok((response, streamer))
}
