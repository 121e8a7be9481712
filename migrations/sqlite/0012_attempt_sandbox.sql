-- 1 when the attempt went to the sandbox instead of a provider: it reached no patient.
ALTER TABLE attempts ADD COLUMN sandbox INTEGER NOT NULL DEFAULT 0;
-- A clinic's sandbox outbox finds its messages through their attempts.
CREATE INDEX sandbox_messages_attempt ON sandbox_messages (callback_ref);
