-- A claim marks its lease in `lease_until` instead of moving `due_at`, so it sets no indexed
-- column: SQLite rewrites the row and no index entry (on PostgreSQL the update can be HOT).
ALTER TABLE notifications ADD COLUMN lease_until INTEGER;
-- A lease held across the upgrade ends when it did: until now a held notification's due time
-- was its lease's end.
UPDATE notifications SET lease_until = due_at WHERE lease_token IS NOT NULL;
