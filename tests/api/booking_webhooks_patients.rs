//! What patients do by message reaches the booking system: a reply confirming an appointment,
//! an opt-out, and the messages themselves (never their text).

use std::time::Duration;

use medrelay_testkit::{ReceivedEvent, WebhookReceiver, wait};
use serde_json::json;

use crate::booking_webhooks::{ALL_TYPES, register, spawn};
use crate::harness::TestApp;

const PHONE: &str = "+972541234577";

/// Dana (SMS only) is booked an appointment in 90 minutes, whose reminder goes at once; returns
/// the appointment's id once the reminder is delivered, so that a reply answers it.
async fn reminded(app: &TestApp, receiver: &WebhookReceiver) -> String {
    let dana = json!({ "name": "Dana", "phone": PHONE, "channels": ["sms"] });
    app.patient("p-1", dana).await;
    let starts_at = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(90);
    let booked = app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": starts_at }))
        .await;
    wait::within(Duration::from_secs(20))
        .until(async || {
            let events = receiver.events();
            match events.iter().any(|e| e.data("to") == "delivered") {
                true => Ok(()),
                false => Err("the reminder is not delivered yet".to_owned()),
            }
        })
        .await;
    booked["id"].as_str().expect("appointment id").to_owned()
}

/// Waits until the receiver has heard exactly `types` among them, in this order.
async fn heard_in_order(receiver: &WebhookReceiver, types: &[&str]) -> Vec<ReceivedEvent> {
    wait::within(Duration::from_secs(20))
        .until(async || {
            let heard: Vec<_> = receiver
                .events()
                .into_iter()
                .filter(|e| types.contains(&e.event_type()))
                .collect();
            let names: Vec<&str> = heard.iter().map(|e| e.event_type()).collect();
            match names == types {
                true => Ok(heard),
                false => Err(format!("heard {names:?}")),
            }
        })
        .await
}

#[tokio::test]
async fn a_patients_confirmation_and_opt_out_reach_the_booking_system_without_their_text() {
    let app = spawn().await;
    let admin = app.admin_key().await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = register(&app, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.trust(&secret);
    let appointment = reminded(&app, &receiver).await;

    app.patient_sends(json!({ "channel": "sms", "from": PHONE, "text": "1" }))
        .await;
    app.patient_sends(json!({ "channel": "sms", "from": PHONE, "text": "STOP" }))
        .await;

    let types = [
        "message.received",
        "appointment.confirmed",
        "message.received",
        "patient.opted_out",
    ];
    let heard = heard_in_order(&receiver, &types).await;
    let (reply, confirmed, opted_out) = (&heard[0], &heard[1], &heard[3]);
    assert_eq!(reply.data("intent"), "confirm", "{:#}", reply.body);
    assert_eq!(reply.data("channel"), "sms");
    assert!(reply.data("message_id").is_string(), "{:#}", reply.body);
    assert_eq!(
        confirmed.data("appointment")["id"],
        appointment.as_str(),
        "{:#}",
        confirmed.body
    );
    assert_eq!(opted_out.data("channel"), "sms");
    for event in &heard {
        assert_eq!(event.data("patient_id"), "p-1", "{:#}", event.body);
        assert!(!event.body.to_string().contains("STOP"), "{:#}", event.body);
    }
    app.stop().await;
}
