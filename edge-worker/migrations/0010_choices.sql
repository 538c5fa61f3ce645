-- What was bought of each clip of an order (issue 13: variants and licences).
--
-- orders.choices  JSON object from clip slug to {"variant": …, "licence": …}
--                 for the clips bought in a variant or under a licence tier,
--                 as the order's newest token says (a version 2 token);
--                 NULL for orders of plain clips and rows written before.
-- A reissued or resent link carries them again, so that a customer keeps
-- the file and licence they paid for.
ALTER TABLE orders ADD COLUMN choices TEXT;
