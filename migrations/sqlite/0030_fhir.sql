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
    -- the bearer token, or `user:password` for basic
    auth_secret TEXT,
    enabled INTEGER NOT NULL,
    -- since when every push has failed; NULL after a success
    failing_since INTEGER,
    -- when the "push failing" event was raised for the current failure
    alerted_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per subject waiting to be pushed: a notification (its CommunicationRequest and
-- Communications) or a patient's message. The pusher reads the records when it sends, so a
-- pending unclaimed row stands for every change made since it was written.
CREATE TABLE fhir_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    -- notification | inbound_message
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    -- pending | pushed
    state TEXT NOT NULL,
    tries INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_token TEXT,
    created_at INTEGER NOT NULL,
    first_tried_at INTEGER,
    pushed_at INTEGER
);
CREATE INDEX fhir_outbox_due ON fhir_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX fhir_outbox_subject ON fhir_outbox (clinic_id, subject_id, seq) WHERE state = 'pending';

-- Every try of a push: the deliveries log.
CREATE TABLE fhir_pushes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    outbox_seq INTEGER NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    try_number INTEGER NOT NULL,
    at INTEGER NOT NULL,
    -- resources in the Bundle
    entries INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    -- why it failed, without the server's body: `timeout`, `connect`, `status 412`, …
    error TEXT,
    -- pushed | retrying
    outcome TEXT NOT NULL,
    next_retry_at INTEGER
);
CREATE INDEX fhir_pushes_clinic ON fhir_pushes (clinic_id, id);
