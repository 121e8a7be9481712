-- Staff callback queue: "call this patient back", the last resort when no channel delivered.
CREATE TABLE callback_tasks (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    notification_id TEXT NOT NULL UNIQUE REFERENCES notifications(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at INTEGER,
    outcome TEXT,
    note TEXT,
    closed_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX callback_tasks_queue ON callback_tasks (clinic_id, status, created_at);
