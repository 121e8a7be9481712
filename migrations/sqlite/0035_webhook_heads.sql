-- The webhook sender's claim walks one small index of what may go now: the head of each
-- (endpoint, order_key) line, the pending message with the lowest seq, marked `ready`. Finding
-- the heads at claim time (a NOT EXISTS over the pending messages per candidate) depends on the
-- planner believing how many are pending; with statistics taken while the outbox was empty it
-- scanned them all for each candidate (39 s for one claim with 18,000 pending).
--
-- The outbox writer marks a new message ready when nothing before it in its line is pending; the
-- sender marks the next one when a head is delivered or given up. On PostgreSQL both take a
-- transaction lock per order_key first, so neither misses the other's message.
ALTER TABLE webhook_messages ADD COLUMN ready INTEGER NOT NULL DEFAULT 0;
UPDATE webhook_messages SET ready = 1 WHERE state = 'pending' AND NOT EXISTS (
    SELECT 1 FROM webhook_messages o WHERE o.endpoint_id = webhook_messages.endpoint_id
    AND o.order_key = webhook_messages.order_key AND o.state = 'pending'
    AND o.seq < webhook_messages.seq);
DROP INDEX webhook_messages_due;
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at, seq)
    WHERE state = 'pending' AND ready = 1;
