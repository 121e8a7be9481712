//! Patients' messages: stored, matched to their patient, read by the rules and acted on, all in
//! the one transaction that stores them, so the provider hears 200 only when everything a
//! message causes is on disk, and a redelivery changes nothing.

mod apply;
mod matching;
mod situation;

use std::sync::Arc;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use super::events::EventBatch;
use super::{Store, StoreError, millis};
use crate::domain::{
    AppointmentId, AppointmentStatus, AutoReply, Clinic, ClinicHours, ClinicId, Event,
    InboundMessage, InboundMessageId, Intent, Patient, PatientId,
};
use crate::policy::inbound::AnsweredReminder;
use crate::policy::templates::{OwnTemplate, TemplateCopy};

/// The clinics a message to one of our numbers may be for, by slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClinicScope {
    /// Only these clinics send through the number (their own accounts).
    Only(Vec<String>),
    /// Every clinic but these, which have accounts of their own: a number of the shared
    /// account or of the sandbox.
    AllBut(Vec<String>),
}

/// A patient's message as it arrived, and where.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// The message, its `from` in E.164.
    pub message: &'a InboundMessage,
    /// Our sender ids it arrived on, as attempts name them (a `phone_number_id`,
    /// `AC…/+97235551234`): the patient last sent something through one of them is the one
    /// writing, when several clinics know the number.
    pub senders: &'a [String],
    pub clinics: &'a ClinicScope,
    pub received_at: Timestamp,
}

/// What the rules read about a message and its patient, inside the transaction that stores it.
#[derive(Debug, Clone)]
pub struct InboundSituation {
    pub message_id: InboundMessageId,
    pub clinic: Clinic,
    pub patient: Patient,
    /// The clinic's two-way settings as stored (JSON); none: the defaults.
    pub settings: Option<String>,
    pub hours: Arc<ClinicHours>,
    /// The clinic's own template copies, auto replies among them.
    pub templates: Vec<OwnTemplate<TemplateCopy>>,
    pub conversation: ConversationState,
    /// The appointment this message may answer: the one a WhatsApp reply's context or button
    /// names, else that of the latest reminder sent to the patient in the last 7 days; still
    /// on (booked or confirmed) and in the future.
    pub reminder: Option<AnsweredReminder>,
}

/// A conversation's clocks and labels before this message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationState {
    pub labels: Vec<String>,
    pub urgent_since: Option<Timestamp>,
    pub awaiting_since: Option<Timestamp>,
    pub overdue_at: Option<Timestamp>,
    pub last_message_at: Option<Timestamp>,
    pub last_staff_reply_at: Option<Timestamp>,
    pub last_receipt_at: Option<Timestamp>,
    pub last_away_at: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
}

/// What medrelay does about a message, as the rules decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundActions {
    pub intent: Intent,
    pub opt_out: Option<ChannelKind>,
    pub opt_in: Option<ChannelKind>,
    /// The appointment answered, and its new status.
    pub appointment: Option<(AppointmentId, AppointmentStatus)>,
    pub urgent: bool,
    /// Auto replies to queue, in sending order.
    pub replies: Vec<AutoReplyText>,
    /// Auto replies the rules held back, and why.
    pub held_back: Vec<(AutoReply, String)>,
    /// When the wait this message starts passes the clinic's response target; kept only when
    /// nothing was waiting before it. None: the hours leave no time for one.
    pub overdue_at: Option<Timestamp>,
    /// Whether the message waits for staff; one medrelay answered in full (a confirmation, a
    /// stop or start word) is answered by medrelay and leaves the conversation as it was.
    pub waits_for_staff: bool,
}

impl InboundActions {
    /// Nothing to act on: the message waits for staff.
    pub fn none() -> Self {
        Self {
            intent: Intent::None,
            opt_out: None,
            opt_in: None,
            appointment: None,
            urgent: false,
            replies: Vec::new(),
            held_back: Vec::new(),
            overdue_at: None,
            waits_for_staff: true,
        }
    }
}

/// One auto reply, its text rendered in the patient's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoReplyText {
    pub kind: AutoReply,
    pub body: String,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Stored now, and acted on; `replies` auto replies were queued.
    Stored {
        id: InboundMessageId,
        clinic: ClinicId,
        patient: PatientId,
        replies: usize,
    },
    /// A redelivery of a message stored before: nothing changed.
    AlreadyStored { id: InboundMessageId },
    /// The number it arrived on serves no clinic: not stored.
    NoClinic,
}

impl Store {
    /// Stores a patient's message and does what `decide` says about it, in one transaction. A
    /// message stored before (same channel and provider id) changes nothing.
    pub async fn receive_inbound(
        &self,
        arrival: Arrival<'_>,
        decide: impl FnOnce(&InboundSituation) -> InboundActions,
    ) -> Result<Received, StoreError> {
        if let Some(id) = self.stored_inbound(arrival.message).await? {
            return Ok(Received::AlreadyStored { id });
        }
        let mut tx = self.write.begin().await?;
        let Some(found) = matching::match_patient(&mut tx, &arrival).await? else {
            return Ok(Received::NoClinic);
        };
        let id = InboundMessageId::generate();
        if !apply::insert_message(&mut tx, &id, &found.clinic, &found.patient, &arrival).await? {
            // Stored by a delivery that raced this one: this one leaves nothing behind.
            drop(tx);
            let id = self.stored_inbound(arrival.message).await?;
            return Ok(Received::AlreadyStored {
                id: id.ok_or(StoreError::Conflict("inbound message"))?,
            });
        }
        let situation = self.situation(&mut tx, &found, id, &arrival).await?;
        let actions = decide(&situation);
        let replies = actions.replies.len();
        let mut events = EventBatch::default();
        apply::apply(&mut tx, &mut events, &situation, &arrival, &actions).await?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(Received::Stored {
            id: situation.message_id,
            clinic: found.clinic,
            patient: found.patient,
            replies,
        })
    }

    /// The id of the message with this channel and provider id, if it is stored.
    async fn stored_inbound(
        &self,
        message: &InboundMessage,
    ) -> Result<Option<InboundMessageId>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM inbound_messages WHERE channel = $1 AND provider_message_id = $2",
        )
        .bind(message.channel.as_str())
        .bind(&message.provider_message_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(id.map(InboundMessageId::from_stored))
    }
}

/// Adds an event of `situation`'s conversation, caused by its message; `notification` when it
/// is about one of the patient's notifications too.
fn add_event(
    events: &mut EventBatch,
    situation: &InboundSituation,
    notification: Option<&str>,
    at: Timestamp,
    event: &Event,
) -> Result<(), StoreError> {
    let conversation = (&situation.clinic.id, &situation.patient.id);
    events.add_for_message(&situation.message_id, conversation, notification, at, event)
}

fn opt_millis(at: Option<Timestamp>) -> Option<i64> {
    at.map(millis)
}
