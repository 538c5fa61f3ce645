-- Who asked for a success page that is waiting for its order: the network
-- it came from, hashed as recovery_requests.client_hash is. The cap on new
-- waiting pages a minute was shop-wide alone, so junk session ids from one
-- client (30 a minute) kept every paying customer's page from being
-- recorded, and the page never asked Stripe for the order when the webhook
-- was late. Now each network has a small cap of its own under the
-- shop-wide one (sql::THANKS_WAITING).
ALTER TABLE thanks_waiting ADD COLUMN client_hash TEXT;
CREATE INDEX thanks_waiting_by_client ON thanks_waiting (client_hash, first_seen);
