//! One file per console page: its handlers and what its template shows.

pub mod account;
pub mod patients;
pub mod send;
mod send_preview;
pub mod sign_in;
mod why;
