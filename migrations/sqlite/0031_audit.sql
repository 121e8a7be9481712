-- The audit trail: who did what through the API (every change, every read of patients' content),
-- one row per request, apart from `events` (the state history of notifications and
-- conversations). No message text, phone number or body is kept: ids, the route's action and
-- the answer's status only. Rows are only ever added: the triggers below refuse to change or
-- remove one, whoever asks, so not even a bug or a hand-typed statement can rewrite history.
CREATE TABLE audit_entries (
    -- aud_<uuidv7>: sorts by creation
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    at INTEGER NOT NULL,
    -- `key:<id>` (later `staff:<id>`)
    actor TEXT NOT NULL,
    -- booking | staff | admin
    actor_role TEXT NOT NULL,
    -- `notification.create`, `patient.read`, `fhir.search`, …
    action TEXT NOT NULL,
    -- `notification`, `patient`, `Communication`, …
    resource_type TEXT NOT NULL,
    -- from the path (or the Location of what a POST made); NULL for lists and searches
    resource_id TEXT,
    -- the HTTP status answered
    outcome INTEGER NOT NULL,
    -- the request's X-Request-Id, as its log lines carry it
    request_id TEXT NOT NULL,
    -- the peer's IP address
    client_address TEXT
);
CREATE INDEX audit_entries_newest ON audit_entries (clinic_id, at, id);
-- who touched this record
CREATE INDEX audit_entries_resource ON audit_entries (clinic_id, resource_type, resource_id, at);

CREATE TRIGGER audit_entries_never_change BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only: they cannot be changed');
END;

CREATE TRIGGER audit_entries_never_go BEFORE DELETE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only: they cannot be deleted');
END;
