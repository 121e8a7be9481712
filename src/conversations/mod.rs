//! Two-way messaging: what patients send. A message is stored, matched to its patient, read by
//! the rules of `policy::inbound` and acted on in one transaction ([`receive`]); the store does
//! the writing, this module only decides what to write.

mod receive;

pub use receive::receive;
