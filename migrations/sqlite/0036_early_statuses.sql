-- Provider statuses that arrived before the hand-over's answer that names their message was
-- recorded. Meta does not promise to echo our reference on a failure, so such a status is found
-- by the provider's message id alone, and a fast failure can overtake the dispatcher's record of
-- the answer carrying that id. It is kept here, acknowledged, until the id is known; see
-- store/early_statuses.rs. One row per message and state: a provider's repeat adds nothing.
CREATE TABLE early_statuses (
    provider_message_id TEXT NOT NULL,
    state TEXT NOT NULL,
    error_code TEXT,
    error_text TEXT,
    fact TEXT,
    fact_until INTEGER,
    -- The senders of the account whose signature the status carried, one per line.
    senders TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (provider_message_id, state)
);
