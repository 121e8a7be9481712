-- When the dispatcher began writing the attempt's request to the provider, recorded before the
-- request starts. A hand-over interrupted without it certainly never reached the provider and is
-- sent again at once; one with it may have, and is waited on until the channel's delivery
-- timeout.
ALTER TABLE attempts ADD COLUMN started_at INTEGER;
-- Attempts from before this column are taken as started: nothing says they were not.
UPDATE attempts SET started_at = created_at;
