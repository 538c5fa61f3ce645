-- How far a long response has got (src/stale.rs): a response whose isolate
-- stops mid-stream never settles, so the cron settles it to what it last
-- reported once it has given no news for the stale window.
--
-- download_attempts.progress_bytes  bytes of the segments started, as last
--                                   reported while streaming; NULL: none yet
-- download_attempts.progress_at     unix ms of that report
-- download_attempts.swept           1 while settled by the stale sweep and
--                                   not (yet) by its own response's end, which
--                                   then charges what it sent beyond
ALTER TABLE download_attempts ADD COLUMN progress_bytes INTEGER;
ALTER TABLE download_attempts ADD COLUMN progress_at INTEGER;
ALTER TABLE download_attempts ADD COLUMN swept INTEGER NOT NULL DEFAULT 0;
-- Reservations left unsettled before this migration (their settlement was
-- lost) reported nothing: the sweep charges them in full, as before, and
-- only stops counting them as in flight.
UPDATE download_attempts SET progress_bytes = reserved_bytes WHERE settled_at IS NULL AND reserved_bytes > 0;
-- The cron's look for unsettled reservations reads only these rows.
CREATE INDEX download_attempts_unsettled ON download_attempts (at) WHERE settled_at IS NULL AND reserved_bytes > 0;
