-- Retention: how long a clinic keeps message texts and media references, when its daily
-- redaction runs, and which records it has already redacted.

-- Message texts (notification bodies and parameters, what each attempt rendered, patients'
-- texts, staff notes) are kept this many days; media references this many.
ALTER TABLE clinics ADD COLUMN message_text_days INTEGER NOT NULL DEFAULT 730;
ALTER TABLE clinics ADD COLUMN media_days INTEGER NOT NULL DEFAULT 90;

-- The media period moves here from the two-way settings, keeping what a clinic had stored
-- (a clinic that saved those settings stored the old default, 30, with them: it keeps 30).
UPDATE clinics SET media_days = json_extract(inbound_settings, '$.media_retention_days')
    WHERE json_extract(inbound_settings, '$.media_retention_days') IS NOT NULL;
UPDATE clinics SET inbound_settings = json_remove(inbound_settings, '$.media_retention_days')
    WHERE inbound_settings IS NOT NULL;

-- When a record's texts (or a message's media reference) were removed, by retention or erasure.
ALTER TABLE notifications ADD COLUMN text_redacted_at INTEGER;
ALTER TABLE inbound_messages ADD COLUMN text_redacted_at INTEGER;
ALTER TABLE inbound_messages ADD COLUMN media_redacted_at INTEGER;

-- Erasures made before this migration removed the texts already.
UPDATE notifications SET text_redacted_at =
    (SELECT p.erased_at FROM patients p WHERE p.id = notifications.patient_id)
    WHERE patient_id IN (SELECT id FROM patients WHERE erased_at IS NOT NULL);

-- What the daily run looks for: records whose texts or media are still there, oldest first.
CREATE INDEX notifications_retention ON notifications (clinic_id, updated_at)
    WHERE text_redacted_at IS NULL;
CREATE INDEX inbound_messages_text_retention ON inbound_messages (clinic_id, received_at)
    WHERE text_redacted_at IS NULL AND (text IS NOT NULL OR reply_payload IS NOT NULL);
CREATE INDEX inbound_messages_media_retention ON inbound_messages (clinic_id, received_at)
    WHERE media_redacted_at IS NULL AND media IS NOT NULL;
CREATE INDEX appointments_retention ON appointments (clinic_id, starts_at)
    WHERE params <> '{}';

-- One row per clinic: when its next run is due (03:00 clinic time), and the lease of the
-- instance running it, so several instances never run it twice.
CREATE TABLE retention_runs (
    clinic_id TEXT PRIMARY KEY REFERENCES clinics(id),
    next_run_at INTEGER NOT NULL,
    lease_token TEXT,
    lease_until INTEGER,
    last_started_at INTEGER,
    last_finished_at INTEGER,
    -- JSON: what the last finished run removed (counts only)
    last_counts TEXT
);
CREATE INDEX retention_runs_due ON retention_runs (next_run_at);
