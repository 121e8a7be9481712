//! The pusher's side: claiming due subjects under a lease (one push in flight per subject, in
//! the order of their rows), recording each try in the deliveries log, moving a failed try's
//! count and next try into the subject's waiting row, and raising (and clearing) the clinic's
//! "FHIR push failing" alert. Also the log and backlog as admins and `/metrics` see them.

use std::time::Duration;

use jiff::Timestamp;

use crate::domain::{ClinicId, Event, FhirAuth, FhirSubject};
use crate::store::events::EventBatch;
use crate::store::outbox::{ClaimSql, Lease, TRY_COLUMNS, Tried, TryRecord, TryRow, bind_try};
use crate::store::{Store, StoreError, millis, opt_timestamp, timestamp};

/// A subject the pusher holds the lease on, with the server to push it to.
#[derive(Debug, Clone)]
pub struct ClaimedPush {
    pub seq: i64,
    pub clinic_id: ClinicId,
    pub subject: FhirSubject,
    /// Failed tries so far.
    pub tries: i64,
    /// Since when its pushes have failed.
    pub first_tried_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub changed_at: Timestamp,
    pub base_url: String,
    pub auth: FhirAuth,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    seq: i64,
    clinic_id: String,
    subject_kind: String,
    subject_id: String,
    tries: i64,
    first_tried_at: Option<i64>,
    created_at: i64,
    changed_at: i64,
    base_url: String,
    auth_kind: String,
    auth_username: Option<String>,
    auth_secret: Option<String>,
}

impl TryFrom<ClaimedRow> for ClaimedPush {
    type Error = StoreError;

    fn try_from(row: ClaimedRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("FHIR push {}: {what}", row.seq));
        let auth = FhirAuth::from_stored(&row.auth_kind, row.auth_username, row.auth_secret)
            .ok_or_else(|| corrupt("server credentials"))?;
        let subject = FhirSubject::from_stored(&row.subject_kind, row.subject_id)
            .ok_or_else(|| corrupt("subject kind"))?;
        Ok(Self {
            seq: row.seq,
            clinic_id: ClinicId::from_stored(row.clinic_id),
            subject,
            tries: row.tries,
            first_tried_at: opt_timestamp(row.first_tried_at)?,
            created_at: timestamp(row.created_at)?,
            changed_at: timestamp(row.changed_at)?,
            base_url: row.base_url,
            auth,
        })
    }
}

/// What became of one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushResult {
    Pushed,
    Retry {
        at: Timestamp,
    },
    /// Its record is gone: there is nothing to push.
    Dropped,
}

impl PushResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pushed => "pushed",
            Self::Retry { .. } => "retrying",
            Self::Dropped => "dropped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub push: ClaimedPush,
    /// Resources in the Bundle sent (0 when none was).
    pub entries: i64,
    pub tried: Tried,
    pub result: PushResult,
}

/// One try as the deliveries log shows it.
#[derive(Debug, Clone)]
pub struct PushRecord {
    pub id: i64,
    pub subject: FhirSubject,
    pub entries: i64,
    pub tried: TryRecord,
}

/// A page of the deliveries log, newest first.
#[derive(Debug, Clone)]
pub struct PushPage {
    pub items: Vec<PushRecord>,
    /// The id the next (older) page starts below.
    pub next: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct PushRow {
    id: i64,
    subject_kind: String,
    subject_id: String,
    entries: i64,
    #[sqlx(flatten)]
    tried: TryRow,
}

impl TryFrom<PushRow> for PushRecord {
    type Error = StoreError;

    fn try_from(r: PushRow) -> Result<Self, StoreError> {
        let subject = FhirSubject::from_stored(&r.subject_kind, r.subject_id)
            .ok_or_else(|| StoreError::Corrupt(format!("FHIR push log {}: subject", r.id)))?;
        Ok(Self {
            id: r.id,
            subject,
            entries: r.entries,
            tried: r.tried.try_into()?,
        })
    }
}

/// One clinic's backlog, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirBacklog {
    pub clinic_slug: String,
    /// Subjects waiting or in flight.
    pub waiting: i64,
    /// The first unpushed change of the longest-waiting one.
    pub oldest_since: Option<Timestamp>,
    /// Subjects whose pushes have failed for longer than the alert period.
    pub failing: i64,
}

/// A subject is due when no earlier row of it is still there (pushed rows are deleted, so an
/// earlier row is one in flight, or whose lease ran out and goes first).
const CLAIM: ClaimSql = ClaimSql {
    claim: "UPDATE fhir_outbox SET lease_token = $1, next_attempt_at = $2 \
        WHERE seq IN (SELECT m.seq FROM fhir_outbox m \
            JOIN fhir_servers s ON s.clinic_id = m.clinic_id \
            WHERE m.next_attempt_at <= $3 AND s.enabled = 1 \
            AND NOT EXISTS (SELECT 1 FROM fhir_outbox o WHERE o.clinic_id = m.clinic_id \
                AND o.subject_id = m.subject_id AND o.seq < m.seq) \
            ORDER BY m.next_attempt_at, m.seq LIMIT $4{lock}) RETURNING seq",
    claimed: "SELECT m.seq, m.clinic_id, m.subject_kind, m.subject_id, m.tries, \
        m.first_tried_at, m.created_at, m.changed_at, s.base_url, s.auth_kind, s.auth_username, \
        s.auth_secret FROM fhir_outbox m JOIN fhir_servers s ON s.clinic_id = m.clinic_id \
        WHERE m.seq IN ({seqs}) AND m.lease_token = $1 ORDER BY m.seq",
};

/// A failed try's count and next try go into the subject's waiting row: a new one, or the one
/// a change made while the try was in flight (which the retry then stands for too).
const RETRY: &str = "INSERT INTO fhir_outbox (clinic_id, subject_kind, subject_id, tries, \
        next_attempt_at, created_at, changed_at, first_tried_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
    ON CONFLICT (clinic_id, subject_kind, subject_id) WHERE lease_token IS NULL \
    DO UPDATE SET tries = excluded.tries, next_attempt_at = excluded.next_attempt_at, \
        created_at = excluded.created_at, first_tried_at = excluded.first_tried_at";

/// Raises the alert of each clinic with a subject failing since before `$1`.
const RAISE: &str = "UPDATE fhir_servers SET alerted_at = $2 WHERE alerted_at IS NULL \
    AND EXISTS (SELECT 1 FROM fhir_outbox o WHERE o.clinic_id = fhir_servers.clinic_id \
        AND o.first_tried_at <= $1) RETURNING clinic_id";

/// Clears the alert of each clinic with no subject failing since before `$1` any more.
const CLEAR: &str = "UPDATE fhir_servers SET alerted_at = NULL WHERE alerted_at IS NOT NULL \
    AND NOT EXISTS (SELECT 1 FROM fhir_outbox o WHERE o.clinic_id = fhir_servers.clinic_id \
        AND o.first_tried_at <= $1) RETURNING clinic_id";

const BACKLOG: &str = "SELECT c.slug, COUNT(o.seq), MIN(o.created_at), \
    SUM(CASE WHEN o.first_tried_at <= $1 THEN 1 ELSE 0 END) \
    FROM fhir_servers s JOIN clinics c ON c.id = s.clinic_id \
    LEFT JOIN fhir_outbox o ON o.clinic_id = s.clinic_id GROUP BY c.slug";

impl Store {
    /// Claims due subjects as `lease` says.
    pub async fn claim_fhir_pushes(
        &self,
        lease: &Lease<'_>,
    ) -> Result<Vec<ClaimedPush>, StoreError> {
        let rows: Vec<ClaimedRow> = self.claim_outbox(&CLAIM, lease).await?;
        rows.into_iter().map(ClaimedPush::try_from).collect()
    }

    /// Records the tries of one round in one transaction (those whose lease is still held):
    /// the deliveries log, the subjects' rows, the servers' failing clocks, and the clinics'
    /// alerts once a subject has failed for `alert_after` (and when none has any more).
    pub async fn record_fhir_pushes(
        &self,
        token: &str,
        outcomes: &[PushOutcome],
        alert_after: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let _turn = self.background_turn().await;
        let mut sorted: Vec<&PushOutcome> = outcomes.iter().collect();
        // Row locks in subject order, as the event writer takes them.
        sorted.sort_by(|a, b| a.push.subject.cmp(&b.push.subject));
        let mut tx = self.write.begin().await?;
        let mut held = Vec::new();
        for outcome in sorted {
            if record_try(&mut tx, token, outcome).await? {
                held.push(outcome);
            }
        }
        // The log in the order the tries ended, so that its newest line comes first.
        held.sort_by_key(|outcome| outcome.tried.at);
        for outcome in held {
            log_try(&mut tx, outcome).await?;
        }
        let cut = now
            .checked_sub(jiff::SignedDuration::try_from(alert_after).unwrap_or_default())
            .unwrap_or(now);
        alert(&mut tx, cut, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The clinic's deliveries log, newest first, below `before` (an id of an earlier page),
    /// of one subject if given.
    pub async fn fhir_pushes(
        &self,
        clinic: &ClinicId,
        subject: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<PushPage, StoreError> {
        let rows: Vec<PushRow> = sqlx::query_as(&format!(
            "SELECT id, subject_kind, subject_id, entries, {TRY_COLUMNS} FROM fhir_pushes \
             WHERE clinic_id = $1 AND id < $2 AND ($3 = '' OR subject_id = $3) \
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(clinic.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(subject.unwrap_or_default())
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut items: Vec<PushRecord> = rows
            .into_iter()
            .map(PushRecord::try_from)
            .collect::<Result<_, _>>()?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = more.then(|| items.last().map(|r| r.id)).flatten();
        Ok(PushPage { items, next })
    }

    /// Each clinic with a server: its backlog, and how many of its subjects have failed since
    /// before `failing_before`.
    pub async fn fhir_backlog(
        &self,
        failing_before: Timestamp,
    ) -> Result<Vec<FhirBacklog>, StoreError> {
        let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(BACKLOG)
            .bind(millis(failing_before))
            .fetch_all(&self.read)
            .await?;
        rows.into_iter()
            .map(|(clinic_slug, waiting, oldest, failing)| {
                Ok(FhirBacklog {
                    clinic_slug,
                    waiting,
                    oldest_since: opt_timestamp(oldest)?,
                    failing: failing.unwrap_or(0),
                })
            })
            .collect()
    }
}

/// The subject's rows and its server's failing clock after one try; whether the try still held
/// its lease (else another pusher's try counts, not this one).
async fn record_try(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &str,
    outcome: &PushOutcome,
) -> Result<bool, StoreError> {
    let push = &outcome.push;
    let held = sqlx::query("DELETE FROM fhir_outbox WHERE seq = $1 AND lease_token = $2")
        .bind(push.seq)
        .bind(token)
        .execute(&mut **tx)
        .await?;
    if held.rows_affected() == 0 {
        return Ok(false);
    }
    if let PushResult::Retry { at } = outcome.result {
        sqlx::query(RETRY)
            .bind(push.clinic_id.as_str())
            .bind(push.subject.kind())
            .bind(push.subject.id())
            .bind(push.tries + 1)
            .bind(millis(at))
            .bind(millis(push.created_at))
            .bind(millis(push.changed_at))
            .bind(millis(push.first_tried_at.unwrap_or(outcome.tried.at)))
            .execute(&mut **tx)
            .await?;
    }
    let pushed = match outcome.result {
        PushResult::Pushed => 1,
        PushResult::Retry { .. } => 0,
        PushResult::Dropped => return Ok(true),
    };
    sqlx::query(
        "UPDATE fhir_servers SET failing_since = \
         CASE WHEN $3 = 1 THEN NULL ELSE COALESCE(failing_since, $2) END WHERE clinic_id = $1",
    )
    .bind(push.clinic_id.as_str())
    .bind(millis(outcome.tried.at))
    .bind(pushed)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// The try's line in the deliveries log.
async fn log_try(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    outcome: &PushOutcome,
) -> Result<(), StoreError> {
    let push = &outcome.push;
    let next = match outcome.result {
        PushResult::Retry { at } => Some(millis(at)),
        PushResult::Pushed | PushResult::Dropped => None,
    };
    let sql = format!(
        "INSERT INTO fhir_pushes (clinic_id, subject_kind, subject_id, entries, {TRY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    let query = sqlx::query(&sql)
        .bind(push.clinic_id.as_str())
        .bind(push.subject.kind())
        .bind(push.subject.id())
        .bind(outcome.entries);
    let result = outcome.result.as_str();
    bind_try(query, push.tries + 1, &outcome.tried, result, next)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Raises the alert of clinics with a subject failing since before `cut`, with an event each,
/// and clears (with an event) those of clinics with none any more.
async fn alert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cut: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut events = EventBatch::default();
    let raised: Vec<String> = sqlx::query_scalar(RAISE)
        .bind(millis(cut))
        .bind(millis(now))
        .fetch_all(&mut **tx)
        .await?;
    for clinic in raised {
        let (waiting, since): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(first_tried_at) FROM fhir_outbox WHERE clinic_id = $1",
        )
        .bind(&clinic)
        .fetch_one(&mut **tx)
        .await?;
        let event = Event::FhirPushFailing {
            failing_since: opt_timestamp(since)?.unwrap_or(cut),
            waiting: u64::try_from(waiting).unwrap_or(0),
        };
        events.add_for_clinic(&ClinicId::from_stored(clinic), now, &event)?;
    }
    let cleared: Vec<String> = sqlx::query_scalar(CLEAR)
        .bind(millis(cut))
        .fetch_all(&mut **tx)
        .await?;
    for clinic in cleared {
        let event = Event::FhirPushRecovered;
        events.add_for_clinic(&ClinicId::from_stored(clinic), now, &event)?;
    }
    events.write(tx).await
}
