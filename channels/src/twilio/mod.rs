//! Twilio Programmable Messaging (SMS) and Voice: sending, TwiML, error classification,
//! `X-Twilio-Signature` validation and status callbacks.
