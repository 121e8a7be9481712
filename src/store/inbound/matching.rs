//! Which clinic and patient a patient's message is for: the patient with that number among the
//! clinics that use the number it arrived on, else a new unknown contact.

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::super::{StoreError, millis, placeholders};
use super::{Arrival, ClinicScope};
use crate::domain::{ClinicId, LineType, PatientId, Phone, PhoneRegion};

/// The patient a message is from, as matched.
#[derive(Debug)]
pub(super) struct Match {
    pub(super) clinic: ClinicId,
    pub(super) patient: PatientId,
}

/// The clinics of `scope` that exist, oldest first.
async fn clinics_in(
    tx: &mut Transaction<'_, Any>,
    scope: &ClinicScope,
) -> Result<Vec<String>, StoreError> {
    let (slugs, negate) = match scope {
        ClinicScope::Only(slugs) if slugs.is_empty() => return Ok(Vec::new()),
        ClinicScope::Only(slugs) => (slugs, ""),
        ClinicScope::AllBut(slugs) => (slugs, "NOT"),
    };
    let filter = if slugs.is_empty() {
        String::new()
    } else {
        format!("WHERE slug {negate} IN ({})", placeholders(1, slugs.len()))
    };
    let sql = format!("SELECT id FROM clinics {filter} ORDER BY created_at, id");
    let mut query = sqlx::query_scalar::<_, String>(&sql);
    for slug in slugs {
        query = query.bind(slug.as_str());
    }
    Ok(query.fetch_all(&mut **tx).await?)
}

/// The patient who wrote: among the patients with the number in the clinics the message may be
/// for, the one a clinic last sent something to through the sender it arrived on, then the one
/// changed last. `None` when no clinic there knows the number.
async fn known_patient(
    tx: &mut Transaction<'_, Any>,
    from: &str,
    clinics: &[String],
    senders: &[String],
) -> Result<Option<Match>, StoreError> {
    let last_sent = if senders.is_empty() {
        "NULL".to_owned()
    } else {
        format!(
            "(SELECT MAX(a.created_at) FROM notifications n JOIN attempts a ON a.notification_id = n.id \
              WHERE n.clinic_id = p.clinic_id AND n.patient_id = p.id AND a.sender IN ({}))",
            placeholders(2 + clinics.len(), senders.len())
        )
    };
    let sql = format!(
        "SELECT p.id, p.clinic_id, {last_sent} AS last_sent, p.updated_at FROM patients p \
         WHERE p.phone = $1 AND p.clinic_id IN ({})",
        placeholders(2, clinics.len())
    );
    let mut query = sqlx::query_as::<_, (String, String, Option<i64>, i64)>(&sql).bind(from);
    for value in clinics.iter().chain(senders) {
        query = query.bind(value.as_str());
    }
    let best = query
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .max_by_key(|(_, _, last_sent, updated_at)| (*last_sent, *updated_at));
    Ok(best.map(|(patient, clinic, _, _)| Match {
        clinic: ClinicId::from_stored(clinic),
        patient: PatientId::from_stored(patient),
    }))
}

/// The patient the message is from; a number no clinic knows becomes an unknown contact of the
/// clinic the number serves, or, when it serves several, of the oldest of them. `None` when the
/// number serves no clinic at all.
pub(super) async fn match_patient(
    tx: &mut Transaction<'_, Any>,
    arrival: &Arrival<'_>,
) -> Result<Option<Match>, StoreError> {
    let clinics = clinics_in(tx, arrival.clinics).await?;
    if clinics.is_empty() {
        return Ok(None);
    }
    let from = &arrival.message.from;
    if let Some(found) = known_patient(tx, from, &clinics, arrival.senders).await? {
        return Ok(Some(found));
    }
    let clinic = ClinicId::from_stored(clinics[0].clone());
    let patient = unknown_contact(tx, &clinic, arrival, arrival.received_at).await?;
    Ok(Some(Match { clinic, patient }))
}

/// Creates (or finds, when another message created it first) the unknown contact for the number
/// a message came from: named by nobody, in the clinic's language and time zone.
async fn unknown_contact(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    arrival: &Arrival<'_>,
    now: Timestamp,
) -> Result<PatientId, StoreError> {
    let message = arrival.message;
    // The number as the provider wrote it is E.164; reading it gives its line type.
    let phone = Phone::parse(&message.from, PhoneRegion::ISRAEL)
        .unwrap_or_else(|_| Phone::from_stored(message.from.clone(), LineType::Unknown));
    let on_whatsapp = message.channel == medrelay_channels::ChannelKind::Whatsapp;
    let id: String = sqlx::query_scalar(
        "INSERT INTO patients (id, clinic_id, external_id, name, language, timezone, phone, phone_type, \
         whatsapp, email, channels, opted_out, quiet_hours, created_at, updated_at, unknown_contact) \
         SELECT $1, c.id, $3, '', c.default_language, c.timezone, $4, $5, $6, NULL, '', '', NULL, $7, $7, 1 \
         FROM clinics c WHERE c.id = $2 \
         ON CONFLICT (clinic_id, external_id) DO UPDATE SET updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(PatientId::generate().as_str())
    .bind(clinic.as_str())
    .bind(format!("unknown:{}", phone.as_str()))
    .bind(phone.as_str())
    .bind(phone.line().as_str())
    .bind(i64::from(on_whatsapp))
    .bind(millis(now))
    .fetch_one(&mut **tx)
    .await?;
    Ok(PatientId::from_stored(id))
}
