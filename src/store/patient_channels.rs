//! A patient's channel choice as staff change it in the console, and how the patient changed it
//! themselves (a stop keyword): the same patient record `PUT`/`PATCH /v1/patients` write.

use std::collections::HashMap;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use super::{PatientUpsert, Store, StoreError, parse_stored, timestamp};
use crate::domain::{ClinicId, Patient, PatientId};

/// The stored patient written back whole, for an edit that changes some fields: what a merge
/// patch that names none of them would write.
impl From<Patient> for PatientUpsert {
    fn from(p: Patient) -> Self {
        Self {
            external_id: p.external_id,
            name: p.name,
            language: p.language,
            timezone: p.timezone,
            phone: p.phone,
            whatsapp: p.whatsapp,
            email: p.email,
            channels: p.channels,
            opted_out: p.opted_out,
            quiet_hours: p.quiet_hours,
            birth_date: p.birth_date,
        }
    }
}

impl Store {
    /// The channels the patient closed with a stop keyword and has not opened again with a start
    /// keyword since, with when they closed it.
    pub async fn opted_out_by_message(
        &self,
        clinic: &ClinicId,
        patient: &PatientId,
    ) -> Result<HashMap<ChannelKind, Timestamp>, StoreError> {
        let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT data, at FROM events WHERE patient_id = $1 AND clinic_id = $2 \
             AND kind = 'patient_message' ORDER BY id",
        )
        .bind(patient.as_str())
        .bind(clinic.as_str())
        .fetch_all(&self.read)
        .await?;
        let mut closed = HashMap::new();
        for (data, at) in rows {
            let Some(data) = data else { continue };
            let value: serde_json::Value = serde_json::from_str(&data)
                .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?;
            let (Some(kind), Some(channel)) = (value["type"].as_str(), value["channel"].as_str())
            else {
                continue;
            };
            let channel: ChannelKind = parse_stored(channel, "channel")?;
            match kind {
                "opted_out_by_message" => {
                    closed.insert(channel, timestamp(at)?);
                }
                "opted_in_by_message" => {
                    closed.remove(&channel);
                }
                _ => {}
            }
        }
        Ok(closed)
    }
}
