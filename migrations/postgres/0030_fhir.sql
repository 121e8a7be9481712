-- FHIR R4: how a clinic's records are identified, the clinic's own FHIR server, and the outbox
-- that pushes each changed record to it.

-- Identifier systems: NULL means `urn:medrelay:clinic:<slug>` and `<base>/patient`.
ALTER TABLE clinics ADD COLUMN fhir_identifier_base TEXT;
ALTER TABLE clinics ADD COLUMN fhir_patient_system TEXT;

-- At most one server per clinic. The credentials are write-only through the API.
CREATE TABLE fhir_servers (
    clinic_id TEXT PRIMARY KEY REFERENCES clinics(id),
    base_url TEXT NOT NULL,
    -- none | bearer | basic
    auth_kind TEXT NOT NULL,
    -- the bearer token, or the password for basic
    auth_secret TEXT,
    -- the user name for basic
    auth_username TEXT,
    enabled BIGINT NOT NULL,
    -- since when every push has failed; NULL after a success
    failing_since BIGINT,
    -- when the "push failing" alert was raised; NULL once no push has been failing that long
    alerted_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What waits to be pushed: a subject, a notification (its CommunicationRequest and
-- Communications) or a patient's message. The pusher reads the records when it sends, so the one
-- row of a subject that no pusher holds (`lease_token` NULL) stands for every change made since
-- it was written: the event writer adds to it instead of adding a row. A row is deleted once
-- pushed; a failed try moves its count and next try into that waiting row.
CREATE TABLE fhir_outbox (
    seq BIGSERIAL PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    -- notification | inbound_message
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    -- failed tries so far
    tries BIGINT NOT NULL,
    -- when to try next; while held, when the hold runs out
    next_attempt_at BIGINT NOT NULL,
    lease_token TEXT,
    -- the first change it stands for (the backlog's age)
    created_at BIGINT NOT NULL,
    -- the latest change it stands for
    changed_at BIGINT NOT NULL,
    -- since when its pushes have failed
    first_tried_at BIGINT
);
CREATE INDEX fhir_outbox_due ON fhir_outbox (next_attempt_at);
CREATE INDEX fhir_outbox_subject ON fhir_outbox (clinic_id, subject_id, seq);
-- One waiting row per subject: the event writer's upsert lands on it.
CREATE UNIQUE INDEX fhir_outbox_waiting ON fhir_outbox (clinic_id, subject_kind, subject_id)
    WHERE lease_token IS NULL;

-- Every try of a push: the deliveries log.
CREATE TABLE fhir_pushes (
    id BIGSERIAL PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    try_number BIGINT NOT NULL,
    at BIGINT NOT NULL,
    -- resources in the Bundle
    entries BIGINT NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    -- why it failed, without the server's body: `timeout`, `connect`, `status 412`, …
    error TEXT,
    -- pushed | retrying | dropped (its record is gone)
    outcome TEXT NOT NULL,
    next_retry_at BIGINT
);
CREATE INDEX fhir_pushes_clinic ON fhir_pushes (clinic_id, id);
