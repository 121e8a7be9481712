//! Pushes to the clinic's FHIR server: the testkit's server holds each push to R4's transaction
//! semantics (strict parsing, conditional updates, `urn:uuid:` references, all or nothing). Each
//! record exists there once, is updated in place as it changes, survives refusals and lost
//! answers, arrives in order, and signs in as the clinic set; a push that keeps failing raises
//! an alert event and shows in `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use medrelay::Config;
use medrelay::clock::AdjustableClock;
use medrelay::store::ApiKeyRole;
use medrelay_testkit::fhir_transaction::StoredResource;
use medrelay_testkit::{FhirServer, wait};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body, new_clinic};
use crate::metrics::Scrape;

const TOKEN: &str = "fhir-token-0123456789abcdef";

/// Pushes to the test's server on loopback, retried fast.
pub(crate) fn fast_pushes(config: &mut Config) {
    config.fhir.allow_private_targets = true;
    config.fhir.timeout_ms = 2000;
    config.webhooks.poll_interval_ms = 20;
    config.webhooks.retry_base_ms = 50;
    config.webhooks.retry_cap_ms = 200;
}

/// `urn:medrelay:clinic:<slug>/<kind>`: the systems of a clinic that chose no base.
pub(crate) fn system(slug: &str, kind: &str) -> String {
    format!("urn:medrelay:clinic:{slug}/{kind}")
}

/// Points the clinic of `admin` at `server`, signing in with `auth`.
pub(crate) async fn connect(app: &TestApp, admin: &str, server: &FhirServer, auth: Value) -> Value {
    let settings = json!({ "server": { "base_url": server.base_url, "auth": auth } });
    let response = app
        .request(Method::PUT, "/v1/clinic/fhir", admin, Some(settings))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("settings")
}

fn bearer() -> Value {
    json!({ "kind": "bearer", "token": TOKEN })
}

/// Waits until the server holds the resource of `resource_type` with the identifier
/// `system|value` and `done` holds for it; it must be the only one with that identifier.
pub(crate) async fn wait_for_resource(
    server: &FhirServer,
    resource_type: &str,
    system: &str,
    value: &str,
    done: impl Fn(&Value) -> bool,
) -> StoredResource {
    wait::within(Duration::from_secs(20))
        .until(
            async || match server.find(resource_type, system, value).as_slice() {
                [one] if done(&one.resource) => Ok(one.clone()),
                [one] => Err(format!("{resource_type} {value} is {:#}", one.resource)),
                [] => Err(format!("no {resource_type} {value} yet")),
                many => panic!("{} {resource_type}s for {value}", many.len()),
            },
        )
        .await
}

/// Waits until nothing waits to be pushed: every change recorded so far is on the server, and
/// its try in the deliveries log.
pub(crate) async fn wait_until_pushed(app: &TestApp, admin: &str) {
    wait::within(Duration::from_secs(20))
        .until(async || {
            let response = app
                .request(Method::GET, "/v1/clinic/fhir", admin, None)
                .await;
            let settings: Value = response.json().await.map_err(|e| e.to_string())?;
            match settings["server"]["waiting"].as_i64() {
                Some(0) => Ok(()),
                _ => Err(format!("{:#}", settings["server"])),
            }
        })
        .await;
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |resource| resource["status"] == status
}

/// Waits until the server holds notification `id`'s CommunicationRequest (once) in `status`.
pub(crate) async fn wait_for_request(
    server: &FhirServer,
    id: &str,
    status: &'static str,
) -> StoredResource {
    let notifications = system("hadar", "notification");
    wait_for_resource(
        server,
        "CommunicationRequest",
        &notifications,
        id,
        status_is(status),
    )
    .await
}

/// Waits until the server holds attempt `id`'s Communication (once) and `done` holds for it.
async fn wait_for_communication(
    server: &FhirServer,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> StoredResource {
    wait_for_resource(
        server,
        "Communication",
        &system("hadar", "attempt"),
        id,
        done,
    )
    .await
}

/// The ids of the attempts of a notification that reached the provider.
fn attempt_ids(notification: &Value) -> Vec<String> {
    notification["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect()
}

async fn patient_on_whatsapp(app: &TestApp) {
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "+972541234567", "whatsapp": true }),
    )
    .await;
}

#[tokio::test]
async fn a_read_notification_is_one_communication_request_and_one_communication_on_the_server() {
    let app = TestApp::spawn_with(fast_pushes).await;
    let admin = app.admin_key().await;
    let server = FhirServer::start().await;
    server.require_bearer(TOKEN);
    connect(&app, &admin, &server, bearer()).await;
    patient_on_whatsapp(&app).await;

    let id = app.notify(body("Your results are in")).await;
    let notification = app.wait_for(&id, &["delivered"]).await;
    let attempts = attempt_ids(&notification);
    let request = wait_for_request(&server, &id, "completed").await;
    let communication = wait_for_communication(&server, &attempts[0], |c| {
        c["status"] == "completed" && c["received"].is_string()
    })
    .await;

    assert_eq!(attempts.len(), 1);
    assert_eq!(server.resources("CommunicationRequest").len(), 1);
    assert_eq!(server.resources("Communication").len(), 1);
    let c = &communication.resource;
    assert_eq!(
        c["basedOn"][0]["reference"],
        format!("CommunicationRequest/{}", request.id)
    );
    assert_eq!(c["payload"][0]["contentString"], "Your results are in");
    assert_eq!(
        c["subject"]["identifier"]["system"],
        system("hadar", "patient")
    );
    assert_eq!(c["subject"]["identifier"]["value"], "p-1");
    for seen in server.requests() {
        assert_eq!(
            seen.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert_eq!(seen.content_type.as_deref(), Some("application/fhir+json"));
    }
    app.stop().await;
}

#[tokio::test]
async fn a_status_change_updates_the_same_communication() {
    let clock = Arc::new(AdjustableClock::default());
    let hour = Duration::from_secs(3600);
    let app = TestApp::spawn_with_clock(
        |config| {
            fast_pushes(config);
            // Delivered and read only when the test moves the clock on.
            config.sandbox.delivery_delay_ms = 2 * 3_600_000;
            config.sandbox.read_delay_ms = 3_600_000;
            config.delivery_timeout.sms_ms = 1000 * 3_600_000;
        },
        clock.clone(),
    )
    .await;
    let admin = app.admin_key().await;
    let server = FhirServer::start().await;
    connect(&app, &admin, &server, json!({ "kind": "none" })).await;
    patient_on_whatsapp(&app).await;
    let id = app.notify(body("Please call the clinic")).await;
    let notification = app.wait_for(&id, &["sent"]).await;
    let attempt = &attempt_ids(&notification)[0];

    let sent = wait_for_communication(&server, attempt, |c| c["status"] == "in-progress").await;
    // An hour at a time, until the sandbox has reported each step.
    wait::within(Duration::from_secs(30))
        .every(Duration::from_millis(300))
        .until(async || {
            clock.advance(hour);
            match app.notification(&id).await["status"].as_str() {
                Some("delivered") => Ok(()),
                status => Err(format!("still {status:?}")),
            }
        })
        .await;
    let delivered = wait_for_communication(&server, attempt, |c| {
        c["status"] == "completed" && c["received"].is_string()
    })
    .await;

    assert_eq!(delivered.id, sent.id);
    assert!(delivered.version > sent.version);
    assert_eq!(server.resources("Communication").len(), 1);
    assert_eq!(server.resources("CommunicationRequest").len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn retries_after_a_503_and_a_dropped_answer_create_nothing_twice() {
    let app = TestApp::spawn_with(fast_pushes).await;
    let admin = app.admin_key().await;
    let server = FhirServer::start().await;
    server.fail_next(2, 503);
    server.drop_next(1);
    connect(&app, &admin, &server, json!({ "kind": "none" })).await;
    patient_on_whatsapp(&app).await;

    let id = app.notify(body("Please call the clinic")).await;
    let notification = app.wait_for(&id, &["delivered"]).await;
    wait_for_request(&server, &id, "completed").await;
    let attempt = &attempt_ids(&notification)[0];
    wait_for_communication(&server, attempt, status_is("completed")).await;
    wait_until_pushed(&app, &admin).await;
    let log = pushes(&app, &admin, "").await;

    assert_eq!(server.resources("CommunicationRequest").len(), 1);
    assert_eq!(server.resources("Communication").len(), 1);
    let outcomes: Vec<(Value, Value)> = log
        .iter()
        .map(|p| (p["status_code"].clone(), p["outcome"].clone()))
        .collect();
    assert!(
        outcomes.contains(&(json!(503), json!("retrying"))),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|p| p["outcome"] == "retrying" && p["status_code"].is_null()),
        "the dropped answer is a failed try: {log:#?}"
    );
    assert_eq!(log[0]["outcome"], "pushed", "{log:#?}");
    app.stop().await;
}

/// How far a status has come, for checking that a record never goes back.
fn rank(status: &Value) -> u8 {
    match status.as_str() {
        Some("active" | "in-progress" | "unknown") => 0,
        _ => 1,
    }
}

#[tokio::test]
async fn each_records_pushes_arrive_in_the_order_of_its_changes() {
    let app = TestApp::spawn_with(fast_pushes).await;
    let admin = app.admin_key().await;
    let server = FhirServer::start().await;
    server.answer_after(Duration::from_millis(30));
    connect(&app, &admin, &server, json!({ "kind": "none" })).await;
    patient_on_whatsapp(&app).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.notify(body(&format!("Message {i}"))).await);
    }
    for id in &ids {
        app.wait_for(id, &["delivered"]).await;
        wait_for_request(&server, id, "completed").await;
    }

    let records = [
        server.resources("CommunicationRequest"),
        server.resources("Communication"),
    ];
    for record in records.iter().flatten() {
        let ranks: Vec<u8> = record.history.iter().map(|v| rank(&v["status"])).collect();
        assert!(ranks.is_sorted(), "{} went back: {ranks:?}", record.id);
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_basic_credentials_are_retried_until_the_admin_fixes_them() {
    let app = TestApp::spawn_with(fast_pushes).await;
    let admin = app.admin_key().await;
    let server = FhirServer::start().await;
    server.require_basic("medrelay", "right password");
    let wrong = json!({ "kind": "basic", "username": "medrelay", "password": "wrong" });
    connect(&app, &admin, &server, wrong).await;
    patient_on_whatsapp(&app).await;
    let id = app.notify(body("Please call the clinic")).await;
    let refused = wait::within(Duration::from_secs(20))
        .until(async || match pushes(&app, &admin, "").await.as_slice() {
            [latest, ..] if latest["status_code"] == 401 => Ok(latest.clone()),
            log => Err(format!("{log:#?}")),
        })
        .await;

    let right = json!({ "kind": "basic", "username": "medrelay", "password": "right password" });
    let settings = connect(&app, &admin, &server, right).await;
    wait_for_resource(
        &server,
        "CommunicationRequest",
        &system("hadar", "notification"),
        &id,
        |_| true,
    )
    .await;

    assert_eq!(refused["outcome"], "retrying");
    assert!(refused["next_retry_at"].is_string());
    assert_eq!(
        settings["server"]["auth"],
        json!({ "kind": "basic", "username": "medrelay" })
    );
    assert!(!settings.to_string().contains("right password"));
    app.stop().await;
}

/// A clinic of the test's own, so that the gauges labelled with its slug are this test's alone;
/// an admin key of it.
async fn clinic_of_its_own(app: &TestApp, slug: &str) -> String {
    let clinic = new_clinic(&app.store, slug).await;
    app.store
        .create_api_key(&clinic.id, ApiKeyRole::Admin, jiff::Timestamp::now())
        .await
        .expect("key")
}

async fn settings(app: &TestApp, admin: &str) -> Value {
    let response = app
        .request(Method::GET, "/v1/clinic/fhir", admin, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("settings")
}

#[tokio::test]
async fn a_push_failing_past_the_alert_period_raises_an_event_and_shows_in_metrics() {
    let app = TestApp::spawn_with(|config| {
        fast_pushes(config);
        config.fhir.alert_after_ms = 300;
        config.metrics.sample_interval_ms = 100;
    })
    .await;
    let slug = "fhir-alerted";
    let admin = clinic_of_its_own(&app, slug).await;
    let server = FhirServer::start().await;
    server.fail_next(usize::MAX, 422);
    connect(&app, &admin, &server, json!({ "kind": "none" })).await;
    let patient = json!({ "name": "Dana Levi", "phone": "+972541234567", "whatsapp": true });
    let path = "/v1/patients/p-1";
    let created = app.request(Method::PUT, path, &admin, Some(patient)).await;
    assert!(created.status().is_success());
    app.notify_as(&admin, body("Please call the clinic")).await;

    let alerted = wait::within(Duration::from_secs(20))
        .until(async || match settings(&app, &admin).await {
            s if s["server"]["alert_raised_at"].is_string() => Ok(s),
            s => Err(format!("no alert yet: {s:#}")),
        })
        .await;
    let failing = [("clinic", slug)];
    let scrape = wait::within(Duration::from_secs(20))
        .until(async || {
            let scrape = Scrape::of(app.client(), &app.base, None).await;
            match scrape.value("medrelay_fhir_push_failing", &failing) {
                n if n >= 1.0 => Ok(scrape),
                n => Err(format!("{n} failing")),
            }
        })
        .await;
    server.fail_next(0, 422);
    let recovered = wait::within(Duration::from_secs(20))
        .until(async || match settings(&app, &admin).await {
            s if s["server"]["alert_raised_at"].is_null() => Ok(s),
            s => Err(format!("still alerted: {s:#}")),
        })
        .await;

    let detail = alerted["alerts"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("FHIR push failing"), "{alerted:#}");
    assert!(alerted["server"]["failing_since"].is_string());
    assert!(scrape.value("medrelay_fhir_push_backlog", &failing) >= 1.0);
    assert!(scrape.value("medrelay_fhir_push_oldest_age_seconds", &failing) > 0.0);
    assert!(scrape.value("medrelay_fhir_pushes_total", &[("outcome", "retrying")]) >= 1.0);
    let latest = recovered["alerts"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(latest.starts_with("FHIR push recovered"), "{recovered:#}");
    assert_eq!(recovered["server"]["failing_since"], Value::Null);
    let log = pushes(&app, &admin, "").await;
    let refused = log.iter().find(|p| p["status_code"] == 422).expect("a 422");
    assert_eq!(refused["error"], "status 422 (OperationOutcome: transient)");
    app.stop().await;
}

/// The clinic's deliveries log, newest first (of one subject, unless `subject` is empty).
pub(crate) async fn pushes(app: &TestApp, admin: &str, subject: &str) -> Vec<Value> {
    let mut path = "/v1/clinic/fhir/pushes?limit=500".to_owned();
    if !subject.is_empty() {
        path.push_str(&format!("&subject_id={subject}"));
    }
    let response = app.request(Method::GET, &path, admin, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.expect("json");
    page["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_patients_message_is_a_communication_and_erasure_pushes_the_texts_away() {
    let app = TestApp::spawn_with(fast_pushes).await;
    let admin = app.admin_key().await;
    let server = FhirServer::start().await;
    connect(&app, &admin, &server, json!({ "kind": "none" })).await;
    patient_on_whatsapp(&app).await;
    let id = app.notify(body("Please call the clinic")).await;
    app.wait_for(&id, &["delivered"]).await;
    app.patient_sends(
        json!({ "channel": "whatsapp", "from": "+972541234567", "text": "I will call at noon" }),
    )
    .await;
    let carries = |text: &'static str| move |c: &Value| c["payload"][0]["contentString"] == text;
    let message = wait::within(Duration::from_secs(20))
        .until(async || {
            let found = server.resources("Communication");
            let message = found
                .iter()
                .find(|c| carries("I will call at noon")(&c.resource));
            message.cloned().ok_or_else(|| format!("{found:#?}"))
        })
        .await;
    let message_id = message.resource["identifier"][0]["value"]
        .as_str()
        .expect("identifier")
        .to_owned();
    wait_for_request(&server, &id, "completed").await;

    // The message may have an auto reply on its way: erase once every notification is done.
    wait::within(Duration::from_secs(20))
        .until(async || {
            let path = "/v1/notifications?patient_id=p-1";
            let list: Value = app
                .request(Method::GET, path, &admin, None)
                .await
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            let open: Vec<&Value> = items
                .iter()
                .filter(|n| {
                    !["delivered", "read", "failed"]
                        .contains(&n["status"].as_str().unwrap_or_default())
                })
                .collect();
            if open.is_empty() {
                Ok(())
            } else {
                Err(format!("{open:#?}"))
            }
        })
        .await;
    wait_until_pushed(&app, &admin).await;
    let erased = app
        .request(Method::DELETE, "/v1/patients/p-1", &admin, None)
        .await;
    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    let no_text = |c: &Value| c["payload"].is_null() && c["note"].is_array();
    let redacted = wait_for_resource(
        &server,
        "Communication",
        &system("hadar", "message"),
        &message_id,
        no_text,
    )
    .await;
    wait_until_pushed(&app, &admin).await;

    assert_eq!(redacted.id, message.id);
    assert_eq!(
        message.resource["sender"]["identifier"]["value"], "p-1",
        "{:#}",
        message.resource
    );
    for communication in server.resources("Communication") {
        assert!(
            no_text(&communication.resource),
            "{:#}",
            communication.resource
        );
    }
    let request = &server.resources("CommunicationRequest")[0].resource;
    assert!(
        !request.to_string().contains("call the clinic"),
        "{request:#}"
    );
    app.stop().await;
}
