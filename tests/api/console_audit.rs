//! The console's requests in the audit trail: each page a person saw and each form they sent,
//! under their own name, never a shared key.

use medrelay::observability::recorder::AUDIT_WRITE_FAILURES;
use medrelay::store::ApiKeyRole;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::audit_integrity::{database, put_the_trail_back, take_the_trail_away};
use crate::harness::TestApp;
use crate::metrics::Scrape;

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

#[tokio::test]
async fn without_a_writable_trail_a_page_is_withheld_and_a_form_s_change_stands_counted() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;
    let pool = database(&app).await;
    let scrape = || Scrape::of(app.client(), &app.base, None);
    let before = scrape().await;
    take_the_trail_away(&pool).await;

    let page = console.get("/console/account").await.status();
    let form = console
        .post("/console/account/language", &[("language", "he")])
        .await
        .status();
    // Read at once: a form is answered only after its entry was tried.
    let after = scrape().await;
    put_the_trail_back(&pool).await;

    assert_eq!(page, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(form, StatusCode::SEE_OTHER);
    for consequence in ["withheld", "unrecorded"] {
        let counted =
            |scrape: &Scrape| scrape.value(AUDIT_WRITE_FAILURES, &[("consequence", consequence)]);
        assert!(counted(&after) > counted(&before), "{consequence}");
    }
    let account = console.page("/console/account").await;
    assert!(
        account.contains("<html lang=\"he\" dir=\"rtl\">"),
        "the language chosen stands"
    );
    pool.close().await;
    app.stop().await;
}
