-- PostgreSQL drops the foreign keys of the rows written for every notification (see its 0039):
-- there each check is a query and a lock on the parent row. SQLite checks a foreign key with one
-- lookup in the parent's primary key, in the same process, and removing them measured no gain
-- (4 pairs, `bench/external/run.py --compare-binaries`), so SQLite keeps them, and with them
-- every test keeps catching an insert that names a row that does not exist.
SELECT 1;
