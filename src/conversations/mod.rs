//! Two-way messaging: what patients send, the answers medrelay gives on its own, and the
//! clinic's handling of each conversation. A message is stored, matched to its patient, read by
//! the rules of `policy::inbound` and acted on in one transaction ([`receive`]); the store does
//! the writing, this module only decides what to write.

pub mod overdue;
mod receive;

pub use receive::receive;
