-- Which origin served a download (docs/secondary-origin.md).
--
-- download_attempts.origin  'r2' or 'secondary' (the S3-compatible copy the
--                           Worker turns to when R2 fails, times out or lacks
--                           the object); NULL when no origin was asked (a
--                           refused token, an unknown clip) and for rows
--                           written before this migration.
-- The self-test reads the latest attempts' origin: downloads served from the
-- secondary mean R2 is failing, and the owner is told once.
ALTER TABLE download_attempts ADD COLUMN origin TEXT;
CREATE INDEX download_attempts_origin ON download_attempts (at) WHERE origin IS NOT NULL;
