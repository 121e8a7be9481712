//! `GET /v1/patients`: a booking system finds the clinic's patients by name (Hebrew or Latin,
//! any case in every cased script) or by phone number written any way, a page at a time.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::conversations::get;
use crate::harness::{TestApp, problem_fields};

async fn app_with_patients() -> TestApp {
    let app = TestApp::spawn().await;
    for (id, name, phone) in [
        ("p-1", "Dana Levi", "+972541234567"),
        ("p-2", "דנה כהן", "+972527654321"),
        ("p-3", "Omer Danino", "+972501112233"),
        ("p-4", "עומר לוי", "+972509998877"),
    ] {
        app.patient(id, json!({ "name": name, "phone": phone }))
            .await;
    }
    app
}

fn ids(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect()
}

async fn search(app: &TestApp, query: &str) -> Value {
    let (status, list) = get(app, &app.key, &format!("/v1/patients?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{list:#}");
    list
}

#[tokio::test]
async fn a_latin_name_is_found_in_any_case_and_a_hebrew_one_as_written() {
    let app = app_with_patients().await;

    let latin = search(&app, "q=dAn").await;
    let hebrew = search(&app, "q=%D7%9C%D7%95%D7%99").await; // לוי

    assert_eq!(ids(&latin), ["p-1", "p-3"]);
    assert_eq!(latin["items"][0]["name"], "Dana Levi");
    assert_eq!(latin["items"][0]["phone"], "+972541234567");
    assert_eq!(ids(&hebrew), ["p-4"]);
    app.stop().await;
}

#[tokio::test]
async fn accented_latin_and_cyrillic_names_are_found_in_any_case_on_both_back_ends() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-5",
        json!({ "name": "José Álvarez", "phone": "+972541230001" }),
    )
    .await;
    app.patient(
        "p-6",
        json!({ "name": "Ёлкина Анна", "phone": "+972541230002" }),
    )
    .await;

    let accented = search(&app, "q=%C3%A1lvarez").await; // álvarez
    let upper = search(&app, "q=JOS%C3%89").await; // JOSÉ
    let cyrillic = search(&app, "q=%D1%91%D0%BB%D0%BA").await; // ёлк

    assert_eq!(ids(&accented), ["p-5"]);
    assert_eq!(ids(&upper), ["p-5"]);
    assert_eq!(ids(&cyrillic), ["p-6"]);
    app.stop().await;
}

#[tokio::test]
async fn a_phone_number_is_found_however_it_is_typed() {
    let app = app_with_patients().await;

    for typed in [
        "054-1234567",
        "054 123 4567",
        "%2B972541234567",
        "%2B972-54-123-4567",
        "4567",
    ] {
        let found = search(&app, &format!("q={typed}")).await;
        assert_eq!(ids(&found), ["p-1"], "typed as {typed}");
    }
    app.stop().await;
}

#[tokio::test]
async fn no_query_lists_every_patient_a_page_at_a_time_each_once() {
    let app = app_with_patients().await;

    let first = search(&app, "limit=3").await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = search(&app, &format!("limit=3&cursor={cursor}")).await;

    assert_eq!(ids(&first), ["p-1", "p-2", "p-3"]);
    assert_eq!(ids(&second), ["p-4"]);
    assert_eq!(second["next_cursor"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn a_search_that_matches_nothing_is_an_empty_page() {
    let app = app_with_patients().await;

    let found = search(&app, "q=Noa").await;

    assert_eq!(found, json!({ "items": [], "next_cursor": null }));
    app.stop().await;
}

#[tokio::test]
async fn a_bad_search_limit_or_cursor_is_refused_naming_each_field() {
    let app = app_with_patients().await;
    let long = "a".repeat(101);

    let (status, problem) = get(
        &app,
        &app.key,
        &format!("/v1/patients?q={long}&limit=0&cursor=zz"),
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = problem_fields(&problem);
    assert_eq!(fields, ["q", "limit", "cursor"]);
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_patients_are_never_listed() {
    let app = app_with_patients().await;
    let other = app.other_clinic_key().await;

    let (status, list) = get(&app, &other, "/v1/patients?q=Dana").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&list), Vec::<&str>::new());
    app.stop().await;
}
