-- What providers told us about a contact address (not on WhatsApp, a landline, unsubscribed),
-- remembered so the next notification routes around it at once.
CREATE TABLE recipient_facts (
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    address TEXT NOT NULL,
    channel TEXT NOT NULL,
    fact TEXT NOT NULL,
    learned_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, address, channel, fact)
);
