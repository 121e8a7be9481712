//! `/fhir/r4` searches and errors: pages walk every record once, `_lastUpdated` bounds what is
//! found, errors are OperationOutcomes, and `metadata` tells what the server does.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use medrelay::clock::AdjustableClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fhir::{Fhir, fhir_id, link, resources};
use crate::harness::{TestApp, reminder_for};

fn ids(found: &[Value]) -> Vec<String> {
    found
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

/// A notification for `patient` that waits a week: its record stays as it is.
fn waiting(patient: &str, now: Timestamp) -> Value {
    json!({
        "patient_id": patient, "topic": "general", "body": "See you next week",
        "send_at": now + jiff::SignedDuration::from_hours(24 * 7),
    })
}

#[tokio::test]
async fn pages_walk_every_request_and_every_communication_exactly_once() {
    let app = TestApp::spawn().await;
    let mut notifications = BTreeSet::new();
    let mut sent = Vec::new();
    for n in 1..=5 {
        let patient = format!("p-{n}");
        // SMS: delivered is final, so no record changes while the pages are read.
        app.patient(
            &patient,
            json!({ "name": "Dana", "phone": "+972541234567", "channels": ["sms"] }),
        )
        .await;
        sent.push(app.notify(reminder_for(&patient)).await);
    }
    for _ in 0..2 {
        let id = app.notify(waiting("p-1", Timestamp::now())).await;
        notifications.insert(fhir_id(&id));
    }
    let mut attempts = BTreeSet::new();
    for id in &sent {
        let done = app.wait_for(id, &["delivered"]).await;
        notifications.insert(fhir_id(id));
        for attempt in done["attempts"].as_array().into_iter().flatten() {
            attempts.insert(fhir_id(attempt["id"].as_str().expect("id")));
        }
    }
    let fhir = Fhir::staff(&app).await;

    let requests = ids(&fhir.search_all("CommunicationRequest?_count=3").await);
    let communications = ids(&fhir.search_all("Communication?_count=2").await);

    assert_eq!(requests.len(), notifications.len(), "{requests:?}");
    assert_eq!(
        requests.iter().cloned().collect::<BTreeSet<_>>(),
        notifications
    );
    assert_eq!(communications.len(), attempts.len(), "{communications:?}");
    assert_eq!(
        communications.iter().cloned().collect::<BTreeSet<_>>(),
        attempts
    );
    app.stop().await;
}

#[tokio::test]
async fn last_updated_bounds_which_requests_are_found_in_the_clinics_time_zone() {
    let clock = Arc::new(AdjustableClock::default());
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    let mut made = Vec::new();
    for day in [
        "2026-12-01T10:00:00+02:00",
        "2026-12-02T10:00:00+02:00",
        "2026-12-03T10:00:00+02:00",
    ] {
        let at: Timestamp = day.parse().expect("time");
        clock.set(at);
        made.push(fhir_id(&app.notify(waiting("p-1", at)).await));
    }
    let fhir = Fhir::staff(&app).await;
    let found = async |query: &str| {
        ids(&fhir
            .search_all(&format!("CommunicationRequest?{query}"))
            .await)
    };

    assert_eq!(found("_lastUpdated=ge2026-12-02").await, made[1..]);
    assert_eq!(found("_lastUpdated=lt2026-12-02").await, made[..1]);
    assert_eq!(found("_lastUpdated=2026-12-02").await, made[1..2]);
    assert_eq!(
        found("_lastUpdated=gt2026-12-01&_lastUpdated=le2026-12-02T23:59:59%2B02:00").await,
        made[1..2]
    );
    assert_eq!(
        found("_lastUpdated=ge2026-12-04&patient=p-1").await,
        Vec::<String>::new()
    );
    assert_eq!(found("patient=p-2,p-1").await, made);
    assert_eq!(found("patient=Patient/p-1").await, made);
    app.stop().await;
}

#[tokio::test]
async fn errors_are_operation_outcomes_that_say_what_is_wrong() {
    let app = TestApp::spawn().await;
    let fhir = Fhir::staff(&app).await;
    let anonymous = Fhir::with_key(&app, None);

    let cases = [
        (
            fhir.get("Communication?colour=red").await,
            StatusCode::BAD_REQUEST,
            "invalid",
            "colour",
        ),
        (
            fhir.get("CommunicationRequest?based-on=x").await,
            StatusCode::BAD_REQUEST,
            "invalid",
            "based-on",
        ),
        (
            fhir.get("Communication?_lastUpdated=yesterday").await,
            StatusCode::BAD_REQUEST,
            "invalid",
            "_lastUpdated",
        ),
        (
            fhir.get("Communication?_count=0").await,
            StatusCode::BAD_REQUEST,
            "invalid",
            "_count",
        ),
        (
            fhir.get("Communication?_cursor=abc").await,
            StatusCode::BAD_REQUEST,
            "invalid",
            "_cursor",
        ),
        (
            fhir.get("Communication?_format=xml").await,
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            "JSON",
        ),
        (
            fhir.get_with("Communication", &[("Accept", "application/fhir+xml")])
                .await,
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            "JSON",
        ),
        (
            fhir.get("Communication/att-nope").await,
            StatusCode::NOT_FOUND,
            "not-found",
            "Communication",
        ),
        (
            fhir.get("Patient").await,
            StatusCode::NOT_FOUND,
            "not-found",
            "route",
        ),
        (
            anonymous.get("Communication").await,
            StatusCode::UNAUTHORIZED,
            "login",
            "Bearer",
        ),
    ];

    for (answer, status, code, says) in cases {
        let outcome = &answer.resource;
        assert_eq!(answer.status, status, "{outcome:#}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["severity"], "error");
        assert_eq!(outcome["issue"][0]["code"], code, "{outcome:#}");
        assert!(
            (outcome["issue"][0]["diagnostics"]
                .as_str()
                .unwrap_or_default())
            .contains(says),
            "{outcome:#}"
        );
    }
    let unauthorized = anonymous.get("Communication").await;
    assert_eq!(unauthorized.headers["www-authenticate"], "Bearer");
    app.stop().await;
}

#[tokio::test]
async fn lenient_handling_ignores_unknown_parameters_and_leaves_them_out_of_the_links() {
    let app = TestApp::spawn().await;
    let fhir = Fhir::staff(&app).await;

    let bundle = fhir
        .get_with(
            "Communication?colour=red&patient=p-1&_format=json",
            &[("Prefer", "handling=lenient")],
        )
        .await;

    assert_eq!(bundle.status, StatusCode::OK, "{:#}", bundle.resource);
    let own = link(&bundle.resource, "self").expect("self link");
    assert!(
        own.ends_with("/fhir/r4/Communication?patient=p-1&_count=50"),
        "{own}"
    );
    assert_eq!(link(&bundle.resource, "next"), None);
    assert_eq!(resources(&bundle.resource), Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn metadata_is_an_r4_capability_statement_served_without_a_key() {
    let app = TestApp::spawn().await;

    let statement = Fhir::with_key(&app, None).read("metadata").await;

    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    assert_eq!(statement["format"], json!(["json"]));
    let served: Vec<(&str, Vec<&str>)> = statement["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            let params = r["searchParam"].as_array().expect("params");
            (
                r["type"].as_str().expect("type"),
                params.iter().filter_map(|p| p["name"].as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        served,
        [
            ("Communication", vec!["patient", "based-on", "_lastUpdated"]),
            ("CommunicationRequest", vec!["patient", "_lastUpdated"]),
        ]
    );
    app.stop().await;
}
