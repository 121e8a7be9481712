//! Reading notifications back: one with its attempts and events, or a page
//! of them.

use std::borrow::Cow;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::notification_feed::bound;
use super::notifications::status;
use super::rows::Param;
use super::{Backend, Store, StoreError, millis, opt_timestamp, parse_stored, timestamp};
use crate::domain::{
    AppointmentId, AttemptContent, ClinicId, InboundMessageId, Metadata, NotificationId,
    NotificationStatus, Origin, OriginFamily, Priority, Reference,
};

/// One attempt as stored; the API decides how it is shown.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub id: String,
    pub channel: ChannelKind,
    pub status: String,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    /// Sent to the sandbox, not to a provider: it reached no patient.
    pub sandbox: bool,
    /// SMS only: `gsm7` or `ucs2`, and the segments billed.
    pub sms_encoding: Option<String>,
    pub sms_segments: Option<i64>,
    /// What the attempt put in front of the patient; read from `attempt_contents` on its own.
    pub content: Option<AttemptContent>,
}

#[derive(Debug, Clone)]
pub struct EventRecord {
    pub at: Timestamp,
    pub kind: String,
    pub attempt_id: Option<String>,
    pub detail: String,
    /// The typed event's `type`; events stored before they were typed have none.
    pub event_type: Option<String>,
    /// The typed event, tagged by `type`.
    pub data: Option<serde_json::Value>,
    /// Who caused it: `key:<id>`, `staff:<name>` or `system`.
    pub actor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub patient_id: String,
    pub topic: String,
    pub priority: Priority,
    pub status: NotificationStatus,
    /// Whether the API asked for it, or medrelay or staff answered a patient with it.
    pub origin: Origin,
    /// The patient's message an auto or staff reply answers.
    pub in_reply_to: Option<InboundMessageId>,
    /// The channel it went on once a provider took it (`sent`), then the one that delivered it.
    pub channel: Option<ChannelKind>,
    /// The channel staff chose for it, if any.
    pub requested_channel: Option<ChannelKind>,
    pub body: Option<String>,
    pub template: Option<String>,
    pub params: Option<serde_json::Value>,
    pub send_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The appointment it reminds of or tells about, if any.
    pub appointment_id: Option<AppointmentId>,
    /// The booking system's id and fields, as given when it was created.
    pub reference: Option<Reference>,
    pub metadata: Metadata,
    pub attempts: Option<Vec<AttemptRecord>>,
    pub events: Option<Vec<EventRecord>>,
}

/// Which of a clinic's notifications a list or the feed shows; every field given must hold.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub patient_external_id: Option<String>,
    /// Any of these; empty: any status.
    pub statuses: Vec<NotificationStatus>,
    pub origin: Option<OriginFamily>,
    pub topic: Option<String>,
    /// Our appointment id (`apt_…`) or the booking system's.
    pub appointment: Option<String>,
    /// The channel it went on.
    pub channel: Option<ChannelKind>,
    pub reference: Option<Reference>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub limit: u32,
    /// Continue after this (created_at, id), newest first.
    pub after: Option<(i64, String)>,
}

#[derive(Debug, Clone)]
pub struct NotificationPage {
    pub items: Vec<NotificationRecord>,
    pub next: Option<(i64, String)>,
}

/// A notification's request `n`, its state `s` and its patient `p`, named apart so that a filter
/// or an order on the state reads the state's indexes.
const VIEW_SOURCE: &str = "notification_requests n JOIN notification_states s ON s.id = n.id \
    JOIN patients p ON p.id = n.patient_id";

const VIEW_COLUMNS: &str = "n.id, p.external_id, n.topic, n.priority, s.status, s.delivered_channel, n.channel, \
    n.body, n.template, n.params, n.send_at, n.expires_at, n.created_at, s.updated_at, n.origin, n.in_reply_to, \
    n.appointment_id, n.reference, n.metadata, s.feed_position";

fn opt_channel(value: Option<String>) -> Result<Option<ChannelKind>, StoreError> {
    value.map(|c| parse_stored(&c, "channel")).transpose()
}

/// A notification as [`VIEW_COLUMNS`] read it.
#[derive(sqlx::FromRow)]
pub(super) struct ViewRow {
    id: String,
    external_id: String,
    topic: String,
    priority: String,
    status: String,
    delivered_channel: Option<String>,
    channel: Option<String>,
    body: Option<String>,
    template: Option<String>,
    /// JSON object.
    params: Option<String>,
    send_at: i64,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    origin: String,
    in_reply_to: Option<String>,
    appointment_id: Option<String>,
    reference: Option<String>,
    /// JSON object.
    metadata: Option<String>,
    pub(super) feed_position: i64,
}

impl TryFrom<ViewRow> for NotificationRecord {
    type Error = StoreError;

    fn try_from(row: ViewRow) -> Result<Self, StoreError> {
        let priority = row.priority;
        Ok(Self {
            id: NotificationId::from_stored(row.id),
            patient_id: row.external_id,
            topic: row.topic,
            priority: Priority::parse(&priority)
                .ok_or_else(|| StoreError::Corrupt(format!("priority {priority}")))?,
            status: status(&row.status)?,
            origin: Origin::parse(&row.origin)
                .ok_or_else(|| StoreError::Corrupt(format!("origin {}", row.origin)))?,
            in_reply_to: row.in_reply_to.map(InboundMessageId::from_stored),
            channel: opt_channel(row.delivered_channel)?,
            requested_channel: opt_channel(row.channel)?,
            body: row.body,
            template: row.template,
            params: row
                .params
                .map(|p| serde_json::from_str(&p).map_err(|_| StoreError::Corrupt("params".into())))
                .transpose()?,
            send_at: timestamp(row.send_at)?,
            expires_at: opt_timestamp(row.expires_at)?,
            created_at: timestamp(row.created_at)?,
            updated_at: timestamp(row.updated_at)?,
            appointment_id: row.appointment_id.map(AppointmentId::from_stored),
            reference: row.reference.map(Reference::from_stored),
            metadata: Metadata::from_stored(row.metadata.as_deref()),
            attempts: None,
            events: None,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    id: String,
    channel: String,
    status: String,
    provider_message_id: Option<String>,
    error_code: Option<String>,
    error_text: Option<String>,
    created_at: i64,
    updated_at: i64,
    accepted_at: Option<i64>,
    delivered_at: Option<i64>,
    read_at: Option<i64>,
    failed_at: Option<i64>,
    /// 0 or 1: the Any driver decodes no booleans from SQLite's integers.
    sandbox: i64,
    sms_encoding: Option<String>,
    sms_segments: Option<i64>,
}

impl TryFrom<AttemptRow> for AttemptRecord {
    type Error = StoreError;

    fn try_from(r: AttemptRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            channel: parse_stored(&r.channel, "channel")?,
            status: r.status,
            provider_message_id: r.provider_message_id,
            error_code: r.error_code,
            error_text: r.error_text,
            created_at: timestamp(r.created_at)?,
            updated_at: timestamp(r.updated_at)?,
            accepted_at: opt_timestamp(r.accepted_at)?,
            delivered_at: opt_timestamp(r.delivered_at)?,
            read_at: opt_timestamp(r.read_at)?,
            failed_at: opt_timestamp(r.failed_at)?,
            sandbox: r.sandbox != 0,
            sms_encoding: r.sms_encoding,
            sms_segments: r.sms_segments,
            content: None,
        })
    }
}

impl Store {
    pub async fn notification(
        &self,
        clinic: &ClinicId,
        id: &NotificationId,
    ) -> Result<NotificationRecord, StoreError> {
        // One snapshot: a status change committed between the reads would show a notification
        // `delivered` beside an attempt already `read`.
        let mut tx = self.read_snapshot().await?;
        let mut view: NotificationRecord = sqlx::query_as::<_, ViewRow>(&format!(
            "SELECT {VIEW_COLUMNS} FROM {VIEW_SOURCE} WHERE n.id = $1 AND n.clinic_id = $2"
        ))
        .bind(id.as_str())
        .bind(clinic.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()?;

        view.attempts = Some(attempt_records(&mut tx, id).await?);
        view.events = Some(event_records(&mut tx, id).await?);
        tx.commit().await?;
        Ok(view)
    }

    /// A read-only transaction that sees one snapshot of the database throughout (PostgreSQL's
    /// default isolation takes a new one for each statement; SQLite's read transaction keeps one).
    pub(super) async fn read_snapshot(&self) -> Result<Transaction<'_, Any>, StoreError> {
        let mut tx = self.read.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}

/// A notification's attempts, oldest first.
async fn attempt_records(
    tx: &mut Transaction<'_, Any>,
    id: &NotificationId,
) -> Result<Vec<AttemptRecord>, StoreError> {
    let attempts = sqlx::query_as::<_, AttemptRow>(
            "SELECT id, channel, status, provider_message_id, error_code, error_text, created_at, updated_at, \
             accepted_at, delivered_at, read_at, failed_at, sandbox, sms_encoding, sms_segments \
             FROM attempts WHERE notification_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await?;
    attempts.into_iter().map(AttemptRecord::try_from).collect()
}

/// A notification's audit trail, in the order it was written.
async fn event_records(
    tx: &mut Transaction<'_, Any>,
    id: &NotificationId,
) -> Result<Vec<EventRecord>, StoreError> {
    let events = sqlx::query(
            "SELECT at, kind, attempt_id, detail, data, actor FROM events WHERE notification_id = $1 ORDER BY id",
        )
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await?;
    events.iter().map(event_record).collect()
}

impl Store {
    /// A page of the clinic's notifications that pass `filter`, newest first.
    pub async fn notifications(
        &self,
        clinic: &ClinicId,
        filter: &NotificationFilter,
    ) -> Result<NotificationPage, StoreError> {
        let mut params = vec![Param::from(clinic.as_str())];
        let mut sql = filtered(filter, &mut params);
        let page = TimePage {
            columns: filter.creation_order(),
            after: filter.after.as_ref(),
            oldest_first: false,
            limit: filter.limit,
        };
        page.append_to(&mut sql, &mut params);
        let rows = bound(sqlx::query_as::<_, ViewRow>(&sql), &params)
            .fetch_all(&self.read)
            .await?;
        let items = rows
            .into_iter()
            .map(NotificationRecord::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let (items, next) = page.split(items, |n| (millis(n.created_at), n.id.as_str()));
        Ok(NotificationPage { items, next })
    }
}

/// A page of rows in the order of a time and an id, continued after the (time, id) of the last
/// row of the page before.
pub(super) struct TimePage<'a> {
    /// The time's column and the id's.
    pub columns: (&'static str, &'static str),
    pub after: Option<&'a (i64, String)>,
    pub oldest_first: bool,
    pub limit: u32,
}

impl<'a> TimePage<'a> {
    /// Appends the condition, order and limit (one row more than a page, to know whether
    /// another follows) to `sql`, and their values to `params`.
    pub(super) fn append_to(&self, sql: &mut String, params: &mut Vec<Param<'a>>) {
        let (time, id) = self.columns;
        let (past, order) = if self.oldest_first {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        if let Some((at, after_id)) = self.after {
            let (at_mark, id_mark) = (params.len() + 1, params.len() + 2);
            // The range first, so the index is entered at the cursor, not read up to it.
            sql.push_str(&format!(
                " AND {time} {past}= ${at_mark} \
                 AND ({time} {past} ${at_mark} OR ({time} = ${at_mark} AND {id} {past} ${id_mark}))"
            ));
            params.extend([Param::from(*at), Param::from(after_id.as_str())]);
        }
        sql.push_str(&format!(
            " ORDER BY {time} {order}, {id} {order} LIMIT ${}",
            params.len() + 1
        ));
        params.push(Param::from(i64::from(self.limit) + 1));
    }

    /// The page's items and where the next page starts, from the rows read.
    pub(super) fn split<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> (i64, &str),
    ) -> (Vec<T>, Option<(i64, String)>) {
        if items.len() <= self.limit as usize {
            return (items, None);
        }
        items.truncate(self.limit as usize);
        let next = items.last().map(|last| {
            let (at, id) = key(last);
            (at, id.to_owned())
        });
        (items, next)
    }
}

impl NotificationFilter {
    /// The creation time and id to order and page by: the state's copies when the filter names
    /// statuses (`notifications_clinic_status` holds them in that order), else the request's
    /// (`notifications_clinic_created`).
    fn creation_order(&self) -> (&'static str, &'static str) {
        if self.statuses.is_empty() {
            ("n.created_at", "n.id")
        } else {
            ("s.created_at", "s.id")
        }
    }
}

/// The query of the clinic's (`$1`) notifications that pass `filter`, without order or limit;
/// the values it binds are appended to `params`, which holds `$1` and whatever the caller binds
/// before them. The clinic is named on both tables, for either one's indexes.
pub(super) fn filtered<'a>(filter: &'a NotificationFilter, params: &mut Vec<Param<'a>>) -> String {
    let mut sql = format!(
        "SELECT {VIEW_COLUMNS} FROM {VIEW_SOURCE} WHERE n.clinic_id = $1 AND s.clinic_id = $1"
    );
    for (condition, values) in conditions(filter) {
        let first = params.len() + 1;
        let marks: Vec<String> = (first..first + values.len())
            .map(|i| format!("${i}"))
            .collect();
        sql.push_str(" AND ");
        sql.push_str(&condition.replace("{}", &marks.join(", ")));
        params.extend(values);
    }
    sql
}

/// Our appointment id or the booking system's, both `{}`.
const OF_APPOINTMENT: &str = "n.appointment_id IN (SELECT a.id FROM appointments a \
    WHERE a.clinic_id = $1 AND (a.id = {} OR a.external_id = {}))";

/// The conditions `filter` sets, each with `{}` where its values go, and those values.
fn conditions(filter: &NotificationFilter) -> Vec<(Cow<'static, str>, Vec<Param<'_>>)> {
    fn text(value: Option<&str>) -> Option<Vec<Param<'_>>> {
        value.map(|v| vec![Param::from(v)])
    }
    let time = |value: Option<Timestamp>| value.map(|t| vec![Param::from(millis(t))]);
    let statuses = (!filter.statuses.is_empty())
        .then(|| filter.statuses.iter().map(|s| s.as_str().into()).collect());
    let channel = filter.channel.map(|c| c.as_str());
    let created = filter.creation_order().0;
    let all: [(Cow<'static, str>, Option<Vec<Param<'_>>>); 9] = [
        (
            "p.external_id = {}".into(),
            text(filter.patient_external_id.as_deref()),
        ),
        ("s.status IN ({})".into(), statuses),
        (
            "n.origin LIKE {}".into(),
            text(filter.origin.map(origin_pattern)),
        ),
        ("n.topic = {}".into(), text(filter.topic.as_deref())),
        (OF_APPOINTMENT.into(), text(filter.appointment.as_deref())),
        ("s.delivered_channel = {}".into(), text(channel)),
        (
            "n.reference = {}".into(),
            text(filter.reference.as_ref().map(Reference::as_str)),
        ),
        (
            format!("{created} >= {{}}").into(),
            time(filter.created_after),
        ),
        (
            format!("{created} < {{}}").into(),
            time(filter.created_before),
        ),
    ];
    all.into_iter()
        .filter_map(|(condition, values)| Some((condition, values?)))
        .collect()
}

/// The `LIKE` pattern of the stored origins of `family` (`auto:receipt`, `auto:away`, … for auto).
fn origin_pattern(family: OriginFamily) -> &'static str {
    match family {
        OriginFamily::Api => "api",
        OriginFamily::Auto => "auto:%",
        OriginFamily::StaffReply => "staff_reply",
    }
}

pub(super) fn event_record(row: &AnyRow) -> Result<EventRecord, StoreError> {
    let data: Option<serde_json::Value> = row
        .try_get::<Option<String>, _>("data")?
        .map(|d| serde_json::from_str(&d))
        .transpose()
        .map_err(|_| StoreError::Corrupt("event data".into()))?;
    Ok(EventRecord {
        at: timestamp(row.try_get("at")?)?,
        kind: row.try_get("kind")?,
        attempt_id: row.try_get("attempt_id")?,
        detail: row.try_get("detail")?,
        event_type: data
            .as_ref()
            .and_then(|d| d.get("type"))
            .and_then(|t| t.as_str())
            .map(str::to_owned),
        data,
        actor: row.try_get("actor")?,
    })
}
