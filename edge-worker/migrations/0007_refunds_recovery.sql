-- Refunds, disputes and self-service recovery (docs/payments.md).
--
-- checkouts.payment_id   the payment of a checkout (Stripe: payment intent
--                        pi_...), so a refund or dispute event finds its order.
-- orders.revoked_reason  why an order was revoked: 'admin', 'refunded' or
--                        'disputed' (its links then say "refunded").
-- revoked_clips          one clip of an order revoked (a partial refund the
--                        owner decided on); GRANT refuses it.
-- recovery_requests      "Lost your download link?" requests, hashed, for
--                        the rate limits per address and per client.
-- thanks_waiting         checkouts whose success page was shown before
--                        their order existed: a customer back from paying.
--                        One still without an order minutes later means the
--                        webhook is not arriving, and the owner is told.
-- A refund, partial refund or dispute event is processed once, like a
-- checkout: its outcomes join the unique index of processed event ids.
DROP INDEX payment_events_processed;
CREATE UNIQUE INDEX payment_events_processed ON payment_events (provider, event_id)
    WHERE outcome IN ('processed', 'awaiting_payment', 'partial_refund', 'refund_without_order', 'revoke_pending');

ALTER TABLE checkouts ADD COLUMN payment_id TEXT;
CREATE INDEX checkouts_by_payment ON checkouts (provider, payment_id);
CREATE INDEX checkouts_by_email ON checkouts (lower(customer_email));

ALTER TABLE orders ADD COLUMN revoked_reason TEXT;

CREATE TABLE revoked_clips (
    order_id TEXT NOT NULL,
    clip_slug TEXT NOT NULL,
    at INTEGER NOT NULL,                 -- unix seconds
    reason TEXT NOT NULL,                -- 'admin', 'refunded'
    PRIMARY KEY (order_id, clip_slug)
);

CREATE TABLE recovery_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,                 -- unix seconds
    email_hash TEXT NOT NULL,            -- SHA-256 of the lower-cased address
    client_hash TEXT NOT NULL,           -- SHA-256 of the client's IP address
    sent INTEGER NOT NULL                -- orders whose links were e-mailed
);
CREATE INDEX recovery_by_email ON recovery_requests (email_hash, at);
CREATE INDEX recovery_by_client ON recovery_requests (client_hash, at);

CREATE TABLE thanks_waiting (
    session_id TEXT PRIMARY KEY NOT NULL,
    first_seen INTEGER NOT NULL          -- unix seconds
);
CREATE INDEX thanks_waiting_by_time ON thanks_waiting (first_seen);
