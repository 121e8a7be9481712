use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body, reminder};

async fn app_with_dana() -> TestApp {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;
    app
}

#[tokio::test]
async fn the_sixth_normal_notification_in_a_day_is_refused_with_patient_limit_and_an_urgent_one_still_goes()
 {
    let app = app_with_dana().await;
    for _ in 0..5 {
        app.notify(reminder()).await;
    }

    let refused = app.post_notification(reminder()).await;

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert!(
        retry_after > 23 * 3600 && retry_after <= 24 * 3600,
        "{retry_after}"
    );
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["reason"], "patient_limit");
    assert_eq!(problem["patient_id"], "p-1");
    assert!(problem["retry_at"].is_string(), "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("patient p-1 has had 5 non-urgent notifications")),
        "{problem:#}"
    );
    let listed = app
        .request(
            Method::GET,
            "/v1/notifications?patient_id=p-1",
            &app.key,
            None,
        )
        .await;
    let listed: Value = listed.json().await.expect("list");
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(5),
        "nothing stored for the refused one"
    );

    let mut urgent = body("Please call the clinic today");
    urgent["priority"] = json!("urgent");
    app.notify_as(&app.staff_key().await, urgent).await;
    app.stop().await;
}

#[tokio::test]
async fn a_replay_is_answered_not_counted_and_other_patients_are_not_affected() {
    let app = TestApp::spawn_with(|config| config.api.patient_daily_cap = 2).await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;
    app.patient(
        "p-2",
        json!({ "name": "Omar", "email": "omar@example.org" }),
    )
    .await;
    let keyed = |key: &str| {
        app.client()
            .post(format!("{}/v1/notifications", app.base))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", key.to_owned())
            .json(&reminder())
            .send()
    };

    let first = keyed("k-1").await.expect("sent");
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.expect("receipt");
    for _ in 0..3 {
        let replay = keyed("k-1").await.expect("sent");
        assert_eq!(replay.status(), StatusCode::ACCEPTED);
        let replay: Value = replay.json().await.expect("receipt");
        assert_eq!(replay["id"], first["id"]);
    }
    app.notify(reminder()).await;
    assert_eq!(
        app.post_notification(reminder()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let replay = keyed("k-1").await.expect("sent");
    assert_eq!(
        replay.status(),
        StatusCode::ACCEPTED,
        "a replay at the cap still gets its receipt"
    );

    let mut for_omar = reminder();
    for_omar["patient_id"] = json!("p-2");
    app.notify(for_omar).await;
    app.stop().await;
}

#[tokio::test]
async fn requests_for_one_patient_arriving_together_are_counted_one_by_one() {
    let app = TestApp::spawn_with(|config| config.api.patient_daily_cap = 3).await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;

    // Sent at once, they share intake batches (group commit).
    let answers =
        futures::future::join_all((0..10).map(|_| app.post_notification(reminder()))).await;

    let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
    let accepted = statuses
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((accepted, refused), (3, 7), "{statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_notification_gives_its_place_back() {
    let app = TestApp::spawn_with(|config| config.api.patient_daily_cap = 1).await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;
    let mut later = reminder();
    later["send_at"] = json!((jiff::Timestamp::now() + Duration::from_secs(3600)).to_string());
    let id = app.notify(later).await;
    assert_eq!(
        app.post_notification(reminder()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let cancelled = app
        .request(
            Method::DELETE,
            &format!("/v1/notifications/{id}"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);

    app.notify(reminder()).await;
    app.stop().await;
}

/// Several instances share a database on PostgreSQL only (see `multi_instance`).
#[tokio::test]
async fn two_instances_on_one_database_share_the_patients_cap() {
    if std::env::var("MEDRELAY_TEST_POSTGRES_URL").is_err() {
        eprintln!("skipped: several instances on one database need PostgreSQL");
        return;
    }
    let cap = |config: &mut medrelay::Config| config.api.patient_daily_cap = 4;
    let a = TestApp::spawn_with(cap).await;
    a.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;
    let mut config = crate::harness::test_config();
    config.database_url = a.database_url().to_owned();
    cap(&mut config);
    let b = medrelay::app::Application::build(config)
        .await
        .expect("a second instance on the same database")
        .start();
    let post = |base: String| {
        a.client()
            .post(format!("{base}/v1/notifications"))
            .bearer_auth(&a.key)
            .json(&reminder())
            .send()
    };

    let answers = futures::future::join_all((0..16).map(|i| {
        post(if i % 2 == 0 {
            a.base.clone()
        } else {
            format!("http://{}", b.addr)
        })
    }))
    .await;

    let accepted = answers
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == StatusCode::ACCEPTED))
        .count();
    assert_eq!(accepted, 4);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_booking_key_may_not_send_urgent_unless_its_clinic_allows_it() {
    let app = app_with_dana().await;
    let mut urgent = reminder();
    urgent["priority"] = json!("urgent");

    let refused = app.post_notification(urgent.clone()).await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "priority", "{problem:#}");
    app.notify_as(&app.staff_key().await, urgent.clone()).await;
    app.notify_as(&app.admin_key().await, urgent.clone()).await;
    app.stop().await;

    let allowed = TestApp::spawn_with(|config| {
        config.api.booking_urgent_clinics = vec!["hadar".to_owned()];
    })
    .await;
    allowed
        .patient(
            "p-1",
            json!({ "name": "Dana", "email": "dana@example.org" }),
        )
        .await;
    allowed.notify(urgent).await;
    allowed.stop().await;
}

#[tokio::test]
async fn urgent_notifications_have_their_own_daily_cap_apart_from_the_normal_one() {
    let app = TestApp::spawn_with(|config| {
        config.api.patient_daily_cap = 1;
        config.api.patient_daily_urgent_cap = 2;
    })
    .await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;
    let staff = app.staff_key().await;
    let mut urgent = body("Please call the clinic today");
    urgent["priority"] = json!("urgent");
    app.notify(reminder()).await;
    app.notify_as(&staff, urgent.clone()).await;
    app.notify_as(&staff, urgent.clone()).await;

    let refused = app
        .request(Method::POST, "/v1/notifications", &staff, Some(urgent))
        .await;

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["reason"], "patient_limit");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("patient p-1 has had 2 urgent notifications")),
        "{problem:#}"
    );
    assert_eq!(
        app.post_notification(reminder()).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the normal cap is its own"
    );
    app.stop().await;
}
