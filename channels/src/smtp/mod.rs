//! Email over SMTP (lettre): sending, reply classification, and a small SMTP receiver that the
//! sandbox and tests use as the mail server.
