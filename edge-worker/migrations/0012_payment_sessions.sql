-- A payment's events by checkout session (or, for refunds and disputes, by
-- payment id): the success page asks for them on every check (every 3 s
-- while a customer waits), the self-test's missing-order check and a
-- checkout's batch too. Without this index each was a scan of every
-- webhook delivery ever recorded.
CREATE INDEX payment_events_by_session ON payment_events (session_id, outcome);
