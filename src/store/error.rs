use sqlx::error::DatabaseError as _;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("not found")]
    NotFound,
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("stored value is not valid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// What a failed storage operation means for whoever is waiting on it. Nothing of a failed write
/// is stored (each write is one transaction), so the first two are worth trying again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The disk (or SQLite's page limit) is full: retrying helps once space is freed.
    DiskFull,
    /// The database cannot be reached or is busy right now: a connection refused or lost, the
    /// pool's wait run out, a lock held past the busy timeout, a deadlock, an I/O error.
    Unavailable,
    /// Anything else: a bug or bad data, not fixed by trying again.
    Other,
}

impl StoreError {
    pub(crate) fn on_unique(self, what: &'static str) -> Self {
        match &self {
            Self::Database(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Self::Conflict(what)
            }
            _ => self,
        }
    }

    /// Classified from the driver's error codes, never from message text.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Database(error) => failure_kind(error),
            Self::Migration(sqlx::migrate::MigrateError::Execute(error)) => failure_kind(error),
            _ => FailureKind::Other,
        }
    }
}

fn failure_kind(error: &sqlx::Error) -> FailureKind {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => FailureKind::Unavailable,
        sqlx::Error::Database(e) => {
            if let Some(e) = e.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                e.code()
                    .map_or(FailureKind::Other, |code| sqlite_kind(&code))
            } else if let Some(e) = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                postgres_kind(e.code())
            } else {
                FailureKind::Other
            }
        }
        _ => FailureKind::Other,
    }
}

/// SQLite reports extended result codes; the primary code is the low byte.
/// <https://www.sqlite.org/rescode.html>
fn sqlite_kind(code: &str) -> FailureKind {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    match code.parse::<i32>().map(|c| c & 0xff) {
        Ok(FULL) => FailureKind::DiskFull,
        Ok(BUSY | LOCKED | IOERR | CANTOPEN) => FailureKind::Unavailable,
        _ => FailureKind::Other,
    }
}

/// PostgreSQL SQLSTATE codes. <https://www.postgresql.org/docs/current/errcodes-appendix.html>
fn postgres_kind(sqlstate: &str) -> FailureKind {
    match sqlstate {
        // disk_full
        "53100" => FailureKind::DiskFull,
        // insufficient resources (out of memory, too many connections), serialization failure,
        // deadlock, lock not available, shutting down / starting up, read-only after fail-over
        "53000" | "53200" | "53300" | "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03"
        | "25006" => FailureKind::Unavailable,
        // class 08: connection exception
        code if code.starts_with("08") => FailureKind::Unavailable,
        _ => FailureKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_full_is_disk_full_and_busy_is_unavailable_in_their_extended_forms() {
        assert_eq!(sqlite_kind("13"), FailureKind::DiskFull);
        assert_eq!(sqlite_kind("5"), FailureKind::Unavailable);
        // SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE
        assert_eq!(sqlite_kind("517"), FailureKind::Unavailable);
        assert_eq!(sqlite_kind("778"), FailureKind::Unavailable);
        // SQLITE_CONSTRAINT_UNIQUE
        assert_eq!(sqlite_kind("2067"), FailureKind::Other);
    }

    #[test]
    fn postgres_connection_and_shutdown_errors_are_unavailable_and_disk_full_is_disk_full() {
        assert_eq!(postgres_kind("53100"), FailureKind::DiskFull);
        assert_eq!(postgres_kind("08006"), FailureKind::Unavailable);
        assert_eq!(postgres_kind("57P01"), FailureKind::Unavailable);
        assert_eq!(postgres_kind("23505"), FailureKind::Other);
    }

    #[test]
    fn a_pool_that_waited_too_long_is_unavailable() {
        assert_eq!(
            StoreError::Database(sqlx::Error::PoolTimedOut).kind(),
            FailureKind::Unavailable
        );
    }
}
