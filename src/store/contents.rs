//! What each attempt put in front of the patient (`attempt_contents`). Written only by the
//! dispatcher, with the hand-over's start; read for the notification's timeline.
//!
//! Kept for now: when the clinic's retention lands, it redacts `text`, `subject` and the
//! template's parameters on its schedule and keeps the rest of the record.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::rows::{Param, write_rows};
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
    let rows = starts
        .iter()
        .map(|start| {
            let content = &start.content;
            let params = content
                .template
                .as_ref()
                .map(|t| serde_json::to_string(&t.params))
                .transpose()?;
            Ok(vec![
                start.attempt.as_str().into(),
                start.clinic.as_str().into(),
                start.notification.as_str().into(),
                content.kind.as_str().into(),
                content.language.as_str().into(),
                Param::from(content.subject.clone()),
                Param::from(content.text.clone()),
                Param::from(content.template.as_ref().map(|t| t.name.clone())),
                Param::from(params),
            ])
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(|e| StoreError::Corrupt(format!("template parameters: {e}")))?;
    write_rows(
        tx,
        "INSERT INTO attempt_contents (attempt_id, clinic_id, notification_id, kind, language, \
         subject, text, template_name, template_params, recorded_at) \
         SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, \
         v.column8, v.column9, $1 FROM (VALUES {values}) AS v",
        &[millis(now).into()],
        rows,
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ContentRow {
    attempt_id: String,
    kind: String,
    language: String,
    subject: Option<String>,
    text: Option<String>,
    template_name: Option<String>,
    template_params: Option<String>,
}

impl ContentRow {
    /// The attempt id and its content.
    fn into_entry(self) -> Result<(String, AttemptContent), StoreError> {
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
        let content = AttemptContent {
            kind,
            language: row.language,
            subject: row.subject,
            text: row.text,
            template,
        };
        Ok((row.attempt_id, content))
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
