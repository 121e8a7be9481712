-- `attempts_notification` made covering for GET /v1/stats. EXPLAIN (ANALYZE, BUFFERS) on a
-- million notifications showed every statistics query that joins the period's notifications to
-- their attempts (counts, latencies, reminders' reads) running as a hash join over a parallel
-- sequential scan of all 1.08 million attempts, four times a request (7 days: 260–700 ms a
-- query): attempts carry no clinic_id or time of their own, and 20,000 probes of the old index,
-- each followed by a heap fetch, looked dearer to the planner. With the columns the statistics
-- read in the index, each probe is an index-only scan (where the visibility map, kept by
-- autovacuum, allows it), the planner picks a nested loop over the period's notifications and a
-- week's queries take 45–105 ms.
--
-- Same key as before, so the dispatcher's lookups by notification are served as they were; the
-- index replaces the old one instead of adding a third to every attempt write.
DROP INDEX attempts_notification;
CREATE INDEX attempts_notification ON attempts (notification_id, created_at)
    INCLUDE (channel, status, accepted_at, delivered_at, read_at);
