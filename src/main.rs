//! The `medrelay` command: runs the gateway, and sets up clinics (their retention too) and API
//! keys.

use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

use clap::{Parser, Subcommand};
use medrelay::Config;
use medrelay::app::{Application, StandaloneSandbox};
use medrelay::audit::export::AuditExport;
use medrelay::domain::{
    ApiKeyId, ClinicProfile, Language, ONE_LINE_RULE, Phone, PhoneRegion, TimeZoneName, is_one_line,
};
use medrelay::logging::{self, LogFormat};
use medrelay::store::{ApiKeyRole, NewClinic, Store, StoreError};
use medrelay_channels::ChannelKind;

#[derive(Debug, Parser)]
#[command(name = "medrelay", version, about = "Patient notification gateway")]
struct Cli {
    /// TOML configuration file, which must exist when named; without one, `medrelay.toml` in
    /// the working directory if there is one. `MEDRELAY_*` environment variables override it.
    #[arg(long, global = true, env = "MEDRELAY_CONFIG")]
    config: Option<PathBuf>,
    /// `text` for people (coloured only on a terminal), `json` for log collectors.
    #[arg(
        long,
        global = true,
        env = "MEDRELAY_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Manage clinics.
    Clinic {
        #[command(subcommand)]
        command: ClinicCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Manage staff accounts for the console.
    Staff {
        #[command(subcommand)]
        command: cli::staff::StaffCommand,
    },
    /// Read the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run only the sandbox provider, as its own process: its look-alike APIs on `--listen`, its
    /// SMTP server on `sandbox.smtp_listen`, its outbox in `database_url` (its own, not the
    /// gateway's), status callbacks to the gateway at `--gateway`. It accepts the accounts in
    /// `providers.*`, which the gateway is given to reach it.
    Sandbox {
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The gateway's public URL, where its provider webhooks are.
        #[arg(long)]
        gateway: url::Url,
    },
}

#[derive(Debug, Subcommand)]
enum ClinicCommand {
    /// Create a clinic.
    Create(ClinicCreate),
    /// Change a clinic's details; those not named keep their value. The same rules as
    /// `PATCH /v1/clinic`.
    Update(ClinicUpdate),
    /// Show how long a clinic keeps message texts and media, and change either; the same rules
    /// as `PUT /v1/clinic/retention`, but a period not named keeps its value.
    Retention(ClinicRetention),
}

#[derive(Debug, clap::Args)]
struct ClinicRetention {
    slug: String,
    /// Days message texts are kept (30 to 3650).
    #[arg(long)]
    message_text_days: Option<u32>,
    /// Days media references are kept (1 to 3650).
    #[arg(long)]
    media_days: Option<u32>,
}

#[derive(Debug, clap::Args)]
struct ClinicCreate {
    /// Short name used on the command line, e.g. `hadar-haifa`.
    slug: String,
    #[arg(long)]
    name: String,
    #[arg(long, default_value = "Asia/Jerusalem")]
    timezone: String,
    /// Language for patients whose own language has no template.
    #[arg(long, default_value = "he")]
    language: String,
    /// Channels the clinic sends on, in its default order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "whatsapp,sms,email,voice"
    )]
    channels: Vec<ChannelKind>,
    /// Where phone numbers written without a country code are read (patients' and the
    /// clinic's own): an ISO 3166 country code.
    #[arg(long, default_value = "IL")]
    region: String,
    /// The number content-free notices (sensitive and restricted topics) ask patients to
    /// call, as dialled in `--region` (03-1234567) or international (+97231234567).
    #[arg(long)]
    phone: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ClinicUpdate {
    slug: String,
    #[arg(long)]
    name: Option<String>,
    /// IANA time zone of the clinic's calendar, e.g. Asia/Jerusalem.
    #[arg(long, alias = "timezone")]
    time_zone: Option<String>,
    /// Language for patients whose own language has no template.
    #[arg(long)]
    language: Option<String>,
    /// Channels the clinic sends on, in its default order.
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<String>>,
    /// The number content-free notices ask patients to call.
    #[arg(long, conflicts_with = "no_phone")]
    phone: Option<String>,
    /// Remove the clinic's number.
    #[arg(long)]
    no_phone: bool,
    /// What the away and urgent answers tell patients to call.
    #[arg(long)]
    emergency_number: Option<String>,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Print a clinic's audit entries as JSON lines, oldest first: the fields of `GET /v1/audit`.
    Export(AuditExport),
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create an API key; the key is printed alone on the last line, once.
    Create {
        #[arg(long)]
        clinic: String,
        #[arg(long, value_enum)]
        role: ApiKeyRole,
    },
    /// List a clinic's keys: id, role, created, revoked. Secrets are never shown again.
    List {
        #[arg(long)]
        clinic: String,
    },
    /// Revoke a key by its id (`key_…`); every instance refuses it within seconds.
    Revoke {
        #[arg(long)]
        clinic: String,
        id: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let config = match Config::load_named_or_default(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Clinic {
            command: ClinicCommand::Create(clinic),
        } => create_clinic(&config, clinic).await,
        Command::Clinic {
            command: ClinicCommand::Update(change),
        } => update_clinic(&config, change).await,
        Command::Clinic {
            command: ClinicCommand::Retention(change),
        } => clinic_retention(&config, change).await,
        Command::Apikey {
            command: ApiKeyCommand::Create { clinic, role },
        } => create_key(&config, &clinic, role).await,
        Command::Apikey {
            command: ApiKeyCommand::List { clinic },
        } => list_keys(&config, &clinic).await,
        Command::Apikey {
            command: ApiKeyCommand::Revoke { clinic, id },
        } => revoke_key(&config, &clinic, &id).await,
        Command::Staff { command } => cli::staff::run(&config, command).await,
        Command::Audit {
            command: AuditCommand::Export(export),
        } => export_audit(&config, &export).await,
        Command::Sandbox { listen, gateway } => sandbox(&config, listen, gateway).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

async fn serve(mut config: Config) -> CliResult {
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

async fn sandbox(config: &Config, listen: std::net::SocketAddr, gateway: url::Url) -> CliResult {
    let sandbox = StandaloneSandbox::build(config, listen, gateway.clone()).await?;
    println!(
        "medrelay sandbox is running on http://{}, reporting to {gateway}",
        sandbox.local_addr()
    );
    sandbox.run().await?;
    Ok(())
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

async fn create_clinic(config: &Config, command: ClinicCreate) -> CliResult {
    let ClinicCreate {
        slug,
        name,
        timezone,
        language,
        channels,
        region,
        phone,
    } = command;
    let valid_slug = !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_slug {
        return Err("slug must be lowercase letters, digits and '-'".into());
    }
    if !is_one_line(&name) {
        return Err(format!("name {ONE_LINE_RULE}").into());
    }
    let region = PhoneRegion::parse(&region).ok_or(format!("region {}", PhoneRegion::RULE))?;
    let phone = phone
        .map(|p| Phone::parse(&p, region).map_err(|e| format!("phone {e}")))
        .transpose()?;
    let store = Store::connect(&config.database_url).await?;
    let clinic = NewClinic {
        slug,
        name,
        timezone: TimeZoneName::parse(&timezone).ok_or(TimeZoneName::RULE)?,
        default_language: Language::parse(&language).ok_or(Language::RULE)?,
        default_channels: channels,
        phone_region: region,
    };
    let clinic = store.create_clinic(clinic, jiff::Timestamp::now()).await?;
    if let Some(phone) = &phone {
        store.set_clinic_phone(&clinic.id, phone).await?;
    }
    println!("created clinic {} ({})", clinic.slug, clinic.id);
    store.close().await;
    Ok(())
}

async fn update_clinic(config: &Config, command: ClinicUpdate) -> CliResult {
    let ClinicUpdate {
        slug,
        name,
        time_zone,
        language,
        channels,
        phone,
        no_phone,
        emergency_number,
    } = command;
    let store = Store::connect(&config.database_url).await?;
    let clinic = store
        .clinic_by_slug(&slug)
        .await
        .map_err(|_| format!("no clinic `{slug}`"))?;
    let changed = store
        .edit_clinic_profile(&clinic.id, |current, region| {
            let mut text = current.to_text();
            text.name = name.unwrap_or(text.name);
            text.timezone = time_zone.unwrap_or(text.timezone);
            text.language = language.unwrap_or(text.language);
            text.channels = channels.unwrap_or(text.channels);
            text.phone = if no_phone { None } else { phone.or(text.phone) };
            text.emergency_number = emergency_number.unwrap_or(text.emergency_number);
            ClinicProfile::parse(&text, region).map_err(|broken| {
                broken
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.rule))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .await??;
    println!(
        "updated clinic {}: {}; time zone {}; language {}",
        clinic.slug,
        changed.name,
        changed.timezone.as_str(),
        changed.language.as_str()
    );
    store.close().await;
    Ok(())
}

async fn clinic_retention(config: &Config, command: ClinicRetention) -> CliResult {
    let store = Store::connect(&config.database_url).await?;
    let clinic = store
        .clinic_by_slug(&command.slug)
        .await
        .map_err(|_| format!("no clinic `{}`", command.slug))?;
    let mut periods = store.retention_status(&clinic.id).await?.periods;
    if command.message_text_days.is_some() || command.media_days.is_some() {
        periods.message_text_days = command
            .message_text_days
            .unwrap_or(periods.message_text_days);
        periods.media_days = command.media_days.unwrap_or(periods.media_days);
        let broken: Vec<String> = (periods.check().iter())
            .map(|e| format!("--{}: {}", e.field.replace('_', "-"), e.rule))
            .collect();
        if !broken.is_empty() {
            return Err(broken.join("; ").into());
        }
        store.set_retention_periods(&clinic.id, periods).await?;
    }
    println!(
        "clinic {} keeps message texts {} days and media {} days",
        clinic.slug, periods.message_text_days, periods.media_days
    );
    store.close().await;
    Ok(())
}

async fn export_audit(config: &Config, export: &AuditExport) -> CliResult {
    let store = Store::connect(&config.database_url).await?;
    let written = export.run(&store, &mut std::io::stdout().lock()).await?;
    eprintln!("exported {written} audit entries");
    store.close().await;
    Ok(())
}

async fn create_key(config: &Config, clinic: &str, role: ApiKeyRole) -> CliResult {
    let store = Store::connect(&config.database_url).await?;
    let clinic = store
        .clinic_by_slug(clinic)
        .await
        .map_err(|_| format!("no clinic `{clinic}`"))?;
    let issued = store
        .issue_api_key(&clinic.id, role, jiff::Timestamp::now())
        .await?;
    println!(
        "created {} key {} for clinic {}; it is shown only this once:",
        role.as_str(),
        issued.view.id,
        clinic.slug
    );
    println!("{}", issued.key);
    store.close().await;
    Ok(())
}

async fn list_keys(config: &Config, clinic: &str) -> CliResult {
    let store = Store::connect(&config.database_url).await?;
    let clinic = store
        .clinic_by_slug(clinic)
        .await
        .map_err(|_| format!("no clinic `{clinic}`"))?;
    println!("id\trole\tcreated\trevoked");
    for key in store.api_keys(&clinic.id).await? {
        println!(
            "{}\t{}\t{}\t{}",
            key.id,
            key.role.as_str(),
            key.created_at,
            key.revoked_at
                .map_or_else(|| "-".to_owned(), |at| at.to_string())
        );
    }
    store.close().await;
    Ok(())
}

async fn revoke_key(config: &Config, clinic: &str, id: &str) -> CliResult {
    let key_id = ApiKeyId::parse(id).ok_or(format!("`{id}` is not a key id (key_…)"))?;
    let store = Store::connect(&config.database_url).await?;
    let clinic = store
        .clinic_by_slug(clinic)
        .await
        .map_err(|_| format!("no clinic `{clinic}`"))?;
    let revoked = store
        .revoke_api_key(&clinic.id, &key_id, jiff::Timestamp::now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => format!("clinic {} has no key {id}", clinic.slug).into(),
            other => Box::<dyn std::error::Error>::from(other),
        })?;
    println!(
        "revoked {} key {} of clinic {}; every instance refuses it within seconds",
        revoked.role.as_str(),
        revoked.id,
        clinic.slug
    );
    store.close().await;
    Ok(())
}
