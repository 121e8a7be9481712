//! `medrelay apikey …`: create, list and revoke a clinic's API keys.

use clap::Subcommand;
use medrelay::Config;
use medrelay::domain::ApiKeyId;
use medrelay::store::{ApiKeyRole, Store, StoreError};

type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
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

pub async fn create_key(config: &Config, clinic: &str, role: ApiKeyRole) -> CliResult {
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

pub async fn list_keys(config: &Config, clinic: &str) -> CliResult {
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

pub async fn revoke_key(config: &Config, clinic: &str, id: &str) -> CliResult {
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
