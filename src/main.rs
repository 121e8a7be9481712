//! The `medrelay` command: parses the command line and hands each subcommand to its file in
//! `cli/` (the gateway itself, clinics, API keys, staff accounts), the audit export and the
//! standalone sandbox.

use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

/// mimalloc: the request path allocates many small, short-lived values (JSON, SQL rows, HTTP
/// headers) across threads; glibc's malloc spent about 15 % of the gateway's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use cli::clinic::{ClinicCommand, clinic_retention, create_clinic, update_clinic};
use cli::keys::{ApiKeyCommand, create_key, list_keys, revoke_key};
use cli::serve::serve;
use medrelay::Config;
use medrelay::app::StandaloneSandbox;
use medrelay::audit::export::AuditExport;
use medrelay::logging::{self, LogFormat};
use medrelay::store::Store;

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
enum AuditCommand {
    /// Print a clinic's audit entries as JSON lines, oldest first: the fields of `GET /v1/audit`.
    Export(AuditExport),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let config = match Config::load_named_or_default(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let cores = std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads(cores).get())
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)),
        Err(error) => {
            eprintln!("error: could not start the runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> ExitCode {
    let result = match command {
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

async fn sandbox(config: &Config, listen: std::net::SocketAddr, gateway: url::Url) -> CliResult {
    let sandbox = StandaloneSandbox::build(config, listen, gateway.clone()).await?;
    println!(
        "medrelay sandbox is running on http://{}, reporting to {gateway}",
        sandbox.local_addr()
    );
    sandbox.run().await?;
    Ok(())
}

async fn export_audit(config: &Config, export: &AuditExport) -> CliResult {
    let store = Store::connect(&config.database_url).await?;
    let written = export.run(&store, &mut std::io::stdout().lock()).await?;
    eprintln!("exported {written} audit entries");
    store.close().await;
    Ok(())
}
