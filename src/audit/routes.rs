//! Which requests the audit trail records, and as what: one table of every authenticated route
//! (`/v1`, `/fhir/r4`). Every change is recorded; a read is recorded when it shows a patient's
//! personal data or what was said to or by a patient (`Sensitive`), and not when it shows the
//! clinic's set-up or counts (`Plain`). A test walks the OpenAPI document and fails on a route
//! missing here, so a new route is classified when it is added.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::Method;

/// Where the audited routes live.
const AUDITED_PREFIXES: [&str; 2] = ["/v1/", "/fhir/r4/"];

/// What a route does with what it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Changes something (`POST`, `PUT`, `PATCH`, `DELETE`): recorded.
    Change,
    /// Shows patients' personal data or messages: recorded before the answer leaves.
    Sensitive,
    /// Shows the clinic's set-up, metadata or counts: not recorded.
    Plain,
}

/// One route as the audit trail names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedRoute {
    pub method: Method,
    /// The route's template, as routed (`/v1/notifications/{id}`); parameter names do not matter.
    pub path: &'static str,
    /// `notification.cancel`: what the entry says was done.
    pub action: &'static str,
    /// What the path's parameters name (`notification`), or what a list holds.
    pub resource: &'static str,
    pub kind: Kind,
}

const fn route(
    method: Method,
    kind: Kind,
    path: &'static str,
    action: &'static str,
    resource: &'static str,
) -> AuditedRoute {
    AuditedRoute {
        method,
        path,
        action,
        resource,
        kind,
    }
}

const fn sensitive(
    path: &'static str,
    action: &'static str,
    resource: &'static str,
) -> AuditedRoute {
    route(Method::GET, Kind::Sensitive, path, action, resource)
}

const fn plain(path: &'static str, action: &'static str, resource: &'static str) -> AuditedRoute {
    route(Method::GET, Kind::Plain, path, action, resource)
}

const fn post(path: &'static str, action: &'static str, resource: &'static str) -> AuditedRoute {
    route(Method::POST, Kind::Change, path, action, resource)
}

const fn put(path: &'static str, action: &'static str, resource: &'static str) -> AuditedRoute {
    route(Method::PUT, Kind::Change, path, action, resource)
}

const fn patch(path: &'static str, action: &'static str, resource: &'static str) -> AuditedRoute {
    route(Method::PATCH, Kind::Change, path, action, resource)
}

const fn delete(path: &'static str, action: &'static str, resource: &'static str) -> AuditedRoute {
    route(Method::DELETE, Kind::Change, path, action, resource)
}

/// Every authenticated route. Lists of notifications, conversations and callbacks are
/// sensitive: they carry message texts, previews, phone numbers and staff notes; the patient
/// directory shows names and numbers like the patient card.
#[rustfmt::skip]
pub const ROUTES: &[AuditedRoute] = &[
    // patients
    sensitive("/v1/patients", "patient.search", "patient"),
    sensitive("/v1/patients/{id}", "patient.read", "patient"),
    put("/v1/patients/{id}", "patient.update", "patient"),
    patch("/v1/patients/{id}", "patient.update", "patient"),
    delete("/v1/patients/{id}", "patient.erase", "patient"),
    sensitive("/v1/patients/{id}/transcript", "transcript.read", "patient"),
    // notifications
    sensitive("/v1/notifications", "notification.list", "notification"),
    post("/v1/notifications", "notification.create", "notification"),
    sensitive("/v1/notifications/{id}", "notification.read", "notification"),
    delete("/v1/notifications/{id}", "notification.cancel", "notification"),
    // conversations and what patients sent
    sensitive("/v1/conversations", "conversation.list", "conversation"),
    sensitive("/v1/conversations/{id}", "conversation.read", "conversation"),
    post("/v1/conversations/{id}/reply", "conversation.reply", "conversation"),
    post("/v1/conversations/{id}/handled", "conversation.handle", "conversation"),
    post("/v1/conversations/{id}/labels", "conversation.label", "conversation"),
    sensitive("/v1/messages/{id}/media", "media.read", "message"),
    // callbacks
    sensitive("/v1/callbacks", "callback.list", "callback"),
    post("/v1/callbacks/{id}/claim", "callback.claim", "callback"),
    post("/v1/callbacks/{id}/close", "callback.close", "callback"),
    // appointments
    plain("/v1/appointments", "appointment.list", "appointment"),
    post("/v1/appointments", "appointment.book", "appointment"),
    plain("/v1/appointments/{id}", "appointment.read", "appointment"),
    put("/v1/appointments/{id}", "appointment.move", "appointment"),
    delete("/v1/appointments/{id}", "appointment.cancel", "appointment"),
    // topics, templates, quick replies
    plain("/v1/topics", "topic.list", "topic"),
    put("/v1/topics/{name}", "topic.update", "topic"),
    plain("/v1/templates", "template.list", "template"),
    plain("/v1/templates/{name}/{language}", "template.read", "template"),
    put("/v1/templates/{name}/{language}", "template.update", "template"),
    delete("/v1/templates/{name}/{language}", "template.delete", "template"),
    plain("/v1/quick-replies", "quick_reply.list", "quick_reply"),
    plain("/v1/quick-replies/{name}", "quick_reply.read", "quick_reply"),
    put("/v1/quick-replies/{name}", "quick_reply.update", "quick_reply"),
    delete("/v1/quick-replies/{name}", "quick_reply.delete", "quick_reply"),
    // the clinic's settings
    plain("/v1/clinic", "clinic.read", "clinic"),
    patch("/v1/clinic", "clinic.update", "clinic"),
    plain("/v1/clinic/hours", "hours.read", "hours"),
    put("/v1/clinic/hours", "hours.update", "hours"),
    plain("/v1/clinic/secure-links", "secure_links.read", "secure_links"),
    put("/v1/clinic/secure-links", "secure_links.update", "secure_links"),
    plain("/v1/clinic/inbound", "inbound_settings.read", "inbound_settings"),
    put("/v1/clinic/inbound", "inbound_settings.update", "inbound_settings"),
    plain("/v1/clinic/retention", "retention.read", "retention"),
    put("/v1/clinic/retention", "retention.update", "retention"),
    plain("/v1/clinic/fhir", "fhir_settings.read", "fhir_settings"),
    put("/v1/clinic/fhir", "fhir_settings.update", "fhir_settings"),
    delete("/v1/clinic/fhir/server", "fhir_server.delete", "fhir_server"),
    plain("/v1/clinic/fhir/pushes", "fhir_push.list", "fhir_push"),
    // keys
    plain("/v1/keys", "key.list", "key"),
    post("/v1/keys", "key.create", "key"),
    delete("/v1/keys/{id}", "key.revoke", "key"),
    // webhooks to the booking system
    plain("/v1/webhooks", "webhook.list", "webhook"),
    post("/v1/webhooks", "webhook.create", "webhook"),
    plain("/v1/webhooks/{id}", "webhook.read", "webhook"),
    patch("/v1/webhooks/{id}", "webhook.update", "webhook"),
    delete("/v1/webhooks/{id}", "webhook.delete", "webhook"),
    plain("/v1/webhooks/{id}/deliveries", "webhook.deliveries", "webhook"),
    post("/v1/webhooks/{id}/rotate-secret", "webhook.rotate_secret", "webhook"),
    post("/v1/webhooks/{id}/replay", "webhook.replay", "webhook"),
    // counts, and the audit trail itself
    plain("/v1/stats", "stats.read", "stats"),
    sensitive("/v1/audit", "audit.read", "audit"),
    // FHIR R4: every record carries what was said to or by a patient
    plain("/fhir/r4/metadata", "fhir.capabilities", "CapabilityStatement"),
    sensitive("/fhir/r4/Communication", "fhir.search", "Communication"),
    sensitive("/fhir/r4/Communication/{id}", "fhir.read", "Communication"),
    sensitive("/fhir/r4/CommunicationRequest", "fhir.search", "CommunicationRequest"),
    sensitive("/fhir/r4/CommunicationRequest/{id}", "fhir.read", "CommunicationRequest"),
];

/// `/v1/notifications/{}`: the template with its parameters' names left out.
fn shape(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "{}" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

static BY_SHAPE: LazyLock<HashMap<(Method, String), &'static AuditedRoute>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|r| ((r.method.clone(), shape(r.path)), r))
        .collect()
});

/// The table's entry for `method` on the route `template`, if it has one. `HEAD` is answered as
/// `GET` is, so it is looked up as `GET`.
pub fn classified(method: &Method, template: &str) -> Option<&'static AuditedRoute> {
    let method = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    BY_SHAPE.get(&(method, shape(template))).copied()
}

/// What the trail records of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub action: String,
    pub resource: String,
    /// A read: written before the answer leaves, or the answer is withheld.
    pub is_read: bool,
}

/// What to record of a request for `method` on the route `template`; `None` when it is not
/// recorded (outside `/v1` and `/fhir/r4`, or a plain read). A route the table lacks is
/// recorded all the same, a read as sensitive, under an action named after its method and path.
pub fn recorded(method: &Method, template: &str) -> Option<Recorded> {
    if !AUDITED_PREFIXES.iter().any(|p| template.starts_with(p)) {
        return None;
    }
    let is_read = matches!(*method, Method::GET | Method::HEAD);
    match classified(method, template) {
        Some(route) if route.kind == Kind::Plain => None,
        Some(route) => Some(Recorded {
            action: route.action.to_owned(),
            resource: route.resource.to_owned(),
            is_read,
        }),
        None => Some(Recorded {
            action: format!("{} {template}", method.as_str().to_lowercase()),
            resource: template
                .split('/')
                .find(|p| !p.is_empty() && !["v1", "fhir", "r4"].contains(p))
                .unwrap_or("unknown")
                .to_owned(),
            is_read,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn each_route_is_listed_once_and_reads_are_the_only_ones_not_changes() {
        let mut seen = HashSet::new();
        for route in ROUTES {
            assert!(
                seen.insert((route.method.clone(), shape(route.path))),
                "{} {} listed twice",
                route.method,
                route.path
            );
            assert_eq!(
                route.method == Method::GET,
                route.kind != Kind::Change,
                "{} {}",
                route.method,
                route.path
            );
            assert!(
                AUDITED_PREFIXES.iter().any(|p| route.path.starts_with(p)),
                "{}",
                route.path
            );
        }
    }

    #[test]
    fn actions_are_a_resource_and_a_verb() {
        for route in ROUTES {
            let (resource, verb) = route.action.split_once('.').expect(route.action);
            assert!(
                [resource, verb].iter().all(|w| !w.is_empty()
                    && w.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
                "{}",
                route.action
            );
        }
    }

    #[test]
    fn a_route_is_found_whatever_its_parameters_are_called() {
        let found = classified(&Method::DELETE, "/v1/notifications/{notification_id}");
        assert_eq!(found.map(|r| r.action), Some("notification.cancel"));
        assert_eq!(
            classified(&Method::HEAD, "/v1/patients/{external_id}").map(|r| r.kind),
            Some(Kind::Sensitive)
        );
    }

    #[test]
    fn changes_and_sensitive_reads_are_recorded_and_plain_reads_and_other_paths_are_not() {
        let cancel = recorded(&Method::DELETE, "/v1/notifications/{id}");
        let read = recorded(&Method::GET, "/fhir/r4/Communication/{id}");

        assert_eq!(
            cancel.map(|r| (r.action, r.is_read)),
            Some(("notification.cancel".to_owned(), false))
        );
        assert_eq!(
            read.map(|r| (r.action, r.is_read)),
            Some(("fhir.read".to_owned(), true))
        );
        assert_eq!(recorded(&Method::GET, "/v1/stats"), None);
        assert_eq!(recorded(&Method::POST, "/webhooks/whatsapp"), None);
        assert_eq!(recorded(&Method::GET, "/health"), None);
    }

    #[test]
    fn a_route_missing_from_the_table_is_still_recorded_and_a_read_of_it_counts_as_sensitive() {
        let unknown = recorded(&Method::GET, "/v1/lab-results/{id}");

        assert_eq!(
            unknown,
            Some(Recorded {
                action: "get /v1/lab-results/{id}".to_owned(),
                resource: "lab-results".to_owned(),
                is_read: true,
            })
        );
    }
}
