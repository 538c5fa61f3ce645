-- How far a long response has got (src/stale.rs): a response whose isolate
-- stops mid-stream never settles, so the cron settles it to what it last
-- reported once it has given no news for the stale window.
--
-- download_attempts.progress_bytes  bytes of the segments started, as last
--                                   reported while streaming; NULL: none yet
-- download_attempts.progress_at     unix ms of that report
ALTER TABLE download_attempts ADD COLUMN progress_bytes INTEGER;
ALTER TABLE download_attempts ADD COLUMN progress_at INTEGER;
-- The cron's look for unsettled reservations reads only these rows.
CREATE INDEX download_attempts_unsettled ON download_attempts (at) WHERE settled_at IS NULL AND reserved_bytes > 0;
