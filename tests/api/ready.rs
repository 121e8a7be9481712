//! `/health` says the process serves; `/ready` says whether it can take and deliver
//! notifications, check by check, for a load balancer or an orchestrator.

use medrelay::Config;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::TestApp;

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let answer = app
        .client()
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("the gateway answers");
    let status = answer.status();
    (status, answer.json().await.expect("a JSON body"))
}

/// The names of the checks that failed.
fn failed(body: &Value) -> Vec<&str> {
    body["checks"]
        .as_array()
        .expect("a list of checks")
        .iter()
        .filter(|check| check["ok"] == false)
        .map(|check| check["name"].as_str().unwrap_or(""))
        .collect()
}

#[tokio::test]
async fn a_gateway_that_can_store_and_send_is_ready_by_every_check() {
    let app = TestApp::spawn().await;

    let (status, body) = get(&app, "/ready").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|check| check["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["database", "dispatcher", "providers"]);
    assert!(failed(&body).is_empty(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn without_a_provider_or_the_sandbox_it_is_live_but_not_ready() {
    let app = TestApp::spawn_with(|config: &mut Config| config.sandbox.enabled = Some(false)).await;

    let (live, _) = get(&app, "/health").await;
    let (status, body) = get(&app, "/ready").await;

    assert_eq!(live, StatusCode::OK);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(failed(&body), ["providers"], "{body}");
    app.stop().await;
}

#[tokio::test]
async fn when_the_database_is_gone_health_still_answers_and_ready_names_the_database() {
    let app = TestApp::spawn().await;

    // The application's pools, closed under it: every statement fails from now on.
    app.store.close().await;
    let (live, _) = get(&app, "/health").await;
    let (status, body) = get(&app, "/ready").await;

    assert_eq!(live, StatusCode::OK);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(failed(&body), ["database"], "{body}");
    app.stop().await;
}
