//! What a booking system needs to follow its notifications: its own `reference` and `metadata`
//! on every answer, the change feed (`updated_after` and `next_cursor`) with its filters, and
//! create answers that say where the new resource is and whether they were replayed.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use medrelay_testkit::wait;
use reqwest::header::LOCATION;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body};

/// One page of `GET /v1/notifications?{query}`: each item's id and status, and `next_cursor`.
async fn page(app: &TestApp, query: &str) -> (Vec<(String, String)>, Value) {
    let response = app
        .request(
            Method::GET,
            &format!("/v1/notifications?{query}"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.expect("page");
    let items = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap_or_default().to_owned(),
                n["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (items, page["next_cursor"].clone())
}

/// Follows the feed from `start` (a time or a `next_cursor`), with `filter` (`&…`), until it has
/// given `count` changes; returns them and where the feed goes on. A change shows once every
/// transaction that began writing before it has ended (on a shared PostgreSQL server, others'
/// too), so a page may come back short and the feed is read again.
async fn follow(
    app: &TestApp,
    start: &str,
    filter: &str,
    count: usize,
) -> (Vec<(String, String)>, String) {
    let mut seen = Vec::new();
    let mut cursor = start.to_owned();
    wait::within(Duration::from_secs(30))
        .until(async || {
            let (items, next) = page(app, &format!("updated_after={cursor}{filter}")).await;
            seen.extend(items);
            cursor = next.as_str().expect("next_cursor").to_owned();
            if seen.len() >= count {
                Ok(())
            } else {
                Err(format!(
                    "{} of {count} changes so far: {seen:?}",
                    seen.len()
                ))
            }
        })
        .await;
    (seen, cursor)
}

/// The query value of a time or cursor, `+` escaped.
fn escaped(value: &str) -> String {
    value.replace('+', "%2B")
}

fn tomorrow(text: &str) -> Value {
    let mut notification = body(text);
    notification["send_at"] =
        json!((Timestamp::now() + SignedDuration::from_hours(24)).to_string());
    notification
}

fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn app_with_patient() -> TestApp {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    app
}

#[tokio::test]
async fn reference_and_metadata_come_back_on_the_receipt_the_notification_and_the_list() {
    let app = app_with_patient().await;
    let mut with_reference = tomorrow("See you tomorrow");
    with_reference["reference"] = json!("booking-17");
    with_reference["metadata"] = json!({ "booking_id": "B-17", "room": 4, "first_visit": true });

    let response = app.post_notification(with_reference).await;
    let other = app.notify(tomorrow("Another")).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let receipt: Value = response.json().await.expect("receipt");
    let id = receipt["id"].as_str().expect("id");
    let metadata = json!({ "booking_id": "B-17", "room": 4, "first_visit": true });
    assert_eq!(receipt["reference"], "booking-17");
    assert_eq!(receipt["metadata"], metadata);
    let stored = app.notification(id).await;
    assert_eq!(stored["reference"], "booking-17");
    assert_eq!(stored["metadata"], metadata);
    let (found, _) = page(&app, "reference=booking-17").await;
    assert_eq!(found, [(id.to_owned(), "scheduled".to_owned())]);
    let unmarked = app.notification(&other).await;
    assert_eq!(unmarked["reference"], Value::Null);
    assert_eq!(unmarked["metadata"], json!({}));
    app.stop().await;
}

#[tokio::test]
async fn bad_reference_and_metadata_are_refused_naming_each_field_and_rule_and_nothing_is_stored() {
    let app = app_with_patient().await;
    let mut bad = tomorrow("See you tomorrow");
    bad["reference"] = json!("booking\n17");
    bad["metadata"] = json!({ "nested": { "a": 1 }, "note": "x".repeat(501), "ok": 1 });

    let response = app.post_notification(bad).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("problem");
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["metadata.nested", "metadata.note", "reference"]);
    assert!(
        problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .all(|e| e["rule"]
                .as_str()
                .is_some_and(|r| r.starts_with("must") || r.starts_with("keys"))),
        "{problem:#}"
    );
    let (listed, _) = page(&app, "").await;
    assert!(listed.is_empty(), "{listed:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_feed_gives_changes_in_the_order_they_happened_and_continues_from_its_cursor() {
    let app = app_with_patient().await;
    let start = escaped(&Timestamp::now().to_string());
    let a = app.notify(tomorrow("A")).await;
    let b = app.notify(tomorrow("B")).await;

    let (first, cursor) = follow(&app, &start, "", 2).await;
    let c = app.notify(tomorrow("C")).await;
    assert_eq!(app.cancel(&a).await.status(), StatusCode::OK);
    let (second, cursor) = follow(&app, &cursor, "", 2).await;
    let (third, cursor) = page(&app, &format!("updated_after={cursor}")).await;
    assert_eq!(app.cancel(&b).await.status(), StatusCode::OK);
    let cursor = cursor
        .as_str()
        .expect("an empty page has a next_cursor too");
    let (fourth, _) = follow(&app, cursor, "", 1).await;

    let scheduled = |id: &str| (id.to_owned(), "scheduled".to_owned());
    let cancelled = |id: &str| (id.to_owned(), "cancelled".to_owned());
    assert_eq!(first, [scheduled(&a), scheduled(&b)]);
    assert_eq!(second, [scheduled(&c), cancelled(&a)]);
    assert!(third.is_empty(), "{third:?}");
    assert_eq!(fourth, [cancelled(&b)]);
    app.stop().await;
}

#[tokio::test]
async fn a_full_feed_page_continues_after_its_last_item() {
    let app = app_with_patient().await;
    let start = escaped(&Timestamp::now().to_string());
    let mut ids = Vec::new();
    for text in ["1", "2", "3", "4", "5"] {
        ids.push(app.notify(tomorrow(text)).await);
    }

    let (seen, _) = follow(&app, &start, "&limit=2", 5).await;

    let seen: Vec<String> = seen.into_iter().map(|(id, _)| id).collect();
    assert_eq!(seen, ids);
    app.stop().await;
}

#[tokio::test]
async fn the_feed_and_the_list_filter_by_several_statuses_topic_and_creation_time() {
    let app = app_with_patient().await;
    let start = escaped(&Timestamp::now().to_string());
    let kept = app.notify(tomorrow("kept")).await;
    let cancelled = app.notify(tomorrow("cancelled")).await;
    assert_eq!(app.cancel(&cancelled).await.status(), StatusCode::OK);
    let created = app.notification(&cancelled).await["created_at"]
        .as_str()
        .expect("created_at")
        .parse::<Timestamp>()
        .expect("time");
    while Timestamp::now() <= created {
        tokio::task::yield_now().await;
    }
    let mut reminder = tomorrow("later");
    reminder["topic"] = json!("appointment_reminder");
    reminder["template"] = json!("appointment_reminder");
    reminder["params"] = json!({ "date": "01.12", "time": "09:30" });
    reminder.as_object_mut().expect("object").remove("body");
    let later = app.notify(reminder).await;

    let ids =
        |items: Vec<(String, String)>| items.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    let after = escaped(&(created + SignedDuration::from_millis(1)).to_string());
    let (both, _) = follow(&app, &start, "&status=scheduled&status=cancelled", 3).await;
    let (only_cancelled, _) = follow(&app, &start, "&status=cancelled", 1).await;
    let (by_topic, _) = follow(&app, &start, "&topic=appointment_reminder", 1).await;
    let (since, _) = follow(&app, &start, &format!("&created_after={after}"), 1).await;
    let (listed, _) = page(&app, "status=cancelled,scheduled").await;
    let (before, _) = page(&app, &format!("created_before={after}")).await;

    assert_eq!(ids(both), [kept.clone(), cancelled.clone(), later.clone()]);
    assert_eq!(ids(only_cancelled), std::slice::from_ref(&cancelled));
    assert_eq!(ids(by_topic), std::slice::from_ref(&later));
    assert_eq!(ids(since), std::slice::from_ref(&later));
    assert_eq!(ids(listed), [later, cancelled.clone(), kept.clone()]);
    assert_eq!(ids(before), [cancelled, kept]);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_feed_start_status_or_channel_is_refused_naming_the_parameter() {
    let app = app_with_patient().await;

    for (query, field) in [
        ("updated_after=yesterday", "updated_after"),
        ("updated_after=f12.att_1", "updated_after"),
        ("status=delivered,seen", "status"),
        ("channel=pigeon", "channel"),
        ("created_after=monday", "created_after"),
        ("updated_after=f1.&cursor=1.ntf_1", "cursor"),
    ] {
        let response = app
            .request(
                Method::GET,
                &format!("/v1/notifications?{query}"),
                &app.key,
                None,
            )
            .await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem:#}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_notification_answer_says_where_it_is_and_a_replay_says_so() {
    let app = app_with_patient().await;
    let notification = tomorrow("See you tomorrow");
    let post = || {
        app.client()
            .post(format!("{}/v1/notifications", app.base))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "booking-17-reminder")
            .json(&notification)
            .send()
    };

    let first = post().await.expect("first");
    let replay = post().await.expect("replay");

    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&first, "idempotent-replayed"), Some("false"));
    assert_eq!(header(&replay, "idempotent-replayed"), Some("true"));
    let location = header(&first, LOCATION.as_str())
        .expect("Location")
        .to_owned();
    assert_eq!(header(&replay, LOCATION.as_str()), Some(location.as_str()));
    let receipt: Value = first.json().await.expect("receipt");
    assert_eq!(
        location,
        format!("/v1/notifications/{}", receipt["id"].as_str().expect("id"))
    );
    let found = app.request(Method::GET, &location, &app.key, None).await;
    assert_eq!(found.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_booking_answer_says_where_the_appointment_is_and_a_replay_says_so() {
    let app = app_with_patient().await;
    let starts_at = (Timestamp::now() + SignedDuration::from_hours(72)).to_string();
    let book = || {
        app.client()
            .post(format!("{}/v1/appointments", app.base))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "booking-17")
            .json(&json!({ "patient_id": "p-1", "starts_at": starts_at }))
            .send()
    };

    let booked = book().await.expect("booked");
    let booked_again = book().await.expect("replayed");

    assert_eq!(booked.status(), StatusCode::CREATED);
    assert_eq!(header(&booked, "idempotent-replayed"), Some("false"));
    assert_eq!(header(&booked_again, "idempotent-replayed"), Some("true"));
    let location = header(&booked, LOCATION.as_str())
        .expect("Location")
        .to_owned();
    let appointment: Value = booked.json().await.expect("appointment");
    let id = appointment["id"].as_str().expect("id");
    assert_eq!(location, format!("/v1/appointments/{id}"));
    app.stop().await;
}

#[tokio::test]
async fn a_new_key_and_a_staff_reply_say_where_they_are() {
    let app = app_with_patient().await;
    let admin = app.admin_key().await;

    let key = app
        .request(
            Method::POST,
            "/v1/keys",
            &admin,
            Some(json!({ "role": "booking" })),
        )
        .await;
    let reply = app
        .request(
            Method::POST,
            "/v1/conversations/p-1/reply",
            &admin,
            Some(json!({ "by": "Rivka", "text": "See you soon", "channel": "sms" })),
        )
        .await;

    assert_eq!(key.status(), StatusCode::CREATED);
    assert_eq!(
        header(&key, "idempotent-replayed"),
        None,
        "keys take no Idempotency-Key"
    );
    let key_location = header(&key, LOCATION.as_str())
        .expect("Location")
        .to_owned();
    let issued: Value = key.json().await.expect("key");
    assert_eq!(
        key_location,
        format!("/v1/keys/{}", issued["id"].as_str().expect("id"))
    );
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&reply, "idempotent-replayed"), Some("false"));
    let reply_location = header(&reply, LOCATION.as_str())
        .expect("Location")
        .to_owned();
    let answer: Value = reply.json().await.expect("reply");
    let id = answer["id"].as_str().expect("id");
    assert_eq!(reply_location, format!("/v1/notifications/{id}"));
    app.stop().await;
}
