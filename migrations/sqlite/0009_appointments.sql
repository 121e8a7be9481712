-- Appointments booked through POST /v1/appointments, and the reminder series each one owns.
CREATE TABLE appointments (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    -- the booking system's own id for the appointment, when it gave one
    external_id TEXT,
    starts_at INTEGER NOT NULL,
    topic TEXT NOT NULL,
    template TEXT NOT NULL,
    -- the caller's template parameters (JSON object); date and time are filled from starts_at
    params TEXT NOT NULL,
    -- minutes before starts_at, comma-separated: the series as configured when it was booked
    reminder_minutes TEXT NOT NULL,
    -- JSON list of {before, reason} for the reminders the series left out
    skipped_reminders TEXT NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (clinic_id, external_id),
    UNIQUE (clinic_id, idempotency_key)
);

-- A reminder knows its appointment and how long before it it goes.
ALTER TABLE notifications ADD COLUMN appointment_id TEXT REFERENCES appointments(id);
ALTER TABLE notifications ADD COLUMN reminder_minutes_before INTEGER;
CREATE INDEX notifications_appointment ON notifications (appointment_id) WHERE appointment_id IS NOT NULL;

-- The patient cap counts each patient's non-urgent notifications of the last 24 hours (reminders
-- aside) at every intake.
CREATE INDEX notifications_patient_cap ON notifications (patient_id, created_at)
    WHERE priority = 'normal' AND appointment_id IS NULL;
