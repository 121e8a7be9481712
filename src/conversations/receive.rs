//! Receiving one patient message: the rules' decision about it, inside the store's transaction.
//! What the message means and which answers it gets is `policy::inbound`'s to say; here its plan
//! becomes the store's actions, with each auto reply written out in the patient's language.

use std::collections::BTreeMap;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use crate::domain::{AutoReply, InboundMessage};
use crate::policy::inbound::{
    ConversationClocks, InboundFacts, InboundPlan, InboundSettings, read_inbound, reply_params,
    reply_template, waits_for_staff,
};
use crate::policy::templates::{self, TemplateError};
use crate::policy::{MessagingHours, after_open_minutes};
use crate::store::{
    Arrival, AutoReplyText, ClinicScope, InboundActions, InboundSituation, Received, Store,
    StoreError,
};

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
        .receive_inbound(arrival, |situation| decide(situation, message, now))
        .await
}

/// What to do about `message`, in `situation`.
fn decide(
    situation: &InboundSituation,
    message: &InboundMessage,
    now: Timestamp,
) -> InboundActions {
    let settings = settings(situation);
    let plan = read_inbound(&facts(situation, message, &settings, now));
    let (replies, held_back) = write_replies(situation, &settings, &plan, message.channel);
    let zone = situation.clinic.timezone.zone();
    let target = settings.response_target_minutes;
    InboundActions {
        intent: plan.intent,
        opt_out: plan.opt_out,
        opt_in: plan.opt_in,
        appointment: plan
            .appointment
            .map(|(appointment, answer)| (appointment, answer.status())),
        urgent: plan.urgent,
        replies,
        held_back,
        overdue_at: Some(after_open_minutes(&situation.hours, &zone, now, target)),
        waits_for_staff: waits_for_staff(plan.intent),
    }
}

/// What the rules read about `message`: what the patient wrote, their opt-outs, whether the
/// clinic is within its messaging hours and when the conversation was last answered.
fn facts<'a>(
    situation: &'a InboundSituation,
    message: &'a InboundMessage,
    settings: &'a InboundSettings,
    now: Timestamp,
) -> InboundFacts<'a> {
    let clinic_hours = MessagingHours::for_clinic(situation.hours.clone(), &situation.clinic);
    let conversation = &situation.conversation;
    InboundFacts {
        channel: message.channel,
        text: message.text.as_deref(),
        reply_payload: message.reply_payload.as_deref(),
        opted_out: &situation.patient.opted_out,
        now,
        in_messaging_hours: clinic_hours.rules_holding(now).is_empty(),
        clocks: ConversationClocks {
            last_receipt_at: conversation.last_receipt_at,
            last_away_at: conversation.last_away_at,
            last_staff_reply_at: conversation.last_staff_reply_at,
        },
        reminder: situation.reminder.clone(),
        settings,
    }
}

/// The auto replies of `plan` written out, and those held back with the reason: the plan's,
/// or a template that cannot be written.
fn write_replies(
    situation: &InboundSituation,
    settings: &InboundSettings,
    plan: &InboundPlan,
    channel: ChannelKind,
) -> (Vec<AutoReplyText>, Vec<(AutoReply, String)>) {
    let mut held_back: Vec<(AutoReply, String)> = plan
        .held_back
        .iter()
        .map(|(reply, why)| (*reply, why.to_string()))
        .collect();
    let mut replies = Vec::with_capacity(plan.replies.len());
    for &kind in &plan.replies {
        match render(situation, settings, kind, channel) {
            Ok(body) => replies.push(AutoReplyText { kind, body }),
            Err(why) => held_back.push((kind, format!("its template cannot be written: {why}"))),
        }
    }
    (replies, held_back)
}

/// The clinic's two-way settings; the defaults when it set none, or when what is stored no
/// longer reads (it was checked when it was written, so that is a bug: said in the log, and the
/// patient still gets answered).
fn settings(situation: &InboundSituation) -> InboundSettings {
    let Some(stored) = &situation.settings else {
        return InboundSettings::default();
    };
    serde_json::from_str(stored).unwrap_or_else(|error| {
        tracing::error!(clinic = %situation.clinic.id, %error, "stored inbound settings do not read; using the defaults");
        InboundSettings::default()
    })
}

/// The text of auto reply `kind` on `channel`: the clinic's copy of its template (else the
/// built-in) in the patient's language, else the clinic's, else English.
fn render(
    situation: &InboundSituation,
    settings: &InboundSettings,
    kind: AutoReply,
    channel: ChannelKind,
) -> Result<String, TemplateError> {
    let name = reply_template(kind);
    let (patient, clinic) = (&situation.patient, &situation.clinic);
    let languages = [patient.language.as_str(), clinic.default_language.as_str()];
    let chosen = templates::choose(name, &situation.templates, languages)
        .ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
    let params: BTreeMap<String, String> = reply_params(
        settings,
        &situation.hours,
        &patient.language,
        clinic.phone.as_ref(),
    );
    Ok(templates::render(&chosen, channel, &params, &clinic.name, &patient.name)?.body)
}
