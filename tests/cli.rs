//! The `medrelay` command's set-up verbs, run as a clinic's IT person would.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

/// `medrelay serve` with `config_file`; its output lines arrive on the returned channel.
fn serve(config_file: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medrelay"))
        .arg("serve")
        .env("MEDRELAY_CONFIG", config_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("medrelay starts");
    let (lines, received) = mpsc::channel();
    for output in [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
    }
    (child, received)
}

/// Output lines until one satisfies `last` (included), or all of them once the process ends.
fn lines_until(received: &mpsc::Receiver<String>, last: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = received.recv_timeout(Duration::from_secs(30)) {
        let done = last(&line);
        seen.push(line);
        if done {
            break;
        }
    }
    seen
}

#[test]
fn serving_beyond_loopback_without_deciding_on_the_sandbox_is_refused_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("medrelay.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"0.0.0.0:0\"\ndatabase_url = \"sqlite://{}\"\n",
            dir.path().join("medrelay.db").display()
        ),
    )
    .expect("config written");

    let (mut child, received) = serve(&config);
    let output = lines_until(&received, |line| line.contains("medrelay is running"));
    let _ = child.kill();
    let status = child.wait().expect("medrelay ends");

    assert!(
        !status.success() && !output.iter().any(|l| l.contains("medrelay is running")),
        "it served: {output:#?}"
    );
    assert!(
        output
            .iter()
            .any(|l| l.contains("MEDRELAY_SANDBOX__ENABLED")
                && l.contains("listen is not a loopback address")),
        "{output:#?}"
    );
}

#[test]
fn start_up_says_which_channels_of_which_clinics_go_to_the_sandbox() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("medrelay.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
database_url = "sqlite://{}"

[sandbox]
enabled = true

[clinics.hadar.smtp]
host = "smtp.clinic.example"
port = 587
security = "starttls"
from = "clinic@clinic.example"
bounce_domain = "bounces.clinic.example"
"#,
            dir.path().join("medrelay.db").display()
        ),
    )
    .expect("config written");

    let (mut child, received) = serve(&config);
    let output = lines_until(&received, |line| line.contains("/sandbox/outbox"));
    let _ = child.kill();
    let _ = child.wait();

    let said = |text: &str| output.iter().any(|l| l.contains(text));
    assert!(said("SANDBOX"), "{output:#?}");
    assert!(
        said("every clinic without its own account: whatsapp, sms, email, voice"),
        "{output:#?}"
    );
    assert!(said("clinic hadar: whatsapp, sms, voice"), "{output:#?}");
}
