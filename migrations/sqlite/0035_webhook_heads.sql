-- The webhook sender's claim walks one small index of what may go now: the head of each
-- (endpoint, order_key) line, the pending message with the lowest seq, marked `ready`. Finding
-- the heads at claim time (a NOT EXISTS over the pending messages per candidate) depends on the
-- planner believing how many are pending; with statistics taken while the outbox was empty it
-- scanned them all for each candidate (39 s for one claim with 18,000 pending).
--
-- A line's messages are found through webhook_messages_order, now over every message: partial on
-- pending, a planner that believed nothing pending took it for the claim too, and read every
-- pending message (and every dead entry) to sort them.
--
-- The outbox writer marks a new message ready when nothing before it in its line is pending; the
-- sender marks the next one when a head is delivered or given up. On PostgreSQL both take a
-- transaction lock on the order key first, so neither misses the message the other wrote or ended.
ALTER TABLE webhook_messages ADD COLUMN ready INTEGER NOT NULL DEFAULT 0;
UPDATE webhook_messages SET ready = 1 WHERE state = 'pending' AND NOT EXISTS (
    SELECT 1 FROM webhook_messages o WHERE o.endpoint_id = webhook_messages.endpoint_id
    AND o.order_key = webhook_messages.order_key AND o.state = 'pending'
    AND o.seq < webhook_messages.seq);
DROP INDEX webhook_messages_due;
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at, seq)
    WHERE state = 'pending' AND ready = 1;
DROP INDEX webhook_messages_order;
CREATE INDEX webhook_messages_order ON webhook_messages (endpoint_id, order_key, seq);
