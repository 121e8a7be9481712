//! Intake: a notification handed in is checked against the clinic's rules (its patient, topic,
//! templates and messaging hours, the sender's role) and stored durably, or refused with every
//! rule it breaks. One path for every entry point: `POST /v1/notifications` today, quick and
//! automatic replies next. It takes its own inputs, not the HTTP layer's state, and parsing a
//! request into a [`Draft`] is the entry point's job.

mod appointments;
mod checks;
mod settings;
mod stored;

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use tokio::sync::Notify;

use appointments::NoticeIntake;
pub use appointments::{AppointmentChanged, AppointmentNotice};
pub use checks::{EXTERNAL_ID_RULE, is_external_id};
pub use settings::{ClinicSettings, ClinicSettingsCache};
use stored::{Approved, new_notification, received_event};

use crate::batch::{BatchError, Batcher};
use crate::clock::SharedClock;
use crate::config::ApiConfig;
use crate::domain::{
    Clinic, ClinicId, FieldError, InboundMessageId, Metadata, NotificationStatus, Patient,
    Priority, Reason, Reference, Sensitivity,
};
use crate::policy::templates::TemplateError;
use crate::policy::{MessagingHours, PatientCaps, SendTime};
use crate::store::{
    ApiKeyRole, AuditEntry, IntakeResult, NewNotification, Receipt, Store, StoreError,
};

/// Notifications written in one group commit, at most.
const MAX_BATCH: usize = 512;

/// Patients read in one statement, at most.
const MAX_PATIENT_READS: usize = 256;

/// A notification as an entry point parsed it; intake checks the rest.
#[derive(Debug)]
pub struct Draft {
    pub clinic: Clinic,
    /// The patient's id in the booking system.
    pub patient_id: String,
    pub topic: String,
    pub content: Content,
    /// The channel staff chose, if they did.
    pub channel: Option<ChannelKind>,
    pub priority: Priority,
    /// Absent: now.
    pub send_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request, to tell a replay from a reused key.
    pub request_hash: String,
    /// The booking system's id for the notification and its own fields.
    pub reference: Option<Reference>,
    pub metadata: Metadata,
    /// The audit entry of the request that hands it in, when the trail records that request:
    /// stored in the notification's own transaction, so neither commits without the other.
    pub audit: Option<AuditEntry>,
}

/// What intake answers: the notification's receipt, and whether it is the answer to an earlier
/// request with the same idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub receipt: Receipt,
    pub replayed: bool,
}

/// What the patient is to read.
#[derive(Debug)]
pub enum Content {
    /// Text staff wrote.
    Body(String),
    /// One of the clinic's templates, filled with `params`.
    Template {
        name: String,
        params: Option<BTreeMap<String, String>>,
    },
    /// A staff quick reply by name, sent in the patient's language.
    QuickReply(String),
}

/// A staff member answering in a conversation (see [`Intake::accept_staff_reply`]).
#[derive(Debug, Clone)]
pub struct StaffReply {
    /// The person, as named by the staff caller.
    pub by: String,
    /// The patient's oldest message still waiting for an answer, if any.
    pub in_reply_to: Option<InboundMessageId>,
}

/// Who hands a notification in: a key or a signed-in staff member, whose role decides what it
/// may send.
#[derive(Debug, Clone)]
pub struct Actor {
    /// As the records name them.
    pub who: crate::domain::Actor,
    pub role: ApiKeyRole,
}

impl Actor {
    /// As the audit trail records it.
    pub fn recorded_as(&self) -> crate::domain::Actor {
        self.who.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the notification breaks {} rule(s)", .0.len())]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("the idempotency key was already used with a different request")]
    KeyReused,
    #[error("{0}")]
    PatientLimit(PatientLimitReached),
    #[error("reading the clinic's set-up failed")]
    Store(#[from] StoreError),
    #[error("storing the notification failed")]
    Writer(#[from] BatchError),
    #[error("reading the patient failed")]
    Reader(#[source] BatchError),
    #[error("a stored quick reply could not be filled in")]
    QuickReply(#[source] TemplateError),
}

/// The patient has had as many notifications of this kind as the cap allows in 24 hours.
#[derive(Debug, thiserror::Error)]
#[error(
    "patient {patient_id} has had {cap} {kind} notifications in the last 24 hours, the most \
     allowed; the next may be sent from {frees_at}"
)]
pub struct PatientLimitReached {
    pub patient_id: String,
    /// `urgent` or `non-urgent`: each has its own cap.
    pub kind: &'static str,
    pub cap: u32,
    pub frees_at: Timestamp,
    pub retry_after_secs: u64,
}

/// The configured limits intake applies.
#[derive(Debug, Clone)]
struct Limits {
    max_body_chars: usize,
    patient_daily_cap: u32,
    patient_daily_urgent_cap: u32,
    /// Clinics (by slug) whose booking keys may send urgent notifications.
    booking_urgent_clinics: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Intake {
    store: Store,
    clock: SharedClock,
    settings: Arc<ClinicSettingsCache>,
    writer: Batcher<NewNotification, IntakeResult>,
    /// Looks patients up by the booking system's id: the lookups of requests arriving together
    /// share one statement, so a burst costs one read, not one per request. Each is read after
    /// it was asked for, so a request sees every change committed before it came.
    patients: Batcher<(ClinicId, String), Option<Patient>>,
    /// Woken when a notification is due at once.
    dispatcher_wake: Arc<Notify>,
    limits: Limits,
}

impl Intake {
    /// Starts the group-commit writer that stores what intake accepts.
    pub fn start(
        store: Store,
        clock: SharedClock,
        settings: Arc<ClinicSettingsCache>,
        dispatcher_wake: Arc<Notify>,
        config: &ApiConfig,
    ) -> Self {
        let caps = PatientCaps::daily(config.patient_daily_cap, config.patient_daily_urgent_cap);
        let writer_store = store.clone();
        let turn_store = store.clone();
        let writer = Batcher::spawn_when_ready(
            MAX_BATCH,
            move || {
                let store = turn_store.clone();
                async move { store.writer_turn().await }
            },
            move |turn, batch: Vec<NewNotification>| {
                let store = writer_store.clone();
                async move { store.insert_notifications_on(turn, &batch, caps).await }
            },
        );
        let reader_store = store.clone();
        let patients = Batcher::spawn(MAX_PATIENT_READS, move |keys: Vec<(ClinicId, String)>| {
            let store = reader_store.clone();
            async move { store.patients_by_external_ids(&keys).await }
        });
        Self {
            store,
            clock,
            settings,
            writer,
            patients,
            dispatcher_wake,
            limits: Limits {
                max_body_chars: config.max_body_chars,
                patient_daily_cap: config.patient_daily_cap,
                patient_daily_urgent_cap: config.patient_daily_urgent_cap,
                booking_urgent_clinics: config.booking_urgent_clinics.clone(),
            },
        }
    }

    /// Checks `draft` and stores it, durably, before answering. A replay of an earlier request
    /// (same idempotency key and request) gets that request's receipt.
    pub async fn accept(&self, draft: Draft, actor: &Actor) -> Result<Accepted, IntakeError> {
        self.accept_for(draft, actor, None, None).await
    }

    /// Checks and stores a staff member's answer to a patient who wrote: it is recorded as that
    /// person's, counts toward no daily cap, and marks the patient's waiting messages answered
    /// in the transaction that stores it.
    pub async fn accept_staff_reply(
        &self,
        draft: Draft,
        actor: &Actor,
        reply: StaffReply,
    ) -> Result<Accepted, IntakeError> {
        self.accept_for(draft, actor, None, Some(reply)).await
    }

    /// [`Intake::accept`], for the notice of an appointment's change or a staff reply when one is
    /// given.
    async fn accept_for(
        &self,
        mut draft: Draft,
        actor: &Actor,
        notice: Option<NoticeIntake>,
        reply: Option<StaffReply>,
    ) -> Result<Accepted, IntakeError> {
        let now = self.clock.now();
        let approved = self
            .approve(&mut draft, actor, notice.as_ref(), now)
            .await?;
        let patient_external_id = approved.patient.external_id.clone();
        let notification = new_notification(draft, approved, actor, notice, reply, now);
        let stored = self.writer.submit(notification).await?;
        self.answer(stored, patient_external_id, now)
    }

    /// The draft's patient and text when it breaks no rule, and when it is due; else every rule
    /// it breaks. Its content is taken into the approved text.
    async fn approve(
        &self,
        draft: &mut Draft,
        actor: &Actor,
        notice: Option<&NoticeIntake>,
        now: Timestamp,
    ) -> Result<Approved, IntakeError> {
        let (mut errors, patient, sensitivity) = self
            .check_patient_and_topic(draft, actor, now, notice.is_some())
            .await?;
        let content = std::mem::replace(&mut draft.content, Content::Body(String::new()));
        let clinic = &draft.clinic;
        let text = self
            .text(clinic, content, patient.as_ref(), actor, &mut errors)
            .await?;
        let (patient, text) = approved(errors, sensitivity, patient, text, clinic, draft.channel)?;
        let requested = draft.send_at.unwrap_or(now);
        let (send_at, hours_note) = self
            .stored_send_time(
                clinic,
                &patient,
                draft.priority,
                requested,
                draft.expires_at,
            )
            .await?;
        let received = received_event(notice, draft.priority, requested, now, &text);
        Ok(Approved {
            patient,
            text,
            send_at,
            hours_note,
            received,
        })
    }

    /// Every rule a draft breaks before its text is read: its own, then the patient's and the
    /// topic's, with the patient and the topic's sensitivity where they are known.
    async fn check_patient_and_topic(
        &self,
        draft: &Draft,
        actor: &Actor,
        now: Timestamp,
        is_appointment_notice: bool,
    ) -> Result<(Vec<FieldError>, Option<Patient>, Option<Sensitivity>), IntakeError> {
        let mut errors = self.own_rules(draft, actor, now, is_appointment_notice);
        let clinic = &draft.clinic;
        let patient = self.patient(clinic, &draft.patient_id, &mut errors).await?;
        let sensitivity = self
            .topic_sensitivity(clinic, &draft.topic, &mut errors)
            .await?;
        if sensitivity == Some(Sensitivity::Restricted)
            && matches!(draft.content, Content::Body(_))
            && let Some(channel) = draft.channel
        {
            errors.push(FieldError::new(
                "channel",
                format!(
                    "topic {} is restricted: no message channel may carry its content, so this \
                     text cannot go on {channel}; leave channel out: the patient gets a \
                     content-free notice and staff a callback task to talk to them in person",
                    draft.topic
                ),
            ));
        }
        Ok((errors, patient, sensitivity))
    }

    /// When the notification is stored as due, and why when the hours moved it. A normal
    /// notification due outside the messaging hours is stored for the next moment they allow;
    /// an urgent one is the dispatcher's to explain when it sends it.
    async fn stored_send_time(
        &self,
        clinic: &Clinic,
        patient: &Patient,
        priority: Priority,
        requested: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> Result<(Timestamp, Option<Reason>), IntakeError> {
        if priority == Priority::Urgent {
            return Ok((requested, None));
        }
        let settings = self.settings.get(&self.store, &clinic.id).await?;
        let hours = MessagingHours::for_patient(Arc::clone(&settings.hours), clinic, patient);
        Ok(match hours.send_time(priority, requested, expires_at) {
            // Stored as expired: its send time past its expiry says so (see the store).
            SendTime::Defer { until, reason } | SendTime::Expire { until, reason } => {
                (until, Some(reason))
            }
            // Failing needs the whole picture; the dispatcher decides it at once.
            SendTime::Now { .. } | SendTime::Fail { .. } => (requested, None),
        })
    }

    /// The answer to the caller once the writer has stored, replayed or refused the
    /// notification; one due at once wakes the dispatcher.
    fn answer(
        &self,
        stored: IntakeResult,
        patient_external_id: String,
        now: Timestamp,
    ) -> Result<Accepted, IntakeError> {
        match stored {
            IntakeResult::Created(receipt) => {
                if receipt.status == NotificationStatus::Queued {
                    self.dispatcher_wake.notify_one();
                }
                Ok(Accepted {
                    receipt,
                    replayed: false,
                })
            }
            IntakeResult::Replayed(receipt) => Ok(Accepted {
                receipt,
                replayed: true,
            }),
            IntakeResult::PatientLimit { priority, frees_at } => {
                Err(IntakeError::PatientLimit(PatientLimitReached {
                    patient_id: patient_external_id,
                    kind: match priority {
                        Priority::Normal => "non-urgent",
                        Priority::Urgent => "urgent",
                    },
                    cap: match priority {
                        Priority::Normal => self.limits.patient_daily_cap,
                        Priority::Urgent => self.limits.patient_daily_urgent_cap,
                    },
                    frees_at,
                    retry_after_secs: now.duration_until(frees_at).as_secs_f64().ceil().max(1.0)
                        as u64,
                }))
            }
            IntakeResult::KeyReused => Err(IntakeError::KeyReused),
        }
    }

    /// The rules that need nothing read: who may send urgent, when it may expire, how long a
    /// text may be.
    fn own_rules(
        &self,
        draft: &Draft,
        actor: &Actor,
        now: Timestamp,
        is_appointment_notice: bool,
    ) -> Vec<FieldError> {
        let mut errors = Vec::new();
        // An appointment notice's priority is medrelay's decision, not the caller's.
        if draft.priority == Priority::Urgent
            && !is_appointment_notice
            && !self.may_send_urgent(&draft.clinic, actor)
        {
            errors.push(FieldError::new(
                "priority",
                "urgent is for staff and admin keys: it skips the clinic's hours and the \
                 patient's quiet hours, so a booking key may send it only where the clinic \
                 allows (api.booking_urgent_clinics)",
            ));
        }
        let send_at = draft.send_at.unwrap_or(now);
        if let Some(expires_at) = draft.expires_at
            && (expires_at <= send_at || expires_at <= now)
        {
            errors.push(FieldError::new(
                "expires_at",
                "must be after send_at (or after now when send_at is not given)",
            ));
        }
        if let Content::Body(body) = &draft.content {
            let chars = body.chars().count();
            if body.trim().is_empty() {
                errors.push(FieldError::new("body", "must not be empty"));
            } else if chars > self.limits.max_body_chars {
                errors.push(FieldError::new(
                    "body",
                    format!(
                        "must be at most {} characters (it has {chars})",
                        self.limits.max_body_chars
                    ),
                ));
            }
        }
        errors
    }

    /// Urgent skips every hour rule, so it is for people, and for booking systems only where the
    /// clinic says so.
    fn may_send_urgent(&self, clinic: &Clinic, actor: &Actor) -> bool {
        actor.role >= ApiKeyRole::Staff || self.limits.booking_urgent_clinics.contains(&clinic.slug)
    }
}

/// The patient and text of a draft that breaks no rule, else every rule it breaks: the last is
/// a staff-written text that no channel the patient can get may carry.
fn approved(
    mut errors: Vec<FieldError>,
    sensitivity: Option<Sensitivity>,
    patient: Option<Patient>,
    text: Option<checks::Text>,
    clinic: &Clinic,
    channel: Option<ChannelKind>,
) -> Result<(Patient, checks::Text), IntakeError> {
    if let (
        Some(sensitivity),
        Some(patient),
        Some(checks::Text {
            body: Some(body), ..
        }),
    ) = (sensitivity, &patient, &text)
        && let Some(error) =
            checks::text_fits_no_channel(clinic, patient, channel, sensitivity, body)
    {
        errors.push(error);
    }
    match (sensitivity, patient, text, errors.is_empty()) {
        (Some(_), Some(patient), Some(text), true) => Ok((patient, text)),
        _ => Err(IntakeError::Invalid(errors)),
    }
}
