-- Secure message links: a sensitive notice may carry a link to a page where the patient proves
-- who they are (a code sent by SMS, or the date of birth) and then reads the message.

-- The date of birth, YYYY-MM-DD, one of the answers a link's page accepts.
ALTER TABLE patients ADD COLUMN birth_date TEXT;

-- A topic's notices carry a link only when the topic says so and its clinic has links on.
ALTER TABLE clinic_topics ADD COLUMN secure_link BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clinics ADD COLUMN secure_links BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clinics ADD COLUMN secure_link_hours BIGINT NOT NULL DEFAULT 72;

-- One live link per notification; issuing again (a fallback's notice) replaces its token and
-- keeps its count of wrong answers. Nothing here can open the link or read the code: the token,
-- the code and the session are stored only as SHA-256 hashes.
CREATE TABLE secure_links (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    notification_id TEXT NOT NULL UNIQUE REFERENCES notifications(id),
    token_hash TEXT NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL,
    wrong_answers BIGINT NOT NULL DEFAULT 0,
    codes_sent BIGINT NOT NULL DEFAULT 0,
    code_hash TEXT,
    code_expires_at BIGINT,
    locked_at BIGINT,
    verified_at BIGINT,
    session_hash TEXT,
    session_until BIGINT,
    -- set once the link's expiry is recorded as an event
    expiry_recorded BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX secure_links_clinic ON secure_links (clinic_id, notification_id);
CREATE INDEX secure_links_expiring ON secure_links (expires_at) WHERE expiry_recorded = 0;
