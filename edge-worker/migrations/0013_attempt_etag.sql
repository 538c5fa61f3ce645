-- Which version of the clip's object an attempt was served from (the
-- object's ETag): a download that broke off on a version the owner has
-- since replaced is worth nothing to the customer, so a new download of
-- the new version is given back all it was charged (`CREDIT_REPLACED_*`),
-- not only the credit pool's share.
--
-- download_attempts.etag  the object's quoted ETag; NULL before this
--                         migration and for answers that served no object
ALTER TABLE download_attempts ADD COLUMN etag TEXT;
