//! `/fhir/r4`: every notification is a CommunicationRequest, every message that reached a
//! provider and every message a patient sent a Communication, carrying exactly what the patient
//! got. Every resource these tests read is checked as R4 (strict parse, value sets) and kept
//! for FHIR.js (`fhir_validation.rs`).

use std::path::PathBuf;
use std::time::Duration;

use medrelay::store::ApiKeyRole;
use medrelay_testkit::{fhir_r4, wait};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, attempts, reminder};

/// Where the resources the tests read are kept for FHIR.js.
pub fn emitted() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fhir-emitted")
}

/// A FHIR client of the test clinic: every answer must be FHIR JSON and valid R4.
pub struct Fhir<'a> {
    app: &'a TestApp,
    key: Option<String>,
}

/// One answer: its status, headers and resource.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub resource: Value,
}

impl<'a> Fhir<'a> {
    /// With a staff key of the test clinic.
    pub async fn staff(app: &'a TestApp) -> Self {
        Self::with_key(app, Some(app.staff_key().await))
    }

    pub fn with_key(app: &'a TestApp, key: Option<String>) -> Self {
        Self { app, key }
    }

    /// `GET /fhir/r4/<path>` (or an absolute URL) with `headers`, its answer checked as R4.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/fhir/r4/{path}", self.app.base)
        };
        let mut request = self.app.client().get(url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        assert_eq!(
            headers["content-type"], "application/fhir+json; fhirVersion=4.0; charset=utf-8",
            "{path}: {status} {text}"
        );
        let resource: Value = serde_json::from_str(&text).expect("JSON");
        fhir_r4::assert_valid(&resource, &emitted());
        Answer {
            status,
            headers,
            resource,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.get_with(path, &[]).await
    }

    /// The resource at `path`, which must be there.
    pub async fn read(&self, path: &str) -> Value {
        let answer = self.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.resource);
        answer.resource
    }

    /// Every resource a search finds, following its `next` links, in order.
    pub async fn search_all(&self, path: &str) -> Vec<Value> {
        let mut found = Vec::new();
        let mut page = Some(path.to_owned());
        while let Some(at) = page {
            let bundle = self.read(&at).await;
            assert_eq!(bundle["type"], "searchset");
            found.extend(resources(&bundle));
            page = link(&bundle, "next");
        }
        found
    }
}

/// The resources of a searchset, each checked as a match under its full URL.
pub fn resources(bundle: &Value) -> Vec<Value> {
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    entries
        .into_iter()
        .map(|entry| {
            assert_eq!(entry["search"]["mode"], "match");
            let resource = entry["resource"].clone();
            let kind = resource["resourceType"].as_str().expect("type");
            let url = entry["fullUrl"].as_str().expect("fullUrl");
            assert!(
                url.ends_with(&format!(
                    "/fhir/r4/{kind}/{}",
                    resource["id"].as_str().expect("id")
                )),
                "{url}"
            );
            resource
        })
        .collect()
}

/// The URL of a Bundle's link `relation`, if it has one.
pub fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

/// The resource id of one of our ids.
pub fn fhir_id(id: &str) -> String {
    id.replace('_', "-")
}

/// The code of `concepts` (a CodeableConcept list) under a system ending in `system_end`.
fn code_under<'v>(concepts: &'v Value, system_end: &str) -> Option<&'v str> {
    concepts.as_array()?.iter().find_map(|concept| {
        concept["coding"].as_array()?.iter().find_map(|coding| {
            coding["system"]
                .as_str()?
                .ends_with(system_end)
                .then(|| coding["code"].as_str())
                .flatten()
        })
    })
}

fn channel(communication: &Value) -> &str {
    code_under(&communication["medium"], "/channel").unwrap_or_default()
}

fn payload(resource: &Value) -> Option<&str> {
    resource["payload"][0]["contentString"].as_str()
}

fn notes(resource: &Value) -> Vec<String> {
    (resource["note"].as_array().into_iter().flatten())
        .filter_map(|n| n["text"].as_str().map(str::to_owned))
        .collect()
}

/// What the sandbox says the patient at `recipient` got, as (channel, text), sorted.
async fn received(app: &TestApp, recipient: &str) -> Vec<(String, String)> {
    let mut got: Vec<(String, String)> = (app.outbox(recipient).await.iter())
        .map(|m| {
            (
                m["channel"].as_str().unwrap_or_default().to_owned(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    got.sort();
    got
}

/// The Communications of notification `id`, as (channel, payload), sorted.
fn told(communications: &[Value]) -> Vec<(String, String)> {
    let mut told: Vec<(String, String)> = communications
        .iter()
        .map(|c| {
            (
                channel(c).to_owned(),
                payload(c).unwrap_or_default().to_owned(),
            )
        })
        .collect();
    told.sort();
    told
}

async fn communications_of(fhir: &Fhir<'_>, notification: &str) -> Vec<Value> {
    fhir.search_all(&format!(
        "Communication?based-on=CommunicationRequest/{}",
        fhir_id(notification)
    ))
    .await
}

#[tokio::test]
async fn a_whatsapp_to_sms_fallback_is_one_request_and_a_communication_for_each_message_the_patient_got()
 {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972500000001" }))
        .await;
    let id = app.notify(reminder()).await;
    let done = app.wait_for(&id, &["delivered"]).await;
    let fhir = Fhir::staff(&app).await;

    let requests = fhir.search_all("CommunicationRequest?patient=p-1").await;
    let communications = communications_of(&fhir, &id).await;

    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request["id"], fhir_id(&id));
    assert_eq!(request["identifier"][0]["value"], id.as_str());
    assert_eq!(
        request["identifier"][0]["system"],
        "urn:medrelay:clinic:hadar/notification"
    );
    assert_eq!(request["status"], "completed");
    assert_eq!(
        request["intent"],
        Value::Null,
        "R4 CommunicationRequest has no intent"
    );
    assert_eq!(request["subject"]["identifier"]["value"], "p-1");
    assert_eq!(
        request["subject"]["identifier"]["system"],
        "urn:medrelay:clinic:hadar/patient"
    );
    assert!(
        (request["requester"]["display"].as_str().unwrap_or_default())
            .starts_with("booking key key_"),
        "{request:#}"
    );
    assert_eq!(
        told(&communications),
        received(&app, "+972500000001").await,
        "each Communication carries exactly what the patient got on its channel"
    );
    let by_channel = |name: &str| {
        communications
            .iter()
            .find(|c| channel(c) == name)
            .unwrap_or_else(|| panic!("no {name} Communication: {communications:#?}"))
    };
    let (whatsapp, sms) = (by_channel("whatsapp"), by_channel("sms"));
    // "Not a WhatsApp user" settles WhatsApp, unless its delivery timeout came first (a slow
    // machine): then no one knows whether the patient got it.
    let (status, reason) = match attempts(&done)[0].1.as_str() {
        "failed" => ("stopped", "131026"),
        "timed_out" => ("unknown", "no delivery receipt"),
        other => panic!("whatsapp {other}: {done:#}"),
    };
    let said = whatsapp["statusReason"]["text"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(whatsapp["status"], status);
    assert!(said.starts_with(reason), "{whatsapp:#}");
    assert_eq!(sms["status"], "completed");
    assert!(sms["received"].is_string(), "{sms:#}");
    for communication in [whatsapp, sms] {
        assert_eq!(
            communication["basedOn"][0]["reference"],
            format!("CommunicationRequest/{}", fhir_id(&id))
        );
        assert_eq!(
            code_under(&communication["medium"], "v3-ParticipationMode"),
            Some("WRITTEN")
        );
        assert_eq!(communication["recipient"][0]["identifier"]["value"], "p-1");
        assert_eq!(communication["sender"]["display"], "Clinic hadar");
        assert_eq!(
            code_under(&json!([communication["topic"]]), "/topic"),
            Some("appointment_reminder")
        );
        let read = fhir
            .read(&format!(
                "Communication/{}",
                communication["id"].as_str().expect("id")
            ))
            .await;
        assert_eq!(&read, communication);
    }
    app.stop().await;
}

/// A test result for patient `p-1` (`patient` as saved), sent with the default sensitivity.
async fn test_result(patient: Value) -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.patient("p-1", patient).await;
    let id = app
        .notify(json!({ "patient_id": "p-1", "topic": "test_result_ready", "body": "Your HbA1c is 9.1%" }))
        .await;
    app.wait_until_finished(&id).await;
    (app, id)
}

#[tokio::test]
async fn a_sensitive_topic_never_has_its_content_in_a_communication_on_a_chat_channel() {
    for (patient, chat_only) in [
        (
            json!({ "name": "Dana", "language": "en", "phone": "+972541234567", "whatsapp": true,
                    "email": "dana@example.org", "channels": ["whatsapp", "email"] }),
            false,
        ),
        (
            json!({ "name": "Anna", "language": "en", "phone": "+972541234567", "whatsapp": true,
                    "channels": ["whatsapp", "sms"] }),
            true,
        ),
    ] {
        let (app, id) = test_result(patient).await;
        let fhir = Fhir::staff(&app).await;

        let communications = communications_of(&fhir, &id).await;
        let request = fhir
            .read(&format!("CommunicationRequest/{}", fhir_id(&id)))
            .await;

        assert!(!communications.is_empty());
        for communication in &communications {
            let on = channel(communication);
            if ["whatsapp", "sms"].contains(&on) {
                let text = communication.to_string();
                assert!(!text.contains("HbA1c"), "{on} carries the content: {text}");
                assert!(
                    notes(communication)
                        .iter()
                        .any(|n| n.contains("withheld from")),
                    "{communication:#}"
                );
            } else {
                assert_eq!(payload(communication), Some("Your HbA1c is 9.1%"));
            }
        }
        assert_eq!(
            communications.iter().any(|c| channel(c) == "email"),
            !chat_only
        );
        assert_eq!(
            payload(&request),
            Some("Your HbA1c is 9.1%"),
            "the clinic's own record"
        );
        assert!(
            notes(&request)
                .iter()
                .any(|n| n.contains("test_result_ready") && n.contains("withheld from whatsapp")),
            "{request:#}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_patients_message_is_a_communication_from_them_and_the_answer_replies_to_it() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": "+972541234567", "whatsapp": true }),
    )
    .await;
    let fhir = Fhir::staff(&app).await;

    app.patient_sends(
        json!({ "channel": "whatsapp", "from": "+972541234567", "text": "Can I come at 10 instead?" }),
    )
    .await;
    app.patient_sends(
        json!({ "channel": "whatsapp", "from": "+972541234567", "image": { "caption": "the rash" } }),
    )
    .await;
    let found = wait::within(Duration::from_secs(10))
        .until(async || {
            let found = fhir.search_all("Communication?patient=p-1").await;
            let answered = found.iter().any(|c| !c["inResponseTo"].is_null());
            if answered {
                Ok(found)
            } else {
                Err(format!("no answer yet: {found:#?}"))
            }
        })
        .await;

    let from_patient: Vec<&Value> = found
        .iter()
        .filter(|c| c["sender"]["identifier"]["value"] == "p-1")
        .collect();
    assert_eq!(from_patient.len(), 2, "{found:#?}");
    let text = from_patient[0];
    assert_eq!(payload(text), Some("Can I come at 10 instead?"));
    assert_eq!(text["status"], "completed");
    assert_eq!(text["recipient"][0]["display"], "Clinic hadar");
    assert!((text["identifier"][0]["system"].as_str().unwrap_or_default()).ends_with("/message"));
    let photo = from_patient[1];
    assert_eq!(payload(photo), Some("the rash"));
    assert_eq!(
        photo["payload"][1]["contentAttachment"]["contentType"],
        "image/png"
    );
    let answer = found
        .iter()
        .find(|c| !c["inResponseTo"].is_null())
        .expect("an answer");
    assert_eq!(
        answer["inResponseTo"][0]["reference"],
        format!("Communication/{}", text["id"].as_str().expect("id"))
    );
    assert_eq!(answer["recipient"][0]["identifier"]["value"], "p-1");
    assert!(
        (answer["reasonCode"][0]["text"].as_str().unwrap_or_default())
            .starts_with("automatic reply"),
        "{answer:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_erased_patients_records_stay_without_their_texts() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": "+972541234567", "whatsapp": true }),
    )
    .await;
    let id = app.notify(reminder()).await;
    app.wait_for(&id, &["delivered", "read"]).await;
    let admin = app.admin_key().await;
    let fhir = Fhir::staff(&app).await;

    let erased = app
        .request(Method::DELETE, "/v1/patients/p-1", &admin, None)
        .await;
    let communications = communications_of(&fhir, &id).await;
    let request = fhir
        .read(&format!("CommunicationRequest/{}", fhir_id(&id)))
        .await;

    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    assert_eq!(communications.len(), 1);
    assert_eq!(communications[0]["payload"], Value::Null);
    assert!(notes(&communications[0]).contains(&"erased on request".to_owned()));
    assert_eq!(communications[0]["recipient"][0]["display"], Value::Null);
    assert!(notes(&request).contains(&"erased on request".to_owned()));
    app.stop().await;
}

/// A staff key of the second clinic.
async fn other_clinic_staff(app: &TestApp) -> String {
    app.other_clinic_key().await;
    let other = app.store.clinic_by_slug("other").await.expect("clinic");
    app.store
        .create_api_key(&other.id, ApiKeyRole::Staff, jiff::Timestamp::now())
        .await
        .expect("key")
}

#[tokio::test]
async fn another_clinics_records_are_not_found_and_a_booking_key_is_refused() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    let id = app.notify(reminder()).await;
    app.wait_for(&id, &["delivered", "read"]).await;
    let ours = Fhir::staff(&app).await;
    let theirs = Fhir::with_key(&app, Some(other_clinic_staff(&app).await));
    let booking = Fhir::with_key(&app, Some(app.key.clone()));
    let request = format!("CommunicationRequest/{}", fhir_id(&id));
    let attempt = communications_of(&ours, &id).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let not_theirs = theirs.get(&request).await;
    let not_their_attempt = theirs.get(&format!("Communication/{attempt}")).await;
    let their_search = theirs.read("CommunicationRequest?patient=p-1").await;
    let refused = booking.get(&request).await;

    for answer in [&not_theirs, &not_their_attempt] {
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.resource["resourceType"], "OperationOutcome");
        assert_eq!(answer.resource["issue"][0]["code"], "not-found");
    }
    assert_eq!(resources(&their_search), Vec::<Value>::new());
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.resource["issue"][0]["code"], "forbidden");
    assert_eq!(
        refused.resource["issue"][0]["diagnostics"],
        "this needs a staff or admin key"
    );
    app.stop().await;
}
