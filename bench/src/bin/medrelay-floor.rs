//! `medrelay-floor`: the least a gateway on medrelay's stack can do for a notification, to
//! measure what issue 15's targets leave for everything else. `bench/external/floor.py` runs it
//! under the external harness's load and Twilio look-alike, as `run.py` runs medrelay.
//!
//! For each `POST /v1/notifications` it reads the JSON body, answers `202` with an id, and hands
//! the message to the look-alike (`POST …/Messages.json`, form-encoded, Basic auth), reading the
//! `sid` it answers. With `--receipts` it also takes the look-alike's status callbacks, checking
//! each one's `X-Twilio-Signature` with medrelay's own check. Nothing else: no API key, no patient
//! looked up, no route chosen, no rate limit, no event, no audit entry, no log line.
//!
//! With a database URL (`sqlite://…` or `postgres://…`) it also keeps the least that makes an
//! answer true: one row a notification, inserted before the `202`, updated with the provider's
//! `sid` after the send, and set `delivered` before a receipt is answered. Each of the three is a
//! group commit of what is waiting (as medrelay's are) on one connection: sqlx's own pool for the
//! back end (not `Any`), SQLite in WAL with a full sync on every commit, as medrelay runs it.
//!
//! ```text
//! medrelay-floor --port 8098 --provider http://127.0.0.1:8099 [--receipts] [--database sqlite:///tmp/floor.db]
//! ```

use std::error::Error;
use std::str::FromStr as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use medrelay_channels::Secret;
use medrelay_channels::twilio::validate_signature;
use serde_json::{Value, json};
use sqlx::pool::PoolOptions;
use sqlx::postgres::Postgres;
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};
use tokio::sync::{Semaphore, mpsc, oneshot};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn Error + Send + Sync>;

/// Items a group commit takes at most, as medrelay's intake.
const MAX_BATCH: usize = 256;
/// Sends in flight to the provider at most.
const SENDS_IN_FLIGHT: usize = 64;
/// The look-alike's account and token (`run.py sink`'s defaults).
const ACCOUNT_SID: &str = "ACe5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5";
const AUTH_TOKEN: &str = "sink-auth-token";
const CALLBACK_PATH: &str = "/webhooks/twilio/sms";

#[derive(Debug, Parser)]
struct Args {
    /// The port to listen on, on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// The Twilio look-alike's base URL.
    #[arg(long)]
    provider: String,
    /// Ask for a status callback with each send, and take them.
    #[arg(long)]
    receipts: bool,
    /// Where to keep each notification's row; none when absent.
    #[arg(long)]
    database: Option<String>,
    /// The runtime's worker threads (medrelay on SQLite on two cores runs one).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

#[derive(Debug, serde::Deserialize)]
struct NewNotification {
    patient_id: String,
    body: String,
}

#[derive(Debug)]
struct Message {
    id: String,
    to: String,
    body: String,
}

/// Items waiting for the transaction that stores them; each is handed back once it is stored.
#[derive(Debug)]
struct GroupCommit<T>(mpsc::UnboundedSender<(T, oneshot::Sender<T>)>);

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> GroupCommit<T> {
    /// `item` once stored, or `None` if it could not be.
    async fn store(&self, item: T) -> Option<T> {
        let (stored, when_stored) = oneshot::channel();
        self.0.send((item, stored)).ok()?;
        when_stored.await.ok()
    }
}

/// The three writes, when there is a database.
#[derive(Debug, Clone)]
struct Writes {
    accepted: GroupCommit<Message>,
    sent: GroupCommit<(String, String)>,
    delivered: GroupCommit<String>,
}

#[derive(Debug, Clone)]
struct Floor {
    writes: Option<Writes>,
    send: mpsc::UnboundedSender<Message>,
    /// This server's own address, which Twilio's signature covers.
    base: Arc<str>,
    auth_token: Arc<Secret>,
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()?
        .block_on(serve(args))
}

async fn serve(args: Args) -> Result<(), BoxError> {
    let writes = match &args.database {
        None => None,
        Some(url) => Some(open(url).await?),
    };
    let base: Arc<str> = format!("http://127.0.0.1:{}", args.port).into();
    let callback = args.receipts.then(|| format!("{base}{CALLBACK_PATH}"));
    let (send, to_send) = mpsc::unbounded_channel();
    let sent = writes.as_ref().map(|w| w.sent.clone());
    tokio::spawn(send_all(args.provider, callback, to_send, sent));
    let floor = Floor {
        writes,
        send,
        base,
        auth_token: Arc::new(Secret::new(AUTH_TOKEN)),
    };
    let app = Router::new()
        .route("/v1/notifications", post(accept))
        .route(CALLBACK_PATH, post(status_callback))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn accept(
    State(floor): State<Floor>,
    Json(new): Json<NewNotification>,
) -> (StatusCode, Json<Value>) {
    let id = format!("ntf_{}", uuid::Uuid::now_v7().simple());
    let message = Message {
        id: id.clone(),
        to: new.patient_id,
        body: new.body,
    };
    let stored = match &floor.writes {
        None => Some(message),
        Some(writes) => writes.accepted.store(message).await,
    };
    match stored.map(|message| floor.send.send(message)) {
        Some(Ok(())) => (
            StatusCode::ACCEPTED,
            Json(json!({"id": id, "status": "queued"})),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"title": "not stored"})),
        ),
    }
}

/// A message's status from Twilio: checked, and stored when it says `delivered`.
async fn status_callback(
    State(floor): State<Floor>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let query = query.unwrap_or_default();
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let url = format!("{}{CALLBACK_PATH}?{query}", floor.base);
    let signature = headers
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok());
    if !validate_signature(&floor.auth_token, &url, &params, signature) {
        return StatusCode::FORBIDDEN;
    }
    let delivered = params
        .iter()
        .any(|(name, value)| name == "MessageStatus" && value == "delivered");
    let attempt = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "attempt")
        .map(|(_, id)| id.into_owned());
    match (&floor.writes, attempt) {
        (Some(writes), Some(id)) if delivered => match writes.delivered.store(id).await {
            Some(_) => StatusCode::OK,
            None => StatusCode::SERVICE_UNAVAILABLE,
        },
        _ => StatusCode::OK,
    }
}

/// The rows' table, on either back end.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS floor_notifications (id TEXT PRIMARY KEY, \
     patient TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL, sid TEXT)";

/// Opens the database at `url` and starts its group commits.
async fn open(url: &str) -> Result<Writes, BoxError> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = PoolOptions::<Sqlite>::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        start_writes(pool).await
    } else {
        let pool = PoolOptions::<Postgres>::new()
            .max_connections(1)
            .connect(url)
            .await?;
        start_writes(pool).await
    }
}

async fn start_writes<DB>(pool: Pool<DB>) -> Result<Writes, BoxError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
{
    sqlx::raw_sql(CREATE_TABLE).execute(&pool).await?;
    Ok(Writes {
        accepted: group_commit(pool.clone(), |batch: &[Message]| {
            let insert = format!(
                "INSERT INTO floor_notifications (id, patient, body, status) VALUES {}",
                values(batch.len(), 4)
            );
            let bound = batch
                .iter()
                .flat_map(|m| [&m.id, &m.to, &m.body, "queued"].map(str::to_owned));
            (insert, bound.collect())
        }),
        sent: group_commit(pool.clone(), |batch: &[(String, String)]| {
            let update = format!(
                "WITH v (id, sid) AS (VALUES {}) UPDATE floor_notifications SET status = 'sent', \
                 sid = v.sid FROM v WHERE floor_notifications.id = v.id",
                values(batch.len(), 2)
            );
            let bound = batch.iter().flat_map(|(id, sid)| [id.clone(), sid.clone()]);
            (update, bound.collect())
        }),
        delivered: group_commit(pool, |batch: &[String]| {
            let update = format!(
                "UPDATE floor_notifications SET status = 'delivered' WHERE id IN (VALUES {})",
                values(batch.len(), 1)
            );
            (update, batch.to_vec())
        }),
    })
}

/// Starts a loop that stores what waits, [`MAX_BATCH`] at most, in one transaction: the
/// statement `write` makes for the batch, with the values to bind.
fn group_commit<DB, T>(pool: Pool<DB>, write: fn(&[T]) -> (String, Vec<String>)) -> GroupCommit<T>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    T: Send + 'static,
{
    let (waiting, mut queue) = mpsc::unbounded_channel::<(T, oneshot::Sender<T>)>();
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let (items, answers): (Vec<T>, Vec<oneshot::Sender<T>>) = batch.into_iter().unzip();
            let (statement, bound) = write(&items);
            if let Err(error) = commit(&pool, &statement, bound).await {
                // The answers are dropped unsent: each waiting request fails.
                eprintln!("a group commit failed: {error}");
                continue;
            }
            for (item, answer) in items.into_iter().zip(answers) {
                // A request that went away still had its write stored.
                let _ = answer.send(item);
            }
        }
    });
    GroupCommit(waiting)
}

/// `rows` rows of `columns` placeholders each: `($1, $2), ($3, $4)` (SQLite numbers `$n` in the
/// order they appear, so the same text serves both back ends).
fn values(rows: usize, columns: usize) -> String {
    let row = |r: usize| {
        let cells: Vec<String> = (1..=columns)
            .map(|c| format!("${}", r * columns + c))
            .collect();
        format!("({})", cells.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// Runs `statement` with `bound` in a transaction of its own.
async fn commit<DB>(pool: &Pool<DB>, statement: &str, bound: Vec<String>) -> sqlx::Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
{
    let query = bound
        .into_iter()
        .fold(sqlx::query::<DB>(statement), |query, value| {
            query.bind(value)
        });
    let mut transaction = pool.begin().await?;
    query.execute(&mut *transaction).await?;
    transaction.commit().await
}

/// Hands each message to the provider, [`SENDS_IN_FLIGHT`] at a time, asking for a status
/// callback at `callback` when given, and stores each `sid` through `sent` when given.
async fn send_all(
    provider: String,
    callback: Option<String>,
    mut to_send: mpsc::UnboundedReceiver<Message>,
    sent: Option<GroupCommit<(String, String)>>,
) {
    let client = reqwest::Client::new();
    let url: Arc<str> =
        format!("{provider}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json").into();
    let callback: Option<Arc<str>> = callback.map(Into::into);
    let in_flight = Arc::new(Semaphore::new(SENDS_IN_FLIGHT));
    while let Some(message) = to_send.recv().await {
        let Ok(slot) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let (client, url, callback, sent) = (
            client.clone(),
            Arc::clone(&url),
            callback.clone(),
            sent.clone(),
        );
        tokio::spawn(async move {
            match send(&client, &url, callback.as_deref(), &message).await {
                Ok(sid) => {
                    if let Some(sent) = sent {
                        sent.store((message.id, sid)).await;
                    }
                }
                Err(error) => eprintln!("sending {} failed: {error}", message.id),
            }
            drop(slot);
        });
    }
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    callback: Option<&str>,
    message: &Message,
) -> Result<String, BoxError> {
    let mut form = vec![
        ("To", message.to.clone()),
        ("From", "+97235551234".to_owned()),
        ("Body", message.body.clone()),
    ];
    if let Some(callback) = callback {
        form.push((
            "StatusCallback",
            format!("{callback}?attempt={}", message.id),
        ));
    }
    let answer: Value = client
        .post(url)
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .form(&form)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["sid"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the provider's answer has no sid".into())
}
