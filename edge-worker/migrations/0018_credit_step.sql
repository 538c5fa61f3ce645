-- A resume is given back what an attempt was charged for the bytes it asks
-- for again, also when an earlier request gave back part of that attempt
-- (download_attempts.credited_bytes is then the sum of the credits):
-- aria2c's opening GET, credited its tail when it settled, was never
-- credited for the middle its resume asked for, and the resume was refused
-- with the pool far from spent (the attack review). credit_step is what the
-- latest credit gave: what CREDIT_CLIP, and a restart's RESTART_CLIP,
-- count against the credit pool for the request that gave it (credited_by).
ALTER TABLE download_attempts ADD COLUMN credit_step INTEGER;
UPDATE download_attempts SET credit_step = credited_bytes WHERE credited_by IS NOT NULL;
