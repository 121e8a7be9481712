-- The directory a booking system reads: a patient erased on request keeps its row (counts,
-- statuses and ids stay), with `erased_at` set and its personal data gone.
ALTER TABLE patients ADD COLUMN erased_at BIGINT;

-- `GET /v1/appointments?day=…` and `?patient_id=…`, in time order.
CREATE INDEX appointments_clinic_starts ON appointments (clinic_id, starts_at, id);
CREATE INDEX appointments_patient_starts ON appointments (clinic_id, patient_id, starts_at, id);
