//! The `medrelay` command's set-up verbs, run as a clinic's IT person would.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use medrelay::Config;
use medrelay::app::Application;
use medrelay_testkit::process::{self, Process};

fn medrelay(database_url: &str, args: &[&str]) -> Output {
    medrelay_with_env(database_url, args, &[])
}

/// Runs in an empty directory, so no `medrelay.toml` is read but a test's own.
fn medrelay_with_env(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    process::command(&[env!("CARGO_BIN_EXE_medrelay")])
        .current_dir(dir.path())
        .args(args)
        .env("MEDRELAY_DATABASE_URL", database_url)
        .envs(env.iter().copied())
        .output()
        .expect("medrelay runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
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

#[test]
fn a_configuration_file_named_but_missing_is_refused_not_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("medrelay.tmol");
    let missing = missing.to_str().expect("path");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());

    for refused in [
        medrelay(
            &url,
            &["--config", missing, "apikey", "list", "--clinic", "x"],
        ),
        medrelay_with_env(&url, &["serve"], &[("MEDRELAY_CONFIG", missing)]),
    ] {
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(missing) && stderr.contains("does not exist"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn a_clinic_phone_given_at_creation_is_the_number_notices_ask_patients_to_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    let create = |slug: &str, extra: &[&str]| {
        let mut args = vec!["clinic", "create", slug, "--name", "Hadar"];
        args.extend_from_slice(extra);
        medrelay(&url, &args)
    };

    let too_short = create("hadar", &["--phone", "03-12345"]);
    let national = create("hadar", &["--phone", "03-1234567"]);
    let london = create("london", &["--region", "GB", "--phone", "020 7946 0123"]);
    let no_region = create("nowhere", &["--region", "XX"]);

    assert!(!too_short.status.success());
    assert!(String::from_utf8_lossy(&too_short.stderr).contains("it reads as +972312345"));
    for created in [&national, &london] {
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    assert!(String::from_utf8_lossy(&no_region.stderr).contains("ISO 3166"));
    let store = medrelay::store::Store::connect(&url).await.expect("store");
    let phone = async |slug: &str| {
        let clinic = store.clinic_by_slug(slug).await.expect("clinic");
        (
            clinic.phone.map(|p| p.as_str().to_owned()),
            clinic.phone_region.as_str().to_owned(),
        )
    };
    assert_eq!(
        phone("hadar").await,
        (Some("+97231234567".to_owned()), "IL".to_owned())
    );
    assert_eq!(
        phone("london").await,
        (Some("+442079460123".to_owned()), "GB".to_owned())
    );
    store.close().await;
}

#[tokio::test]
async fn a_clinic_is_updated_on_the_command_line_by_the_apis_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    stdout(&medrelay(
        &url,
        &["clinic", "create", "hadar", "--name", "Hadar"],
    ));

    let updated = medrelay(
        &url,
        &[
            "clinic",
            "update",
            "hadar",
            "--name",
            "Hadar Haifa",
            "--time-zone",
            "Europe/London",
            "--emergency-number",
            "1221",
        ],
    );
    let refused = medrelay(
        &url,
        &["clinic", "update", "hadar", "--time-zone", "Mars/Olympus"],
    );

    assert!(stdout(&updated).contains("Hadar Haifa"));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("timezone: must be an IANA time zone")
    );
    let store = medrelay::store::Store::connect(&url).await.expect("store");
    let clinic = store.clinic_by_slug("hadar").await.expect("clinic");
    assert_eq!(clinic.name, "Hadar Haifa");
    assert_eq!(clinic.timezone.as_str(), "Europe/London");
    let settings = store.inbound_settings(&clinic.id).await.expect("settings");
    assert_eq!(settings.emergency_number, "1221");
    store.close().await;
}

#[test]
fn a_clinics_retention_is_shown_and_changed_on_the_command_line_by_the_apis_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    stdout(&medrelay(
        &url,
        &["clinic", "create", "hadar", "--name", "Hadar"],
    ));

    let shown = medrelay(&url, &["clinic", "retention", "hadar"]);
    let changed = medrelay(
        &url,
        &["clinic", "retention", "hadar", "--media-days", "30"],
    );
    let refused = medrelay(
        &url,
        &["clinic", "retention", "hadar", "--message-text-days", "7"],
    );
    let after = medrelay(&url, &["clinic", "retention", "hadar"]);

    assert_eq!(
        stdout(&shown).trim(),
        "clinic hadar keeps message texts 730 days and media 90 days"
    );
    assert!(stdout(&changed).contains("texts 730 days and media 30 days"));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("--message-text-days: must be a whole number of days from 30 to 3650"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(stdout(&after).contains("texts 730 days and media 30 days"));
}

/// `medrelay serve` with `config_file`; its standard output and error come as its lines.
fn serve(config_file: &Path) -> Process {
    let mut command = process::command(&[env!("CARGO_BIN_EXE_medrelay"), "serve"]);
    command.env("MEDRELAY_CONFIG", config_file);
    Process::spawn(command, "medrelay serve", None)
}

/// Long enough that only a hung start-up reaches it.
const QUIET: Duration = Duration::from_secs(30);

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

    let mut served = serve(&config);
    let output = served.lines_until(|line| line.contains("medrelay is running"), QUIET);
    let status = served.kill_9().expect("medrelay ends");

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

    let served = serve(&config);
    let output = served.lines_until(|line| line.contains("/sandbox/outbox"), QUIET);
    drop(served);

    let said = |text: &str| output.iter().any(|l| l.contains(text));
    assert!(said("SANDBOX"), "{output:#?}");
    assert!(
        said("every clinic without its own account: whatsapp, sms, email, voice"),
        "{output:#?}"
    );
    assert!(said("clinic hadar: whatsapp, sms, voice"), "{output:#?}");
}

#[tokio::test]
async fn keys_are_listed_and_revoked_on_the_command_line_and_no_listing_shows_a_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    stdout(&medrelay(
        &url,
        &["clinic", "create", "hadar", "--name", "Hadar"],
    ));
    let created = stdout(&medrelay(
        &url,
        &["apikey", "create", "--clinic", "hadar", "--role", "booking"],
    ));
    let key = created.lines().last().expect("the key").to_owned();
    let id = created
        .split_whitespace()
        .find(|word| word.starts_with("key_"))
        .expect("the key's id")
        .to_owned();

    let listed = stdout(&medrelay(&url, &["apikey", "list", "--clinic", "hadar"]));
    let revoked = stdout(&medrelay(
        &url,
        &["apikey", "revoke", "--clinic", "hadar", &id],
    ));
    let after = stdout(&medrelay(&url, &["apikey", "list", "--clinic", "hadar"]));

    assert!(
        listed.contains(&id) && listed.contains("booking"),
        "{listed}"
    );
    assert!(!listed.contains(&key[3..]) && !after.contains(&key[3..]));
    assert!(revoked.contains(&id), "{revoked}");
    let row = after.lines().find(|l| l.starts_with(&id)).expect("row");
    assert!(!row.ends_with("\t-"), "revoked: {row}");
    let store = medrelay::store::Store::connect(&url).await.expect("store");
    assert!(store.authenticate(&key).await.expect("read").is_none());
    store.close().await;
    let unknown = medrelay(&url, &["apikey", "revoke", "--clinic", "hadar", "key_0000"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("has no key key_0000"));
}

#[tokio::test]
async fn the_database_and_its_wal_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("private.db");
    let url = format!("sqlite://{}", path.display());

    let store = medrelay::store::Store::connect(&url).await.expect("store");
    store
        .create_clinic(
            medrelay::store::NewClinic {
                slug: "hadar".to_owned(),
                name: "Hadar".to_owned(),
                timezone: medrelay::domain::TimeZoneName::parse("Asia/Jerusalem").expect("zone"),
                default_language: medrelay::domain::Language::parse("he").expect("language"),
                default_channels: medrelay_channels::ChannelKind::ALL.to_vec(),
                phone_region: medrelay::domain::PhoneRegion::ISRAEL,
            },
            jiff::Timestamp::now(),
        )
        .await
        .expect("a write, so the WAL exists");

    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {:o}", mode & 0o777);
    }
    store.close().await;
}

/// Provider settings as an operator exports them, with an id and a password made of digits.
const NUMERIC_PROVIDER_SETTINGS: [(&str, &str); 10] = [
    ("MEDRELAY_PROVIDERS__WHATSAPP__API_VERSION", "v21.0"),
    (
        "MEDRELAY_PROVIDERS__WHATSAPP__PHONE_NUMBER_ID",
        "106540352242922",
    ),
    ("MEDRELAY_PROVIDERS__WHATSAPP__ACCESS_TOKEN", "EAAGtoken"),
    ("MEDRELAY_PROVIDERS__WHATSAPP__APP_SECRET", "0123456789"),
    ("MEDRELAY_PROVIDERS__WHATSAPP__VERIFY_TOKEN", "424242"),
    ("MEDRELAY_PROVIDERS__SMTP__HOST", "127.0.0.1"),
    ("MEDRELAY_PROVIDERS__SMTP__PORT", "2525"),
    ("MEDRELAY_PROVIDERS__SMTP__SECURITY", "none"),
    ("MEDRELAY_PROVIDERS__SMTP__PASSWORD", "80061234"),
    ("MEDRELAY_PROVIDERS__SMTP__FROM", "clinic@example.org"),
];

#[test]
fn numeric_looking_environment_values_load_as_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    let mut env = NUMERIC_PROVIDER_SETTINGS.to_vec();
    env.push(("MEDRELAY_PROVIDERS__SMTP__BOUNCE_DOMAIN", "example.org"));
    env.push(("MEDRELAY_API__PATIENT_DAILY_CAP", "7"));
    env.push(("MEDRELAY_SANDBOX__ENABLED", "false"));

    let created = medrelay_with_env(
        &url,
        &["clinic", "create", "hadar", "--name", "Hadar"],
        &env,
    );

    stdout(&created);
}

#[test]
fn a_setting_that_cannot_be_read_is_named_but_its_value_never_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    let file = dir.path().join("medrelay.toml");
    std::fs::write(&file, "[providers.smtp]\npassword = s3cr3t-in-the-file\n").expect("file");
    // (environment, the secret, what the error must name)
    let cases = [
        (
            vec![("MEDRELAY_API__PATIENT_DAILY_CAP", "s3cr3t-value")],
            "s3cr3t-value",
            "api.patient_daily_cap",
        ),
        (
            vec![("MEDRELAY_PROVIDERS__SMTP__PORT", "hunter2hunter2")],
            "hunter2hunter2",
            "providers.smtp.port",
        ),
        (
            vec![("MEDRELAY_CONFIG", file.to_str().expect("path"))],
            "s3cr3t-in-the-file",
            "line 2",
        ),
    ];
    for (env, secret, named) in cases {
        let refused = medrelay_with_env(&url, &["apikey", "list", "--clinic", "x"], &env);

        assert_eq!(refused.status.code(), Some(2));
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&refused.stdout),
            String::from_utf8_lossy(&refused.stderr)
        );
        assert!(printed.contains(named), "{named}: {printed}");
        assert!(!printed.contains(secret), "{secret}: {printed}");
    }
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

#[tokio::test]
async fn the_audit_trail_is_exported_as_json_lines_oldest_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    stdout(&medrelay(
        &url,
        &["clinic", "create", "hadar", "--name", "Hadar"],
    ));
    let created = stdout(&medrelay(
        &url,
        &["apikey", "create", "--clinic", "hadar", "--role", "staff"],
    ));
    let key = created.lines().last().expect("the key").to_owned();
    let config = Config {
        database_url: url.clone(),
        listen: "127.0.0.1:0".parse().expect("address"),
        bootstrap_demo: false,
        ..Config::default()
    };
    let running = Application::build(config).await.expect("starts").start();
    let client = reqwest::Client::new();
    let patient = format!("http://{}/v1/patients/p-1", running.addr);
    let put = client
        .put(&patient)
        .bearer_auth(&key)
        .json(&serde_json::json!({ "name": "Dana Levi", "phone": "+972541234567" }))
        .send()
        .await
        .expect("put");
    let read = client
        .get(&patient)
        .bearer_auth(&key)
        .send()
        .await
        .expect("get");
    running.stop().await;

    let everything = stdout(&medrelay(&url, &["audit", "export", "--clinic", "hadar"]));
    let none = stdout(&medrelay(
        &url,
        &[
            "audit",
            "export",
            "--clinic",
            "hadar",
            "--from",
            "2999-01-01T00:00:00Z",
        ],
    ));

    assert!(put.status().is_success() && read.status().is_success());
    let lines: Vec<serde_json::Value> = everything
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|entry| entry["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["patient.update", "patient.read"]);
    assert!(lines.iter().all(|e| e["resource_id"] == "p-1"));
    assert!(!everything.contains("Dana") && !everything.contains("541234567"));
    assert_eq!(none, "");
}

#[test]
fn a_staff_account_added_on_the_command_line_is_listed_without_its_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    stdout(&medrelay(
        &url,
        &["clinic", "create", "hadar", "--name", "Hadar"],
    ));
    let password = [("MEDRELAY_STAFF_PASSWORD", "correct horse battery staple")];

    let added = stdout(&medrelay_with_env(
        &url,
        &[
            "staff",
            "add",
            "--clinic",
            "hadar",
            "--email",
            "Dana@Hadar.example",
            "--name",
            "דנה לוי",
            "--role",
            "admin",
        ],
        &password,
    ));
    let short = medrelay_with_env(
        &url,
        &[
            "staff",
            "add",
            "--clinic",
            "hadar",
            "--email",
            "avi@hadar.example",
            "--name",
            "Avi",
        ],
        &[("MEDRELAY_STAFF_PASSWORD", "short")],
    );
    let listed = stdout(&medrelay(&url, &["staff", "list", "--clinic", "hadar"]));

    assert!(added.starts_with("added admin דנה לוי (stf_"), "{added}");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("10 to 256 characters"));
    assert!(
        listed.contains("dana@hadar.example\tדנה לוי\tadmin\t-\tno"),
        "{listed}"
    );
    assert!(!listed.contains("avi@") && !listed.contains("correct horse"));
}
