-- 1 when the attempt went to the sandbox instead of a provider: it reached no patient.
ALTER TABLE attempts ADD COLUMN sandbox INTEGER NOT NULL DEFAULT 0;
