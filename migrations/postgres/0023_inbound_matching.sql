-- An inbound message is matched to the patient by the number it came from, within the clinics
-- that use the number it arrived on.
CREATE INDEX patients_phone ON patients (phone, clinic_id) WHERE phone IS NOT NULL;
