//! One file per console page: its handlers and what its template shows.

pub mod account;
pub mod callbacks;
pub mod inbox;
mod inbox_messages;
pub mod inbox_reply;
pub mod notifications;
pub mod patients;
pub mod sign_in;
mod why;
