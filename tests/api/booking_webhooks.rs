//! Webhooks to the booking system: endpoints registered by admins, Standard Webhooks signatures
//! checked by the reference verifier, every event once and in order per notification across a
//! receiver outage, rotation, disabling, re-enabling and replay.

use std::time::Duration;

use medrelay::Config;
use medrelay::store::ApiKeyRole;
use medrelay_testkit::{WebhookReceiver, wait};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body};

pub(crate) const ALL_TYPES: [&str; 8] = [
    "notification.status_changed",
    "notification.failed",
    "callback.opened",
    "callback.closed",
    "message.received",
    "appointment.confirmed",
    "appointment.cancellation_requested",
    "patient.opted_out",
];

/// A public endpoint, never called: the tests' receivers are on loopback.
const BOOKING_SYSTEM: &str = "https://booking.example/hooks";

/// Webhooks to the test's own receiver on loopback, retried fast.
pub(crate) fn fast_webhooks(config: &mut Config) {
    config.webhooks.allow_private_targets = true;
    config.webhooks.poll_interval_ms = 20;
    config.webhooks.retry_base_ms = 50;
    config.webhooks.retry_cap_ms = 200;
}

pub(crate) async fn spawn() -> TestApp {
    TestApp::spawn_with(fast_webhooks).await
}

/// Registers `url` for `types` with an admin key; the endpoint's id and its secret.
pub(crate) async fn register(
    app: &TestApp,
    admin: &str,
    url: &str,
    types: &[&str],
) -> (String, String) {
    let response = app
        .request(
            Method::POST,
            "/v1/webhooks",
            admin,
            Some(json!({ "url": url, "event_types": types })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().expect("location");
    let location = location.to_owned();
    let created: Value = response.json().await.expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/v1/webhooks/{id}"));
    (id, created["secret"].as_str().expect("secret").to_owned())
}

/// An admin key of the clinic `slug`.
async fn admin_of(app: &TestApp, slug: &str) -> String {
    let clinic = app.store.clinic_by_slug(slug).await.expect("clinic");
    app.store
        .create_api_key(&clinic.id, ApiKeyRole::Admin, jiff::Timestamp::now())
        .await
        .expect("key")
}

async fn endpoint(app: &TestApp, admin: &str, id: &str) -> Value {
    let path = format!("/v1/webhooks/{id}");
    let response = app.request(Method::GET, &path, admin, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn deliveries(app: &TestApp, admin: &str, id: &str) -> Vec<Value> {
    let path = format!("/v1/webhooks/{id}/deliveries?limit=500");
    let response = app.request(Method::GET, &path, admin, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.expect("json");
    list["items"].as_array().cloned().unwrap_or_default()
}

/// A status change as `from→to`.
fn change(data: &Value) -> String {
    let status = |key: &str| data[key].as_str().unwrap_or("?").to_owned();
    format!("{}→{}", status("from"), status("to"))
}

/// The status changes of a notification's audit trail, as `from→to`.
fn audited_changes(notification: &Value) -> Vec<String> {
    notification["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "status_changed")
        .map(|e| change(&e["data"]))
        .collect()
}

/// The status changes the receiver kept for `notification`, in arrival order.
fn received_changes(receiver: &WebhookReceiver, notification: &str) -> Vec<String> {
    receiver
        .events()
        .iter()
        .filter(|e| e.event_type() == "notification.status_changed")
        .filter(|e| e.data("notification_id") == notification)
        .map(|e| change(&e.body["data"]))
        .collect()
}

/// Waits until the receiver holds, for each notification, exactly the status changes of its
/// audit trail, in the same order.
pub(crate) async fn wait_for_every_change(
    app: &TestApp,
    receiver: &WebhookReceiver,
    ids: &[String],
) {
    wait::within(Duration::from_secs(30))
        .until(async || {
            for id in ids {
                let audited = audited_changes(&app.notification(id).await);
                let received = received_changes(receiver, id);
                if received != audited {
                    return Err(format!("{id}: audited {audited:?}, received {received:?}"));
                }
            }
            Ok(())
        })
        .await;
}

async fn patient_and_notifications(app: &TestApp, count: usize) -> Vec<String> {
    app.patient("p-1", json!({ "name": "Omar", "phone": "+972541234599" }))
        .await;
    let mut ids = Vec::new();
    for i in 0..count {
        let mut notification = body(&format!("Please call the clinic ({i})"));
        notification["reference"] = json!(format!("booking-{i}"));
        notification["metadata"] = json!({ "room": i });
        ids.push(app.notify(notification).await);
    }
    for id in &ids {
        app.wait_for(id, &["delivered", "read"]).await;
    }
    ids
}

#[tokio::test]
async fn an_admin_registers_an_endpoint_and_sees_its_secret_only_then() {
    let app = spawn().await;
    let admin = app.admin_key().await;

    let (id, secret) = register(&app, &admin, "https://booking.example/hooks", &ALL_TYPES).await;
    let shown = endpoint(&app, &admin, &id).await;
    let listed = app.request(Method::GET, "/v1/webhooks", &admin, None).await;
    let listed: Value = listed.json().await.expect("json");

    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(id.starts_with("ep_"), "{id}");
    assert_eq!(shown["enabled"], true);
    assert_eq!(shown["event_types"], json!(ALL_TYPES));
    assert!(shown.get("secret").is_none(), "{shown:#}");
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&secret));
    app.stop().await;
}

#[tokio::test]
async fn only_admins_manage_endpoints() {
    let app = spawn().await;
    let staff = app.staff_key().await;

    let response = app
        .request(
            Method::POST,
            "/v1/webhooks",
            &staff,
            Some(json!({ "url": BOOKING_SYSTEM, "event_types": ALL_TYPES })),
        )
        .await;
    let listed = app
        .request(Method::GET, "/v1/webhooks", &app.key, None)
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(listed.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

/// Registers `body`, which must be refused with `422`; the problem.
async fn refused(app: &TestApp, admin: &str, body: Value) -> Value {
    let response = app
        .request(Method::POST, "/v1/webhooks", admin, Some(body))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    response.json().await.expect("problem")
}

#[tokio::test]
async fn urls_and_event_types_are_checked_and_named() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let heard = ["message.received"];
    let url = |url: &str| json!({ "url": url, "event_types": heard });

    let private = refused(&app, &admin, url("https://10.0.0.7/hooks")).await;
    let plain = refused(&app, &admin, url("http://booking.example/hooks")).await;
    let metadata_service = refused(&app, &admin, url("https://169.254.169.254/")).await;
    let twice = ["notification.sent", "message.received", "message.received"];
    let body = json!({ "url": BOOKING_SYSTEM, "event_types": twice });
    let types = refused(&app, &admin, body).await;

    for problem in [&private, &plain, &metadata_service] {
        assert_eq!(problem["errors"][0]["field"], "url", "{problem:#}");
    }
    assert!(
        private["errors"][0]["rule"]
            .as_str()
            .expect("rule")
            .contains("private")
    );
    assert!(
        plain["errors"][0]["rule"]
            .as_str()
            .expect("rule")
            .contains("https://")
    );
    assert_eq!(types["errors"][0]["field"], "event_types[0]", "{types:#}");
    assert!(
        types["errors"][0]["rule"]
            .as_str()
            .expect("rule")
            .contains("notification.status_changed")
    );
    assert_eq!(types["errors"][1]["field"], "event_types[2]", "{types:#}");
    let listed = app.request(Method::GET, "/v1/webhooks", &admin, None).await;
    let listed: Value = listed.json().await.expect("json");
    assert_eq!(listed["items"], json!([]), "nothing half-written");
    app.stop().await;
}

#[tokio::test]
async fn every_status_change_arrives_once_signed_and_in_order() {
    let app = spawn().await;
    let admin = app.admin_key().await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = register(&app, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.trust(&secret);

    let ids = patient_and_notifications(&app, 3).await;

    wait_for_every_change(&app, &receiver, &ids).await;
    assert_eq!(receiver.bad_signatures(), 0);
    let first = &receiver.events()[0];
    assert_eq!(first.event_type(), "notification.status_changed");
    assert_eq!(first.data("patient_id"), "p-1");
    let booking = first.data("reference").as_str().expect("the reference");
    let i: u64 = booking
        .trim_start_matches("booking-")
        .parse()
        .expect("booking-<i>");
    assert_eq!(
        first.data("metadata"),
        &json!({ "room": i }),
        "{:#}",
        first.body
    );
    assert!(first.id.starts_with("evt_"), "{}", first.id);
    assert!(first.body["timestamp"].is_string(), "{:#}", first.body);
    let sent = receiver
        .events()
        .into_iter()
        .find(|e| e.data("to") == "sent")
        .expect("a change to sent");
    assert_eq!(sent.data("channel"), "sms", "{:#}", sent.body);
    assert!(
        sent.data("attempt_id")
            .as_str()
            .is_some_and(|a| a.starts_with("att_"))
    );
    app.stop().await;
}

#[tokio::test]
async fn an_outage_delays_events_but_loses_none_and_keeps_their_order() {
    let app = spawn().await;
    let admin = app.admin_key().await;
    let receiver = WebhookReceiver::start().await;
    let (endpoint_id, secret) = register(&app, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.trust(&secret);
    receiver.fail_with(503);

    let ids = patient_and_notifications(&app, 4).await;
    wait::within(Duration::from_secs(20))
        .until(async || match receiver.requests() {
            n if n >= 12 => Ok(()),
            n => Err(format!("{n} requests during the outage")),
        })
        .await;
    receiver.recover();

    wait_for_every_change(&app, &receiver, &ids).await;
    let log = deliveries(&app, &admin, &endpoint_id).await;
    let failed = log
        .iter()
        .find(|d| d["status_code"] == 503)
        .expect("a 503 try");
    assert_eq!(failed["outcome"], "retrying", "{failed:#}");
    assert!(failed["next_retry_at"].is_string(), "{failed:#}");
    assert!(log.iter().any(|d| d["status_code"] == 204
        && d["outcome"] == "delivered"
        && d["try"].as_i64() > Some(1)));
    assert!(log.iter().all(|d| d["latency_ms"].is_i64()));
    app.stop().await;
}

#[tokio::test]
async fn after_a_rotation_both_secrets_verify_until_the_old_one_expires() {
    let app = spawn().await;
    let admin = app.admin_key().await;
    let receiver = WebhookReceiver::start().await;
    let (id, old) = register(&app, &admin, &receiver.url, &ALL_TYPES).await;

    let path = format!("/v1/webhooks/{id}/rotate-secret");
    let rotated = app.request(Method::POST, &path, &admin, None).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.expect("json");
    let new = rotated["secret"].as_str().expect("secret");
    receiver.trust(&old);
    receiver.trust(new);
    let ids = patient_and_notifications(&app, 1).await;

    wait_for_every_change(&app, &receiver, &ids).await;
    assert_ne!(new, old);
    assert!(
        rotated["previous_secret_valid_until"].is_string(),
        "{rotated:#}"
    );
    for event in receiver.events() {
        assert_eq!(event.verified_by, [0, 1], "{}", event.id);
    }
    app.stop().await;
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_with_an_event_and_catches_up_when_enabled() {
    let app = TestApp::spawn_with(|config| {
        fast_webhooks(config);
        config.webhooks.disable_after_ms = 300;
    })
    .await;
    let admin = app.admin_key().await;
    let receiver = WebhookReceiver::start().await;
    let (id, secret) = register(&app, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.trust(&secret);
    receiver.fail_with(500);
    let ids = patient_and_notifications(&app, 2).await;

    let disabled = wait::within(Duration::from_secs(20))
        .until(async || match endpoint(&app, &admin, &id).await {
            e if e["enabled"] == false => Ok(e),
            e => Err(format!("still enabled: {e}")),
        })
        .await;
    receiver.recover();
    let path = format!("/v1/webhooks/{id}");
    let enabled = app
        .request(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({ "enabled": true })),
        )
        .await;

    assert!(
        disabled["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("failed"))
    );
    assert!(disabled["failing_since"].is_string(), "{disabled:#}");
    assert_eq!(enabled.status(), StatusCode::OK);
    let enabled: Value = enabled.json().await.expect("json");
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["failing_since"], Value::Null);
    wait_for_every_change(&app, &receiver, &ids).await;
    app.stop().await;
}

#[tokio::test]
async fn replay_sends_again_what_happened_since_then_under_the_same_ids() {
    let app = spawn().await;
    let admin = app.admin_key().await;
    let receiver = WebhookReceiver::start().await;
    let (id, secret) = register(&app, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.trust(&secret);
    let since = jiff::Timestamp::now();
    let ids = patient_and_notifications(&app, 2).await;
    wait_for_every_change(&app, &receiver, &ids).await;
    let mut first_ids: Vec<String> = receiver.events().into_iter().map(|e| e.id).collect();
    // A message the receiver has but the sender has not yet recorded is still in flight, and a
    // replay leaves what is in flight alone: wait until every one is recorded delivered.
    wait::within(Duration::from_secs(30))
        .until(async || {
            let tries = deliveries(&app, &admin, &id).await;
            let delivered = tries.iter().filter(|t| t["outcome"] == "delivered").count();
            if delivered == first_ids.len() {
                Ok(())
            } else {
                Err(format!("{delivered} of {} recorded", first_ids.len()))
            }
        })
        .await;
    receiver.forget();

    let path = format!("/v1/webhooks/{id}/replay");
    let replay = app
        .request(Method::POST, &path, &admin, Some(json!({ "since": since })))
        .await;

    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    let replay: Value = replay.json().await.expect("json");
    assert_eq!(replay["replayed"].as_u64(), Some(first_ids.len() as u64));
    wait_for_every_change(&app, &receiver, &ids).await;
    // In order per notification (checked above); notifications may interleave differently.
    let mut again: Vec<String> = receiver.events().into_iter().map(|e| e.id).collect();
    again.sort();
    first_ids.sort();
    assert_eq!(again, first_ids);
    app.stop().await;
}

#[tokio::test]
async fn a_clinic_hears_only_of_its_own_notifications_and_only_the_types_it_chose() {
    let app = spawn().await;
    let admin = app.admin_key().await;
    let failures = WebhookReceiver::start().await;
    let (_, secret) = register(&app, &admin, &failures.url, &["notification.failed"]).await;
    failures.trust(&secret);
    let other_clinic = WebhookReceiver::start().await;
    app.other_clinic_key().await;
    let other_admin = admin_of(&app, "other").await;
    let (_, other_secret) = register(&app, &other_admin, &other_clinic.url, &ALL_TYPES).await;
    other_clinic.trust(&other_secret);
    app.patient("p-1", json!({ "name": "Omar", "phone": "+972541234599" }))
        .await;
    app.patient(
        "bouncing",
        json!({ "name": "Avi", "email": "avi@bounce.test", "channels": ["email"] }),
    )
    .await;

    let delivered = app.notify(body("Please call the clinic")).await;
    app.wait_for(&delivered, &["delivered", "read"]).await;
    let failed = app
        .notify(
            json!({ "patient_id": "bouncing", "topic": "general", "body": "See you on Sunday" }),
        )
        .await;
    let failed = app.wait_for(&failed, &["failed"]).await;

    wait::within(Duration::from_secs(20))
        .until(async || match failures.events().len() {
            1 => Ok(()),
            n => Err(format!("{n} failures heard")),
        })
        .await;
    let heard = &failures.events()[0];
    assert_eq!(heard.event_type(), "notification.failed");
    assert_eq!(heard.data("notification_id"), &failed["id"]);
    assert_eq!(other_clinic.requests(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_notification_is_a_status_change_with_its_cause() {
    let app = spawn().await;
    let admin = app.admin_key().await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = register(&app, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.trust(&secret);
    app.patient("p-1", json!({ "name": "Omar", "phone": "+972541234599" }))
        .await;
    let mut later = body("See you next week");
    later["send_at"] = json!("2099-01-01T09:00:00+02:00");
    let id = app.notify(later).await;

    let cancelled = app
        .request(
            Method::DELETE,
            &format!("/v1/notifications/{id}"),
            &app.key,
            None,
        )
        .await;
    assert!(cancelled.status().is_success(), "{}", cancelled.status());

    let event = wait::within(Duration::from_secs(30))
        .until(async || {
            receiver
                .events()
                .into_iter()
                .find(|e| e.data("notification_id") == id.as_str() && e.data("to") == "cancelled")
                .ok_or_else(|| "no cancellation yet".to_owned())
        })
        .await;
    assert_eq!(event.event_type(), "notification.status_changed");
    assert_eq!(event.data("cause"), "requested", "{:#}", event.body);
    let reason = event.data("reason").as_str().unwrap_or_default();
    assert!(reason.starts_with("cancelled by"), "{:#}", event.body);
    assert_eq!(receiver.bad_signatures(), 0);
    app.stop().await;
}
