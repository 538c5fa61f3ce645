-- Checkout: paid orders from a payment provider's webhook (docs/payments.md).
--
-- payment_events  every webhook delivery: processed, refused (bad signature,
--                 stale, unknown clip, ...) or a duplicate. A processed event
--                 id appears once (unique index): the idempotency key.
--                 Unauthenticated refusals are capped per minute and code.
-- checkouts       a paid checkout: its order and the link minted for it, so
--                 the success page (/thanks?session_id=...) can show it.
CREATE TABLE payment_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,                 -- unix milliseconds
    provider TEXT NOT NULL,              -- 'stripe'
    event_id TEXT,                       -- NULL when the delivery was not authenticated
    event_type TEXT,
    session_id TEXT,
    order_id TEXT,
    status INTEGER NOT NULL,             -- the HTTP status answered
    outcome TEXT NOT NULL,               -- processed, awaiting_payment, duplicate, bad_signature, unknown_clip, ...
    detail TEXT
);
CREATE UNIQUE INDEX payment_events_processed ON payment_events (provider, event_id)
    WHERE outcome IN ('processed', 'awaiting_payment');
CREATE INDEX payment_events_by_time ON payment_events (at);

CREATE TABLE checkouts (
    provider TEXT NOT NULL,
    session_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    token TEXT NOT NULL,                 -- the download link's token
    customer_email TEXT,
    amount_total INTEGER,                -- smallest currency unit
    currency TEXT,
    created_at INTEGER NOT NULL,         -- unix seconds
    PRIMARY KEY (provider, session_id)
);
