-- The mail that tells a customer their delayed payment (a bank debit)
-- failed: outbox kind 'payment_failed' (docs/payments.md). SQLite cannot
-- change a CHECK constraint, so the outbox is copied into a table that
-- allows the kind, with every row, id and index as they were, and its
-- AUTOINCREMENT counter: an id is part of a message's idempotency key at
-- the mail provider, so no id is given twice.
CREATE TABLE outbox_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('order', 'recovery', 'resend', 'alert', 'payment_failed')),
    order_id TEXT,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    created_at INTEGER NOT NULL,         -- unix seconds
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, -- sends started (counted when claimed)
    next_attempt_at INTEGER NOT NULL,    -- unix seconds: when due (queued) or when the lease ends (sending)
    sent_at INTEGER,                     -- unix seconds
    failed_at INTEGER,                   -- unix seconds: refused for good
    provider TEXT,                       -- 'resend'
    provider_id TEXT,                    -- the provider's message id
    last_error TEXT
);
INSERT INTO outbox_new (id, kind, order_id, to_addr, subject, text_body, html_body, created_at, status, attempts,
    next_attempt_at, sent_at, failed_at, provider, provider_id, last_error)
SELECT id, kind, order_id, to_addr, subject, text_body, html_body, created_at, status, attempts,
    next_attempt_at, sent_at, failed_at, provider, provider_id, last_error FROM outbox;
DELETE FROM sqlite_sequence WHERE name = 'outbox_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_new', seq FROM sqlite_sequence WHERE name = 'outbox';
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE UNIQUE INDEX outbox_order_mail ON outbox (order_id) WHERE kind = 'order';
CREATE INDEX outbox_by_order ON outbox (order_id, id);
