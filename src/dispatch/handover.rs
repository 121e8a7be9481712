//! The hand-over: one decided send rendered, recorded as started together with what it carries,
//! given to its provider at the sender's rate, and the provider's answer classified.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use medrelay_channels::segments::SmsEncoding;
use medrelay_channels::{
    Channel, ChannelKind, OutgoingMessage, Recipient, RecipientFact, SendOutcome, segments,
};
use url::Url;

use super::Dispatcher;
use crate::clock::later;
use crate::domain::{
    AttemptContent, AttemptId, AttemptStatus, Clinic, ContentKind, Patient, Sensitivity,
    SentTemplate,
};
use crate::policy::privacy::{self, NoticeFacts};
use crate::policy::templates::{self, OwnTemplate, TemplateCopy};
use crate::policy::{self, ChannelSuspension, PlannedChannel};
use crate::secure_link;
use crate::store::{
    AttemptOutcome, ClaimedNotification, HandoverStart, LearnedFact, NextState, OutcomeWrite,
    SuspensionWrite,
};

/// A claimed notification the policy wants sent now.
pub(super) struct Handover {
    pub(super) notification: ClaimedNotification,
    patient: Patient,
    clinic: Clinic,
    attempt: AttemptId,
    channel: ChannelKind,
    to: Recipient,
    carrying: Carrying,
    /// The clinic's own copies of the notification's template, if it has any.
    templates: Vec<OwnTemplate<TemplateCopy>>,
}

/// What a hand-over may carry: its topic's sensitivity and, for a sensitive topic's notice,
/// the channel its content went by.
#[derive(Debug, Clone, Copy)]
pub(super) struct Carrying {
    pub(super) sensitivity: Sensitivity,
    pub(super) content_went_by: Option<ChannelKind>,
}

impl Handover {
    pub(super) fn attempt(&self) -> &AttemptId {
        &self.attempt
    }
}

impl Dispatcher {
    /// A new attempt on the planned channel: what the store records now, and the hand-over
    /// that follows once the decision is committed.
    pub(super) fn prepare(
        &self,
        notification: &ClaimedNotification,
        patient: Patient,
        clinic: Clinic,
        planned: PlannedChannel,
        carrying: Carrying,
        templates: Vec<OwnTemplate<TemplateCopy>>,
    ) -> (NextState, Handover) {
        let attempt = AttemptId::generate();
        let next = NextState::Send {
            attempt: attempt.clone(),
            channel: planned.channel,
            sender: self
                .providers
                .channel(&clinic.slug, planned.channel)
                .map_or_else(|| "none".to_owned(), |c| c.sender_id().to_owned()),
            to_masked: planned.to.masked(),
            sandbox: self.providers.is_sandboxed(&clinic.slug, planned.channel),
        };
        let handover = Handover {
            notification: notification.clone(),
            patient,
            clinic,
            attempt,
            channel: planned.channel,
            to: planned.to,
            carrying,
            templates,
        };
        (next, handover)
    }

    /// Sends one hand-over and says how the provider answered; `None` when the lease was lost
    /// before the request started: the dispatcher that took it over sends it, and no outcome is
    /// this one's to record.
    pub(super) async fn hand_over(&self, token: &str, handover: Handover) -> Option<OutcomeWrite> {
        let Handover {
            notification,
            patient,
            clinic,
            attempt,
            channel,
            to,
            carrying,
            templates,
        } = handover;
        let address = to.address().to_owned();
        let mut lessons = Lessons::default();
        let link = self
            .secure_links
            .link_for_notice(
                &clinic,
                &notification.id,
                &notification.topic,
                carrying.sensitivity,
                channel,
            )
            .await;
        let (allowed, kind) =
            content_allowed(&notification, carrying, channel, &clinic, link.as_ref());
        let outcome = match (
            self.providers.channel(&clinic.slug, channel),
            render(
                &allowed,
                &patient,
                &clinic,
                &templates,
                channel,
                to,
                &attempt,
                self.clock.now(),
            ),
        ) {
            (None, _) => AttemptOutcome::Failed {
                code: "no_adapter".into(),
                text: format!("no {channel} provider is set up"),
            },
            (_, Err(error)) => AttemptOutcome::Failed {
                code: "template".into(),
                text: error.to_string(),
            },
            (Some(adapter), Ok(message)) => {
                let start = HandoverStart {
                    notification: notification.id.clone(),
                    attempt: attempt.clone(),
                    token: token.to_owned(),
                    clinic: clinic.id.clone(),
                    content: received(&message, kind, link.as_ref()),
                };
                let sent = self
                    .send(adapter, channel, &message, start, &mut lessons)
                    .await?;
                lessons.learn(self, &sent, &clinic, channel, address);
                self.classify(channel, &notification, sent)
            }
        };
        Some(OutcomeWrite {
            notification: notification.id,
            attempt,
            channel,
            outcome,
            learned: lessons.learned,
            suspend: lessons.suspend,
            sms: lessons.sms,
            notice_follows: privacy::notice_follows(carrying.sensitivity, channel),
        })
    }

    /// Waits for the sender's turn, records the hand-over's start and gives `message` to the
    /// provider. `None` when the lease was lost before the start was recorded.
    async fn send(
        &self,
        adapter: &Arc<dyn Channel>,
        channel: ChannelKind,
        message: &OutgoingMessage,
        start: HandoverStart,
        lessons: &mut Lessons,
    ) -> Option<SendOutcome> {
        if channel == ChannelKind::Sms {
            lessons.sms = Some(segments::analyse(&message.body));
        }
        self.limits.until_ready(channel, adapter.sender_id()).await;
        match self.starts.submit(start).await {
            Ok(true) => {
                let asked = std::time::Instant::now();
                let sent = adapter.send(message).await;
                crate::observability::record_provider_request(channel, asked.elapsed());
                Some(sent)
            }
            Ok(false) => None,
            // Not started, so not ambiguous: tried again after the backoff.
            Err(error) => Some(SendOutcome::RetryLater {
                code: "not_started".into(),
                reason: format!("could not record the hand-over's start: {error}"),
                after: None,
            }),
        }
    }

    /// Pauses a clinic's channel whose provider account is unusable, for a while: traffic falls
    /// back meanwhile, and the channel is tried again afterwards in case it was fixed.
    fn suspension(
        &self,
        clinic: &Clinic,
        channel: ChannelKind,
        code: &str,
        reason: &str,
    ) -> SuspensionWrite {
        let now = self.clock.now();
        let pause = Duration::from_millis(self.config.channel_down_pause_ms);
        SuspensionWrite {
            clinic: clinic.id.clone(),
            suspension: ChannelSuspension {
                channel,
                reason: format!("{code}: {reason}"),
                until: later(now, pause),
            },
        }
    }

    /// Remembers what a provider said about an address, for as long as the settings trust it.
    fn learned(&self, fact: RecipientFact, channel: ChannelKind, address: String) -> LearnedFact {
        LearnedFact {
            address,
            channel,
            fact,
            until: self.config.remember_until(fact, self.clock.now()),
        }
    }

    /// Turns an adapter's answer into what is stored, with retry times and delivery deadlines.
    fn classify(
        &self,
        channel: ChannelKind,
        notification: &ClaimedNotification,
        sent: SendOutcome,
    ) -> AttemptOutcome {
        let now = self.clock.now();
        let at = |d: Duration| later(now, d);
        match sent {
            SendOutcome::Accepted {
                provider_message_id,
            } => AttemptOutcome::Accepted {
                provider_message_id,
                deliver_by: self.rules.timeouts.for_channel(channel).map(at),
            },
            SendOutcome::RetryLater {
                code,
                reason,
                after,
            } => {
                let tries = notification
                    .attempts
                    .iter()
                    .filter(|a| a.channel == channel && a.status == AttemptStatus::Errored)
                    .count() as u32
                    + 1;
                let backoff = policy::retry_delay(
                    tries,
                    Duration::from_millis(self.config.retry_base_ms),
                    Duration::from_millis(self.config.retry_cap_ms),
                    rand::random::<f64>() * 2.0 - 1.0,
                );
                AttemptOutcome::Errored {
                    code,
                    text: reason,
                    retry_at: at(after.unwrap_or(backoff).max(backoff)),
                }
            }
            SendOutcome::RateLimited { after } => AttemptOutcome::RateLimited {
                retry_at: at(after),
            },
            SendOutcome::Permanent { code, reason, .. }
            | SendOutcome::ChannelDown { code, reason } => {
                AttemptOutcome::Failed { code, text: reason }
            }
            SendOutcome::Ambiguous { reason } => AttemptOutcome::Ambiguous {
                reason,
                deliver_by: self.rules.timeouts.for_channel(channel).map(at),
            },
        }
    }
}

/// What a hand-over taught besides its outcome.
#[derive(Default)]
struct Lessons {
    /// What the provider said about the recipient's address.
    learned: Option<LearnedFact>,
    /// The clinic's channel to pause: its provider account is unusable.
    suspend: Option<SuspensionWrite>,
    /// How an SMS was encoded and how many segments it took.
    sms: Option<SmsEncoding>,
}

impl Lessons {
    /// What the provider's answer `sent` teaches about `address` or the clinic's account.
    fn learn(
        &mut self,
        dispatcher: &Dispatcher,
        sent: &SendOutcome,
        clinic: &Clinic,
        channel: ChannelKind,
        address: String,
    ) {
        match sent {
            SendOutcome::Permanent {
                fact: Some(fact), ..
            } => {
                self.learned = Some(dispatcher.learned(*fact, channel, address));
            }
            SendOutcome::ChannelDown { code, reason } => {
                tracing::error!(clinic = %clinic.slug, %channel, %code, "provider account unusable; channel suspended");
                self.suspend = Some(dispatcher.suspension(clinic, channel, code, reason));
            }
            _ => {}
        }
    }
}

/// What the notification may say on `channel`: itself, or, where its topic's sensitivity keeps
/// the content off this channel, a content-free notice in its place (with its secure `link`,
/// when it has one).
fn content_allowed<'a>(
    notification: &'a ClaimedNotification,
    carrying: Carrying,
    channel: ChannelKind,
    clinic: &Clinic,
    link: Option<&Url>,
) -> (Cow<'a, ClaimedNotification>, ContentKind) {
    let facts = NoticeFacts {
        clinic_phone: clinic.phone.as_ref().map(|p| p.as_str()),
        content_went_by: carrying.content_went_by,
        secure_link: link.map(Url::as_str),
    };
    match privacy::notice(carrying.sensitivity, channel, facts) {
        Some(privacy::Notice { template, params }) => (
            Cow::Owned(ClaimedNotification {
                body: None,
                template: Some(template.to_owned()),
                params: serde_json::to_string(&params).ok(),
                ..notification.clone()
            }),
            ContentKind::Notice,
        ),
        None => (Cow::Borrowed(notification), ContentKind::Content),
    }
}

/// What the patient receives in `message`, as it is recorded with the hand-over's start; a
/// secure `link` in it is kept with its token hidden.
fn received(message: &OutgoingMessage, kind: ContentKind, link: Option<&Url>) -> AttemptContent {
    let content = AttemptContent {
        kind,
        language: message.language.clone(),
        subject: message.subject.clone(),
        text: Some(message.body.clone()),
        template: message.template.as_ref().map(|t| SentTemplate {
            name: t.name.clone(),
            params: t.parameters.clone(),
        }),
    };
    match link {
        Some(link) => content.hiding(link.as_str(), &secure_link::hidden(link)),
        None => content,
    }
}

/// The message as the patient will see it: the staff's text, or the template (the clinic's own
/// copy, else the built-in) in the patient's language, else the clinic's, rendered for `channel`.
/// On WhatsApp a template goes as the provider's approved copy with its parameters, the only kind
/// of message Meta lets a business start a conversation with.
// Each argument is one fact of the hand-over; bundling them would only rebuild `Handover`.
#[allow(clippy::too_many_arguments)]
fn render(
    notification: &ClaimedNotification,
    patient: &Patient,
    clinic: &Clinic,
    own_templates: &[OwnTemplate<TemplateCopy>],
    channel: ChannelKind,
    to: Recipient,
    attempt: &AttemptId,
    now: Timestamp,
) -> Result<OutgoingMessage, templates::TemplateError> {
    // A template's email rendering has its own subject; the staff's text gets the default one.
    let mut subject = None;
    let (body, language, provider_template) = match (&notification.body, &notification.template) {
        (Some(body), _) => (body.clone(), patient.language.as_str().to_owned(), None),
        (None, Some(template)) => {
            let params: BTreeMap<String, String> = notification
                .params
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or_default();
            let chosen = templates::choose(
                template,
                own_templates,
                [patient.language.as_str(), clinic.default_language.as_str()],
            )
            .ok_or_else(|| templates::TemplateError::Unknown(template.clone()))?;
            let rendering =
                templates::render(&chosen, channel, &params, &clinic.name, &patient.name)?;
            subject = rendering.subject;
            (rendering.body, chosen.language, rendering.provider_template)
        }
        (None, None) => return Err(templates::TemplateError::Unknown(String::new())),
    };
    Ok(OutgoingMessage {
        subject: matches!(to, Recipient::Email(_))
            .then(|| subject.unwrap_or_else(|| templates::email_subject(&language, &clinic.name))),
        to,
        body,
        language,
        callback_ref: attempt.as_str().to_owned(),
        template: provider_template,
        valid_for: notification
            .expires_at
            .and_then(|expires| std::time::Duration::try_from(expires.duration_since(now)).ok()),
    })
}
