-- A failed refund's event is recorded once (docs/payments.md): its outcome
-- joins the unique index of processed event ids, so that two deliveries
-- at once, or a delivery and the cron's reading back of Stripe's events,
-- cannot both record it (the second's batch fails, and its retry is a
-- duplicate). An event an earlier Worker recorded twice keeps its first row;
-- the later ones become duplicates, as a later delivery is recorded.
UPDATE payment_events SET outcome = 'duplicate', detail = 'already processed'
    WHERE outcome = 'refund_failed' AND id NOT IN (
        SELECT MIN(id) FROM payment_events WHERE outcome = 'refund_failed' GROUP BY provider, event_id);
DROP INDEX payment_events_processed;
CREATE UNIQUE INDEX payment_events_processed ON payment_events (provider, event_id)
    WHERE outcome IN ('processed', 'awaiting_payment', 'partial_refund', 'refund_without_order', 'revoke_pending',
        'refund_failed');
