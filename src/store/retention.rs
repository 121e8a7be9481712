//! A clinic's retention periods, and its daily run: claimed under a lease so that one instance
//! runs it, done in bounded batches that are each their own short transaction, and recorded
//! with an event of what it removed. What a batch removes is `redaction`'s, shared with erasure.

use jiff::Timestamp;

use super::events::EventBatch;
use super::redaction::{Redaction, Scope};
use super::{Store, StoreError, millis, opt_timestamp, timestamp};
use crate::domain::{Actor, ClinicId, Event, RetentionCounts, RetentionPeriods, TimeZoneName};

/// A clinic's periods and how its runs stand, as `GET /v1/clinic/retention` shows them.
#[derive(Debug, Clone)]
pub struct RetentionStatus {
    pub periods: RetentionPeriods,
    /// `None` until an instance first looked at the clinic (within a poll of starting).
    pub next_run_at: Option<Timestamp>,
    pub last_run: Option<RetentionRunRecord>,
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct RetentionRunRecord {
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub removed: RetentionCounts,
}

/// A clinic's run, claimed by this instance until its lease runs out.
#[derive(Debug, Clone)]
pub struct RetentionClaim {
    pub clinic: ClinicId,
    pub timezone: TimeZoneName,
    /// The periods as they were when the run began.
    pub periods: RetentionPeriods,
    pub started_at: Timestamp,
    token: String,
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    message_text_days: i64,
    media_days: i64,
    next_run_at: Option<i64>,
    last_started_at: Option<i64>,
    last_finished_at: Option<i64>,
    last_counts: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    timezone: String,
    message_text_days: i64,
    media_days: i64,
}

/// Gives every clinic without one a run row, due at once: a clinic is first looked at when an
/// instance starts (or when it is created), whatever the hour.
const ADD_MISSING_RUNS: &str = "INSERT INTO retention_runs (clinic_id, next_run_at) \
    SELECT id, 0 FROM clinics WHERE id NOT IN (SELECT clinic_id FROM retention_runs) \
    ON CONFLICT (clinic_id) DO NOTHING";

/// Claims the clinic whose run is most overdue and not held by a live lease: `$1` token, `$2`
/// lease end, `$3` now. On PostgreSQL a second instance racing for the same row finds the lease
/// taken when it re-reads the row, and claims nothing.
const CLAIM_RUN: &str = "UPDATE retention_runs SET lease_token = $1, lease_until = $2 \
    WHERE clinic_id = (SELECT clinic_id FROM retention_runs \
        WHERE next_run_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) \
        ORDER BY next_run_at LIMIT 1) \
    AND next_run_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) \
    RETURNING clinic_id";

/// Keeps the claim `$2` on clinic `$1` until `$3`; no row when another instance took it over.
const RENEW_RUN: &str =
    "UPDATE retention_runs SET lease_until = $3 WHERE clinic_id = $1 AND lease_token = $2";

fn days(stored: i64) -> u32 {
    u32::try_from(stored).unwrap_or(u32::MAX)
}

fn periods(message_text_days: i64, media_days: i64) -> RetentionPeriods {
    RetentionPeriods {
        message_text_days: days(message_text_days),
        media_days: days(media_days),
    }
}

impl Store {
    /// The clinic's periods, its next run and what its last run removed.
    pub async fn retention_status(&self, clinic: &ClinicId) -> Result<RetentionStatus, StoreError> {
        let row: StatusRow = sqlx::query_as(
            "SELECT c.message_text_days, c.media_days, r.next_run_at, r.last_started_at, \
             r.last_finished_at, r.last_counts \
             FROM clinics c LEFT JOIN retention_runs r ON r.clinic_id = c.id WHERE c.id = $1",
        )
        .bind(clinic.as_str())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let last_run = match (row.last_started_at, row.last_finished_at, row.last_counts) {
            (Some(started), Some(finished), Some(counts)) => Some(RetentionRunRecord {
                started_at: timestamp(started)?,
                finished_at: timestamp(finished)?,
                removed: serde_json::from_str(&counts)
                    .map_err(|e| StoreError::Corrupt(format!("retention_runs.last_counts: {e}")))?,
            }),
            _ => None,
        };
        Ok(RetentionStatus {
            periods: periods(row.message_text_days, row.media_days),
            // A run row due "at 0" is one no instance has scheduled yet.
            next_run_at: opt_timestamp(row.next_run_at.filter(|at| *at > 0))?,
            last_run,
        })
    }

    /// Replaces the clinic's periods; its next run uses them.
    pub async fn set_retention_periods(
        &self,
        clinic: &ClinicId,
        periods: RetentionPeriods,
    ) -> Result<(), StoreError> {
        let updated =
            sqlx::query("UPDATE clinics SET message_text_days = $2, media_days = $3 WHERE id = $1")
                .bind(clinic.as_str())
                .bind(i64::from(periods.message_text_days))
                .bind(i64::from(periods.media_days))
                .execute(&self.write)
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Claims one clinic whose run is due, for this instance until `lease_until`; `None` when
    /// no run is due, or another instance holds it.
    pub async fn claim_retention_run(
        &self,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<RetentionClaim>, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        sqlx::query(ADD_MISSING_RUNS).execute(&mut *tx).await?;
        let claimed: Option<String> = sqlx::query_scalar(CLAIM_RUN)
            .bind(token)
            .bind(millis(lease_until))
            .bind(millis(now))
            .fetch_optional(&mut *tx)
            .await?;
        let Some(clinic) = claimed else {
            tx.commit().await?;
            return Ok(None);
        };
        let row: ClaimedRow = sqlx::query_as(
            "SELECT timezone, message_text_days, media_days FROM clinics WHERE id = $1",
        )
        .bind(&clinic)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let timezone = TimeZoneName::parse(&row.timezone)
            .ok_or_else(|| StoreError::Corrupt(format!("time zone {}", row.timezone)))?;
        Ok(Some(RetentionClaim {
            clinic: ClinicId::from_stored(clinic),
            timezone,
            periods: periods(row.message_text_days, row.media_days),
            started_at: now,
            token: token.to_owned(),
        }))
    }

    /// Removes at most `limit` records of the claimed clinic that are past its periods at
    /// `now`, in one transaction that also keeps the claim until `lease_until`. `None` when
    /// the claim was lost (another instance took the run over): nothing was removed.
    pub async fn remove_past_retention(
        &self,
        claim: &RetentionClaim,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Option<RetentionCounts>, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let kept = sqlx::query(RENEW_RUN)
            .bind(claim.clinic.as_str())
            .bind(&claim.token)
            .bind(millis(lease_until))
            .execute(&mut *tx)
            .await?;
        if kept.rows_affected() == 0 {
            return Ok(None);
        }
        let mut events = EventBatch::kept_from_the_medical_record();
        let scope = Scope::PastRetention {
            periods: claim.periods,
            now,
            limit,
            backend: self.backend,
        };
        let redaction = Redaction {
            clinic: &claim.clinic,
            by: &Actor::System,
            now,
        };
        let removed = redaction.remove(&mut tx, scope, &mut events).await?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(removed))
    }

    /// Ends the claimed run: records what it removed (on the run's row and as the clinic's
    /// event) and when the next one is due. `false` when the claim was lost first.
    pub async fn finish_retention_run(
        &self,
        claim: &RetentionClaim,
        removed: &RetentionCounts,
        next_run_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let counts = serde_json::to_string(removed)
            .map_err(|e| StoreError::Corrupt(format!("retention counts: {e}")))?;
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let finished = sqlx::query(
            "UPDATE retention_runs SET next_run_at = $3, lease_token = NULL, lease_until = NULL, \
             last_started_at = $4, last_finished_at = $5, last_counts = $6 \
             WHERE clinic_id = $1 AND lease_token = $2",
        )
        .bind(claim.clinic.as_str())
        .bind(&claim.token)
        .bind(millis(next_run_at))
        .bind(millis(claim.started_at))
        .bind(millis(now))
        .bind(counts)
        .execute(&mut *tx)
        .await?;
        if finished.rows_affected() == 0 {
            return Ok(false);
        }
        let mut events = EventBatch::default();
        let event = Event::RetentionRun {
            message_text_days: claim.periods.message_text_days,
            media_days: claim.periods.media_days,
            removed: *removed,
        };
        events.add_for_clinic(&claim.clinic, now, &event)?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}
