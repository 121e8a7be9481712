//! One file per console page: its handlers and what its template shows.

pub mod account;
pub mod patients;
pub mod sign_in;
pub mod stats;
pub mod today;
mod why;
