-- Downloads counted per order and clip. The order page shows
-- `remaining = token allowance - COUNT(*)` for each clip.
-- Issue 4 only reads this table; recording downloads (the ledger) comes later.
CREATE TABLE IF NOT EXISTS downloads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    clip_slug TEXT NOT NULL,
    downloaded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS downloads_by_order ON downloads (order_id, clip_slug);
