use std::collections::HashMap;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use sqlx::Any;

use super::{
    Backend, Store, StoreError, for_update, in_list, in_list_len, join_channels, millis,
    opt_timestamp, padded, parse_channels, timestamp,
};
use crate::domain::{
    ClinicId, EmailAddress, Language, LineType, Patient, PatientId, Phone, PhoneRegion, QuietHours,
    TimeZoneName, WindowText,
};

/// A patient as the booking system describes it, already validated.
#[derive(Debug, Clone)]
pub struct PatientUpsert {
    pub external_id: String,
    pub name: String,
    pub language: Language,
    pub timezone: TimeZoneName,
    pub phone: Option<Phone>,
    pub whatsapp: bool,
    pub email: Option<EmailAddress>,
    pub channels: Vec<ChannelKind>,
    pub opted_out: Vec<ChannelKind>,
    pub quiet_hours: Option<QuietHours>,
    pub birth_date: Option<jiff::civil::Date>,
}

const PATIENT_COLUMNS: &str = "id, clinic_id, external_id, name, language, timezone, phone, phone_type, \
                               whatsapp, email, channels, opted_out, quiet_hours, created_at, updated_at, \
                               birth_date, erased_at";

/// Quiet hours are stored as `HH:MM-HH:MM`.
fn quiet_hours_to_stored(quiet: QuietHours) -> String {
    format!("{}-{}", quiet.start, quiet.end)
}

fn quiet_hours_from_stored(stored: &str) -> Option<QuietHours> {
    let (start, end) = stored.split_once('-')?;
    let text = WindowText {
        start: start.to_owned(),
        end: end.to_owned(),
    };
    QuietHours::parse(&text, "quiet_hours").ok()
}

fn stored_phone(e164: String, line: Option<&str>) -> Result<Phone, StoreError> {
    let line = match line {
        Some(text) => LineType::parse(text)
            .ok_or_else(|| StoreError::Corrupt(format!("phone type {text}")))?,
        None => LineType::Unknown,
    };
    Ok(Phone::from_stored(e164, line))
}

#[derive(sqlx::FromRow)]
struct PatientRow {
    id: String,
    clinic_id: String,
    external_id: String,
    name: String,
    language: String,
    timezone: String,
    phone: Option<String>,
    /// `mobile`, `landline` or `unknown`; NULL for numbers stored before line types were kept.
    phone_type: Option<String>,
    /// 0 or 1: the Any driver decodes no booleans from SQLite's integers.
    whatsapp: i64,
    email: Option<String>,
    channels: String,
    opted_out: String,
    quiet_hours: Option<String>,
    created_at: i64,
    updated_at: i64,
    /// `YYYY-MM-DD`.
    birth_date: Option<String>,
    erased_at: Option<i64>,
}

impl TryFrom<PatientRow> for Patient {
    type Error = StoreError;

    fn try_from(row: PatientRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
        Ok(Self {
            id: PatientId::from_stored(row.id),
            clinic_id: ClinicId::from_stored(row.clinic_id),
            external_id: row.external_id,
            name: row.name,
            language: Language::parse(&row.language).ok_or_else(|| corrupt("language"))?,
            timezone: TimeZoneName::parse(&row.timezone).ok_or_else(|| corrupt("time zone"))?,
            phone: row
                .phone
                .map(|p| stored_phone(p, row.phone_type.as_deref()))
                .transpose()?,
            whatsapp: row.whatsapp != 0,
            email: row
                .email
                .map(|e| EmailAddress::parse(&e).ok_or_else(|| corrupt("email")))
                .transpose()?,
            channels: parse_channels(&row.channels)?,
            opted_out: parse_channels(&row.opted_out)?,
            quiet_hours: row
                .quiet_hours
                .map(|q| quiet_hours_from_stored(&q).ok_or_else(|| corrupt("quiet hours")))
                .transpose()?,
            created_at: timestamp(row.created_at)?,
            updated_at: timestamp(row.updated_at)?,
            birth_date: row
                .birth_date
                .map(|d| d.parse().map_err(|_| corrupt("birth date")))
                .transpose()?,
            erased_at: opt_timestamp(row.erased_at)?,
        })
    }
}

/// Writes the whole patient (creating it when its external id is new) through `executor`.
async fn write_patient<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    clinic: &ClinicId,
    patient: PatientUpsert,
    now: Timestamp,
) -> Result<Patient, StoreError> {
    sqlx::query_as::<_, PatientRow>(&format!(
        "INSERT INTO patients ({PATIENT_COLUMNS}, name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, NULL, $16) \
         ON CONFLICT (clinic_id, external_id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key, language = excluded.language, \
         timezone = excluded.timezone, phone = excluded.phone, phone_type = excluded.phone_type, whatsapp = excluded.whatsapp, \
         email = excluded.email, channels = excluded.channels, opted_out = excluded.opted_out, \
         quiet_hours = excluded.quiet_hours, updated_at = excluded.updated_at, birth_date = excluded.birth_date, erased_at = NULL \
         RETURNING {PATIENT_COLUMNS}"
    ))
    .bind(PatientId::generate().as_str())
    .bind(clinic.as_str())
    .bind(&patient.external_id)
    .bind(&patient.name)
    .bind(patient.language.as_str())
    .bind(patient.timezone.as_str())
    .bind(patient.phone.as_ref().map(|p| p.as_str().to_owned()))
    .bind(patient.phone.as_ref().map(|p| p.line().as_str()))
    .bind(i64::from(patient.whatsapp))
    .bind(patient.email.as_ref().map(|e| e.as_str().to_owned()))
    .bind(join_channels(&patient.channels))
    .bind(join_channels(&patient.opted_out))
    .bind(patient.quiet_hours.map(quiet_hours_to_stored))
    .bind(millis(now))
    .bind(patient.birth_date.map(|d| d.to_string()))
    .bind(name_key(&patient.name))
    .fetch_one(executor)
    .await?
    .try_into()
}

/// The patient `id` inside `tx`, held against other changes until `tx` ends (PostgreSQL;
/// SQLite has one writer at a time).
pub(super) async fn locked_patient(
    backend: super::Backend,
    tx: &mut sqlx::Transaction<'_, Any>,
    id: &PatientId,
) -> Result<Patient, StoreError> {
    let lock = for_update(backend);
    sqlx::query_as::<_, PatientRow>(&format!(
        "SELECT {PATIENT_COLUMNS} FROM patients WHERE id = $1{lock}"
    ))
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// Stores the channels a patient opted out of, as a message of theirs changed them.
pub(super) async fn set_opted_out(
    tx: &mut sqlx::Transaction<'_, Any>,
    patient: &PatientId,
    opted_out: &[ChannelKind],
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE patients SET opted_out = $2, updated_at = $3 WHERE id = $1")
        .bind(patient.as_str())
        .bind(join_channels(opted_out))
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Creates or replaces the patient with this external id; returns it and whether it is new.
    pub async fn upsert_patient(
        &self,
        clinic: &ClinicId,
        patient: PatientUpsert,
        now: Timestamp,
    ) -> Result<(Patient, bool), StoreError> {
        let stored = write_patient(&self.write, clinic, patient, now).await?;
        let created = stored.created_at == stored.updated_at && stored.created_at == now;
        Ok((stored, created))
    }

    /// Changes a patient in one transaction: `edit` gets the patient as stored, held against
    /// other changes until this one is written, and returns the whole new record or refuses
    /// (the inner `Err`), in which case nothing changes.
    pub async fn edit_patient<E>(
        &self,
        clinic: &ClinicId,
        external_id: &str,
        now: Timestamp,
        edit: impl FnOnce(Patient) -> Result<PatientUpsert, E>,
    ) -> Result<Result<Patient, E>, StoreError> {
        let lock = for_update(self.backend);
        let mut tx = self.write.begin().await?;
        let current: Patient = sqlx::query_as::<_, PatientRow>(&format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE clinic_id = $1 AND external_id = $2{lock}"
        ))
        .bind(clinic.as_str())
        .bind(external_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()?;
        let changed = match edit(current) {
            Ok(changed) => changed,
            Err(refused) => return Ok(Err(refused)),
        };
        let stored = write_patient(&mut *tx, clinic, changed, now).await?;
        tx.commit().await?;
        Ok(Ok(stored))
    }

    pub async fn patient_by_external_id(
        &self,
        clinic: &ClinicId,
        external_id: &str,
    ) -> Result<Patient, StoreError> {
        sqlx::query_as::<_, PatientRow>(&format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE clinic_id = $1 AND external_id = $2"
        ))
        .bind(clinic.as_str())
        .bind(external_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()
    }

    /// The patients named by `(clinic, external id)`, in the order asked; `None` where the clinic
    /// has no such patient. One statement for every key of a burst of requests (intake's
    /// `patients` reader), each chunk [`padded`] so that few distinct statements exist to
    /// prepare.
    pub async fn patients_by_external_ids(
        &self,
        keys: &[(ClinicId, String)],
    ) -> Result<Vec<Option<Patient>>, StoreError> {
        const MOST_PER_STATEMENT: usize = 256;
        let mut found: HashMap<(String, String), Patient> = HashMap::new();
        for chunk in keys.chunks(MOST_PER_STATEMENT) {
            let sql = patients_by_keys_sql(self.backend, in_list_len(chunk.len()));
            // PostgreSQL plans it for each call (see `patients_by_keys_sql`).
            let mut query =
                sqlx::query_as::<_, PatientRow>(&sql).persistent(self.backend == Backend::Sqlite);
            for (clinic, external_id) in padded(&chunk.iter().collect::<Vec<_>>()) {
                query = query.bind(clinic.as_str()).bind(external_id.as_str());
            }
            for row in query.fetch_all(&self.read).await? {
                let patient = Patient::try_from(row)?;
                let key = (
                    patient.clinic_id.as_str().to_owned(),
                    patient.external_id.clone(),
                );
                found.insert(key, patient);
            }
        }
        Ok(keys
            .iter()
            .map(|(clinic, external_id)| {
                found
                    .get(&(clinic.as_str().to_owned(), external_id.clone()))
                    .cloned()
            })
            .collect())
    }

    pub(crate) async fn patients_by_ids(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, Patient>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE id IN ({})",
            in_list(1, ids.len())
        );
        let mut query = sqlx::query_as::<_, PatientRow>(&sql);
        for id in padded(ids) {
            query = query.bind(id);
        }
        query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(|row| Patient::try_from(row).map(|p| (p.id.as_str().to_owned(), p)))
            .collect()
    }
}

/// The patients of `count` `(clinic, external id)` pairs bound in turn. SQLite takes the unique
/// index for each term of an `OR`. PostgreSQL would answer those with a bitmap scan of as many
/// arms (twice the cost of one lookup each), so there each pair is looked up on its own
/// (`LATERAL`, fenced by `OFFSET 0` so it is not folded into a join that may read the whole
/// table), planned for the call: a plan cached while `patients` was small would read it all.
fn patients_by_keys_sql(backend: Backend, count: usize) -> String {
    match backend {
        Backend::Sqlite => {
            let conditions = (0..count)
                .map(|i| {
                    format!(
                        "(clinic_id = ${} AND external_id = ${})",
                        2 * i + 1,
                        2 * i + 2
                    )
                })
                .collect::<Vec<_>>()
                .join(" OR ");
            format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE {conditions}")
        }
        Backend::Postgres => {
            let values = (0..count)
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "WITH v (clinic_id, external_id) AS (VALUES {values}) SELECT p.* FROM v \
                 CROSS JOIN LATERAL (SELECT {PATIENT_COLUMNS} FROM patients \
                 WHERE clinic_id = v.clinic_id AND external_id = v.external_id OFFSET 0) p"
            )
        }
    }
}

/// What `GET /v1/patients` looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientSearch {
    /// Every patient of the clinic.
    All,
    /// Names holding this text; Latin letters in any case.
    Name(String),
    /// Numbers holding these digits, or exactly this number when it reads as one.
    Phone {
        e164: Option<String>,
        digits: String,
    },
}

/// Fewer digits than this match too many numbers to be a search.
const FEWEST_PHONE_DIGITS: usize = 3;

impl PatientSearch {
    /// What a typed `q` looks for (the API's `?q=`, the console's search box): a number when it
    /// has digits and no letters, else a name. Numbers are read in the clinic's `region`.
    pub fn for_text(q: &str, region: PhoneRegion) -> Self {
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        let looks_like_number = !q.chars().any(char::is_alphabetic)
            && digits.trim_start_matches('0').len() >= FEWEST_PHONE_DIGITS;
        if !looks_like_number {
            return Self::Name(q.to_owned());
        }
        Self::Phone {
            e164: Phone::parse(q, region).ok().map(|p| p.as_str().to_owned()),
            // A number typed with its trunk prefix (`054…`) is stored without it (`+97254…`).
            digits: digits.trim_start_matches('0').to_owned(),
        }
    }
}

/// One page of the clinic's patients, in the order of their external ids.
#[derive(Debug, Clone)]
pub struct PatientFilter {
    pub search: PatientSearch,
    pub limit: u32,
    /// The last external id of the page before.
    pub after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PatientPage {
    pub items: Vec<Patient>,
    /// The external id the next page starts after, when there is one.
    pub next: Option<String>,
}

/// `LIKE` text matching `text` anywhere, with `\` escaping the pattern's own characters.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A name as search compares it: Unicode lowercase, so `Álvarez` and `álvarez`, `Ёлка` and
/// `ёлка` are one.
fn name_key(name: &str) -> String {
    name.to_lowercase()
}

impl PatientSearch {
    /// The condition, with placeholders from `$first`, and the values they take.
    fn condition(&self, first: usize) -> (String, Vec<String>) {
        match self {
            Self::All => (String::new(), Vec::new()),
            // Both sides folded by Rust, not by the database: SQLite's LOWER folds ASCII only.
            Self::Name(text) => (
                format!(" AND name_key LIKE ${first} ESCAPE '\\'"),
                vec![contains_pattern(&name_key(text))],
            ),
            Self::Phone { e164, digits } => (
                format!(
                    " AND phone IS NOT NULL AND (phone = ${first} OR REPLACE(phone, '+', '') LIKE ${})",
                    first + 1
                ),
                vec![e164.clone().unwrap_or_default(), format!("%{digits}%")],
            ),
        }
    }
}

impl Store {
    /// A page of the clinic's patients that match `filter`, erased ones included.
    pub async fn patients(
        &self,
        clinic: &ClinicId,
        filter: &PatientFilter,
    ) -> Result<PatientPage, StoreError> {
        let (search, values) = filter.search.condition(2);
        let after = filter.after.as_ref().map_or(String::new(), |_| {
            format!(" AND external_id > ${}", values.len() + 2)
        });
        let sql = format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE clinic_id = $1{search}{after} \
             ORDER BY external_id LIMIT {}",
            u64::from(filter.limit) + 1
        );
        let mut query = sqlx::query_as::<_, PatientRow>(&sql).bind(clinic.as_str());
        for value in values.iter().chain(&filter.after) {
            query = query.bind(value.as_str());
        }
        let mut items = query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(Patient::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > filter.limit as usize {
            items.truncate(filter.limit as usize);
            items.last().map(|p| p.external_id.clone())
        } else {
            None
        };
        Ok(PatientPage { items, next })
    }
}
