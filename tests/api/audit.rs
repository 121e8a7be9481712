//! The audit trail (README, "The audit trail"): every change and every read of patients'
//! content through `/v1` is recorded with who, what, on which record, the outcome, the request id
//! and the client's address; set-up reads are not; admins read it newest first, filtered and
//! paged; no one changes or removes an entry, not even with SQL; a read whose entry cannot be
//! written is withheld, and a change whose entry cannot be written stands and is counted.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use medrelay::clock::AdjustableClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body};

/// Patient `p-1`, Dana Levi.
pub async fn dana(app: &TestApp) {
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "+972541234567" }),
    )
    .await;
}

/// `notification` sent on a day far ahead, so that it can still be cancelled.
pub fn later(mut notification: Value) -> Value {
    notification["send_at"] = json!("2030-01-06T09:00:00+02:00");
    notification
}

/// A key made through the API, so the test knows its id.
struct Key {
    id: String,
    secret: String,
}

async fn new_key(app: &TestApp, admin: &str, role: &str) -> Key {
    let response = app
        .request(
            Method::POST,
            "/v1/keys",
            admin,
            Some(json!({ "role": role })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let made: Value = response.json().await.expect("key");
    Key {
        id: made["id"].as_str().expect("id").to_owned(),
        secret: made["key"].as_str().expect("secret").to_owned(),
    }
}

/// `GET /v1/audit?<query>` as `admin`: the page.
async fn audit(app: &TestApp, admin: &str, query: &[(&str, &str)]) -> Value {
    let response = app
        .client()
        .get(format!("{}/v1/audit", app.base))
        .bearer_auth(admin)
        .query(query)
        .send()
        .await
        .expect("audit");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("page")
}

/// The entries of `action`, newest first.
async fn entries(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let page = audit(app, admin, &[("action", action)]).await;
    page["items"].as_array().expect("items").clone()
}

/// Sends `method path` with `key` and the request id `request_id`; returns the status.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    request_id: &str,
    json: Option<Value>,
) -> StatusCode {
    let mut request = app
        .client()
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(key)
        .header("X-Request-Id", request_id);
    if let Some(json) = json {
        request = request.json(&json);
    }
    request.send().await.expect("sent").status()
}

#[tokio::test]
async fn a_change_and_a_read_of_content_are_recorded_with_who_what_which_and_the_outcome() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let booking = new_key(&app, &admin, "booking").await;
    dana(&app).await;
    let receipt = app
        .request(
            Method::POST,
            "/v1/notifications",
            &booking.secret,
            Some(later(body("Your results are ready"))),
        )
        .await;
    let id = receipt.headers()["location"]
        .to_str()
        .expect("location")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();

    let cancelled = send(
        &app,
        Method::DELETE,
        &format!("/v1/notifications/{id}"),
        &booking.secret,
        "req-cancel-1",
        None,
    )
    .await;
    let read = send(
        &app,
        Method::GET,
        &format!("/v1/notifications/{id}"),
        &booking.secret,
        "req-read-1",
        None,
    )
    .await;

    assert_eq!(cancelled, StatusCode::OK);
    assert_eq!(read, StatusCode::OK);
    let created = &entries(&app, &admin, "notification.create").await[0];
    assert_eq!(created["resource_id"], id.as_str(), "{created:#}");
    assert_eq!(created["outcome"], 202);
    let cancel = &entries(&app, &admin, "notification.cancel").await[0];
    assert_eq!(
        (
            &cancel["actor"],
            &cancel["actor_role"],
            &cancel["resource_type"],
            &cancel["resource_id"],
            &cancel["outcome"],
            &cancel["request_id"],
            &cancel["client_address"],
        ),
        (
            &json!(format!("key:{}", booking.id)),
            &json!("booking"),
            &json!("notification"),
            &json!(id),
            &json!(200),
            &json!("req-cancel-1"),
            &json!("127.0.0.1"),
        ),
        "{cancel:#}"
    );
    let read = &entries(&app, &admin, "notification.read").await[0];
    assert_eq!(read["request_id"], "req-read-1");
    assert!(
        !read.to_string().contains("results"),
        "no text in the trail: {read:#}"
    );
    app.stop().await;
}

/// `POST /v1/notifications` with `key`, request id `request_id` and `Idempotency-Key: once`.
async fn hand_in(app: &TestApp, key: &str, request_id: &str, notification: Value) -> Value {
    let response = app
        .client()
        .post(format!("{}/v1/notifications", app.base))
        .bearer_auth(key)
        .header("X-Request-Id", request_id)
        .header("Idempotency-Key", "once")
        .json(&notification)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let mut answer: Value = response.json().await.expect("answer");
    answer["status_code"] = json!(status);
    answer
}

#[tokio::test]
async fn a_notification_its_replay_and_a_refusal_each_leave_one_entry_and_a_reply_names_the_patient()
 {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let booking = new_key(&app, &admin, "booking").await;
    let staff = new_key(&app, &admin, "staff").await;
    dana(&app).await;

    // The first is stored with its entry; the replay creates nothing and is recorded after.
    let first = hand_in(&app, &booking.secret, "req-first", later(body("Hello"))).await;
    let replay = hand_in(&app, &booking.secret, "req-again", later(body("Hello"))).await;
    let mut unknown = later(body("Hello"));
    unknown["patient_id"] = json!("p-404");
    let refused = hand_in(&app, &booking.secret, "req-unknown", unknown).await;
    let reply = send(
        &app,
        Method::POST,
        "/v1/conversations/p-1/reply",
        &staff.secret,
        "req-reply",
        Some(json!({ "by": "Dana", "text": "Yes, come at 10" })),
    )
    .await;

    assert_eq!(first["status_code"], 202, "{first:#}");
    assert_eq!(
        (&replay["status_code"], &replay["id"]),
        (&json!(202), &first["id"])
    );
    assert_eq!(refused["status_code"], 422, "{refused:#}");
    assert_eq!(reply, StatusCode::ACCEPTED);
    let created = entries(&app, &admin, "notification.create").await;
    let mut by_request: Vec<(&Value, &Value, &Value, &Value, &Value)> = created
        .iter()
        .map(|e| {
            (
                &e["request_id"],
                &e["resource_id"],
                &e["outcome"],
                &e["actor"],
                &e["client_address"],
            )
        })
        .collect();
    by_request.sort_by_key(|(request, ..)| request.as_str().unwrap_or_default().to_owned());
    let actor = json!(format!("key:{}", booking.id));
    let here = json!("127.0.0.1");
    assert_eq!(
        by_request,
        vec![
            (
                &json!("req-again"),
                &first["id"],
                &json!(202),
                &actor,
                &here
            ),
            (
                &json!("req-first"),
                &first["id"],
                &json!(202),
                &actor,
                &here
            ),
            (
                &json!("req-unknown"),
                &Value::Null,
                &json!(422),
                &actor,
                &here
            ),
        ],
        "{created:#?}"
    );
    let replied = entries(&app, &admin, "conversation.reply").await;
    assert_eq!(replied.len(), 1, "{replied:#?}");
    assert_eq!(
        (
            &replied[0]["request_id"],
            &replied[0]["resource_id"],
            &replied[0]["outcome"],
            &replied[0]["actor"],
        ),
        (
            &json!("req-reply"),
            &json!("p-1"),
            &json!(202),
            &json!(format!("key:{}", staff.id)),
        ),
    );
    app.stop().await;
}

#[tokio::test]
async fn reads_of_set_up_are_not_recorded_and_reads_of_patients_are() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    dana(&app).await;

    for path in [
        "/v1/stats?from=2026-01-01&to=2026-02-01",
        "/v1/topics",
        "/v1/clinic",
    ] {
        send(&app, Method::GET, path, &admin, "req-plain", None).await;
    }
    send(
        &app,
        Method::GET,
        "/v1/patients/p-1",
        &admin,
        "req-card",
        None,
    )
    .await;
    send(
        &app,
        Method::GET,
        "/v1/patients?q=Dana",
        &admin,
        "req-search",
        None,
    )
    .await;

    let page = audit(&app, &admin, &[]).await;
    let recorded: Vec<(&str, &str)> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["request_id"].as_str().unwrap_or(""),
            )
        })
        .filter(|(action, _)| *action != "patient.update")
        .collect();
    assert_eq!(
        recorded,
        [
            ("patient.search", "req-search"),
            ("patient.read", "req-card")
        ]
    );
    let search = &entries(&app, &admin, "patient.search").await[0];
    assert!(search["resource_id"].is_null());
    assert!(
        !page.to_string().contains("Dana") && !page.to_string().contains("54123"),
        "no names, numbers or queries in the trail: {page:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn reading_the_trail_is_recorded_after_the_page_is_read_and_only_admins_may() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let staff = app.staff_key().await;

    let first = audit(&app, &admin, &[("action", "audit.read")]).await;
    let refused = send(&app, Method::GET, "/v1/audit", &staff, "req-staff", None).await;
    let second = audit(&app, &admin, &[("action", "audit.read")]).await;

    assert_eq!(first["items"], json!([]));
    assert_eq!(refused, StatusCode::FORBIDDEN);
    let outcomes: Vec<&Value> = second["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| &e["outcome"])
        .collect();
    assert_eq!(outcomes, [&json!(403), &json!(200)]);
    app.stop().await;
}

#[tokio::test]
async fn a_forbidden_change_and_a_revoked_key_s_try_are_recorded_under_that_key() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let booking = new_key(&app, &admin, "booking").await;
    let former = new_key(&app, &admin, "staff").await;
    let revoked = send(
        &app,
        Method::DELETE,
        &format!("/v1/keys/{}", former.id),
        &admin,
        "req-revoke",
        None,
    )
    .await;

    let forbidden = send(
        &app,
        Method::POST,
        "/v1/keys",
        &booking.secret,
        "req-forbidden",
        Some(json!({ "role": "admin" })),
    )
    .await;
    let unauthorized = send(
        &app,
        Method::PUT,
        "/v1/topics/general",
        &former.secret,
        "req-revoked",
        Some(json!({ "sensitivity": "normal" })),
    )
    .await;
    let unknown = send(
        &app,
        Method::PUT,
        "/v1/topics/general",
        "mr_not-a-key",
        "req-unknown",
        Some(json!({ "sensitivity": "normal" })),
    )
    .await;

    assert_eq!(revoked, StatusCode::OK);
    assert_eq!(forbidden, StatusCode::FORBIDDEN);
    assert_eq!(unauthorized, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown, StatusCode::UNAUTHORIZED);
    let revoke = &entries(&app, &admin, "key.revoke").await[0];
    assert_eq!(revoke["resource_id"], former.id.as_str());
    let create = &entries(&app, &admin, "key.create").await[0];
    assert_eq!(
        (&create["actor"], &create["outcome"], &create["request_id"]),
        (
            &json!(format!("key:{}", booking.id)),
            &json!(403),
            &json!("req-forbidden")
        )
    );
    let topic_changes = entries(&app, &admin, "topic.update").await;
    assert_eq!(
        topic_changes.len(),
        1,
        "an unknown key has no clinic: {topic_changes:#?}"
    );
    assert_eq!(
        (
            &topic_changes[0]["actor"],
            &topic_changes[0]["actor_role"],
            &topic_changes[0]["outcome"]
        ),
        (
            &json!(format!("key:{}", former.id)),
            &json!("staff"),
            &json!(401)
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn the_trail_is_filtered_by_actor_action_resource_and_time_and_paged_newest_first() {
    let clock = Arc::new(AdjustableClock::default());
    let monday: Timestamp = "2026-11-30T08:00:00Z".parse().expect("time");
    clock.set(monday);
    let app = TestApp::spawn_with_clock(
        |config| config.api.key_rate_per_second = 10_000,
        clock.clone(),
    )
    .await;
    let admin = app.admin_key().await;
    let staff = new_key(&app, &admin, "staff").await;
    for i in 0..5 {
        app.patient(
            &format!("p-{i}"),
            json!({ "name": "Patient", "phone": "+972541234567" }),
        )
        .await;
    }
    clock.advance(Duration::from_secs(24 * 3600));
    for i in 0..5 {
        let path = format!("/v1/patients/p-{i}");
        send(&app, Method::GET, &path, &staff.secret, "req-card", None).await;
    }

    let by_staff = audit(&app, &admin, &[("actor", &format!("key:{}", staff.id))]).await;
    let of_p3 = audit(&app, &admin, &[("resource", "patient/p-3")]).await;
    let monday_only = audit(
        &app,
        &admin,
        &[
            ("resource", "patient"),
            ("from", "2026-11-30T00:00:00Z"),
            ("to", "2026-12-01T00:00:00+00:00"),
        ],
    )
    .await;
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![
            ("resource", "patient".to_owned()),
            ("limit", "3".to_owned()),
        ];
        query.extend(cursor.take().map(|c| ("cursor", c)));
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = audit(&app, &admin, &query).await;
        paged.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    let actions = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["action"].as_str().unwrap_or(""),
                    e["resource_id"]
                )
            })
            .collect()
    };
    assert_eq!(actions(&by_staff).len(), 5);
    assert!(
        actions(&by_staff)
            .iter()
            .all(|a| a.starts_with("patient.read"))
    );
    assert_eq!(
        actions(&of_p3),
        ["patient.read \"p-3\"", "patient.update \"p-3\""]
    );
    assert!(
        actions(&monday_only)
            .iter()
            .all(|a| a.starts_with("patient.update")),
        "{monday_only:#}"
    );
    assert_eq!(actions(&monday_only).len(), 5);
    let ids: Vec<&str> = paged
        .iter()
        .map(|e| e["id"].as_str().unwrap_or(""))
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        (ids.len(), unique.len()),
        (10, 10),
        "each entry once: {ids:?}"
    );
    let times: Vec<Timestamp> = paged
        .iter()
        .map(|e| e["at"].as_str().unwrap_or("").parse().expect("at"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_trail_s_filters_refuse_what_they_cannot_read_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;

    let response = app
        .client()
        .get(format!("{}/v1/audit", app.base))
        .bearer_auth(&admin)
        .query(&[
            ("actor", "dana"),
            ("resource", "patient/"),
            ("from", "yesterday"),
            ("cursor", "12.ntf_1"),
            ("limit", "0"),
        ])
        .send()
        .await
        .expect("audit");

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("problem");
    let mut fields = crate::harness::problem_fields(&problem);
    fields.sort_unstable();
    assert_eq!(fields, ["actor", "cursor", "from", "limit", "resource"]);
    app.stop().await;
}
