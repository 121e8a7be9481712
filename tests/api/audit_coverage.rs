//! The audit trail covers the whole API, read from its own OpenAPI document: every read is
//! classified as sensitive or not, every change is named, and every change, called, leaves an
//! entry (the "audit entries for every mutating route").

use std::collections::HashSet;

use medrelay::audit::routes::{Kind, classified};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::openapi::{document, operations};
use crate::openapi_contract::Contract;

/// Where the authenticated, audited routes are.
fn is_audited(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/fhir/r4/")
}

fn method_of(name: &str) -> Method {
    Method::from_bytes(name.to_uppercase().as_bytes()).expect("method")
}

#[tokio::test]
async fn every_route_is_in_the_audit_table_each_read_as_sensitive_or_not() {
    let app = TestApp::spawn().await;
    let document = document(&app).await;

    let mut unclassified = Vec::new();
    for (method, path, _) in operations(&document) {
        if !is_audited(&path) {
            continue;
        }
        let method = method_of(&method);
        match classified(&method, &path) {
            Some(route) if method == Method::GET => {
                assert!(matches!(route.kind, Kind::Sensitive | Kind::Plain));
            }
            Some(route) => assert_eq!(route.kind, Kind::Change, "{method} {path}"),
            None => unclassified.push(format!("{method} {path}")),
        }
    }

    assert!(
        unclassified.is_empty(),
        "add these to src/audit/routes.rs (a read as sensitive or plain): {unclassified:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_mutating_operation_called_leaves_an_entry_naming_its_action() {
    let app = TestApp::spawn_with(|config| {
        config.api.key_rate_per_second = 100_000;
        config.api.key_burst = 100_000;
    })
    .await;
    let admin = app.admin_key().await;
    app.patient(
        "P-1042",
        json!({ "name": "Dana Levi", "phone": "+972541234567" }),
    )
    .await;
    let contract = Contract::of(&app, admin.clone()).await;

    let mut sent = Vec::new();
    for (method, path, operation) in operations(contract.document()) {
        let method = method_of(&method);
        if !is_audited(&path) || method == Method::GET {
            continue;
        }
        let action = classified(&method, &path).map_or("unclassified", |r| r.action);
        let request_id = format!("req-{}", sent.len());
        let status = contract
            .valid_request(&method, &path, &operation)
            .header("X-Request-Id", &request_id)
            .send()
            .await
            .expect("sent")
            .status();
        sent.push((request_id, action, format!("{method} {path} ({status})")));
    }

    let recorded = every_entry(&app, &admin).await;
    let missing: Vec<&String> = sent
        .iter()
        .filter(|(request_id, action, _)| {
            !recorded.contains(&(request_id.clone(), action.to_string()))
        })
        .map(|(_, _, call)| call)
        .collect();
    assert!(
        missing.is_empty(),
        "changes without their entry: {missing:#?}"
    );
    assert!(sent.len() >= 29, "only {} changes called", sent.len());
    app.stop().await;
}

/// Every (request id, action) in the clinic's trail, walked page by page.
async fn every_entry(app: &TestApp, admin: &str) -> HashSet<(String, String)> {
    let mut recorded = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "500".to_owned())];
        query.extend(cursor.take().map(|c| ("cursor", c)));
        let page: Value = app
            .client()
            .get(format!("{}/v1/audit", app.base))
            .bearer_auth(admin)
            .query(&query)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("page");
        for entry in page["items"].as_array().expect("items") {
            let text = |field: &str| entry[field].as_str().unwrap_or("").to_owned();
            recorded.insert((text("request_id"), text("action")));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return recorded,
        }
    }
}
