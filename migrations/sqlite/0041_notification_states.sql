-- A notification's changing state (its status, when it is due, who holds it, where its last
-- change is in the feed) moves to a narrow table of its own, with the four indexes whose keys
-- those changes move. What was asked (patient, text, channel, priority, idempotency key) stays in
-- `notification_requests`, written once with its ten indexes. Until now every status change
-- rewrote the whole row (hundreds of bytes: the text, its parameters, the booking system's
-- metadata) and moved its entries in four of the table's indexes; it now rewrites a row of a few
-- dozen bytes, many to a page, and the same entries.
-- Readers see both as the view `notifications`, the notification as it was before.
CREATE TABLE notification_states (
    id TEXT PRIMARY KEY,
    -- copies of the request's, which never change, for the indexes below
    clinic_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    delivered_channel TEXT,
    -- when the dispatcher must look at it next; NULL once it is finished
    due_at INTEGER,
    lease_token TEXT,
    lease_until INTEGER,
    -- set by delivery tracking when an update arrives while the dispatcher holds the lease
    recheck INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    feed_position INTEGER NOT NULL DEFAULT 0
);

INSERT INTO notification_states (id, clinic_id, created_at, status, delivered_channel, due_at,
    lease_token, lease_until, recheck, updated_at, feed_position)
SELECT id, clinic_id, created_at, status, delivered_channel, due_at,
    lease_token, lease_until, recheck, updated_at, feed_position
FROM notifications;

DROP INDEX notifications_due;
DROP INDEX notifications_clinic_status;
DROP INDEX notifications_feed;
DROP INDEX notifications_updated;
ALTER TABLE notifications DROP COLUMN status;
ALTER TABLE notifications DROP COLUMN delivered_channel;
ALTER TABLE notifications DROP COLUMN due_at;
ALTER TABLE notifications DROP COLUMN lease_token;
ALTER TABLE notifications DROP COLUMN lease_until;
ALTER TABLE notifications DROP COLUMN recheck;
ALTER TABLE notifications DROP COLUMN updated_at;
ALTER TABLE notifications DROP COLUMN feed_position;
ALTER TABLE notifications RENAME TO notification_requests;

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
