//! `medrelay` / `medrelay serve`: runs the gateway, and on a fresh database makes the demo
//! clinic with its console admin and API key.

use medrelay::Config;
use medrelay::app::Application;
use medrelay::domain::{Language, PhoneRegion, TimeZoneName};
use medrelay::store::{ApiKeyRole, NewClinic, Store};
use medrelay_channels::ChannelKind;

type CliResult = Result<(), Box<dyn std::error::Error>>;

pub async fn serve(mut config: Config) -> CliResult {
    keep_connections_within_open_files(&mut config);
    let bootstrap = config.bootstrap_demo;
    let app = Application::build(config).await?;
    let addr = app.local_addr();
    let sandboxed = sandbox_notice(&app);
    let demo = if bootstrap {
        bootstrap_demo(app.store()).await?
    } else {
        None
    };
    let running = app.start();

    print_welcome(&format!("http://{addr}"), &sandboxed, demo.as_ref());

    stop_requested().await?;
    println!("stopping: finishing the hand-overs and requests in flight…");
    if running.stop().await {
        println!("stopped");
    } else {
        tracing::warn!(
            "http.shutdown_grace_ms ran out: the rest was cut off; claimed notifications are claimed again once their lease runs out"
        );
    }
    Ok(())
}

/// What an operator needs on start: where it runs, what goes to the sandbox, the demo key once,
/// and curl lines to try.
fn print_welcome(base: &str, sandboxed: &[String], demo: Option<&DemoAccess>) {
    println!("medrelay is running on {base}");
    println!("  Staff console (open in a browser): {base}/console");
    println!("  API reference (open in a browser): {base}/docs   OpenAPI 3.1: {base}/openapi.json");
    if !sandboxed.is_empty() {
        println!(
            "  SANDBOX: these channels go to look-alikes of Meta, Twilio and an SMTP server; nothing sent on them reaches a patient"
        );
        for line in sandboxed {
            println!("    {line}");
        }
        println!(
            "  curl {base}/sandbox/outbox -H \"Authorization: Bearer $MEDRELAY_KEY\"   (what the clinic's patients received)"
        );
    }
    match demo {
        Some(demo) => {
            println!(
                "  created clinic `demo`; its console admin signs in as {} with password {} (shown only this once)",
                demo.console_email, demo.console_password
            );
            println!("  and an admin API key, shown only this once:");
            println!("  export MEDRELAY_KEY={}", demo.key);
            println!(
                "  it keeps Israeli hours (Sun-Thu 09:00-18:00, Fri 09:00-13:00): outside them a normal message is scheduled; add \"priority\":\"urgent\" to send now"
            );
        }
        None => println!(
            "  API keys: medrelay apikey create --clinic <slug> --role booking|staff|admin; console accounts: medrelay staff add --clinic <slug> --email … --name … --role staff|admin"
        ),
    }
    println!("  curl -X PUT {base}/v1/patients/p-1 -H \"Authorization: Bearer $MEDRELAY_KEY\" \\");
    println!(
        "       -H 'Content-Type: application/json' -d '{{\"name\":\"Dana\",\"phone\":\"+972541234567\"}}'"
    );
    println!("  curl {base}/v1/notifications -H \"Authorization: Bearer $MEDRELAY_KEY\" \\");
    println!(
        "       -H 'Content-Type: application/json' -d '{{\"patient_id\":\"p-1\",\"topic\":\"appointment_reminder\",\"template\":\"appointment_reminder\",\"params\":{{\"date\":\"01.12\",\"time\":\"09:30\"}}}}'"
    );
}

/// SIGTERM (what systemd, Docker and Kubernetes send) or SIGINT (ctrl-c).
async fn stop_requested() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

/// Each connection is a file descriptor, and so is each SQLite file and socket the database pool
/// and the adapters open. Raises the open-file limit to the hard limit (the usual soft limit of
/// 1,024 is reached long before; raising it needs no privilege), and serves at most half of it
/// as connections, so the rest always has files to open.
fn keep_connections_within_open_files(config: &mut Config) {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit");
            return;
        }
    };
    let most = u32::try_from(limit / 2).unwrap_or(u32::MAX).max(1);
    if config.http.max_connections > most {
        tracing::warn!(
            open_files = limit,
            connections = most,
            "http.max_connections is more than half the open-file limit; serving fewer"
        );
        config.http.max_connections = most;
    }
}

/// Which channels of which clinics go to the sandbox, one line each, also logged as a warning:
/// a gateway that sends to the sandbox must never pass for one that reaches patients.
fn sandbox_notice(app: &Application) -> Vec<String> {
    app.sandboxed_channels()
        .into_iter()
        .map(|(clinic, channels)| {
            let clinics = clinic.map_or_else(
                || "every clinic without its own account".to_owned(),
                |slug| format!("clinic {slug}"),
            );
            let channels = channels
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            tracing::warn!(
                clinics,
                channels,
                "these channels go to the sandbox: nothing sent on them reaches a patient"
            );
            format!("{clinics}: {channels}")
        })
        .collect()
}

/// What the demo clinic gives on first start, shown once: an admin API key and the console
/// sign-in of its admin.
struct DemoAccess {
    key: String,
    console_email: &'static str,
    console_password: String,
}

const DEMO_ADMIN_EMAIL: &str = "admin@demo.clinic";

/// On a fresh database, a clinic to try things with.
async fn bootstrap_demo(store: &Store) -> Result<Option<DemoAccess>, Box<dyn std::error::Error>> {
    if store.has_clinics().await? {
        return Ok(None);
    }
    let now = jiff::Timestamp::now();
    let clinic = store
        .create_clinic(
            NewClinic {
                slug: "demo".into(),
                name: "Demo Clinic".into(),
                timezone: TimeZoneName::parse("Asia/Jerusalem").ok_or("time zone")?,
                default_language: Language::parse("he").ok_or("language")?,
                default_channels: ChannelKind::ALL.to_vec(),
                phone_region: PhoneRegion::ISRAEL,
            },
            now,
        )
        .await?;
    let key = store
        .create_api_key(&clinic.id, ApiKeyRole::Admin, now)
        .await?;
    // 8 random bytes as 16 hex digits: typed once, then changed on the account page.
    let console_password = hex::encode(rand::random::<[u8; 8]>());
    medrelay::console::accounts::add_member(
        store,
        medrelay::console::accounts::NewAccount {
            clinic: &clinic.id,
            email: DEMO_ADMIN_EMAIL,
            name: "Demo Admin",
            role: ApiKeyRole::Admin,
            language: medrelay::domain::UiLanguage::En,
            password: console_password.clone(),
        },
        now,
    )
    .await?;
    Ok(Some(DemoAccess {
        key,
        console_email: DEMO_ADMIN_EMAIL,
        console_password,
    }))
}
