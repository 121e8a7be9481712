//! Templates per clinic and language, and quick replies: a clinic's own copy replaces the
//! built-in for that clinic only, every channel gets its own rendering, bad templates are refused
//! by field, and the SMS cost of a template is shown.

use medrelay::store::ApiKeyRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, event_details, reminder_for};

async fn key_with_role(app: &TestApp, role: ApiKeyRole) -> String {
    let clinic = app.store.clinic_by_slug("hadar").await.expect("clinic");
    app.store
        .create_api_key(&clinic.id, role, jiff::Timestamp::now())
        .await
        .expect("key")
}

/// The clinic's own Hebrew reminder: it names the room, approved at Meta as `hadar_reminder`.
fn hebrew_reminder_with_room() -> Value {
    json!({
        "params": ["date", "time", "room"],
        "whatsapp": {
            "name": "hadar_reminder",
            "parameters": ["patient", "date", "time", "room"],
            "text": "{{patient}}, מחכים לך ב-{{date}} בשעה {{time}} בחדר {{room}}."
        },
        "sms": { "text": "{{clinic}}: תור ב-{{date}} {{time}}, חדר {{room}}" },
        "email": {
            "subject": "התור שלך ב{{clinic}}",
            "text": "שלום {{patient}}, התור שלך ב-{{date}} בשעה {{time}}, חדר {{room}}."
        },
        "voice": { "text": "שלום {{patient}}, תזכורת לתור ב-{{date}} בשעה {{time}}." }
    })
}

fn reminder_with_room(patient_id: &str) -> Value {
    json!({
        "patient_id": patient_id, "topic": "appointment_reminder",
        "template": "appointment_reminder",
        "params": { "date": "01.12", "time": "09:30", "room": "3" }
    })
}

async fn put_template(app: &TestApp, key: &str, path: &str, body: Value) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/v1/templates/{path}"),
        key,
        Some(body),
    )
    .await
}

/// The errors of a 422 problem as (field, rule) pairs.
async fn field_errors(response: reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("problem");
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["rule"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_clinics_own_hebrew_template_reaches_its_hebrew_patient_on_each_channel_and_another_clinic_still_gets_the_builtin()
 {
    let app = TestApp::spawn().await;
    let admin = key_with_role(&app, ApiKeyRole::Admin).await;
    let other = app.other_clinic_key().await;
    let response = put_template(
        &app,
        &admin,
        "appointment_reminder/he",
        hebrew_reminder_with_room(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    app.patient(
        "p-1",
        json!({ "name": "דנה", "language": "he", "phone": "+972541110001", "email": "dana@example.org" }),
    )
    .await;
    let response = app
        .request(
            Method::PUT,
            "/v1/patients/p-1",
            &other,
            Some(json!({ "name": "רון", "language": "he", "phone": "+972541110002" })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let own = app.notify(reminder_with_room("p-1")).await;
    let mut by_sms = reminder_with_room("p-1");
    by_sms["channel"] = json!("sms");
    let own_sms = app.notify(by_sms).await;
    let mut by_email = reminder_with_room("p-1");
    by_email["channel"] = json!("email");
    let own_email = app.notify(by_email).await;
    let mut by_voice = reminder_with_room("p-1");
    by_voice["channel"] = json!("voice");
    let own_voice = app.notify(by_voice).await;
    let builtin = app.notify_as(&other, reminder_for("p-1")).await;
    let own = app.wait_for(&own, &["read"]).await;
    for id in [&own_sms, &own_email, &own_voice] {
        app.wait_until_finished(id).await;
    }
    assert!(
        event_details(&own)[0]
            .contains("template appointment_reminder: the clinic's own copy in he"),
        "the record says which copy went: {own:#}"
    );

    let hadar = app.outbox("+972541110001").await;
    let body_on = |channel: &str| {
        hadar
            .iter()
            .find(|m| m["channel"] == channel)
            .map(|m| m["body"].clone())
    };
    assert_eq!(
        body_on("whatsapp"),
        Some(json!("דנה, מחכים לך ב-01.12 בשעה 09:30 בחדר 3.")),
        "WhatsApp carries the clinic's approved copy"
    );
    assert_eq!(
        body_on("sms"),
        Some(json!("Clinic hadar: תור ב-01.12 09:30, חדר 3"))
    );
    assert_eq!(
        body_on("voice"),
        Some(json!("שלום דנה, תזכורת לתור ב-01.12 בשעה 09:30."))
    );
    let email = app.outbox("dana@example.org").await;
    assert_eq!(email.len(), 1);
    assert_eq!(email[0]["subject"], "התור שלך בClinic hadar");
    assert_eq!(
        email[0]["body"],
        "שלום דנה, התור שלך ב-01.12 בשעה 09:30, חדר 3."
    );
    let other_clinic = app.outbox_holding(&other, "+972541110002", 1).await;
    assert_eq!(
        other_clinic.first().map(|m| m["body"].clone()),
        Some(json!(
            "שלום רון, תזכורת לתור שלך אצל Clinic other בתאריך 01.12 בשעה 09:30. נא להשיב 1 לאישור או 2 לביטול."
        )),
        "the other clinic's patient gets the built-in Hebrew reminder ({builtin})"
    );
    app.stop().await;
}

#[tokio::test]
async fn notifications_are_checked_against_the_copy_the_patient_will_get() {
    let app = TestApp::spawn().await;
    let admin = key_with_role(&app, ApiKeyRole::Admin).await;
    put_template(
        &app,
        &admin,
        "appointment_reminder/he",
        hebrew_reminder_with_room(),
    )
    .await;
    put_template(&app, &admin, "lab_prep/he", hebrew_reminder_with_room()).await;
    app.patient(
        "p-he",
        json!({ "name": "דנה", "language": "he", "phone": "+972541110001" }),
    )
    .await;
    app.patient(
        "p-en",
        json!({ "name": "Dana", "language": "en", "phone": "+972541110002" }),
    )
    .await;
    let other = app.other_clinic_key().await;

    // The Hebrew patient gets the clinic's copy, which needs the room; the English one the
    // built-in, which has no room.
    let errors = field_errors(app.post_notification(reminder_for("p-he")).await).await;
    assert_eq!(errors[0].0, "params.room");
    let errors = field_errors(app.post_notification(reminder_with_room("p-en")).await).await;
    assert_eq!(errors[0].0, "params.room");
    assert!(errors[0].1.contains("unknown parameter"), "{errors:?}");
    app.notify(reminder_with_room("p-he")).await;
    app.notify(reminder_for("p-en")).await;

    // A template of the clinic's own exists for this clinic only.
    let mut lab_prep = reminder_with_room("p-he");
    lab_prep["template"] = json!("lab_prep");
    app.notify(lab_prep).await;
    let response = app
        .request(
            Method::PUT,
            "/v1/patients/p-he",
            &other,
            Some(json!({ "name": "רון", "language": "he", "phone": "+972541110003" })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let mut lab_prep = reminder_with_room("p-he");
    lab_prep["template"] = json!("lab_prep");
    let response = app
        .request(Method::POST, "/v1/notifications", &other, Some(lab_prep))
        .await;
    let errors = field_errors(response).await;
    assert_eq!(errors[0].0, "template");
    assert!(!errors[0].1.contains("lab_prep"), "{errors:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_template_breaking_a_rule_is_refused_naming_the_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let admin = key_with_role(&app, ApiKeyRole::Admin).await;
    let with = |change: fn(&mut Value)| {
        let mut template = hebrew_reminder_with_room();
        change(&mut template);
        template
    };
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "lab_prep/he",
            with(|t| t["sms"]["text"] = json!("{{date}} אצל {{doctor}}")),
            "sms.text",
            "{{doctor}}, which is not declared in params",
        ),
        (
            "lab_prep/he",
            with(|t| t["whatsapp"]["parameters"] = json!(["patient", "date", "time"])),
            "whatsapp.text",
            "not in whatsapp.parameters",
        ),
        (
            "lab_prep/he",
            with(|t| t["email"]["text"] = json!("שלום {{patient")),
            "email.text",
            "malformed placeholder",
        ),
        (
            "lab_prep/he",
            with(|t| {
                t.as_object_mut().map(|o| o.remove("voice"));
            }),
            "voice",
            "is required",
        ),
        (
            "lab_prep/hebrew",
            hebrew_reminder_with_room(),
            "language",
            "ISO 639-1",
        ),
        (
            "Lab Prep/he",
            hebrew_reminder_with_room(),
            "name",
            "lowercase letters",
        ),
    ];
    for (path, template, field, rule) in cases {
        let errors = field_errors(put_template(&app, &admin, path, template).await).await;
        assert!(
            errors.iter().any(|(f, r)| f == field && r.contains(rule)),
            "{path}: expected {field}: {rule}, got {errors:?}"
        );
    }
    let response = put_template(&app, &app.key, "lab_prep/he", hebrew_reminder_with_room()).await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "booking keys do not write templates"
    );

    let response = app
        .request(Method::GET, "/v1/templates/lab_prep/he", &app.key, None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn the_sms_rendering_shows_its_encoding_and_segments_and_warns_past_three() {
    let app = TestApp::spawn().await;
    let admin = key_with_role(&app, ApiKeyRole::Admin).await;

    let response = put_template(&app, &admin, "lab_prep/he", hebrew_reminder_with_room()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let short: Value = response.json().await.expect("template");
    assert_eq!(short["source"], "clinic");
    assert_eq!(
        short["sms_info"]["sample"],
        "Clinic hadar: תור ב-date time, חדר room"
    );
    assert_eq!(short["sms_info"]["encoding"], "ucs2");
    assert_eq!(short["sms_info"]["segments"], 1);
    assert_eq!(short["warnings"], json!([]));

    let mut long = hebrew_reminder_with_room();
    long["sms"]["text"] = json!(format!("{} {{{{date}}}}", "נא להגיע בצום. ".repeat(16)));
    let response = put_template(&app, &admin, "lab_prep/he", long).await;
    assert_eq!(response.status(), StatusCode::OK, "replaced, not created");
    let long: Value = response.json().await.expect("template");
    assert_eq!(long["sms_info"]["segments"], 4);
    let warnings = long["warnings"].as_array().expect("warnings");
    assert!(
        warnings.len() == 1 && warnings[0].as_str().unwrap_or("").contains("4 segments"),
        "{warnings:?}"
    );

    let builtin: Value = app
        .request(
            Method::GET,
            "/v1/templates/appointment_reminder/en",
            &app.key,
            None,
        )
        .await
        .json()
        .await
        .expect("built-in");
    assert_eq!(builtin["source"], "builtin");
    assert_eq!(builtin["sms_info"]["encoding"], "gsm7");
    app.stop().await;
}

#[tokio::test]
async fn the_list_marks_builtins_and_the_clinics_own_and_deleting_brings_the_builtin_back() {
    let app = TestApp::spawn().await;
    let admin = key_with_role(&app, ApiKeyRole::Admin).await;
    put_template(
        &app,
        &admin,
        "appointment_reminder/he",
        hebrew_reminder_with_room(),
    )
    .await;

    let list: Value = app
        .request(Method::GET, "/v1/templates", &app.key, None)
        .await
        .json()
        .await
        .expect("list");
    let entries: Vec<(String, String, String, bool)> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| t["name"] == "appointment_reminder" && t["language"] == "he")
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_owned(),
                t["language"].as_str().unwrap_or("").to_owned(),
                t["source"].as_str().unwrap_or("").to_owned(),
                t["overridden"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (
                "appointment_reminder".into(),
                "he".into(),
                "builtin".into(),
                true
            ),
            (
                "appointment_reminder".into(),
                "he".into(),
                "clinic".into(),
                false
            ),
        ]
    );

    let path = "/v1/templates/appointment_reminder/he";
    let response = app.request(Method::DELETE, path, &admin, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let now: Value = app
        .request(Method::GET, path, &app.key, None)
        .await
        .json()
        .await
        .expect("template");
    assert_eq!(now["source"], "builtin");
    let response = app.request(Method::DELETE, path, &admin, None).await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "a built-in is not deleted"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_quick_reply_sent_with_one_call_arrives_in_the_patients_language() {
    let app = TestApp::spawn().await;
    let staff = app.staff_key().await;
    let response = app
        .request(
            Method::PUT,
            "/v1/quick-replies/directions",
            &staff,
            Some(json!({ "texts": {
                "he": "{{clinic}}: רחוב הרצל 5, קומה 2. חניה מאחורי הבניין.",
                "ru": "{{patient}}, {{clinic}}: ул. Герцль 5, 2 этаж. Парковка за зданием.",
                "en": "{{clinic}}: 5 Herzl St, 2nd floor. Parking behind the building."
            }})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let list: Value = app
        .request(Method::GET, "/v1/quick-replies", &staff, None)
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(list["items"][0]["name"], "directions");
    assert_eq!(
        list["items"][0]["texts"].as_object().map(|t| t.len()),
        Some(3)
    );
    app.patient(
        "p-1",
        json!({ "name": "Anna", "language": "ru", "phone": "+972541110001", "whatsapp": false }),
    )
    .await;

    let id = app
        .notify_as(
            &staff,
            json!({ "patient_id": "p-1", "topic": "general", "quick_reply": "directions" }),
        )
        .await;
    let done = app.wait_for(&id, &["delivered"]).await;

    let outbox = app.outbox("+972541110001").await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["channel"], "sms");
    assert_eq!(
        outbox[0]["body"],
        "Anna, Clinic hadar: ул. Герцль 5, 2 этаж. Парковка за зданием."
    );
    assert!(
        done["events"]
            .to_string()
            .contains("quick reply directions in ru"),
        "{done:#}"
    );
    let response = app
        .post_notification(
            json!({ "patient_id": "p-1", "topic": "general", "quick_reply": "directions" }),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "quick replies are staff's"
    );
    let errors = field_errors(
        app.request(
            Method::POST,
            "/v1/notifications",
            &staff,
            Some(json!({ "patient_id": "p-1", "topic": "general", "quick_reply": "parking" })),
        )
        .await,
    )
    .await;
    assert_eq!(errors[0].0, "quick_reply");
    app.stop().await;
}

#[tokio::test]
async fn a_quick_reply_with_a_placeholder_staff_cannot_fill_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.staff_key().await;
    let response = app
        .request(
            Method::PUT,
            "/v1/quick-replies/preparation",
            &staff,
            Some(json!({ "texts": { "en": "Fast from {{time}}", "english": "x" } })),
        )
        .await;
    let errors = field_errors(response).await;
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["texts.en", "texts.english"]);
    let response = app
        .request(Method::GET, "/v1/quick-replies/preparation", &staff, None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
