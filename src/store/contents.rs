//! What each attempt put in front of the patient (`attempt_contents`). Written only by the
//! dispatcher, with the hand-over's start; read for the notification's timeline.
//!
//! Kept for now: when the clinic's retention lands, it redacts `text`, `subject` and the
//! template's parameters on its schedule and keeps the rest of the record.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{Any, Row, Transaction};

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

impl Store {
    /// The recorded content of each attempt of a notification, by attempt id.
    pub async fn attempt_contents(
        &self,
        clinic: &ClinicId,
        notification: &NotificationId,
    ) -> Result<HashMap<String, AttemptContent>, StoreError> {
        let rows = sqlx::query(
            "SELECT attempt_id, kind, language, subject, text, template_name, template_params \
             FROM attempt_contents WHERE clinic_id = $1 AND notification_id = $2",
        )
        .bind(clinic.as_str())
        .bind(notification.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let template = match (
                    row.try_get::<Option<String>, _>("template_name")?,
                    row.try_get::<Option<String>, _>("template_params")?,
                ) {
                    (Some(name), params) => Some(SentTemplate {
                        name,
                        params: params
                            .map(|p| serde_json::from_str(&p))
                            .transpose()
                            .map_err(|e| {
                                StoreError::Corrupt(format!(
                                    "attempt_contents.template_params: {e}"
                                ))
                            })?
                            .unwrap_or_default(),
                    }),
                    (None, _) => None,
                };
                let kind: String = row.try_get("kind")?;
                let content = AttemptContent {
                    kind: ContentKind::parse(&kind).ok_or_else(|| {
                        StoreError::Corrupt(format!("attempt_contents.kind {kind}"))
                    })?,
                    language: row.try_get("language")?,
                    subject: row.try_get("subject")?,
                    text: row.try_get("text")?,
                    template,
                };
                Ok((row.try_get("attempt_id")?, content))
            })
            .collect()
    }
}
