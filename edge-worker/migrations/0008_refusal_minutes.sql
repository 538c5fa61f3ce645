-- Refused download requests counted per minute and code, for every kind of
-- refusal (edge-worker/src/refusals.rs): each isolate counts in memory and
-- adds its counts here in batches; only the first few of each kind a minute
-- get a download_attempts row. Replaces bad_token_minutes (tokens that do
-- not verify only), whose counts move here.
CREATE TABLE refusal_minutes (
    minute INTEGER NOT NULL,             -- unix seconds / 60
    code TEXT NOT NULL,                  -- the attempt's outcome
    n INTEGER NOT NULL,
    PRIMARY KEY (minute, code)
);
INSERT INTO refusal_minutes (minute, code, n) SELECT minute, code, n FROM bad_token_minutes;
DROP TABLE bad_token_minutes;
