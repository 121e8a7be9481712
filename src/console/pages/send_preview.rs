//! What the send page shows before anything is sent: the message in the patient's language (a
//! template or quick reply filled in as the dispatcher fills it) and the routing preview — the
//! dispatcher's own decision for this message were it handed in now (`dispatch::preview`).

use std::collections::BTreeMap;

use medrelay_channels::{ChannelKind, Recipient};

use super::why;
use crate::api::AppState;
use crate::console::i18n::Tr;
use crate::console::right_patient::{channel_name, masked_email};
use crate::dispatch::{self, Preview, PreviewDraft};
use crate::domain::{Clinic, Patient, Priority, Reason, Sensitivity};
use crate::policy::privacy::{self, Carries};
use crate::policy::templates::{
    self, OwnTemplate, QuickReply, TemplateCopy, render, render_quick_reply,
};
use crate::policy::{Decision, Step};
use crate::store::StoreError;

/// What the patient would read, or why it cannot be shown.
#[derive(Debug, Clone, Default)]
pub(super) struct ContentPreview {
    pub text: Option<String>,
    /// The language of the copy used (the patient's, else the clinic's, else English).
    pub language: Option<String>,
    pub problem: Option<String>,
}

/// What staff chose to send, as the form gives it.
#[derive(Debug, Clone, Default)]
pub(super) struct Chosen {
    pub topic: String,
    /// `template`, `quick_reply` or `text`.
    pub kind: String,
    pub template: String,
    pub quick_reply: String,
    pub body: String,
    pub params: BTreeMap<String, String>,
    pub channel: Option<ChannelKind>,
}

/// `name=value` lines: a template's parameters as typed.
pub(super) fn parse_params(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// The message in the patient's language, filled for `channel` (SMS when none is chosen: the
/// text most channels carry).
pub(super) async fn content_preview(
    state: &AppState,
    tr: &Tr,
    clinic: &Clinic,
    patient: &Patient,
    chosen: &Chosen,
) -> Result<ContentPreview, StoreError> {
    let languages = [patient.language.as_str(), clinic.default_language.as_str()];
    let channel = chosen.channel.unwrap_or(ChannelKind::Sms);
    let mut preview = ContentPreview::default();
    match chosen.kind.as_str() {
        "template" if !chosen.template.is_empty() => {
            let own: Vec<OwnTemplate<TemplateCopy>> = state
                .store
                .clinic_texts(&clinic.id, Some(&chosen.template))
                .await?;
            match templates::choose(&chosen.template, &own, languages) {
                Some(copy) => {
                    preview.language = Some(copy.language.clone());
                    match render(&copy, channel, &chosen.params, &clinic.name, &patient.name) {
                        Ok(rendering) => preview.text = Some(rendering.body),
                        Err(e) => preview.problem = Some(e.to_string()),
                    }
                }
                None => preview.problem = Some(tr.t("send-no-such-template")),
            }
        }
        "quick_reply" if !chosen.quick_reply.is_empty() => {
            let own: Vec<OwnTemplate<QuickReply>> = state
                .store
                .clinic_texts(&clinic.id, Some(&chosen.quick_reply))
                .await?;
            match templates::choose_quick_reply(&own, languages) {
                Some((language, reply)) => {
                    preview.language = Some(language);
                    match render_quick_reply(reply, &clinic.name, &patient.name) {
                        Ok(text) => preview.text = Some(text),
                        Err(e) => preview.problem = Some(e.to_string()),
                    }
                }
                None => preview.problem = Some(tr.t("send-no-such-quick-reply")),
            }
        }
        "text" if !chosen.body.trim().is_empty() => preview.text = Some(chosen.body.clone()),
        _ => {}
    }
    Ok(preview)
}

/// One channel of the routing preview.
#[derive(Debug)]
pub(super) struct PlanRow {
    pub channel: String,
    pub to: String,
    /// "the message" or "a content-free notice".
    pub carries: String,
    pub notice: bool,
    pub when: String,
}

/// The routing preview as the page shows it.
#[derive(Debug, Default)]
pub(super) struct RoutingView {
    pub rows: Vec<PlanRow>,
    /// Each channel left out, and why.
    pub skipped: Vec<String>,
    /// Why the first message goes when it goes, and what the topic allows.
    pub reasons: Vec<String>,
    /// Where the first message goes: the right patient's channel.
    pub first: Option<ChannelKind>,
}

/// The dispatcher's decision for this message were it handed in now.
pub(super) async fn routing_preview(
    state: &AppState,
    tr: &Tr,
    clinic: &Clinic,
    patient: &Patient,
    chosen: &Chosen,
    text: Option<&str>,
) -> Result<RoutingView, StoreError> {
    let template = (chosen.kind == "template").then(|| chosen.template.clone());
    let draft = PreviewDraft {
        clinic,
        patient,
        topic: &chosen.topic,
        body: if template.is_some() {
            None
        } else {
            text.map(str::to_owned)
        },
        template,
        channel: chosen.channel,
        priority: Priority::Normal,
    };
    let now = state.clock.now();
    let preview =
        dispatch::preview(&state.store, &state.providers, &state.config, draft, now).await?;
    Ok(preview.map_or_else(RoutingView::default, |p| view(tr, clinic, &p)))
}

fn view(tr: &Tr, clinic: &Clinic, preview: &Preview) -> RoutingView {
    let zone = clinic.timezone.zone();
    let decision = &preview.decision;
    let now_going = match &decision.step {
        Step::Send(planned) => Some(planned.channel),
        _ => None,
    };
    let first_when = match &decision.step {
        Step::Send(_) => tr.t("send-when-now"),
        Step::Wait { until, .. } => tr.t_with(
            "send-when-at",
            &[("time", &why::clinic_time(tr, *until, &zone))],
        ),
        Step::Finish { .. } => tr.t("send-when-never"),
    };
    let rows = preview
        .routing
        .channels
        .iter()
        .enumerate()
        .map(|(i, planned)| {
            let notice = privacy::carries(preview.sensitivity, planned.channel) == Carries::Notice;
            let first = now_going.map_or(i == 0, |c| c == planned.channel);
            PlanRow {
                channel: channel_name(tr, planned.channel),
                to: recipient_end(&planned.to),
                carries: tr.t(if notice {
                    "send-carries-notice"
                } else {
                    "send-carries-content"
                }),
                notice,
                when: if first {
                    first_when.clone()
                } else {
                    tr.t("send-when-fallback")
                },
            }
        })
        .collect();
    let skipped = preview
        .routing
        .skipped
        .iter()
        .filter_map(|reason| match reason {
            Reason::Skipped { channel, reason } => Some(tr.t_with(
                "send-skipped",
                &[
                    ("channel", &channel_name(tr, *channel)),
                    ("why", &why::skip_text(tr, reason, &zone)),
                ],
            )),
            _ => None,
        })
        .collect();
    RoutingView {
        rows,
        skipped,
        reasons: reasons(tr, clinic, preview, decision),
        first: now_going.or_else(|| preview.routing.channels.first().map(|c| c.channel)),
    }
}

/// The decision's reasons a person needs before sending: when and why it waits, and what the
/// topic lets each channel carry.
fn reasons(tr: &Tr, clinic: &Clinic, preview: &Preview, decision: &Decision) -> Vec<String> {
    let zone = clinic.timezone.zone();
    let mut out = Vec::new();
    let first = preview.routing.channels.first().map(|c| c.channel);
    for reason in &decision.reasons {
        match reason {
            Reason::Deferred { until, held_by } => {
                let held: Vec<String> = held_by.iter().map(|r| why::hours_text(tr, r)).collect();
                out.push(tr.t_with(
                    "send-deferred",
                    &[
                        (
                            "channel",
                            &first.map_or_else(String::new, |c| channel_name(tr, c)),
                        ),
                        ("time", &why::clinic_time(tr, until.timestamp(), &zone)),
                        ("why", &held.join("; ")),
                    ],
                ));
            }
            Reason::Skipped { .. } | Reason::Route { .. } => {}
            other => out.push(other.to_string()),
        }
    }
    if preview.sensitivity != Sensitivity::Normal {
        out.push(tr.t(match preview.sensitivity {
            Sensitivity::Restricted => "send-topic-restricted",
            _ => "send-topic-sensitive",
        }));
    }
    out
}

/// The end of an address: enough to tell it is the right one.
fn recipient_end(to: &Recipient) -> String {
    match to {
        Recipient::Phone(number) => format!("…{}", &number[number.len().saturating_sub(4)..]),
        Recipient::Email(address) => crate::domain::EmailAddress::parse(address)
            .map_or_else(|| "…".to_owned(), |e| masked_email(&e)),
    }
}
