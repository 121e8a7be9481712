//! The `medrelay` command: runs the gateway, and sets up clinics and API keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use medrelay::Config;
use medrelay::app::{Application, StandaloneSandbox};
use medrelay::domain::{Language, Phone, TimeZoneName};
use medrelay::store::{ApiKeyRole, NewClinic, Store};
use medrelay_channels::ChannelKind;

#[derive(Debug, Parser)]
#[command(name = "medrelay", version, about = "Patient notification gateway")]
struct Cli {
    /// TOML configuration file; `MEDRELAY_*` environment variables override it.
    #[arg(
        long,
        global = true,
        env = "MEDRELAY_CONFIG",
        default_value = "medrelay.toml"
    )]
    config: PathBuf,
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
    Create {
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
        /// The number content-free notices (sensitive and restricted topics) ask patients to
        /// call, in E.164 form, e.g. +97231234567.
        #[arg(long)]
        phone: Option<String>,
    },
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
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "medrelay=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config_file = cli.config.exists().then_some(cli.config.as_path());
    let config = match Config::load(config_file) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Clinic {
            command:
                ClinicCommand::Create {
                    slug,
                    name,
                    timezone,
                    language,
                    channels,
                    phone,
                },
        } => create_clinic(&config, slug, name, &timezone, &language, channels, phone).await,
        Command::Apikey {
            command: ApiKeyCommand::Create { clinic, role },
        } => create_key(&config, &clinic, role).await,
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

async fn serve(config: Config) -> CliResult {
    let bootstrap = config.bootstrap_demo;
    let sandbox = config.sandbox.enabled;
    let app = Application::build(config).await?;
    let addr = app.local_addr();
    let demo_key = if bootstrap {
        bootstrap_demo(app.store()).await?
    } else {
        None
    };
    let running = app.start();

    let base = format!("http://{addr}");
    println!("medrelay is running on {base}");
    if sandbox {
        println!(
            "  channels without a provider account go to the sandbox: look-alikes of Meta, Twilio and an SMTP server; nothing leaves this machine"
        );
        println!("  browser: {base}/sandbox/outbox   (what each patient received)");
    }
    match demo_key {
        Some(key) => {
            println!("  created clinic `demo` and an admin API key, shown only this once:");
            println!("  export MEDRELAY_KEY={key}");
            println!(
                "  it keeps Israeli hours (Sun-Thu 09:00-18:00, Fri 09:00-13:00): outside them a normal message is scheduled; add \"priority\":\"urgent\" to send now"
            );
        }
        None => println!(
            "  API keys: medrelay apikey create --clinic <slug> --role booking|staff|admin"
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

    tokio::signal::ctrl_c().await?;
    println!("stopping…");
    running.stop().await;
    Ok(())
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

/// On a fresh database, a clinic to try things with.
async fn bootstrap_demo(store: &Store) -> Result<Option<String>, Box<dyn std::error::Error>> {
    if store.has_clinics().await? {
        return Ok(None);
    }
    let clinic = store
        .create_clinic(
            NewClinic {
                slug: "demo".into(),
                name: "Demo Clinic".into(),
                timezone: TimeZoneName::parse("Asia/Jerusalem").ok_or("time zone")?,
                default_language: Language::parse("he").ok_or("language")?,
                default_channels: ChannelKind::ALL.to_vec(),
            },
            jiff::Timestamp::now(),
        )
        .await?;
    Ok(Some(
        store
            .create_api_key(&clinic.id, ApiKeyRole::Admin, jiff::Timestamp::now())
            .await?,
    ))
}

async fn create_clinic(
    config: &Config,
    slug: String,
    name: String,
    timezone: &str,
    language: &str,
    channels: Vec<ChannelKind>,
    phone: Option<String>,
) -> CliResult {
    let valid_slug = !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_slug {
        return Err("slug must be lowercase letters, digits and '-'".into());
    }
    let phone = phone
        .map(|p| Phone::parse(&p).ok_or(format!("phone {}", Phone::RULE)))
        .transpose()?;
    let store = Store::connect(&config.database_url).await?;
    let clinic = NewClinic {
        slug,
        name,
        timezone: TimeZoneName::parse(timezone).ok_or(TimeZoneName::RULE)?,
        default_language: Language::parse(language).ok_or(Language::RULE)?,
        default_channels: channels,
    };
    let clinic = store.create_clinic(clinic, jiff::Timestamp::now()).await?;
    if let Some(phone) = &phone {
        store.set_clinic_phone(&clinic.id, phone).await?;
    }
    println!("created clinic {} ({})", clinic.slug, clinic.id);
    store.close().await;
    Ok(())
}

async fn create_key(config: &Config, clinic: &str, role: ApiKeyRole) -> CliResult {
    let store = Store::connect(&config.database_url).await?;
    let clinic = store
        .clinic_by_slug(clinic)
        .await
        .map_err(|_| format!("no clinic `{clinic}`"))?;
    let key = store
        .create_api_key(&clinic.id, role, jiff::Timestamp::now())
        .await?;
    println!(
        "created {} key for clinic {}; it is shown only this once:",
        role.as_str(),
        clinic.slug
    );
    println!("{key}");
    store.close().await;
    Ok(())
}
