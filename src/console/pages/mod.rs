//! One file per console page: its handlers, what its template shows, and its routes.

pub mod account;
pub mod appointments;
pub mod callbacks;
pub mod inbox;
mod inbox_messages;
pub mod inbox_reply;
pub mod notifications;
pub mod patients;
pub mod sandbox_phone;
pub mod send;
mod send_preview;
pub mod settings;
pub mod sign_in;
pub mod stats;
pub mod today;
mod why;

/// Every page's routes.
pub(super) fn routes() -> axum::Router<crate::api::AppState> {
    axum::Router::new()
        .merge(sign_in::routes())
        .merge(account::routes())
        .merge(today::routes())
        .merge(patients::routes())
        .merge(send::routes())
        .merge(notifications::routes())
        .merge(inbox::routes())
        .merge(inbox_reply::routes())
        .merge(callbacks::routes())
        .merge(appointments::routes())
        .merge(stats::routes())
        .merge(settings::routes())
        .merge(sandbox_phone::routes())
}
