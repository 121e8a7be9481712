-- The daily retention run finds a clinic's notifications that still hold their texts by when
-- they were created, no longer by when they last changed (store/redaction.rs, `listed_by`): a
-- notification is created before it last changes, so every one past the period is among those
-- created before the cutoff, and the run still checks when each last changed. An index on
-- `updated_at` was written twice at every status change of every notification (its old entry
-- removed, the new one added); one on `created_at` is written once, when the notification is
-- taken.
DROP INDEX notifications_retention;
CREATE INDEX notifications_retention ON notifications (clinic_id, created_at)
    WHERE text_redacted_at IS NULL;
