//! Notifications: the clinic's list with its filters (a GET form, so a filtered list is a link
//! staff can keep), and one notification's timeline: each attempt, every event with its reason
//! (fallbacks included), in the clinic's time zone, with a cancel button while it may still be
//! cancelled. The store queries and the cancel rule are the API's.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use medrelay_channels::ChannelKind;
use serde::Deserialize;

use crate::api::AppState;
use crate::api::v1::notification_query::{decode_cursor, encode_cursor};
use crate::api::v1::notifications::why_not_cancellable;
use crate::console::i18n::Tr;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::{CsrfForm, NoFields, SignedIn};
use crate::domain::{NotificationId, NotificationStatus};
use crate::store::{AttemptRecord, NotificationFilter, NotificationRecord, StoreError};

/// Rows a page of the list shows.
const PAGE_SIZE: u32 = 50;

/// A time as the clinic's staff read it: in the clinic's zone.
pub(super) fn at(time: Timestamp, zone: &TimeZone) -> String {
    time.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// A channel's name in the page's language.
pub(super) fn channel_name(tr: &Tr, channel: ChannelKind) -> String {
    tr.t(&format!("notifications-channel-{channel}"))
}

/// What the list's GET form sends; an empty field filters on nothing.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct ListForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    topic: String,
    /// A day in the clinic's zone, `YYYY-MM-DD`.
    #[serde(default)]
    date: String,
    /// The booking system's patient id.
    #[serde(default)]
    patient: String,
    #[serde(default)]
    cursor: String,
}

impl ListForm {
    /// The store's filter; a value that is not one of the choices is a bad form.
    fn filter(&self, zone: &TimeZone) -> Result<NotificationFilter, ConsoleError> {
        let bad = |field: &str| ConsoleError::BadForm(format!("{field}: not one of the choices"));
        let given = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        let statuses = match given(&self.status) {
            Some(s) => vec![NotificationStatus::parse(&s).ok_or_else(|| bad("status"))?],
            None => Vec::new(),
        };
        let channel = given(&self.channel)
            .map(|c| c.parse::<ChannelKind>().map_err(|_| bad("channel")))
            .transpose()?;
        let day = given(&self.date)
            .map(|d| day_bounds(&d, zone).ok_or_else(|| bad("date")))
            .transpose()?;
        let after = given(&self.cursor)
            .map(|c| decode_cursor(&c).ok_or_else(|| bad("cursor")))
            .transpose()?;
        Ok(NotificationFilter {
            patient_external_id: given(&self.patient),
            statuses,
            topic: given(&self.topic),
            channel,
            created_after: day.map(|(start, _)| start),
            created_before: day.map(|(_, end)| end),
            limit: PAGE_SIZE,
            after,
            ..NotificationFilter::default()
        })
    }

    /// The link to the next page: these filters, from `cursor`.
    fn next_link(&self, cursor: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("status", &self.status),
            ("channel", &self.channel),
            ("topic", &self.topic),
            ("date", &self.date),
            ("patient", &self.patient),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        query.append_pair("cursor", cursor);
        format!("/console/notifications?{}", query.finish())
    }
}

/// The start of `date` in the clinic's zone and the start of the day after.
fn day_bounds(date: &str, zone: &TimeZone) -> Option<(Timestamp, Timestamp)> {
    let day: Date = date.parse().ok()?;
    let start = day.to_zoned(zone.clone()).ok()?;
    let end = day.tomorrow().ok()?.to_zoned(zone.clone()).ok()?;
    Some((start.timestamp(), end.timestamp()))
}

/// One row of the list.
#[derive(Debug)]
struct Row {
    id: String,
    created: String,
    patient: String,
    topic: String,
    status: &'static str,
    status_label: String,
    channel: String,
}

/// A choice of a filter's select: (value, label, selected).
type Choice = (String, String, bool);

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct ListPage {
    chrome: Chrome,
    form: ListForm,
    statuses: Vec<Choice>,
    channels: Vec<Choice>,
    rows: Vec<Row>,
    next: Option<String>,
}

fn choices(values: Vec<(String, String)>, current: &str) -> Vec<Choice> {
    values
        .into_iter()
        .map(|(value, label)| {
            let selected = value == current;
            (value, label, selected)
        })
        .collect()
}

pub(in crate::console) async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(form): Query<ListForm>,
) -> Result<impl IntoResponse, ConsoleError> {
    let zone = signed.clinic.timezone.zone();
    let filter = form.filter(&zone)?;
    let page = state
        .store
        .notifications(&signed.clinic.id, &filter)
        .await?;
    let tr = signed.tr();
    let rows = page.items.iter().map(|n| row(n, &tr, &zone)).collect();
    let statuses = NotificationStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), status_label(&tr, *s)))
        .collect();
    let channels = ChannelKind::ALL
        .iter()
        .map(|c| (c.to_string(), channel_name(&tr, *c)))
        .collect();
    render(&ListPage {
        chrome: Chrome::new(&signed, "notifications", "notifications-title"),
        statuses: choices(statuses, &form.status),
        channels: choices(channels, &form.channel),
        rows,
        next: page
            .next
            .as_ref()
            .map(|n| form.next_link(&encode_cursor(n))),
        form,
    })
}

fn status_label(tr: &Tr, status: NotificationStatus) -> String {
    tr.t(&format!("notifications-status-{}", status.as_str()))
}

fn row(n: &NotificationRecord, tr: &Tr, zone: &TimeZone) -> Row {
    Row {
        id: n.id.to_string(),
        created: at(n.created_at, zone),
        patient: n.patient_id.clone(),
        topic: n.topic.clone(),
        status: n.status.as_str(),
        status_label: status_label(tr, n.status),
        channel: n
            .channel
            .or(n.requested_channel)
            .map(|c| channel_name(tr, c))
            .unwrap_or_default(),
    }
}

/// One attempt on one channel, as the timeline shows it.
#[derive(Debug)]
struct AttemptRow {
    channel: String,
    status: String,
    /// The provider's code and words, when it failed.
    error: Option<String>,
    started: String,
    /// The last thing that happened to it, and when.
    ended: Option<String>,
    sandbox: bool,
}

/// One event: when, what kind, and the reason as recorded.
#[derive(Debug)]
struct EventRow {
    at: String,
    kind: String,
    detail: String,
    by: Option<String>,
}

#[derive(Template)]
#[template(path = "console/notification.html")]
struct DetailPage {
    chrome: Chrome,
    n: Summary,
    attempts: Vec<AttemptRow>,
    events: Vec<EventRow>,
    cancellable: bool,
    error: Option<String>,
}

/// The notification's own fields, as the page shows them.
#[derive(Debug)]
struct Summary {
    id: String,
    patient: String,
    topic: String,
    status: &'static str,
    status_label: String,
    channel: String,
    created: String,
    send_at: String,
    text: Option<String>,
    template: Option<String>,
}

fn notification_id(id: &str) -> Result<NotificationId, ConsoleError> {
    NotificationId::parse(id).ok_or(ConsoleError::NotFound)
}

impl DetailPage {
    fn new(signed: &SignedIn, n: NotificationRecord) -> Self {
        let tr = signed.tr();
        let zone = signed.clinic.timezone.zone();
        let attempts = n.attempts.clone().unwrap_or_default();
        let events = n.events.clone().unwrap_or_default();
        Self {
            chrome: Chrome::new(signed, "notifications", "notifications-detail-title"),
            cancellable: matches!(
                n.status,
                NotificationStatus::Scheduled | NotificationStatus::Queued
            ),
            n: Summary {
                id: n.id.to_string(),
                patient: n.patient_id,
                topic: n.topic,
                status: n.status.as_str(),
                status_label: status_label(&tr, n.status),
                channel: n
                    .channel
                    .or(n.requested_channel)
                    .map(|c| channel_name(&tr, c))
                    .unwrap_or_default(),
                created: at(n.created_at, &zone),
                send_at: at(n.send_at, &zone),
                text: n.body,
                template: n.template,
            },
            attempts: attempts
                .into_iter()
                .map(|a| attempt_row(a, &tr, &zone))
                .collect(),
            events: events
                .into_iter()
                .map(|e| EventRow {
                    at: at(e.at, &zone),
                    kind: tr.t(&format!("notifications-event-{}", e.kind)),
                    detail: e.detail,
                    by: e.actor.filter(|a| a != "system"),
                })
                .collect(),
            error: None,
        }
    }
}

/// An attempt: its channel and status, the provider's code and words when it failed, and when
/// it started and last changed.
fn attempt_row(a: AttemptRecord, tr: &Tr, zone: &TimeZone) -> AttemptRow {
    let error = match (a.error_code, a.error_text) {
        (None, None) => None,
        (code, text) => Some(
            [code, text]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": "),
        ),
    };
    AttemptRow {
        channel: channel_name(tr, a.channel),
        error,
        started: at(a.created_at, zone),
        ended: a
            .failed_at
            .or(a.read_at)
            .or(a.delivered_at)
            .or(a.accepted_at)
            .map(|t| at(t, zone)),
        status: a.status,
        sandbox: a.sandbox,
    }
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct DetailQuery {
    done: Option<String>,
}

pub(in crate::console) async fn detail(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Result<impl IntoResponse, ConsoleError> {
    let id = notification_id(&id)?;
    let n = state.store.notification(&signed.clinic.id, &id).await?;
    let mut page = DetailPage::new(&signed, n);
    if query.done.as_deref() == Some("cancelled") {
        page.chrome = page.chrome.with_notice("notifications-cancelled");
    }
    render(&page)
}

/// Cancels a notification no provider may have yet, as the signed-in person.
pub(in crate::console) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, ConsoleError> {
    let id = notification_id(&id)?;
    let clinic = &signed.clinic.id;
    let by = signed.recorded_as();
    match state
        .store
        .cancel_notification(clinic, &id, &by, state.clock.now())
        .await
    {
        Ok(()) => {
            let to = format!("/console/notifications/{id}?done=cancelled");
            Ok(Redirect::to(&to).into_response())
        }
        Err(StoreError::Conflict(_)) => {
            let current = state.store.notification(clinic, &id).await?;
            let why = why_not_cancellable(&current);
            let mut page = DetailPage::new(&signed, current);
            page.error = Some(format!(
                "{} {why}",
                page.chrome.t("notifications-not-cancelled")
            ));
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/notifications", get(list))
        .route("/console/notifications/{id}", get(detail))
        .route("/console/notifications/{id}/cancel", post(cancel))
}
