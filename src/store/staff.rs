//! Staff accounts and their console sessions. Passwords arrive here already hashed (argon2id,
//! by the console), and session tokens as their SHA-256: nothing stored here signs anyone in.

use jiff::{SignedDuration, Timestamp};

use super::clinics::{ClinicRow, role};
use super::{Store, StoreError, millis, timestamp};
use crate::domain::{Clinic, ClinicId, PatientId, StaffId, StaffMember, UiLanguage};
use crate::store::ApiKeyRole;

/// A person to add to a clinic.
#[derive(Debug)]
pub struct NewStaffMember<'a> {
    pub clinic: &'a ClinicId,
    /// Lower-cased by the caller.
    pub email: &'a str,
    pub name: &'a str,
    pub role: ApiKeyRole,
    pub language: UiLanguage,
    pub password_hash: &'a str,
}

/// What a sign-in checks: the account, its secrets and its lock.
#[derive(Debug)]
pub struct SignInRecord {
    pub member: StaffMember,
    pub password_hash: String,
    pub totp_secret: Option<String>,
    pub locked_until: Option<Timestamp>,
}

/// A session opened by a sign-in whose password was right.
#[derive(Debug)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub member: &'a StaffMember,
    pub csrf_token: &'a str,
    pub awaiting_second_factor: bool,
    pub expires_at: Timestamp,
}

/// A signed-in browser as a request finds it.
#[derive(Debug, Clone)]
pub struct StaffSession {
    pub member: StaffMember,
    pub clinic: Clinic,
    pub csrf_token: String,
    pub awaiting_second_factor: bool,
    pub last_patient: Option<PatientId>,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A failed sign-in's limits: this many in a row lock the account for `lock_for`.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    pub after: u32,
    pub lock_for: SignedDuration,
}

const MEMBER_COLUMNS: &str = "s.id AS staff_id, s.clinic_id AS staff_clinic, s.email, s.name AS staff_name, \
     s.role, s.language, CAST(CASE WHEN s.totp_secret IS NULL THEN 0 ELSE 1 END AS BIGINT) AS totp_on, s.disabled_at, s.created_at";

#[derive(sqlx::FromRow)]
struct MemberRow {
    staff_id: String,
    staff_clinic: String,
    email: String,
    staff_name: String,
    role: String,
    language: String,
    totp_on: i64,
    disabled_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<MemberRow> for StaffMember {
    type Error = StoreError;

    fn try_from(row: MemberRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: StaffId::from_stored(row.staff_id),
            clinic: ClinicId::from_stored(row.staff_clinic),
            email: row.email,
            name: row.staff_name,
            role: role(&row.role)?,
            language: UiLanguage::parse(&row.language)
                .ok_or_else(|| StoreError::Corrupt(format!("language {}", row.language)))?,
            second_factor: row.totp_on != 0,
            disabled: row.disabled_at.is_some(),
            created_at: timestamp(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SignInRow {
    #[sqlx(flatten)]
    member: MemberRow,
    password_hash: String,
    totp_secret: Option<String>,
    locked_until: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    member: MemberRow,
    #[sqlx(flatten)]
    clinic: ClinicRow,
    csrf_token: String,
    awaiting_second_factor: i64,
    last_patient_id: Option<String>,
    last_seen_at: i64,
    expires_at: i64,
}

impl Store {
    /// Adds a person to their clinic. An address already in use is a conflict, whichever clinic
    /// holds it: the address alone names the account at sign-in.
    pub async fn add_staff_member(
        &self,
        new: NewStaffMember<'_>,
        now: Timestamp,
    ) -> Result<StaffMember, StoreError> {
        let id = StaffId::generate();
        sqlx::query(
            "INSERT INTO staff_members (id, clinic_id, email, name, role, language, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.as_str())
        .bind(new.clinic.as_str())
        .bind(new.email)
        .bind(new.name)
        .bind(new.role.as_str())
        .bind(new.language.as_str())
        .bind(new.password_hash)
        .bind(millis(now))
        .execute(&self.write)
        .await
        .map_err(|e| StoreError::from(e).on_unique("a staff account with this email"))?;
        Ok(StaffMember {
            id,
            clinic: new.clinic.clone(),
            email: new.email.to_owned(),
            name: new.name.to_owned(),
            role: new.role,
            language: new.language,
            second_factor: false,
            disabled: false,
            created_at: now,
        })
    }

    /// The clinic's people, by name.
    pub async fn staff_members(&self, clinic: &ClinicId) -> Result<Vec<StaffMember>, StoreError> {
        let rows = sqlx::query_as::<_, MemberRow>(&format!(
            "SELECT {MEMBER_COLUMNS} FROM staff_members s WHERE s.clinic_id = $1 ORDER BY s.name, s.id"
        ))
        .bind(clinic.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(StaffMember::try_from).collect()
    }

    /// The account an address signs in to, with what the check needs.
    pub async fn sign_in_record(&self, email: &str) -> Result<Option<SignInRecord>, StoreError> {
        let row = sqlx::query_as::<_, SignInRow>(&format!(
            "SELECT {MEMBER_COLUMNS}, s.password_hash, s.totp_secret, s.locked_until \
             FROM staff_members s WHERE s.email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.write)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SignInRecord {
            member: row.member.try_into()?,
            password_hash: row.password_hash,
            totp_secret: row.totp_secret,
            locked_until: row.locked_until.map(timestamp).transpose()?,
        }))
    }

    /// Counts a failed sign-in; the one that reaches the limit locks the account. Whether it is
    /// locked now.
    pub async fn record_failed_sign_in(
        &self,
        member: &StaffId,
        lockout: Lockout,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let until = now.saturating_add(lockout.lock_for).unwrap_or(now);
        let (locked,): (Option<i64>,) = sqlx::query_as(
            "UPDATE staff_members SET failed_sign_ins = failed_sign_ins + 1, \
             locked_until = CASE WHEN failed_sign_ins + 1 >= $2 THEN $3 ELSE locked_until END \
             WHERE id = $1 RETURNING locked_until",
        )
        .bind(member.as_str())
        .bind(i64::from(lockout.after))
        .bind(millis(until))
        .fetch_one(&self.write)
        .await?;
        Ok(locked.is_some_and(|at| at > millis(now)))
    }

    /// A good sign-in clears the count of failures and any lock that ran out.
    pub async fn record_good_sign_in(&self, member: &StaffId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE staff_members SET failed_sign_ins = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(member.as_str())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn open_staff_session(
        &self,
        new: NewSession<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, clinic_id, staff_id, csrf_token, awaiting_second_factor, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(new.token_hash)
        .bind(new.member.clinic.as_str())
        .bind(new.member.id.as_str())
        .bind(new.csrf_token)
        .bind(i64::from(new.awaiting_second_factor))
        .bind(millis(now))
        .bind(millis(new.expires_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The session a cookie's token opened, with its person and clinic; `None` when there is no
    /// such session or its person's account was disabled.
    pub async fn staff_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<StaffSession>, StoreError> {
        let row = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {MEMBER_COLUMNS}, c.id, c.slug, c.name, c.timezone, c.default_language, \
             c.default_channels, c.phone, c.phone_region, x.csrf_token, x.awaiting_second_factor, \
             x.last_patient_id, x.last_seen_at, x.expires_at \
             FROM staff_sessions x JOIN staff_members s ON s.id = x.staff_id \
             JOIN clinics c ON c.id = x.clinic_id \
             WHERE x.token_hash = $1 AND s.disabled_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.write)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StaffSession {
            member: row.member.try_into()?,
            clinic: row.clinic.try_into()?,
            csrf_token: row.csrf_token,
            awaiting_second_factor: row.awaiting_second_factor != 0,
            last_patient: row.last_patient_id.map(PatientId::from_stored),
            last_seen_at: timestamp(row.last_seen_at)?,
            expires_at: timestamp(row.expires_at)?,
        }))
    }

    /// Marks the session used now, which keeps it from idling out.
    pub async fn touch_staff_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff_sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(millis(now))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The second factor was proven: the session opens every page from now on.
    pub async fn pass_second_factor(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff_sessions SET awaiting_second_factor = 0 WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Remembers the patient this session last sent to, for the next send's check.
    pub async fn remember_patient(
        &self,
        token_hash: &str,
        patient: &PatientId,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff_sessions SET last_patient_id = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(patient.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Signs a browser out: its token opens nothing any more.
    pub async fn end_staff_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Signs a person out everywhere: their password changed or their account was disabled.
    pub async fn end_sessions_of(&self, member: &StaffId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1")
            .bind(member.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Sets a person's password (already hashed) and clears their lock.
    pub async fn set_staff_password(
        &self,
        clinic: &ClinicId,
        member: &StaffId,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE staff_members SET password_hash = $3, failed_sign_ins = 0, locked_until = NULL \
             WHERE clinic_id = $1 AND id = $2",
        )
        .bind(clinic.as_str())
        .bind(member.as_str())
        .bind(password_hash)
        .execute(&self.write)
        .await?;
        found(done.rows_affected())
    }

    /// Turns an account off (`true`) or on again; a disabled account's sessions end.
    pub async fn set_staff_disabled(
        &self,
        clinic: &ClinicId,
        member: &StaffId,
        disabled: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE staff_members SET disabled_at = $3 WHERE clinic_id = $1 AND id = $2",
        )
        .bind(clinic.as_str())
        .bind(member.as_str())
        .bind(disabled.then(|| millis(now)))
        .execute(&self.write)
        .await?;
        found(done.rows_affected())?;
        if disabled {
            self.end_sessions_of(member).await?;
        }
        Ok(())
    }

    /// The console's language for this person.
    pub async fn set_staff_language(
        &self,
        member: &StaffId,
        language: UiLanguage,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff_members SET language = $2 WHERE id = $1")
            .bind(member.as_str())
            .bind(language.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Keeps `secret` as the one proposed on the set-up page, until a code proves it.
    pub async fn propose_totp_secret(
        &self,
        member: &StaffId,
        secret: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff_members SET totp_pending = $2 WHERE id = $1")
            .bind(member.as_str())
            .bind(secret)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The secret proposed to the person, if any.
    pub async fn proposed_totp_secret(
        &self,
        member: &StaffId,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT totp_pending FROM staff_members WHERE id = $1")
                .bind(member.as_str())
                .fetch_optional(&self.write)
                .await?;
        Ok(row.and_then(|(secret,)| secret))
    }

    /// The second factor on with the proposed secret (`Some`), or off (`None`).
    pub async fn set_totp_secret(
        &self,
        member: &StaffId,
        secret: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE staff_members SET totp_secret = $2, totp_pending = NULL, totp_last_step = NULL \
             WHERE id = $1",
        )
        .bind(member.as_str())
        .bind(secret)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Takes the TOTP time step `step` as used; `false` when it (or a later one) already was,
    /// so a code seen over someone's shoulder cannot be used again.
    pub async fn use_totp_step(&self, member: &StaffId, step: u64) -> Result<bool, StoreError> {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "UPDATE staff_members SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(member.as_str())
        .bind(step)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn found(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
