-- The daily caps exist against flooding, not against answering: they count only notifications
-- that came in through the API (`origin = 'api'`), never medrelay's auto replies nor staff
-- replies in a conversation. The partial indexes the cap counts read say so too, so the count
-- stays an index scan.
DROP INDEX notifications_patient_cap;
DROP INDEX notifications_patient_urgent_cap;
CREATE INDEX notifications_patient_cap ON notifications (patient_id, created_at)
    WHERE priority = 'normal' AND appointment_id IS NULL AND origin = 'api';
CREATE INDEX notifications_patient_urgent_cap ON notifications (patient_id, created_at)
    WHERE priority = 'urgent' AND appointment_id IS NULL AND origin = 'api';
