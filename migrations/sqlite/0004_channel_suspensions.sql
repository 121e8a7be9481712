-- A clinic's channel paused because its provider account is unusable (bad credentials, billing,
-- a locked account): traffic goes to other channels until `until`, then the channel is tried again.
CREATE TABLE channel_suspensions (
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    since INTEGER NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, channel)
);
