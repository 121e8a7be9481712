//! The `medrelay` command's set-up verbs, run as a clinic's IT person would.

use std::process::{Command, Output};

use medrelay::Config;
use medrelay::app::Application;

fn medrelay(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medrelay"))
        .args(args)
        .env("MEDRELAY_DATABASE_URL", database_url)
        .env("MEDRELAY_CONFIG", "/nonexistent/medrelay.toml")
        .env("RUST_LOG", "warn")
        .output()
        .expect("medrelay runs")
}

#[tokio::test]
async fn a_clinic_and_a_key_made_on_the_command_line_work_against_the_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());

    let clinic = medrelay(
        &url,
        &[
            "clinic",
            "create",
            "hadar",
            "--name",
            "Hadar Clinic",
            "--timezone",
            "Asia/Jerusalem",
        ],
    );
    assert!(
        clinic.status.success(),
        "{}",
        String::from_utf8_lossy(&clinic.stderr)
    );
    let key = medrelay(
        &url,
        &["apikey", "create", "--clinic", "hadar", "--role", "booking"],
    );
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let stdout = String::from_utf8_lossy(&key.stdout);
    let key = stdout.lines().last().expect("a last line");
    assert!(
        key.starts_with("mr_") && key.len() == 67,
        "the key alone on the last line, got `{key}`"
    );

    let config = Config {
        database_url: url.clone(),
        listen: "127.0.0.1:0".parse().expect("address"),
        bootstrap_demo: false,
        ..Config::default()
    };
    let running = Application::build(config).await.expect("starts").start();
    let response = reqwest::Client::new()
        .get(format!("http://{}/v1/notifications", running.addr))
        .bearer_auth(key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    running.stop().await;
}

#[test]
fn set_up_mistakes_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());

    let bad_zone = medrelay(
        &url,
        &[
            "clinic",
            "create",
            "hadar",
            "--name",
            "Hadar",
            "--timezone",
            "Mars/Olympus",
        ],
    );
    assert!(!bad_zone.status.success());
    assert!(String::from_utf8_lossy(&bad_zone.stderr).contains("IANA time zone"));

    let no_clinic = medrelay(
        &url,
        &["apikey", "create", "--clinic", "nowhere", "--role", "staff"],
    );
    assert!(!no_clinic.status.success());
    assert!(String::from_utf8_lossy(&no_clinic.stderr).contains("no clinic `nowhere`"));

    assert!(
        medrelay(&url, &["clinic", "create", "hadar", "--name", "Hadar"])
            .status
            .success()
    );
    let twice = medrelay(
        &url,
        &["clinic", "create", "hadar", "--name", "Hadar again"],
    );
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));
}

#[tokio::test]
async fn a_clinic_phone_given_at_creation_is_the_number_notices_ask_patients_to_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());

    let not_e164 = medrelay(
        &url,
        &[
            "clinic",
            "create",
            "hadar",
            "--name",
            "Hadar",
            "--phone",
            "03-1234567",
        ],
    );
    let with_phone = medrelay(
        &url,
        &[
            "clinic",
            "create",
            "hadar",
            "--name",
            "Hadar",
            "--phone",
            "+97231234567",
        ],
    );

    assert!(!not_e164.status.success());
    assert!(String::from_utf8_lossy(&not_e164.stderr).contains("E.164"));
    assert!(
        with_phone.status.success(),
        "{}",
        String::from_utf8_lossy(&with_phone.stderr)
    );
    let store = medrelay::store::Store::connect(&url).await.expect("store");
    let clinic = store.clinic_by_slug("hadar").await.expect("clinic");
    assert_eq!(
        clinic.phone.as_ref().map(|p| p.as_str()),
        Some("+97231234567")
    );
    store.close().await;
}

#[test]
fn the_sandbox_as_its_own_process_refuses_to_start_without_the_accounts_it_accepts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("sandbox.db").display());
    let run = medrelay(
        &url,
        &[
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--gateway",
            "http://127.0.0.1:8080",
        ],
    );
    assert!(!run.status.success(), "it started without accounts");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("providers.whatsapp, providers.twilio and providers.smtp"),
        "{stderr}"
    );
}
