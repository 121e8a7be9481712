//! What the audit trail holds to when things go wrong: the database itself refuses to change or
//! remove an entry (whoever asks, with SQL), a read whose entry cannot be written is withheld
//! (503), a change whose entry cannot be written stands, is logged and counted in `/metrics`,
//! and a notification, stored with its entry, is not taken without it.

use medrelay::observability::recorder::AUDIT_WRITE_FAILURES;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::audit::{dana, later};
use crate::harness::{TestApp, body};
use crate::metrics::Scrape;

/// A connection of the test's own to the application's database, as an operator's would be.
pub(crate) async fn database(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(app.database_url())
        .await
        .expect("database")
}

/// Takes the trail's table away, as a broken disk or a careless operator could.
pub(crate) async fn take_the_trail_away(pool: &sqlx::AnyPool) {
    rename_table(pool, "audit_entries", "audit_entries_away").await;
}

pub(crate) async fn put_the_trail_back(pool: &sqlx::AnyPool) {
    rename_table(pool, "audit_entries_away", "audit_entries").await;
}

async fn rename_table(pool: &sqlx::AnyPool, from: &str, to: &str) {
    sqlx::query(&format!("ALTER TABLE {from} RENAME TO {to}"))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("rename {from} to {to}: {e}"));
}

async fn entry_count(pool: &sqlx::AnyPool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_an_entry_even_by_hand() {
    let app = TestApp::spawn().await;
    dana(&app).await;
    let pool = database(&app).await;
    let before = entry_count(&pool).await;

    let update = sqlx::query("UPDATE audit_entries SET outcome = 200, actor = 'key:nobody'")
        .execute(&pool)
        .await;
    let delete = sqlx::query("DELETE FROM audit_entries")
        .execute(&pool)
        .await;
    let truncate = if app.is_sqlite() {
        None
    } else {
        Some(sqlx::query("TRUNCATE audit_entries").execute(&pool).await)
    };

    assert_eq!(before, 1);
    let update = update.expect_err("an entry cannot be changed").to_string();
    let delete = delete.expect_err("an entry cannot be deleted").to_string();
    assert!(update.contains("append-only"), "{update}");
    assert!(delete.contains("append-only"), "{delete}");
    if let Some(truncate) = truncate {
        let truncate = truncate
            .expect_err("the table cannot be emptied")
            .to_string();
        assert!(truncate.contains("append-only"), "{truncate}");
    }
    assert_eq!(entry_count(&pool).await, before);
    let kept: String = sqlx::query_scalar("SELECT actor FROM audit_entries")
        .fetch_one(&pool)
        .await
        .expect("actor");
    assert!(kept.starts_with("key:key_"), "{kept}");
    pool.close().await;
    app.stop().await;
}

#[tokio::test]
async fn without_a_writable_trail_a_read_is_withheld_a_change_stands_and_a_notification_is_not_taken()
 {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    dana(&app).await;
    let id = app.notify(later(body("Your results are ready"))).await;
    let pool = database(&app).await;
    let unrecorded = [("consequence", "unrecorded")];
    let withheld = [("consequence", "withheld")];
    let scrape = || Scrape::of(app.client(), &app.base, None);
    let path = format!("/v1/notifications/{id}");
    let read_notification = || app.request(Method::GET, &path, &app.key, None);
    let before = scrape().await;
    take_the_trail_away(&pool).await;

    let read = read_notification().await;
    let read_status = read.status();
    let read_type = read.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    let read_body = read.text().await.expect("body");
    let cancel = app.cancel(&id).await.status();
    let handed_in = app
        .request(
            Method::POST,
            "/v1/notifications",
            &app.key,
            Some(later(body("Your appointment is confirmed"))),
        )
        .await;
    let handed_in_status = handed_in.status();
    let handed_in_type = handed_in.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    let after = scrape().await;
    put_the_trail_back(&pool).await;
    let read_again = read_notification().await;

    assert_eq!(read_status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(read_type, "application/problem+json");
    let problem: Value = serde_json::from_str(&read_body).expect("problem");
    assert_eq!(
        problem["type"],
        "https://medrelay.dev/problems/audit-unavailable"
    );
    assert!(!read_body.contains("results"), "{read_body}");
    assert_eq!(cancel, StatusCode::OK);
    assert_eq!(app.notification(&id).await["status"], "cancelled");
    assert!(
        after.value(AUDIT_WRITE_FAILURES, &withheld)
            > before.value(AUDIT_WRITE_FAILURES, &withheld)
    );
    assert!(
        after.value(AUDIT_WRITE_FAILURES, &unrecorded)
            > before.value(AUDIT_WRITE_FAILURES, &unrecorded)
    );
    assert_eq!(read_again.status(), StatusCode::OK);
    assert!(
        handed_in_status.is_server_error(),
        "a notification whose entry cannot be written is refused: {handed_in_status}"
    );
    assert_eq!(handed_in_type, "application/problem+json");
    let listed: Value = app
        .request(Method::GET, "/v1/notifications", &app.key, None)
        .await
        .json()
        .await
        .expect("list");
    let ids: Vec<&Value> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| &n["id"])
        .collect();
    assert_eq!(
        ids,
        vec![&json!(id)],
        "nothing was stored of the refused one"
    );
    let trail: Value = app
        .request(
            Method::GET,
            "/v1/audit?action=notification.cancel",
            &admin,
            None,
        )
        .await
        .json()
        .await
        .expect("trail");
    assert_eq!(trail["items"], json!([]), "the cancel was not recorded");
    pool.close().await;
    app.stop().await;
}
