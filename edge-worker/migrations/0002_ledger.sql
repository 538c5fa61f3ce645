-- The download ledger (docs/downloads.md).
--
-- orders           one row per order: created when a token is first seen by
--                  the Worker, or by the admin API; revocation and reissue.
-- order_clips      bytes granted per (order, clip): the allowance state. Only
--                  the atomic statement `ledger::sql::GRANT` increases it.
-- order_links      every link (token) of an order seen: key id, issue and expiry.
-- order_events     allowance resets, revocations, reissues.
-- download_attempts every request for a clip (and every refusal), append-only.
-- attempt_completions whether the runtime finished streaming an attempt's body
--                  (1) or it broke off (0): the client left or R2 failed.
-- bad_token_minutes refusals of tokens that do not verify, counted per minute;
--                  only the first few per minute get a download_attempts row.
--
-- The issue-4 placeholder table `downloads` was never written; it goes.
DROP INDEX IF EXISTS downloads_by_order;
DROP TABLE IF EXISTS downloads;

CREATE TABLE orders (
    order_id TEXT PRIMARY KEY NOT NULL,
    -- JSON array of clip slugs, from the latest token seen or the admin API.
    clips TEXT NOT NULL,
    -- Downloads allowed per clip (the token's `downloads` claim).
    allowance INTEGER NOT NULL,
    customer_ref TEXT,
    expires_at INTEGER,
    -- issued_at of the newest token seen (unix seconds).
    token_issued_at INTEGER NOT NULL DEFAULT 0,
    -- Tokens issued before this moment are refused (set by reissue).
    not_before INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER,
    -- 'token' (first seen in a download link) or 'admin'.
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE order_clips (
    order_id TEXT NOT NULL,
    clip_slug TEXT NOT NULL,
    granted_bytes INTEGER NOT NULL DEFAULT 0,
    clip_size INTEGER NOT NULL,
    unit_bytes INTEGER NOT NULL,
    budget_bytes INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (order_id, clip_slug)
);

CREATE TABLE download_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Random id; makes merging fallback records idempotent.
    attempt_id TEXT NOT NULL UNIQUE,
    at INTEGER NOT NULL,                 -- unix milliseconds
    order_id TEXT,                       -- NULL when the token did not verify
    clip_slug TEXT,
    key_id TEXT,                         -- the token's key id (verified tokens only)
    method TEXT NOT NULL,
    range_header TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,               -- granted, allowance_used_up, revoked, expired, ...
    span_offset INTEGER,
    span_length INTEGER,
    charged_bytes INTEGER NOT NULL DEFAULT 0,
    client_ip TEXT,
    country TEXT,
    user_agent TEXT,
    -- 'd1', or 'fallback' when it was written to R2 first and merged later.
    recorded_via TEXT NOT NULL DEFAULT 'd1'
);
CREATE INDEX download_attempts_by_order ON download_attempts (order_id, at);

CREATE TABLE order_links (
    order_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (order_id, key_id, issued_at)
);

CREATE TABLE order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    at INTEGER NOT NULL,                 -- unix seconds
    kind TEXT NOT NULL,                  -- reset, revoke, reissue, create
    clip_slug TEXT,
    detail TEXT
);
CREATE INDEX order_events_by_order ON order_events (order_id, at);

CREATE TABLE bad_token_minutes (
    minute INTEGER NOT NULL,             -- unix seconds / 60
    code TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (minute, code)
);

CREATE TABLE attempt_completions (
    attempt_id TEXT PRIMARY KEY NOT NULL,
    completed INTEGER NOT NULL,          -- 1 streamed to the end, 0 broke off
    at INTEGER NOT NULL                  -- unix milliseconds
);
