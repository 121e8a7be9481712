-- 1 when the attempt went to the sandbox instead of a provider: it reached no patient.
ALTER TABLE attempts ADD COLUMN sandbox BIGINT NOT NULL DEFAULT 0;
