-- Charge what was sent (docs/downloads.md, "Settlement").
--
-- A request's span is reserved before its first byte (`ledger::sql::GRANT`
-- adds it to both granted_bytes and reserved_bytes); when the response ends,
-- `SETTLE_CLIP` gives back what was not sent and `SETTLE_ATTEMPT` records
-- what was. A reservation never settled (the isolate went away) stays
-- charged in full.
--
-- order_clips.reserved_bytes   bytes of granted_bytes still in flight
-- download_attempts.reserved_bytes  the span reserved (NULL: no body)
-- download_attempts.sent_bytes  bytes handed to the network, an upper bound
--                               within one segment; NULL until settled
-- download_attempts.completed   1 streamed to the end, 0 broke off; NULL
--                               until settled (was attempt_completions)
-- download_attempts.settled_at  unix ms; NULL: not (yet) settled
--
-- A resume gives back what an interrupted attempt was charged for the bytes
-- it asks for again (`CREDIT_ATTEMPT`, `CREDIT_CLIP`), from a pool of about
-- max(N, 2) x slack bytes per (order, clip) (allowance.rs, credit_pool):
-- order_clips.credited_bytes        credits given so far (reset with the allowance)
-- download_attempts.credited_bytes  bytes of sent_bytes given back
-- download_attempts.credited_by     the attempt whose request gave them back
ALTER TABLE order_clips ADD COLUMN reserved_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE order_clips ADD COLUMN credited_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE download_attempts ADD COLUMN credited_bytes INTEGER;
ALTER TABLE download_attempts ADD COLUMN credited_by TEXT;
ALTER TABLE download_attempts ADD COLUMN reserved_bytes INTEGER;
ALTER TABLE download_attempts ADD COLUMN sent_bytes INTEGER;
ALTER TABLE download_attempts ADD COLUMN completed INTEGER;
ALTER TABLE download_attempts ADD COLUMN settled_at INTEGER;

-- Earlier attempts were charged their whole span when they started.
UPDATE download_attempts SET reserved_bytes = charged_bytes WHERE charged_bytes > 0;
UPDATE download_attempts SET completed = (SELECT d.completed FROM attempt_completions d WHERE d.attempt_id = download_attempts.attempt_id),
    settled_at = (SELECT d.at FROM attempt_completions d WHERE d.attempt_id = download_attempts.attempt_id),
    sent_bytes = CASE WHEN EXISTS (SELECT 1 FROM attempt_completions d WHERE d.attempt_id = download_attempts.attempt_id)
                      THEN charged_bytes END
    WHERE attempt_id IN (SELECT attempt_id FROM attempt_completions);
DROP TABLE attempt_completions;
CREATE INDEX download_attempts_by_credit ON download_attempts (credited_by) WHERE credited_by IS NOT NULL;
