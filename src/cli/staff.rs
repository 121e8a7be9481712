//! `medrelay staff …`: console accounts from the command line, for the first admin of a clinic
//! and for an admin locked out of the console.

use std::io::{BufRead, IsTerminal};

use medrelay::Config;
use medrelay::console::accounts::{self, NewAccount};
use medrelay::console::password;
use medrelay::domain::{StaffId, UiLanguage};
use medrelay::store::{ApiKeyRole, Store};

#[derive(Debug, clap::Subcommand)]
pub enum StaffCommand {
    /// Add a person to a clinic. The password is read from MEDRELAY_STAFF_PASSWORD, else asked
    /// for on the terminal, else read as the first line of standard input.
    Add {
        #[arg(long)]
        clinic: String,
        /// Their sign-in name.
        #[arg(long)]
        email: String,
        /// Their full name, as the records show who did what.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "staff")]
        role: ApiKeyRole,
        /// The console's language for them: he or en.
        #[arg(long, default_value = "he")]
        language: String,
    },
    /// List a clinic's people: id, email, name, role, second factor, disabled.
    List {
        #[arg(long)]
        clinic: String,
    },
    /// Set a new password (read as for `add`), which also unlocks the account and signs the
    /// person out everywhere.
    Password {
        #[arg(long)]
        clinic: String,
        /// The person's id (`stf_…`).
        id: String,
    },
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

pub async fn run(config: &Config, command: StaffCommand) -> CliResult {
    let store = Store::connect(&config.database_url).await?;
    let result = match command {
        StaffCommand::Add {
            clinic,
            email,
            name,
            role,
            language,
        } => add(&store, &clinic, &email, &name, role, &language).await,
        StaffCommand::List { clinic } => list(&store, &clinic).await,
        StaffCommand::Password { clinic, id } => reset_password(&store, &clinic, &id).await,
    };
    store.close().await;
    result
}

async fn clinic_id(store: &Store, slug: &str) -> Result<medrelay::domain::ClinicId, String> {
    store
        .clinic_by_slug(slug)
        .await
        .map(|clinic| clinic.id)
        .map_err(|_| format!("no clinic `{slug}`"))
}

/// The password from the environment, the terminal (not echoed) or standard input.
fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    if let Ok(password) = std::env::var("MEDRELAY_STAFF_PASSWORD") {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(
            "password (at least 10 characters): ",
        )?);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn add(
    store: &Store,
    clinic: &str,
    email: &str,
    name: &str,
    role: ApiKeyRole,
    language: &str,
) -> CliResult {
    let clinic = clinic_id(store, clinic).await?;
    let language = UiLanguage::parse(language).ok_or("language must be he or en")?;
    let member = accounts::add_member(
        store,
        NewAccount {
            clinic: &clinic,
            email,
            name,
            role,
            language,
            password: read_password()?,
        },
        jiff::Timestamp::now(),
    )
    .await?;
    println!(
        "added {} {} ({})",
        member.role.as_str(),
        member.name,
        member.id
    );
    Ok(())
}

async fn list(store: &Store, clinic: &str) -> CliResult {
    let clinic = clinic_id(store, clinic).await?;
    println!("id\temail\tname\trole\tsecond factor\tdisabled");
    for m in store.staff_members(&clinic).await? {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            m.id,
            m.email,
            m.name,
            m.role.as_str(),
            if m.second_factor { "totp" } else { "-" },
            if m.disabled { "yes" } else { "no" }
        );
    }
    Ok(())
}

async fn reset_password(store: &Store, clinic: &str, id: &str) -> CliResult {
    let clinic = clinic_id(store, clinic).await?;
    let id = StaffId::parse(id).ok_or("the id is a staff id: stf_…")?;
    let hash = password::hash(read_password()?).await?;
    store
        .set_staff_password(&clinic, &id, &hash)
        .await
        .map_err(|_| format!("no staff member {id} in that clinic"))?;
    store.end_sessions_of(&id).await?;
    println!("password set for {id}; their sessions ended");
    Ok(())
}
