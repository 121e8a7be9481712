-- Urgent notifications have a daily cap of their own per patient, counted at every intake that
-- carries one, as the normal cap is (0009).
CREATE INDEX notifications_patient_urgent_cap ON notifications (patient_id, created_at)
    WHERE priority = 'urgent' AND appointment_id IS NULL;
