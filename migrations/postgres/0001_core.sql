-- Core schema. Ids are TEXT, instants are BIGINT unix milliseconds UTC, flags are BIGINT 0/1,
-- so the same queries run on PostgreSQL and SQLite through sqlx's Any driver.

CREATE TABLE clinics (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    default_language TEXT NOT NULL,
    default_channels TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE patients (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    timezone TEXT NOT NULL,
    phone TEXT,
    whatsapp BIGINT NOT NULL,
    email TEXT,
    channels TEXT NOT NULL,
    opted_out TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (clinic_id, external_id)
);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    topic TEXT NOT NULL,
    body TEXT,
    template TEXT,
    params TEXT,
    channel TEXT,
    priority TEXT NOT NULL,
    send_at BIGINT NOT NULL,
    expires_at BIGINT,
    status TEXT NOT NULL,
    delivered_channel TEXT,
    idempotency_key TEXT,
    request_hash TEXT,
    -- when the dispatcher must look at it next; NULL once it is finished
    due_at BIGINT,
    lease_token TEXT,
    -- set by delivery tracking when an update arrives while the dispatcher holds the lease
    recheck BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (clinic_id, idempotency_key)
);
CREATE INDEX notifications_due ON notifications (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX notifications_patient ON notifications (clinic_id, patient_id, created_at);
CREATE INDEX notifications_clinic_status ON notifications (clinic_id, status, created_at);

CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL REFERENCES notifications(id),
    channel TEXT NOT NULL,
    sender TEXT NOT NULL,
    status TEXT NOT NULL,
    provider_message_id TEXT,
    error_code TEXT,
    error_text TEXT,
    retry_at BIGINT,
    deliver_by BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    accepted_at BIGINT,
    delivered_at BIGINT,
    read_at BIGINT,
    failed_at BIGINT
);
CREATE INDEX attempts_notification ON attempts (notification_id, created_at);
CREATE INDEX attempts_provider_message ON attempts (provider_message_id);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    notification_id TEXT NOT NULL REFERENCES notifications(id),
    attempt_id TEXT,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX events_notification ON events (notification_id, id);

-- The sandbox provider's own records: what each recipient received, and the status callbacks it
-- still owes the gateway. Kept in the database so they survive a restart like a real provider's.
CREATE TABLE sandbox_messages (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    language TEXT NOT NULL,
    callback_ref TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    next_status TEXT,
    next_status_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sandbox_messages_due ON sandbox_messages (next_status_at) WHERE next_status_at IS NOT NULL;
CREATE INDEX sandbox_messages_recipient ON sandbox_messages (recipient, created_at);
