use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::rows::write_rows;
use super::{Backend, Store, StoreError, millis, opt_timestamp, timestamp};

/// One message the sandbox provider took, as its outbox shows it.
#[derive(Debug, Clone, Serialize)]
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
    #[serde(skip)]
    pub next_status: Option<String>,
    #[serde(skip)]
    pub next_status_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A status callback the sandbox owes the gateway.
#[derive(Debug, Clone)]
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

const COLUMNS: &str = "id, channel, recipient, subject, body, language, callback_ref, status, error_code, \
                       next_status, next_status_at, created_at, updated_at";

fn message_from_row(row: &AnyRow) -> Result<SandboxMessage, StoreError> {
    Ok(SandboxMessage {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        recipient: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        language: row.try_get("language")?,
        callback_ref: row.try_get("callback_ref")?,
        status: row.try_get("status")?,
        error_code: row.try_get("error_code")?,
        next_status: row.try_get("next_status")?,
        next_status_at: opt_timestamp(row.try_get("next_status_at")?)?,
        created_at: timestamp(row.try_get("created_at")?)?,
        updated_at: timestamp(row.try_get("updated_at")?)?,
    })
}

impl Store {
    pub async fn insert_sandbox_messages(
        &self,
        messages: &[SandboxMessage],
    ) -> Result<(), StoreError> {
        let rows = messages
            .iter()
            .map(|m| {
                vec![
                    m.id.as_str().into(),
                    m.channel.as_str().into(),
                    m.recipient.as_str().into(),
                    m.subject.as_deref().into(),
                    m.body.as_str().into(),
                    m.language.as_str().into(),
                    m.callback_ref.as_str().into(),
                    m.status.as_str().into(),
                    m.error_code.as_deref().into(),
                    m.next_status.as_deref().into(),
                    m.next_status_at.map(millis).into(),
                    millis(m.created_at).into(),
                    millis(m.updated_at).into(),
                ]
            })
            .collect();
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        write_rows(
            &mut tx,
            &format!("INSERT INTO sandbox_messages ({COLUMNS}) VALUES {{values}}"),
            &[],
            rows,
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
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE sandbox_messages SET next_status_at = $1 WHERE id IN \
             (SELECT id FROM sandbox_messages WHERE next_status_at <= $2 ORDER BY next_status_at LIMIT $3{lock}) \
             RETURNING id, channel, recipient, callback_ref, next_status"
        ))
        .bind(millis(lease_until))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SandboxStatusDue {
                    id: row.try_get("id")?,
                    channel: row.try_get("channel")?,
                    recipient: row.try_get("recipient")?,
                    callback_ref: row.try_get("callback_ref")?,
                    next_status: row
                        .try_get::<Option<String>, _>("next_status")?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Marks reported statuses as the messages' current ones and schedules what follows.
    pub async fn advance_sandbox_messages(
        &self,
        advances: &[SandboxAdvance],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let rows = advances
            .iter()
            .map(|a| {
                vec![
                    a.id.as_str().into(),
                    a.status.as_str().into(),
                    a.next.as_ref().map(|(s, _)| s.as_str()).into(),
                    a.next.as_ref().map(|(_, at)| millis(*at)).into(),
                ]
            })
            .collect();
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        write_rows(
            &mut tx,
            "UPDATE sandbox_messages SET status = v.column2, next_status = v.column3, next_status_at = v.column4, \
             updated_at = $1 FROM (VALUES {values}) AS v WHERE sandbox_messages.id = v.column1",
            &[millis(now).into()],
            rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn sandbox_outbox(
        &self,
        filter: &OutboxFilter,
    ) -> Result<Vec<SandboxMessage>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM sandbox_messages WHERE 1 = 1");
        let mut next = 1;
        if filter.recipient.is_some() {
            sql.push_str(&format!(" AND recipient = ${next}"));
            next += 1;
        }
        if filter.channel.is_some() {
            sql.push_str(&format!(" AND channel = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${next}"));
        let mut query = sqlx::query(&sql);
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
        rows.iter().map(message_from_row).collect()
    }
}
