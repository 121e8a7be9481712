//! Patients: the search (by name in any script, or by phone number written any way) and the
//! patient card with the channel choice — the order, opt-outs, and why a channel cannot be used.
//! The search is the directory's (`GET /v1/patients`); the channel change is written with the
//! store's patient edit, as `PATCH /v1/patients/{id}` writes it; why a channel is unavailable is
//! the routing's own channel plan.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use medrelay_channels::ChannelKind;
use serde::Deserialize;

use super::why;
use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::right_patient::channel_name;
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::{
    ChannelChange, Clinic, Patient, QuietHours, Reason, apply_channel_change, order_in_effect,
};
use crate::policy::{self, WhatsAppContent};
use crate::store::{PatientFilter, PatientSearch, PatientUpsert, StoreError};

/// Patients a search shows, at most.
const SHOWN: u32 = 50;
/// Every channel, in the order the card lists those outside the patient's order.
const ALL_CHANNELS: [ChannelKind; 4] = [
    ChannelKind::Whatsapp,
    ChannelKind::Sms,
    ChannelKind::Email,
    ChannelKind::Voice,
];

#[derive(Debug, Deserialize)]
pub(in crate::console) struct SearchQuery {
    q: Option<String>,
}

/// One row of the results.
struct Found {
    id: String,
    name: String,
    phone: String,
    language: String,
}

#[derive(Template)]
#[template(path = "console/patients.html")]
struct SearchPage {
    chrome: Chrome,
    q: String,
    searched: bool,
    found: Vec<Found>,
}

pub(in crate::console) async fn search_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let q = query.q.unwrap_or_default().trim().to_owned();
    let fits = (1..=100).contains(&q.chars().count()) && !q.chars().any(char::is_control);
    let found = if fits {
        let filter = PatientFilter {
            search: PatientSearch::for_text(&q, signed.clinic.phone_region),
            limit: SHOWN,
            after: None,
        };
        let page = state.store.patients(&signed.clinic.id, &filter).await?;
        page.items.into_iter().map(found).collect()
    } else {
        Vec::new()
    };
    let page = SearchPage {
        chrome: Chrome::new(&signed, "patients", "patients-title"),
        searched: !q.is_empty(),
        q,
        found,
    };
    Ok(render(&page)?.into_response())
}

fn found(p: Patient) -> Found {
    Found {
        phone: p.phone.map(|x| x.as_str().to_owned()).unwrap_or_default(),
        language: p.language.as_str().to_owned(),
        id: p.external_id,
        name: p.name,
    }
}

/// One channel on the card.
struct ChannelRow {
    kind: &'static str,
    name: String,
    in_order: bool,
    first: bool,
    last: bool,
    opted_out: bool,
    /// The patient closed it with a stop keyword (staff should open it only when asked).
    by_stop: bool,
    /// Why a message cannot go on it now; none: it can.
    why: Option<String>,
}

#[derive(Template)]
#[template(path = "console/patient.html")]
struct PatientCard {
    chrome: Chrome,
    id: String,
    name: String,
    phone: Option<String>,
    line: Option<String>,
    email: Option<String>,
    language: String,
    timezone: String,
    quiet_hours: String,
    own_order: bool,
    order: Vec<ChannelRow>,
    others: Vec<ChannelRow>,
    error: Option<String>,
}

/// The patient of this clinic with the booking system's id `id`; another clinic's is not found.
pub(super) async fn clinic_patient(
    state: &AppState,
    clinic: &Clinic,
    id: &str,
) -> Result<Patient, ConsoleError> {
    match state.store.patient_by_external_id(&clinic.id, id).await {
        Ok(p) if p.erased_at.is_none() => Ok(p),
        Ok(_) | Err(StoreError::NotFound) => Err(ConsoleError::NotFound),
        Err(e) => Err(e.into()),
    }
}

pub(in crate::console) async fn patient_card(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let patient = clinic_patient(&state, &signed.clinic, &id).await?;
    let card = card(&state, &signed, patient).await?;
    Ok(render(&card)?.into_response())
}

async fn card(
    state: &AppState,
    signed: &SignedIn,
    p: Patient,
) -> Result<PatientCard, ConsoleError> {
    let rows = channel_rows(state, signed, &p).await?;
    let (order, others) = rows.into_iter().partition(|r| r.in_order);
    let tr = signed.tr();
    let hours = state.store.clinic_hours(&signed.clinic.id).await?;
    let quiet = p.quiet_hours.or(hours.patient_quiet_hours());
    Ok(PatientCard {
        chrome: Chrome::new(signed, "patients", "patients-card-title"),
        line: p
            .phone
            .as_ref()
            .map(|x| tr.t(&format!("patients-line-{}", x.line().as_str()))),
        phone: p.phone.as_ref().map(|x| x.as_str().to_owned()),
        email: p.email.as_ref().map(|x| x.as_str().to_owned()),
        language: p.language.as_str().to_owned(),
        timezone: p.timezone.as_str().to_owned(),
        quiet_hours: quiet.map_or_else(|| tr.t("patients-no-quiet-hours"), quiet_text),
        own_order: !p.channels.is_empty(),
        id: p.external_id,
        name: p.name,
        order,
        others,
        error: None,
    })
}

fn quiet_text(quiet: QuietHours) -> String {
    let text = quiet.to_text();
    format!("{}–{}", text.start, text.end)
}

/// Every channel with where it stands: in the order or not, closed or open, and why a message
/// cannot go on it, as the routing would say when staff choose that channel.
async fn channel_rows(
    state: &AppState,
    signed: &SignedIn,
    p: &Patient,
) -> Result<Vec<ChannelRow>, ConsoleError> {
    let clinic = &signed.clinic;
    let now = state.clock.now();
    let store = &state.store;
    let (facts, suspensions, stopped) = tokio::try_join!(
        store.facts_about(p, now),
        store.channel_suspensions(now),
        store.opted_out_by_message(&clinic.id, &p.id),
    )?;
    let suspended = suspensions.get(&clinic.id).map_or(&[][..], Vec::as_slice);
    let order = order_in_effect(&p.channels, &clinic.default_channels);
    let tr = signed.tr();
    let zone = clinic.timezone.zone();
    let mut all: Vec<ChannelKind> = order.clone();
    all.extend(ALL_CHANNELS.iter().filter(|c| !order.contains(c)));
    Ok(all
        .into_iter()
        .map(|channel| {
            let plan = policy::channel_plan(
                Some(channel),
                p,
                clinic,
                &facts,
                suspended,
                WhatsAppContent::Template,
            );
            let by_stop = p.opted_out.contains(&channel) && stopped.contains_key(&channel);
            let skipped = plan.skipped.iter().find_map(|r| match r {
                Reason::Skipped { reason, .. } => Some(reason),
                _ => None,
            });
            let why = match skipped {
                Some(crate::domain::SkipReason::OptedOut) if by_stop => {
                    let at = stopped.get(&channel).copied().unwrap_or(now);
                    Some(tr.t_with(
                        "patients-why-opted-out-stop",
                        &[("date", &why::clinic_time(&tr, at, &zone))],
                    ))
                }
                Some(reason) => Some(why::skip_text(&tr, reason, &zone)),
                None if state.providers.channel(&clinic.slug, channel).is_none() => {
                    Some(tr.t("patients-why-no-provider"))
                }
                None => None,
            };
            let position = order.iter().position(|c| *c == channel);
            ChannelRow {
                kind: channel.as_str(),
                name: channel_name(&tr, channel),
                in_order: position.is_some(),
                first: position == Some(0),
                last: position.is_some_and(|i| i + 1 == order.len()),
                opted_out: p.opted_out.contains(&channel),
                by_stop,
                why,
            }
        })
        .collect())
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct ChannelForm {
    action: String,
    #[serde(default)]
    order: Vec<String>,
}

/// Changes the patient's channel order or opt-outs, through the same patient edit as
/// `PATCH /v1/patients/{id}`, and shows the card again.
pub(in crate::console) async fn change_channels(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, form): CsrfForm<ChannelForm>,
) -> Result<Response, ConsoleError> {
    let patient = clinic_patient(&state, &signed.clinic, &id).await?;
    let Ok(change) = ChannelChange::parse(&form.action, &form.order) else {
        let mut card = card(&state, &signed, patient).await?;
        card.error = Some(card.chrome.t("patients-channels-refused"));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&card)?).into_response());
    };
    let clinic = &signed.clinic;
    let defaults = clinic.default_channels.clone();
    state
        .store
        .edit_patient(&clinic.id, &id, state.clock.now(), |current| {
            let mut upsert = PatientUpsert::from(current);
            apply_channel_change(
                &change,
                &mut upsert.channels,
                &mut upsert.opted_out,
                &defaults,
            );
            Ok::<_, std::convert::Infallible>(upsert)
        })
        .await?
        .unwrap_or_else(|never| match never {});
    tracing::info!(action = %form.action, "staff changed a patient's channels");
    Ok(Redirect::to(&format!("/console/patients/{}#channels", urlencode(&id))).into_response())
}

/// The patient's transcript, every message to and from them until now, as
/// `GET /v1/patients/{id}/transcript` makes it (`?format=pdf` for the PDF).
pub(in crate::console) async fn transcript(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<TranscriptQuery>,
) -> Result<Response, ConsoleError> {
    use crate::api::v1::transcript::{MOST_ITEMS, answer, made};
    use crate::transcript::Format;
    let clinic = &signed.clinic;
    clinic_patient(&state, clinic, &id).await?;
    let format = match query.format.as_deref() {
        Some("pdf") => Format::Pdf,
        _ => Format::Html,
    };
    let now = state.clock.now();
    let period = crate::store::TranscriptPeriod {
        from: None,
        to: now,
        limit: MOST_ITEMS,
    };
    let records = state.store.transcript(&clinic.id, &id, period).await?;
    let body = made(&state, clinic, records, period, now, format)
        .await
        .map_err(|e| ConsoleError::BadForm(e.to_string()))?;
    Ok(answer(format, body, now, clinic))
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct TranscriptQuery {
    format: Option<String>,
}

/// An external id in a path: ids are letters, digits and `-_.:` (intake's rule), so only the
/// rare other character is escaped.
pub(super) fn urlencode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/patients", get(search_page))
        .route("/console/patients/{id}", get(patient_card))
        .route("/console/patients/{id}/channels", post(change_channels))
        .route("/console/patients/{id}/transcript", get(transcript))
}
