//! Retention (`/v1/clinic/retention`): every day at 03:00 clinic time, message texts older than
//! the clinic's period (two years unless it says otherwise) and media references older than
//! its media period (90 days) are removed; ids, statuses, times and the records themselves stay,
//! and notifications still waiting keep their texts. One instance runs each clinic's day, in
//! bounded batches. The clock is fixed by the test and the clinic keeps Israel's usual hours.

use std::sync::Arc;

use jiff::Timestamp;
use medrelay::app::Application;
use medrelay::clock::AdjustableClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::conversations::{get, inbound_messages};
use crate::fhir_push::{connect, fast_pushes, system, wait_until_pushed};
use crate::harness::{
    self, TestApp, body, event_details, migrate, problem_fields, unmigrated_database,
};
use crate::hours::{at, clinic_on_israeli_hours_with};
use crate::multi_instance::skipped_without_postgres;
use medrelay_testkit::{FhirServer, wait};

const PATH: &str = "/v1/clinic/retention";
const DANA: &str = "+972541234567";
/// Sunday 6 December 2026, 10:00 in Jerusalem: the clinic is open.
const SUNDAY_10_00: &str = "2026-12-06T10:00:00+02:00";

/// Runs looked for every few milliseconds, so a test waits for a run, not for a poll.
fn quick_runs(config: &mut medrelay::Config) {
    config.retention.poll_interval_ms = 10;
    config.api.patient_daily_cap = 0;
}

/// A clinic on Israeli hours with Dana, the clock at Sunday 10:00, runs looked for often.
async fn clinic_at_sunday_10_00(
    adjust: impl FnOnce(&mut medrelay::Config),
) -> (TestApp, Arc<AdjustableClock>, String) {
    let (app, clock) = clinic_on_israeli_hours_with(SUNDAY_10_00, |config| {
        quick_runs(config);
        adjust(config);
    })
    .await;
    let admin = app.admin_key().await;
    first_run(&app, &admin).await;
    (app, clock, admin)
}

/// Waits for the run an instance makes of a clinic it has not looked at yet, at start.
async fn first_run(app: &TestApp, admin: &str) {
    wait::within(std::time::Duration::from_secs(20))
        .until(async || {
            let (_, retention) = get(app, admin, PATH).await;
            if retention["last_run"].is_null() {
                Err(format!("no run yet: {retention:#}"))
            } else {
                Ok(())
            }
        })
        .await;
}

async fn set_periods(app: &TestApp, admin: &str, periods: Value) -> (StatusCode, Value) {
    let response = app.request(Method::PUT, PATH, admin, Some(periods)).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Puts the clock at `moment` and waits for the clinic's run that starts then; returns the
/// settings with that run as `last_run`.
async fn run_at(app: &TestApp, clock: &AdjustableClock, admin: &str, moment: &str) -> Value {
    let moment = at(moment);
    clock.set(moment);
    wait::within(std::time::Duration::from_secs(20))
        .until(async || {
            let (_, retention) = get(app, admin, PATH).await;
            let started: Option<Timestamp> = retention["last_run"]["started_at"]
                .as_str()
                .and_then(|s| s.parse().ok());
            match started {
                Some(started) if started >= moment => Ok(retention),
                _ => Err(format!("no run since {moment}: {retention:#}")),
            }
        })
        .await
}

/// A notification sent now and finished.
async fn sent(app: &TestApp, text: &str) -> String {
    let id = app.notify(body(text)).await;
    app.wait_until_finished(&id).await;
    id
}

fn removals(record: &Value) -> Vec<String> {
    event_details(record)
        .into_iter()
        .filter(|d| d.contains("removed under the clinic's retention policy"))
        .collect()
}

fn content_texts(notification: &Value) -> Vec<Option<&str>> {
    notification["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["content"]["text"].as_str())
        .collect()
}

#[tokio::test]
async fn a_clinic_keeps_texts_two_years_and_media_90_days_unless_an_admin_says_otherwise() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let staff = app.staff_key().await;

    let (status, defaults) = get(&app, &admin, PATH).await;
    let (by_staff, _) = get(&app, &staff, PATH).await;
    let (set, changed) = set_periods(&app, &admin, json!({"message_text_days": 365})).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(defaults["message_text_days"], 730);
    assert_eq!(defaults["media_days"], 90);
    assert_eq!(by_staff, StatusCode::FORBIDDEN);
    assert_eq!(set, StatusCode::OK, "{changed:#}");
    assert_eq!(changed["message_text_days"], 365);
    assert_eq!(
        changed["media_days"], 90,
        "a field left out takes its default"
    );
    let (_, read) = get(&app, &admin, PATH).await;
    assert_eq!(read["message_text_days"], 365);
    app.stop().await;
}

#[tokio::test]
async fn periods_out_of_bounds_are_refused_by_name_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;

    let (short, problem) = set_periods(
        &app,
        &admin,
        json!({"message_text_days": 29, "media_days": 0}),
    )
    .await;
    let (long, too_long) = set_periods(&app, &admin, json!({"media_days": 3651})).await;
    let (unknown, not_a_field) = set_periods(&app, &admin, json!({"texts": 30})).await;

    assert_eq!(short, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem_fields(&problem),
        ["message_text_days", "media_days"],
        "{problem:#}"
    );
    assert!(
        problem["errors"][0]["rule"]
            .as_str()
            .is_some_and(|r| r.contains("from 30 to 3650")),
        "{problem:#}"
    );
    assert_eq!(long, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&too_long), ["media_days"]);
    assert_eq!(unknown, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_a_field.to_string().contains("texts"), "{not_a_field:#}");
    let (_, unchanged) = get(&app, &admin, PATH).await;
    assert_eq!(unchanged["message_text_days"], 730);
    assert_eq!(unchanged["media_days"], 90);
    app.stop().await;
}

#[tokio::test]
async fn texts_past_two_years_go_at_03_00_and_newer_ones_stay() {
    let (app, clock, admin) = clinic_at_sunday_10_00(|_| {}).await;
    let old = sent(&app, "Your test results are ready").await;
    app.patient_sends(json!({ "channel": "whatsapp", "from": DANA, "text": "old question" }))
        .await;
    clock.set(at("2028-11-06T10:00:00+02:00"));
    let newer = sent(&app, "See you on Monday").await;
    app.patient_sends(json!({ "channel": "whatsapp", "from": DANA, "text": "new question" }))
        .await;

    // On Tuesday 5 December 2028 the old ones are 729 days and 17 hours old.
    let day_before = run_at(&app, &clock, &admin, "2028-12-05T03:00:00+02:00").await;
    let kept = app.notification(&old).await;
    let day_of = run_at(&app, &clock, &admin, "2028-12-06T03:00:00+02:00").await;

    assert_eq!(kept["body"], "Your test results are ready");
    assert_eq!(day_before["last_run"]["removed"]["notifications"], 0);
    assert!(
        day_of["last_run"]["removed"]["notifications"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{day_of:#}"
    );
    assert_eq!(day_of["last_run"]["removed"]["messages"], 1, "{day_of:#}");
    assert_eq!(day_of["next_run_at"], "2028-12-07T01:00:00Z");
    let removed = app.notification(&old).await;
    assert_eq!(removed["body"], "", "{removed:#}");
    assert!(
        ["delivered", "read"].contains(&removed["status"].as_str().unwrap_or_default()),
        "the status stays: {removed:#}"
    );
    assert_eq!(removed["created_at"], kept["created_at"]);
    assert!(
        content_texts(&removed).iter().all(Option::is_none),
        "what each attempt sent is gone too: {removed:#}"
    );
    assert_eq!(
        removals(&removed),
        ["message text removed under the clinic's retention policy (kept 730 days)"]
    );
    let newer = app.notification(&newer).await;
    assert_eq!(newer["body"], "See you on Monday");
    assert!(
        content_texts(&newer)
            .iter()
            .any(|t| t.is_some_and(|t| t.contains("See you on Monday"))),
        "{newer:#}"
    );
    assert_eq!(removals(&newer), Vec::<String>::new());
    let staff = app.staff_key().await;
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
    let texts: Vec<&Value> = inbound_messages(&conversation)
        .iter()
        .map(|m| &m["text"])
        .collect();
    assert_eq!(
        texts,
        [&Value::Null, &json!("new question")],
        "{conversation:#}"
    );
    assert_eq!(removals(&conversation).len(), 1, "{conversation:#}");
    app.stop().await;
}

#[tokio::test]
async fn texts_removed_past_retention_stay_in_the_medical_record_on_the_clinics_fhir_server() {
    let (app, clock, admin) = clinic_at_sunday_10_00(fast_pushes).await;
    let server = FhirServer::start().await;
    connect(&app, &admin, &server, json!({ "kind": "none" })).await;
    let old = sent(&app, "Your test results are ready").await;
    wait_until_pushed(&app, &admin).await;
    let notifications = system("hadar", "notification");
    let [pushed] = server
        .find("CommunicationRequest", &notifications, &old)
        .try_into()
        .expect("one CommunicationRequest");
    let versions = |kind: &str| -> Vec<(String, u32)> {
        let mut versions: Vec<_> = server
            .resources(kind)
            .into_iter()
            .map(|r| (r.id, r.version))
            .collect();
        versions.sort();
        versions
    };
    let communications = versions("Communication");

    let day_of = run_at(&app, &clock, &admin, "2028-12-06T03:00:00+02:00").await;
    wait_until_pushed(&app, &admin).await;

    assert!(
        day_of["last_run"]["removed"]["notifications"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{day_of:#}"
    );
    assert_eq!(app.notification(&old).await["body"], "");
    let [record] = server
        .find("CommunicationRequest", &notifications, &old)
        .try_into()
        .expect("one CommunicationRequest");
    assert_eq!(record.version, pushed.version, "{:#}", record.resource);
    assert!(
        record
            .resource
            .to_string()
            .contains("Your test results are ready")
    );
    assert!(!communications.is_empty());
    assert_eq!(versions("Communication"), communications);
    app.stop().await;
}

#[tokio::test]
async fn media_references_go_after_90_days_and_the_caption_stays_with_the_texts() {
    let (app, clock, admin) = clinic_at_sunday_10_00(|_| {}).await;
    app.patient_sends(json!({
        "channel": "whatsapp", "from": DANA, "image": { "caption": "the rash on my arm" }
    }))
    .await;

    // On Saturday 6 March 2027 the photo is 89 days and 17 hours old.
    let staff = app.staff_key().await;
    let day_before = run_at(&app, &clock, &admin, "2027-03-06T03:00:00+02:00").await;
    let (_, kept) = get(&app, &staff, "/v1/conversations/p-1").await;
    let day_of = run_at(&app, &clock, &admin, "2027-03-07T03:00:00+02:00").await;

    assert_eq!(day_before["last_run"]["removed"]["media"], 0);
    assert_eq!(
        inbound_messages(&kept)[0]["media"]["type"],
        "file",
        "{kept:#}"
    );
    assert_eq!(day_of["last_run"]["removed"]["media"], 1, "{day_of:#}");
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
    let photo = inbound_messages(&conversation)[0];
    assert_eq!(
        photo["media"],
        json!({"type": "removed", "mime_type": "image/png"}),
        "only the type stays: {photo:#}"
    );
    assert_eq!(photo["kind"], "image");
    assert_eq!(photo["text"], "the rash on my arm");
    let media = app
        .request(
            Method::GET,
            &format!("/v1/messages/{}/media", photo["id"].as_str().expect("id")),
            &admin,
            None,
        )
        .await;
    assert_eq!(media.status(), StatusCode::GONE);
    assert!(
        event_details(&conversation).iter().any(|d| d
            == "media reference (its kind and type stay) removed under the clinic's retention \
                policy (kept 90 days)"),
        "{conversation:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_notification_keeps_its_text_while_it_waits_and_the_whole_period_after_it_went() {
    let (app, clock, admin) = clinic_at_sunday_10_00(|_| {}).await;
    let (set, _) = set_periods(&app, &admin, json!({"message_text_days": 30})).await;
    assert_eq!(set, StatusCode::OK);
    let done = sent(&app, "Your prescription is ready").await;
    let mut later = body("Time for your yearly check-up");
    later["send_at"] = json!("2027-02-04T10:00:00+02:00");
    let waiting = app.notify(later).await;

    // Wednesday 6 January 2027: both are 30 days and 17 hours old.
    let run = run_at(&app, &clock, &admin, "2027-01-06T03:00:00+02:00").await;

    assert_eq!(run["last_run"]["removed"]["notifications"], 1, "{run:#}");
    assert_eq!(app.notification(&done).await["body"], "");
    let waiting = app.notification(&waiting).await;
    assert_eq!(waiting["status"], "scheduled");
    assert_eq!(waiting["body"], "Time for your yearly check-up");
    assert_eq!(removals(&waiting), Vec::<String>::new());

    // Sent on Thursday 4 February 2027 at 10:00, two months after it was taken: its period
    // counts from then.
    clock.set(at("2027-02-04T10:00:00+02:00"));
    let waiting = waiting["id"].as_str().expect("id").to_owned();
    app.wait_until_finished(&waiting).await;
    let day_before = run_at(&app, &clock, &admin, "2027-03-06T03:00:00+02:00").await;
    assert_eq!(day_before["last_run"]["removed"]["notifications"], 0);
    assert_eq!(
        app.notification(&waiting).await["body"],
        "Time for your yearly check-up"
    );
    let day_of = run_at(&app, &clock, &admin, "2027-03-07T03:00:00+02:00").await;
    assert_eq!(day_of["last_run"]["removed"]["notifications"], 1);
    assert_eq!(app.notification(&waiting).await["body"], "");
    app.stop().await;
}

#[tokio::test]
async fn a_backlog_is_removed_in_several_short_transactions() {
    let (app, clock, admin) = clinic_at_sunday_10_00(|config| {
        config.retention.batch_size = 2;
    })
    .await;
    set_periods(&app, &admin, json!({"message_text_days": 30})).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(sent(&app, &format!("Message {i}")).await);
    }

    let run = run_at(&app, &clock, &admin, "2027-01-06T03:00:00+02:00").await;

    let removed = &run["last_run"]["removed"];
    assert_eq!(removed["notifications"], 5, "{run:#}");
    assert_eq!(removed["batches"], 3, "2, 2 and the last 1: {run:#}");
    for id in &ids {
        let notification = app.notification(id).await;
        assert_eq!(notification["body"], "", "{notification:#}");
        assert_eq!(removals(&notification).len(), 1, "{notification:#}");
    }
    app.stop().await;
}

/// How many runs the clinic's events record.
async fn recorded_runs(app: &TestApp) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(app.database_url())
        .await
        .expect("database");
    let row = sqlx::query(
        "SELECT COUNT(*) FROM events WHERE kind = 'redaction' AND patient_id IS NULL \
         AND notification_id IS NULL",
    )
    .fetch_one(&pool)
    .await
    .expect("events");
    pool.close().await;
    row.try_get::<i64, _>(0).expect("count")
}

#[tokio::test]
async fn two_instances_never_both_run_a_clinics_day() {
    if skipped_without_postgres("two_instances_never_both_run_a_clinics_day") {
        return;
    }
    let small_batches = |config: &mut medrelay::Config| {
        quick_runs(config);
        config.retention.batch_size = 2;
    };
    let (a, clock, admin) = clinic_at_sunday_10_00(small_batches).await;
    let mut config = harness::test_config();
    config.database_url = a.database_url().to_owned();
    small_batches(&mut config);
    let b = Application::build_with_clock(config, clock.clone())
        .await
        .expect("a second instance starts on the same database")
        .start();
    set_periods(&a, &admin, json!({"message_text_days": 30})).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(sent(&a, &format!("Message {i}")).await);
    }

    for day in ["2027-01-06", "2027-01-07", "2027-01-08"] {
        run_at(&a, &clock, &admin, &format!("{day}T03:00:00+02:00")).await;
    }

    // The run at start, then one a day.
    assert_eq!(recorded_runs(&a).await, 4);
    for id in &ids {
        let notification = a.notification(id).await;
        assert_eq!(removals(&notification).len(), 1, "{notification:#}");
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn the_media_period_moves_out_of_the_two_way_settings_keeping_each_clinics_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database, pool, backend) = unmigrated_database(dir.path()).await;
    migrate(&pool, backend, |version| version < 32).await;
    for (id, settings) in [
        (
            "cln_set",
            Some(r#"{"emergency_number":"1221","media_retention_days":14}"#),
        ),
        ("cln_unset", None),
    ] {
        sqlx::query(
            "INSERT INTO clinics (id, slug, name, timezone, default_language, default_channels, \
             created_at, inbound_settings) VALUES ($1, $1, $1, 'Asia/Jerusalem', 'he', 'sms', 0, $2)",
        )
        .bind(id)
        .bind(settings)
        .execute(&pool)
        .await
        .expect("clinic");
    }

    migrate(&pool, backend, |version| version == 32).await;

    let rows = sqlx::query("SELECT id, media_days, inbound_settings FROM clinics ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("clinics");
    let clinics: Vec<(String, i64, Option<Value>)> = rows
        .iter()
        .map(|row| {
            let settings: Option<String> = row.try_get(2).expect("settings");
            (
                row.try_get(0).expect("id"),
                row.try_get(1).expect("media_days"),
                settings.map(|s| serde_json::from_str(&s).expect("json")),
            )
        })
        .collect();
    assert_eq!(
        clinics,
        [
            (
                "cln_set".to_owned(),
                14,
                Some(json!({"emergency_number": "1221"}))
            ),
            ("cln_unset".to_owned(), 90, None),
        ]
    );
    pool.close().await;
    database.remove().await.expect("drop");
}
