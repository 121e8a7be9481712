-- The rows written for every notification and every change of it (the notification, its
-- attempts and what each rendered, its events, the audit entry of its request) check no foreign
-- keys on PostgreSQL. Each check is a query of its own and a KEY SHARE lock on the parent row,
-- taken per inserted row (about a dozen a notification, every one of them locking the clinic's
-- single row or the patient's). Dropping them took 8 % off the CPU a notification costs
-- (gateway and database: 0.919x, `bench/external/run.py --compare-binaries`, 3 pairs, less in
-- all three).
-- None of the parents (clinics, patients, notifications, attempts, appointments, patients'
-- messages) is ever deleted, so the constraints only caught an insert naming a row that never
-- existed; SQLite keeps them, at no measurable cost, and every test runs on SQLite as well.
ALTER TABLE notifications DROP CONSTRAINT notifications_clinic_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_patient_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_appointment_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_in_reply_to_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_notification_id_fkey;
ALTER TABLE attempt_contents DROP CONSTRAINT attempt_contents_attempt_id_fkey;
ALTER TABLE attempt_contents DROP CONSTRAINT attempt_contents_clinic_id_fkey;
ALTER TABLE attempt_contents DROP CONSTRAINT attempt_contents_notification_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_notification_id_fkey;
ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_clinic_id_fkey;
