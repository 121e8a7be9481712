-- `attempts_provider_message` holds only the attempts a provider has named. Every lookup by a
-- provider's message id (a status update that did not echo our reference, an early status, a
-- reply's context) compares it with `=` or `IN`, which no NULL matches, so the NULL entries
-- served nothing. They cost two index writes an attempt: one when the attempt opens, one when
-- the hand-over's answer names it.
DROP INDEX attempts_provider_message;
CREATE INDEX attempts_provider_message ON attempts (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
