//! A fresh database for one run: a SQLite file in a directory the caller owns, or a new database
//! on a PostgreSQL server (whatever database the server's URL names is left alone).

use std::path::Path;

use sqlx::migrate::MigrateDatabase;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The prefix of the databases tests make on PostgreSQL; `.ci/run` drops leftovers by it.
pub const TEST_PREFIX: &str = "mrt";

/// Where a run's database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL server; each run makes its own database on it.
    Postgres {
        server: String,
    },
}

impl Backend {
    /// PostgreSQL when `MEDRELAY_TEST_POSTGRES_URL` names a server, else SQLite.
    pub fn from_env() -> Self {
        std::env::var("MEDRELAY_TEST_POSTGRES_URL")
            .map_or(Self::Sqlite, |server| Self::Postgres { server })
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

/// A database made for one run. A PostgreSQL one stays until [`TestDatabase::remove`]; a SQLite
/// file goes with the directory it was made in.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    on_postgres: bool,
}

impl TestDatabase {
    /// A test's database: on the back end [`Backend::from_env`] names, SQLite files in `dir`.
    pub async fn fresh(dir: &Path) -> Self {
        Self::create(&Backend::from_env(), dir, TEST_PREFIX)
            .await
            .expect("a fresh test database")
    }

    /// A database on `backend`: `dir/medrelay.db`, or `<prefix>_<random>` on the server.
    pub async fn create(backend: &Backend, dir: &Path, prefix: &str) -> Result<Self, Error> {
        match backend {
            Backend::Sqlite => Ok(Self {
                url: format!("sqlite://{}", dir.join("medrelay.db").display()),
                on_postgres: false,
            }),
            Backend::Postgres { server } => {
                let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
                let url = with_database(server, &name)?;
                sqlx::Postgres::create_database(&url)
                    .await
                    .map_err(|e| format!("cannot create database {name} on {server}: {e}"))?;
                Ok(Self {
                    url,
                    on_postgres: true,
                })
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_sqlite(&self) -> bool {
        !self.on_postgres
    }

    /// Drops a PostgreSQL database, even with connections still open to it.
    pub async fn remove(self) -> Result<(), Error> {
        if self.on_postgres {
            sqlx::Postgres::force_drop_database(&self.url)
                .await
                .map_err(|e| format!("cannot drop {}: {e}", self.url))?;
        }
        Ok(())
    }
}

/// One connection to the database at `url` (SQLite or PostgreSQL), to look at what a process
/// left in it.
pub async fn connect(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
}

/// The server URL with its database (path) replaced by `database`; user, host and query stay.
fn with_database(server: &str, database: &str) -> Result<String, Error> {
    let (scheme, rest) = server
        .split_once("://")
        .ok_or("a PostgreSQL URL needs a scheme")?;
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, None), |(r, q)| (r, Some(q)));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    Ok(match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_replaced_and_user_host_and_query_stay() {
        let cases = [
            ("postgres://u@h:5432", "postgres://u@h:5432/x"),
            ("postgres://u@h:5432/ci", "postgres://u@h:5432/x"),
            (
                "postgresql://u@h/ci?sslmode=disable",
                "postgresql://u@h/x?sslmode=disable",
            ),
        ];
        for (server, expected) in cases {
            assert_eq!(with_database(server, "x").expect("url"), expected);
        }
    }
}
