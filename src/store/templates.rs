//! A clinic's own texts: message templates and quick replies, one row per name and language,
//! the content as JSON. One table and one set of statements serve both kinds.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Store, StoreError, millis, placeholders};
use crate::domain::ClinicId;
use crate::policy::templates::{OwnTemplate, QuickReply, TemplateCopy};

/// A kind of clinic text, told apart in storage by `KIND`.
pub trait ClinicText: Serialize + DeserializeOwned {
    const KIND: &'static str;
}

impl ClinicText for TemplateCopy {
    const KIND: &'static str = "message";
}

impl ClinicText for QuickReply {
    const KIND: &'static str = "quick_reply";
}

#[derive(sqlx::FromRow)]
struct TextRow {
    name: String,
    language: String,
    /// The text as JSON.
    content: String,
}

impl TextRow {
    fn parse<T: ClinicText>(self) -> Result<OwnTemplate<T>, StoreError> {
        Ok(OwnTemplate {
            content: serde_json::from_str(&self.content)
                .map_err(|e| StoreError::Corrupt(format!("template {}: {e}", self.name)))?,
            name: self.name,
            language: self.language,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ClinicTextRow {
    clinic_id: String,
    #[sqlx(flatten)]
    text: TextRow,
}

fn to_json<T: Serialize>(content: &T) -> Result<String, StoreError> {
    serde_json::to_string(content).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const INSERT: &str = "INSERT INTO clinic_templates (clinic_id, kind, name, language, content, updated_at) \
                      VALUES ($1, $2, $3, $4, $5, $6)";

impl Store {
    /// The clinic's own texts of this kind, all of them or those named `name`, by name and
    /// language.
    pub async fn clinic_texts<T: ClinicText>(
        &self,
        clinic: &ClinicId,
        name: Option<&str>,
    ) -> Result<Vec<OwnTemplate<T>>, StoreError> {
        let sql = format!(
            "SELECT name, language, content FROM clinic_templates \
             WHERE clinic_id = $1 AND kind = $2 {} ORDER BY name, language",
            if name.is_some() { "AND name = $3" } else { "" }
        );
        let mut query = sqlx::query_as::<_, TextRow>(&sql)
            .bind(clinic.as_str())
            .bind(T::KIND);
        if let Some(name) = name {
            query = query.bind(name);
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.into_iter().map(TextRow::parse).collect()
    }

    /// The clinics' own texts named in `wanted` (clinic, name), for a dispatcher round.
    pub async fn clinic_texts_for<T: ClinicText>(
        &self,
        wanted: &[(ClinicId, String)],
    ) -> Result<HashMap<(ClinicId, String), Vec<OwnTemplate<T>>>, StoreError> {
        let mut found: HashMap<(ClinicId, String), Vec<OwnTemplate<T>>> = HashMap::new();
        if wanted.is_empty() {
            return Ok(found);
        }
        let sql = format!(
            "SELECT clinic_id, name, language, content FROM clinic_templates \
             WHERE kind = $1 AND clinic_id IN ({}) ORDER BY name, language",
            placeholders(2, wanted.len())
        );
        let mut query = sqlx::query_as::<_, ClinicTextRow>(&sql).bind(T::KIND);
        for (clinic, _) in wanted {
            query = query.bind(clinic.as_str());
        }
        for row in query.fetch_all(&self.read).await? {
            let key = (ClinicId::from_stored(row.clinic_id), row.text.name.clone());
            if wanted.contains(&key) {
                found.entry(key).or_default().push(row.text.parse()?);
            }
        }
        Ok(found)
    }

    /// The message templates of the clinic that sent attempt `attempt`, in `language`: the copies
    /// the sandbox, playing that clinic's WhatsApp account, holds as approved.
    pub async fn clinic_templates_of_attempt(
        &self,
        attempt: &str,
        language: &str,
    ) -> Result<Vec<OwnTemplate<TemplateCopy>>, StoreError> {
        let rows = sqlx::query_as::<_, TextRow>(
            "SELECT t.name, t.language, t.content FROM attempts a \
             JOIN notifications n ON n.id = a.notification_id \
             JOIN clinic_templates t ON t.clinic_id = n.clinic_id \
             WHERE a.id = $1 AND t.kind = $2 AND t.language = $3",
        )
        .bind(attempt)
        .bind(TemplateCopy::KIND)
        .bind(language)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(TextRow::parse).collect()
    }

    /// Creates or replaces the clinic's text `name` in `language`; returns whether it is new.
    pub async fn put_clinic_text<T: ClinicText>(
        &self,
        clinic: &ClinicId,
        name: &str,
        language: &str,
        content: &T,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let existed = sqlx::query(
            "SELECT 1 AS found FROM clinic_templates \
             WHERE clinic_id = $1 AND kind = $2 AND name = $3 AND language = $4",
        )
        .bind(clinic.as_str())
        .bind(T::KIND)
        .bind(name)
        .bind(language)
        .fetch_optional(&self.write)
        .await?
        .is_some();
        sqlx::query(&format!(
            "{INSERT} ON CONFLICT (clinic_id, kind, name, language) \
             DO UPDATE SET content = excluded.content, updated_at = excluded.updated_at"
        ))
        .bind(clinic.as_str())
        .bind(T::KIND)
        .bind(name)
        .bind(language)
        .bind(to_json(content)?)
        .bind(millis(now))
        .execute(&self.write)
        .await?;
        Ok(!existed)
    }

    /// Replaces every language of the clinic's text `name` at once; returns whether it is new.
    pub async fn replace_clinic_texts<T: ClinicText>(
        &self,
        clinic: &ClinicId,
        name: &str,
        copies: &[(String, T)],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        let removed = sqlx::query(
            "DELETE FROM clinic_templates WHERE clinic_id = $1 AND kind = $2 AND name = $3",
        )
        .bind(clinic.as_str())
        .bind(T::KIND)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        for (language, content) in copies {
            sqlx::query(INSERT)
                .bind(clinic.as_str())
                .bind(T::KIND)
                .bind(name)
                .bind(language.as_str())
                .bind(to_json(content)?)
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed == 0)
    }

    /// Deletes the clinic's text `name`, in one language or all; returns how many rows went.
    pub async fn delete_clinic_texts<T: ClinicText>(
        &self,
        clinic: &ClinicId,
        name: &str,
        language: Option<&str>,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM clinic_templates WHERE clinic_id = $1 AND kind = $2 AND name = $3 {}",
            if language.is_some() {
                "AND language = $4"
            } else {
                ""
            }
        );
        let mut query = sqlx::query(&sql)
            .bind(clinic.as_str())
            .bind(T::KIND)
            .bind(name);
        if let Some(language) = language {
            query = query.bind(language);
        }
        Ok(query.execute(&self.write).await?.rows_affected())
    }
}
