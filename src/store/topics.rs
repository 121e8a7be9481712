use std::collections::HashMap;

use jiff::Timestamp;

use super::{Store, StoreError, in_list, millis, padded};
use crate::domain::{ClinicId, Sensitivity, Topic};

/// One of a clinic's topics as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicView {
    pub name: String,
    pub sensitivity: Sensitivity,
    /// A topic every clinic has (its sensitivity may still be the clinic's own choice).
    pub built_in: bool,
    /// Its notices carry a secure message link when the clinic has links on.
    pub secure_link: bool,
}

fn sensitivity(value: &str) -> Result<Sensitivity, StoreError> {
    Sensitivity::parse(value).ok_or_else(|| StoreError::Corrupt(format!("sensitivity {value}")))
}

impl Store {
    /// The clinic's topics: the built-in ones first (with the clinic's sensitivity where it set
    /// one), then its own, by name.
    pub async fn topics(&self, clinic: &ClinicId) -> Result<Vec<TopicView>, StoreError> {
        let own = sqlx::query_as::<_, (String, String, i64)>(
            "SELECT name, sensitivity, secure_link FROM clinic_topics WHERE clinic_id = $1 ORDER BY name",
        )
        .bind(clinic.as_str())
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(|(name, stored, secure_link)| {
            Ok(TopicView {
                built_in: Topic::parse(&name).is_some(),
                sensitivity: sensitivity(&stored)?,
                secure_link: secure_link != 0,
                name,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let built_in = Topic::ALL.iter().map(|topic| {
            own.iter()
                .find(|view| view.name == topic.as_str())
                .cloned()
                .unwrap_or_else(|| TopicView {
                    name: topic.as_str().to_owned(),
                    sensitivity: topic.default_sensitivity(),
                    built_in: true,
                    secure_link: false,
                })
        });
        let added = own.iter().filter(|view| !view.built_in).cloned();
        Ok(built_in.chain(added).collect())
    }

    /// The sensitivities the given clinics set for their topics, by (clinic, topic); topics not
    /// listed are built-in ones with their default.
    pub async fn topic_settings(
        &self,
        clinics: &[&str],
    ) -> Result<HashMap<(String, String), Sensitivity>, StoreError> {
        if clinics.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT clinic_id, name, sensitivity FROM clinic_topics WHERE clinic_id IN ({})",
            in_list(1, clinics.len())
        );
        let mut query = sqlx::query_as::<_, (String, String, String)>(&sql);
        for clinic in padded(clinics) {
            query = query.bind(clinic);
        }
        query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(|(clinic, name, stored)| Ok(((clinic, name), sensitivity(&stored)?)))
            .collect()
    }

    /// Adds a topic to the clinic, or changes the sensitivity and secure link of one it has.
    pub async fn set_topic(
        &self,
        clinic: &ClinicId,
        name: &str,
        sensitivity: Sensitivity,
        secure_link: bool,
        now: Timestamp,
    ) -> Result<TopicView, StoreError> {
        sqlx::query(
            "INSERT INTO clinic_topics (clinic_id, name, sensitivity, secure_link, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (clinic_id, name) DO UPDATE SET sensitivity = excluded.sensitivity, \
             secure_link = excluded.secure_link, updated_at = excluded.updated_at",
        )
        .bind(clinic.as_str())
        .bind(name)
        .bind(sensitivity.as_str())
        .bind(i64::from(secure_link))
        .bind(millis(now))
        .execute(&self.write)
        .await?;
        Ok(TopicView {
            name: name.to_owned(),
            sensitivity,
            built_in: Topic::parse(name).is_some(),
            secure_link,
        })
    }
}
