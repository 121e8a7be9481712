use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body};

#[tokio::test]
async fn requests_without_a_valid_key_are_401_problems() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/notifications", app.base);

    let missing = app.client().get(&url).send().await.expect("sent");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");

    let wrong = app
        .request(Method::GET, "/v1/notifications", "mr_not-a-real-key", None)
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let basic = app
        .client()
        .get(&url)
        .basic_auth("user", Some("pw"))
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    let lowercase_scheme = app
        .client()
        .get(&url)
        .header("Authorization", format!("bearer {}", app.key))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        lowercase_scheme.status(),
        StatusCode::OK,
        "the scheme name is case-insensitive"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_clinic_cannot_see_or_touch_another_clinics_patients_or_notifications() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    let mut later = body("Private");
    later["send_at"] =
        json!((jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string());
    let id = app.notify(later).await;
    let other = app.other_clinic_key().await;

    let patient = app
        .request(Method::GET, "/v1/patients/p-1", &other, None)
        .await;
    assert_eq!(patient.status(), StatusCode::NOT_FOUND);
    let notification = app
        .request(
            Method::GET,
            &format!("/v1/notifications/{id}"),
            &other,
            None,
        )
        .await;
    assert_eq!(notification.status(), StatusCode::NOT_FOUND);
    let cancel = app
        .request(
            Method::DELETE,
            &format!("/v1/notifications/{id}"),
            &other,
            None,
        )
        .await;
    assert_eq!(cancel.status(), StatusCode::NOT_FOUND);
    let list: Value = app
        .request(Method::GET, "/v1/notifications", &other, None)
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(list["items"], json!([]));
    let post = app
        .request(Method::POST, "/v1/notifications", &other, Some(body("Hi")))
        .await;
    assert_eq!(
        post.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "p-1 is not the other clinic's patient"
    );

    let same_external_id = app
        .request(
            Method::PUT,
            "/v1/patients/p-1",
            &other,
            Some(json!({ "name": "Someone else" })),
        )
        .await;
    assert_eq!(
        same_external_id.status(),
        StatusCode::CREATED,
        "external ids are per clinic"
    );
    let ours: Value = app
        .request(Method::GET, "/v1/patients/p-1", &app.key, None)
        .await
        .json()
        .await
        .expect("patient");
    assert_eq!(ours["name"], "Dana");
    app.stop().await;
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(|config| {
        config.api.key_rate_per_second = 1;
        config.api.key_burst = 3;
    })
    .await;

    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app
            .request(Method::GET, "/v1/notifications", &app.key, None)
            .await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                response.headers()["retry-after"]
                    .to_str()
                    .is_ok_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1))
            );
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
        }
    }
    assert_eq!(statuses[..3], [StatusCode::OK; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}
