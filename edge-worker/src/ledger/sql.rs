//! The ledger's SQL statements (orders, attempts, payments, events, the
//! links seen): the outbox's are in [`crate::outbox::sql`], the
//! self-test's in [`crate::monitor::sql`]. Parameters are numbered (`?1` …)
//! and documented per statement.

/// The bytes of a clip its download attempts `d` cover, each byte counted
/// once however many spans overlap it: `$end` is where each span ends
/// (what it sent, or all of it), `$which` which attempts count; `$order`
/// and `$clip` are SQL for the order and the clip. Spans in order of their
/// start; each adds what reaches past the furthest end before it. Only the
/// attempts since the clip's last exchange count: the old file's say
/// nothing of the one it became (`orders reissue --exchange`).
macro_rules! covered_bytes {
    ($order:literal, $clip:literal, $end:literal, $which:literal) => {
        concat!(
            "(SELECT COALESCE(SUM(MAX(0, e - MAX(s, COALESCE(reach, 0)))), 0) FROM \
             (SELECT s, e, MAX(e) OVER (ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach \
             FROM (SELECT d.span_offset AS s, ",
            $end,
            " AS e FROM download_attempts d WHERE d.order_id = ",
            $order,
            " AND d.clip_slug = ",
            $clip,
            " AND d.at >= 1000 * COALESCE((SELECT MAX(ex.at) FROM order_events ex WHERE ex.order_id = ",
            $order,
            " AND ex.clip_slug = ",
            $clip,
            " AND ex.kind = 'exchange'), 0) AND ",
            $which,
            ")))"
        )
    };
}

/// When the (order, clip) was last reset (unix seconds; 0 if never), from
/// its `reset` events (`orders reset`, of the order or of the clip).
macro_rules! last_reset {
    ($order:literal, $clip:literal) => {
        concat!(
            "COALESCE((SELECT MAX(e.at) FROM order_events e WHERE e.order_id = ",
            $order,
            " AND e.kind = 'reset' AND (e.clip_slug IS NULL OR e.clip_slug = ",
            $clip,
            ")), 0)"
        )
    };
}

/// Whether outbox row `x` (a link mail of order `$order`, SQL) was sent at
/// or after the owner last replaced the order's address
/// (`sql::REPLACE_ADDRESS`): mails to a mistyped address before it no
/// longer say where the order's customer is.
macro_rules! since_address_replaced {
    ($order:literal) => {
        concat!(
            " AND x.created_at >= COALESCE((SELECT MAX(e.at) FROM order_events e WHERE e.order_id = ",
            $order,
            " AND e.kind = 'address'), 0) "
        )
    };
}

/// The columns of an order's summary (`o`: the order), as
/// [`OrderSummaryRow`] reads them: its totals, and the customer's address:
/// its checkout's, else the one its link was last mailed to (an order
/// minted by hand and resent).
macro_rules! order_summary_columns {
    () => {
        concat!(
            "SELECT o.order_id AS order_id, o.clips AS clips, o.allowance AS allowance, o.customer_ref AS customer_ref, \
         o.expires_at AS expires_at, o.revoked_at AS revoked_at, o.source AS source, o.created_at AS created_at, \
         COALESCE((SELECT SUM(c.granted_bytes) FROM order_clips c WHERE c.order_id = o.order_id), 0) AS granted_bytes, \
         (SELECT COUNT(*) FROM download_attempts a WHERE a.order_id = o.order_id) AS attempts, \
         (SELECT MAX(a.at) FROM download_attempts a WHERE a.order_id = o.order_id) AS last_attempt_at, \
         (SELECT json_group_array(r.clip_slug) FROM revoked_clips r WHERE r.order_id = o.order_id) AS revoked_clips, \
         COALESCE((SELECT c.customer_email FROM checkouts c WHERE c.order_id = o.order_id ORDER BY c.created_at LIMIT 1), \
             (SELECT x.to_addr FROM outbox x WHERE x.order_id = o.order_id AND x.kind IN ('order', 'resend') \
             AND x.status = 'sent'",
            since_address_replaced!("o.order_id"),
            "ORDER BY x.id DESC LIMIT 1)) AS customer_email, \
         o.choices AS choices, o.revoked_reason AS revoked_reason "
        )
    };
}

/// Whether order `o` is the address `?1`'s (ignoring case): its checkout
/// has it, or a link of it went there by mail since the owner last
/// replaced the order's address (`sql::REPLACE_ADDRESS`: a mistyped one
/// no longer finds it).
macro_rules! of_address {
    () => {
        concat!(
            "(o.order_id IN (SELECT order_id FROM checkouts WHERE lower(customer_email) = lower(?1)) \
             OR o.order_id IN (SELECT x.order_id FROM outbox x \
             WHERE x.kind IN ('order', 'resend') AND x.status = 'sent' AND lower(x.to_addr) = lower(?1)",
            since_address_replaced!("x.order_id"),
            "))"
        )
    };
}

/// The id of the (order, clip)'s last `reset` event (0 if none): events
/// after it have larger ids, whatever second they were in.
macro_rules! last_reset_id {
    ($order:literal, $clip:literal) => {
        concat!(
            "COALESCE((SELECT MAX(e.id) FROM order_events e WHERE e.order_id = ",
            $order,
            " AND e.kind = 'reset' AND (e.clip_slug IS NULL OR e.clip_slug = ",
            $clip,
            ")), 0)"
        )
    };
}

/// The (order, clip)'s downloads (`$a`, an alias of `download_attempts`)
/// that broke off since its last reset and are settled: what a restart
/// gives back (`sql::RESTART_EVENT`). Those served while D1 failed count
/// too once merged: the merge added their charges to the order's
/// (`sql::MERGE_GRANT`), so a browser download broken off in an outage can
/// be started again after it, as any other.
macro_rules! broken_since_reset {
    ($a:literal, $order:literal, $clip:literal) => {
        concat!(
            $a,
            ".order_id = ",
            $order,
            " AND ",
            $a,
            ".clip_slug = ",
            $clip,
            " AND ",
            $a,
            ".completed = 0 AND ",
            $a,
            ".settled_at IS NOT NULL AND ",
            $a,
            ".at > 1000 * ",
            last_reset!($order, $clip)
        )
    };
}

/// The reason (`disputed` or `refunded`) of a full refund or dispute kept
/// as `revoke_pending` for a payment that had no order yet, a refund's
/// first; a dispute closed in the shop's favour after it (the webhook's
/// detail `dispute closed in the shop's favour: …`) no longer counts.
/// The provider and payment id are SQL parameters.
macro_rules! pending_revocation {
    ($provider:literal, $payment:literal) => {
        concat!(
            "SELECT IIF(p.detail LIKE 'disputed%', 'disputed', 'refunded') AS reason FROM payment_events p \
             WHERE p.provider = ",
            $provider,
            " AND p.session_id = ",
            $payment,
            " AND p.outcome = 'revoke_pending' \
             AND NOT (p.detail LIKE 'disputed%' AND EXISTS (SELECT 1 FROM payment_events w \
             WHERE w.provider = p.provider AND w.session_id = p.session_id AND w.detail LIKE 'dispute closed%' \
             AND w.id > p.id)) ORDER BY p.detail LIKE 'disputed%', p.id LIMIT 1"
        )
    };
}

/// Remembers an order the first time one of its tokens is seen, and keeps
/// clips, allowance and expiry of the newest token: of those issued
/// since its last reissue (`not_before`). An older link, refused anyway,
/// must not write back what a reissue changed (an exchanged clip's old
/// file: the diff review).
/// `?1 order_id, ?2 clips (JSON), ?3 allowance, ?4 customer_ref, ?5 expires_at,
///  ?6 token issued_at, ?7 now (s), ?8 choices (JSON object or NULL)`.
pub const ORDER_SEEN: &str = "INSERT INTO orders (order_id, clips, allowance, customer_ref, expires_at, token_issued_at, source, created_at, choices) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'token', ?7, ?8) \
     ON CONFLICT (order_id) DO UPDATE SET clips = excluded.clips, allowance = excluded.allowance, \
     customer_ref = excluded.customer_ref, expires_at = excluded.expires_at, token_issued_at = excluded.token_issued_at, \
     choices = excluded.choices \
     WHERE excluded.token_issued_at > orders.token_issued_at AND excluded.token_issued_at >= orders.not_before";

/// **The only statement that reserves bytes**, atomically: adds `?3`
/// bytes to the (order, clip) row, as charged and as in flight, only if
/// the total stays within the budget `?6` and the order is neither
/// revoked (nor the clip) nor reissued after the token's `issued_at` `?8`. Returns the
/// new total, or no row when refused. [`SETTLE_CLIP`] later gives back
/// what was not sent.
/// `?1 order_id, ?2 clip_slug, ?3 span bytes, ?4 clip size, ?5 unit, ?6 budget, ?7 now (s), ?8 token issued_at`.
pub const GRANT: &str = "INSERT INTO order_clips (order_id, clip_slug, granted_bytes, reserved_bytes, clip_size, unit_bytes, budget_bytes, updated_at) \
     SELECT ?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7 \
     WHERE ?3 <= ?6 AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = ?1 AND (o.revoked_at IS NOT NULL OR o.not_before > ?8)) \
     AND NOT EXISTS (SELECT 1 FROM revoked_clips r WHERE r.order_id = ?1 AND r.clip_slug = ?2) \
     ON CONFLICT (order_id, clip_slug) DO UPDATE SET granted_bytes = order_clips.granted_bytes + excluded.granted_bytes, \
     reserved_bytes = order_clips.reserved_bytes + excluded.reserved_bytes, \
     clip_size = excluded.clip_size, unit_bytes = excluded.unit_bytes, budget_bytes = excluded.budget_bytes, updated_at = excluded.updated_at \
     WHERE order_clips.granted_bytes + excluded.granted_bytes <= excluded.budget_bytes \
     AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = ?1 AND (o.revoked_at IS NOT NULL OR o.not_before > ?8)) \
     AND NOT EXISTS (SELECT 1 FROM revoked_clips r WHERE r.order_id = ?1 AND r.clip_slug = ?2) \
     RETURNING granted_bytes";

/// What [`CREDIT_ATTEMPT`] gives the attempt it credits (`$set` before it:
/// SQLite's `SET` reads the row as it was, so each column repeats it):
/// the new span's overlap with what the attempt sent and was not given back
/// yet (a credit as it settled was for the end of what it sent, so that
/// part runs from its start), at most what is left of the pool `?6` and
/// what it is still charged. (Less the earlier credit's length from the
/// whole overlap, a resume of the middle ending where the tail began got
/// nothing back: the diff review.)
macro_rules! credit_step {
    ($set:literal) => {
        concat!(
            $set,
            "MIN(MAX(0, MIN(span_offset + sent_bytes - COALESCE(credited_bytes, 0), ?3 + ?4) - MAX(span_offset, ?3)), \
             MAX(0, ?6 - COALESCE((SELECT credited_bytes FROM order_clips WHERE order_id = ?1 AND clip_slug = ?2), 0)), \
             charged_bytes)"
        )
    };
}

/// Gives back what an interrupted attempt was charged for bytes that a
/// new request asks for again (a resume: they were counted as sent, but
/// sat in the network's buffers when the client went away). Credits the
/// latest settled attempt of the (order, clip) whose bytes not given back
/// yet the new span overlaps, not credited by a request since it settled,
/// by that overlap, at most what is left of
/// the credit pool `?6` and what it is still charged; marks it credited by
/// `?5`, that credit its `credit_step` (what [`CREDIT_CLIP`] counts). An
/// attempt given back its tail as it settled ([`CREDIT_SETTLED`]: ranges
/// a download manager opened while it ran) is credited again when its
/// middle is asked for: aria2c's opening `GET` had kept that charge, and
/// its resume was refused with the pool far from spent (the attack
/// review). One a resume credited is not: the resume showed that the
/// client has what came before it. The attempt must have
/// broken off, or the new span must start inside it (a resume: an
/// attempt "completed" into the network's buffers that the client never
/// read to the end); asking again from its start is a new download.
/// Only an attempt since the clip's last reset: the reset gave back what
/// earlier ones were charged, and their credit came off what was
/// charged since. Runs in the reservation batch, before [`CREDIT_CLIP`]
/// and [`GRANT`].
/// `?1 order_id, ?2 clip_slug, ?3 span offset, ?4 span length, ?5 the new attempt_id, ?6 credit pool`.
pub const CREDIT_ATTEMPT: &str = concat!(
    "UPDATE download_attempts SET ",
    credit_step!("credit_step = "),
    ", credited_bytes = COALESCE(credited_bytes, 0) + ",
    credit_step!(""),
    ", charged_bytes = charged_bytes - ",
    credit_step!(""),
    ", credited_by = ?5 \
     WHERE attempt_id = (SELECT attempt_id FROM download_attempts WHERE order_id = ?1 AND clip_slug = ?2 \
         AND (completed = 0 OR span_offset < ?3) AND settled_at IS NOT NULL AND charged_bytes > 0 \
         AND (credited_by IS NULL OR credited_by LIKE '%:settled:%') \
         AND sent_bytes > 0 AND span_offset < ?3 + ?4 AND span_offset + sent_bytes > ?3 \
         AND MIN(span_offset + sent_bytes - COALESCE(credited_bytes, 0), ?3 + ?4) > MAX(span_offset, ?3) \
         AND at > 1000 * ",
    last_reset!("?1", "?2"),
    " ORDER BY at DESC, id DESC LIMIT 1)"
);

/// What [`CREDIT_SETTLED`] gives back (`$set` before it): from the
/// earliest later request's start to the end of what the attempt sent, at
/// most what is left of the pool `?4`.
macro_rules! settled_credit {
    ($set:literal) => {
        concat!(
            $set,
            "MIN(span_offset + sent_bytes - MAX(span_offset, (SELECT MIN(b.span_offset) FROM download_attempts b \
             WHERE b.order_id = ?1 AND b.clip_slug = ?2 AND b.id > download_attempts.id AND b.reserved_bytes > 0 \
             AND b.span_offset < download_attempts.span_offset + download_attempts.sent_bytes \
             AND b.span_offset + b.span_length > download_attempts.span_offset)), \
             MAX(0, ?4 - COALESCE((SELECT credited_bytes FROM order_clips WHERE order_id = ?1 AND clip_slug = ?2), 0)))"
        )
    };
}

/// The same credit, given when an interrupted attempt `?3` settles
/// after later requests of the (order, clip) already asked again for
/// part of what it was charged (a download manager's first `GET`, closed
/// while its ranged connections were starting): the overlap from the
/// earliest such request's start to the end of what it sent, at most
/// what is left of the pool `?4`. Marks it credited by `?5` (the attempt
/// id with a `:settled` suffix, for [`CREDIT_CLIP`]). Runs in the
/// settlement batch after [`SETTLE_ATTEMPT`].
/// `?1 order_id, ?2 clip_slug, ?3 attempt_id, ?4 credit pool, ?5 marker`.
pub const CREDIT_SETTLED: &str = concat!(
    "UPDATE download_attempts SET ",
    settled_credit!("credited_bytes = "),
    ", ",
    settled_credit!("credit_step = "),
    ", charged_bytes = charged_bytes - ",
    settled_credit!(""),
    ", credited_by = ?5 \
     WHERE attempt_id = ?3 AND completed = 0 AND credited_by IS NULL AND sent_bytes > 0 \
     AND EXISTS (SELECT 1 FROM download_attempts b WHERE b.order_id = ?1 AND b.clip_slug = ?2 \
         AND b.id > download_attempts.id AND b.reserved_bytes > 0 \
         AND b.span_offset < download_attempts.span_offset + download_attempts.sent_bytes \
         AND b.span_offset + b.span_length > download_attempts.span_offset)"
);

/// Gives back all that the downloads of the (order, clip) that broke
/// off on another version of the object (an R2 ETag other than `?3`:
/// the owner replaced the file since) were charged: their bytes are
/// worth nothing to the customer, who must start again, and a tight
/// link would refuse that. Not from the credit pool: only the owner's
/// upload changes R2's ETag (attempts served by the secondary origin,
/// whose ETags differ for the same bytes, have none). Attempts before
/// the clip's last reset are left alone: the reset gave them back.
/// Runs in the reservation batch before [`CREDIT_REPLACED_ATTEMPTS`],
/// which marks them, and before [`CREDIT_ATTEMPT`].
/// `?1 order_id, ?2 clip_slug, ?3 R2's ETag of the object now`.
pub const CREDIT_REPLACED_CLIP: &str = "UPDATE order_clips SET granted_bytes = MAX(0, granted_bytes - \
     (SELECT COALESCE(SUM(charged_bytes), 0) FROM download_attempts WHERE order_id = ?1 AND clip_slug = ?2 \
         AND etag IS NOT NULL AND etag <> ?3 AND completed = 0 AND settled_at IS NOT NULL AND credited_by IS NULL \
         AND charged_bytes > 0 \
         AND at > 1000 * COALESCE((SELECT MAX(e.at) FROM order_events e WHERE e.order_id = ?1 AND e.kind = 'reset' \
             AND (e.clip_slug IS NULL OR e.clip_slug = ?2)), 0))) \
     WHERE order_id = ?1 AND clip_slug = ?2";
/// Marks the attempts [`CREDIT_REPLACED_CLIP`] gave back, credited by
/// `?4` (the new attempt id with a `:replaced` suffix, which
/// [`CREDIT_CLIP`] does not count against the pool).
/// `?1 order_id, ?2 clip_slug, ?3 the object's ETag now, ?4 marker`.
pub const CREDIT_REPLACED_ATTEMPTS: &str = "UPDATE download_attempts SET \
     credited_bytes = COALESCE(credited_bytes, 0) + charged_bytes, charged_bytes = 0, credited_by = ?4 \
     WHERE order_id = ?1 AND clip_slug = ?2 AND etag IS NOT NULL AND etag <> ?3 AND completed = 0 \
     AND settled_at IS NOT NULL AND credited_by IS NULL AND charged_bytes > 0 \
     AND at > 1000 * COALESCE((SELECT MAX(e.at) FROM order_events e WHERE e.order_id = ?1 AND e.kind = 'reset' \
         AND (e.clip_slug IS NULL OR e.clip_slug = ?2)), 0)";

/// Whether the download whose sent bytes reach offset `?3` of the
/// (order, clip) (the latest that does: what a resume from `?3`
/// continues) was of another version of the object than R2's ETag `?4`
/// now, and no download of this version began at byte 0 since (a
/// download manager's or a player's first request, whose later ranges
/// are of this version). `?1 order_id, ?2 clip_slug, ?3 offset, ?4 ETag`.
pub const CONTINUES_ANOTHER_VERSION: &str = "WITH f AS (SELECT id, etag FROM download_attempts \
     WHERE order_id = ?1 AND clip_slug = ?2 AND reserved_bytes > 0 AND span_offset < ?3 \
     AND span_offset + COALESCE(sent_bytes, progress_bytes, 0) >= ?3 ORDER BY id DESC LIMIT 1) \
     SELECT COUNT(*) AS found FROM f WHERE f.etag IS NOT NULL AND f.etag <> ?4 \
     AND NOT EXISTS (SELECT 1 FROM download_attempts n WHERE n.order_id = ?1 AND n.clip_slug = ?2 \
         AND n.id > f.id AND n.etag = ?4 AND n.reserved_bytes > 0 AND n.span_offset = 0)";

/// The most a restart gives back of the broken downloads' charge: the
/// clip's size `$size` less what the refused start's own batch took from
/// the credit pool for attempt `$attempt` (which the restart gives back
/// to the pool), so that a restart gives back one clip at most in all.
macro_rules! restart_cap {
    ($size:literal, $attempt:literal) => {
        concat!(
            "MAX(0, ",
            $size,
            " - (SELECT COALESCE(SUM(s.credit_step), 0) FROM download_attempts s WHERE s.credited_by = ",
            $attempt,
            "))"
        )
    };
}

/// A fresh start of the whole clip after its downloads broke off, given
/// back once per (order, clip) between resets: records the `restart`
/// event (detail `?5`, which names the new attempt and marks what
/// [`RESTART_CLIP`] and [`RESTART_ATTEMPTS`] then give back). A browser
/// cannot resume a download its customer cancelled (it deletes the
/// file, and its Retry asks from byte 0), and the bytes the network held
/// count as sent: on a 1-download link a cancel past about three
/// quarters left nothing. What comes back is what the broken downloads
/// since the last reset are still charged, at most one clip (`?3`, its
/// size: overlapping fresh starts that each broke off add up to more).
/// Only when the order never received the clip whole (what its downloads
/// sent does not cover it), none of its downloads of the clip is in
/// flight (one may yet cover it), no restart was given since the clip's
/// last reset, the order and clip still download (as [`GRANT`] checks:
/// `?7` the link's `iat`), and the whole clip then fits (`?4` the
/// budget). Runs in a batch of its own, with [`RESTART_CLIP`],
/// [`RESTART_ATTEMPTS`] and [`GRANT`], once the fresh start was refused
/// (its own batch's pool credit already applied).
/// `?1 order_id, ?2 clip_slug, ?3 size, ?4 budget, ?5 detail, ?6 now (s), ?7 the link's iat,
/// ?8 the new attempt_id`.
pub const RESTART_EVENT: &str = concat!(
    "INSERT INTO order_events (order_id, at, kind, clip_slug, detail) SELECT ?1, ?6, 'restart', ?2, ?5 \
     WHERE NOT EXISTS (SELECT 1 FROM order_events r WHERE r.order_id = ?1 AND r.kind = 'restart' \
         AND r.clip_slug = ?2 AND r.id > ",
    last_reset_id!("?1", "?2"),
    ") AND ",
    covered_bytes!(
        "?1",
        "?2",
        "d.span_offset + COALESCE(d.sent_bytes, IIF(d.completed = 1, d.span_length, 0))",
        "d.span_offset IS NOT NULL"
    ),
    " < ?3 AND EXISTS (SELECT 1 FROM download_attempts x WHERE ",
    broken_since_reset!("x", "?1", "?2"),
    " AND x.charged_bytes > 0) \
     AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = ?1 AND (o.revoked_at IS NOT NULL OR o.not_before > ?7)) \
     AND NOT EXISTS (SELECT 1 FROM revoked_clips v WHERE v.order_id = ?1 AND v.clip_slug = ?2) \
     AND (SELECT c.reserved_bytes = 0 AND c.granted_bytes - MIN(",
    restart_cap!("?3", "?8"),
    ", (SELECT COALESCE(SUM(x.charged_bytes), 0) FROM download_attempts x WHERE ",
    broken_since_reset!("x", "?1", "?2"),
    ")) + ?3 <= ?4 FROM order_clips c WHERE c.order_id = ?1 AND c.clip_slug = ?2)"
);
/// Takes what [`RESTART_EVENT`] gives back (the broken downloads' charge,
/// at most the clip's size `?4` less the pool credit below) off the
/// (order, clip), when it recorded the restart `?3` (its detail); and
/// gives the credit pool back what the refused start's own batch took from
/// it (credited by `?5`), since the restart gives those bytes back anyway.
/// Both together are one clip at most: with the pool given back on top of
/// a whole clip, a 1-download link yielded 2.94 clips (the attack review). Before [`RESTART_ATTEMPTS`],
/// which moves those charges. `?1 order_id, ?2 clip_slug, ?3 detail, ?4 size, ?5 the new attempt_id`.
pub const RESTART_CLIP: &str = concat!(
    "UPDATE order_clips SET granted_bytes = MAX(0, granted_bytes - MIN(",
    restart_cap!("?4", "?5"),
    ", (SELECT COALESCE(SUM(x.charged_bytes), 0) FROM download_attempts x WHERE ",
    broken_since_reset!("x", "?1", "?2"),
    "))), credited_bytes = MAX(0, credited_bytes - (SELECT COALESCE(SUM(credit_step), 0) FROM download_attempts \
         WHERE credited_by = ?5)) \
     WHERE order_id = ?1 AND clip_slug = ?2 \
     AND EXISTS (SELECT 1 FROM order_events WHERE order_id = ?1 AND kind = 'restart' AND detail = ?3)"
);
/// Moves the charge [`RESTART_CLIP`] gave back to the broken downloads'
/// `credited_bytes`, newest first, up to the same cap in all (credited by
/// `?3` unless a resume credited them before).
/// `?1 order_id, ?2 clip_slug, ?3 detail, ?4 size, ?5 the new attempt_id`.
pub const RESTART_ATTEMPTS: &str = concat!(
    "UPDATE download_attempts SET credited_bytes = COALESCE(credited_bytes, 0) + g.back, \
     charged_bytes = charged_bytes - g.back, credited_by = COALESCE(credited_by, ?3) \
     FROM (SELECT x.id AS gid, MIN(x.charged_bytes, MAX(0, ",
    restart_cap!("?4", "?5"),
    " - COALESCE(SUM(x.charged_bytes) \
         OVER (ORDER BY x.id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))) AS back \
         FROM download_attempts x WHERE ",
    broken_since_reset!("x", "?1", "?2"),
    " AND x.charged_bytes > 0) AS g \
     WHERE download_attempts.id = g.gid AND g.back > 0 \
     AND EXISTS (SELECT 1 FROM order_events WHERE order_id = ?1 AND kind = 'restart' AND detail = ?3)"
);

/// Applies the credit of [`CREDIT_ATTEMPT`] (or [`CREDIT_SETTLED`]) to the
/// (order, clip): each credited attempt's latest `credit_step`.
/// `?1 order_id, ?2 clip_slug, ?3 the new attempt_id`.
pub const CREDIT_CLIP: &str = "UPDATE order_clips SET \
     granted_bytes = MAX(0, granted_bytes - (SELECT COALESCE(SUM(credit_step), 0) FROM download_attempts WHERE credited_by = ?3)), \
     credited_bytes = credited_bytes + (SELECT COALESCE(SUM(credit_step), 0) FROM download_attempts WHERE credited_by = ?3) \
     WHERE order_id = ?1 AND clip_slug = ?2 AND EXISTS (SELECT 1 FROM download_attempts WHERE credited_by = ?3)";

/// Settles a reservation once its response has ended (streamed to the
/// end, or the client went away): of the `?3` bytes reserved, only the
/// `?4` charged stay (what was sent, at least the least charge). Runs only while the attempt `?5` is not
/// settled yet, in one batch (transaction) before [`SETTLE_ATTEMPT`],
/// so settling twice gives back nothing twice.
/// `?1 order_id, ?2 clip_slug, ?3 reserved, ?4 charged, ?5 attempt_id, ?6 now (s)`.
pub const SETTLE_CLIP: &str = "UPDATE order_clips SET granted_bytes = MAX(0, granted_bytes - (?3 - ?4)), \
     reserved_bytes = MAX(0, reserved_bytes - ?3), updated_at = ?6 \
     WHERE order_id = ?1 AND clip_slug = ?2 \
     AND EXISTS (SELECT 1 FROM download_attempts WHERE attempt_id = ?5 AND settled_at IS NULL)";

/// Marks the attempt settled with what it sent, its charge from now on
/// (what it sent, at least the least charge) and all it reserved (more
/// than its first reservation when reserved in steps); `?6` 1 when the
/// stale sweep settles it (`crate::stale`).
/// `?1 attempt_id, ?2 sent, ?3 completed (0/1), ?4 now (ms), ?5 reserved, ?6 swept (0/1), ?7 charged`.
pub const SETTLE_ATTEMPT: &str = "UPDATE download_attempts SET sent_bytes = ?2, charged_bytes = ?7, completed = ?3, \
     settled_at = ?4, reserved_bytes = ?5, swept = ?6 WHERE attempt_id = ?1 AND settled_at IS NULL";

/// The real settlement of an attempt the stale sweep settled first (it
/// was alive after all, its reports lost while D1 failed): charges what
/// it sent beyond what the sweep charged (both at least the least charge
/// `?6`). Runs before [`CORRECT_SWEPT_ATTEMPT`], which clears the mark,
/// so it applies once.
/// `?1 order_id, ?2 clip_slug, ?3 sent, ?4 attempt_id, ?5 now (s), ?6 least charge`.
pub const CORRECT_SWEPT_CLIP: &str = "UPDATE order_clips SET \
     granted_bytes = granted_bytes + MAX(0, ?3 - (SELECT MAX(sent_bytes, ?6) FROM download_attempts WHERE attempt_id = ?4)), \
     updated_at = ?5 WHERE order_id = ?1 AND clip_slug = ?2 \
     AND EXISTS (SELECT 1 FROM download_attempts WHERE attempt_id = ?4 AND swept = 1)";

/// The attempt's side of [`CORRECT_SWEPT_CLIP`].
/// `?1 attempt_id, ?2 sent, ?3 completed (0/1), ?4 least charge`.
pub const CORRECT_SWEPT_ATTEMPT: &str = "UPDATE download_attempts SET \
     charged_bytes = charged_bytes + MAX(0, ?2 - MAX(sent_bytes, ?4)), sent_bytes = MAX(sent_bytes, ?2), \
     completed = ?3, swept = 0 WHERE attempt_id = ?1 AND swept = 1";

/// The migrations applied to D1 (wrangler's own table).
pub const APPLIED_MIGRATIONS: &str = "SELECT name FROM d1_migrations ORDER BY id";

/// A streaming response's progress: the bytes of the segments it has
/// started, and when (`crate::stale`). Only while it is unsettled.
/// `?1 attempt_id, ?2 bytes, ?3 now (ms)`.
pub const PROGRESS: &str = "UPDATE download_attempts SET progress_bytes = ?2, progress_at = ?3 \
     WHERE attempt_id = ?1 AND settled_at IS NULL";

/// What a response reserved in steps has reserved so far, on its row
/// (its settlement writes the total too). `?1 attempt_id, ?2 bytes`.
pub const RESERVED_SO_FAR: &str =
    "UPDATE download_attempts SET reserved_bytes = ?2 WHERE attempt_id = ?1 AND settled_at IS NULL";

/// Responses reserved in D1 that never settled and have given no news
/// since `?1` (unix ms): their isolate stopped mid-stream
/// (`crate::stale`). With what settling them needs; oldest first, at
/// most `?2`.
pub const STALE_ATTEMPTS: &str =
    "SELECT a.attempt_id AS attempt_id, a.order_id AS order_id, a.clip_slug AS clip_slug, \
     a.span_offset AS span_offset, a.span_length AS span_length, a.reserved_bytes AS reserved_bytes, \
     a.progress_bytes AS progress_bytes, COALESCE(c.clip_size, 0) AS clip_size, COALESCE(o.allowance, 0) AS allowance \
     FROM download_attempts a \
     LEFT JOIN order_clips c ON c.order_id = a.order_id AND c.clip_slug = a.clip_slug \
     LEFT JOIN orders o ON o.order_id = a.order_id \
     WHERE a.settled_at IS NULL AND a.reserved_bytes > 0 AND a.recorded_via = 'd1' \
     AND a.order_id IS NOT NULL AND a.clip_slug IS NOT NULL AND COALESCE(a.progress_at, a.at) < ?1 \
     ORDER BY a.at LIMIT ?2";

/// Replays a grant written to the R2 fallback while D1 was down: no
/// budget check (the bytes were already sent), and only if the attempt
/// is not in the ledger yet, so merging twice never charges twice. Runs
/// in one batch (transaction) before [`RECORD_ATTEMPT`].
/// `?1 order_id, ?2 clip_slug, ?3 bytes, ?4 clip size, ?5 unit, ?6 budget, ?7 now (s), ?8 attempt_id`.
pub const MERGE_GRANT: &str = "INSERT INTO order_clips (order_id, clip_slug, granted_bytes, clip_size, unit_bytes, budget_bytes, updated_at) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
     WHERE NOT EXISTS (SELECT 1 FROM download_attempts WHERE attempt_id = ?8) \
     ON CONFLICT (order_id, clip_slug) DO UPDATE SET granted_bytes = order_clips.granted_bytes + excluded.granted_bytes, updated_at = excluded.updated_at \
     WHERE NOT EXISTS (SELECT 1 FROM download_attempts WHERE attempt_id = ?8)";

/// Why a grant was refused, and how much of the charge is still in
/// flight (a refused request waits for that to settle, see
/// [`crate::allowance::settlement_could_make_room`]). `?1 order_id, ?2 clip_slug`.
pub const REFUSAL_STATE: &str =
    "SELECT o.revoked_at AS revoked_at, o.revoked_reason AS revoked_reason, o.not_before AS not_before, \
     c.granted_bytes AS granted_bytes, c.reserved_bytes AS reserved_bytes, \
     COALESCE((SELECT IIF(r.reason = 'refunded', 2, 1) FROM revoked_clips r \
         WHERE r.order_id = ?1 AND r.clip_slug = ?2), 0) AS clip_revoked \
     FROM orders o LEFT JOIN order_clips c ON c.order_id = o.order_id AND c.clip_slug = ?2 WHERE o.order_id = ?1";

/// Appends one attempt (ignored if its `attempt_id` is already there).
/// `?1 attempt_id, ?2 at (ms), ?3 order_id, ?4 clip_slug, ?5 key_id, ?6 method, ?7 range_header, ?8 status,
///  ?9 outcome, ?10 span_offset, ?11 span_length, ?12 charged_bytes, ?13 client_ip, ?14 country, ?15 user_agent,
///  ?16 recorded_via, ?17 reserved_bytes, ?18 sent_bytes, ?19 completed, ?20 settled_at, ?21 origin, ?22 etag`.
pub const RECORD_ATTEMPT: &str = "INSERT OR IGNORE INTO download_attempts (attempt_id, at, order_id, clip_slug, key_id, method, range_header, status, outcome, \
     span_offset, span_length, charged_bytes, client_ip, country, user_agent, recorded_via, reserved_bytes, sent_bytes, completed, settled_at, origin, etag) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)";

/// Adds an isolate's count of refusals (`crate::refusals`).
/// `?1 minute, ?2 code, ?3 count`.
pub const COUNT_REFUSALS: &str = "INSERT INTO refusal_minutes (minute, code, n) VALUES (?1, ?2, ?3) \
     ON CONFLICT (minute, code) DO UPDATE SET n = n + ?3";

/// Forgets refusal counts older than `?1` (unix minutes); the cron runs it.
pub const PRUNE_REFUSAL_MINUTES: &str = "DELETE FROM refusal_minutes WHERE minute < ?1";

/// Remembers a link of an order. `?1 order_id, ?2 key_id, ?3 issued_at, ?4 expires_at, ?5 now (s)`.
pub const LINK_SEEN: &str = "INSERT OR IGNORE INTO order_links (order_id, key_id, issued_at, expires_at, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Records an order's event: an owner's operation, or the webhook's
/// `create` and `revoke`. `?1 order_id, ?2 now (s), ?3 kind, ?4 clip or NULL, ?5 detail or NULL`.
pub const EVENT: &str = "INSERT INTO order_events (order_id, at, kind, clip_slug, detail) VALUES (?1, ?2, ?3, ?4, ?5)";

/// The owner's correction of an order's address (`resend --to …
/// --replace-address`: a typo at checkout), recorded with the
/// checkout's address it replaces; run before [`CHECKOUT_ADDRESS`].
/// "Lost your download link?" then finds the order by the new address
/// only: the checkout's is the new one, and mails sent before this
/// event no longer count ([`of_address`]). `?1 order_id, ?2 address, ?3 now (s)`.
pub const REPLACE_ADDRESS: &str = "INSERT INTO order_events (order_id, at, kind, clip_slug, detail) \
     SELECT ?1, ?3, 'address', NULL, 'to ' || ?2 || COALESCE(', was ' || \
     (SELECT customer_email FROM checkouts WHERE order_id = ?1 ORDER BY created_at LIMIT 1), '')";

/// The checkout of order `?1` takes the address `?2` ([`REPLACE_ADDRESS`]).
pub const CHECKOUT_ADDRESS: &str = "UPDATE checkouts SET customer_email = ?2 WHERE order_id = ?1";

/// An order's links and events, oldest first. `?1 order_id`.
pub const ORDER_LINKS: &str =
    "SELECT key_id, issued_at, expires_at, first_seen_at FROM order_links WHERE order_id = ?1 ORDER BY issued_at";
pub const ORDER_EVENTS: &str = "SELECT at, kind, clip_slug, detail FROM order_events WHERE order_id = ?1 ORDER BY id";

/// Reset of every order with an attempt in `[?1, ?2)` (ms): the event
/// rows first, then the reset, in one batch (transaction).
/// Events: `?1 from, ?2 to, ?3 now (s), ?4 detail`; reset: `?1 from, ?2 to, ?3 now (s)`.
pub const RESET_WINDOW_EVENTS: &str = "INSERT INTO order_events (order_id, at, kind, clip_slug, detail) \
     SELECT DISTINCT order_id, ?3, 'reset', NULL, ?4 FROM download_attempts WHERE order_id IS NOT NULL AND at >= ?1 AND at < ?2";
pub const RESET_WINDOW: &str = "UPDATE order_clips SET granted_bytes = 0, credited_bytes = 0, updated_at = ?3 WHERE order_id IN \
     (SELECT DISTINCT order_id FROM download_attempts WHERE order_id IS NOT NULL AND at >= ?1 AND at < ?2) RETURNING order_id";

/// "Paid but never fully downloaded": orders created in `[?1, ?2)` (s),
/// not revoked, with a clip (not refunded on its own) never downloaded, or of which the bodies that
/// streamed to their end covered less than the whole clip (the union of
/// their spans: a player reading its first chunk again and again covers
/// it once), or not its last byte. A body that broke off counts up to
/// where a later body that streamed to its end resumed it (`wget -c`:
/// the resume's start says the file held what came before). Counted
/// from the attempts, not from the charge: a download
/// manager's or a player's credits, and an owner's reset, leave a clip
/// downloaded whole charged less than a clip. `?3 limit`.
pub const NEVER_FULLY_DOWNLOADED: &str = concat!(
    order_summary_columns!(),
    "FROM orders o WHERE o.revoked_at IS NULL AND o.created_at >= ?1 AND o.created_at < ?2 \
     AND EXISTS (SELECT 1 FROM json_each(o.clips) j LEFT JOIN order_clips c ON c.order_id = o.order_id AND c.clip_slug = j.value \
                 WHERE j.value NOT IN (SELECT r.clip_slug FROM revoked_clips r WHERE r.order_id = o.order_id) \
                 AND (c.granted_bytes IS NULL OR ",
    covered_bytes!(
        "o.order_id",
        "j.value",
        "IIF(d.completed = 1, d.span_offset + d.span_length, (SELECT MAX(b.span_offset) FROM download_attempts b \
         WHERE b.order_id = d.order_id AND b.clip_slug = d.clip_slug AND b.completed = 1 AND b.id > d.id \
         AND b.span_offset > d.span_offset AND b.span_offset <= d.span_offset + d.sent_bytes))",
        "(d.completed = 1 OR d.sent_bytes > 0)"
    ),
    " < c.clip_size \
                 OR NOT EXISTS (SELECT 1 FROM download_attempts a \
                                WHERE a.order_id = o.order_id AND a.clip_slug = j.value AND a.completed = 1 \
                                AND a.span_offset + a.span_length = c.clip_size))) \
     ORDER BY o.created_at DESC, o.order_id LIMIT ?3"
);

/// Whether one response of the order sent the clip whole, from its first
/// byte to its last (`?3` bytes), since its last reset: a download tool's
/// opening request is then no resume (`runtime::reservation`). Not
/// pieces that cover it: a download manager's connections on a slow
/// line, broken off, were each taken to have sent what the network's
/// buffers took (megabytes each), and together the whole clip, which
/// refused its `aria2c -c` the headers it resumes from.
/// With `?4` above 0, instead: a response that sent the clip's end,
/// from wherever it began (a resume's too), and ended since then (unix
/// ms): that end may still be on its way to the customer.
/// `?1 order_id, ?2 clip_slug, ?3 size, ?4 ended since (ms) or 0`.
pub const RECEIVED_IN_ONE: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM download_attempts d WHERE d.order_id = ?1 AND d.clip_slug = ?2 \
     AND (d.span_offset = 0 OR ?4 > 0) AND d.completed = 1 AND d.span_offset + d.span_length >= ?3 \
     AND COALESCE(d.settled_at, 0) >= ?4 AND d.at > 1000 * ",
    last_reset!("?1", "?2"),
    ") AS found"
);

/// Customers stuck with a clip they never received whole: since `?1`
/// (unix ms), a request longer than a player's chunk
/// (`allowance::media_chunk`) was refused for the allowance, since the
/// clip's last reset, while the order still downloads (`?2` now, s),
/// and it was
/// - a resume (a span from past byte 0 to the clip's end), or a fresh
///   start once its restart was given ([`RESTART_EVENT`]), and no
///   download of the clip completed, whole or in pieces that cover it;
/// - or a download manager's resume of a piece: its span starts inside
///   what an earlier response was taken to have sent, not all of that
///   overlap given back (a credit for another part of it, as aria2c's
///   opening `GET` gets for its tail, had hidden such a customer from the
///   alert: the alerts review), and no one response sent the clip whole ([`RECEIVED_IN_ONE`]).
///   Its connections on a slow line, stopped, had each "completed"
///   into the network's buffers, more than the resume credit gives back.
///
/// One row per (order, clip), by its first such refusal; `count`, the
/// newest of those ids (`newest`, so that a further customer is
/// announced), and the latest one's order and clip (`latest`), for the
/// self-test's `downloads_stuck`.
pub const DOWNLOADS_STUCK: &str = concat!(
    "WITH stuck AS (SELECT MIN(a.id) AS id, MIN(a.at) AS first_at, \
     a.order_id AS order_id, a.clip_slug AS clip_slug FROM download_attempts a \
     JOIN orders o ON o.order_id = a.order_id \
     JOIN order_clips c ON c.order_id = a.order_id AND c.clip_slug = a.clip_slug \
     WHERE a.outcome = 'allowance_used_up' AND ((a.span_offset > 0 OR EXISTS (SELECT 1 FROM order_events r \
         WHERE r.order_id = a.order_id AND r.kind = 'restart' AND r.clip_slug = a.clip_slug AND a.at > 1000 * r.at \
         AND r.id > ",
    last_reset_id!("a.order_id", "a.clip_slug"),
    ")) \
     AND a.span_offset + a.span_length >= c.clip_size AND ",
    covered_bytes!("a.order_id", "a.clip_slug", "d.span_offset + d.span_length", "d.completed = 1"),
    " < c.clip_size \
     OR EXISTS (SELECT 1 FROM download_attempts p WHERE p.order_id = a.order_id AND p.clip_slug = a.clip_slug \
         AND p.id < a.id AND p.span_offset < a.span_offset AND a.span_offset < p.span_offset + p.sent_bytes \
         AND COALESCE(p.credited_bytes, 0) < p.span_offset + p.sent_bytes - a.span_offset) \
     AND NOT EXISTS (SELECT 1 FROM download_attempts w WHERE w.order_id = a.order_id AND w.clip_slug = a.clip_slug \
         AND w.span_offset = 0 AND w.completed = 1 AND w.span_length >= c.clip_size AND w.at > 1000 * ",
    last_reset!("a.order_id", "a.clip_slug"),
    ")) \
     AND a.span_length > MIN(MAX(c.clip_size / 32, 65536), 2097152) \
     AND o.revoked_at IS NULL AND (o.expires_at IS NULL OR o.expires_at > ?2) \
     AND a.at > COALESCE((SELECT MAX(e.at) * 1000 FROM order_events e WHERE e.order_id = a.order_id \
         AND e.kind = 'reset' AND (e.clip_slug IS NULL OR e.clip_slug = a.clip_slug)), 0) \
     GROUP BY a.order_id, a.clip_slug HAVING MIN(a.at) >= ?1) \
     SELECT COUNT(*) AS count, MAX(id) AS newest, \
     (SELECT group_concat(one, '; ') FROM (SELECT 'order ' || order_id || ', clip ' || clip_slug AS one \
         FROM stuck ORDER BY id DESC LIMIT 5)) AS latest FROM stuck"
);

/// What orders that still download bought (not revoked, not expired;
/// a clip refunded on its own left out): each clip and file (`variant`,
/// NULL for the main one) once, with how many orders, for the
/// self-test's look against the deployed catalog
/// (`crate::monitor::sold_gone_problem`). `?1 now (s)`.
pub const SOLD_ITEMS: &str = "SELECT j.value AS slug, \
     json_extract(o.choices, '$.\"' || j.value || '\".variant') AS variant, COUNT(*) AS orders \
     FROM orders o, json_each(o.clips) j \
     WHERE o.revoked_at IS NULL AND (o.expires_at IS NULL OR o.expires_at > ?1) \
     AND NOT EXISTS (SELECT 1 FROM revoked_clips r WHERE r.order_id = o.order_id AND r.clip_slug = j.value) \
     GROUP BY 1, 2 ORDER BY 1, 2";

/// The order row. `?1 order_id`.
pub const ORDER: &str =
    "SELECT order_id, clips, allowance, customer_ref, expires_at, token_issued_at, not_before, revoked_at, \
     revoked_reason, source, created_at, choices, \
     (SELECT MIN(issued_at) FROM order_links l WHERE l.order_id = orders.order_id) AS first_issued, \
     (SELECT json_group_array(clip_slug) FROM revoked_clips r WHERE r.order_id = orders.order_id) AS revoked_clips, \
     (SELECT json_group_array(clip_slug) FROM revoked_clips r WHERE r.order_id = orders.order_id \
         AND r.reason = 'refunded') AS refunded_clips \
     FROM orders WHERE order_id = ?1";

/// Bytes granted per clip of an order, the pool's credit spent, what
/// the latest attempt that broke off was charged if a new download of the
/// whole clip would be credited for it ([`CREDIT_ATTEMPT`]'s choice for a
/// span from 0: settled, broken off, not credited since it settled; what
/// it sent less its credit), and where the
/// file of the latest download stops when it broke off (`broken_at`): a
/// span to the end of the clip (a download from the start, a resume, a
/// download manager's last piece), longer than a media element's chunk
/// (`allowance::media_chunk`: 1/32 of the size, 64 KiB to 2 MiB; a
/// player's request is no download to resume). A plain `GET` granted only
/// its first segment (`segments::FIRST_SEGMENT`, 256 KiB: a download
/// tool's opening request, cut off as a probe) is passed over: the
/// download before it is the one to resume. `restart_credit`: what a
/// fresh start would be given back after the clip's downloads broke off
/// ([`RESTART_EVENT`]), NULL when it is given no restart (one was given
/// since the last reset, or the order received the clip whole).
/// `finished_from`: where the latest download sent to the clip's end
/// started, when it finished or handed all its bytes to the network
/// without ending (a cancel while a buffer ahead of the browser held
/// its end), for [`OrderClipRow::resume_tail`]. `?1 order_id`.
pub const ORDER_CLIPS: &str = concat!(
    "SELECT clip_slug, granted_bytes, clip_size, unit_bytes, budget_bytes, updated_at, credited_bytes, reserved_bytes, \
     (SELECT a.sent_bytes - COALESCE(a.credited_bytes, 0) FROM download_attempts a \
         WHERE a.order_id = order_clips.order_id AND a.clip_slug = order_clips.clip_slug \
         AND a.completed = 0 AND a.settled_at IS NOT NULL AND a.charged_bytes > 0 \
         AND (a.credited_by IS NULL OR a.credited_by LIKE '%:settled:%') \
         AND a.sent_bytes > COALESCE(a.credited_bytes, 0) AND a.at > 1000 * ",
    last_reset!("order_clips.order_id", "order_clips.clip_slug"),
    " ORDER BY a.at DESC, a.id DESC LIMIT 1) AS interrupted_bytes, \
     (SELECT CASE WHEN a.completed = 0 AND a.sent_bytes > 0 AND a.span_offset + a.span_length >= order_clips.clip_size \
         AND a.span_length > MIN(MAX(order_clips.clip_size / 32, 65536), 2097152) THEN a.span_offset + a.sent_bytes END \
         FROM download_attempts a WHERE a.order_id = order_clips.order_id AND a.clip_slug = order_clips.clip_slug \
         AND a.settled_at IS NOT NULL AND a.reserved_bytes > 0 \
         AND NOT (a.range_header IS NULL AND a.reserved_bytes < a.span_length AND a.reserved_bytes <= 262144) \
         ORDER BY a.at DESC, a.id DESC LIMIT 1) AS broken_at, \
     (SELECT CASE WHEN (a.completed = 1 OR a.sent_bytes >= a.span_length) AND a.credited_by IS NULL \
         AND a.span_offset + a.span_length >= order_clips.clip_size \
         AND a.span_length > MIN(MAX(order_clips.clip_size / 32, 65536), 2097152) THEN a.span_offset END \
         FROM download_attempts a WHERE a.order_id = order_clips.order_id AND a.clip_slug = order_clips.clip_slug \
         AND a.settled_at IS NOT NULL AND a.reserved_bytes > 0 \
         AND NOT (a.range_header IS NULL AND a.reserved_bytes < a.span_length AND a.reserved_bytes <= 262144) \
         ORDER BY a.at DESC, a.id DESC LIMIT 1) AS finished_from, \
     (SELECT IIF(EXISTS (SELECT 1 FROM order_events r WHERE r.order_id = order_clips.order_id \
         AND r.kind = 'restart' AND r.clip_slug = order_clips.clip_slug AND r.id > ",
    last_reset_id!("order_clips.order_id", "order_clips.clip_slug"),
    ") OR ",
    covered_bytes!(
        "order_clips.order_id",
        "order_clips.clip_slug",
        "d.span_offset + COALESCE(d.sent_bytes, IIF(d.completed = 1, d.span_length, 0))",
        "d.span_offset IS NOT NULL"
    ),
    " >= order_clips.clip_size, NULL, MIN(order_clips.clip_size, SUM(x.charged_bytes))) FROM download_attempts x WHERE ",
    broken_since_reset!("x", "order_clips.order_id", "order_clips.clip_slug"),
    ") AS restart_credit FROM order_clips WHERE order_id = ?1 ORDER BY clip_slug"
);

/// Orders with totals, newest first. `?1 limit`.
/// Fails ("no such table") unless the tables a paid order is written to
/// are there: the checkout's test when `d1_migrations` is missing.
pub const ORDER_TABLES_PRESENT: &str =
    "SELECT 1 FROM orders, order_clips, checkouts, payment_events, outbox, order_events LIMIT 0";

/// Requests refused since `?1` (unix minutes) for a key the Worker does
/// not have, and the key ids the refused links named, for the
/// `links_refused` problem: the counts isolates wrote
/// (`refusal_minutes`, order pages included), or the rows of the first
/// few a minute since `?2` (unix ms), written at once, when more (an
/// isolate's counts wait for its next refusal in a later minute).
pub const LINKS_REFUSED_KEY: &str = "SELECT MAX( \
     (SELECT COALESCE(SUM(n), 0) FROM refusal_minutes WHERE code = 'unknown_key' AND minute >= ?1), \
     (SELECT COUNT(*) FROM download_attempts WHERE at >= ?2 AND outcome = 'unknown_key')) AS count, NULL AS newest, \
     (SELECT GROUP_CONCAT(DISTINCT key_id) FROM download_attempts WHERE at >= ?2 AND outcome = 'unknown_key' \
      AND key_id IS NOT NULL) AS latest";

/// Deliveries to the payment webhook refused for their signature since
/// `?1` (unix ms), for the `webhook_refused` problem (`newest`: the last).
pub const WEBHOOK_REFUSED: &str = "SELECT COUNT(*) AS count, MAX(at) AS newest, NULL AS latest \
     FROM payment_events WHERE at >= ?1 AND outcome = 'bad_signature'";

/// What a partial refund's naming of a line needs: how many partial
/// refunds of the payment came before (Stripe's `amount_refunded` is
/// the running total, no one line's price after the first), and the
/// order's clips already revoked one by one (a JSON array).
/// `?1 provider, ?2 payment_id, ?3 order_id`.
pub const PARTIAL_REFUND_CONTEXT: &str = "SELECT \
     (SELECT COUNT(*) FROM payment_events WHERE provider = ?1 AND session_id = ?2 AND outcome = 'partial_refund') AS earlier, \
     (SELECT json_group_array(clip_slug) FROM revoked_clips WHERE order_id = ?3) AS revoked";

/// Who bought an order and what they paid, for `site-gen orders show`:
/// its checkout's address, amount, currency and payment, or, with no
/// checkout (an order minted by hand), the address its link was last
/// mailed to. `?1 order_id`.
pub const ORDER_CUSTOMER: &str = concat!(
    "SELECT COALESCE(c.customer_email, (SELECT x.to_addr FROM outbox x WHERE x.order_id = ?1 \
     AND x.kind IN ('order', 'resend') AND x.status = 'sent'",
    since_address_replaced!("?1"),
    "ORDER BY x.id DESC LIMIT 1)) AS customer_email, \
     c.amount_total AS amount_total, c.currency AS currency, c.payment_id AS payment_id \
     FROM (SELECT ?1 AS order_id) q LEFT JOIN checkouts c ON c.order_id = q.order_id \
     ORDER BY c.created_at LIMIT 1"
);

pub const LIST_ORDERS: &str =
    concat!(order_summary_columns!(), "FROM orders o ORDER BY o.created_at DESC, o.order_id LIMIT ?1");

/// The orders of an e-mail address (as [`ORDERS_OF_EMAIL`] finds them),
/// newest first, for the owner: "I paid with jane@…, no link came".
/// `?1 address, ?2 limit`.
pub const LIST_ORDERS_OF_EMAIL: &str = concat!(
    order_summary_columns!(),
    "FROM orders o WHERE ",
    of_address!(),
    " ORDER BY o.created_at DESC, o.order_id LIMIT ?2"
);

/// Attempts, oldest first, for export and `orders show`.
/// `?1 order_id or NULL for all, ?2 after id, ?3 limit`.
pub const ATTEMPTS: &str = "SELECT a.id AS id, a.attempt_id AS attempt_id, a.at AS at, a.order_id AS order_id, a.clip_slug AS clip_slug, \
     a.key_id AS key_id, a.method AS method, a.range_header AS range_header, a.status AS status, a.outcome AS outcome, \
     a.span_offset AS span_offset, a.span_length AS span_length, a.charged_bytes AS charged_bytes, a.client_ip AS client_ip, \
     a.country AS country, a.user_agent AS user_agent, a.recorded_via AS recorded_via, a.completed AS completed, \
     a.reserved_bytes AS reserved_bytes, a.sent_bytes AS sent_bytes, a.settled_at AS settled_at, \
     a.credited_bytes AS credited_bytes, a.origin AS origin \
     FROM download_attempts a WHERE (?1 IS NULL OR a.order_id = ?1) AND a.id > ?2 ORDER BY a.id LIMIT ?3";

/// Creates an order from the admin API. `?1 order_id, ?2 clips (JSON), ?3 allowance, ?4 customer_ref,
/// ?5 expires_at, ?6 now (s), ?7 choices (JSON object or NULL)`. Returns the row, or none if it exists.
pub const CREATE_ORDER: &str =
    "INSERT INTO orders (order_id, clips, allowance, customer_ref, expires_at, source, created_at, choices) \
     VALUES (?1, ?2, ?3, ?4, ?5, 'admin', ?6, ?7) ON CONFLICT (order_id) DO NOTHING RETURNING order_id";

/// Gives back every download of an order (or of one clip `?2`). `?1 order_id, ?2 clip or NULL, ?3 now (s)`.
pub const RESET: &str = "UPDATE order_clips SET granted_bytes = 0, credited_bytes = 0, updated_at = ?3 \
     WHERE order_id = ?1 AND (?2 IS NULL OR clip_slug = ?2) RETURNING clip_slug";

/// Revokes an order (also one never seen yet). An order revoked for a
/// refund keeps that reason, so that a reissue still asks the owner to
/// confirm it; one revoked for an open dispute becomes the owner's, so
/// that winning the dispute does not undo the owner's revoke
/// ([`RESTORE_AFTER_DISPUTE`]; `site-gen orders reissue` still asks for
/// `--despite-refund` while the order's events show the dispute
/// open); one revoked before reasons were kept
/// gets 'admin'. (In `DO UPDATE`, a bare column is the row's value
/// before it.) `?1 order_id, ?2 now (s)`.
pub const REVOKE: &str =
    "INSERT INTO orders (order_id, clips, allowance, source, created_at, revoked_at, revoked_reason) \
     VALUES (?1, '[]', 0, 'admin', ?2, ?2, 'admin') \
     ON CONFLICT (order_id) DO UPDATE SET revoked_at = excluded.revoked_at, \
     revoked_reason = IIF(revoked_at IS NULL OR revoked_reason = 'disputed', 'admin', IFNULL(revoked_reason, 'admin'))";

/// Revokes a paid order for a refund or dispute, once (a redelivered
/// event changes nothing). A full refund also takes over from an open
/// dispute (Stripe advises refunding to settle an inquiry): the dispute
/// closing in the shop's favour then restores nothing. A refund takes
/// over from the owner's revoke (its reason is kept for `site-gen orders
/// reissue`); a dispute does not, so that a dispute won later does not
/// undo what the owner revoked before it.
/// `?1 order_id, ?2 now (s), ?3 reason ('refunded', 'disputed')`.
pub const REVOKE_FOR_MONEY_BACK: &str = "UPDATE orders SET revoked_at = ?2, revoked_reason = ?3 \
     WHERE order_id = ?1 AND (revoked_at IS NULL \
     OR (revoked_reason IN ('admin', 'disputed') AND ?3 = 'refunded')) RETURNING order_id";

/// In a paid checkout's batch: revokes its order when a full refund or
/// dispute of its payment arrived meanwhile (`revoke_pending`): the
/// webhook read none before its batch, but Stripe may deliver both at
/// once; an order the owner attaches a payment to may be years old. As
/// in [`REVOKE_FOR_MONEY_BACK`], a refund takes over from the owner's
/// revoke (or a dispute's), so that a reissue asks to confirm it.
/// `?1 order_id, ?2 now (s), ?3 provider, ?4 payment id`.
pub const REVOKE_IF_PENDING: &str = concat!(
    "UPDATE orders SET revoked_at = ?2, revoked_reason = (",
    pending_revocation!("?3", "?4"),
    ") WHERE order_id = ?1 AND EXISTS (",
    pending_revocation!("?3", "?4"),
    ") AND (revoked_at IS NULL OR (revoked_reason IN ('admin', 'disputed') AND (",
    pending_revocation!("?3", "?4"),
    ") = 'refunded')) RETURNING order_id"
);

/// The `revoke` event of an order the statement before revoked at `?2`
/// (a refund that raced its checkout): the order `?1`, or the order of
/// the payment `?4`. `?1 order_id or NULL, ?2 now (s), ?3 detail, ?4 payment id or NULL`.
pub const EVENT_IF_REVOKED_NOW: &str = "INSERT INTO order_events (order_id, at, kind, clip_slug, detail) \
     SELECT order_id, ?2, 'revoke', NULL, ?3 FROM orders WHERE revoked_at = ?2 \
     AND (order_id = ?1 OR order_id IN (SELECT order_id FROM checkouts WHERE payment_id = ?4))";

/// In the batch of a refund or dispute that found no order: revokes the
/// order of the payment if its checkout's batch made one meanwhile (the
/// same race, the other way round). `?1 payment id, ?2 now (s), ?3 reason, ?4 provider`.
pub const REVOKE_OF_PAYMENT: &str = "UPDATE orders SET revoked_at = ?2, revoked_reason = ?3 \
     WHERE order_id IN (SELECT order_id FROM checkouts WHERE provider = ?4 AND payment_id = ?1) \
     AND (revoked_at IS NULL OR (revoked_reason IN ('admin', 'disputed') AND ?3 = 'refunded')) \
     RETURNING order_id";

/// In a won dispute's batch, before [`RESTORE_AFTER_DISPUTE`]: the
/// order's `restore` event, when its dispute revoked it at `?4` (as the
/// webhook read it). `?1 order_id, ?2 now (s), ?3 detail, ?4 revoked at`.
pub const EVENT_IF_DISPUTED: &str = "INSERT INTO order_events (order_id, at, kind, clip_slug, detail) \
     SELECT order_id, ?2, 'restore', NULL, ?3 FROM orders \
     WHERE order_id = ?1 AND revoked_at = ?4 AND revoked_reason = 'disputed'";

/// A dispute closed in the shop's favour: the order its dispute revoked
/// at `?3` works again, expiring at `?2` when that is given (the time
/// the dispute took given back, `payments::restored_expiry`); a
/// refund's or the owner's revoke stays. The reason goes with the revoke
/// (`orders show` said "disputed" of a working order); the order's
/// events keep the dispute. Returns the row.
/// `?1 order_id, ?2 new expiry or NULL, ?3 revoked at`.
pub const RESTORE_AFTER_DISPUTE: &str =
    "UPDATE orders SET revoked_at = NULL, revoked_reason = NULL, expires_at = COALESCE(?2, expires_at) \
     WHERE order_id = ?1 AND revoked_at = ?3 AND revoked_reason = 'disputed' RETURNING order_id";

/// Whether the closing in the shop's favour of the dispute `?3` names is
/// recorded for payment `?2`: Stripe delivers a dispute's events in any
/// order (and the cron reads missed ones back newest first), and an
/// opening that comes after its closing must not revoke the order for
/// good. `?1 provider, ?2 payment id, ?3 ", <dispute id>)"`, as the
/// dispute's id stands in the recorded detail.
/// A row (the payment's id, as `order_id`) when it is.
pub const DISPUTE_CLOSED: &str = "SELECT session_id AS order_id FROM payment_events WHERE provider = ?1 \
     AND session_id = ?2 AND detail LIKE 'dispute closed%' AND instr(detail, ?3) > 0 LIMIT 1";

/// Undoes the owner's revoke of an order (`revoked_reason` `admin`; a
/// refund's or dispute's stays). `?1 order_id`. Returns the row.
pub const UNREVOKE: &str = "UPDATE orders SET revoked_at = NULL, revoked_reason = NULL \
     WHERE order_id = ?1 AND revoked_reason = 'admin' RETURNING order_id";

/// Undoes the owner's revoke of one clip of an order (every clip revoke
/// is the owner's). `?1 order_id, ?2 clip_slug`. Returns the row.
pub const UNREVOKE_CLIP: &str = "DELETE FROM revoked_clips WHERE order_id = ?1 AND clip_slug = ?2 RETURNING clip_slug";

/// Revokes one clip of an order. `?1 order_id, ?2 clip_slug, ?3 now (s), ?4 reason`:
/// `refunded` whatever `?4` when the order's payment was partly
/// refunded (what the payments alert gives this command for), so that
/// the customer reads "refunded", not "no longer valid".
/// Returns the row when it is new.
pub const REVOKE_CLIP: &str = "INSERT INTO revoked_clips (order_id, clip_slug, at, reason) VALUES (?1, ?2, ?3, \
     IIF(EXISTS (SELECT 1 FROM payment_events p WHERE p.order_id = ?1 AND p.outcome = 'partial_refund'), \
     'refunded', ?4)) ON CONFLICT (order_id, clip_slug) DO NOTHING RETURNING clip_slug";

/// An order's clip exchanged for another file or licence of it (in the
/// batch of a reissue: its old links named the old one). `?1 order_id,
/// ?2 choices (JSON or NULL)`.
pub const EXCHANGE: &str = "UPDATE orders SET choices = ?2 WHERE order_id = ?1";
/// The exchanged clip's size as the allowance counts it, until its
/// next download reads R2's. `?1 order_id, ?2 clip_slug, ?3 size`.
pub const EXCHANGE_SIZE: &str = "UPDATE order_clips SET clip_size = ?3 WHERE order_id = ?1 AND clip_slug = ?2";

/// Reissue: every link issued up to now stops working and the order is
/// no longer revoked; with `?3`, the order's links now expire `?3`
/// seconds from `?2` (the new link's expiry, so that a link resent later
/// shares it). Links carry whole seconds, so `not_before` becomes the
/// next second, one past the last reissue's if that is later: a link
/// issued in the same second as the reissue, a resend's or an earlier
/// reissue's, is stopped too. New links are issued at `not_before`
/// (within the token's clock skew). Returns the row.
/// `?1 order_id, ?2 now (s), ?3 valid for (s) or NULL`.
pub const REISSUE: &str = "UPDATE orders SET not_before = MAX(?2, not_before) + 1, revoked_at = NULL, \
     expires_at = COALESCE(?2 + ?3, expires_at) WHERE order_id = ?1 \
     RETURNING order_id, clips, allowance, customer_ref, expires_at, not_before, choices";

/// Whether a webhook event was already processed, and whether its
/// checkout already has an order. `?1 provider, ?2 event_id, ?3 session_id`.
pub const PAYMENT_SEEN: &str = "SELECT \
     (SELECT COUNT(*) FROM payment_events WHERE provider = ?1 AND event_id = ?2 \
      AND outcome IN ('processed', 'awaiting_payment', 'partial_refund', 'refund_without_order', 'revoke_pending', \
      'refund_failed')) AS event_done, \
     (SELECT order_id FROM checkouts WHERE provider = ?1 AND session_id = ?3) AS order_id";

/// Whether an event has any row, processed or not (a refusal, a
/// duplicate): the cron reads back only what never reached the
/// Worker's webhook (`payments::stripe_events`). Found by its subject
/// (`payment_events_by_session`). `?1 provider, ?2 event_id, ?3 subject`.
pub const EVENT_RECORDED: &str = "SELECT COUNT(*) AS seen FROM payment_events \
     WHERE session_id = ?3 AND provider = ?1 AND event_id = ?2";

/// Records a webhook delivery (`migrations/0004_checkout.sql`). The
/// unique index on processed event ids makes a concurrent second
/// processing of one event fail its whole batch.
/// `?1 at (ms), ?2 provider, ?3 event_id, ?4 event_type, ?5 session_id, ?6 order_id, ?7 status, ?8 outcome, ?9 detail`.
pub const PAYMENT_EVENT: &str =
    "INSERT INTO payment_events (at, provider, event_id, event_type, session_id, order_id, status, outcome, detail) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Notes, beside a new order `?6`, that the same address (`?7`, any case)
/// paid for one of its items before, in another order made since `?8`
/// (unix s) that still downloads: the same clip, file and licence (`?9`
/// the new order's clips, `?10` its choices). A second "Buy this clip"
/// after Back opens a payment page of its own, and both could be paid
/// (the shopper review): the owner is told (`payment_attention`), and
/// refunds one if it was a mistake, before the customer has to write in.
/// Once per order; its detail starts with the earlier order's id and `: `
/// ([`PAYMENT_ATTENTION`] reads it; order ids hold no space), and names no
/// address (alerts may go to a chat). `?1 at (ms), ?2 provider, ?3 event id,
/// ?4 event type, ?5 session`.
pub const PAID_TWICE: &str = "INSERT INTO payment_events (at, provider, event_id, event_type, session_id, order_id, \
     status, outcome, detail) SELECT ?1, ?2, ?3, ?4, ?5, ?6, 200, 'paid_twice', \
     c.order_id || ': ' || j.value || ', bought on ' || strftime('%Y-%m-%d %H:%M UTC', c.created_at, 'unixepoch') \
     FROM checkouts c JOIN orders o ON o.order_id = c.order_id, json_each(o.clips) j \
     WHERE c.provider = ?2 AND lower(c.customer_email) = lower(?7) AND c.order_id <> ?6 AND c.created_at >= ?8 \
     AND o.revoked_at IS NULL AND j.value IN (SELECT value FROM json_each(?9)) \
     AND json_extract(o.choices, '$.\"' || j.value || '\".variant') IS json_extract(?10, '$.\"' || j.value || '\".variant') \
     AND json_extract(o.choices, '$.\"' || j.value || '\".licence') IS json_extract(?10, '$.\"' || j.value || '\".licence') \
     AND NOT EXISTS (SELECT 1 FROM revoked_clips r WHERE r.order_id = o.order_id AND r.clip_slug = j.value) \
     AND NOT EXISTS (SELECT 1 FROM payment_events p WHERE p.order_id = ?6 AND p.outcome = 'paid_twice') \
     ORDER BY c.created_at DESC LIMIT 1";

/// Records an unauthenticated refusal, at most
/// [`super::UNAUTHENTICATED_PAYMENT_EVENTS_PER_MINUTE`] per minute and
/// outcome, so forged deliveries cannot fill the database.
/// Parameters as [`PAYMENT_EVENT`], plus `?10 start of the minute (ms)`, `?11 cap`.
pub const PAYMENT_REFUSAL_CAPPED: &str =
    "INSERT INTO payment_events (at, provider, event_id, event_type, session_id, order_id, status, outcome, detail) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 \
     WHERE (SELECT COUNT(*) FROM payment_events WHERE outcome = ?8 AND at >= ?10) < ?11";

/// Creates the order of a paid checkout (nothing if it exists).
/// `?1 order_id, ?2 clips (JSON), ?3 allowance, ?4 expires_at, ?5 token issued_at, ?6 now (s), ?7 source,
/// ?8 choices (JSON object or NULL)`.
pub const CHECKOUT_ORDER: &str =
    "INSERT INTO orders (order_id, clips, allowance, expires_at, token_issued_at, source, created_at, choices) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?7, ?6, ?8) ON CONFLICT (order_id) DO UPDATE SET source = excluded.source \
     WHERE orders.source = 'token'";

/// Remembers a paid checkout and its link. `?1 provider, ?2 session_id, ?3 order_id, ?4 token,
/// ?5 customer_email, ?6 amount_total, ?7 currency, ?8 now (s), ?9 payment_id`.
pub const CHECKOUT: &str = "INSERT OR IGNORE INTO checkouts (provider, session_id, order_id, token, customer_email, amount_total, currency, created_at, payment_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// The order the checkout `?1` already has (an order created by hand
/// names its own id as its checkout when it has none), or else the order
/// `?2` if it exists (with its source), or else the order `?3` if a link
/// made it (source `token`): the checkout's own order id, made when its
/// customer opened the link the success page showed while D1 failed.
/// `?1 session_id, ?2 order_id, ?3 the checkout's order id or NULL`.
pub const SESSION_ORDER: &str = "SELECT order_id, NULL AS source FROM checkouts WHERE session_id = ?1 \
     UNION ALL SELECT order_id, source FROM orders WHERE order_id = ?2 \
     UNION ALL SELECT order_id, source FROM orders WHERE order_id = ?3 AND source = 'token' LIMIT 1";

/// Makes an order a link made (source `token`) its checkout's, as
/// [`CHECKOUT_ORDER`] does for Stripe's event: the owner's `orders create
/// --session` after an outage outlasted Stripe's retries. Its clips,
/// allowance and expiry stay as the ledger has them; a checkout that has
/// an order meanwhile keeps it. `?1 order_id, ?2 session_id`.
pub const CLAIM_LINK_ORDER: &str = "UPDATE orders SET source = 'stripe' WHERE order_id = ?1 AND source = 'token' \
     AND NOT EXISTS (SELECT 1 FROM checkouts WHERE provider = 'stripe' AND session_id = ?2) RETURNING order_id";

/// The `create` event of an order [`CLAIM_LINK_ORDER`] just made a
/// checkout's: written before its [`CHECKOUT`] row, and only while the
/// order has none (a checkout event that claimed it first wrote its own).
/// `?1 order_id, ?2 now (s), ?3 detail`.
pub const EVENT_IF_CLAIMED: &str = "INSERT INTO order_events (order_id, at, kind, clip_slug, detail) \
     SELECT ?1, ?2, 'create', NULL, ?3 FROM orders WHERE order_id = ?1 AND source = 'stripe' \
     AND NOT EXISTS (SELECT 1 FROM checkouts WHERE order_id = ?1)";

/// What a resent link needs: the order and where to send it: the
/// address its last link mail went to (or was to go to, when a reissue
/// withdrew it), else its checkout's. An address the owner corrected
/// with `resend --to` is kept: a plain resend went back to the
/// checkout's typo (the support review). A mail the provider refused
/// for good is no address to use again, nor one sent before the owner
/// replaced the order's address ([`REPLACE_ADDRESS`]). `?1 order_id`.
pub const ORDER_TO_RESEND: &str = concat!(
    "SELECT o.clips AS clips, o.choices AS choices, o.allowance AS allowance, o.customer_ref AS customer_ref, \
     o.expires_at AS expires_at, o.not_before AS not_before, o.revoked_at AS revoked_at, \
     o.revoked_reason AS revoked_reason, \
     (SELECT json_group_array(r.clip_slug) FROM revoked_clips r WHERE r.order_id = o.order_id) AS revoked_clips, \
     COALESCE((SELECT x.to_addr FROM outbox x WHERE x.order_id = o.order_id \
     AND x.kind IN ('order', 'resend') AND (x.status <> 'failed' OR x.last_error LIKE 'withdrawn:%')",
    since_address_replaced!("o.order_id"),
    "ORDER BY x.id DESC LIMIT 1), \
     (SELECT c.customer_email FROM checkouts c WHERE c.order_id = o.order_id ORDER BY c.created_at LIMIT 1)) AS customer_email \
     FROM orders o WHERE o.order_id = ?1"
);

/// A clip the owner revoked becomes refunded: a partial refund of its price
/// came after (`runtime::payments`). `?1 order_id, ?2 clip_slug`.
pub const REVOKED_CLIP_REFUNDED: &str =
    "UPDATE revoked_clips SET reason = 'refunded' WHERE order_id = ?1 AND clip_slug = ?2";

/// The order a refund or dispute is about. `?1 provider, ?2 payment_id`.
pub const ORDER_OF_PAYMENT: &str =
    "SELECT order_id FROM checkouts WHERE provider = ?1 AND payment_id = ?2 ORDER BY created_at LIMIT 1";

/// The orders of an e-mail address, newest first, for "Lost your
/// download link?": those that still download get a fresh link, the
/// others are named with why not (`ended`: 'expired', or the revoke's
/// reason), and the clips refunded one by one are left out of the mail
/// (`revoked_clips`, a JSON array). An order is the address's when its
/// checkout has it, or when a link of it went there by mail (the owner's
/// `resend --to`: after a typo at checkout, or for an order minted by
/// hand, which has no checkout). `?1 address, ?2 limit, ?3 now (s)`.
pub const ORDERS_OF_EMAIL: &str = concat!(
    "SELECT o.order_id AS order_id, o.clips AS clips, o.choices AS choices, o.allowance AS allowance, \
     o.customer_ref AS customer_ref, o.expires_at AS expires_at, o.not_before AS not_before, \
     (SELECT c.customer_email FROM checkouts c WHERE c.order_id = o.order_id ORDER BY c.created_at LIMIT 1) AS customer_email, \
     CASE WHEN o.revoked_at IS NOT NULL THEN COALESCE(o.revoked_reason, 'admin') \
     WHEN o.expires_at IS NOT NULL AND o.expires_at <= ?3 THEN 'expired' END AS ended, \
     (SELECT json_group_array(clip_slug) FROM revoked_clips r WHERE r.order_id = o.order_id) AS revoked_clips, \
     o.created_at AS created_at FROM orders o WHERE ",
    of_address!(),
    " ORDER BY (o.revoked_at IS NOT NULL OR (o.expires_at IS NOT NULL AND o.expires_at <= ?3)), \
     o.created_at DESC LIMIT ?2"
);

/// Counts a recovery request, only while the rate limits hold: at most
/// `?5` per address and `?6` per client since `?4`, and `?8` per address
/// since `?7` (a day: a stranger cannot mail a buyer every hour). Returns
/// the row when allowed.
/// `?1 now (s), ?2 email hash, ?3 client hash, ?4 window start (s), ?5, ?6, ?7 day start (s), ?8`.
pub const RECOVERY_REQUEST: &str = "INSERT INTO recovery_requests (at, email_hash, client_hash, sent) \
     SELECT ?1, ?2, ?3, 0 \
     WHERE (SELECT COUNT(*) FROM recovery_requests WHERE email_hash = ?2 AND at >= ?4) < ?5 \
     AND (SELECT COUNT(*) FROM recovery_requests WHERE client_hash = ?3 AND at >= ?4) < ?6 \
     AND (SELECT COUNT(*) FROM recovery_requests WHERE email_hash = ?2 AND at >= ?7) < ?8 \
     RETURNING id";

/// Remembers a success page shown before its order existed, at most
/// `?4` new ones per minute (`?3` its start) in all, so junk session ids
/// cannot fill the table, and `?6` from the network `?5` (NULL: this
/// machine, no cap of its own), so that one client's junk cannot use up
/// the others' share. `?1 session_id, ?2 now (s), ?3 minute start (s),
/// ?4 cap, ?5 client hash or NULL, ?6 cap per client`.
pub const THANKS_WAITING: &str = "INSERT INTO thanks_waiting (session_id, first_seen, client_hash) \
     SELECT ?1, ?2, ?5 WHERE (SELECT COUNT(*) FROM thanks_waiting WHERE first_seen >= ?3) < ?4 \
     AND (?5 IS NULL OR (SELECT COUNT(*) FROM thanks_waiting WHERE client_hash = ?5 AND first_seen >= ?3) < ?6) \
     ON CONFLICT (session_id) DO NOTHING";

/// Customers back from paying between `?2` and `?1` (unix seconds)
/// who left without an order, that no event (or refusal) explains, and
/// that the self-test has not asked Stripe about yet (`self_test_unpaid`:
/// Stripe said not paid; `self_test_on_its_way`: a bank debit;
/// `self_test_paid_late`: paid, made over a day before): `?3` Checkout Session ids, for
/// `runtime::thanks::orders_from_stripe`, those of the networks with
/// the fewest waiting pages first (a customer has one or two; one
/// client's made-up checkouts, ten a minute, are asked about last),
/// then the newest. `?1 until, ?2 since, ?3 limit`.
pub const WAITING_TO_ASK: &str = "SELECT t.session_id AS session_id FROM thanks_waiting t \
     WHERE t.first_seen <= ?1 AND t.first_seen >= ?2 AND substr(t.session_id, 1, 3) = 'cs_' \
     AND NOT EXISTS (SELECT 1 FROM checkouts c WHERE c.provider = 'stripe' AND c.session_id = t.session_id) \
     AND NOT EXISTS (SELECT 1 FROM payment_events WHERE session_id = t.session_id \
     AND outcome IN ('awaiting_payment', 'payment_failed', 'unknown_clip', 'no_clips', 'not_the_shops', 'underpaid', \
     'self_test_unpaid', 'self_test_on_its_way', 'self_test_paid_late')) \
     ORDER BY (SELECT COUNT(*) FROM thanks_waiting u WHERE u.client_hash IS t.client_hash \
     AND u.first_seen >= ?2) ASC, t.first_seen DESC LIMIT ?3";

/// Customers back from paying between `?2` and `?1` (unix seconds)
/// whose checkout Stripe's event never reached: `waiting`, those
/// without an order, and `from_page`, those whose order the success
/// page or the self-test made (`from_success_page`, `from_self_test`), with the oldest's and the newest's
/// `first_seen`. A payment the provider said is still on its way (a
/// bank debit: days) is no missing order, nor is a checkout the webhook
/// refused (its own alert names it), nor one the owner made an order of
/// by hand; a refusal the success page or the self-test recorded is no
/// event from Stripe. Nor is a checkout Stripe told the self-test it does
/// not call paid (`self_test_unpaid`: open, expired, or made up by a
/// visitor of the success page): it had kept an alert about the webhook
/// open for a day (the alerts review). `?1 until, ?2 since`.
pub const PAID_WITHOUT_ORDER: &str = "SELECT COALESCE(SUM(NOT made), 0) AS waiting, COALESCE(SUM(made), 0) AS from_page, \
     MIN(first_seen) AS oldest, MAX(first_seen) AS newest FROM (SELECT t.first_seen AS first_seen, \
     EXISTS (SELECT 1 FROM checkouts c WHERE c.provider = 'stripe' AND c.session_id = t.session_id) AS made FROM thanks_waiting t \
     WHERE t.first_seen <= ?1 AND t.first_seen >= ?2 AND substr(t.session_id, 1, 3) = 'cs_' \
     AND NOT EXISTS (SELECT 1 FROM payment_events WHERE session_id = t.session_id \
     AND outcome IN ('processed', 'duplicate', 'awaiting_payment', 'unknown_clip', 'no_clips', 'not_the_shops', 'underpaid') \
     AND event_type NOT IN ('success_page', 'self_test')) \
     AND NOT EXISTS (SELECT 1 FROM payment_events WHERE session_id = t.session_id AND outcome = 'self_test_unpaid') \
     AND (NOT EXISTS (SELECT 1 FROM checkouts c WHERE c.provider = 'stripe' AND c.session_id = t.session_id) \
     OR EXISTS (SELECT 1 FROM payment_events WHERE session_id = t.session_id \
     AND outcome IN ('from_success_page', 'from_self_test'))))";

/// Delayed payments (a bank debit) the provider announced between `?2`
/// and `?1` (unix ms) that neither became an order nor failed since
/// (nor were refused when confirmed: that alerted the owner then):
/// the confirming event is not reaching the shop, and a customer who
/// paid has no link. `count`, the newest row's id, one session id (`latest`).
/// `?1 until, ?2 since`.
pub const PAYMENTS_UNCONFIRMED: &str = "SELECT COUNT(*) AS count, MAX(e.id) AS newest, MIN(e.session_id) AS latest \
     FROM payment_events e WHERE e.outcome = 'awaiting_payment' AND e.at <= ?1 AND e.at >= ?2 \
     AND NOT EXISTS (SELECT 1 FROM checkouts c WHERE c.provider = e.provider AND c.session_id = e.session_id) \
     AND NOT EXISTS (SELECT 1 FROM payment_events f WHERE f.session_id = e.session_id \
     AND f.outcome IN ('payment_failed', 'unknown_clip', 'no_clips', 'not_the_shops', 'underpaid'))";

/// Paid checkouts refused since `?1` (unix ms) because they named a
/// clip the catalog lacks, that still have no order (neither Stripe's
/// retry once the clip was back, nor the owner's `orders create
/// --session`, made one) and whose payment was neither fully refunded
/// nor disputed (`revoke_pending`; its by-hand command names the payment;
/// a dispute since closed in the shop's favour does not count): customers who paid and
/// have no link. Stripe's retries of one checkout count once; `latest`
/// is the checkout refused first most recently. `?1 since`.
pub const CHECKOUTS_REFUSED: &str = "SELECT COUNT(*) AS count, MAX(first) AS newest, session_id AS latest FROM \
     (SELECT MIN(e.id) AS first, e.session_id AS session_id FROM payment_events e \
     WHERE e.outcome = 'unknown_clip' AND e.at >= ?1 AND e.session_id IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM checkouts c WHERE c.provider = e.provider AND c.session_id = e.session_id) \
     AND NOT EXISTS (SELECT 1 FROM payment_events r WHERE r.provider = e.provider AND r.outcome = 'revoke_pending' \
     AND instr(e.detail || ' ', ' --payment ' || r.session_id || ' ') > 0 \
     AND NOT (r.detail LIKE 'disputed%' AND EXISTS (SELECT 1 FROM payment_events w WHERE w.provider = r.provider \
     AND w.session_id = r.session_id AND w.detail LIKE 'dispute closed%' AND w.id > r.id))) \
     GROUP BY e.session_id)";

/// Whether offset `?3` continues a download of the order's clip: inside
/// what a broken one sent (its settlement, or its last report while it
/// is unsettled), or just where a finished one ended (a player's next
/// piece). Not a fresh start, a jump ahead, nor a point inside a
/// download that finished: what a link past its expiry may still do
/// (`crate::after_expiry`). `?1 order_id, ?2 clip_slug, ?3 offset`.
pub const STARTED_BEFORE: &str = "SELECT COUNT(*) AS found FROM download_attempts \
     WHERE order_id = ?1 AND clip_slug = ?2 AND method = 'GET' AND outcome IN ('granted', 'granted_offline') \
     AND span_offset < ?3 AND (completed = 1 AND ?3 = span_offset + span_length \
     OR COALESCE(completed, 0) = 0 AND ?3 <= span_offset + COALESCE(sent_bytes, progress_bytes, 0))";

/// A full refund or a dispute that arrived before its order
/// (`revoke_pending`, recorded under the payment id): the reason to
/// revoke the order with as it is created, a refund's first. A dispute
/// closed in the shop's favour since (its event's detail starts
/// `dispute closed`) no longer counts. `?1 provider, ?2 payment id`.
pub const PENDING_REVOCATION: &str = pending_revocation!("?1", "?2");

/// Every order the revocation list must name: revoked, reissued, or
/// with clips revoked (`crate::revocations`).
pub const REVOCATIONS: &str = "SELECT order_id, revoked_at, revoked_reason, not_before FROM orders \
     WHERE revoked_at IS NOT NULL OR not_before > 0 ORDER BY order_id";

/// Every clip revoked on its own.
pub const REVOKED_CLIPS_ALL: &str =
    "SELECT order_id, clip_slug, reason FROM revoked_clips ORDER BY order_id, clip_slug";

/// Forgets recovery requests and waiting success pages older than `?1`
/// (unix seconds): both only matter for an hour or a day.
pub const PRUNE_RECOVERY_REQUESTS: &str = "DELETE FROM recovery_requests WHERE at < ?1";
pub const PRUNE_THANKS_WAITING: &str = "DELETE FROM thanks_waiting WHERE first_seen < ?1";

/// How many orders a recovery request e-mailed. `?1 id, ?2 sent`.
pub const RECOVERY_SENT: &str = "UPDATE recovery_requests SET sent = ?2 WHERE id = ?1";

/// Partial refunds, refunds without an order, price mismatches and
/// checkouts the shop's configuration stopped, since `?1`, for the
/// self-test's alert. `?1 since (unix ms)`.
/// One row per checkout and outcome (the newest; `first_id`, its first
/// row, names the matter): Stripe's retries of one refused checkout,
/// every few hours for three days, would otherwise push other matters
/// out of the 20; and one per reason a cart's checkout was turned away
/// (a revoked key turns every customer away: one line, not one each). A matter settled since
/// is left out, so that the alert does not advise what was done (an
/// order made twice by hand, a clip revoked of a refunded order): a
/// partial refund once the order is revoked, or a clip of it revoked
/// after it; a full refund or dispute without an order once its
/// payment's checkout made one (created revoked; a partial refund
/// without an order stays: the order made later revokes nothing for
/// it); a refused checkout once it has its order; a payment made twice
/// once either order, or a clip of it, was refunded or revoked.
pub const PAYMENT_ATTENTION: &str =
    "SELECT MAX(e.id) AS id, MIN(e.id) AS first_id, e.order_id AS order_id, e.outcome AS outcome, e.detail AS detail, \
     e.session_id AS session_id \
     FROM payment_events e \
     WHERE e.at >= ?1 AND e.outcome IN ('partial_refund', 'amount_mismatch', 'refund_without_order', 'revoke_pending', \
     'checkout_unavailable', 'unknown_clip', 'no_clips', 'underpaid', 'refund_failed', 'unpaid_order', 'paid_twice') \
     AND NOT (e.outcome = 'unpaid_order' AND EXISTS (SELECT 1 FROM orders o WHERE o.order_id = e.order_id \
         AND o.revoked_at IS NOT NULL)) \
     AND NOT (e.outcome = 'partial_refund' AND (EXISTS (SELECT 1 FROM orders o WHERE o.order_id = e.order_id \
         AND o.revoked_at IS NOT NULL) OR e.detail LIKE '%: nothing more to do' \
         OR EXISTS (SELECT 1 FROM revoked_clips v WHERE v.order_id = e.order_id AND v.at * 1000 >= e.at))) \
     AND NOT (e.outcome = 'paid_twice' AND EXISTS (SELECT 1 FROM orders o WHERE (o.order_id = e.order_id \
         OR o.order_id = substr(e.detail, 1, instr(e.detail, ': ') - 1)) AND (o.revoked_at IS NOT NULL \
         OR EXISTS (SELECT 1 FROM revoked_clips v WHERE v.order_id = o.order_id)))) \
     AND NOT (e.outcome = 'revoke_pending' \
         AND EXISTS (SELECT 1 FROM checkouts c WHERE c.provider = e.provider AND c.payment_id = e.session_id)) \
     AND NOT (e.outcome IN ('unknown_clip', 'no_clips', 'underpaid') \
         AND EXISTS (SELECT 1 FROM checkouts c WHERE c.provider = e.provider AND c.session_id = e.session_id)) \
     GROUP BY e.outcome, COALESCE(e.session_id, IIF(e.outcome = 'checkout_unavailable', e.detail, NULL), e.id) \
     ORDER BY id DESC LIMIT 20";

/// Webhook deliveries for the owner, newest first, with the checkout's
/// customer and amount on the rows that made its order (the event's, or
/// the success page's). `?1 limit`.
pub const PAYMENT_EVENTS: &str = "SELECT e.id AS id, e.at AS at, e.provider AS provider, e.event_id AS event_id, \
     e.event_type AS event_type, e.session_id AS session_id, e.order_id AS order_id, e.status AS status, \
     e.outcome AS outcome, e.detail AS detail, c.customer_email AS customer_email, c.amount_total AS amount_total, \
     c.currency AS currency FROM payment_events e \
     LEFT JOIN checkouts c ON c.provider = e.provider AND c.session_id = e.session_id AND e.outcome IN ('processed', 'from_success_page', 'from_self_test') \
     ORDER BY e.id DESC LIMIT ?1";

/// The link of a checkout, for the success page. `?1 provider, ?2 session_id`.
/// (`token` NULL: no order yet; `awaiting`: the provider said the
/// payment is on its way; `refused`: the webhook or the page refused
/// to make its order, and told the owner (not an other integration's
/// sale, `not_the_shops`: its buyer is not on this shop's page); `waiting_since`: when the page was first shown
/// without an order, `THANKS_WAITING`.)
pub const CHECKOUT_LINK: &str = "SELECT (SELECT token FROM checkouts WHERE provider = ?1 AND session_id = ?2) AS token, \
     EXISTS (SELECT 1 FROM payment_events WHERE provider = ?1 AND session_id = ?2 AND outcome = 'awaiting_payment') AS awaiting, \
     EXISTS (SELECT 1 FROM payment_events WHERE provider = ?1 AND session_id = ?2 AND outcome = 'payment_failed') AS failed, \
     EXISTS (SELECT 1 FROM payment_events WHERE provider = ?1 AND session_id = ?2 \
     AND outcome IN ('unknown_clip', 'no_clips', 'underpaid')) AS refused, \
     (SELECT first_seen FROM thanks_waiting WHERE session_id = ?2) AS waiting_since";
