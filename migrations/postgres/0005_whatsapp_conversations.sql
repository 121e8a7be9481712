-- When each patient last wrote to one of our WhatsApp numbers: Meta lets a business send free
-- text only within 24 hours of it (the customer service window); outside it, only templates.
CREATE TABLE whatsapp_conversations (
    phone_number_id TEXT NOT NULL,
    address TEXT NOT NULL,
    last_inbound_at BIGINT NOT NULL,
    PRIMARY KEY (phone_number_id, address)
);
