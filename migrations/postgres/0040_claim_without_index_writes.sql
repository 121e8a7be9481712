-- A claim marks its lease in `lease_until` instead of moving `due_at`, so it sets no indexed
-- column and its update can be HOT: the new version goes on the row's own page with no new
-- entry in any of the table's fourteen indexes, provided that page has room. The fillfactor
-- keeps that room on pages written from now on; pages already full keep taking new versions
-- elsewhere, as before.
ALTER TABLE notifications ADD COLUMN lease_until BIGINT;
-- A lease held across the upgrade ends when it did: until now a held notification's due time
-- was its lease's end.
UPDATE notifications SET lease_until = due_at WHERE lease_token IS NOT NULL;
ALTER TABLE notifications SET (fillfactor = 80);
