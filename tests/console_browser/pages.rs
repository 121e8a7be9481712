//! Every console page, in English and in Hebrew: reached from the navigation once signed in,
//! drawn in the person's language and direction, without accessibility faults, usable at a
//! phone's width, and screenshotted. Every page the navigation and the pages link to must open.

use medrelay::domain::UiLanguage;
use reqwest::StatusCode;

use crate::reception::{Reception, page_name};

/// The sections the header must link to.
const SECTIONS: &[&str] = &[
    "/console/account",
    "/console/sandbox/phone",
    "/console/today",
    "/console/patients",
    "/console/notifications",
    "/console/inbox",
    "/console/callbacks",
    "/console/stats",
    "/console/settings",
    "/console/send",
    "/console/appointments",
];

async fn every_page_passes(language: UiLanguage) {
    let reception = Reception::open(language).await;
    reception.traffic().await;
    let mut faults = Vec::new();
    // The sign-in page itself, before anyone signed in.
    reception
        .browser
        .open(&reception.url(&format!("/console/sign-in?lang={}", reception.lang)))
        .await;
    reception.browser.wait_for("#email").await;
    faults.extend(reception.check_page("sign-in").await);

    reception.sign_in().await;
    reception.visit("/console/account").await;
    let links = reception.console_links().await;
    let mut details = Vec::new();
    for path in &links {
        let status = reception.status_of(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        reception.visit(path).await;
        faults.extend(reception.check_page(&page_name(path)).await);
        // The pages a section links to (a patient's card, a timeline, a thread, a settings
        // part): one of each kind is visited too.
        for link in reception.content_links().await {
            let kind = page_name(&link);
            let new = !links.contains(&link) && !details.iter().any(|(k, _)| *k == kind);
            if new && !link.starts_with("/console/media/") {
                details.push((kind, link));
            }
        }
    }
    for (name, path) in &details {
        let status = reception.status_of(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        reception.visit(path).await;
        faults.extend(reception.check_page(name).await);
    }
    eprintln!(
        "{}: detail pages visited: {:?}",
        reception.lang,
        details.iter().map(|(_, p)| p).collect::<Vec<_>>()
    );
    for built in SECTIONS {
        assert!(
            links.iter().any(|l| l == built),
            "{built} not linked from the header: {links:?}"
        );
    }
    reception.close().await;
    assert!(faults.is_empty(), "{faults:#?}");
}

in_both_languages!(every_page_passes: every_page_in_english_is_accessible_works_on_a_phone_and_is_screenshotted, every_page_in_hebrew_is_right_to_left_accessible_works_on_a_phone_and_is_screenshotted);
