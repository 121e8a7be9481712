//! Two-way messaging: what patients send, the answers medrelay gives on its own, and the
//! clinic's handling of each conversation.

pub mod overdue;
