//! The sandbox's phone (only while the sandbox runs): what one patient's phone and mailbox
//! received from the sandbox's look-alike providers, with the patient's own messages, drawn as
//! a phone's chat; and forms that make the patient answer. An answer goes through the sandbox
//! exactly as `POST /sandbox/inbound` sends it: the provider's signed webhook, posted to the
//! gateway, so what follows (inbox, opt-out, confirmations) is what a real message causes.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use medrelay_channels::ChannelKind;
use serde::Deserialize;

use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::Patient;
use crate::sandbox::{PatientMessage, Sandbox};
use crate::store::{OutboxFilter, OutboxMessage, PatientFilter, PatientSearch};

/// As many patients as the chooser lists, and messages as the phone shows (the latest).
const PATIENTS_LISTED: u32 = 200;
const MESSAGES_SHOWN: u32 = 200;

#[derive(Template)]
#[template(path = "console/sandbox_phone.html")]
struct PhonePage {
    chrome: Chrome,
    /// (external id, name, chosen).
    patients: Vec<(String, String, bool)>,
    phone: Option<Screen>,
}

/// The chosen patient's phone.
struct Screen {
    external_id: String,
    name: String,
    number: Option<String>,
    email: Option<String>,
    bubbles: Vec<Bubble>,
}

/// One message on the phone: received by the patient, or sent by them.
struct Bubble {
    from_patient: bool,
    /// WhatsApp, SMS, call, email: as the UI's language names it.
    channel: String,
    subject: Option<String>,
    text: String,
    photo: bool,
    /// Day and time in the clinic's zone.
    at: String,
    /// The sandbox's delivery status, and the provider's error code when it failed.
    status: Option<String>,
    sort_key: Timestamp,
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct PhoneQuery {
    patient: Option<String>,
    /// What the last answer came to: `sent` or `failed`.
    answer: Option<String>,
}

/// The page exists only while the sandbox runs; elsewhere it is not found.
fn sandbox_of(signed: &SignedIn) -> Result<Arc<Sandbox>, ConsoleError> {
    signed.sandbox.clone().ok_or(ConsoleError::NotFound)
}

pub(in crate::console) async fn phone_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(query): Query<PhoneQuery>,
) -> Result<impl IntoResponse, ConsoleError> {
    sandbox_of(&signed)?;
    let clinic = &signed.clinic.id;
    let filter = PatientFilter {
        search: PatientSearch::All,
        limit: PATIENTS_LISTED,
        after: None,
    };
    let listed = state.store.patients(clinic, &filter).await?.items;
    let chosen = match &query.patient {
        Some(external_id) => Some(
            state
                .store
                .patient_by_external_id(clinic, external_id)
                .await?,
        ),
        None => listed.first().cloned(),
    };
    let phone = match chosen {
        Some(patient) => Some(screen(&state, &signed, patient).await?),
        None => None,
    };
    let chosen_id = phone.as_ref().map(|s| s.external_id.as_str());
    let patients = listed
        .iter()
        .filter(|p| p.erased_at.is_none())
        .map(|p| {
            (
                p.external_id.clone(),
                p.name.clone(),
                Some(p.external_id.as_str()) == chosen_id,
            )
        })
        .collect();
    let mut chrome = Chrome::new(&signed, "sandbox-phone", "sandbox-phone-title");
    chrome = match query.answer.as_deref() {
        Some("sent") => chrome.with_notice("sandbox-phone-answer-sent"),
        Some("failed") => chrome.with_notice("sandbox-phone-answer-failed"),
        _ => chrome,
    };
    render(&PhonePage {
        chrome,
        patients,
        phone,
    })
}

/// The patient's phone: what reached their number and address, and what they sent, oldest first.
async fn screen(
    state: &AppState,
    signed: &SignedIn,
    patient: Patient,
) -> Result<Screen, ConsoleError> {
    let tr = signed.tr();
    let zone = signed.clinic.timezone.zone();
    let mut bubbles = Vec::new();
    for address in patient.addresses() {
        let filter = OutboxFilter {
            recipient: Some(address.to_owned()),
            channel: None,
            limit: MESSAGES_SHOWN,
        };
        let received = state
            .store
            .sandbox_outbox(&signed.clinic.id, &filter)
            .await?;
        bubbles.extend(received.into_iter().map(|m| received_bubble(&tr, &zone, m)));
    }
    let timeline = state
        .store
        .conversation_timeline(&signed.clinic.id, &patient.id)
        .await?;
    bubbles.extend(timeline.inbound.into_iter().map(|m| Bubble {
        from_patient: true,
        channel: channel_name(&tr, m.channel.as_str()),
        subject: None,
        text: m.text.unwrap_or_default(),
        photo: m.media.is_some(),
        at: local_time(&zone, m.received_at),
        status: None,
        sort_key: m.received_at,
    }));
    bubbles.sort_by_key(|b| b.sort_key);
    Ok(Screen {
        external_id: patient.external_id,
        name: patient.name,
        number: patient.phone.map(|p| p.as_str().to_owned()),
        email: patient.email.map(|e| e.as_str().to_owned()),
        bubbles,
    })
}

fn received_bubble(tr: &crate::console::i18n::Tr, zone: &TimeZone, m: OutboxMessage) -> Bubble {
    let status = match &m.error_code {
        Some(code) => tr.t_with("sandbox-phone-failed", &[("code", code.as_str())]),
        None => {
            // A status the catalogue has no word for is shown as the provider gave it.
            let key = format!("sandbox-phone-status-{}", m.status);
            let text = tr.t(&key);
            if text == key { m.status.clone() } else { text }
        }
    };
    Bubble {
        from_patient: false,
        channel: channel_name(tr, &m.channel),
        subject: m.subject,
        text: m.body,
        photo: false,
        at: local_time(zone, m.created_at),
        status: Some(status),
        sort_key: m.created_at,
    }
}

fn channel_name(tr: &crate::console::i18n::Tr, channel: &str) -> String {
    tr.t(&format!("sandbox-phone-channel-{channel}"))
}

fn local_time(zone: &TimeZone, at: Timestamp) -> String {
    at.to_zoned(zone.clone())
        .strftime("%d.%m %H:%M")
        .to_string()
}

/// The patient's answer: text or the sandbox's photo, on WhatsApp or by SMS.
#[derive(Debug, Deserialize)]
pub(in crate::console) struct AnswerForm {
    patient: String,
    channel: String,
    /// `text` or `photo`.
    kind: String,
    #[serde(default)]
    text: String,
}

pub(in crate::console) async fn patient_answers(
    State(state): State<AppState>,
    CsrfForm(signed, form): CsrfForm<AnswerForm>,
) -> Result<Redirect, ConsoleError> {
    let sandbox = sandbox_of(&signed)?;
    let patient = state
        .store
        .patient_by_external_id(&signed.clinic.id, &form.patient)
        .await?;
    let phone = patient
        .phone
        .ok_or_else(|| ConsoleError::BadForm("the patient has no phone number".to_owned()))?;
    let channel = match form.channel.as_str() {
        "whatsapp" => ChannelKind::Whatsapp,
        "sms" => ChannelKind::Sms,
        _ => return Err(ConsoleError::BadForm("channel: whatsapp or sms".to_owned())),
    };
    let message = match form.kind.as_str() {
        "photo" => PatientMessage::Image { caption: None },
        _ if form.text.trim().is_empty() => {
            return Err(ConsoleError::BadForm(
                "text: the message is empty".to_owned(),
            ));
        }
        _ => PatientMessage::Text(form.text),
    };
    // The gateway refusing the webhook (busy, or a photo by SMS) is the page's to say, not an
    // error page: the patient can try again, as a provider would redeliver.
    let answer = match sandbox
        .patient_writes(channel, phone.as_str(), &message)
        .await
    {
        Ok(_) => "sent",
        Err(error) => {
            tracing::warn!(%error, "the sandbox's patient answer was not taken");
            "failed"
        }
    };
    let patient: String = form_urlencoded::byte_serialize(form.patient.as_bytes()).collect();
    Ok(Redirect::to(&format!(
        "/console/sandbox/phone?patient={patient}&answer={answer}"
    )))
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/sandbox/phone", get(phone_page))
        .route("/console/sandbox/phone/answer", post(patient_answers))
}
