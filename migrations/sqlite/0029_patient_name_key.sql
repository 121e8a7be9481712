-- `GET /v1/patients?q=` finds names in any case, in every cased script (Latin with accents,
-- Cyrillic, Greek). SQLite's LOWER folds ASCII only, so the gateway writes each name's folded
-- form (Rust's Unicode lowercase) beside it and searches that. Names stored before this
-- migration are folded here by the database's LOWER (exact on PostgreSQL; on SQLite exact for
-- ASCII capitals and for Hebrew and Arabic, which have no case) until the patient is next written.
ALTER TABLE patients ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
UPDATE patients SET name_key = LOWER(name);
