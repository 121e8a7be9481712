-- A clinic's messaging hours (weekly hours, holidays, its patients' default quiet hours) as the
-- JSON document of `PUT /v1/clinic/hours`; NULL: the Israeli defaults. A patient's own quiet
-- hours as `HH:MM-HH:MM` in the patient's time zone; NULL: the clinic's default.
ALTER TABLE clinics ADD COLUMN messaging_hours TEXT;
ALTER TABLE patients ADD COLUMN quiet_hours TEXT;
