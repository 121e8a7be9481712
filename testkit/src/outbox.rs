//! What the sandbox says each patient received: its outbox, read over HTTP as a clinic reads
//! it, or from the sandbox's own database as its operator would.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::database;

/// `GET {base}/sandbox/outbox` with `key` and `query` (e.g. `recipient`, `limit`): the messages.
pub async fn read(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    query: &[(&str, &str)],
) -> Vec<Value> {
    let response = client
        .get(format!("{base}/sandbox/outbox"))
        .bearer_auth(key)
        .query(query)
        .send()
        .await
        .expect("GET /sandbox/outbox answered");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "GET {base}/sandbox/outbox"
    );
    let outbox: Value = response.json().await.expect("outbox json");
    outbox["messages"].as_array().cloned().unwrap_or_default()
}

/// Every message a sandbox running as its own process took, read from its database: with the
/// status it last reported and the one it still owes (`next_status`, null once it owes none).
pub async fn from_database(sandbox_db: &str) -> Vec<Value> {
    let pool = database::connect(sandbox_db).await;
    let rows = sqlx::query(
        "SELECT id, channel, recipient, status, callback_ref, next_status FROM sandbox_messages",
    )
    .fetch_all(&pool)
    .await
    .expect("read the sandbox's outbox");
    pool.close().await;
    rows.iter()
        .map(|row| {
            let text = |column: &str| -> Option<String> {
                row.try_get(column)
                    .unwrap_or_else(|e| panic!("sandbox_messages.{column}: {e}"))
            };
            json!({
                "id": text("id"),
                "channel": text("channel"),
                "recipient": text("recipient"),
                "status": text("status"),
                "callback_ref": text("callback_ref"),
                "next_status": text("next_status"),
            })
        })
        .collect()
}
