//! Adding staff accounts: the one rule set the command line (`medrelay staff add`) and the
//! console's settings page share.

use jiff::Timestamp;

use super::password::{self, PasswordError};
use crate::domain::{ClinicId, EmailAddress, StaffMember, UiLanguage};
use crate::store::{ApiKeyRole, NewStaffMember, Store, StoreError};

/// A person to add, as typed.
#[derive(Debug)]
pub struct NewAccount<'a> {
    pub clinic: &'a ClinicId,
    pub email: &'a str,
    pub name: &'a str,
    pub role: ApiKeyRole,
    pub language: UiLanguage,
    pub password: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("email {}", EmailAddress::RULE)]
    Email,
    #[error("name must be 1 to 100 characters on one line")]
    Name,
    #[error("role must be staff or admin: booking keys are for systems, not people")]
    Role,
    #[error("password: {0}")]
    Password(#[from] PasswordError),
    #[error("a staff account with this email already exists")]
    Taken,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => Self::Taken,
            other => Self::Store(other),
        }
    }
}

/// Checks and stores a new account; its password is kept only as an argon2id hash.
pub async fn add_member(
    store: &Store,
    account: NewAccount<'_>,
    now: Timestamp,
) -> Result<StaffMember, AccountError> {
    let email = account.email.trim().to_lowercase();
    EmailAddress::parse(&email).ok_or(AccountError::Email)?;
    let name = account.name.trim();
    if name.is_empty() || name.chars().count() > 100 || !crate::domain::is_one_line(name) {
        return Err(AccountError::Name);
    }
    if account.role == ApiKeyRole::Booking {
        return Err(AccountError::Role);
    }
    let password_hash = password::hash(account.password).await?;
    let member = store
        .add_staff_member(
            NewStaffMember {
                clinic: account.clinic,
                email: &email,
                name,
                role: account.role,
                language: account.language,
                password_hash: &password_hash,
            },
            now,
        )
        .await?;
    Ok(member)
}
