//! The independent checks: FHIR.js (npm `fhir` 4.12.0, the official R4 StructureDefinitions and
//! value sets) and fhir.resources 6.2.2 (Python models of R4) validate every resource the FHIR
//! tests read, as `testkit::fhir_r4` kept them.
//! Run after the suite (`.ci/run` does), it checks all of them; run alone, the records it
//! makes itself.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::fhir::{Fhir, emitted};
use crate::harness::{TestApp, reminder};

/// A validator's setting: the environment variable naming it, else where `.ci/run` installs it.
fn installed(variable: &str, under_home: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(under_home),
        PathBuf::from,
    )
}

/// Runs `program` on `script` (in `.ci/`) over the kept resources; panics with its report
/// unless every resource passes.
fn validate(mut program: Command, script: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".ci")
        .join(script);
    let checked = program
        .arg(script)
        .arg(emitted())
        .output()
        .expect("the validator runs");
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success() && report.contains(" 0 invalid"),
        "{report}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[tokio::test]
#[ignore = "needs node with the npm package fhir@4.12.0 and python with fhir.resources==6.2.2: .ci/run installs them"]
async fn every_resource_the_fhir_tests_read_passes_fhir_js_and_fhir_resources() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972500000001" }))
        .await;
    let id = app.notify(reminder()).await;
    app.wait_for(&id, &["delivered"]).await;
    app.patient_sends(json!({ "channel": "sms", "from": "+972500000001", "text": "thanks" }))
        .await;
    let fhir = Fhir::staff(&app).await;
    fhir.search_all("CommunicationRequest").await;
    fhir.search_all("Communication?patient=p-1").await;
    fhir.get("Communication?colour=red").await;
    Fhir::with_key(&app, None).get("metadata").await;
    app.stop().await;

    let mut node = Command::new("node");
    node.env(
        "NODE_PATH",
        installed("MEDRELAY_FHIR_JS", ".local/medrelay-ci/node/node_modules"),
    );
    validate(node, "fhir-validate.js");
    let python = installed(
        "MEDRELAY_FHIR_PYTHON",
        ".local/medrelay-ci/fhir-py/bin/python",
    );
    validate(Command::new(python), "fhir-validate.py");
}
