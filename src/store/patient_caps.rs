//! The patient caps, checked inside intake's group commit: which notifications of a batch a
//! patient's daily cap refuses, counted against what is already stored.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::notifications::NewNotification;
use super::{Backend, StoreError, in_list, in_list_len, millis, padded, timestamp};
use crate::domain::{Origin, Priority};
use crate::policy::{PatientCap, PatientCaps};

/// The notifications of `batch` some patient cap refuses (each priority has its own), with when
/// each patient's next place frees up.
pub(super) async fn refused_by_caps(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    batch: &[NewNotification],
    caps: PatientCaps,
) -> Result<HashMap<String, Timestamp>, StoreError> {
    let mut refused = HashMap::new();
    for priority in Priority::ALL.iter().copied() {
        if let Some(cap) = caps.for_priority(priority) {
            refused.extend(refused_by_cap(backend, tx, batch, priority, cap).await?);
        }
    }
    Ok(refused)
}

/// The notifications of `batch` the patient cap of `priority` refuses, with when each patient's
/// next place frees up. Counted per patient: the notifications of that priority accepted in the
/// last 24 hours that came in through the API (not auto or staff replies, which answer the patient),
/// are not appointment reminders or notices and were not cancelled, then those of this batch in
/// order, so two requests for one patient in one batch are counted one after the other. A replay
/// of an accepted request is neither counted nor refused.
async fn refused_by_cap(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    batch: &[NewNotification],
    priority: Priority,
    cap: PatientCap,
) -> Result<HashMap<String, Timestamp>, StoreError> {
    let counted: Vec<&NewNotification> = batch
        .iter()
        .filter(|n| n.priority == priority && n.appointment.is_none() && n.origin == Origin::Api)
        .collect();
    let Some(earliest) = counted.iter().map(|n| n.received_at).min() else {
        return Ok(HashMap::new());
    };
    let mut in_batch: BTreeMap<&str, u32> = BTreeMap::new();
    for n in &counted {
        *in_batch.entry(n.patient_id.as_str()).or_default() += 1;
    }
    if backend == Backend::Postgres {
        let patients: Vec<&str> = in_batch.keys().copied().collect();
        lock_patients(tx, &patients).await?;
    }
    let since = earliest - cap.window;
    let near_cap = near_the_cap(tx, &in_batch, since, priority, cap.limit).await?;
    let mut accepted = accepted_since(tx, &near_cap, since, priority).await?;
    let mut taken_keys = stored_keys(tx, &counted).await?;

    let mut refused = HashMap::new();
    for n in counted {
        let key = n
            .idempotency_key
            .as_ref()
            .map(|k| (n.clinic_id.as_str().to_owned(), k.clone()));
        if key.as_ref().is_some_and(|k| taken_keys.contains(k)) {
            continue;
        }
        let patient = accepted
            .entry(n.patient_id.as_str().to_owned())
            .or_default();
        match cap.admit(patient, n.received_at) {
            Ok(()) => {
                patient.push(n.received_at);
                taken_keys.extend(key);
            }
            Err(frees_at) => {
                refused.insert(n.id.as_str().to_owned(), frees_at);
            }
        }
    }
    Ok(refused)
}

/// Instances sharing a PostgreSQL database take turns per patient, so two of them cannot both
/// see the last free place. (SQLite has one writer at a time.)
async fn lock_patients(tx: &mut Transaction<'_, Any>, patients: &[&str]) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT id FROM patients WHERE id IN ({}) ORDER BY id FOR NO KEY UPDATE",
        in_list(1, patients.len())
    );
    let mut lock = sqlx::query(&sql);
    for patient in padded(patients) {
        lock = lock.bind(patient);
    }
    lock.fetch_all(&mut **tx).await?;
    Ok(())
}

/// The patients whom this batch's notifications (`in_batch` a patient) could take past their
/// cap of `limit`: those with so many stored since `since` that, with the batch's, they go past
/// it. Only their notifications are read one by one; everyone else's are admitted on a count, so
/// a batch reads a row per patient, not one per notification each patient had that day.
///
/// The count takes cancelled notifications in ([`Cancelled::CountedIn`]): it only sorts out who
/// needs the exact read, and a count too high sends a patient there, where a cancelled place is
/// given back.
async fn near_the_cap<'a>(
    tx: &mut Transaction<'_, Any>,
    in_batch: &BTreeMap<&'a str, u32>,
    since: Timestamp,
    priority: Priority,
    limit: u32,
) -> Result<Vec<&'a str>, StoreError> {
    let patients: Vec<&str> = in_batch.keys().copied().collect();
    let sql = counted_since(
        "patient_id, COUNT(*)",
        patients.len(),
        priority,
        Cancelled::CountedIn,
        "GROUP BY patient_id",
    );
    let mut query = sqlx::query_as::<_, (String, i64)>(&sql).bind(millis(since));
    for patient in padded(&patients) {
        query = query.bind(patient);
    }
    let stored: HashMap<String, i64> = query.fetch_all(&mut **tx).await?.into_iter().collect();
    Ok(in_batch
        .iter()
        .filter(|(patient, batch)| {
            let stored = stored.get(**patient).copied().unwrap_or_default();
            stored.saturating_add(i64::from(**batch)) > i64::from(limit)
        })
        .map(|(patient, _)| *patient)
        .collect())
}

/// When each of `patients` was sent a counted notification of `priority` after `since`.
async fn accepted_since(
    tx: &mut Transaction<'_, Any>,
    patients: &[&str],
    since: Timestamp,
    priority: Priority,
) -> Result<HashMap<String, Vec<Timestamp>>, StoreError> {
    let mut accepted: HashMap<String, Vec<Timestamp>> = HashMap::new();
    if patients.is_empty() {
        return Ok(accepted);
    }
    let sql = counted_since(
        "patient_id, created_at",
        patients.len(),
        priority,
        Cancelled::LeftOut,
        "",
    );
    let mut query = sqlx::query_as::<_, (String, i64)>(&sql).bind(millis(since));
    for patient in padded(patients) {
        query = query.bind(patient);
    }
    for (patient, created_at) in query.fetch_all(&mut **tx).await? {
        accepted
            .entry(patient)
            .or_default()
            .push(timestamp(created_at)?);
    }
    Ok(accepted)
}

/// Whether a read of the counted notifications leaves out the cancelled ones.
#[derive(Debug, Clone, Copy)]
enum Cancelled {
    /// Read from what was asked alone (`notification_requests`, its priority's partial index).
    CountedIn,
    /// Read with each notification's status (the view), at a probe of `notification_states` for
    /// every row read.
    LeftOut,
}

/// `SELECT <columns>` of the notifications of `priority` that count toward `patients`' caps (`$2`
/// onward) since `$1`, then `tail`.
fn counted_since(
    columns: &str,
    patients: usize,
    priority: Priority,
    cancelled: Cancelled,
    tail: &str,
) -> String {
    let (source, status) = match cancelled {
        Cancelled::CountedIn => ("notification_requests", ""),
        Cancelled::LeftOut => ("notifications", "AND status <> 'cancelled'"),
    };
    // The priority is written into the statement, not bound: each priority's count has a partial
    // index (`WHERE priority = 'normal' …`), and PostgreSQL's generic plan for a statement kept
    // prepared (sqlx keeps them) cannot use a partial index for a condition on a parameter. It
    // comes from our own enum, never from input.
    format!(
        "SELECT {columns} FROM {source} WHERE patient_id IN ({}) AND created_at > $1 \
         AND priority = '{}' AND appointment_id IS NULL AND origin = 'api' {status} {tail}",
        in_list(2, patients),
        priority.as_str()
    )
}

/// Which of these notifications' (clinic, idempotency key) pairs are already stored.
async fn stored_keys(
    tx: &mut Transaction<'_, Any>,
    batch: &[&NewNotification],
) -> Result<HashSet<(String, String)>, StoreError> {
    let keys: BTreeSet<&str> = batch
        .iter()
        .filter_map(|n| n.idempotency_key.as_deref())
        .collect();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let clinics: BTreeSet<&str> = batch.iter().map(|n| n.clinic_id.as_str()).collect();
    let sql = format!(
        "SELECT clinic_id, idempotency_key FROM notification_requests \
         WHERE clinic_id IN ({}) AND idempotency_key IN ({})",
        in_list(1, clinics.len()),
        in_list(1 + in_list_len(clinics.len()), keys.len())
    );
    let clinics: Vec<&str> = clinics.into_iter().collect();
    let keys: Vec<&str> = keys.into_iter().collect();
    let mut query = sqlx::query_as::<_, (String, String)>(&sql);
    for value in padded(&clinics).chain(padded(&keys)) {
        query = query.bind(value);
    }
    Ok(query.fetch_all(&mut **tx).await?.into_iter().collect())
}
