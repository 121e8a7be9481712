-- Events carry the typed fact as JSON (`data`) beside its sentence, and who caused them
-- (`actor`: `key:<id>`, `staff:<name>`, `system`). An event need not belong to a notification
-- (conversations, keys). Earlier rows have no data or actor.
ALTER TABLE events ALTER COLUMN notification_id DROP NOT NULL;
ALTER TABLE events ADD COLUMN data TEXT;
ALTER TABLE events ADD COLUMN actor TEXT;
