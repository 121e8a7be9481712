//! The outbox writer: the subjects (notifications, patients' messages) a transaction changed,
//! queued for a push in that transaction, one statement for them all. A subject already waiting
//! (queued and not yet held by a pusher) is not queued again: its waiting row stands for every
//! change, since the pusher reads the records when it sends. A clinic without an enabled server
//! queues nothing.
//!
//! On PostgreSQL the upsert of a waiting row takes its row lock, so a pusher cannot claim it
//! until the change commits (its claim skips locked rows); a pusher that claimed it first has
//! taken it out of the waiting slot (`lease_token` set), and the change gets a new row.

use std::collections::BTreeMap;

use sqlx::{Any, Transaction};

use crate::domain::{ClinicId, FhirSubject, PatientId};
use crate::store::StoreError;
use crate::store::rows::{columns, write_rows};

/// Adds to the subject's waiting row if it has one (`fhir_outbox_waiting`).
const INTO_WAITING_ROW: &str = " ON CONFLICT (clinic_id, subject_kind, subject_id) \
    WHERE lease_token IS NULL DO UPDATE SET changed_at = excluded.changed_at";

/// `WHERE true`: SQLite reads an `ON` after a join as the join's, unless a `WHERE` comes first.
/// In subject order, so concurrent writers take the rows' locks in one order. The notification's
/// clinic is read from `notification_requests`, not the `notifications` view, which SQLite would
/// build whole for the `LEFT JOIN` (booking_webhooks/outbox.rs says why).
const ENQUEUE: &str = "WITH v ({columns}) AS ({rows}) \
    INSERT INTO fhir_outbox (clinic_id, subject_kind, subject_id, tries, next_attempt_at, \
        created_at, changed_at) \
    SELECT s.clinic_id, v.subject_kind, v.subject_id, 0, v.at, v.at, v.at FROM v \
    LEFT JOIN notification_requests n ON v.subject_kind = 'notification' AND n.id = v.subject_id \
    LEFT JOIN inbound_messages i ON v.subject_kind = 'inbound_message' AND i.id = v.subject_id \
    JOIN fhir_servers s ON s.clinic_id = COALESCE(n.clinic_id, i.clinic_id) AND s.enabled = 1 \
    WHERE true ORDER BY v.subject_kind, v.subject_id";

/// Every record of one patient: `$1` clinic, `$2` patient, `$3` when.
const ENQUEUE_PATIENT: &str = "INSERT INTO fhir_outbox (clinic_id, subject_kind, subject_id, \
        tries, next_attempt_at, created_at, changed_at) \
    SELECT s.clinic_id, x.subject_kind, x.subject_id, 0, $3, $3, $3 FROM \
        (SELECT 'notification' AS subject_kind, id AS subject_id FROM notifications \
            WHERE clinic_id = $1 AND patient_id = $2 \
         UNION ALL SELECT 'inbound_message', id FROM inbound_messages \
            WHERE clinic_id = $1 AND patient_id = $2) x \
    JOIN fhir_servers s ON s.clinic_id = $1 AND s.enabled = 1 \
    WHERE true ORDER BY x.subject_kind, x.subject_id";

columns! {
    struct SubjectRow<'a> {
        subject_kind: &'a str,
        subject_id: &'a str,
        at: i64,
    }
}

/// Queues each subject once, as changed at the latest of its instants (unix ms).
pub(crate) async fn enqueue_fhir_pushes(
    tx: &mut Transaction<'_, Any>,
    changes: impl IntoIterator<Item = (FhirSubject, i64)>,
) -> Result<(), StoreError> {
    let mut latest: BTreeMap<FhirSubject, i64> = BTreeMap::new();
    for (subject, at) in changes {
        let entry = latest.entry(subject).or_insert(at);
        *entry = (*entry).max(at);
    }
    let rows: Vec<SubjectRow> = latest
        .iter()
        .map(|(subject, at)| SubjectRow {
            subject_kind: subject.kind(),
            subject_id: subject.id(),
            at: *at,
        })
        .collect();
    let sql = format!("{ENQUEUE}{INTO_WAITING_ROW}");
    write_rows(tx, &sql, &[], &rows).await?;
    Ok(())
}

/// Queues every notification and message of `patient` (their texts were erased or redacted).
pub(crate) async fn enqueue_patient_fhir_pushes(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    patient: &PatientId,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(&format!("{ENQUEUE_PATIENT}{INTO_WAITING_ROW}"))
        .bind(clinic.as_str())
        .bind(patient.as_str())
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
