//! The console's statistics page: the period a reader picks, the figures table and the charts,
//! drawn from the clinic's real messages.

use std::sync::Arc;

use medrelay::clock::AdjustableClock;
use medrelay::domain::UiLanguage;
use medrelay::store::ApiKeyRole;
use reqwest::StatusCode;
use serde_json::json;

use crate::console_harness::Console;
use crate::harness::{TestApp, reminder_for};
use crate::hours::at;

/// Monday 2 November 2026, 10:20 in Jerusalem: the week of Sunday 1 November.
const MONDAY_10_20: &str = "2026-11-02T10:20:00+02:00";

async fn clinic_on_monday() -> TestApp {
    let clock = Arc::new(AdjustableClock::default());
    clock.set(at(MONDAY_10_20));
    TestApp::spawn_with_clock(|_| {}, clock).await
}

/// Dana gets a reminder on WhatsApp and reads it.
async fn a_reminder_read(app: &TestApp) {
    app.patient("dana", json!({ "name": "Dana", "phone": "+972541000001" }))
        .await;
    let reminder = app.notify(reminder_for("dana")).await;
    app.drain_dispatcher().await;
    app.wait_for(&reminder, &["read"]).await;
}

/// Dana writes to the clinic (the clinic may answer her automatically).
async fn a_message_from_dana(app: &TestApp) {
    app.patient_writes_on_whatsapp("+972541000001").await;
}

/// The text of the heat map's cell for `day` (Sunday = 0) and `hour`, with its tooltip.
fn heat_cell(page: &str, day: u8, hour: u8) -> &str {
    let at = page
        .find(&format!(r#"data-day="{day}" data-hour="{hour}""#))
        .unwrap_or_else(|| panic!("a cell for day {day} hour {hour}"));
    let end = page[at..].find("</rect>").expect("the cell's end") + at;
    &page[at..end]
}

#[tokio::test]
async fn this_week_shows_each_channels_figures_in_a_table_and_a_chart() {
    let app = clinic_on_monday().await;
    a_reminder_read(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page("/console/stats").await;

    assert!(
        page.contains("2026-11-01 to 2026-11-07"),
        "the week from Sunday"
    );
    // Sent, delivered, read, failed.
    let row = page
        .find("<th scope=\"row\">WhatsApp</th>")
        .expect("a WhatsApp row");
    let row = &page[row..row + 100];
    assert!(
        row.contains("<td>1</td><td>1</td><td>1</td><td>0</td>"),
        "{row}"
    );
    assert!(page.contains(r#"role="img" aria-labelledby="stats-bars-title stats-bars-desc""#));
    assert!(page.contains("WhatsApp: 1 sent, 1 delivered, 1 read, 0 failed."));
    assert_eq!(
        page.matches(r#"class="bar bar-"#).count(),
        4,
        "four bars of WhatsApp"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_hour_a_patient_wrote_in_is_shaded_on_the_heat_map() {
    let app = clinic_on_monday().await;
    a_message_from_dana(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page("/console/stats?period=week").await;

    // Monday (day 1) 10:00 has Dana's message, the busiest and only hour.
    let cell = heat_cell(&page, 1, 10);
    assert!(cell.contains("<title>Monday 10:00 · 1</title>"), "{cell}");
    assert!(!cell.contains(r##"fill="#f2f4f7""##), "shaded: {cell}");
    let sunday = heat_cell(&page, 0, 10);
    assert!(
        sunday.contains(r##"fill="#f2f4f7""##),
        "Sunday is empty: {sunday}"
    );
    assert!(page.contains("Busiest hours: Monday 10:00 (1)"));
    app.stop().await;
}

#[tokio::test]
async fn a_period_without_messages_says_so_instead_of_drawing_empty_charts() {
    let app = clinic_on_monday().await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console
        .page("/console/stats?from=2026-10-01&to=2026-10-31")
        .await;

    assert!(page.contains("2026-10-01 to 2026-10-31"));
    assert!(page.contains("Nothing in this period."));
    assert!(!page.contains("NaN"));
    app.stop().await;
}

#[tokio::test]
async fn dates_in_the_wrong_order_are_sent_back_with_a_reason() {
    let app = clinic_on_monday().await;
    let console = app.console(ApiKeyRole::Staff).await;

    let answer = console
        .get("/console/stats?from=2026-11-05&to=2026-11-01")
        .await;

    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = answer.text().await.expect("page");
    assert!(page.contains(r#"role="alert""#) && page.contains("the last not before the first"));
    assert!(
        page.contains(r#"value="2026-11-05""#),
        "the typed dates stay in the form"
    );
    app.stop().await;
}

#[tokio::test]
async fn in_hebrew_the_page_reads_right_to_left_with_hebrew_days_sunday_first() {
    let app = clinic_on_monday().await;
    a_message_from_dana(&app).await;
    let member = app
        .staff_member_of(
            "hadar",
            "noa@hadar.example",
            ApiKeyRole::Staff,
            UiLanguage::He,
        )
        .await;
    let console = Console::sign_in(&app.base, member).await;

    let page = console.page("/console/stats?period=month").await;

    assert!(page.contains(r#"dir="rtl""#));
    assert!(page.contains("30 הימים האחרונים"));
    let sunday = page.find(">\u{2068}ראשון\u{2069}<").expect("Sunday's row");
    let monday = page.find(">\u{2068}שני\u{2069}<").expect("Monday's row");
    assert!(sunday < monday, "Sunday first");
    assert!(heat_cell(&page, 1, 10).contains("<title>שני 10:00 · 1</title>"));
    app.stop().await;
}
