use jiff::Timestamp;
use serde::Serialize;

use super::rows::{columns, write_rows};
use super::{Store, StoreError, millis, skip_locked, timestamp};
use crate::domain::ClinicId;
use utoipa::ToSchema;

/// One message the sandbox provider took.
#[derive(Debug, Clone)]
pub struct SandboxMessage {
    pub id: String,
    pub channel: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub language: String,
    pub callback_ref: String,
    pub status: String,
    pub error_code: Option<String>,
    pub next_status: Option<String>,
    pub next_status_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One message in a clinic's sandbox outbox. It names the clinic's notification, never the
/// attempt: an attempt id is what a status callback names.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxMessage {
    /// The id the sandbox gave it, in the provider's shape (`wamid.…`, `SM…`, `CA…`).
    pub id: String,
    pub notification_id: String,
    pub channel: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub language: String,
    pub status: String,
    pub error_code: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A status callback the sandbox owes the gateway.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SandboxStatusDue {
    pub id: String,
    pub channel: String,
    pub recipient: String,
    pub callback_ref: String,
    pub next_status: String,
}

/// A status the sandbox has reported, and the one it will report next (with when).
#[derive(Debug, Clone)]
pub struct SandboxAdvance {
    pub id: String,
    pub status: String,
    pub next: Option<(String, Timestamp)>,
}

#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub recipient: Option<String>,
    pub channel: Option<String>,
    pub limit: u32,
}

columns! {
    struct NewMessage<'a> {
        id: &'a str,
        channel: &'a str,
        recipient: &'a str,
        subject: Option<&'a str>,
        body: &'a str,
        language: &'a str,
        callback_ref: &'a str,
        status: &'a str,
        error_code: Option<&'a str>,
        next_status: Option<&'a str>,
        next_status_at: Option<i64>,
        created_at: i64,
        updated_at: i64,
    }
}

columns! {
    struct Advance<'a> {
        id: &'a str,
        status: &'a str,
        next_status: Option<&'a str>,
        next_status_at: Option<i64>,
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: String,
    notification_id: String,
    channel: String,
    recipient: String,
    subject: Option<String>,
    body: String,
    language: String,
    status: String,
    error_code: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<OutboxRow> for OutboxMessage {
    type Error = StoreError;

    fn try_from(row: OutboxRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            notification_id: row.notification_id,
            channel: row.channel,
            recipient: row.recipient,
            subject: row.subject,
            body: row.body,
            language: row.language,
            status: row.status,
            error_code: row.error_code,
            created_at: timestamp(row.created_at)?,
            updated_at: timestamp(row.updated_at)?,
        })
    }
}

impl Store {
    pub async fn insert_sandbox_messages(
        &self,
        messages: &[SandboxMessage],
    ) -> Result<(), StoreError> {
        let rows: Vec<NewMessage> = messages
            .iter()
            .map(|m| NewMessage {
                id: &m.id,
                channel: &m.channel,
                recipient: &m.recipient,
                subject: m.subject.as_deref(),
                body: &m.body,
                language: &m.language,
                callback_ref: &m.callback_ref,
                status: &m.status,
                error_code: m.error_code.as_deref(),
                next_status: m.next_status.as_deref(),
                next_status_at: m.next_status_at.map(millis),
                created_at: millis(m.created_at),
                updated_at: millis(m.updated_at),
            })
            .collect();
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        write_rows(
            &mut tx,
            "INSERT INTO sandbox_messages ({columns}) {rows}",
            &[],
            &rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims status callbacks that are due, holding them until `lease_until` so that a callback
    /// lost in a crash is sent again.
    pub async fn claim_sandbox_statuses(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<SandboxStatusDue>, StoreError> {
        let _turn = self.background_turn().await;
        let lock = skip_locked(self.backend);
        let due = sqlx::query_as(&format!(
            "UPDATE sandbox_messages SET next_status_at = $1 WHERE id IN \
             (SELECT id FROM sandbox_messages WHERE next_status_at <= $2 ORDER BY next_status_at LIMIT $3{lock}) \
             RETURNING id, channel, recipient, callback_ref, COALESCE(next_status, '') AS next_status"
        ))
        .bind(millis(lease_until))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        Ok(due)
    }

    /// Marks reported statuses as the messages' current ones and schedules what follows.
    pub async fn advance_sandbox_messages(
        &self,
        advances: &[SandboxAdvance],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let rows: Vec<Advance> = advances
            .iter()
            .map(|a| Advance {
                id: &a.id,
                status: &a.status,
                next_status: a.next.as_ref().map(|(s, _)| s.as_str()),
                next_status_at: a.next.as_ref().map(|(_, at)| millis(*at)),
            })
            .collect();
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS ({rows}) UPDATE sandbox_messages SET status = v.status, \
             next_status = v.next_status, next_status_at = v.next_status_at, \
             updated_at = $1 FROM v WHERE sandbox_messages.id = v.id",
            &[millis(now).into()],
            &rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What the sandbox took for `clinic`'s notifications, newest first: their attempts, and
    /// the codes their secure links sent (the link's id is such a message's reference).
    pub async fn sandbox_outbox(
        &self,
        clinic: &ClinicId,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut sql =
            "SELECT s.id, n.id AS notification_id, s.channel, s.recipient, s.subject, s.body, \
                       s.language, s.status, s.error_code, s.created_at, s.updated_at \
                       FROM sandbox_messages s LEFT JOIN attempts a ON a.id = s.callback_ref \
                       LEFT JOIN secure_links l ON l.id = s.callback_ref \
                       JOIN notifications n ON n.id = COALESCE(a.notification_id, l.notification_id) \
                       WHERE n.clinic_id = $1"
                .to_owned();
        let mut next = 2;
        if filter.recipient.is_some() {
            sql.push_str(&format!(" AND s.recipient = ${next}"));
            next += 1;
        }
        if filter.channel.is_some() {
            sql.push_str(&format!(" AND s.channel = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(
            " ORDER BY s.created_at DESC, s.id DESC LIMIT ${next}"
        ));
        let mut query = sqlx::query_as::<_, OutboxRow>(&sql).bind(clinic.as_str());
        if let Some(recipient) = &filter.recipient {
            query = query.bind(recipient.as_str());
        }
        if let Some(channel) = &filter.channel {
            query = query.bind(channel.as_str());
        }
        let rows = query
            .bind(i64::from(filter.limit))
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(OutboxMessage::try_from).collect()
    }

    /// Remembers a media id the sandbox gave a patient's image, so its Meta look-alike serves it.
    pub async fn insert_sandbox_media(
        &self,
        id: &str,
        mime_type: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sandbox_media (id, mime_type, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(mime_type)
            .bind(millis(now))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The MIME type of sandbox media `id`, if the sandbox gave that id.
    pub async fn sandbox_media_type(&self, id: &str) -> Result<Option<String>, StoreError> {
        let found = sqlx::query_scalar("SELECT mime_type FROM sandbox_media WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(found)
    }
}
