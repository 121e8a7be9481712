//! Meta WhatsApp Cloud API: sending, error classification, webhook signatures and statuses.
