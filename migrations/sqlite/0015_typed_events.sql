-- Events carry the typed fact as JSON (`data`) beside its sentence, and who caused them
-- (`actor`: `key:<id>`, `staff:<name>`, `system`). An event need not belong to a notification
-- (conversations, keys), so `notification_id` becomes nullable: SQLite changes a column's
-- constraint only by rebuilding the table. Earlier rows keep their ids and have no data or actor.
CREATE TABLE events_typed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT REFERENCES notifications(id),
    attempt_id TEXT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    data TEXT,
    actor TEXT
);
INSERT INTO events_typed (id, notification_id, attempt_id, at, kind, detail)
    SELECT id, notification_id, attempt_id, at, kind, detail FROM events;
DROP TABLE events;
ALTER TABLE events_typed RENAME TO events;
CREATE INDEX events_notification ON events (notification_id, id);
