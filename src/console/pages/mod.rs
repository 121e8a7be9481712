//! One file per console page: its handlers and what its template shows.

pub mod account;
pub mod sandbox_phone;
pub mod sign_in;
pub mod stats;
pub mod today;
