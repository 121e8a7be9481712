-- The change feed, `GET /v1/notifications?updated_after=…`: every write that changes what a
-- notification's answer shows sets `feed_position` in the same statement, and the feed reads a
-- clinic's notifications in (feed_position, id) order. SQLite, one writer at a time: one more
-- than the clinic's highest position. PostgreSQL: the writing transaction's id, read only below
-- the oldest transaction still running, so no change can commit behind a reader's cursor.
-- Notifications stored before this migration sit at 0, ordered by id.
ALTER TABLE notifications ADD COLUMN feed_position BIGINT NOT NULL DEFAULT 0;
CREATE INDEX notifications_feed ON notifications (clinic_id, feed_position, id);
