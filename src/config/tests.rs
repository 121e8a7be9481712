use super::*;
use medrelay_channels::smtp::SmtpConfig;
use std::net::SocketAddr;

#[test]
fn settings_that_would_stall_the_gateway_are_refused_by_name() {
    assert!(Config::default().validated().is_ok());
    let mut config = Config::default();
    config.dispatch.lease_ms = 0;
    assert_eq!(
        config.validated().map(|_| ()).map_err(|e| e.to_string()),
        Err("configuration: dispatch.lease_ms must be at least 100".to_owned())
    );
}

#[test]
fn the_sandbox_runs_unasked_only_on_loopback_without_provider_accounts() {
    assert!(matches!(Config::default().sandbox_enabled(), Ok(true)));

    let mut exposed = Config {
        listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
        ..Config::default()
    };
    let refused = exposed.sandbox_enabled().map_err(|e| e.to_string());
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.starts_with("sandbox.enabled must be set")
                && e.contains("listen is not a loopback address")),
        "{refused:?}"
    );
    exposed.sandbox.enabled = Some(false);
    assert!(matches!(exposed.sandbox_enabled(), Ok(false)));

    let mut proxied = Config {
        public_url: Some("https://medrelay.clinic.example".to_owned()),
        ..Config::default()
    };
    assert!(proxied.sandbox_enabled().is_err());
    proxied.public_url = Some("http://localhost:8080".to_owned());
    assert!(matches!(proxied.sandbox_enabled(), Ok(true)));

    let mut production = Config::default();
    production.clinics.insert(
        "hadar".to_owned(),
        ProviderAccounts {
            smtp: Some(SmtpConfig {
                host: "smtp.clinic.example".to_owned(),
                port: 587,
                security: medrelay_channels::smtp::Security::Starttls,
                username: None,
                password: None,
                from: "clinic@clinic.example".to_owned(),
                bounce_domain: "bounces.clinic.example".to_owned(),
                hello_name: None,
                pool_size: 1,
                timeout_ms: 1_000,
            }),
            ..ProviderAccounts::default()
        },
    );
    let refused = production.sandbox_enabled().map_err(|e| e.to_string());
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("provider accounts are configured")),
        "{refused:?}"
    );
    production.sandbox.enabled = Some(true);
    assert!(matches!(production.sandbox_enabled(), Ok(true)));
}

#[test]
fn sandbox_secrets_differ_from_process_to_process() {
    let (one, two) = (SandboxSecrets::random(), SandboxSecrets::random());
    assert_ne!(one.whatsapp_app_secret, two.whatsapp_app_secret);
    assert_ne!(one.twilio_auth_token, two.twilio_auth_token);
    assert_eq!(one.whatsapp_app_secret.expose().len(), 40);
}

#[test]
fn a_clinic_may_have_its_own_reminder_series_and_bad_offsets_are_refused() {
    let mut config = Config::default();
    config
        .appointments
        .clinics
        .insert("hadar".to_owned(), vec!["1d".to_owned(), "3h".to_owned()]);
    let minutes = |slug: &str| {
        config
            .appointments
            .offsets_for(slug)
            .iter()
            .map(|o| o.minutes())
            .collect::<Vec<_>>()
    };
    assert_eq!(minutes("hadar"), [1440, 180]);
    assert_eq!(minutes("other"), [2880, 120]);
    config
        .appointments
        .reminder_offsets
        .push("2 weeks".to_owned());
    assert!(config.validated().is_err());
}

/// `config/default.toml` with its commented examples (`# key = …`, `# [table]`) switched on.
fn with_examples_on(defaults: &str) -> String {
    defaults
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.starts_with('[') || is_setting(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_setting(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Every key path (`dispatch.lease_ms`) in a JSON value.
fn key_paths(value: &serde_json::Value, prefix: &str, into: &mut Vec<String>) {
    if let serde_json::Value::Object(map) = value {
        for (key, inner) in map {
            let path = format!("{prefix}{key}");
            key_paths(inner, &format!("{path}."), into);
            into.push(path);
        }
    }
}

#[test]
fn the_shipped_defaults_name_every_setting() {
    let documented: serde_json::Value = Figment::from(Toml::string(&with_examples_on(DEFAULTS)))
        .extract()
        .expect("config/default.toml parses with its examples on");
    let mut documented_keys = Vec::new();
    key_paths(&documented, "", &mut documented_keys);

    let settings = serde_json::to_value(Config::default()).expect("the defaults serialize");
    let mut setting_keys = Vec::new();
    key_paths(&settings, "", &mut setting_keys);
    let missing: Vec<_> = setting_keys
        .iter()
        .filter(|key| !documented_keys.contains(key))
        .collect();
    assert!(
        missing.is_empty(),
        "settings without a line in config/default.toml: {missing:?}"
    );
}

#[test]
fn every_commented_example_in_the_shipped_defaults_is_a_valid_setting() {
    let config: Config = Figment::from(Toml::string(&with_examples_on(DEFAULTS)))
        .extract()
        .expect("every example in config/default.toml is a known setting of the right type");
    let config = config.validated().expect("the examples pass the checks");
    assert_eq!(
        config.public_url.as_deref(),
        Some("https://medrelay.clinic.example")
    );
    assert!(config.providers.whatsapp.is_some() && config.providers.smtp.is_some());
    let twilio = config.providers.twilio.expect("the Twilio example");
    assert!(twilio.sms.is_some() && twilio.voice.is_some());
    assert_eq!(config.appointments.offsets_for("hadar").len(), 2);
}

#[test]
fn a_file_changes_only_what_it_names() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("medrelay.toml");
    std::fs::write(&file, "[dispatch]\nworkers = 2\n").expect("the file is written");
    let config = Config::load(Some(&file)).expect("the file loads");
    assert_eq!(config.dispatch.workers, 2);
    let defaults = Config::default();
    assert_eq!(config.dispatch.batch_size, defaults.dispatch.batch_size);
    assert_eq!(config.listen, defaults.listen);
}

#[test]
fn on_sqlite_one_core_is_left_to_the_writer_unless_worker_threads_says_otherwise() {
    let cores = |n| NonZeroUsize::new(n).expect("not zero");
    let sqlite = Config::default();
    assert_eq!(sqlite.worker_threads(cores(2)), cores(1));
    assert_eq!(sqlite.worker_threads(cores(8)), cores(7));
    assert_eq!(sqlite.worker_threads(cores(1)), cores(1));

    let postgres = Config {
        database_url: "postgres://postgres@127.0.0.1:5432/medrelay".to_owned(),
        ..Config::default()
    };
    assert_eq!(postgres.worker_threads(cores(2)), cores(2));

    let set = Config {
        worker_threads: Some(cores(3)),
        ..Config::default()
    };
    assert_eq!(set.worker_threads(cores(2)), cores(3));
}

#[test]
fn zero_worker_threads_is_refused_by_name() {
    let refused = Figment::from(Toml::string(DEFAULTS))
        .merge(Toml::string("worker_threads = 0"))
        .extract::<Config>()
        .map_err(|e| e.to_string());
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("worker_threads")),
        "{refused:?}"
    );
}
