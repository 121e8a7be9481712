//! Migration 0041: a notification's changing state moved to `notification_states`, and the view
//! `notifications` joins it back to the request.

use crate::harness::{migrate, unmigrated_database};

/// What the view gives of a notification: id, text, status, channel, due time, lease, recheck,
/// feed position, creation and last change, idempotency key.
type Stored = (
    String,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
);

#[tokio::test]
async fn the_upgrade_keeps_each_notification_s_status_lease_due_time_and_place_in_the_feed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database, pool, backend) = unmigrated_database(dir.path()).await;
    migrate(&pool, backend, |version| version < 41).await;
    for statement in [
        "INSERT INTO clinics (id, slug, name, timezone, default_language, default_channels, \
         created_at) VALUES ('cln_a', 'a', 'A', 'Asia/Jerusalem', 'he', 'sms', 0)",
        "INSERT INTO patients (id, clinic_id, external_id, name, language, timezone, whatsapp, \
         channels, opted_out, created_at, updated_at) \
         VALUES ('pat_a', 'cln_a', 'p1', 'Dana', 'he', 'Asia/Jerusalem', 0, 'sms', '', 0, 0)",
        // Held by a dispatcher mid hand-over, with a receipt that came meanwhile.
        "INSERT INTO notifications (id, clinic_id, patient_id, topic, body, priority, send_at, \
         status, due_at, lease_token, lease_until, recheck, feed_position, created_at, updated_at) \
         VALUES ('ntf_1', 'cln_a', 'pat_a', 'general', 'Hello', 'urgent', 100, \
         'sending', 5000, 'tok', 5000, 1, 7, 100, 300)",
        "INSERT INTO notifications (id, clinic_id, patient_id, topic, body, priority, send_at, \
         status, delivered_channel, feed_position, created_at, updated_at, idempotency_key) \
         VALUES ('ntf_2', 'cln_a', 'pat_a', 'general', 'Bye', 'normal', 200, \
         'delivered', 'sms', 8, 200, 400, 'key-2')",
    ] {
        sqlx::query(statement)
            .execute(&pool)
            .await
            .expect(statement);
    }

    migrate(&pool, backend, |version| version == 41).await;

    let stored: Vec<Stored> = sqlx::query_as(
        "SELECT id, body, status, delivered_channel, due_at, lease_token, lease_until, recheck, \
         feed_position, created_at, updated_at, idempotency_key FROM notifications ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("notifications");
    let text = |s: &str| Some(s.to_owned());
    assert_eq!(
        stored,
        [
            (
                "ntf_1".to_owned(),
                text("Hello"),
                "sending".to_owned(),
                None,
                Some(5000),
                text("tok"),
                Some(5000),
                1,
                7,
                100,
                300,
                None,
            ),
            (
                "ntf_2".to_owned(),
                text("Bye"),
                "delivered".to_owned(),
                text("sms"),
                None,
                None,
                None,
                0,
                8,
                200,
                400,
                text("key-2"),
            ),
        ]
    );
    let held: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM notification_states WHERE clinic_id = 'cln_a' AND status = 'sending'",
    )
    .fetch_all(&pool)
    .await
    .expect("states");
    assert_eq!(held, [("ntf_1".to_owned(),)]);
    pool.close().await;
    database.remove().await.expect("drop");
}
