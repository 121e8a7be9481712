-- Media the sandbox "received" from a patient (POST /sandbox/inbound with an image): its Meta
-- look-alike serves these ids, as Meta serves the media of messages sent to a business number.
-- Every id's bytes are the sandbox's one small image; only the id and its type are kept.
CREATE TABLE sandbox_media (
    id TEXT PRIMARY KEY,
    mime_type TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
