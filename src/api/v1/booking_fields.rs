//! The booking system's `reference` and `metadata` on a request body: checked with the rule each
//! breaks, set when a record is created and never changed after.

use super::patients::checked;
use crate::api::problem::FieldError;
use crate::domain::{Metadata, Reference};
use crate::store::AppointmentView;

const NEVER_CHANGES: &str = "is set when the appointment is booked and never changes";

/// The reference and metadata given, each checked; what breaks a rule is added to `errors`.
pub(super) fn booking_fields(
    errors: &mut Vec<FieldError>,
    reference: Option<String>,
    metadata: Option<serde_json::Value>,
) -> (Option<Reference>, Metadata) {
    let reference = checked(
        errors,
        "reference",
        reference,
        Reference::parse,
        Reference::RULE,
    );
    let metadata = metadata
        .map(|value| Metadata::parse("metadata", value))
        .transpose()
        .unwrap_or_else(|broken| {
            errors.extend(broken);
            None
        });
    (reference, metadata.unwrap_or_default())
}

/// A move may repeat the reference and metadata the appointment was booked with, not change
/// them: each given is checked, and when valid compared with what `booked` has.
pub(super) fn unchanged_booking_fields(
    errors: &mut Vec<FieldError>,
    given: (Option<String>, Option<serde_json::Value>),
    booked: &AppointmentView,
) {
    let has = (given.0.is_some(), given.1.is_some());
    let broken_before = errors.len();
    let (reference, metadata) = booking_fields(errors, given.0, given.1);
    if errors.len() > broken_before {
        return;
    }
    if has.0 && reference != booked.reference {
        errors.push(FieldError::new("reference", NEVER_CHANGES));
    }
    if has.1 && metadata != booked.metadata {
        errors.push(FieldError::new("metadata", NEVER_CHANGES));
    }
}
