//! Signing in to the console: passwords, lock-out, the second factor, sessions and their form
//! tokens.

use medrelay::console::totp;
use medrelay::store::ApiKeyRole;
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;

use crate::console_harness::{
    Console, PASSWORD, browser_client, csrf_of, location, post_sign_in, session_cookie,
};
use crate::harness::TestApp;

#[tokio::test]
async fn a_right_password_opens_a_session_in_a_cookie_no_script_or_other_site_can_use() {
    let app = TestApp::spawn().await;
    app.staff_member("dana@hadar.example", ApiKeyRole::Staff)
        .await;

    let answer = post_sign_in(&app.base, "Dana@Hadar.example", PASSWORD).await;

    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/console/today");
    let set_cookie = answer.headers()[SET_COOKIE].to_str().expect("cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/console"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.staff_member("dana@hadar.example", ApiKeyRole::Staff)
        .await;

    let wrong = post_sign_in(&app.base, "dana@hadar.example", "not the password").await;
    let unknown = post_sign_in(&app.base, "nobody@hadar.example", PASSWORD).await;

    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&wrong).is_none());
    let (wrong, unknown) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
    let sentence = "The email or the password is wrong.";
    assert!(wrong.contains(sentence) && unknown.contains(sentence));
    app.stop().await;
}

#[tokio::test]
async fn five_failed_sign_ins_lock_the_account_even_against_the_right_password() {
    let app = TestApp::spawn_with(|c| c.http.auth_failure_burst = 100).await;
    app.staff_member("dana@hadar.example", ApiKeyRole::Staff)
        .await;
    for _ in 0..5 {
        let answer = post_sign_in(&app.base, "dana@hadar.example", "guess guess guess").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }

    let answer = post_sign_in(&app.base, "dana@hadar.example", PASSWORD).await;

    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(session_cookie(&answer).is_none());
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("this account is locked")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in_and_back() {
    let app = TestApp::spawn().await;

    let answer = browser_client()
        .get(format!("{}/console/account", app.base))
        .send()
        .await
        .unwrap();

    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&answer),
        "/console/sign-in?next=%2Fconsole%2Faccount"
    );
    app.stop().await;
}

#[tokio::test]
async fn after_signing_out_the_old_cookie_opens_nothing() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;

    let out = console.post("/console/sign-out", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);

    let again = console.get("/console/account").await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert!(location(&again).starts_with("/console/sign-in"));
    app.stop().await;
}

#[tokio::test]
async fn a_form_without_the_session_token_or_from_another_site_changes_nothing() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;

    let missing = console
        .post_raw("/console/account/language", &[("language", "he")])
        .await;
    let wrong = console
        .post_raw(
            "/console/account/language",
            &[("csrf", &"0".repeat(64)), ("language", "he")],
        )
        .await;
    let cross_site = browser_client()
        .post(format!("{}/console/account/language", app.base))
        .header("cookie", &console.cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", console.csrf.as_str()), ("language", "he")])
        .send()
        .await
        .unwrap();

    for answer in [missing, wrong, cross_site] {
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    }
    let page = console.page("/console/account").await;
    assert!(
        page.contains("<html lang=\"en\" dir=\"ltr\">"),
        "still English"
    );
    app.stop().await;
}

#[tokio::test]
async fn choosing_hebrew_draws_the_console_right_to_left_in_hebrew() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;

    let answer = console
        .post("/console/account/language", &[("language", "he")])
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);

    let page = console.page("/console/account").await;
    assert!(page.contains("<html lang=\"he\" dir=\"rtl\">"));
    assert!(page.contains("החשבון שלי"));
    app.stop().await;
}

#[tokio::test]
async fn an_idle_session_ends_and_the_person_signs_in_again() {
    let clock = std::sync::Arc::new(medrelay::clock::AdjustableClock::default());
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    let console = app.console(ApiKeyRole::Staff).await;
    clock.advance(std::time::Duration::from_secs(29 * 60));
    assert_eq!(
        console.get("/console/account").await.status(),
        StatusCode::OK
    );

    clock.advance(std::time::Duration::from_secs(31 * 60));

    let answer = console.get("/console/account").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert!(location(&answer).contains("expired=1"));
    app.stop().await;
}

#[tokio::test]
async fn a_busy_session_still_ends_twelve_hours_after_sign_in() {
    let clock = std::sync::Arc::new(medrelay::clock::AdjustableClock::default());
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    let console = app.console(ApiKeyRole::Staff).await;
    for _ in 0..26 {
        clock.advance(std::time::Duration::from_secs(29 * 60));
        if console.get("/console/account").await.status() != StatusCode::OK {
            break;
        }
    }

    let answer = console.get("/console/account").await;

    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

/// The code the person's app shows now.
fn code_now(secret: &str) -> String {
    let unix = u64::try_from(jiff::Timestamp::now().as_second()).unwrap();
    totp::code_at(secret, unix).expect("code")
}

#[tokio::test]
async fn with_two_step_sign_in_the_password_alone_opens_only_the_code_page() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;
    let setup = console.post("/console/account/totp", &[]).await;
    let setup = setup.text().await.unwrap();
    assert!(setup.contains("<svg"), "a QR code to scan");
    let secret = app
        .store
        .proposed_totp_secret(&console.member.id)
        .await
        .unwrap()
        .expect("secret proposed");
    let on = console
        .post(
            "/console/account/totp/confirm",
            &[("code", &code_now(&secret))],
        )
        .await;
    assert_eq!(on.status(), StatusCode::SEE_OTHER);

    let answer = post_sign_in(&app.base, &console.member.email, PASSWORD).await;
    assert_eq!(location(&answer), "/console/sign-in/code");
    let half = Console {
        cookie: session_cookie(&answer).expect("cookie"),
        ..console
    };
    let blocked = half.get("/console/account").await;
    assert_eq!(location(&blocked), "/console/sign-in/code");
    let code_page = half.page("/console/sign-in/code").await;
    let csrf = csrf_of(&code_page).expect("token");

    let wrong = half
        .post_raw(
            "/console/sign-in/code",
            &[("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // A code from the step before or after still counts, so a step changing mid-request is fine.
    let code = code_now(&secret);
    let right = half
        .post_raw("/console/sign-in/code", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(half.get("/console/account").await.status(), StatusCode::OK);
    let answer = post_sign_in(&app.base, &half.member.email, PASSWORD).await;
    let again = Console {
        cookie: session_cookie(&answer).expect("cookie"),
        ..half
    };
    let csrf = csrf_of(&again.page("/console/sign-in/code").await).expect("token");
    let replayed = again
        .post_raw("/console/sign-in/code", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(
        replayed.status(),
        StatusCode::UNAUTHORIZED,
        "a code is good once"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_console_pages_allow_no_framing_no_inline_script_and_no_caching() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;

    let answer = console.get("/console/account").await;

    let headers = answer.headers();
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    app.stop().await;
}
