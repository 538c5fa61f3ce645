-- The mail outbox (docs/mail.md): every e-mail the Worker sends is first a
-- row here, written in the same D1 batch as what caused it (the order), and
-- only then sent through the mail provider. A provider outage delays mail;
-- it never loses it.
--
-- status          queued   waiting for its next attempt (next_attempt_at)
--                 sending  claimed by a sender until next_attempt_at (the
--                          lease); due again if that sender died
--                 sent     accepted by the provider (provider_id)
--                 failed   permanently refused by the provider (a 4xx other
--                          than 429); kept for the owner, never deleted
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('order', 'recovery', 'resend', 'alert')),
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
-- What the senders look for: unsent rows by due time.
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
-- One order mail per order, however often its creation is retried.
CREATE UNIQUE INDEX outbox_order_mail ON outbox (order_id) WHERE kind = 'order';
