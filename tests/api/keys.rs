//! API keys: a clinic's admins list, make and revoke them; a secret is shown once; a revoked key
//! stops working here at once and on every other instance within seconds.

use std::time::Duration;

use medrelay::app::Application;
use medrelay_testkit::wait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, test_config};

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.expect("json")
}

#[tokio::test]
async fn an_admin_makes_lists_and_revokes_keys_and_no_listing_shows_a_secret() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;

    let made = json_of(
        app.request(
            Method::POST,
            "/v1/keys",
            &admin,
            Some(json!({ "role": "staff" })),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let staff_key = made["key"].as_str().expect("the secret, once").to_owned();
    let staff_id = made["id"].as_str().expect("id").to_owned();
    assert_eq!(made["role"], "staff");
    assert_eq!(
        app.request(Method::GET, "/v1/notifications", &staff_key, None)
            .await
            .status(),
        StatusCode::OK
    );

    let listed = json_of(
        app.request(Method::GET, "/v1/keys", &admin, None).await,
        StatusCode::OK,
    )
    .await;
    let items = listed["items"].as_array().expect("items");
    assert_eq!(
        items.iter().map(|k| k["role"].clone()).collect::<Vec<_>>(),
        [json!("booking"), json!("admin"), json!("staff")]
    );
    assert!(
        items.iter().all(|k| k.get("key").is_none()
            && k["created_at"].is_string()
            && k["revoked_at"].is_null()),
        "{listed:#}"
    );
    assert!(!listed.to_string().contains(&staff_key[3..]));

    let revoked = json_of(
        app.request(
            Method::DELETE,
            &format!("/v1/keys/{staff_id}"),
            &admin,
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(revoked["revoked_at"].is_string(), "{revoked:#}");
    let refused = app
        .request(Method::GET, "/v1/notifications", &staff_key, None)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_admin_keys_manage_keys_and_only_their_own_clinics() {
    let app = TestApp::spawn().await;
    let staff = app.staff_key().await;
    let other_clinic = app.other_clinic_key().await;
    let admin = app.admin_key().await;
    let booking_id = json_of(
        app.request(Method::GET, "/v1/keys", &admin, None).await,
        StatusCode::OK,
    )
    .await["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    for key in [&app.key, &staff] {
        for (method, path) in [
            (Method::GET, "/v1/keys".to_owned()),
            (Method::DELETE, format!("/v1/keys/{booking_id}")),
        ] {
            let response = app.request(method.clone(), &path, key, None).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        }
    }
    let other_admin = {
        let clinic = app.store.clinic_by_slug("other").await.expect("clinic");
        app.store
            .create_api_key(
                &clinic.id,
                medrelay::store::ApiKeyRole::Admin,
                jiff::Timestamp::now(),
            )
            .await
            .expect("key")
    };
    let elsewhere = app
        .request(
            Method::DELETE,
            &format!("/v1/keys/{booking_id}"),
            &other_admin,
            None,
        )
        .await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let bad_role = app
        .request(
            Method::POST,
            "/v1/keys",
            &admin,
            Some(json!({ "role": "root" })),
        )
        .await;
    assert_eq!(bad_role.status(), StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        app.request(Method::GET, "/v1/notifications", &app.key, None)
            .await
            .status(),
        StatusCode::OK,
        "the booking key still works"
    );
    assert_eq!(
        app.request(Method::GET, "/v1/notifications", &other_clinic, None)
            .await
            .status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn a_key_revoked_on_one_instance_is_refused_by_another_within_seconds() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let mut config = test_config();
    config.database_url = app.database_url().to_owned();
    config.sandbox.enabled = Some(false);
    let other = Application::build(config)
        .await
        .expect("second instance")
        .start();
    let other_url = format!("http://{}/v1/notifications", other.addr);
    let from_other = |key: String| {
        let request = app.client().get(&other_url).bearer_auth(key);
        async move { request.send().await.expect("sent").status() }
    };
    // The other instance has checked the key and keeps it for a moment.
    assert_eq!(from_other(app.key.clone()).await, StatusCode::OK);
    let booking_id = json_of(
        app.request(Method::GET, "/v1/keys", &admin, None).await,
        StatusCode::OK,
    )
    .await["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let revoked = app
        .request(
            Method::DELETE,
            &format!("/v1/keys/{booking_id}"),
            &admin,
            None,
        )
        .await;

    assert_eq!(revoked.status(), StatusCode::OK);
    wait::within(Duration::from_secs(10))
        .every(Duration::from_millis(100))
        .until(async || match from_other(app.key.clone()).await {
            StatusCode::UNAUTHORIZED => Ok(()),
            status => Err(format!(
                "the other instance still takes the revoked key: {status}"
            )),
        })
        .await;
    other.stop().await;
    app.stop().await;
}
