-- Every dispatch round looks up the facts learned about its recipients' addresses and their open
-- WhatsApp windows by address alone, which neither table's primary key starts with: each round
-- read both tables whole, and they grow with every patient a clinic has learned of or heard from.
CREATE INDEX recipient_facts_address ON recipient_facts (address);
CREATE INDEX whatsapp_conversations_address ON whatsapp_conversations (address);
