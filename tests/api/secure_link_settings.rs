//! Setting up secure message links: the clinic's switch needs an address patients can reach,
//! only sensitive topics carry a link, and a patient's date of birth is kept for the proof.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestApp;

#[tokio::test]
async fn links_are_refused_without_a_public_url_when_messages_reach_real_phones() {
    let app = TestApp::spawn_with(|config| config.sandbox.enabled = Some(false)).await;
    let admin = app.admin_key().await;
    let with_url = TestApp::spawn_with(|config| {
        config.sandbox.enabled = Some(false);
        config.public_url = Some("https://medrelay.clinic.example".to_owned());
    })
    .await;
    let admin_with_url = with_url.admin_key().await;

    let on = json!({ "enabled": true });
    let path = "/v1/clinic/secure-links";
    let refused = app
        .request(Method::PUT, path, &admin, Some(on.clone()))
        .await;
    let accepted = with_url
        .request(Method::PUT, path, &admin_with_url, Some(on))
        .await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "enabled", "{problem:#}");
    assert!(
        problem["errors"][0]["rule"]
            .as_str()
            .expect("rule")
            .contains("public_url")
    );
    assert_eq!(accepted.status(), StatusCode::OK);
    let settings: Value = accepted.json().await.expect("settings");
    assert_eq!(
        settings,
        json!({ "enabled": true, "expires_after_hours": 72 })
    );
    app.stop().await;
    with_url.stop().await;
}

#[tokio::test]
async fn only_a_sensitive_topic_may_carry_a_link() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;

    let link = json!({ "sensitivity": "normal", "secure_link": true });
    let refused = app
        .request(Method::PUT, "/v1/topics/general", &admin, Some(link))
        .await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "secure_link", "{problem:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_birth_date_is_kept_as_written_and_a_future_one_is_refused() {
    let app = TestApp::spawn().await;

    let kept = app.put_patient("p-1", dana()).await;
    let mut unborn = dana();
    unborn["birth_date"] = json!("2999-01-01");
    let refused = app.put_patient("p-2", unborn).await;

    let kept: Value = kept.json().await.expect("patient");
    assert_eq!(kept["birth_date"], "1984-03-09");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "birth_date", "{problem:#}");
    app.stop().await;
}

fn dana() -> Value {
    json!({ "name": "Dana", "phone": "+972541234567", "birth_date": "1984-03-09" })
}

#[tokio::test]
async fn a_patch_sets_or_removes_the_birth_date_and_keeps_the_rest() {
    let app = TestApp::spawn().await;
    app.put_patient("p-1", dana()).await;

    let running = &app;
    let patch = |body: Value| async move {
        let response = running
            .client()
            .patch(format!("{}/v1/patients/p-1", running.base))
            .bearer_auth(&running.key)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.expect("patient")
    };
    let changed = patch(json!({ "birth_date": "1990-12-31" })).await;
    let removed = patch(json!({ "birth_date": null })).await;

    assert_eq!(changed["birth_date"], "1990-12-31");
    assert_eq!(changed["phone"], "+972541234567");
    assert_eq!(removed["birth_date"], Value::Null);
    assert_eq!(removed["name"], "Dana");
    app.stop().await;
}
