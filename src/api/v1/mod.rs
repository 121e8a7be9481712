//! `/v1`: one file per resource, each with the JSON its clients send and receive (`…In`,
//! `…Out`), so what clients see is defined here and not by the store's rows. Routes are
//! registered with `routes!`, which documents each handler as it routes it.

mod appointment_list;
mod appointment_out;
mod appointments;
mod audit;
mod booking_fields;
pub(crate) mod callbacks;
mod clinic;
mod clinic_fhir;
mod clinic_hours;
mod clinic_inbound;
mod clinic_retention;
mod clinic_secure_links;
mod conversation_out;
pub(crate) mod conversation_reply;
pub(crate) mod conversations;
mod deliveries;
mod keys;
pub(crate) mod messages;
mod notification_out;
pub(crate) mod notification_query;
pub(crate) mod notifications;
mod paging;
mod patient_directory;
mod patients;
mod stats;
mod templates;
mod topics;
pub(crate) mod transcript;
mod webhooks;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// Every `/v1` route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(patient_directory::list_patients))
        .routes(routes!(
            patients::get_patient,
            patients::put_patient,
            patients::patch_patient,
            patient_directory::erase_patient
        ))
        .routes(routes!(transcript::get_transcript))
        .routes(routes!(
            notifications::list_notifications,
            notifications::create_notification
        ))
        .routes(routes!(
            notifications::get_notification,
            notifications::cancel_notification
        ))
        .routes(routes!(topics::list_topics))
        .routes(routes!(topics::put_topic))
        .merge(template_routes())
        .merge(clinic_routes())
        .routes(routes!(
            appointment_list::list_appointments,
            appointments::book_appointment
        ))
        .routes(routes!(
            appointments::get_appointment,
            appointments::move_appointment,
            appointments::cancel_appointment
        ))
        .routes(routes!(callbacks::list_callbacks))
        .routes(routes!(callbacks::claim_callback))
        .routes(routes!(callbacks::close_callback))
        .routes(routes!(messages::get_media))
        .merge(conversation_routes())
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(stats::get_stats))
        .routes(routes!(audit::list_audit_entries))
        .merge(webhook_routes())
}

fn webhook_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::patch_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::replay))
}

fn clinic_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(clinic::get_clinic, clinic::patch_clinic))
        .routes(routes!(clinic_hours::get_hours, clinic_hours::put_hours))
        .routes(routes!(
            clinic_secure_links::get_secure_links,
            clinic_secure_links::put_secure_links
        ))
        .routes(routes!(
            clinic_inbound::get_inbound,
            clinic_inbound::put_inbound
        ))
        .routes(routes!(
            clinic_retention::get_retention,
            clinic_retention::put_retention
        ))
        .routes(routes!(clinic_fhir::get_fhir, clinic_fhir::put_fhir))
        .routes(routes!(clinic_fhir::delete_fhir_server))
        .routes(routes!(clinic_fhir::list_fhir_pushes))
}

fn conversation_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(conversations::list_conversations))
        .routes(routes!(conversations::get_conversation))
        .routes(routes!(conversation_reply::reply))
        .routes(routes!(conversations::mark_handled))
        .routes(routes!(conversations::change_labels))
}

fn template_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(templates::list_templates))
        .routes(routes!(
            templates::get_template,
            templates::put_template,
            templates::delete_template
        ))
        .routes(routes!(templates::list_quick_replies))
        .routes(routes!(
            templates::get_quick_reply,
            templates::put_quick_reply,
            templates::delete_quick_reply
        ))
}
