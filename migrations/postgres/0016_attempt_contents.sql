-- What each attempt put in front of the patient, as rendered at hand-over: the message itself
-- or a content-free notice, in which language, the email subject, the text and, for WhatsApp,
-- the approved template with its parameters. Written with the hand-over's start, in the same
-- transaction, so every hand-over that may have reached the patient has its content on record.
-- A table of its own rather than columns on attempts: attempts are read and updated on every
-- dispatch round and status webhook, this row is written once and read only for display, and
-- retention will redact it on its own schedule without touching the attempt.
CREATE TABLE attempt_contents (
    attempt_id TEXT PRIMARY KEY REFERENCES attempts(id),
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    notification_id TEXT NOT NULL REFERENCES notifications(id),
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT,
    -- NULL once redacted by retention.
    text TEXT,
    template_name TEXT,
    -- JSON array of the template's positional parameters.
    template_params TEXT,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX attempt_contents_notification ON attempt_contents (clinic_id, notification_id);
