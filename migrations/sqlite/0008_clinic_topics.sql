-- Privacy by topic. A clinic's own topics, and its overrides of the built-in topics' default
-- sensitivity (normal, sensitive, restricted); built-in topics without a row keep their default.
CREATE TABLE clinic_topics (
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    name TEXT NOT NULL,
    sensitivity TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, name)
);

-- The number a content-free notice asks the patient to call ("please call 03-…").
ALTER TABLE clinics ADD COLUMN phone TEXT;
