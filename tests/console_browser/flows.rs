//! What reception does, as flows through the console in the browser, in English and Hebrew:
//! Today's list of what needs a person, and the statistics with their charts.

use medrelay::domain::UiLanguage;

use crate::reception::{ENGLISH_PATIENT, Reception};

/// Today lists John, whose message waits for an answer; the statistics, opened from the
/// navigation, draw the period's notifications per channel as charts and a table.
async fn today_then_statistics(language: UiLanguage) {
    let reception = Reception::open(language).await;
    reception.traffic().await;
    reception.sign_in().await;
    let browser = &reception.browser;

    reception.visit("/console/today").await;
    let (_, john, _) = ENGLISH_PATIENT;
    browser
        .wait_for_text_in("section[aria-labelledby='today-unanswered']", john)
        .await;
    let mut faults = reception.check_page("flow-today").await;

    browser.click("header nav a[href='/console/stats']").await;
    browser
        .wait_for_url(|url| url.contains("/console/stats"))
        .await;
    browser.wait_for("figure.chart-figure svg").await;
    let table = browser.page_text(".table-wrap table").await;
    let channels = match language {
        UiLanguage::He => ["וואטסאפ", "מסרון"],
        UiLanguage::En => ["WhatsApp", "SMS"],
    };
    for channel in channels {
        assert!(table.contains(channel), "{channel} in the table: {table}");
    }
    let charts = browser
        .run("return document.querySelectorAll('figure.chart-figure svg').length;")
        .await;
    assert!(charts.as_u64() >= Some(2), "{charts} charts");
    faults.extend(reception.check_page("flow-stats").await);

    // Another period, chosen by its link, keeps the page whole.
    browser.click(".stats-periods li:nth-child(2) a").await;
    browser.wait_for("figure.chart-figure svg").await;
    faults.extend(reception.check_page("flow-stats-30-days").await);
    reception.close().await;
    assert!(faults.is_empty(), "{faults:#?}");
}

in_both_languages!(today_then_statistics: in_english_today_lists_who_waits_and_statistics_draw_each_channel, in_hebrew_today_lists_who_waits_and_statistics_draw_each_channel);
