//! Storage: every SQL statement lives here, behind typed functions. One code path serves SQLite
//! and PostgreSQL through sqlx's Any driver (ids as TEXT, instants as integer milliseconds UTC);
//! the only SQL that differs is how the dispatcher claims work.
//!
//! SQLite has one writer at a time, so it gets a single-connection write pool next to a read
//! pool; PostgreSQL shares one pool for both.
//!
//! A write that fails leaves nothing behind and its caller hears so: the write connection goes
//! back into use only when it is certainly outside any transaction (see `is_idle`), and errors
//! keep their kind ([`FailureKind`]) so the API can answer 507 or 503 instead of 500.

mod appointment_bookings;
mod appointment_list;
mod appointments;
mod audit;
mod booking_webhooks;
mod callbacks;
mod checkpoints;
mod clinic_profile;
mod clinics;
mod contents;
mod conversations;
mod decisions;
mod dispatch;
mod early_statuses;
mod erasure;
mod error;
mod events;
mod facts;
mod fhir_push;
mod fhir_records;
mod gauges;
mod inbound;
mod inbound_media;
mod inbound_settings;
mod notification_feed;
mod notification_reads;
mod notifications;
mod outbox;
mod outcomes;
mod patient_caps;
mod patient_channels;
mod patients;
mod redaction;
mod reminder_series;
mod retention;
mod rows;
mod sandbox;
mod secure_links;
#[cfg(test)]
mod sources;
mod staff;
mod stats;
mod templates;
mod topics;
mod tracking;
mod transcript;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use tokio::sync::{Semaphore, SemaphorePermit};

pub use appointment_bookings::{Booking, NewAppointment};
pub use appointment_list::{AppointmentCursor, AppointmentFilter, AppointmentPage};
pub use appointments::{
    AppointmentChange, AppointmentView, CancelledAppointment, ReminderView, SkippedReminder,
};
pub use audit::{AuditEntry, AuditFilter, AuditPage};
pub use booking_webhooks::{
    ClaimedWebhook, DeliveryRecord, EndpointChange, NewWebhookEndpoint, WebhookEndpoint,
    WebhookOutcome, WebhookResult,
};
pub use callbacks::CallbackView;
pub use clinics::{
    ApiKeyRole, ApiKeyView, AuthenticatedKey, IssuedKey, NewClinic, key_fingerprint,
};
pub use conversations::{
    ConversationCursor, ConversationFilter, ConversationPage, ConversationPatient,
    ConversationRecord, ConversationTimeline, InboundRecord, LabelChange, OVERDUE_BATCH,
    OutboundRecord, ReplyTarget, TIMELINE_LIMIT,
};
pub use dispatch::{ClaimedNotification, DispatchWrite, HandoverStart, NextState};
pub use early_statuses::EarlyStatuses;
pub use erasure::Erasure;
pub use error::{FailureKind, StoreError};
pub use facts::{LearnedFact, SuspensionWrite};
pub use fhir_push::{
    ClaimedPush, FhirBacklog, FhirServerChange, FhirServerView, FhirSettings, FhirSettingsChange,
    PushOutcome, PushPage, PushRecord, PushResult,
};
pub use gauges::{PoolGauges, QueueGauges};
pub use inbound::{
    Arrival, AutoReplyText, ClinicScope, ConversationState, InboundActions, InboundSituation,
    Received,
};
pub use inbound_media::MessageMedia;
pub use notification_feed::{FeedCursor, FeedPage, FeedStart};
pub use notification_reads::{
    AttemptRecord, EventRecord, NotificationFilter, NotificationPage, NotificationRecord,
};
pub use notifications::{AppointmentLink, IntakeResult, NewNotification, Receipt};
pub use outbox::{Lease, Tried, TryRecord};
pub use outcomes::{AttemptOutcome, OutcomeWrite};
pub use patients::{PatientFilter, PatientPage, PatientSearch, PatientUpsert};
pub use retention::{RetentionClaim, RetentionRunRecord, RetentionStatus};
pub use sandbox::{OutboxFilter, OutboxMessage, SandboxAdvance, SandboxMessage, SandboxStatusDue};
pub use secure_links::{
    LinkedMessage, NewSecureLink, SecureLinkRecord, SecureLinkSettings, WrongAnswers,
};
pub use staff::{Lockout, NewSession, NewStaffMember, SignInRecord, StaffSession};
pub use templates::ClinicText;
pub use topics::TopicView;
pub use tracking::StatusUpdate;
pub use transcript::{SentMessage, TranscriptPatient, TranscriptPeriod, TranscriptRecords};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The back end a `database_url` names, if it names one this gateway runs on.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
    /// SQLite's one writer serves intake and background work (dispatch, tracking, sandbox).
    /// Background writers take turns here, so at most one of them is ever ahead of a new
    /// notification in the queue for the writer: a burst of notifications is acknowledged fast,
    /// and delivery catches up. PostgreSQL writes in parallel and has no gate.
    background: Option<Arc<Semaphore>>,
    /// SQLite's `max_page_count` for the writer, 0 for none: see [`Store::cap_sqlite_pages`].
    page_cap: Arc<AtomicU64>,
    /// SQLite's checkpoints, off the writer's commits.
    checkpointer: Option<checkpoints::Checkpointer>,
}

/// A writer connection taken before its transaction's work is known: see
/// [`Batcher::spawn_when_ready`](crate::batch::Batcher::spawn_when_ready).
pub struct WriterTurn(sqlx::pool::PoolConnection<sqlx::Any>);

/// How long intake, health and every other caller wait for a PostgreSQL connection. When the
/// server is down the pool keeps trying to connect until then, so this is how long a request
/// takes to hear 503: short, because a booking system waits on it. Background work retries its
/// round anyway.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

impl Store {
    /// Connects, creating the SQLite file if needed, and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let store = match backend {
            Backend::Sqlite => {
                create_private_sqlite_file(url)?;
                let url = sqlite_url(url);
                let page_cap = Arc::<AtomicU64>::default();
                let write = sqlite_pool(&url, 1, Some(Arc::clone(&page_cap))).await?;
                let read = sqlite_pool(&url, 4, None).await?;
                let checkpointer =
                    checkpoints::Checkpointer::start(sqlite_pool(&url, 1, None).await?);
                Self {
                    write,
                    read,
                    backend,
                    background: Some(Arc::new(Semaphore::new(1))),
                    page_cap,
                    checkpointer: Some(checkpointer),
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                    .connect(&postgres_url(url))
                    .await?;
                Self {
                    write: pool.clone(),
                    read: pool,
                    backend,
                    background: None,
                    page_cap: Arc::default(),
                    checkpointer: None,
                }
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&store.write).await?;
        Ok(store)
    }

    /// Takes a connection of the writer pool (on SQLite, the one writer) for a group commit to
    /// use once its group is made up.
    pub async fn writer_turn(&self) -> Result<WriterTurn, StoreError> {
        Ok(WriterTurn(self.write.acquire().await?))
    }

    /// Waits for a background writer's turn (see `background`).
    async fn background_turn(&self) -> Option<SemaphorePermit<'_>> {
        match &self.background {
            Some(gate) => gate.acquire().await.ok(),
            None => None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
    }

    /// Proves the database takes writes and shows them to readers: bumps the canary through the
    /// writer, then reads it through the read pool. A writer whose commits never land (or a
    /// database that cannot be reached) fails here, where a read-only check would pass.
    pub async fn check_health(&self) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let written: i64 = sqlx::query_scalar(
            "UPDATE health_canary SET beat = beat + 1 WHERE id = 1 RETURNING beat",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        // Other instances may have bumped it since; it never goes back.
        let read: i64 = sqlx::query_scalar("SELECT beat FROM health_canary WHERE id = 1")
            .fetch_one(&self.read)
            .await?;
        if read < written {
            return Err(StoreError::Corrupt(format!(
                "health canary: wrote {written}, read back {read}"
            )));
        }
        Ok(())
    }

    /// For fault tests, SQLite only: lets the database file grow by at most `spare_pages`
    /// pages from its current size (`None` lifts the limit), which SQLite then reports exactly
    /// as it reports a full disk (`SQLITE_FULL`). `max_page_count` belongs to one connection,
    /// so it is set on the writer now and on any writer that replaces it.
    #[doc(hidden)]
    pub async fn cap_sqlite_pages(&self, spare_pages: Option<u64>) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::UnsupportedUrl);
        }
        let mut conn = self.write.acquire().await?;
        let cap = match spare_pages {
            Some(spare) => {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(&mut *conn)
                    .await?;
                u64::try_from(pages).unwrap_or(0) + spare
            }
            // SQLite's own ceiling.
            None => u64::from(u32::MAX) - 1,
        };
        self.page_cap.store(cap, Ordering::Release);
        conn.execute(format!("PRAGMA max_page_count = {cap}").as_str())
            .await?;
        Ok(())
    }
}

/// sqlx opens SQLite files read-write only when asked to create them.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// What each PostgreSQL connection is given unless the URL sets it: the text the URL is searched
/// for, and the parameter added when it is not there.
///
/// - `statement-cache-capacity`: the prepared statements each connection keeps. The dispatcher,
///   intake and tracking run about 250 statement texts (counted from the server's log: 16
///   connections parsed 3,600 statements in a run that evicted none), more than sqlx's default
///   of 100, so at that default each connection kept evicting and preparing again.
/// - `random_page_cost`: the planner's price of reading a page out of order, 4 by default (a
///   disk's seek), against 1 for the next page. A gateway's working set (the notifications in
///   flight and their indexes' recent pages) is in memory, where the two cost about the same.
///   At 4, a batch of 64 rows looked up by key reads the whole table and hashes it, rather than
///   probing the key's index 64 times, until the table holds 10,000–30,000 rows (`EXPLAIN` of
///   the generic plan; at 1.1, 2,000–5,000), and a prepared statement keeps the plan it was
///   given while its tables were small: in a run of 30,000 notifications on a fresh database
///   those scans read 11.5 million rows of `notification_states` and 4.8 million of `attempts`.
///   At 1.1 they read 55,000 and 18,000, and `run.py` took 0.89× the CPU a notification (4
///   pairs, docs/development.md's fourteenth pass).
const POSTGRES_URL_DEFAULTS: [(&str, &str); 2] = [
    ("statement-cache-capacity=", "statement-cache-capacity=512"),
    ("random_page_cost", "options[random_page_cost]=1.1"),
];

fn postgres_url(url: &str) -> String {
    POSTGRES_URL_DEFAULTS
        .iter()
        .filter(|(setting, _)| !url.contains(setting))
        .fold(url.to_owned(), |url, (_, default)| {
            let join = if url.contains('?') { '&' } else { '?' };
            format!("{url}{join}{default}")
        })
}

/// Creates a new database file readable and writable by its owner only (0600) before SQLite
/// opens it, whatever the umask: it holds patients' names, numbers and messages. SQLite creates
/// the `-wal` and `-shm` files beside it with the database file's own mode. An existing file
/// keeps the mode its owner gave it.
fn create_private_sqlite_file(url: &str) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;

    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(());
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(options.get_filename());
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(sqlx::Error::Io(e))),
    }
}

/// The writer's page cache. SQLite walks its whole page hash table at the end of every
/// transaction in which a b-tree split reordered pages (`balance_nonroot` parks a page under the
/// lock page's number, so the cache's largest key then lies past the end of the file and
/// `pcache1TruncateUnsafe` cannot take its short path), and the table grows with the pages
/// cached: at 64 MB that walk was 5.5 % of the gateway's CPU (`perf`, an external SQLite run),
/// at 16 MB 1.8 %, while re-reading pages from the OS's cache grew by 0.3 %.
const WRITER_CACHE_KIB: u32 = 16 * 1024;
/// A reader drops its cache whenever the writer has committed since its last read (WAL), so
/// its size matters only within one read: the statistics over a long period.
const READER_CACHE_KIB: u32 = 64 * 1024;

/// A SQLite pool; the writer's gets `page_cap` (see [`Store::cap_sqlite_pages`]).
async fn sqlite_pool(
    url: &str,
    connections: u32,
    page_cap: Option<Arc<AtomicU64>>,
) -> Result<AnyPool, StoreError> {
    let is_writer = page_cap.is_some();
    let page_cap = page_cap.unwrap_or_default();
    // Durable before acknowledged: WAL with a full sync on every commit. Group commit in the
    // writers keeps that affordable.
    let cache_kib = if is_writer {
        WRITER_CACHE_KIB
    } else {
        READER_CACHE_KIB
    };
    // The writer checkpoints by itself only as a backstop (see `checkpoints`); the readers and
    // the checkpointer's own connection commit nothing, so 0 (never by itself) changes nothing.
    let checkpoint_pages = if is_writer {
        checkpoints::WRITER_CHECKPOINT_PAGES
    } else {
        0
    };
    let pool = AnyPoolOptions::new()
        .max_connections(connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            let page_cap = page_cap.load(Ordering::Acquire);
            Box::pin(async move {
                conn.execute(
                    format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                         PRAGMA cache_size = -{cache_kib}; PRAGMA temp_store = MEMORY; \
                         PRAGMA wal_autocheckpoint = {checkpoint_pages};"
                    )
                    .as_str(),
                )
                .await?;
                if page_cap > 0 {
                    conn.execute(format!("PRAGMA max_page_count = {page_cap}").as_str())
                        .await?;
                }
                Ok(())
            })
        })
        .after_release(move |conn, _| {
            Box::pin(async move { Ok(!is_writer || is_idle(conn).await) })
        })
        .connect(url)
        .await?;
    Ok(pool)
}

/// Whether a SQLite connection handed back to the pool is outside any transaction, both as
/// SQLite sees it and as sqlx counts it; a connection that is not is closed (which rolls back
/// whatever it holds) and the pool opens a fresh one.
///
/// Why: SQLite rolls a whole transaction back by itself on some errors (a full disk,
/// `SQLITE_IOERR`, `SQLITE_BUSY` in some cases). sqlx does not notice: its `ROLLBACK` then fails
/// and its transaction count stays at 1 on a connection that is in no transaction. Every later
/// transaction on it starts with `SAVEPOINT` instead of `BEGIN`; after the first of those is
/// rolled back (`ROLLBACK TO` keeps the savepoint open) each "commit" only releases a nested
/// savepoint of a transaction that never commits: writes are acknowledged, never stored, and
/// lost on restart. Checking the state on release catches every such mismatch, whatever error
/// caused it.
///
/// A count of 0 needs no probe: sqlx lowers it only when its `COMMIT` or `ROLLBACK` succeeded,
/// which leaves SQLite outside any transaction. Every write that went well hands the connection
/// back that way, without a statement (the probe was two worker round trips
/// per transaction, a fifth of the writer's statements). A count above 0 is a transaction
/// dropped with its rollback still queued, or one whose rollback failed: the probe runs after
/// that queued rollback (commands run in order on SQLite's worker thread), then reads the count
/// again.
async fn is_idle(conn: &mut AnyConnection) -> bool {
    if !conn.is_in_transaction() {
        return true;
    }
    // BEGIN fails inside a transaction; a deferred BEGIN takes no lock.
    let sqlite_idle = conn.execute("BEGIN").await.is_ok() && conn.execute("ROLLBACK").await.is_ok();
    let idle = sqlite_idle && !conn.is_in_transaction();
    if !idle {
        tracing::warn!(
            sqlite_idle,
            "the database writer connection was left inside a transaction after an error; \
             closing it and opening a new one"
        );
    }
    idle
}

/// Locks the notifications a transaction will touch, all at once and in id order, before it
/// touches any of them or their attempts. PostgreSQL takes row locks as statements reach rows, so
/// two transactions touching the same notifications in different orders could otherwise deadlock.
/// SQLite has one writer at a time and needs nothing. `select_ids` is a query (with `$1…`
/// placeholders for `ids`) that yields the notification ids.
async fn lock_notifications(
    backend: Backend,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    select_ids: &str,
    ids: &[&str],
) -> Result<(), StoreError> {
    if backend == Backend::Sqlite || ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT id FROM notification_states WHERE id IN ({select_ids}) ORDER BY id FOR UPDATE",
        select_ids = select_ids.replace("{ids}", &in_list(1, ids.len()))
    );
    let mut query = sqlx::query(&sql);
    for id in padded(ids) {
        query = query.bind(id);
    }
    query.fetch_all(&mut **tx).await?;
    Ok(())
}

/// Row locks for a row being changed (an appointment, a patient), so two changes of one row take
/// turns on PostgreSQL (SQLite has one writer at a time).
fn for_update(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

/// Row locks for rows a claim takes (due notifications, sandbox statuses, a conversation's
/// overdue mark, retention's removals): on PostgreSQL another instance's claim passes over the
/// rows this one holds instead of waiting for them (SQLite has one writer at a time).
fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    }
}

pub(crate) fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

pub(crate) fn timestamp(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|_| StoreError::Corrupt(format!("timestamp {ms}")))
}

pub(crate) fn opt_timestamp(ms: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    ms.map(timestamp).transpose()
}

/// `$start, $start+1, …` for `count` values, for `IN (…)` lists.
pub(crate) fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many values an `IN (…)` list of `count` is written with: the next power of two, filled
/// by [`padded`]. A statement then has a handful of texts whatever the count, so each stays in
/// the connection's prepared-statement cache. With one text per count and sqlx's default cache
/// ([`POSTGRES_URL_DEFAULTS`]), the server parsed one statement in three it ran; with both
/// changed, one in seven (`run.py`, PostgreSQL's log), the rest planned per call on purpose.
pub(crate) fn in_list_len(count: usize) -> usize {
    if count == 0 {
        0
    } else {
        count.next_power_of_two()
    }
}

/// Placeholders from `$start` for an `IN (…)` list of `count` values, bound with [`padded`].
pub(crate) fn in_list(start: usize, count: usize) -> String {
    placeholders(start, in_list_len(count))
}

/// `values` then the last of them again up to [`in_list_len`]: a value repeated in an `IN`
/// list changes nothing.
pub(crate) fn padded<T: Copy>(values: &[T]) -> impl Iterator<Item = T> + '_ {
    let last = values.len().saturating_sub(1);
    (0..in_list_len(values.len())).map(move |i| values[i.min(last)])
}

pub(crate) fn parse_stored<T: FromStr>(s: &str, what: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} `{s}`")))
}

pub(crate) fn parse_channels(s: &str) -> Result<Vec<medrelay_channels::ChannelKind>, StoreError> {
    s.split(',')
        .filter(|c| !c.is_empty())
        .map(|c| parse_stored(c, "channel"))
        .collect()
}

pub(crate) fn join_channels(channels: &[medrelay_channels::ChannelKind]) -> String {
    channels
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
impl Store {
    /// A migrated store in a SQLite file of a new temporary directory, which lives as long as
    /// the directory returned with it.
    pub(crate) async fn in_temporary_file() -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("medrelay.db").display());
        let store = Self::connect(&url).await.expect("the store opens");
        (dir, store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_list_is_written_for_the_next_power_of_two_and_filled_with_its_last_value() {
        assert_eq!(in_list(2, 3), "$2, $3, $4, $5");
        assert_eq!(
            padded(&["a", "b", "c"]).collect::<Vec<_>>(),
            ["a", "b", "c", "c"]
        );
        assert_eq!(padded(&["a", "b"]).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(in_list(1, 0), "");
        assert_eq!(padded::<&str>(&[]).count(), 0);
    }

    #[test]
    fn a_postgres_url_gets_the_gateway_s_settings_unless_it_sets_them_itself() {
        assert_eq!(
            postgres_url("postgres://db/medrelay?sslmode=require"),
            "postgres://db/medrelay?sslmode=require&statement-cache-capacity=512\
             &options[random_page_cost]=1.1"
        );
        assert_eq!(
            postgres_url("postgres://db/medrelay"),
            "postgres://db/medrelay?statement-cache-capacity=512&options[random_page_cost]=1.1"
        );
        let own =
            "postgres://db/medrelay?statement-cache-capacity=50&options=-c%20random_page_cost%3D2";
        assert_eq!(postgres_url(own), own);
    }

    #[test]
    fn each_postgres_connection_starts_with_random_page_cost_1_1() {
        let options: sqlx::postgres::PgConnectOptions = postgres_url("postgres://db/medrelay")
            .parse()
            .expect("the URL parses");
        assert_eq!(options.get_options(), Some("-c random_page_cost=1.1"));
    }

    #[test]
    fn both_back_ends_have_the_same_migrations() {
        let versions = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(&SQLITE_MIGRATIONS), versions(&POSTGRES_MIGRATIONS));
    }

    /// SQLite ends a transaction by itself on some errors (a full disk, an I/O error); here a
    /// bare `ROLLBACK` stands in for that, so sqlx's own rollback then fails and it still counts
    /// one transaction. A writer kept in that state would nest every later transaction inside
    /// one that never commits.
    #[tokio::test]
    async fn a_writer_whose_transaction_sqlite_ended_is_replaced_and_later_writes_commit() {
        let (_dir, store) = Store::in_temporary_file().await;

        let mut ended_by_sqlite = store.write.begin().await.expect("a transaction");
        sqlx::query("ROLLBACK")
            .execute(&mut *ended_by_sqlite)
            .await
            .expect("SQLite ends it");
        drop(ended_by_sqlite);
        // Without the writer replaced this opens a savepoint, and its rollback leaves it open.
        let mut rolled_back = store.write.begin().await.expect("a transaction");
        sqlx::query("UPDATE health_canary SET beat = beat + 100")
            .execute(&mut *rolled_back)
            .await
            .expect("an update");
        drop(rolled_back);

        store
            .check_health()
            .await
            .expect("a committed write is read back through another connection");
    }

    #[test]
    fn placeholders_number_from_the_start_given() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
