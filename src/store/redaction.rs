//! Removing message texts and media references from a clinic's records, apart from choosing
//! which: an erasure takes one patient's, retention those past the clinic's periods. One list of
//! statements serves both, so what "removed" means cannot drift between them. Ids, statuses,
//! times and metadata stay. Each record changed gets an event saying why, which is also what
//! tells the outboxes that the record changed.

use jiff::{SignedDuration, Timestamp};
use sqlx::{Any, Transaction};

use super::events::EventBatch;
use super::notification_feed::{bound, with_feed_position};
use super::rows::{Id, Param, columns, write_rows};
use super::{Backend, StoreError, millis, skip_locked};
use crate::domain::{
    Actor, ClinicId, Event, InboundMedia, InboundMessageId, PatientId, Removal, RetentionCounts,
    RetentionPeriods,
};

/// Which of a clinic's records lose their texts and media.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope<'a> {
    /// Everything one patient's records still hold (an erasure).
    Patient(&'a PatientId),
    /// What is older than the clinic's periods at `now`, at most `limit` records, oldest
    /// first. A notification counts once it is finished: one still waiting needs its text to
    /// be sent.
    PastRetention {
        periods: RetentionPeriods,
        now: Timestamp,
        limit: u32,
        backend: Backend,
    },
}

/// The kinds of record, in the order a bounded run takes them.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Notification,
    MessageText,
    MessageMedia,
    Appointment,
}

impl Kind {
    const ALL: [Self; 4] = [
        Self::Notification,
        Self::MessageText,
        Self::MessageMedia,
        Self::Appointment,
    ];

    /// The selection of the records of this kind that still hold something to remove, in the
    /// clinic `$1`, before the scope's own conditions.
    fn select(self) -> &'static str {
        match self {
            Self::Notification => {
                "SELECT id, patient_id FROM notifications WHERE clinic_id = $1 \
                 AND text_redacted_at IS NULL"
            }
            Self::MessageText => {
                "SELECT id, patient_id FROM inbound_messages WHERE clinic_id = $1 \
                 AND text_redacted_at IS NULL AND (text IS NOT NULL OR reply_payload IS NOT NULL)"
            }
            Self::MessageMedia => {
                "SELECT id, patient_id, media FROM inbound_messages WHERE clinic_id = $1 \
                 AND media_redacted_at IS NULL AND media IS NOT NULL"
            }
            Self::Appointment => {
                "SELECT id, patient_id FROM appointments WHERE clinic_id = $1 AND params <> '{}'"
            }
        }
    }

    /// The instant a record's age counts from. A finished notification's last change is when
    /// it was delivered, read or given up: its text is kept the whole period after that.
    fn age(self) -> &'static str {
        match self {
            Self::Notification => "updated_at",
            Self::MessageText | Self::MessageMedia => "received_at",
            Self::Appointment => "starts_at",
        }
    }

    /// The column a bounded run reads the records in, oldest first, through the kind's
    /// retention index: the age itself, but for notifications when they were created, which no
    /// status change moves (an index on `updated_at` took two writes at every change). A
    /// notification is created before it last changes, so all past the period are among those
    /// created before the cutoff.
    fn listed_by(self) -> &'static str {
        match self {
            Self::Notification => "created_at",
            other => other.age(),
        }
    }

    fn is_media(self) -> bool {
        matches!(self, Self::MessageMedia)
    }

    /// How many days the clinic keeps what a record of this kind loses.
    fn period(self, periods: &RetentionPeriods) -> u32 {
        if self.is_media() {
            periods.media_days
        } else {
            periods.message_text_days
        }
    }
}

/// A notification the dispatcher, a provider or staff still have business with.
const NOTIFICATION_FINISHED: &str = " AND due_at IS NULL AND lease_token IS NULL \
    AND status NOT IN ('scheduled', 'queued', 'sending') \
    AND NOT EXISTS (SELECT 1 FROM callback_tasks c WHERE c.notification_id = notifications.id \
        AND c.status <> 'closed')";

/// Empties the notifications `v`: `$1` the clinic, `$2` now. A body or parameters stay present
/// but empty, so the record still says which of the two it had.
const REDACT_NOTIFICATIONS: &str = "WITH v ({columns}) AS ({rows}) UPDATE notification_requests \
    SET body = CASE WHEN body IS NULL THEN NULL ELSE '' END, \
    params = CASE WHEN params IS NULL THEN NULL ELSE '{}' END, \
    text_redacted_at = COALESCE(text_redacted_at, $2) \
    WHERE clinic_id = $1 AND id IN (SELECT id FROM v)";

/// A removed text is a change the feed gives, so copies of it can be removed too: the
/// notifications `v` move to the feed's end (`$1` the clinic).
const REDACTED_IN_FEED: &str = "WITH v ({columns}) AS ({rows}) UPDATE notification_states \
    SET {feed_position} WHERE clinic_id = $1 AND id IN (SELECT id FROM v)";

/// The copies of the notifications' texts elsewhere; each takes `$1` the clinic.
const REDACT_NOTIFICATION_COPIES: [&str; 3] = [
    "WITH v ({columns}) AS ({rows}) UPDATE attempt_contents \
     SET subject = NULL, text = NULL, template_params = NULL \
     WHERE clinic_id = $1 AND notification_id IN (SELECT id FROM v)",
    "WITH v ({columns}) AS ({rows}) UPDATE sandbox_messages \
     SET recipient = '', subject = NULL, body = '' WHERE callback_ref IN \
     (SELECT a.id FROM attempts a JOIN notifications n ON n.id = a.notification_id \
      WHERE n.clinic_id = $1 AND n.id IN (SELECT id FROM v))",
    "WITH v ({columns}) AS ({rows}) UPDATE callback_tasks SET note = NULL \
     WHERE clinic_id = $1 AND notification_id IN (SELECT id FROM v)",
];

/// `$1` the clinic, `$2` now.
const REDACT_MESSAGE_TEXTS: &str = "WITH v ({columns}) AS ({rows}) UPDATE inbound_messages \
    SET text = NULL, reply_payload = NULL, text_redacted_at = COALESCE(text_redacted_at, $2) \
    WHERE clinic_id = $1 AND id IN (SELECT id FROM v)";

/// `$1` the clinic, `$2` now; `v` holds each message's media as it is kept.
const REDACT_MESSAGE_MEDIA: &str = "WITH v ({columns}) AS ({rows}) UPDATE inbound_messages \
    SET media = v.media, media_redacted_at = COALESCE(media_redacted_at, $2) \
    FROM v WHERE inbound_messages.clinic_id = $1 AND inbound_messages.id = v.id";

/// `$1` the clinic.
const REDACT_APPOINTMENTS: &str = "WITH v ({columns}) AS ({rows}) UPDATE appointments \
    SET params = '{}' WHERE clinic_id = $1 AND id IN (SELECT id FROM v)";

columns! {
    struct KeptMedia<'a> {
        id: &'a str,
        media: &'a str,
    }
}

/// A record whose text or media is removed.
#[derive(sqlx::FromRow)]
struct Selected {
    id: String,
    patient_id: String,
    /// A message's media as stored (selected for media only).
    #[sqlx(default)]
    media: Option<String>,
}

/// One removal: in `clinic`, by `by`, at `now`.
#[derive(Debug)]
pub(super) struct Redaction<'a> {
    pub(super) clinic: &'a ClinicId,
    pub(super) by: &'a Actor,
    pub(super) now: Timestamp,
}

impl Redaction<'_> {
    /// Removes what `scope` reaches, adding an event per record changed to `events`. Returns
    /// what it removed; a bounded scope that removed its whole limit may have more left.
    pub(super) async fn remove(
        &self,
        tx: &mut Transaction<'_, Any>,
        scope: Scope<'_>,
        events: &mut EventBatch,
    ) -> Result<RetentionCounts, StoreError> {
        let mut removed = RetentionCounts {
            batches: 1,
            ..RetentionCounts::default()
        };
        let mut left = scope.limit();
        for kind in Kind::ALL {
            if left == Some(0) {
                break;
            }
            let n = self.remove_kind(tx, scope, kind, left, events).await?;
            left = left.map(|l| l.saturating_sub(n));
            let count = match kind {
                Kind::Notification => &mut removed.notifications,
                Kind::MessageText => &mut removed.messages,
                Kind::MessageMedia => &mut removed.media,
                Kind::Appointment => &mut removed.appointments,
            };
            *count = n;
        }
        Ok(removed)
    }

    async fn remove_kind(
        &self,
        tx: &mut Transaction<'_, Any>,
        scope: Scope<'_>,
        kind: Kind,
        limit: Option<u64>,
        events: &mut EventBatch,
    ) -> Result<u64, StoreError> {
        let (sql, params) = scope.selection(kind, limit);
        let query = sqlx::query_as::<_, Selected>(&sql).bind(self.clinic.as_str());
        let rows = bound(query, &params).fetch_all(&mut **tx).await?;
        let ids: Vec<Id> = rows.iter().map(|r| Id { id: &r.id }).collect();
        let because = scope.removal(kind);
        match kind {
            Kind::Notification => {
                self.run(tx, REDACT_NOTIFICATIONS, true, &ids).await?;
                let statement = with_feed_position(tx, REDACTED_IN_FEED);
                self.run(tx, &statement, false, &ids).await?;
                for statement in REDACT_NOTIFICATION_COPIES {
                    self.run(tx, statement, false, &ids).await?;
                }
                let event = Event::TextRemoved { because };
                for row in &rows {
                    events.add(&row.id, None, self.now, self.by, &event)?;
                }
            }
            Kind::MessageText => {
                self.run(tx, REDACT_MESSAGE_TEXTS, true, &ids).await?;
                self.message_events(&rows, &Event::TextRemoved { because }, events)?;
            }
            Kind::MessageMedia => {
                let kept = kept_media(&rows)?;
                let kept: Vec<KeptMedia> = kept
                    .iter()
                    .map(|(id, media)| KeptMedia { id, media })
                    .collect();
                self.run(tx, REDACT_MESSAGE_MEDIA, true, &kept).await?;
                self.message_events(&rows, &Event::MediaRemoved { because }, events)?;
            }
            Kind::Appointment => self.run(tx, REDACT_APPOINTMENTS, false, &ids).await?,
        }
        Ok(rows.len() as u64)
    }

    /// `event` on each message's conversation, naming the message.
    fn message_events(
        &self,
        rows: &[Selected],
        event: &Event,
        events: &mut EventBatch,
    ) -> Result<(), StoreError> {
        for row in rows {
            let message = InboundMessageId::from_stored(row.id.clone());
            let patient = PatientId::from_stored(row.patient_id.clone());
            events.add_for_message_by(
                &message,
                (self.clinic, &patient),
                self.now,
                self.by,
                event,
            )?;
        }
        Ok(())
    }

    /// Runs one statement over `rows`, with the clinic as `$1` and, when `with_now`, now as `$2`.
    async fn run<R: super::rows::Columns>(
        &self,
        tx: &mut Transaction<'_, Any>,
        sql: &str,
        with_now: bool,
        rows: &[R],
    ) -> Result<(), StoreError> {
        let now = millis(self.now);
        let shared: &[Param] = if with_now {
            &[Param::from(self.clinic.as_str()), Param::from(now)]
        } else {
            &[Param::from(self.clinic.as_str())]
        };
        write_rows(tx, sql, shared, rows).await?;
        Ok(())
    }
}

impl Scope<'_> {
    fn limit(&self) -> Option<u64> {
        match self {
            Self::Patient(_) => None,
            Self::PastRetention { limit, .. } => Some(u64::from(*limit)),
        }
    }

    /// Why a record of `kind` loses its text or media.
    fn removal(&self, kind: Kind) -> Removal {
        match self {
            Self::Patient(_) => Removal::Erasure,
            Self::PastRetention { periods, .. } => Removal::Retention {
                kept_days: kind.period(periods),
            },
        }
    }

    /// The SELECT of `kind`'s records in this scope, at most `limit`, and its parameters after
    /// the clinic (`$1`).
    fn selection(&self, kind: Kind, limit: Option<u64>) -> (String, Vec<Param<'_>>) {
        let select = kind.select();
        match self {
            Self::Patient(patient) => (
                format!("{select} AND patient_id = $2"),
                vec![Param::from(patient.as_str())],
            ),
            Self::PastRetention {
                periods,
                now,
                backend,
                ..
            } => {
                let days = kind.period(periods);
                let finished = match kind {
                    Kind::Notification => NOTIFICATION_FINISHED,
                    _ => "",
                };
                // A row a provider report or a staff action holds now is left to a later run.
                let lock = skip_locked(*backend);
                let (age, listed) = (kind.age(), kind.listed_by());
                let aged = if age == listed {
                    String::new()
                } else {
                    format!(" AND {age} < $2")
                };
                let limit = i64::try_from(limit.unwrap_or(u64::MAX)).unwrap_or(i64::MAX);
                (
                    format!(
                        "{select} AND {listed} < $2{aged}{finished} ORDER BY {listed} LIMIT $3{lock}"
                    ),
                    vec![Param::from(millis(cutoff(*now, days))), Param::from(limit)],
                )
            }
        }
    }
}

/// The instant `days` days before `now`: what is older has been kept long enough.
fn cutoff(now: Timestamp, days: u32) -> Timestamp {
    let period = SignedDuration::from_hours(i64::from(days) * 24);
    now.checked_sub(period).unwrap_or(Timestamp::MIN)
}

/// Each message's media as it is kept: its type only.
fn kept_media(rows: &[Selected]) -> Result<Vec<(String, String)>, StoreError> {
    rows.iter()
        .filter_map(|row| Some((row.id.as_str(), row.media.as_deref()?)))
        .map(|(id, stored)| {
            let media: InboundMedia = serde_json::from_str(stored)
                .map_err(|e| StoreError::Corrupt(format!("inbound_messages.media: {e}")))?;
            let kept = serde_json::to_string(&media.removed())
                .map_err(|e| StoreError::Corrupt(format!("inbound_messages.media: {e}")))?;
            Ok((id.to_owned(), kept))
        })
        .collect()
}
