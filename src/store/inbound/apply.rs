//! Writing what a message causes: its row, the patient's opt-outs, the appointment it answers,
//! the conversation's state, the auto replies and the events.

use jiff::{SignedDuration, Timestamp};
use medrelay_channels::ChannelKind;
use sqlx::{Any, Transaction};

use super::super::events::EventBatch;
use super::super::notifications::{FirstState, insert_states};
use super::super::patients::set_opted_out;
use super::super::{StoreError, millis};
use super::{Arrival, AutoReplyText, InboundActions, InboundSituation, add_event, opt_millis};
use crate::domain::{
    Actor, AppointmentId, AppointmentStatus, AutoReply, ClinicId, Event, InboundMessageId,
    NotificationId, NotificationStatus, Origin, PatientId, Priority, Topic,
};

/// How long an auto reply may wait to go: past the WhatsApp window it answers nothing.
const AUTO_REPLY_VALID_FOR: SignedDuration = SignedDuration::from_hours(24);

/// Stores the message row; `false` when a message with its channel and provider id is stored.
pub(super) async fn insert_message(
    tx: &mut Transaction<'_, Any>,
    id: &InboundMessageId,
    clinic: &ClinicId,
    patient: &PatientId,
    arrival: &Arrival<'_>,
) -> Result<bool, StoreError> {
    let message = arrival.message;
    let media = message
        .media
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("inbound media: {e}")))?;
    let stored = sqlx::query(
        "INSERT INTO inbound_messages (id, clinic_id, patient_id, channel, provider_message_id, sender, \
         from_address, kind, text, reply_payload, in_reply_to, media, sent_at, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (channel, provider_message_id) DO NOTHING RETURNING id",
    )
    .bind(id.as_str())
    .bind(clinic.as_str())
    .bind(patient.as_str())
    .bind(message.channel.as_str())
    .bind(&message.provider_message_id)
    .bind(&message.sender)
    .bind(&message.from)
    .bind(&message.kind)
    .bind(message.text.as_deref())
    .bind(message.reply_payload.as_deref())
    .bind(message.in_reply_to.as_deref())
    .bind(media)
    .bind(millis(message.sent_at.min(arrival.received_at)))
    .bind(millis(arrival.received_at))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(stored.is_some())
}

/// Writes everything `actions` says about the message of `situation`.
pub(super) async fn apply(
    tx: &mut Transaction<'_, Any>,
    events: &mut EventBatch,
    situation: &InboundSituation,
    arrival: &Arrival<'_>,
    actions: &InboundActions,
) -> Result<(), StoreError> {
    let now = arrival.received_at;
    record_received(tx, events, situation, arrival, actions).await?;
    opt_outs(tx, events, situation, actions, now).await?;
    if let Some((appointment, status)) = &actions.appointment {
        answer_appointment(tx, events, situation, appointment, *status, now).await?;
    }
    record_urgency_and_held_back(events, situation, actions, now)?;
    for reply in &actions.replies {
        queue_auto_reply(tx, events, situation, arrival.message.channel, reply, now).await?;
    }
    write_conversation(tx, situation, actions, now).await
}

/// Labels the message with its intent, records its arrival and, on WhatsApp, opens the
/// window the patient's message grants.
async fn record_received(
    tx: &mut Transaction<'_, Any>,
    events: &mut EventBatch,
    situation: &InboundSituation,
    arrival: &Arrival<'_>,
    actions: &InboundActions,
) -> Result<(), StoreError> {
    let now = arrival.received_at;
    let message = arrival.message;
    // A message medrelay acted on and answered in full is answered by medrelay: it waits for no one.
    let answered_at = (!actions.waits_for_staff).then_some(now);
    sqlx::query(
        "UPDATE inbound_messages SET intent = $2, answered_at = $3, \
         answered_by = CASE WHEN $3 IS NULL THEN NULL ELSE 'medrelay' END WHERE id = $1",
    )
    .bind(situation.message_id.as_str())
    .bind(actions.intent.as_str())
    .bind(opt_millis(answered_at))
    .execute(&mut **tx)
    .await?;
    let received = Event::MessageReceived {
        channel: message.channel,
        kind: message.kind.clone(),
        intent: actions.intent,
    };
    add_event(events, situation, None, now, &received)?;
    if message.channel == ChannelKind::Whatsapp {
        super::super::facts::open_whatsapp_window(
            tx,
            &message.sender,
            &message.from,
            message.sent_at.min(now),
        )
        .await?;
    }
    Ok(())
}

/// Records an urgent message and every auto reply the rules held back, with its reason.
fn record_urgency_and_held_back(
    events: &mut EventBatch,
    situation: &InboundSituation,
    actions: &InboundActions,
    now: Timestamp,
) -> Result<(), StoreError> {
    if actions.urgent {
        add_event(events, situation, None, now, &Event::UrgentMessage)?;
    }
    for (reply, reason) in &actions.held_back {
        let event = Event::AutoReplyHeldBack {
            reply: *reply,
            reason: reason.clone(),
        };
        add_event(events, situation, None, now, &event)?;
    }
    Ok(())
}

/// Closes or opens the channel as the patient asked.
async fn opt_outs(
    tx: &mut Transaction<'_, Any>,
    events: &mut EventBatch,
    situation: &InboundSituation,
    actions: &InboundActions,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut opted_out = situation.patient.opted_out.clone();
    let mut changed = Vec::new();
    if let Some(channel) = actions.opt_out.filter(|c| !opted_out.contains(c)) {
        opted_out.push(channel);
        changed.push(Event::OptedOutByMessage { channel });
    }
    if let Some(channel) = actions.opt_in.filter(|c| opted_out.contains(c)) {
        opted_out.retain(|c| *c != channel);
        changed.push(Event::OptedInByMessage { channel });
    }
    if changed.is_empty() {
        return Ok(());
    }
    set_opted_out(tx, &situation.patient.id, &opted_out, now).await?;
    for event in &changed {
        add_event(events, situation, None, now, event)?;
    }
    Ok(())
}

/// Marks the appointment as the patient answered, unless it was cancelled meanwhile (a
/// cancelled appointment never comes back this way); the event goes on the conversation and on
/// every reminder of the appointment, where its audit trail is read.
async fn answer_appointment(
    tx: &mut Transaction<'_, Any>,
    events: &mut EventBatch,
    situation: &InboundSituation,
    appointment: &AppointmentId,
    status: AppointmentStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(event) = answer_event(appointment, status) else {
        return Ok(());
    };
    let clinic = &situation.clinic.id;
    if !set_appointment_status(tx, clinic, appointment, status, now).await? {
        return Ok(());
    }
    let reminders = reminders_of(tx, clinic, appointment).await?;
    add_event(events, situation, None, now, &event)?;
    for reminder in &reminders {
        events.add(reminder, None, now, &Actor::System, &event)?;
    }
    Ok(())
}

/// The event a patient's answer records; `None` for a status no answer sets.
fn answer_event(appointment: &AppointmentId, status: AppointmentStatus) -> Option<Event> {
    match status {
        AppointmentStatus::Confirmed => Some(Event::AppointmentConfirmed {
            appointment: appointment.clone(),
        }),
        AppointmentStatus::CancellationRequested => Some(Event::CancellationRequested {
            appointment: appointment.clone(),
        }),
        // The rules answer only with the two statuses above.
        AppointmentStatus::Booked | AppointmentStatus::Cancelled => None,
    }
}

/// Sets the appointment's status; `false` when it is not the clinic's or was cancelled.
async fn set_appointment_status(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    appointment: &AppointmentId,
    status: AppointmentStatus,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "UPDATE appointments SET status = $3, updated_at = $4 \
         WHERE id = $1 AND clinic_id = $2 AND status <> 'cancelled' RETURNING id",
    )
    .bind(appointment.as_str())
    .bind(clinic.as_str())
    .bind(status.as_str())
    .bind(millis(now))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(changed.is_some())
}

/// The ids of the reminders sent about the appointment, oldest first.
async fn reminders_of(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    appointment: &AppointmentId,
) -> Result<Vec<String>, StoreError> {
    let reminders = sqlx::query_scalar(
        "SELECT id FROM notifications WHERE appointment_id = $1 AND clinic_id = $2 ORDER BY id",
    )
    .bind(appointment.as_str())
    .bind(clinic.as_str())
    .fetch_all(&mut **tx)
    .await?;
    Ok(reminders)
}

/// Queues an auto reply as a notification of its own: on the channel the patient wrote on,
/// urgent so that no hours hold it (the patient is awake: they just wrote), never counted
/// toward the daily caps (its origin is not `api`).
async fn queue_auto_reply(
    tx: &mut Transaction<'_, Any>,
    events: &mut EventBatch,
    situation: &InboundSituation,
    channel: ChannelKind,
    reply: &AutoReplyText,
    now: Timestamp,
) -> Result<(), StoreError> {
    let id = NotificationId::generate();
    sqlx::query(
        "INSERT INTO notification_requests (id, clinic_id, patient_id, topic, body, channel, \
         priority, send_at, expires_at, created_at, origin, in_reply_to) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11)",
    )
    .bind(id.as_str())
    .bind(situation.clinic.id.as_str())
    .bind(situation.patient.id.as_str())
    .bind(Topic::General.as_str())
    .bind(&reply.body)
    .bind(channel.as_str())
    .bind(Priority::Urgent.as_str())
    .bind(millis(now))
    .bind(millis(now + AUTO_REPLY_VALID_FOR))
    .bind(Origin::Auto(reply.kind).stored())
    .bind(situation.message_id.as_str())
    .execute(&mut **tx)
    .await?;
    let state = FirstState {
        id: id.as_str(),
        clinic_id: situation.clinic.id.as_str(),
        created_at: millis(now),
        status: NotificationStatus::Queued.as_str(),
        due_at: Some(millis(now)),
        updated_at: millis(now),
    };
    insert_states(tx, &[state]).await?;
    let received = Event::Received {
        priority: Priority::Urgent,
        scheduled_for: None,
        content: Some(format!("auto reply `{}`", reply.kind.as_str())),
    };
    events.add(id.as_str(), None, now, &Actor::System, &received)?;
    let queued = Event::AutoReplyQueued {
        reply: reply.kind,
        notification: id.clone(),
    };
    add_event(events, situation, Some(id.as_str()), now, &queued)
}

/// The conversation's row after a patient's message, as it is stored.
struct ConversationAfterMessage {
    /// Whether the message opens the conversation for staff.
    opens: bool,
    labels: String,
    urgent_since: Option<Timestamp>,
    last_message_at: Timestamp,
    awaiting_since: Option<Timestamp>,
    overdue_at: Option<Timestamp>,
    last_receipt_at: Option<Timestamp>,
    last_away_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl ConversationAfterMessage {
    /// Open, awaiting a response since the first unanswered message, urgent from the first
    /// urgent message, with the clocks of the auto replies just sent moved to `now`; a message
    /// medrelay answered in full (a confirmation, a stop or start word) leaves the wait and the
    /// handling as they were.
    fn after(
        situation: &InboundSituation,
        actions: &InboundActions,
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        let old = &situation.conversation;
        let sent = |kind: AutoReply| actions.replies.iter().any(|r| r.kind == kind);
        let opens = actions.waits_for_staff;
        let (awaiting_since, overdue_at) = match old.awaiting_since {
            Some(since) => (Some(since), old.overdue_at),
            None if opens => (Some(now), actions.overdue_at),
            None => (None, None),
        };
        Ok(Self {
            opens,
            labels: labels_after_message(&old.labels, actions.urgent, opens)?,
            urgent_since: old.urgent_since.or(actions.urgent.then_some(now)),
            last_message_at: old.last_message_at.map_or(now, |at| at.max(now)),
            awaiting_since,
            overdue_at,
            last_receipt_at: if sent(AutoReply::Receipt) {
                Some(now)
            } else {
                old.last_receipt_at
            },
            last_away_at: if sent(AutoReply::Away) {
                Some(now)
            } else {
                old.last_away_at
            },
            created_at: old.created_at.unwrap_or(now),
        })
    }
}

/// The labels as stored: when the message `opens` the conversation, no longer handled and
/// awaiting a response; urgent when the message was.
fn labels_after_message(old: &[String], urgent: bool, opens: bool) -> Result<String, StoreError> {
    let mut labels: Vec<String> = old
        .iter()
        .filter(|l| !opens || *l != "handled")
        .cloned()
        .collect();
    if opens {
        labels.push("awaiting_response".to_owned());
    }
    if urgent {
        labels.push("urgent".to_owned());
    }
    labels.sort();
    labels.dedup();
    serde_json::to_string(&labels)
        .map_err(|e| StoreError::Corrupt(format!("conversation labels: {e}")))
}

/// The conversation after the message: open, awaiting a response (labelled so), urgent when
/// the message was, with the auto replies' clocks moved.
async fn write_conversation(
    tx: &mut Transaction<'_, Any>,
    situation: &InboundSituation,
    actions: &InboundActions,
    now: Timestamp,
) -> Result<(), StoreError> {
    let after = ConversationAfterMessage::after(situation, actions, now)?;
    sqlx::query(
        "INSERT INTO conversations (patient_id, clinic_id, status, labels, urgent_since, last_message_at, \
         last_inbound_at, awaiting_since, overdue_at, last_receipt_at, last_away_at, created_at, updated_at) \
         VALUES ($1, $2, $12, $3, $4, $5, $6, $7, $8, $9, $10, $11, $6) \
         ON CONFLICT (patient_id) DO UPDATE SET \
         status = CASE WHEN $12 = 'open' THEN 'open' ELSE conversations.status END, \
         labels = excluded.labels, \
         urgent_since = excluded.urgent_since, last_message_at = excluded.last_message_at, \
         last_inbound_at = excluded.last_inbound_at, awaiting_since = excluded.awaiting_since, \
         overdue_at = excluded.overdue_at, last_receipt_at = excluded.last_receipt_at, \
         last_away_at = excluded.last_away_at, updated_at = excluded.updated_at, \
         overdue_raised_at = CASE WHEN conversations.awaiting_since IS NULL THEN NULL \
                                  ELSE conversations.overdue_raised_at END",
    )
    .bind(situation.patient.id.as_str())
    .bind(situation.clinic.id.as_str())
    .bind(after.labels)
    .bind(opt_millis(after.urgent_since))
    .bind(millis(after.last_message_at))
    .bind(millis(now))
    .bind(opt_millis(after.awaiting_since))
    .bind(opt_millis(after.overdue_at))
    .bind(opt_millis(after.last_receipt_at))
    .bind(opt_millis(after.last_away_at))
    .bind(millis(after.created_at))
    .bind(if after.opens { "open" } else { "handled" })
    .execute(&mut **tx)
    .await?;
    Ok(())
}
