//! The settings pages: for admins only, and each keeps the rules of the admin API it stands
//! beside, so what an admin saves here is what the API then shows.

use medrelay::store::ApiKeyRole;
use reqwest::StatusCode;

use crate::console_harness::{Console, PASSWORD, location, post_sign_in};
use crate::harness::TestApp;

#[tokio::test]
async fn staff_are_refused_every_settings_page_and_form() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;

    for path in [
        "/console/settings",
        "/console/settings/staff",
        "/console/settings/hours",
        "/console/settings/topics",
        "/console/settings/templates",
        "/console/settings/auto-replies",
        "/console/settings/keys",
        "/console/settings/webhooks",
    ] {
        let answer = console.get(path).await;
        assert!(
            matches!(
                answer.status(),
                StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            ),
            "GET {path}: {}",
            answer.status()
        );
    }
    let added = console
        .post(
            "/console/settings/staff",
            &[
                ("name", "Eve"),
                ("email", "eve@hadar.example"),
                ("role", "admin"),
                ("language", "en"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::FORBIDDEN);
    let eve = post_sign_in(&app.base, "eve@hadar.example", PASSWORD).await;
    assert_eq!(
        eve.status(),
        StatusCode::UNAUTHORIZED,
        "no account was made"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_settings_index_links_every_sub_page_for_an_admin() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;

    let page = admin.page("/console/settings").await;

    for sub in [
        "staff",
        "hours",
        "topics",
        "templates",
        "auto-replies",
        "keys",
        "webhooks",
    ] {
        assert!(
            page.contains(&format!("href=\"/console/settings/{sub}\"")),
            "{sub}"
        );
    }
    app.stop().await;
}

async fn add_person(admin: &Console, email: &str, password: &str) -> reqwest::Response {
    admin
        .post(
            "/console/settings/staff",
            &[
                ("name", "Noa Levi"),
                ("email", email),
                ("role", "staff"),
                ("language", "he"),
                ("password", password),
            ],
        )
        .await
}

#[tokio::test]
async fn a_person_an_admin_adds_can_sign_in_with_the_password_given() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;

    let added = add_person(&admin, "Noa@Hadar.example", "first password 1").await;

    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&added), "/console/settings/staff?saved=1");
    let page = admin.page("/console/settings/staff?saved=1").await;
    assert!(page.contains("Noa Levi") && page.contains("noa@hadar.example"));
    let signed_in = post_sign_in(&app.base, "noa@hadar.example", "first password 1").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn an_account_breaking_a_rule_is_refused_with_the_rule_and_nothing_is_added() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;

    let short = add_person(&admin, "noa@hadar.example", "short").await;
    let taken = add_person(&admin, "admin@hadar.example", "long enough password").await;

    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("A password has 10 to 256 characters")
    );
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.text().await.unwrap().contains("already exists"));
    let nobody = post_sign_in(&app.base, "noa@hadar.example", "short").await;
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_turned_off_person_is_signed_out_at_once_and_cannot_sign_in_until_turned_on() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;
    let dana = app.console(ApiKeyRole::Staff).await;
    assert_eq!(dana.get("/console/account").await.status(), StatusCode::OK);
    let path = format!("/console/settings/staff/{}/disabled", dana.member.id);

    let off = admin.post(&path, &[("disabled", "1")]).await;

    assert_eq!(off.status(), StatusCode::SEE_OTHER);
    let after = dana.get("/console/account").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert!(location(&after).starts_with("/console/sign-in"));
    let again = post_sign_in(&app.base, &dana.member.email, PASSWORD).await;
    assert_ne!(
        again.status(),
        StatusCode::SEE_OTHER,
        "a turned-off account does not sign in"
    );

    let on = admin.post(&path, &[("disabled", "0")]).await;
    assert_eq!(on.status(), StatusCode::SEE_OTHER);
    let back = post_sign_in(&app.base, &dana.member.email, PASSWORD).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_cannot_turn_off_their_own_account() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;

    let path = format!("/console/settings/staff/{}/disabled", admin.member.id);
    let answer = admin.post(&path, &[("disabled", "1")]).await;

    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        admin.get("/console/settings").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn a_new_password_from_an_admin_unlocks_the_account_and_ends_its_sessions() {
    let app = TestApp::spawn_with(|c| c.http.auth_failure_burst = 100).await;
    let admin = app.console(ApiKeyRole::Admin).await;
    let dana = app.console(ApiKeyRole::Staff).await;
    for _ in 0..5 {
        post_sign_in(&app.base, &dana.member.email, "guess guess guess").await;
    }
    let locked = post_sign_in(&app.base, &dana.member.email, PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);

    let path = format!("/console/settings/staff/{}/password", dana.member.id);
    let reset = admin
        .post(&path, &[("password", "a brand new secret")])
        .await;

    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        dana.get("/console/account").await.status(),
        StatusCode::SEE_OTHER
    );
    let signed_in = post_sign_in(&app.base, &dana.member.email, "a brand new secret").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_person_is_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;
    app.other_clinic_key().await;
    let stranger = app
        .staff_member_of(
            "other",
            "someone@other.example",
            ApiKeyRole::Staff,
            medrelay::domain::UiLanguage::En,
        )
        .await;

    let path = format!("/console/settings/staff/{}/disabled", stranger.id);
    let answer = admin.post(&path, &[("disabled", "1")]).await;

    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let still = post_sign_in(&app.base, "someone@other.example", PASSWORD).await;
    assert_eq!(still.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn hours_saved_in_the_console_are_the_hours_the_api_gives() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;

    let saved = admin
        .post(
            "/console/settings/hours",
            &[
                ("sunday-start", "08:00"),
                ("sunday-end", "12:00"),
                ("sunday-start", "13:00"),
                ("sunday-end", "17:30"),
                ("sunday-start", ""),
                ("sunday-end", ""),
                ("friday-start", "09:00"),
                ("friday-end", "13:00"),
                ("holidays", "2026-09-21\r\n2026-09-22\r\n"),
                ("quiet-start", "22:00"),
                ("quiet-end", "07:30"),
            ],
        )
        .await;

    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let api = app
        .request(
            reqwest::Method::GET,
            "/v1/clinic/hours",
            &app.admin_key().await,
            None,
        )
        .await;
    let hours: serde_json::Value = api.json().await.unwrap();
    assert_eq!(
        hours,
        serde_json::json!({
            "week": {
                "sunday": [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}],
                "monday": [], "tuesday": [], "wednesday": [], "thursday": [],
                "friday": [{"start": "09:00", "end": "13:00"}],
                "saturday": []
            },
            "holidays": ["2026-09-21", "2026-09-22"],
            "patient_quiet_hours": {"start": "22:00", "end": "07:30"}
        })
    );
    let page = admin.page("/console/settings/hours?saved=1").await;
    assert!(page.contains("value=\"17:30\"") && page.contains("2026-09-22"));
    app.stop().await;
}

#[tokio::test]
async fn hours_breaking_the_apis_rules_are_refused_with_the_rule_and_not_saved() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;
    let before = admin.page("/console/settings/hours").await;

    let refused = admin
        .post(
            "/console/settings/hours",
            &[
                ("monday-start", "18:00"),
                ("monday-end", "09:00"),
                ("holidays", "21/09/2026"),
            ],
        )
        .await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("week.monday[0].end") && page.contains("must be after start"));
    assert!(page.contains("holidays[0]"));
    assert!(
        page.contains("value=\"18:00\""),
        "what was typed stays in the form"
    );
    let after = admin.page("/console/settings/hours").await;
    assert_eq!(before, after);
    app.stop().await;
}

#[tokio::test]
async fn a_topic_set_in_the_console_is_the_topic_the_api_lists() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;

    let saved = admin
        .post(
            "/console/settings/topics",
            &[
                ("name", "oncology"),
                ("sensitivity", "sensitive"),
                ("secure_link", "1"),
            ],
        )
        .await;

    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let topics: serde_json::Value = app
        .request(reqwest::Method::GET, "/v1/topics", &app.key, None)
        .await
        .json()
        .await
        .unwrap();
    let oncology = topics["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "oncology")
        .expect("listed");
    assert_eq!(oncology["sensitivity"], "sensitive");
    assert_eq!(oncology["secure_link"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_topic_breaking_the_apis_rules_is_refused_with_the_same_rules() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;

    let refused = admin
        .post(
            "/console/settings/topics",
            &[
                ("name", "Oncology!"),
                ("sensitivity", "normal"),
                ("secure_link", "1"),
            ],
        )
        .await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("must be 1 to 64 characters: lowercase letters"));
    assert!(page.contains("may be true only for a sensitive topic"));
    app.stop().await;
}

/// A template's form: every channel filled, the SMS text as given.
fn template_form(sms: &str) -> Vec<(&'static str, String)> {
    vec![
        ("params", String::new()),
        ("whatsapp_name", "clinic_note".to_owned()),
        ("whatsapp_parameters", "clinic".to_owned()),
        ("whatsapp_text", "הודעה מ{{clinic}}".to_owned()),
        ("sms_text", sms.to_owned()),
        ("email_subject", "הודעה מהמרפאה".to_owned()),
        ("email_text", "שלום {{patient}}".to_owned()),
        ("voice_text", "שלום {{patient}}".to_owned()),
    ]
}

#[tokio::test]
async fn a_hebrew_sms_template_shows_its_ucs2_segment_count() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;
    let sms = "ש".repeat(71);
    let form = template_form(&sms);
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let saved = admin
        .post("/console/settings/templates/clinic_note/he", &fields)
        .await;

    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let page = admin
        .page("/console/settings/templates/clinic_note/he")
        .await;
    assert!(
        page.contains("<span data-seg=\"segments\">2</span>"),
        "71 UCS-2 units are 2 segments"
    );
    assert!(page.contains("<span data-seg=\"encoding\">UCS-2</span>"));
    assert!(page.contains("<span data-seg=\"units\">71</span>"));
    assert!(page.contains("/console/assets/segments.js"));
    let list = admin.page("/console/settings/templates").await;
    assert!(list.contains("clinic_note"));
    let api: serde_json::Value = app
        .request(
            reqwest::Method::GET,
            "/v1/templates/clinic_note/he",
            &app.key,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api["sms"]["text"], sms);
    assert_eq!(api["sms_info"]["segments"], 2);
    let script = admin.get("/console/assets/segments.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn seventy_hebrew_characters_fit_one_segment_and_a_latin_text_counts_as_gsm7() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;
    for (name, sms, segments, encoding) in [
        ("seventy", "ש".repeat(70), "1", "UCS-2"),
        ("latin", "a".repeat(161), "2", "GSM-7"),
    ] {
        let form = template_form(&sms);
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = format!("/console/settings/templates/{name}/he");
        assert_eq!(
            admin.post(&path, &fields).await.status(),
            StatusCode::SEE_OTHER
        );

        let page = admin.page(&path).await;

        assert!(
            page.contains(&format!("<span data-seg=\"segments\">{segments}</span>")),
            "{name}"
        );
        assert!(
            page.contains(&format!("<span data-seg=\"encoding\">{encoding}</span>")),
            "{name}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_template_breaking_the_apis_rules_is_refused_and_a_quick_reply_is_saved() {
    let app = TestApp::spawn().await;
    let admin = app.console(ApiKeyRole::Admin).await;
    let mut form = template_form("שלום {{nobody}}");
    form[1].1 = "Not A Meta Name".to_owned();
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let refused = admin
        .post("/console/settings/templates/clinic_note/he", &fields)
        .await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("whatsapp.name") && page.contains("sms.text"));

    let reply = admin
        .post(
            "/console/settings/quick-replies",
            &[
                ("name", "call_us"),
                ("text-he", "נא להתקשר למרפאה"),
                ("text-en", "Please call the clinic"),
                ("text-ar", ""),
            ],
        )
        .await;
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    let api: serde_json::Value = app
        .request(
            reqwest::Method::GET,
            "/v1/quick-replies/call_us",
            &app.key,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        api["texts"],
        serde_json::json!({"he": "נא להתקשר למרפאה", "en": "Please call the clinic"})
    );
    app.stop().await;
}
