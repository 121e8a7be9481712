//! What each attempt put in front of the patient (`attempt_contents`). Written only by the
//! dispatcher, with the hand-over's start; read for the notification's timeline.
//!
//! Kept for now: when the clinic's retention lands, it redacts `text`, `subject` and the
//! template's parameters on its schedule and keeps the rest of the record.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::rows::{columns, write_rows};
use super::{Store, StoreError, millis};
use crate::domain::{AttemptContent, ClinicId, ContentKind, NotificationId, SentTemplate};
use crate::store::HandoverStart;

/// Records what each of these hand-overs is about to send, in the transaction that marks them
/// started.
pub(super) async fn record_contents(
    tx: &mut Transaction<'_, Any>,
    starts: &[&HandoverStart],
    now: Timestamp,
) -> Result<(), StoreError> {
    // The parameters as JSON, owned here so the rows below can borrow them.
    let params = starts
        .iter()
        .map(|start| {
            start
                .content
                .template
                .as_ref()
                .map(|t| serde_json::to_string(&t.params))
                .transpose()
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(|e| StoreError::Corrupt(format!("template parameters: {e}")))?;
    let recorded_at = millis(now);
    let rows: Vec<ContentWrite<'_>> = starts
        .iter()
        .zip(&params)
        .map(|(start, params)| {
            let content = &start.content;
            ContentWrite {
                attempt_id: start.attempt.as_str(),
                clinic_id: start.clinic.as_str(),
                notification_id: start.notification.as_str(),
                kind: content.kind.as_str(),
                language: content.language.as_str(),
                subject: content.subject.as_deref(),
                text: content.text.as_deref(),
                template_name: content.template.as_ref().map(|t| t.name.as_str()),
                template_params: params.as_deref(),
                recorded_at,
            }
        })
        .collect();
    write_rows(
        tx,
        "INSERT INTO attempt_contents ({columns}) {rows}",
        &[],
        &rows,
    )
    .await?;
    Ok(())
}

columns! {
    struct ContentWrite<'a> {
        attempt_id: &'a str,
        clinic_id: &'a str,
        notification_id: &'a str,
        kind: &'a str,
        language: &'a str,
        subject: Option<&'a str>,
        text: Option<&'a str>,
        template_name: Option<&'a str>,
        template_params: Option<&'a str>,
        recorded_at: i64,
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ContentRow {
    attempt_id: String,
    #[sqlx(flatten)]
    content: StoredContent,
}

/// An attempt's content as `attempt_contents` holds it.
#[derive(sqlx::FromRow)]
pub(super) struct StoredContent {
    pub(super) kind: String,
    pub(super) language: String,
    pub(super) subject: Option<String>,
    pub(super) text: Option<String>,
    pub(super) template_name: Option<String>,
    pub(super) template_params: Option<String>,
}

impl StoredContent {
    pub(super) fn into_content(self) -> Result<AttemptContent, StoreError> {
        let row = self;
        let kind = ContentKind::parse(&row.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("attempt_contents.kind {}", row.kind)))?;
        let template = row
            .template_name
            .map(|name| {
                let params = row
                    .template_params
                    .map(|p| serde_json::from_str(&p))
                    .transpose()
                    .map_err(|e| {
                        StoreError::Corrupt(format!("attempt_contents.template_params: {e}"))
                    })?
                    .unwrap_or_default();
                Ok::<_, StoreError>(SentTemplate { name, params })
            })
            .transpose()?;
        Ok(AttemptContent {
            kind,
            language: row.language,
            subject: row.subject,
            text: row.text,
            template,
        })
    }
}

impl ContentRow {
    /// The attempt id and its content.
    pub(super) fn into_entry(self) -> Result<(String, AttemptContent), StoreError> {
        Ok((self.attempt_id, self.content.into_content()?))
    }
}

impl Store {
    /// The recorded content of each attempt of a notification, by attempt id.
    pub async fn attempt_contents(
        &self,
        clinic: &ClinicId,
        notification: &NotificationId,
    ) -> Result<HashMap<String, AttemptContent>, StoreError> {
        sqlx::query_as::<_, ContentRow>(
            "SELECT attempt_id, kind, language, subject, text, template_name, template_params \
             FROM attempt_contents WHERE clinic_id = $1 AND notification_id = $2",
        )
        .bind(clinic.as_str())
        .bind(notification.as_str())
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(ContentRow::into_entry)
        .collect()
    }
}
