//! One clinic's staff never reach another clinic's data through the console: every console
//! route that takes an id (read from the console's source, as in `console_security`) answers
//! "not found" for another clinic's patient, conversation, notification, callback, photo and
//! staff member, and its forms change nothing.

use std::time::Duration;

use medrelay::domain::UiLanguage;
use medrelay::store::ApiKeyRole;
use medrelay_testkit::{snapshot, wait};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console_security::{PUBLIC, console_routes, without_touched};
use crate::harness::TestApp;

#[tokio::test]
async fn another_clinic_s_patient_is_not_found_on_the_sandbox_phone() {
    let app = TestApp::spawn().await;
    let other_key = app.other_clinic_key().await;
    let theirs = app
        .request(
            Method::PUT,
            "/v1/patients/theirs-1",
            &other_key,
            Some(json!({ "name": "Their Patient", "phone": "+972541110000" })),
        )
        .await;
    assert!(theirs.status().is_success());
    let console = app.console(ApiKeyRole::Admin).await;

    let page = console.get("/console/sandbox/phone?patient=theirs-1").await;
    let answer = console
        .post(
            "/console/sandbox/phone/answer",
            &[
                ("patient", "theirs-1"),
                ("channel", "sms"),
                ("kind", "text"),
                ("text", "hi"),
            ],
        )
        .await;

    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let page = page.text().await.unwrap_or_default();
    assert!(!page.contains("Their Patient") && !page.contains("+972541110000"));
    let theirs = app
        .request(Method::GET, "/v1/conversations", &other_key, None)
        .await;
    let theirs = theirs.text().await.unwrap_or_default();
    assert!(
        !theirs.contains("theirs-1"),
        "nothing reached them: {theirs}"
    );
    app.stop().await;
}

/// Ids of the other clinic's things, of each kind a console route takes.
struct TheirIds {
    patient: String,
    conversation: String,
    notification: String,
    callback: String,
    message: String,
    staff: String,
    /// `name/language` of their own template, and the name of their quick reply.
    template: String,
    quick_reply: String,
    key: String,
    webhook: String,
}

/// The clinic `other` with a patient whose call failed (a notification and a callback task),
/// a patient who sent a photo (a conversation and a message with media), and a staff member.
async fn their_things(app: &TestApp) -> TheirIds {
    let key = app.other_clinic_key().await;
    let clinic = app.store.clinic_by_slug("other").await.expect("clinic");
    let admin = app
        .store
        .create_api_key(&clinic.id, ApiKeyRole::Admin, jiff::Timestamp::now())
        .await
        .expect("key");
    let unanswered =
        json!({ "name": "Their Moshe", "phone": "+972500000004", "channels": ["voice"] });
    let writer = json!({ "name": "Their Dana", "phone": "+972541110000" });
    for (id, patient) in [("theirs-1", unanswered), ("theirs-2", writer)] {
        let saved = app
            .request(
                Method::PUT,
                &format!("/v1/patients/{id}"),
                &key,
                Some(patient),
            )
            .await;
        assert!(saved.status().is_success());
    }
    let notification = app
        .notify_as(
            &key,
            json!({ "patient_id": "theirs-1", "topic": "general", "body": "Call us" }),
        )
        .await;
    app.wait_until_as(&key, &notification, |n| n["status"] == "failed")
        .await;
    let photo = json!({ "channel": "whatsapp", "from": "+972541110000", "image": {} });
    let sent = app
        .request(Method::POST, "/sandbox/inbound", &admin, Some(photo))
        .await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let get = async |path: &str| -> serde_json::Value {
        let answer = app.request(Method::GET, path, &admin, None).await;
        answer.json().await.expect("JSON")
    };
    let callbacks = get("/v1/callbacks").await;
    // The clinic's automatic answer to the photo goes out in the background: wait until it was
    // read, its last change, so that nothing moves while the test looks.
    let conversation = wait::within(Duration::from_secs(10))
        .until(async || {
            let conversation = get("/v1/conversations/theirs-2").await;
            let answered = conversation["messages"].as_array().is_some_and(|all| {
                all.iter()
                    .any(|m| m["direction"] == "outbound" && m["status"] == "read")
            });
            if answered {
                Ok(conversation)
            } else {
                Err(format!("not answered yet: {conversation:#}"))
            }
        })
        .await;
    let message = conversation["messages"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["direction"] == "inbound"))
        .and_then(|m| m["id"].as_str())
        .expect("their patient's message")
        .to_owned();
    let template = json!({
        "params": ["date"],
        "whatsapp": { "name": "their_prep", "parameters": ["date"], "text": "Their prep {{date}}" },
        "sms": { "text": "Their prep {{date}}" },
        "email": { "subject": "Their prep", "text": "Their prep {{date}}" },
        "voice": { "text": "Their prep {{date}}" }
    });
    let quick_reply = json!({ "texts": { "he": "Their quick reply" } });
    for (path, body) in [
        ("/v1/templates/their_prep/he", template),
        ("/v1/quick-replies/their_reply", quick_reply),
    ] {
        let saved = app.request(Method::PUT, path, &admin, Some(body)).await;
        let status = saved.status();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            saved.text().await.unwrap_or_default()
        );
    }
    let issued = app
        .store
        .issue_api_key(&clinic.id, ApiKeyRole::Booking, jiff::Timestamp::now())
        .await
        .expect("their key");
    let endpoint = app
        .request(
            Method::POST,
            "/v1/webhooks",
            &admin,
            Some(json!({
                "url": "https://booking.other.example/hooks",
                "event_types": crate::booking_webhooks::ALL_TYPES
            })),
        )
        .await;
    assert_eq!(endpoint.status(), StatusCode::CREATED);
    let endpoint: serde_json::Value = endpoint.json().await.expect("endpoint");
    let member = app
        .staff_member_of(
            "other",
            "ruth@other.example",
            ApiKeyRole::Staff,
            UiLanguage::En,
        )
        .await;
    TheirIds {
        patient: "theirs-1".to_owned(),
        conversation: "theirs-2".to_owned(),
        notification,
        callback: callbacks["items"][0]["id"]
            .as_str()
            .or_else(|| callbacks[0]["id"].as_str())
            .unwrap_or_else(|| panic!("their callback task: {callbacks:#}"))
            .to_owned(),
        message,
        staff: member.id.as_str().to_owned(),
        template: "their_prep/he".to_owned(),
        quick_reply: "their_reply".to_owned(),
        key: issued.view.id.as_str().to_owned(),
        webhook: endpoint["id"].as_str().expect("endpoint id").to_owned(),
    }
}

/// `path` with its parameter filled with the other clinic's id of that kind.
fn theirs(path: &str, ids: &TheirIds) -> String {
    let id = if path.starts_with("/console/patients/") {
        &ids.patient
    } else if path.starts_with("/console/inbox/") {
        &ids.conversation
    } else if path.starts_with("/console/notifications/") {
        &ids.notification
    } else if path.starts_with("/console/callbacks/") {
        &ids.callback
    } else if path.starts_with("/console/media/") {
        &ids.message
    } else if path.starts_with("/console/settings/staff/") {
        &ids.staff
    } else if path.starts_with("/console/settings/templates/{name}/{language}") {
        &ids.template
    } else if path.starts_with("/console/settings/quick-replies/") {
        &ids.quick_reply
    } else if path.starts_with("/console/settings/keys/") {
        &ids.key
    } else if path.starts_with("/console/settings/webhooks/") {
        &ids.webhook
    } else {
        panic!("{path}: which kind of id is this? Add it to `theirs` and `their_things`")
    };
    let open = path.find('{').expect("a parameter");
    // The last parameter's end: a template is named by two (`{name}/{language}`).
    let close = path.rfind('}').expect("its end");
    format!("{}{id}{}", &path[..open], &path[close + 1..])
}

#[tokio::test]
async fn another_clinic_s_ids_are_not_found_on_any_console_page_and_change_nothing() {
    let app = TestApp::spawn().await;
    let ids = their_things(&app).await;
    let console = app.console(ApiKeyRole::Admin).await;
    let before = without_touched(snapshot::tables(app.database_url()).await);
    let mut checked = Vec::new();
    for route in console_routes()
        .into_iter()
        .filter(|r| r.path.contains('{'))
    {
        if PUBLIC.contains(&route.path.as_str()) {
            continue;
        }
        let path = theirs(&route.path, &ids);
        if route.get {
            let answer = console.get(&path).await;
            // A template's name is the clinic's own to give: another clinic's name opens this
            // clinic's blank copy to write (checked below to hold none of theirs).
            let expected = if route.path.starts_with("/console/settings/templates/") {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(answer.status(), expected, "GET {path}");
            let page = answer.text().await.unwrap_or_default();
            assert!(
                !page.contains("Their "),
                "GET {path} shows their data: {page}"
            );
        }
        if route.post {
            // A form with the session's token: not found, or refused as incomplete before
            // anything is looked up; never done.
            let answer = console.post(&path, &[]).await;
            let status = answer.status();
            assert!(
                [
                    StatusCode::NOT_FOUND,
                    StatusCode::BAD_REQUEST,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ]
                .contains(&status),
                "POST {path}: {status}"
            );
        }
        checked.push(path);
    }
    let after = without_touched(snapshot::tables(app.database_url()).await);
    assert_eq!(
        snapshot::changed(&before, &after),
        Vec::<String>::new(),
        "tables changed by {checked:?}"
    );
    assert!(checked.len() >= 5, "{checked:?}");
    app.stop().await;
}
