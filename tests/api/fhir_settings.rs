//! `/v1/clinic/fhir`: the identifier systems and the server of a clinic's FHIR records, set by
//! its admins with every broken rule named, its credentials never shown again; the deliveries
//! log, paged; a disabled server gets nothing and a removed one drops what waited.

use medrelay_testkit::FhirServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fhir_push::{connect, fast_pushes, pushes, wait_for_request, wait_until_pushed};
use crate::harness::{TestApp, body, problem_fields};

async fn put(app: &TestApp, key: &str, settings: Value) -> (StatusCode, Value) {
    let response = app
        .request(Method::PUT, "/v1/clinic/fhir", key, Some(settings))
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn settings_name_every_broken_rule() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let broken = json!({
        "identifier_base": "not a uri",
        "patient_identifier_system": "https://ids.example/patients?x=1",
        "server": {
            "base_url": "http://ehr.example/fhir",
            "auth": { "kind": "basic", "username": "a:b", "password": "" },
        },
    });

    let (status, problem) = put(&app, &admin, broken).await;
    let (missing_status, missing) = put(&app, &admin, json!({})).await;
    let new_server = json!({ "server": { "base_url": "https://ehr.example/fhir" } });
    let (keep_status, keep) = put(&app, &admin, new_server).await;
    let (private_status, private) = put(
        &app,
        &admin,
        json!({ "server": { "base_url": "https://10.0.0.5/fhir", "auth": { "kind": "none" } } }),
    )
    .await;
    let (kind_status, kind) = put(
        &app,
        &admin,
        json!({ "server": { "base_url": "https://ehr.example/fhir", "auth": { "kind": "oauth" } } }),
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem_fields(&problem),
        [
            "identifier_base",
            "patient_identifier_system",
            "server.base_url",
            "server.auth.username",
            "server.auth.password"
        ],
        "{problem:#}"
    );
    assert_eq!(missing_status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&missing), ["server"]);
    assert_eq!(keep_status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&keep), ["server.auth"]);
    assert_eq!(private_status, StatusCode::UNPROCESSABLE_ENTITY);
    let rule = private["errors"][0]["rule"].as_str().unwrap_or_default();
    assert!(rule.contains("fhir.allow_private_targets"), "{private:#}");
    assert_eq!(kind_status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&kind), ["server.auth.kind"], "{kind:#}");
    app.stop().await;
}

#[tokio::test]
async fn credentials_are_written_never_read_and_only_admins_see_the_settings() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let staff = app.staff_key().await;
    let token = "secret-token-abcdefghij-9f3a";
    let settings = json!({
        "identifier_base": "https://hadar.example/fhir-ids/",
        "patient_identifier_system": "http://fhir.health.gov.il/identifier/il-national-id",
        "server": { "base_url": "https://ehr.hadar.example/fhir/", "auth": { "kind": "bearer", "token": token } },
    });

    let (status, set) = put(&app, &admin, settings).await;
    let (kept_status, kept) = put(
        &app,
        &admin,
        json!({ "server": { "base_url": "https://ehr2.hadar.example/fhir", "enabled": false } }),
    )
    .await;
    let read = app
        .request(Method::GET, "/v1/clinic/fhir", &admin, None)
        .await;
    let read: Value = read.json().await.expect("json");
    let as_staff = app
        .request(Method::GET, "/v1/clinic/fhir", &staff, None)
        .await;
    let as_other = app
        .request(
            Method::GET,
            "/v1/clinic/fhir",
            &app.other_clinic_key().await,
            None,
        )
        .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(set["identifier_base"], "https://hadar.example/fhir-ids");
    assert_eq!(set["server"]["base_url"], "https://ehr.hadar.example/fhir");
    assert_eq!(
        set["server"]["auth"],
        json!({ "kind": "bearer", "token_hint": "…9f3a" })
    );
    assert_eq!(set["server"]["enabled"], true);
    assert_eq!(set["server"]["waiting"], 0);
    assert_eq!(kept_status, StatusCode::OK);
    assert_eq!(kept["server"]["auth"]["kind"], "bearer");
    assert_eq!(kept["identifier_base"], Value::Null);
    assert_eq!(read["server"]["enabled"], false);
    assert_eq!(
        read["server"]["base_url"],
        "https://ehr2.hadar.example/fhir"
    );
    for shown in [&set, &kept, &read] {
        assert!(!shown.to_string().contains(token), "{shown:#}");
    }
    assert_eq!(as_staff.status(), StatusCode::FORBIDDEN);
    assert_eq!(as_other.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn a_disabled_server_gets_nothing_and_a_removed_one_drops_what_waited() {
    let app = TestApp::spawn_with(fast_pushes).await;
    let admin = app.admin_key().await;
    let server = FhirServer::start().await;
    let disabled = json!({ "server": { "base_url": server.base_url, "auth": { "kind": "none" }, "enabled": false } });
    let (status, _) = put(&app, &admin, disabled).await;
    assert_eq!(status, StatusCode::OK);
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    let id = app.notify(body("Please call the clinic")).await;
    app.wait_for(&id, &["delivered", "read"]).await;

    let (_, settings) = put(
        &app,
        &admin,
        json!({ "server": { "base_url": server.base_url } }),
    )
    .await;
    let delete = "/v1/clinic/fhir/server";
    let removed = app.request(Method::DELETE, delete, &admin, None).await;
    let again = app.request(Method::DELETE, delete, &admin, None).await;
    let after = app
        .request(Method::GET, "/v1/clinic/fhir", &admin, None)
        .await;
    let after: Value = after.json().await.expect("json");

    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert_eq!(
        settings["server"]["waiting"], 0,
        "nothing was queued while disabled"
    );
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(after["server"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn the_deliveries_log_pages_newest_first_and_by_record() {
    let app = TestApp::spawn_with(fast_pushes).await;
    let admin = app.admin_key().await;
    let server = FhirServer::start().await;
    connect(&app, &admin, &server, json!({ "kind": "none" })).await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": "+972541234567", "whatsapp": true }),
    )
    .await;
    let first = app.notify(body("One")).await;
    let second = app.notify(body("Two")).await;
    for id in [&first, &second] {
        app.wait_for(id, &["delivered"]).await;
        wait_for_request(&server, id, "completed").await;
    }
    wait_until_pushed(&app, &admin).await;
    let all = pushes(&app, &admin, "").await;

    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/clinic/fhir/pushes?limit=1".to_owned();
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = app
            .request(Method::GET, &path, &admin, None)
            .await
            .json()
            .await
            .expect("page");
        walked.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let of_first = pushes(&app, &admin, &first).await;
    let bad = app
        .request(
            Method::GET,
            "/v1/clinic/fhir/pushes?limit=0&cursor=zz",
            &admin,
            None,
        )
        .await;

    assert_eq!(walked, all);
    assert!(all.iter().all(|p| p["outcome"] == "pushed"), "{all:#?}");
    let times: Vec<jiff::Timestamp> = all
        .iter()
        .filter_map(|p| p["at"].as_str()?.parse().ok())
        .collect();
    assert!(times.is_sorted_by(|a, b| a >= b), "newest first: {times:?}");
    assert!(!of_first.is_empty());
    assert!(of_first.iter().all(|p| p["subject_id"] == first.as_str()));
    assert!(of_first.iter().all(|p| p["subject_kind"] == "notification"));
    // The request alone before the hand-over; with its Communication after.
    assert_eq!(of_first[0]["entries"], 2, "{of_first:#?}");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad: Value = bad.json().await.expect("problem");
    assert_eq!(problem_fields(&bad), ["limit", "cursor"]);
    app.stop().await;
}
