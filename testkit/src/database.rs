//! A fresh database for one run: a SQLite file in a directory the caller owns, or a new database
//! on a PostgreSQL server (whatever database the server's URL names is left alone). Either comes
//! empty ([`TestDatabase::fresh`]) or with the schema in place ([`TestDatabase::migrated`]), a copy
//! of one database migrated once for all the tests of that schema.

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sqlx::migrate::MigrateDatabase;
use tokio::sync::OnceCell;

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
            Backend::Sqlite => Ok(Self::sqlite_in(dir)),
            Backend::Postgres { server } => {
                let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
                let url = with_database(server, &name)?;
                create_on(server, &name)
                    .await
                    .map_err(|e| format!("cannot create database {name} on {server}: {e}"))?;
                Ok(Self {
                    url,
                    on_postgres: true,
                })
            }
        }
    }

    /// A test's database on the back end [`Backend::from_env`] names, with every migration in
    /// `migrations/` already run: a copy of a template that `migrate` (given its URL) brought up
    /// to date. Running the migrations took a test about half a second on either back end; a copy
    /// takes a few milliseconds on SQLite and a tenth of a second on PostgreSQL. The template is
    /// named after the migration files' contents, so it is made once for all test processes
    /// until a migration changes: a file in the system's temporary folder, or a database
    /// `mrt_schema_<hash>` on the server (which `.ci/run` drops with the other `mrt_` ones).
    pub async fn migrated<F, Fut>(dir: &Path, migrate: F) -> Self
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = ()>,
    {
        let backend = Backend::from_env();
        let template = TEMPLATE
            .get_or_try_init(|| Template::make(&backend, migrate))
            .await
            .expect("a migrated template database");
        template
            .copy(dir)
            .await
            .expect("a copy of the migrated template database")
    }

    fn sqlite_in(dir: &Path) -> Self {
        Self {
            url: format!("sqlite://{}", dir.join("medrelay.db").display()),
            on_postgres: false,
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

/// The migrated database each [`TestDatabase::migrated`] copies; one per test process.
static TEMPLATE: OnceCell<Template> = OnceCell::const_new();

/// A database with the schema in place and nothing else, never opened once made.
#[derive(Debug)]
enum Template {
    Sqlite(PathBuf),
    Postgres { server: String, name: String },
}

impl Template {
    /// The template for the migrations as they are now, made by `migrate` unless an earlier
    /// process made it. It is built under a name of its own and only then takes the name copies
    /// are made from, so that no test copies one half made, even with processes racing.
    async fn make<F, Fut>(backend: &Backend, migrate: F) -> Result<Self, Error>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = ()>,
    {
        let schema = schema_hash(backend)?;
        let building = format!("building_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("medrelay-test-schema-{schema}.db"));
                if path.exists() {
                    return Ok(Self::Sqlite(path));
                }
                let scratch = std::env::temp_dir().join(format!("medrelay-test-schema-{building}"));
                std::fs::create_dir(&scratch)?;
                let database = scratch.join("medrelay.db");
                migrate(format!("sqlite://{}", database.display())).await;
                // Closed, SQLite has folded its log into the file: the file is the whole database.
                let log = scratch.join("medrelay.db-wal");
                if log.metadata().is_ok_and(|log| log.len() > 0) {
                    return Err("the migrated template was left open: its log is not empty".into());
                }
                std::fs::rename(&database, &path)?;
                std::fs::remove_dir_all(&scratch)?;
                Ok(Self::Sqlite(path))
            }
            Backend::Postgres { server } => {
                let name = format!("{TEST_PREFIX}_schema_{schema}");
                if !Self::postgres_has(server, &name).await? {
                    let scratch = format!("{TEST_PREFIX}_{building}");
                    let url = with_database(server, &scratch)?;
                    create_on(server, &scratch).await?;
                    migrate(url.clone()).await;
                    let rename = format!("ALTER DATABASE \"{scratch}\" RENAME TO \"{name}\"");
                    let renamed = on_server(server, async |pool| {
                        sqlx::query(&rename).execute(pool).await
                    })
                    .await;
                    if let Err(error) = renamed {
                        sqlx::Postgres::force_drop_database(&url).await?;
                        if !Self::postgres_has(server, &name).await? {
                            return Err(error.into());
                        }
                        // Another process made it meanwhile.
                    }
                }
                Ok(Self::Postgres {
                    server: server.clone(),
                    name,
                })
            }
        }
    }

    async fn postgres_has(server: &str, database: &str) -> Result<bool, Error> {
        let exists: i32 = on_server(server, async |pool| {
            sqlx::query_scalar(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) \
                 THEN 1 ELSE 0 END",
            )
            .bind(database)
            .fetch_one(pool)
            .await
        })
        .await?;
        Ok(exists == 1)
    }

    async fn copy(&self, dir: &Path) -> Result<TestDatabase, Error> {
        match self {
            Self::Sqlite(path) => {
                let database = TestDatabase::sqlite_in(dir);
                std::fs::copy(path, dir.join("medrelay.db"))?;
                Ok(database)
            }
            Self::Postgres { server, name } => {
                let copy = format!("{TEST_PREFIX}_{}", uuid::Uuid::new_v4().simple());
                let create = format!("CREATE DATABASE \"{copy}\" TEMPLATE \"{name}\"");
                on_server(server, async |pool| {
                    sqlx::query(&create).execute(pool).await
                })
                .await
                .map_err(|e| format!("cannot copy {name} on {server}: {e}"))?;
                Ok(TestDatabase {
                    url: with_database(server, &copy)?,
                    on_postgres: true,
                })
            }
        }
    }
}

/// The tablespace `MEDRELAY_TEST_POSTGRES_TABLESPACE` names, if any: where tests' databases are
/// made, and so every copy of their template too. `.ci/run` puts one in memory, because making
/// and dropping a database per test is otherwise mostly the file system's work: some 500 files
/// each, and on a file system like CI's, whose inode allocator steps over recently deleted
/// inodes, that work grows with every database dropped before.
fn test_tablespace() -> Option<String> {
    std::env::var("MEDRELAY_TEST_POSTGRES_TABLESPACE")
        .ok()
        .filter(|name| !name.is_empty())
}

/// Makes an empty database `name` on the server, in the tests' tablespace if they have one.
async fn create_on(server: &str, name: &str) -> Result<(), Error> {
    let create = match test_tablespace() {
        Some(tablespace) => format!("CREATE DATABASE \"{name}\" TABLESPACE \"{tablespace}\""),
        None => format!("CREATE DATABASE \"{name}\""),
    };
    on_server(server, async |pool| {
        sqlx::query(&create).execute(pool).await
    })
    .await?;
    Ok(())
}

/// `work` on a connection of its own to the database the server's URL names, closed after.
async fn on_server<T>(server: &str, work: impl AsyncFnOnce(&sqlx::AnyPool) -> T) -> T {
    let pool = connect(server).await;
    let done = work(&pool).await;
    pool.close().await;
    done
}

/// What names the schema: the back end's migration files, their names and contents.
fn schema_hash(backend: &Backend) -> Result<String, Error> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend.label());
    let mut files = std::fs::read_dir(folder)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    files.sort();
    let mut hasher = DefaultHasher::new();
    // A template in another tablespace is another template.
    if let Backend::Postgres { .. } = backend {
        test_tablespace().hash(&mut hasher);
    }
    for file in files {
        file.file_name().hash(&mut hasher);
        std::fs::read(&file)?.hash(&mut hasher);
    }
    Ok(format!("{:016x}", hasher.finish()))
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
