-- Staff accounts for the console: named people of one clinic who sign in with an email address
-- and a password (argon2id, PHC string), optionally a TOTP second factor. Every action they take
-- records the person, not a free-text name.
CREATE TABLE staff_members (
    -- stf_<uuidv7>
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    -- the sign-in name, lower-cased: one account per address across clinics
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- staff | admin
    role TEXT NOT NULL,
    -- the console's language for this person: en | he
    language TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    -- base32 TOTP secret once the person turned the second factor on; NULL: password only
    totp_secret TEXT,
    -- a secret proposed on the set-up page, kept until the person proves it with a code
    totp_pending TEXT,
    -- the last TOTP time step accepted: a code is good once
    totp_last_step INTEGER,
    -- failed sign-ins since the last good one; locked_until set once they reach the limit
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    disabled_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX staff_members_clinic ON staff_members (clinic_id, name);

-- A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a copy of
-- the database signs no one in.
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    staff_id TEXT NOT NULL REFERENCES staff_members(id),
    -- the form token every state change must carry (synchronizer token pattern)
    csrf_token TEXT NOT NULL,
    -- password checked, second factor still owed: such a session opens only the code page
    awaiting_second_factor INTEGER NOT NULL DEFAULT 0,
    -- the patient this person last sent to or replied to: a send to another asks once more
    last_patient_id TEXT,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    -- the absolute end, whatever the activity
    expires_at INTEGER NOT NULL
);
CREATE INDEX staff_sessions_member ON staff_sessions (staff_id);
