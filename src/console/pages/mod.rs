//! One file per console page: its handlers and what its template shows.

pub mod account;
pub mod callbacks;
pub mod inbox;
pub mod inbox_reply;
pub mod notifications;
pub mod patients;
pub mod settings;
pub mod sign_in;
pub mod stats;
pub mod today;
mod why;
