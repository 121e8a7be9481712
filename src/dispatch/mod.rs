//! The dispatcher: claims due notifications with a lease, asks `policy` what to do, hands
//! messages to channel adapters (at each sender's rate), and records what the providers answered.
//! It is the only writer of attempt outcomes.

mod drain;
mod senders;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use medrelay_channels::{
    ChannelKind, OutgoingMessage, Recipient, RecipientFact, SendOutcome, segments,
};
use tokio::sync::{Notify, RwLock, watch};

pub use senders::SenderLimits;

use crate::batch::Batcher;
use crate::clock::SharedClock;
use crate::config::{DeliveryTimeouts, DispatchConfig};
use crate::domain::{
    AttemptId, Clinic, ClinicHours, ClinicId, NotificationStatus, Patient, Reason, Sensitivity,
    Topic,
};
use crate::policy::{
    self, ChannelSuspension, DeliveryRules, KnownFact, MessagingHours, NotificationFacts, Step,
    WhatsAppContent, privacy,
    templates::{self, OwnTemplate, TemplateCopy},
};
use crate::providers::Providers;
use crate::store::{
    AttemptOutcome, ClaimedNotification, DispatchWrite, HandoverStart, LearnedFact, NextState,
    OutcomeWrite, Store, StoreError, SuspensionWrite,
};

#[derive(Debug)]
pub struct Dispatcher {
    store: Store,
    clock: SharedClock,
    config: DispatchConfig,
    rules: DeliveryRules,
    providers: Arc<Providers>,
    limits: SenderLimits,
    wake: Arc<Notify>,
    /// Records each hand-over's start before its request is written (group commit): after a
    /// crash, only a started hand-over may have reached the provider and must be waited on.
    starts: Batcher<HandoverStart, bool>,
    /// Clinics as last read, and when: a clinic's row changes rarely (its name, phone, channels).
    clinics: RwLock<HashMap<ClinicId, (std::time::Instant, Clinic)>>,
    rounds: drain::Rounds,
}

/// How long a clinic read from the database is used before it is read again.
const CLINIC_FRESH_FOR: Duration = Duration::from_secs(30);

/// A claimed notification the policy wants sent now.
struct Handover {
    notification: ClaimedNotification,
    patient: Patient,
    clinic: Clinic,
    attempt: AttemptId,
    channel: ChannelKind,
    to: Recipient,
    sensitivity: Sensitivity,
    /// The clinic's own copies of the notification's template, if it has any.
    templates: Vec<OwnTemplate<TemplateCopy>>,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        clock: SharedClock,
        config: DispatchConfig,
        timeouts: DeliveryTimeouts,
        providers: Arc<Providers>,
        wake: Arc<Notify>,
    ) -> Self {
        let rules = DeliveryRules {
            max_tries_per_channel: config.max_tries_per_channel,
            unanswered_call_retry_after: Duration::from_millis(config.unanswered_call_retry_ms),
            timeouts,
        };
        let starts_store = store.clone();
        let starts_clock = clock.clone();
        let starts = Batcher::spawn(1024, move |starts: Vec<HandoverStart>| {
            let store = starts_store.clone();
            let now = starts_clock.now();
            async move {
                let started = store.mark_started(&starts, now).await?;
                Ok::<_, StoreError>(
                    starts
                        .iter()
                        .map(|s| started.contains(s.attempt.as_str()))
                        .collect(),
                )
            }
        });
        Self {
            store,
            clock,
            config,
            rules,
            limits: providers.sender_limits(),
            providers,
            wake,
            starts,
            clinics: RwLock::new(HashMap::new()),
            rounds: drain::Rounds::default(),
        }
    }

    /// Runs the configured number of workers until `stop` turns true.
    pub async fn run_until_stopped(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let workers: Vec<_> = (0..self.config.workers.max(1))
            .map(|_| tokio::spawn(Arc::clone(&self).work(stop.clone())))
            .collect();
        futures::future::join_all(workers).await;
    }

    async fn work(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let idle = Duration::from_millis(self.config.poll_interval_ms);
        while !*stop.borrow() {
            match self.rounds.share(self.dispatch_due()).await {
                Ok(0) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(idle) => {}
                        _ = stop.changed() => {}
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "dispatch round failed");
                    tokio::time::sleep(idle).await;
                }
            }
        }
    }

    /// One round: claim a batch, decide, hand over, record. Returns how many were claimed.
    pub async fn dispatch_due(&self) -> Result<usize, StoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = self.clock.now();
        let lease_until = now.checked_add(self.config.lease()).unwrap_or(now);
        let claimed = self
            .store
            .claim_due(&token, now, lease_until, self.config.batch_size)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let patient_ids: Vec<&str> = claimed.iter().map(|n| n.patient_id.as_str()).collect();
        let patients = self.store.patients_by_ids(&patient_ids).await?;
        let addresses: Vec<&str> = patients
            .values()
            .flat_map(|p| {
                [
                    p.phone.as_ref().map(|x| x.as_str()),
                    p.email.as_ref().map(|x| x.as_str()),
                ]
            })
            .flatten()
            .collect();
        let mut clinic_ids: Vec<&str> = claimed.iter().map(|n| n.clinic_id.as_str()).collect();
        clinic_ids.sort_unstable();
        clinic_ids.dedup();
        let mut wanted: Vec<_> = claimed
            .iter()
            .filter_map(|n| Some((n.clinic_id.clone(), n.template.clone()?)))
            .collect();
        wanted.sort();
        wanted.dedup();
        // Only free text needs the patient's WhatsApp window; templates go any time.
        let free_text = claimed.iter().any(|n| n.template.is_none());
        let since = now.checked_sub(policy::WHATSAPP_WINDOW).unwrap_or(now);
        // Independent reads, side by side. Hours and topics are read each round, not cached: an
        // admin's change applies to the next hand-over.
        let (hours, known, suspended, topics, own_templates, windows) = tokio::try_join!(
            self.store.clinic_hours_by_ids(&clinic_ids),
            self.store.recipient_facts(&addresses, now),
            self.store.channel_suspensions(now),
            self.store.topic_settings(&clinic_ids),
            self.store.clinic_texts_for::<TemplateCopy>(&wanted),
            async {
                if free_text {
                    self.store.open_whatsapp_windows(&addresses, since).await
                } else {
                    Ok(HashSet::new())
                }
            },
        )?;

        let mut writes = Vec::with_capacity(count);
        let mut handovers = HashMap::new();
        for notification in claimed {
            let clinic = self.clinic(&notification.clinic_id).await?;
            let Some(patient) = patients.get(notification.patient_id.as_str()).cloned() else {
                writes.push(DispatchWrite {
                    notification: notification.id.clone(),
                    previous_status: notification.status,
                    verdicts: Vec::new(),
                    reasons: vec![Reason::PatientGone],
                    next: NextState::Finish {
                        status: NotificationStatus::Failed,
                        channel: None,
                    },
                    callback: None,
                });
                continue;
            };
            let known_facts: Vec<KnownFact> = [
                patient.phone.as_ref().map(|p| p.as_str()),
                patient.email.as_ref().map(|e| e.as_str()),
            ]
            .into_iter()
            .flatten()
            .filter_map(|address| known.get(&(clinic.id.clone(), address.to_owned())))
            .flatten()
            .cloned()
            .collect();
            let suspended_here = suspended.get(&clinic.id).map_or(&[][..], Vec::as_slice);
            // Read at each round, so a topic the clinic marks restricted protects what is still
            // waiting. A topic with no setting and no built-in default cannot have passed intake;
            // were it to, it is treated as the most private.
            let sensitivity = topics
                .get(&(clinic.id.as_str().to_owned(), notification.topic.clone()))
                .copied()
                .or_else(|| Topic::parse(&notification.topic).map(Topic::default_sensitivity))
                .unwrap_or(Sensitivity::Restricted);
            // A content-free notice goes on WhatsApp as an approved template.
            let whatsapp = if notification.template.is_some()
                || privacy::carries(sensitivity, ChannelKind::Whatsapp) == privacy::Carries::Notice
            {
                WhatsAppContent::Template
            } else {
                let number = self
                    .providers
                    .channel(&clinic.slug, ChannelKind::Whatsapp)
                    .map(|c| c.sender_id().to_owned());
                let phone = patient.phone.as_ref().map(|p| p.as_str().to_owned());
                match number.zip(phone) {
                    Some(pair) if windows.contains(&pair) => WhatsAppContent::FreeTextInWindow,
                    _ => WhatsAppContent::FreeTextOutsideWindow,
                }
            };
            let plan = policy::channel_plan(
                notification.channel,
                &patient,
                &clinic,
                &known_facts,
                suspended_here,
                whatsapp,
            );
            // Every claimed notification's clinic is in `hours` (its row references it); the
            // defaults only make the lookup total.
            let clinic_hours = hours
                .get(&clinic.id)
                .cloned()
                .unwrap_or_else(|| Arc::new(ClinicHours::israeli_default()));
            let facts = NotificationFacts {
                status: notification.status,
                priority: notification.priority,
                send_at: notification.send_at,
                expires_at: notification.expires_at,
                hours: MessagingHours::for_patient(clinic_hours, &clinic, &patient),
            };
            let mut decision =
                policy::decide(&facts, &plan, &notification.attempts, &self.rules, now);
            privacy::apply(
                &mut decision,
                &notification.topic,
                sensitivity,
                notification.attempts.is_empty(),
                plan.callback_possible,
            );
            let next = match decision.step {
                Step::Send(planned) => {
                    let attempt = AttemptId::generate();
                    let sender = self
                        .providers
                        .channel(&clinic.slug, planned.channel)
                        .map_or_else(|| "none".to_owned(), |c| c.sender_id().to_owned());
                    let to_masked = planned.to.masked();
                    let next = NextState::Send {
                        attempt: attempt.clone(),
                        channel: planned.channel,
                        sender,
                        to_masked,
                        sandbox: self.providers.is_sandboxed(&clinic.slug, planned.channel),
                    };
                    handovers.insert(
                        attempt.clone(),
                        Handover {
                            notification: notification.clone(),
                            // Not taken out of `patients`: later notifications in
                            // this batch may be for the same patient.
                            patient,
                            clinic,
                            attempt,
                            channel: planned.channel,
                            to: planned.to,
                            sensitivity,
                            templates: notification
                                .template
                                .as_ref()
                                .and_then(|t| {
                                    own_templates.get(&(notification.clinic_id.clone(), t.clone()))
                                })
                                .cloned()
                                .unwrap_or_default(),
                        },
                    );
                    next
                }
                Step::Wait { until, status } => NextState::Wait { until, status },
                Step::Finish { status, channel } => NextState::Finish { status, channel },
            };
            writes.push(DispatchWrite {
                notification: notification.id,
                previous_status: notification.status,
                verdicts: decision.verdicts,
                reasons: decision.reasons,
                next,
                callback: decision.callback,
            });
        }

        let decided_at = self.clock.now();
        let lease_until = decided_at
            .checked_add(self.config.lease())
            .unwrap_or(decided_at);
        let cleared = self
            .store
            .record_decisions(&token, &writes, now, lease_until)
            .await?;
        if cleared.is_empty() {
            return Ok(count);
        }
        let sends: Vec<Handover> = cleared
            .into_iter()
            .filter_map(|attempt| handovers.remove(&attempt))
            .collect();
        let held: Vec<String> = sends
            .iter()
            .map(|h| h.notification.id.as_str().to_owned())
            .collect();
        let held: Vec<&str> = held.iter().map(String::as_str).collect();
        let hand_overs = futures::stream::iter(sends)
            .map(|handover| self.hand_over(&token, handover))
            .buffer_unordered(self.config.batch_size.max(1) as usize)
            .filter_map(std::future::ready)
            .collect::<Vec<OutcomeWrite>>();
        let outcomes = tokio::select! {
            outcomes = hand_overs => outcomes,
            never = self.keep_lease(&token, &held) => match never {},
        };
        self.record_outcomes(&token, &outcomes).await?;
        if outcomes
            .iter()
            .any(|o| matches!(o.outcome, AttemptOutcome::Failed { .. }))
        {
            self.wake.notify_one();
        }
        Ok(count)
    }

    /// The providers' answers exist only in memory until written: a failed write (a deadlock, a
    /// busy pool) is tried again a few times rather than leave the hand-overs unsettled.
    async fn record_outcomes(
        &self,
        token: &str,
        outcomes: &[OutcomeWrite],
    ) -> Result<(), StoreError> {
        let mut tries = 0;
        loop {
            match self
                .store
                .record_outcomes(token, outcomes, self.clock.now())
                .await
            {
                Err(error) if tries < 3 => {
                    tries += 1;
                    tracing::warn!(%error, tries, "recording provider answers failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                result => return result,
            }
        }
    }

    /// Renews this round's lease every third of a lease until dropped, so a hand-over waiting on
    /// a slow provider or a sender's rate limit is not mistaken for an interrupted one.
    async fn keep_lease(&self, token: &str, notifications: &[&str]) -> std::convert::Infallible {
        let lease = self.config.lease();
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = self
                .clock
                .now()
                .checked_add(lease)
                .unwrap_or_else(|_| self.clock.now());
            if let Err(error) = self.store.extend_lease(token, notifications, until).await {
                tracing::warn!(%error, "could not renew the dispatch lease");
            }
        }
    }

    /// Sends one hand-over and says how the provider answered; `None` when the lease was lost
    /// before the request started: the dispatcher that took it over sends it, and no outcome is
    /// this one's to record.
    async fn hand_over(&self, token: &str, handover: Handover) -> Option<OutcomeWrite> {
        let Handover {
            notification,
            patient,
            clinic,
            attempt,
            channel,
            to,
            sensitivity,
            templates,
        } = handover;
        let address = to.address().to_owned();
        let mut learned = None;
        let mut suspend = None;
        let mut sms = None;
        let outcome = match (
            self.providers.channel(&clinic.slug, channel),
            render(
                &content_allowed(&notification, sensitivity, channel, &clinic),
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
                if channel == ChannelKind::Sms {
                    sms = Some(segments::analyse(&message.body));
                }
                self.limits.until_ready(channel, adapter.sender_id()).await;
                let start = HandoverStart {
                    notification: notification.id.clone(),
                    attempt: attempt.clone(),
                    token: token.to_owned(),
                };
                match self.starts.submit(start).await {
                    Ok(true) => {}
                    Ok(false) => return None,
                    // Not started, so not ambiguous: tried again after the backoff.
                    Err(error) => {
                        return Some(OutcomeWrite {
                            notification: notification.id.clone(),
                            attempt,
                            channel,
                            outcome: self.classify(
                                channel,
                                &notification,
                                SendOutcome::RetryLater {
                                    code: "not_started".into(),
                                    reason: format!(
                                        "could not record the hand-over's start: {error}"
                                    ),
                                    after: None,
                                },
                            ),
                            learned: None,
                            suspend: None,
                            sms,
                        });
                    }
                }
                let sent = adapter.send(&message).await;
                match &sent {
                    SendOutcome::Permanent {
                        fact: Some(fact), ..
                    } => {
                        learned = Some(self.learned(*fact, channel, address));
                    }
                    SendOutcome::ChannelDown { code, reason } => {
                        tracing::error!(clinic = %clinic.slug, %channel, %code, "provider account unusable; channel suspended");
                        suspend = Some(self.suspension(&clinic, channel, code, reason));
                    }
                    _ => {}
                }
                self.classify(channel, &notification, sent)
            }
        };
        Some(OutcomeWrite {
            notification: notification.id,
            attempt,
            channel,
            outcome,
            learned,
            suspend,
            sms,
        })
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
                until: now.checked_add(pause).unwrap_or(now),
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
        let at = |d: Duration| {
            let millis = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Timestamp::from_millisecond(now.as_millisecond().saturating_add(millis)).unwrap_or(now)
        };
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
                    .filter(|a| {
                        a.channel == channel && a.status == crate::domain::AttemptStatus::Errored
                    })
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

    async fn clinic(&self, id: &ClinicId) -> Result<Clinic, StoreError> {
        if let Some((read_at, clinic)) = self.clinics.read().await.get(id)
            && read_at.elapsed() < CLINIC_FRESH_FOR
        {
            return Ok(clinic.clone());
        }
        let read_at = std::time::Instant::now();
        let clinic = self.store.clinic_by_id(id).await?;
        self.clinics
            .write()
            .await
            .insert(id.clone(), (read_at, clinic.clone()));
        Ok(clinic)
    }
}

/// What the notification may say on `channel`: itself, or, where its topic's sensitivity keeps
/// the content off this channel, a content-free notice in its place.
fn content_allowed<'a>(
    notification: &'a ClaimedNotification,
    sensitivity: Sensitivity,
    channel: ChannelKind,
    clinic: &Clinic,
) -> Cow<'a, ClaimedNotification> {
    match privacy::notice(
        sensitivity,
        channel,
        clinic.phone.as_ref().map(|p| p.as_str()),
    ) {
        Some(privacy::Notice { template, params }) => Cow::Owned(ClaimedNotification {
            body: None,
            template: Some(template.to_owned()),
            params: serde_json::to_string(&params).ok(),
            ..notification.clone()
        }),
        None => Cow::Borrowed(notification),
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
