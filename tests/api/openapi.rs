//! The OpenAPI document and the router come from one list: every documented operation is
//! routed, every route is documented, and the reference page is served from the binary.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::TestApp;

/// Routes registered outside `routes!`, on purpose: the document and its page themselves, and
/// the sandbox's look-alikes of Meta's and Twilio's APIs (documented by those providers).
const UNDOCUMENTED_ROUTES: &[&str] = &[
    "/openapi.json",
    "/docs",
    "/docs/redoc.standalone.js",
    "/sandbox/meta",
    "/sandbox/twilio",
    // The staff console: pages for people in a browser, not the API (`/` leads there).
    "/console",
    "/\"",
];

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

pub async fn document(app: &TestApp) -> Value {
    let response = app
        .client()
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("document");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("document is JSON")
}

/// Every (method, path) the document lists.
pub fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |method| {
                let operation = item.get(*method)?;
                Some((method.to_string(), path.clone(), operation.clone()))
            })
        })
        .collect()
}

/// `path` with each `{param}` filled with a word the router takes as a value.
fn with_sample_params(path: &str) -> String {
    path.split('/')
        .map(|part| {
            if part.starts_with("{") {
                "sample"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_a_bearer_key_and_a_problem_schema() {
    let app = TestApp::spawn().await;

    let document = document(&app).await;

    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    let problem = &document["components"]["schemas"]["Problem"];
    assert!(problem["properties"]["errors"]["items"].is_object());
    for (method, path, operation) in operations(&document) {
        let name = format!("{method} {path}");
        assert!(
            operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{name}: no tag"
        );
        let answers = operation["responses"].as_object().expect("responses");
        if path.starts_with("/v1/") {
            assert_eq!(
                operation["security"][0]["api_key"],
                serde_json::json!([]),
                "{name}"
            );
            assert!(answers.contains_key("401"), "{name}: no 401");
            assert!(
                answers["429"]["headers"]["Retry-After"].is_object(),
                "{name}"
            );
        }
        // Errors are problems, except the patients' pages (text) and FHIR's OperationOutcomes.
        let (media, schema) = if path.starts_with("/fhir/") {
            ("application/fhir+json", "OperationOutcome")
        } else {
            ("application/problem+json", "Problem")
        };
        for (status, answer) in answers {
            if status.starts_with('4') && !path.starts_with("/s/") {
                assert_eq!(
                    answer["content"][media]["schema"]["$ref"],
                    format!("#/components/schemas/{schema}"),
                    "{name} {status}"
                );
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::spawn().await;
    let document = document(&app).await;

    let mut unrouted = Vec::new();
    for (method, path, _) in operations(&document) {
        let url = format!("{}{}", app.base, with_sample_params(&path));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let response = app
            .client()
            .request(method.clone(), url)
            .send()
            .await
            .expect("sent");
        let status = response.status();
        let problem: Value = response.json().await.unwrap_or(Value::Null);
        // The router's own answers: no such route, or not this method on it.
        if status == StatusCode::METHOD_NOT_ALLOWED || problem["detail"] == "route not found" {
            unrouted.push(format!("{method} {path}: {status}"));
        }
    }

    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:#?}"
    );
    assert!(operations(&document).len() >= 50);
    app.stop().await;
}

/// The router has no list to read back, so the check is on the source: every route registered
/// without `routes!` (which documents it) is one of the few listed above.
#[test]
fn every_route_the_router_serves_is_documented() {
    let mut undocumented = Vec::new();
    let mut files = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("dir")
                    .map(|e| e.expect("entry").path()),
            );
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        for (line, route) in text.split(".route(").skip(1).enumerate() {
            let literal = route
                .trim_start()
                .trim_start_matches('&')
                .trim_start_matches("format!(");
            let documented_elsewhere = UNDOCUMENTED_ROUTES
                .iter()
                .any(|allowed| literal.trim_start_matches('"').starts_with(allowed));
            if !documented_elsewhere {
                undocumented.push(format!("{}: route #{}", path.display(), line + 1));
            }
        }
    }

    assert!(
        undocumented.is_empty(),
        "routes registered without routes! (and so missing from /openapi.json): {undocumented:#?}"
    );
}

#[tokio::test]
async fn the_reference_page_is_served_from_the_binary_and_fetches_nothing_elsewhere() {
    let app = TestApp::spawn().await;

    let page = app
        .client()
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .expect("page");
    let script = app
        .client()
        .get(format!("{}/docs/redoc.standalone.js", app.base))
        .send()
        .await
        .expect("script");

    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"spec-url="/openapi.json""#));
    assert!(html.contains(r#"disable-telemetry="true""#));
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    assert!(script.text().await.expect("js").contains("Version: 3.0.1"));
    app.stop().await;
}

/// OpenAPI 3.1 requires a description on every response; validators refuse a document without.
#[tokio::test]
async fn every_response_of_every_operation_has_a_description() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            for (status, response) in responses {
                if !response["description"].is_string() {
                    missing.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "no description: {missing:?}");
    app.stop().await;
}
