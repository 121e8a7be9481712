-- Two-way messaging. A patient who writes is matched to the clinic's patient by number; a
-- number the clinic does not know becomes an "unknown contact": a patient row of its own
-- (external_id `unknown:<E.164>`), so its conversation, opt-outs and auto replies work the same.
ALTER TABLE patients ADD COLUMN unknown_contact BIGINT NOT NULL DEFAULT 0;

-- One conversation per patient: its labels, handling state and the clocks the auto replies and
-- the overdue rule read. The conversation's messages are the patient's inbound messages and the
-- notifications sent to them.
CREATE TABLE conversations (
    patient_id TEXT PRIMARY KEY REFERENCES patients(id),
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    -- open | handled
    status TEXT NOT NULL,
    -- JSON array of label names, sorted: built-in and the clinic's own
    labels TEXT NOT NULL DEFAULT '[]',
    -- when an urgent message arrived that staff have not yet handled; NULL: not urgent
    urgent_since BIGINT,
    last_message_at BIGINT NOT NULL,
    last_inbound_at BIGINT,
    -- the oldest inbound message neither answered nor handled; NULL: nothing waits
    awaiting_since BIGINT,
    -- when the waiting message passes the clinic's response target (counted in messaging hours)
    overdue_at BIGINT,
    -- when the overdue event was raised for the current wait; NULL: not yet
    overdue_raised_at BIGINT,
    last_staff_reply_at BIGINT,
    last_receipt_at BIGINT,
    last_away_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_clinic ON conversations (clinic_id, last_message_at);
CREATE INDEX conversations_overdue_due ON conversations (overdue_at)
    WHERE overdue_at IS NOT NULL AND overdue_raised_at IS NULL;

-- What patients sent, stored before the provider hears 200; one row per provider message id, so
-- a redelivered webhook changes nothing.
CREATE TABLE inbound_messages (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    -- whatsapp | sms
    channel TEXT NOT NULL,
    -- the wamid or the Twilio MessageSid
    provider_message_id TEXT NOT NULL,
    -- our number that received it: the WhatsApp phone_number_id or the Twilio `To`
    sender TEXT NOT NULL,
    -- the patient's number, E.164
    from_address TEXT NOT NULL,
    -- text | button | interactive | image | document | audio | video | sticker | location | …
    kind TEXT NOT NULL,
    text TEXT,
    -- the id of the quick-reply button or list row tapped
    reply_payload TEXT,
    -- the provider message id of ours the patient replied to
    in_reply_to TEXT,
    -- JSON: media (provider media id, MIME type, caption, file name) or location metadata
    media TEXT,
    -- when the patient sent it (the provider's timestamp, never later than received_at)
    sent_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    -- what medrelay read in it: none | opt_out | opt_in | confirm | cancel | urgent | ambiguous_reply
    intent TEXT NOT NULL DEFAULT 'none',
    answered_at BIGINT,
    answered_by TEXT,
    handled_at BIGINT,
    handled_by TEXT,
    UNIQUE (channel, provider_message_id)
);
CREATE INDEX inbound_messages_patient ON inbound_messages (patient_id, received_at);
CREATE INDEX inbound_messages_clinic ON inbound_messages (clinic_id, received_at);

-- Where a notification came from: `api` (a booking system or staff through /v1/notifications),
-- `auto:<kind>` (medrelay answering a patient: receipt, away, opt_out, …) or `staff_reply` (staff
-- answering in a conversation). Only `api` counts toward the patient's daily caps.
ALTER TABLE notifications ADD COLUMN origin TEXT NOT NULL DEFAULT 'api';
-- The inbound message an auto or staff reply answers.
ALTER TABLE notifications ADD COLUMN in_reply_to TEXT REFERENCES inbound_messages(id);

-- Conversation events (a message received, an auto reply, a label, handling) belong to a patient's
-- conversation rather than to one notification.
ALTER TABLE events ADD COLUMN clinic_id TEXT;
ALTER TABLE events ADD COLUMN patient_id TEXT;
ALTER TABLE events ADD COLUMN inbound_message_id TEXT;
CREATE INDEX events_conversation ON events (patient_id, id) WHERE patient_id IS NOT NULL;

-- A clinic's two-way settings (auto-reply period, response target, keyword lists, urgent
-- phrases, emergency numbers, its own labels) as the JSON of PUT /v1/clinic/inbound; NULL: the
-- defaults.
ALTER TABLE clinics ADD COLUMN inbound_settings TEXT;
