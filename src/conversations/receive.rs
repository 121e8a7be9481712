//! Receiving one patient message: the rules' decision about it, inside the store's transaction.

use jiff::Timestamp;

use crate::domain::InboundMessage;
use crate::policy::after_open_minutes;
use crate::store::{
    Arrival, ClinicScope, InboundActions, InboundSituation, Received, Store, StoreError,
};

/// The clinic's response target when it set none: 4 working hours.
const DEFAULT_RESPONSE_TARGET_MINUTES: u32 = 240;

/// Stores `message`, which arrived on our `senders` for the clinics of `clinics`, and does what
/// the rules say about it. Durable when this returns: only then may the provider hear 200.
pub async fn receive(
    store: &Store,
    message: &InboundMessage,
    senders: &[String],
    clinics: &ClinicScope,
    now: Timestamp,
) -> Result<Received, StoreError> {
    let arrival = Arrival {
        message,
        senders,
        clinics,
        received_at: now,
    };
    store
        .receive_inbound(arrival, |situation| decide(situation, now))
        .await
}

/// What to do about the message of `situation`.
fn decide(situation: &InboundSituation, now: Timestamp) -> InboundActions {
    let zone = situation.clinic.timezone.zone();
    let overdue_at = after_open_minutes(
        &situation.hours,
        &zone,
        now,
        DEFAULT_RESPONSE_TARGET_MINUTES,
    );
    InboundActions {
        overdue_at: Some(overdue_at),
        ..InboundActions::none()
    }
}
