//! What an endpoint registration must be: one rule set for `/v1/webhooks` and the console's
//! settings page. Each check adds what it finds broken to `errors`, named by field.

use crate::domain::{FieldError, WebhookEventType};
use crate::outbox::{TargetRule, check_target};

/// The event types, each known, at least one, none twice.
pub fn checked_event_types(
    names: &[String],
    errors: &mut Vec<FieldError>,
) -> Option<Vec<WebhookEventType>> {
    if names.is_empty() {
        errors.push(FieldError::new(
            "event_types",
            "must name at least one event type",
        ));
    }
    let mut types = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match WebhookEventType::parse(name) {
            Some(t) if types.contains(&t) => {
                errors.push(FieldError::new(
                    format!("event_types[{i}]"),
                    "is named twice",
                ));
            }
            Some(t) => types.push(t),
            None => errors.push(FieldError::new(
                format!("event_types[{i}]"),
                format!("must be one of {}", WebhookEventType::names()),
            )),
        }
    }
    Some(types).filter(|_| errors.is_empty())
}

/// The endpoint's address, as the outbox will call it (`rule`: whether private addresses may be).
pub fn checked_url(url: &str, rule: TargetRule, errors: &mut Vec<FieldError>) -> Option<String> {
    match check_target(url, rule) {
        Ok(url) => Some(url.to_string()),
        Err(broken) => {
            errors.push(FieldError::new("url", broken.to_string()));
            None
        }
    }
}
