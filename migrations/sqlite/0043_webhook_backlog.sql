-- The metrics sampler counts the webhook messages still to deliver every few seconds. Delivered
-- messages stay (the deliveries log reads them), so that count read the whole table each time,
-- growing with every message ever sent; this index holds only the pending ones.
CREATE INDEX webhook_messages_pending ON webhook_messages (state) WHERE state = 'pending';
