-- One row that /health bumps through the writer and reads back through a reader, so a writer
-- whose commits never land shows as unhealthy. It belongs to no clinic: on distributed
-- PostgreSQL it is a reference table.
CREATE TABLE health_canary (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    beat BIGINT NOT NULL
);
INSERT INTO health_canary (id, beat) VALUES (1, 0);
