//! Staff passwords: argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's
//! recommendation), hashed on the blocking pool so a sign-in never stalls the server.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted (NIST SP 800-63B asks for at least 8; staff share screens).
pub const MIN_CHARS: usize = 10;
/// Longest: a bound on the work one sign-in can ask for.
pub const MAX_CHARS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has {MIN_CHARS} to {MAX_CHARS} characters")]
    Length,
    #[error("hashing the password failed")]
    Hashing,
}

/// The rule a new password must meet, or why it does not.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if (MIN_CHARS..=MAX_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// The PHC string stored for `password`.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    check_new(&password)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| PasswordError::Hashing)
    })
    .await
    .map_err(|_| PasswordError::Hashing)?
}

/// A stored hash no password matches, checked when the address is unknown, so a wrong address
/// takes as long to refuse as a wrong password (no list of who has an account by timing).
const NO_ACCOUNT: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm8tYWNjb3VudC1zYWx0$0eBDqD5Xb2+Uw4Yh0tyB2eXz3D9o2vIEJ0DjpmS2wlU";

/// Whether `password` matches `stored` (`None`: there is no such account, and the answer is no).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    if password.chars().count() > MAX_CHARS {
        return false;
    }
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| NO_ACCOUNT.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
        && known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_is_stored_as_an_argon2id_hash_that_only_it_matches() {
        let stored = hash("correct horse battery".to_owned())
            .await
            .expect("hash");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(!stored.contains("correct horse"));
        assert!(verify("correct horse battery".to_owned(), Some(stored.clone())).await);
        assert!(!verify("correct horse batterY".to_owned(), Some(stored)).await);
    }

    #[tokio::test]
    async fn an_unknown_account_matches_no_password() {
        assert!(!verify("anything at all".to_owned(), None).await);
    }

    #[test]
    fn a_short_password_is_refused() {
        assert!(check_new("short").is_err());
        assert!(check_new("ten chars!").is_ok());
    }
}
