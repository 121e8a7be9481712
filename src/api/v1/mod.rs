//! `/v1`: one file per resource, each with the JSON its clients send and receive (`…In`,
//! `…Out`), so what clients see is defined here and not by the store's rows.

mod appointment_list;
mod appointment_out;
mod appointments;
mod callbacks;
mod clinic;
mod clinic_hours;
mod clinic_inbound;
mod clinic_secure_links;
mod conversation_out;
mod conversation_reply;
mod conversations;
mod keys;
mod messages;
mod notification_out;
mod notifications;
mod patient_directory;
mod patients;
mod stats;
mod templates;
mod topics;

use axum::Router;
use axum::routing::{delete, get, post, put};

use super::AppState;

/// Every `/v1` route.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/patients", get(patient_directory::list_patients))
        .route(
            "/v1/patients/{external_id}",
            get(patients::get_patient)
                .put(patients::put_patient)
                .patch(patients::patch_patient)
                .delete(patient_directory::erase_patient),
        )
        .route(
            "/v1/notifications",
            get(notifications::list_notifications).post(notifications::create_notification),
        )
        .route(
            "/v1/notifications/{id}",
            get(notifications::get_notification).delete(notifications::cancel_notification),
        )
        .route("/v1/topics", get(topics::list_topics))
        .route("/v1/topics/{name}", put(topics::put_topic))
        .merge(template_routes())
        .route(
            "/v1/clinic",
            get(clinic::get_clinic).patch(clinic::patch_clinic),
        )
        .route(
            "/v1/clinic/hours",
            get(clinic_hours::get_hours).put(clinic_hours::put_hours),
        )
        .route(
            "/v1/clinic/secure-links",
            get(clinic_secure_links::get_secure_links).put(clinic_secure_links::put_secure_links),
        )
        .route(
            "/v1/clinic/inbound",
            get(clinic_inbound::get_inbound).put(clinic_inbound::put_inbound),
        )
        .route(
            "/v1/appointments",
            get(appointment_list::list_appointments).post(appointments::book_appointment),
        )
        .route(
            "/v1/appointments/{id}",
            get(appointments::get_appointment)
                .put(appointments::move_appointment)
                .delete(appointments::cancel_appointment),
        )
        .route("/v1/callbacks", get(callbacks::list_callbacks))
        .route("/v1/callbacks/{id}/claim", post(callbacks::claim_callback))
        .route("/v1/callbacks/{id}/close", post(callbacks::close_callback))
        .route("/v1/messages/{id}/media", get(messages::get_media))
        .merge(conversation_routes())
        .route("/v1/keys", get(keys::list_keys).post(keys::create_key))
        .route("/v1/keys/{id}", delete(keys::revoke_key))
        .route("/v1/stats", get(stats::get_stats))
}

fn conversation_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/conversations", get(conversations::list_conversations))
        .route(
            "/v1/conversations/{patient_id}",
            get(conversations::get_conversation),
        )
        .route(
            "/v1/conversations/{patient_id}/reply",
            post(conversation_reply::reply),
        )
        .route(
            "/v1/conversations/{patient_id}/handled",
            post(conversations::mark_handled),
        )
        .route(
            "/v1/conversations/{patient_id}/labels",
            post(conversations::change_labels),
        )
}

fn template_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/templates", get(templates::list_templates))
        .route(
            "/v1/templates/{name}/{language}",
            get(templates::get_template)
                .put(templates::put_template)
                .delete(templates::delete_template),
        )
        .route("/v1/quick-replies", get(templates::list_quick_replies))
        .route(
            "/v1/quick-replies/{name}",
            get(templates::get_quick_reply)
                .put(templates::put_quick_reply)
                .delete(templates::delete_quick_reply),
        )
}
