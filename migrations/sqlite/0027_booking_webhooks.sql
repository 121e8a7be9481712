-- Webhooks to the booking system (Standard Webhooks). A clinic's endpoints, and its outbox:
-- one message per event and endpoint, written in the transaction that recorded the event, then
-- delivered by the webhook sender under a lease, in order per (endpoint, notification).

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    url TEXT NOT NULL,
    -- The event types it receives, as `,type,type,` so a type matches with LIKE.
    event_types TEXT NOT NULL,
    -- `whsec_<base64>`; the previous one still signs until `previous_secret_until`.
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until INTEGER,
    enabled INTEGER NOT NULL,
    -- Since when every delivery has failed; NULL after a success.
    failing_since INTEGER,
    disabled_at INTEGER,
    disabled_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- The event writer's probe: a clinic without endpoints costs one look-up here per batch.
CREATE INDEX webhook_endpoints_clinic ON webhook_endpoints (clinic_id);

CREATE TABLE webhook_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    -- `webhook-id`: the same for every endpoint and every try of one event.
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- Messages with the same key go to the endpoint one at a time, in `seq` order: the
    -- notification's id, else the patient's.
    order_key TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    -- The payload's `data` as the event writer saw it (JSON object text).
    data TEXT NOT NULL,
    -- Copied from the records when the event was written (they never change): what the
    -- booking system maps back to its own.
    patient_external_id TEXT,
    appointment_id TEXT,
    notification_reference TEXT,
    notification_metadata TEXT,
    appointment_reference TEXT,
    appointment_metadata TEXT,
    -- pending | delivered | failed (gave up after the retry period).
    state TEXT NOT NULL,
    tries INTEGER NOT NULL,
    -- When to try next; while claimed, when the claim runs out.
    next_attempt_at INTEGER NOT NULL,
    lease_token TEXT,
    created_at INTEGER NOT NULL,
    -- Counted from here: the retry period, and replays.
    first_tried_at INTEGER,
    delivered_at INTEGER,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_messages_order ON webhook_messages (endpoint_id, order_key, seq)
    WHERE state = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at);

-- Every try of a message: the deliveries log.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    try_number INTEGER NOT NULL,
    at INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    -- Why it failed, without the receiver's body: `timeout`, `connect`, `status 503`, ….
    error TEXT,
    -- delivered | retrying | failed
    outcome TEXT NOT NULL,
    next_retry_at INTEGER
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
