-- A clinic's own texts: message templates (one row per name and language, its renderings for
-- every channel as JSON) and staff quick replies (one text per language), told apart by kind.
-- Built-in templates live in the code and are overridden by a row with the same name and language.
CREATE TABLE clinic_templates (
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    content TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, kind, name, language)
);
