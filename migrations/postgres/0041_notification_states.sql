-- A notification's changing state (its status, when it is due, who holds it, where its last
-- change is in the feed) moves to a narrow table of its own, with the four indexes whose keys
-- those changes move. What was asked (patient, text, channel, priority, idempotency key) stays in
-- `notification_requests`, written once with its ten indexes. Until now every status change
-- wrote a new version of the whole row and, since it moved an indexed column, an entry in each
-- of the table's fourteen indexes; it now writes a row of a few dozen bytes and five entries.
-- Readers see both as the view `notifications`, the notification as it was before.
CREATE TABLE notification_states (
    id TEXT PRIMARY KEY,
    -- copies of the request's, which never change, for the indexes below
    clinic_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    delivered_channel TEXT,
    -- when the dispatcher must look at it next; NULL once it is finished
    due_at BIGINT,
    lease_token TEXT,
    lease_until BIGINT,
    -- set by delivery tracking when an update arrives while the dispatcher holds the lease
    recheck BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    feed_position BIGINT NOT NULL DEFAULT 0
) WITH (fillfactor = 80);

INSERT INTO notification_states (id, clinic_id, created_at, status, delivered_channel, due_at,
    lease_token, lease_until, recheck, updated_at, feed_position)
SELECT id, clinic_id, created_at, status, delivered_channel, due_at,
    lease_token, lease_until, recheck, updated_at, feed_position
FROM notifications;

DROP INDEX notifications_due;
DROP INDEX notifications_clinic_status;
DROP INDEX notifications_feed;
DROP INDEX notifications_updated;
ALTER TABLE notifications
    DROP COLUMN status,
    DROP COLUMN delivered_channel,
    DROP COLUMN due_at,
    DROP COLUMN lease_token,
    DROP COLUMN lease_until,
    DROP COLUMN recheck,
    DROP COLUMN updated_at,
    DROP COLUMN feed_position;
ALTER TABLE notifications RENAME TO notification_requests;
-- Changed only by a reminder's move and a redaction now: no room kept for new versions.
ALTER TABLE notification_requests SET (fillfactor = 100);

CREATE INDEX notifications_due ON notification_states (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX notifications_clinic_status ON notification_states (clinic_id, status, created_at);
CREATE INDEX notifications_feed ON notification_states (clinic_id, feed_position, id);
CREATE INDEX notifications_updated ON notification_states (clinic_id, updated_at, id);

-- Reads that filter or order by the state (a status, the feed, the last change) name the two
-- tables themselves, so that the planner sees which table's index serves them.
CREATE VIEW notifications AS
SELECT r.id, r.clinic_id, r.patient_id, r.topic, r.body, r.template, r.params, r.channel,
    r.priority, r.send_at, r.expires_at, s.status, s.delivered_channel, r.idempotency_key,
    r.request_hash, s.due_at, s.lease_token, s.recheck, r.created_at, s.updated_at,
    r.appointment_id, r.reminder_minutes_before, r.origin, r.in_reply_to, r.reference,
    r.metadata, s.feed_position, r.text_redacted_at, s.lease_until
FROM notification_requests r
JOIN notification_states s ON s.id = r.id;
