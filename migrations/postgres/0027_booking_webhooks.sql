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
    previous_secret_until BIGINT,
    enabled BIGINT NOT NULL,
    -- Since when every delivery has failed; NULL after a success.
    failing_since BIGINT,
    disabled_at BIGINT,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The event writer's probe: a clinic without endpoints costs one look-up here per batch.
CREATE INDEX webhook_endpoints_clinic ON webhook_endpoints (clinic_id);

CREATE TABLE webhook_messages (
    seq BIGSERIAL PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    -- `webhook-id`: the same for every endpoint and every try of one event.
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- Messages with the same key go to the endpoint one at a time, in `seq` order: the
    -- notification's id, else the patient's.
    order_key TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
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
    tries BIGINT NOT NULL,
    -- When to try next; while claimed, when the claim runs out.
    next_attempt_at BIGINT NOT NULL,
    lease_token TEXT,
    created_at BIGINT NOT NULL,
    -- Counted from here: the retry period, and replays.
    first_tried_at BIGINT,
    delivered_at BIGINT,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_messages_order ON webhook_messages (endpoint_id, order_key, seq)
    WHERE state = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at);

-- Every try of a message: the deliveries log.
CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    try_number BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    -- Why it failed, without the receiver's body: `timeout`, `connect`, `status 503`, ….
    error TEXT,
    -- delivered | retrying | failed
    outcome TEXT NOT NULL,
    next_retry_at BIGINT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
