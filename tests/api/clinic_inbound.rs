//! A clinic's two-way settings: defaults until an admin sets its own, every broken rule named by
//! its field, and nothing half-written.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestApp;

const PATH: &str = "/v1/clinic/inbound";

#[tokio::test]
async fn a_new_clinic_has_the_defaults_and_staff_may_read_them() {
    let app = TestApp::spawn().await;
    let staff = app.staff_key().await;

    let response = app.request(Method::GET, PATH, &staff, None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let settings: Value = response.json().await.expect("settings");
    assert_eq!(settings["auto_reply_every_hours"], 12);
    assert_eq!(settings["staff_answered_quiet_minutes"], 10);
    assert_eq!(settings["response_target_minutes"], 240);
    assert_eq!(settings["emergency_number"], "101");
    assert_eq!(
        settings.get("media_retention_days"),
        None,
        "media retention is in /v1/clinic/retention"
    );
    assert_eq!(settings["labels"], json!([]));
    let opt_out = settings["keywords"]["opt_out"].as_array().expect("list");
    assert!(opt_out.contains(&json!("הסר")), "{settings:#}");
    assert!(opt_out.contains(&json!("STOP")) || opt_out.contains(&json!("stop")));
    for language in ["he", "ar", "ru", "en"] {
        assert!(
            settings["urgent_phrases"][language]
                .as_array()
                .is_some_and(|l| !l.is_empty()),
            "{language}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_admin_sets_them_and_what_is_left_out_keeps_its_default() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let defaults: Value = app
        .request(Method::GET, PATH, &admin, None)
        .await
        .json()
        .await
        .expect("settings");

    let put = app
        .request(
            Method::PUT,
            PATH,
            &admin,
            Some(json!({
                "auto_reply_every_hours": 24,
                "emergency_number": "1221",
                "urgent_phrases": { "he": ["דחוף לי"] },
                "labels": ["billing", "referral"],
            })),
        )
        .await;
    let read: Value = app
        .request(Method::GET, PATH, &admin, None)
        .await
        .json()
        .await
        .expect("settings");

    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(put.json::<Value>().await.expect("settings"), read);
    assert_eq!(read["auto_reply_every_hours"], 24);
    assert_eq!(read["emergency_number"], "1221");
    assert_eq!(read["labels"], json!(["billing", "referral"]));
    assert_eq!(read["urgent_phrases"]["he"], json!(["דחוף לי"]));
    assert_eq!(
        read["urgent_phrases"]["ar"],
        defaults["urgent_phrases"]["ar"]
    );
    assert_eq!(read["keywords"], defaults["keywords"]);
    assert_eq!(read["response_target_minutes"], 240);
    app.stop().await;
}

#[tokio::test]
async fn only_an_admin_changes_them_and_a_booking_system_cannot_read_them() {
    let app = TestApp::spawn().await;
    let staff = app.staff_key().await;
    let change = json!({ "emergency_number": "1221" });

    let by_staff = app.request(Method::PUT, PATH, &staff, Some(change)).await;
    let by_booking = app.request(Method::GET, PATH, &app.key, None).await;

    assert_eq!(by_staff.status(), StatusCode::FORBIDDEN);
    assert_eq!(by_booking.status(), StatusCode::FORBIDDEN);
    let read: Value = app
        .request(Method::GET, PATH, &staff, None)
        .await
        .json()
        .await
        .expect("settings");
    assert_eq!(read["emergency_number"], "101");
    app.stop().await;
}

#[tokio::test]
async fn every_broken_rule_is_named_by_its_field_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;

    let refused = app
        .request(
            Method::PUT,
            PATH,
            &admin,
            Some(json!({
                "auto_reply_every_hours": 0,
                "staff_answered_quiet_minutes": 1441,
                "response_target_minutes": 0,
                "emergency_number": "call 101",
                "keywords": {
                    "opt_out": ["stop"],
                    "confirm": ["yes", "STOP!"],
                    "cancel": ["x".repeat(51)],
                },
                "urgent_phrases": { "english": ["help"] },
                "labels": ["Billing", "urgent"],
            })),
        )
        .await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("problem");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        [
            "auto_reply_every_hours",
            "staff_answered_quiet_minutes",
            "response_target_minutes",
            "emergency_number",
            "keywords.confirm[1]",
            "keywords.cancel[0]",
            "keywords.opt_out",
            "urgent_phrases.english",
            "labels[0]",
            "labels[1]",
        ],
        "{problem:#}"
    );
    let unchanged: Value = app
        .request(Method::GET, PATH, &admin, None)
        .await
        .json()
        .await
        .expect("settings");
    assert_eq!(unchanged["auto_reply_every_hours"], 12);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_field_or_a_negative_number_is_refused_by_name() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;

    let unknown = app
        .request(
            Method::PUT,
            PATH,
            &admin,
            Some(json!({ "away_message": "closed" })),
        )
        .await;
    let negative = app
        .request(
            Method::PUT,
            PATH,
            &admin,
            Some(json!({ "response_target_minutes": -1 })),
        )
        .await;

    for (response, field) in [
        (unknown, "away_message"),
        (negative, "response_target_minutes"),
    ] {
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = response.json().await.expect("problem");
        assert!(problem.to_string().contains(field), "{problem:#}");
    }
    app.stop().await;
}
