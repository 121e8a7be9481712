-- How an SMS was encoded (gsm7 or ucs2: one Hebrew letter makes it UCS-2) and how many segments
-- it took: the provider bills per segment.
ALTER TABLE attempts ADD COLUMN sms_encoding TEXT;
ALTER TABLE attempts ADD COLUMN sms_segments INTEGER;
