-- What a booking system gives to map medrelay's records back to its own: `reference`, its id
-- for the booking or message (up to 128 printable characters), and `metadata`, a small JSON
-- object (text) returned with the record everywhere and in webhooks. Both are set when the
-- record is created and never change.
ALTER TABLE notifications ADD COLUMN reference TEXT;
ALTER TABLE notifications ADD COLUMN metadata TEXT;
ALTER TABLE appointments ADD COLUMN reference TEXT;
ALTER TABLE appointments ADD COLUMN metadata TEXT;

-- `GET /v1/notifications?reference=…`: a booking finds what it asked for.
CREATE INDEX notifications_reference ON notifications (clinic_id, reference)
    WHERE reference IS NOT NULL;
