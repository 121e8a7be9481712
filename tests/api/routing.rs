//! Routing, retry and fallback through the sandbox's magic recipients.

use serde_json::{Value, json};

use crate::harness::{TestApp, attempts, event_details, pairs, reminder, settled_by_receipts};

/// Sends one message to a patient with these contacts and waits until it is finished.
async fn deliver_to(app: &TestApp, patient: Value, request: Value) -> Value {
    app.patient("p-1", patient).await;
    let id = app.notify(request).await;
    app.wait_until_finished(&id).await
}

#[tokio::test]
async fn a_patient_not_on_whatsapp_gets_an_sms_instead() {
    let app = TestApp::spawn_with(settled_by_receipts).await;
    let done = deliver_to(
        &app,
        json!({ "name": "Dana", "phone": "+972500000001" }),
        reminder(),
    )
    .await;

    assert_eq!(done["status"], "delivered");
    assert_eq!(done["channel"], "sms");
    assert_eq!(
        attempts(&done),
        pairs(&[("whatsapp", "failed"), ("sms", "delivered")])
    );
    assert_eq!(done["attempts"][0]["error_code"], "131026");
    assert!(
        event_details(&done)
            .iter()
            .any(|d| d.starts_with("falling back to sms after whatsapp failed (131026"))
    );
    app.stop().await;
}

#[tokio::test]
async fn whatsapp_accepted_but_never_delivered_times_out_and_falls_back_to_sms() {
    let app = TestApp::spawn().await;
    let done = deliver_to(
        &app,
        json!({ "name": "Dana", "phone": "+972500000002" }),
        reminder(),
    )
    .await;

    assert_eq!(done["channel"], "sms");
    assert_eq!(
        attempts(&done),
        pairs(&[("whatsapp", "timed_out"), ("sms", "delivered")])
    );
    assert!(
        event_details(&done)
            .iter()
            .any(|d| d.starts_with("whatsapp timed out: no delivery receipt"))
    );
    let outbox = app.outbox("+972500000002").await;
    assert_eq!(
        outbox.len(),
        2,
        "one WhatsApp message, one SMS, nothing resent"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_undelivered_sms_falls_back_to_email() {
    let app = TestApp::spawn().await;
    let patient = json!({ "name": "Dana", "phone": "+972500000003", "email": "dana@example.org", "channels": ["sms", "email"] });
    let done = deliver_to(&app, patient, reminder()).await;

    assert_eq!(
        done["status"], "sent",
        "email has no delivery receipt: accepted by the server is final"
    );
    assert_eq!(done["channel"], "email");
    assert_eq!(
        attempts(&done),
        pairs(&[("sms", "failed"), ("email", "accepted")])
    );
    assert_eq!(done["attempts"][0]["error_code"], "30003");
    let email = app.outbox("dana@example.org").await;
    assert_eq!(
        email[0]["subject"], "הודעה מאת Clinic hadar",
        "the subject is in the patient's language"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unanswered_call_is_made_once_more_then_falls_back_to_sms() {
    let app = TestApp::spawn().await;
    let patient =
        json!({ "name": "Moshe", "phone": "+972500000004", "channels": ["voice", "sms"] });
    let done = deliver_to(&app, patient, reminder()).await;

    assert_eq!(done["channel"], "sms");
    assert_eq!(
        attempts(&done),
        pairs(&[
            ("voice", "failed"),
            ("voice", "failed"),
            ("sms", "delivered")
        ])
    );
    assert_eq!(done["attempts"][0]["error_code"], "no-answer");
    assert!(
        event_details(&done)
            .contains(&"falling back to sms after voice not answered 2 times".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn transient_provider_errors_are_retried_on_the_same_channel_without_fallback() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972500000005" }))
        .await;
    let id = app.notify(reminder()).await;
    let done = app.wait_for(&id, &["read"]).await;

    assert_eq!(done["channel"], "whatsapp");
    assert_eq!(
        attempts(&done),
        pairs(&[
            ("whatsapp", "errored"),
            ("whatsapp", "errored"),
            ("whatsapp", "read")
        ])
    );
    assert_eq!(app.outbox("+972500000005").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_bounced_email_falls_back_to_sms() {
    let app = TestApp::spawn().await;
    let patient = json!({ "name": "Dana", "phone": "+972541234567", "email": "dana@bounce.test", "channels": ["email", "sms"] });
    let done = deliver_to(&app, patient, reminder()).await;

    assert_eq!(
        attempts(&done),
        pairs(&[("email", "failed"), ("sms", "delivered")])
    );
    assert_eq!(done["attempts"][0]["error_code"], "550");
    app.stop().await;
}

#[tokio::test]
async fn opted_out_channels_are_skipped_with_the_reason_recorded() {
    let app = TestApp::spawn().await;
    let patient = json!({ "name": "Dana", "phone": "+972541234567", "opted_out": ["whatsapp"] });
    let done = deliver_to(&app, patient, reminder()).await;

    assert_eq!(done["channel"], "sms");
    assert!(event_details(&done).contains(&"whatsapp skipped: patient opted out".to_owned()));
    app.stop().await;
}

#[tokio::test]
async fn staffs_channel_choice_overrides_the_patients_preference() {
    let app = TestApp::spawn().await;
    let patient = json!({ "name": "Dana", "phone": "+972541234567", "email": "dana@example.org", "channels": ["whatsapp"] });
    let mut request = reminder();
    request["channel"] = json!("email");
    let done = deliver_to(&app, patient, request).await;

    assert_eq!(attempts(&done), pairs(&[("email", "accepted")]));
    assert!(event_details(&done).contains(&"route: staff chose email".to_owned()));
    app.stop().await;
}

#[tokio::test]
async fn a_patient_with_no_usable_channel_fails_with_a_clear_reason() {
    let app = TestApp::spawn().await;
    let done = deliver_to(
        &app,
        json!({ "name": "Dana", "email": "dana@bounce.test", "opted_out": ["email"] }),
        reminder(),
    )
    .await;

    assert_eq!(done["status"], "failed");
    assert!(attempts(&done).is_empty());
    let last = event_details(&done)
        .into_iter()
        .rev()
        .find(|d| d.starts_with("failed:"))
        .expect("reason");
    assert!(
        last.contains("whatsapp skipped: no phone number on record"),
        "{last}"
    );
    assert!(last.contains("email skipped: patient opted out"), "{last}");
    app.stop().await;
}

#[tokio::test]
async fn a_hand_over_held_up_by_the_senders_rate_keeps_its_lease_and_is_sent_once() {
    let app = TestApp::spawn_with(|config| {
        config.sandbox.sender_rate_per_second = 2;
        // Five messages at 2/s take longer than the lease, so it must be renewed; a lease lost
        // before a hand-over started shows as an `unsent` attempt and a second one.
        config.dispatch.lease_ms = 1_000;
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        app.patient(
            &format!("p-{i}"),
            json!({ "name": "Dana", "phone": format!("+97254123456{i}") }),
        )
        .await;
        let mut request = reminder();
        request["patient_id"] = json!(format!("p-{i}"));
        ids.push(app.notify(request).await);
    }

    for id in ids {
        let done = app.wait_for(&id, &["read"]).await;
        assert_eq!(attempts(&done), pairs(&[("whatsapp", "read")]), "{done:#}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_next_notification_to_a_number_not_on_whatsapp_skips_whatsapp_at_once() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972500000001" }))
        .await;
    let first = app.notify(reminder()).await;
    assert_eq!(
        attempts(&app.wait_until_finished(&first).await),
        pairs(&[("whatsapp", "failed"), ("sms", "delivered")])
    );

    let second = app.notify(reminder()).await;
    let done = app.wait_until_finished(&second).await;

    assert_eq!(attempts(&done), pairs(&[("sms", "delivered")]));
    assert!(
        event_details(&done)
            .iter()
            .any(|d| d.starts_with("whatsapp skipped: the number is not on WhatsApp (provider,")),
        "{done:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_landline_is_called_instead_of_texted() {
    let app = TestApp::spawn().await;
    let patient = json!({ "name": "Moshe", "phone": "+972500000006", "email": "moshe@example.org", "channels": ["sms", "email"] });
    app.patient("p-1", patient).await;
    let id = app.notify(reminder()).await;
    let done = app.wait_until_finished(&id).await;

    assert_eq!(done["channel"], "voice");
    assert_eq!(
        attempts(&done),
        pairs(&[("sms", "failed"), ("voice", "delivered")])
    );
    assert_eq!(done["attempts"][0]["error_code"], "21614");
    app.stop().await;
}

#[tokio::test]
async fn an_unsubscribe_reported_by_the_sms_provider_closes_sms_for_that_number() {
    let app = TestApp::spawn().await;
    let patient = json!({ "name": "Dana", "phone": "+972500000007", "email": "dana@example.org", "channels": ["sms", "email"] });
    app.patient("p-1", patient).await;
    let first = app.notify(reminder()).await;
    assert_eq!(
        attempts(&app.wait_until_finished(&first).await),
        pairs(&[("sms", "failed"), ("email", "accepted")])
    );

    let second = app.notify(reminder()).await;
    let done = app.wait_until_finished(&second).await;
    assert_eq!(attempts(&done), pairs(&[("email", "accepted")]));
    assert!(
        event_details(&done)
            .iter()
            .any(|d| d.starts_with("sms skipped: the patient unsubscribed")),
        "{done:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_provider_account_that_fails_pauses_the_clinics_channel_and_traffic_falls_back() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972500000008" }))
        .await;
    app.patient("p-2", json!({ "name": "Omar", "phone": "+972541234567" }))
        .await;

    let first = app.notify(reminder()).await;
    let done = app.wait_until_finished(&first).await;
    assert_eq!(
        attempts(&done),
        pairs(&[("whatsapp", "failed"), ("sms", "delivered")])
    );
    assert!(
        event_details(&done)
            .iter()
            .any(|d| d.starts_with("whatsapp suspended for this clinic until")),
        "{done:#}"
    );

    let mut for_omar = reminder();
    for_omar["patient_id"] = json!("p-2");
    let second = app.notify(for_omar).await;
    let done = app.wait_until_finished(&second).await;
    assert_eq!(
        attempts(&done),
        pairs(&[("sms", "delivered")]),
        "another patient: WhatsApp is paused"
    );
    assert!(
        event_details(&done)
            .iter()
            .any(|d| d.starts_with("whatsapp skipped: suspended for this clinic until")),
        "{done:#}"
    );
    app.stop().await;
}
