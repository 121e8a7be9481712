-- Phone numbers are read with libphonenumber's metadata: a clinic's numbers written without a
-- country code are read in its region, and each patient's number keeps the line type the metadata
-- gives it (mobile, landline, unknown), so a landline is called from the first message. Numbers
-- stored before have no line type (NULL, read as unknown) until the patient is next saved.
ALTER TABLE clinics ADD COLUMN phone_region TEXT NOT NULL DEFAULT 'IL';
ALTER TABLE patients ADD COLUMN phone_type TEXT;
