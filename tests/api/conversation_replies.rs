//! Staff answer patients in their conversations: on the channel the patient wrote on, within
//! WhatsApp's 24-hour window or around it, answering what waits, and never held by the caps.

use std::time::Duration;

use medrelay_testkit::wait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversations::{
    DANA_PHONE, app_with_dana, app_with_dana_and, get, inbound_messages, labels_of,
    listed_patients, post,
};
use crate::harness::{TestApp, reminder};

/// What `recipient` received from the sandbox for notification `id` (auto replies arrive beside
/// it); fails after a few seconds.
async fn received(app: &TestApp, recipient: &str, id: &str) -> Value {
    wait::within(Duration::from_secs(10))
        .until(async || {
            let outbox = app.outbox(recipient).await;
            outbox
                .iter()
                .find(|m| m["notification_id"] == id)
                .cloned()
                .ok_or_else(|| format!("nothing for {id} yet: {outbox:#?}"))
        })
        .await
}

/// A staff reply to patient `p-1` that must be taken; returns the answer.
async fn reply(app: &TestApp, staff: &str, body: Value) -> Value {
    let (status, answer) = post(app, staff, "/v1/conversations/p-1/reply", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer:#}");
    answer
}

#[tokio::test]
async fn a_staff_reply_inside_the_whatsapp_window_goes_as_free_text_on_whatsapp() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    app.patient_writes_on_whatsapp(DANA_PHONE).await;

    let answer = reply(
        &app,
        &staff,
        json!({ "by": "Dana", "text": "Yes, come at 10", "channel": "whatsapp" }),
    )
    .await;

    assert_eq!(answer["channel"], "whatsapp", "{answer:#}");
    assert!(answer.get("note").is_none(), "{answer:#}");
    let id = answer["id"].as_str().expect("id");
    let sent = app.wait_for(id, &["delivered", "read"]).await;
    assert_eq!(sent["channel"], "whatsapp");
    let received = received(&app, DANA_PHONE, id).await;
    assert_eq!(received["channel"], "whatsapp");
    assert_eq!(received["body"], "Yes, come at 10");
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
    let replied = conversation["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == id))
        .expect("the reply in the conversation");
    assert_eq!(replied["origin"], "staff_reply");
    assert!(conversation["last_staff_reply_at"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn a_staff_reply_outside_the_window_goes_on_the_next_channel_and_says_so() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;

    let answer = reply(
        &app,
        &staff,
        json!({ "by": "Dana", "text": "Please call us", "channel": "whatsapp" }),
    )
    .await;

    assert_eq!(answer["channel"], "sms", "{answer:#}");
    assert!(
        answer["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("WhatsApp window closed")),
        "{answer:#}"
    );
    let id = answer["id"].as_str().expect("id");
    let sent = app.wait_for(id, &["delivered"]).await;
    assert_eq!(sent["channel"], "sms");
    assert_eq!(received(&app, DANA_PHONE, id).await["channel"], "sms");
    app.stop().await;
}

#[tokio::test]
async fn a_reply_to_a_patient_who_never_wrote_on_whatsapp_goes_on_sms_and_says_why() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;

    let answer = reply(
        &app,
        &staff,
        json!({ "by": "Rivka", "text": "Your results are ready" }),
    )
    .await;

    assert_eq!(answer["channel"], "sms", "{answer:#}");
    assert!(
        answer["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("WhatsApp window closed") && n.ends_with("on sms")),
        "{answer:#}"
    );
    let id = answer["id"].as_str().expect("id");
    assert_eq!(received(&app, DANA_PHONE, id).await["channel"], "sms");
    app.stop().await;
}

#[tokio::test]
async fn a_reply_no_channel_can_carry_is_refused_and_the_message_keeps_waiting() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    app.patient(
        "p-2",
        json!({ "name": "John", "phone": "+972541234588", "channels": ["sms"] }),
    )
    .await;
    app.patient_sends(
        json!({ "channel": "sms", "from": "+972541234588", "text": "Call me please" }),
    )
    .await;
    app.patient_sends(json!({ "channel": "sms", "from": "+972541234588", "text": "STOP" }))
        .await;

    let (status, problem) = post(
        &app,
        &staff,
        "/v1/conversations/p-2/reply",
        json!({ "by": "Rivka", "text": "See you soon" }),
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem["errors"][0]["field"], "channel");
    assert!(
        problem["errors"][0]["rule"]
            .as_str()
            .is_some_and(|r| r.contains("sms skipped: patient opted out")),
        "{problem:#}"
    );
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-2").await;
    assert!(
        conversation["awaiting_since"].is_string(),
        "{conversation:#}"
    );
    assert!(conversation["last_staff_reply_at"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn staff_replies_do_not_count_toward_the_daily_cap() {
    let app = app_with_dana_and(|config| {
        config.api.patient_daily_cap = 1;
        config.api.patient_daily_urgent_cap = 1;
    })
    .await;
    let staff = app.staff_key().await;
    app.notify(reminder()).await;

    let first = reply(&app, &staff, json!({ "by": "Dana", "text": "First" })).await;
    let second = reply(&app, &staff, json!({ "by": "Dana", "text": "Second" })).await;

    for answer in [&first, &second] {
        let id = answer["id"].as_str().expect("id");
        app.wait_for(id, &["delivered", "read"]).await;
    }
    let over_cap = app.post_notification(reminder()).await;
    assert_eq!(over_cap.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn a_staff_reply_answers_the_waiting_message_on_the_channel_the_patient_wrote_on() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    app.patient_writes_on_whatsapp(DANA_PHONE).await;
    let (_, waiting) = get(&app, &staff, "/v1/conversations/p-1").await;
    assert_eq!(waiting["status"], "open", "{waiting:#}");
    assert!(labels_of(&waiting).contains(&"awaiting_response"));
    let message = inbound_messages(&waiting)[0]["id"].clone();
    let (_, unanswered) = get(&app, &staff, "/v1/conversations?unanswered=true").await;
    assert_eq!(listed_patients(&unanswered), vec!["p-1"]);

    let answer = reply(
        &app,
        &staff,
        json!({ "by": "Dana", "text": "We open at 9" }),
    )
    .await;

    assert_eq!(answer["channel"], "whatsapp", "{answer:#}");
    assert_eq!(answer["in_reply_to"], message);
    let (_, answered) = get(&app, &staff, "/v1/conversations/p-1").await;
    let inbound = inbound_messages(&answered);
    assert_eq!(inbound[0]["answered_by"], "Dana", "{answered:#}");
    assert!(answered["awaiting_since"].is_null());
    assert!(!labels_of(&answered).contains(&"awaiting_response"));
    let (_, unanswered) = get(&app, &staff, "/v1/conversations?unanswered=true").await;
    assert_eq!(listed_patients(&unanswered), Vec::<&str>::new());
    let id = answer["id"].as_str().expect("id");
    assert_eq!(
        app.wait_for(id, &["delivered", "read"]).await["channel"],
        "whatsapp"
    );
    app.stop().await;
}

#[tokio::test]
async fn outside_the_window_a_quick_reply_goes_as_the_clinics_approved_template_of_its_name() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    let admin = app.admin_key().await;
    let quick_reply = app
        .request(
            Method::PUT,
            "/v1/quick-replies/call_us",
            &staff,
            Some(json!({ "texts": { "he": "{{clinic}}: please call us" } })),
        )
        .await;
    assert_eq!(quick_reply.status(), StatusCode::CREATED);
    let text = "{{clinic}}: please call us about your visit";
    let template = app
        .request(
            Method::PUT,
            "/v1/templates/call_us/he",
            &admin,
            Some(json!({
                "whatsapp": { "name": "hadar_call_us", "parameters": ["clinic"], "text": text },
                "sms": { "text": text },
                "email": { "subject": "{{clinic}}", "text": text },
                "voice": { "text": text }
            })),
        )
        .await;
    assert_eq!(template.status(), StatusCode::CREATED);

    let answer = reply(
        &app,
        &staff,
        json!({ "by": "Dana", "quick_reply": "call_us", "channel": "whatsapp" }),
    )
    .await;

    assert_eq!(answer["channel"], "whatsapp", "{answer:#}");
    assert!(
        answer["note"]
            .as_str()
            .is_some_and(|n| n.contains("approved template call_us")),
        "{answer:#}"
    );
    let id = answer["id"].as_str().expect("id");
    let sent = app.wait_for(id, &["delivered", "read"]).await;
    assert_eq!(sent["template"], "call_us");
    let received = received(&app, DANA_PHONE, id).await;
    assert_eq!(received["channel"], "whatsapp");
    assert_eq!(
        received["body"],
        "Clinic hadar: please call us about your visit"
    );
    app.stop().await;
}

#[tokio::test]
async fn staff_answer_an_unknown_contact_in_their_conversation() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    let stranger = "+972529999999";
    app.patient_writes_on_whatsapp(stranger).await;
    let (_, list) = get(&app, &staff, "/v1/conversations?unanswered=true").await;
    let unknown = &list["items"][0];
    assert_eq!(unknown["patient"]["unknown_contact"], true, "{list:#}");
    let id = unknown["id"].as_str().expect("conversation id");

    let (status, answer) = post(
        &app,
        &staff,
        &format!("/v1/conversations/{id}/reply"),
        json!({ "by": "Noa", "text": "Who is writing, please?" }),
    )
    .await;

    assert_eq!(status, StatusCode::ACCEPTED, "{answer:#}");
    assert_eq!(answer["channel"], "whatsapp");
    let id = answer["id"].as_str().expect("id");
    assert_eq!(
        received(&app, stranger, id).await["body"],
        "Who is writing, please?"
    );
    app.stop().await;
}
