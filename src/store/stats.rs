//! Counts over a clinic's notifications, for dashboards and the benchmark.

use super::{Store, StoreError};
use crate::domain::{ClinicId, NotificationStatus};

impl Store {
    /// How many of the clinic's notifications are in each status; statuses with none are left out.
    pub async fn status_counts(
        &self,
        clinic: &ClinicId,
    ) -> Result<Vec<(NotificationStatus, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) AS n FROM notifications WHERE clinic_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(clinic.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(text, count)| {
                let status = NotificationStatus::parse(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("notification status {text}")))?;
                Ok((status, count))
            })
            .collect()
    }
}
