//! Today: what needs a person now — conversations past the clinic's response target and others
//! waiting for an answer, open callbacks, notifications that failed in the last day, and channels
//! a provider problem has paused. Read with the store queries the API's lists use.

use askama::Template;
use axum::extract::State;
use axum::response::IntoResponse;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::api::AppState;
use crate::console::i18n::Tr;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::pages::stats::channel_name;
use crate::console::session::SignedIn;
use crate::domain::{CallbackStatus, ConversationStatus, NotificationStatus};
use crate::store::{ConversationFilter, ConversationRecord, NotificationFilter, Store};

/// How many of each kind the page lists; the full lists are a click away.
const LIMIT: u32 = 50;
/// Failed notifications are read one by one with their attempts: fewer of them.
const FAILED_LIMIT: u32 = 20;
/// How far back failed notifications are shown.
const FAILED_WITHIN: SignedDuration = SignedDuration::from_hours(24);

#[derive(Template)]
#[template(path = "console/today.html")]
struct TodayPage {
    chrome: Chrome,
    overdue: Vec<Waiting>,
    unanswered: Vec<Waiting>,
    callbacks: Vec<Callback>,
    failed: Vec<Failed>,
    paused: Vec<Paused>,
}

impl TodayPage {
    fn all_clear(&self) -> bool {
        self.overdue.is_empty()
            && self.unanswered.is_empty()
            && self.callbacks.is_empty()
            && self.failed.is_empty()
            && self.paused.is_empty()
    }
}

/// A conversation with a message nobody answered yet.
struct Waiting {
    patient: String,
    /// The conversation in the inbox.
    href: String,
    urgent: bool,
    since: String,
    /// What the patient last wrote.
    text: String,
}

struct Callback {
    patient: String,
    /// The task's card, where it is claimed and closed.
    href: String,
    reason: String,
    since: String,
    /// Who took it; `None` while nobody has.
    claimed_by: Option<String>,
}

struct Failed {
    id: String,
    patient: String,
    topic: String,
    channel: String,
    /// The provider's word on the last attempt.
    reason: String,
    at: String,
}

struct Paused {
    channel: String,
    reason: String,
    until: String,
}

pub(in crate::console) async fn today_page(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<impl IntoResponse, ConsoleError> {
    let now = state.clock.now();
    let zone = signed.clinic.timezone.zone();
    let tr = signed.tr();
    let store = &state.store;
    let page = TodayPage {
        chrome: Chrome::new(&signed, "today", "today-title"),
        overdue: waiting(store, &signed, now, Some(true), &zone).await?,
        unanswered: waiting(store, &signed, now, Some(false), &zone).await?,
        callbacks: callbacks(store, &signed, &zone).await?,
        failed: failed(store, &signed, &tr, now, &zone).await?,
        paused: paused(store, &signed, &tr, now, &zone).await?,
    };
    render(&page)
}

/// An instant as the clinic's clock shows it.
pub(in crate::console) fn local(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// Open conversations with a message waiting: past the response target (`overdue`) or not yet.
async fn waiting(
    store: &Store,
    signed: &SignedIn,
    now: Timestamp,
    overdue: Option<bool>,
    zone: &TimeZone,
) -> Result<Vec<Waiting>, ConsoleError> {
    let filter = ConversationFilter {
        label: None,
        status: Some(ConversationStatus::Open),
        unanswered: Some(true),
        overdue,
        now,
        limit: LIMIT,
        after: None,
    };
    let page = store.conversations(&signed.clinic.id, &filter).await?;
    Ok(page
        .items
        .into_iter()
        .map(|c| waiting_view(c, zone))
        .collect())
}

fn waiting_view(c: ConversationRecord, zone: &TimeZone) -> Waiting {
    Waiting {
        href: format!("/console/inbox/{}", c.patient.id.as_str()),
        patient: c.patient.name,
        urgent: c.urgent_since.is_some(),
        since: c
            .awaiting_since
            .map(|at| local(at, zone))
            .unwrap_or_default(),
        text: c.last_inbound_text.unwrap_or_default(),
    }
}

/// Callbacks nobody closed: open ones, then those someone took, oldest first.
async fn callbacks(
    store: &Store,
    signed: &SignedIn,
    zone: &TimeZone,
) -> Result<Vec<Callback>, ConsoleError> {
    let mut tasks = store
        .callbacks(&signed.clinic.id, Some(CallbackStatus::Open), LIMIT)
        .await?;
    tasks.extend(
        store
            .callbacks(&signed.clinic.id, Some(CallbackStatus::Claimed), LIMIT)
            .await?,
    );
    Ok(tasks
        .into_iter()
        .map(|task| Callback {
            href: format!("/console/callbacks/{}", task.id.as_str()),
            patient: task.patient_name,
            reason: task.reason,
            since: local(task.created_at, zone),
            claimed_by: task.claimed_by,
        })
        .collect())
}

/// Notifications created in the last day that failed on every channel, newest first.
async fn failed(
    store: &Store,
    signed: &SignedIn,
    tr: &Tr,
    now: Timestamp,
    zone: &TimeZone,
) -> Result<Vec<Failed>, ConsoleError> {
    let filter = NotificationFilter {
        statuses: vec![NotificationStatus::Failed],
        created_after: Some(now.checked_sub(FAILED_WITHIN).unwrap_or(Timestamp::MIN)),
        limit: FAILED_LIMIT,
        ..NotificationFilter::default()
    };
    let page = store.notifications(&signed.clinic.id, &filter).await?;
    let mut failed = Vec::with_capacity(page.items.len());
    for listed in page.items {
        // With its attempts: the last one says where and why it ended.
        let n = store.notification(&signed.clinic.id, &listed.id).await?;
        let last = n.attempts.as_deref().and_then(<[_]>::last);
        let patient = store
            .patient_by_external_id(&signed.clinic.id, &n.patient_id)
            .await
            .map_or_else(|_| n.patient_id.clone(), |p| p.name);
        failed.push(Failed {
            id: n.id.as_str().to_owned(),
            patient,
            topic: n.topic,
            channel: last
                .map(|a| channel_name(tr, a.channel))
                .unwrap_or_default(),
            reason: last
                .and_then(|a| a.error_text.clone().or_else(|| a.error_code.clone()))
                .unwrap_or_default(),
            at: local(n.updated_at, zone),
        });
    }
    Ok(failed)
}

/// The clinic's channels paused now, by the provider problem that paused them.
async fn paused(
    store: &Store,
    signed: &SignedIn,
    tr: &Tr,
    now: Timestamp,
    zone: &TimeZone,
) -> Result<Vec<Paused>, ConsoleError> {
    let mut all = store.channel_suspensions(now).await?;
    Ok(all
        .remove(&signed.clinic.id)
        .unwrap_or_default()
        .into_iter()
        .map(|s| Paused {
            channel: channel_name(tr, s.channel),
            reason: s.reason,
            until: local(s.until, zone),
        })
        .collect())
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::get;
    axum::Router::new().route("/console/today", get(today_page))
}
