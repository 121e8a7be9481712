//! SQLite's log is copied into the database file beside the writer, not inside its commits
//! (`store::checkpoints`): what the gateway stores reaches the database file within moments,
//! long before the log holds the thousand pages at which SQLite's writer would copy it itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use medrelay_testkit::wait;
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

use crate::harness::{TestApp, body};

/// How many of `ids` the database file holds on its own, read from a copy of it taken without its
/// log: only a checkpoint puts a committed row there.
async fn in_file_alone(file: &Path, ids: &[String]) -> Result<usize, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let copy = dir.path().join("copy.db");
    std::fs::copy(file, &copy).map_err(|e| e.to_string())?;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", copy.display()))
        .await
        .map_err(|e| e.to_string())?;
    // A copy taken mid-checkpoint may read as damaged; the next look takes another.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT id FROM notification_requests")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(stored.iter().filter(|(id,)| ids.contains(id)).count())
}

#[tokio::test]
async fn what_sqlite_stores_reaches_the_database_file_within_moments_not_only_its_log() {
    let app = TestApp::spawn().await;
    if !app.is_sqlite() {
        println!("skipped: SQLite's log; PostgreSQL checkpoints by itself");
        return app.stop().await;
    }
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;
    let file = PathBuf::from(
        app.database_url()
            .strip_prefix("sqlite://")
            .expect("a SQLite file"),
    );
    // A few commits' worth of pages, far below the thousand at which the writer copies the log.
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.notify(body(&format!("note {i}"))).await);
    }

    wait::within(Duration::from_secs(10))
        .until(async || match in_file_alone(&file, &ids).await {
            Ok(held) if held == ids.len() => Ok(()),
            Ok(held) => Err(format!("the file alone holds {held} of {}", ids.len())),
            Err(error) => Err(error),
        })
        .await;
    app.stop().await;
}
