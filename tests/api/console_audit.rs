//! The console's requests in the audit trail: each page a person saw and each form they sent,
//! under their own name, never a shared key.

use medrelay::store::ApiKeyRole;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::TestApp;

#[tokio::test]
async fn what_a_person_sees_and_changes_in_the_console_is_in_the_audit_trail_under_their_id() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;
    console
        .post("/console/account/language", &[("language", "he")])
        .await;
    let admin = app.admin_key().await;

    let actor = format!("staff:{}", console.member.id);
    let answer = app
        .request(
            Method::GET,
            &format!("/v1/audit?actor={actor}"),
            &admin,
            None,
        )
        .await;

    assert_eq!(answer.status(), StatusCode::OK);
    let page: Value = answer.json().await.unwrap();
    let entries: Vec<(&str, &str, u64)> = page["items"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["resource_type"].as_str().unwrap(),
                e["outcome"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        entries.contains(&("console.page", "/console/account", 200)),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("console.form", "/console/account/language", 303)),
        "{entries:?}"
    );
    app.stop().await;
}
