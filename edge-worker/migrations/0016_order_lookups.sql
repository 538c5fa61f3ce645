-- An order's checkout and the mail of its link, found by order: the owner's
-- `orders list` reads each order's customer (its checkout's address, else
-- where its link was mailed), and without these indexes every order scanned
-- both tables: 16 s and some 200 million rows read at 20,000 orders, where
-- the list took 21 ms before (a review measured it on SQLite).
CREATE INDEX checkouts_by_order ON checkouts (order_id, created_at);
CREATE INDEX outbox_by_order ON outbox (order_id, id);
