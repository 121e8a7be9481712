//! `medrelay clinic …`: create a clinic, change its details, its retention periods.

use clap::Subcommand;
use medrelay::Config;
use medrelay::domain::{
    ClinicProfile, Language, ONE_LINE_RULE, Phone, PhoneRegion, TimeZoneName, is_one_line,
};
use medrelay::store::{NewClinic, Store};
use medrelay_channels::ChannelKind;

type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Subcommand)]
pub enum ClinicCommand {
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
pub struct ClinicRetention {
    slug: String,
    /// Days message texts are kept (30 to 3650).
    #[arg(long)]
    message_text_days: Option<u32>,
    /// Days media references are kept (1 to 3650).
    #[arg(long)]
    media_days: Option<u32>,
}

#[derive(Debug, clap::Args)]
pub struct ClinicCreate {
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
pub struct ClinicUpdate {
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

pub async fn create_clinic(config: &Config, command: ClinicCreate) -> CliResult {
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

pub async fn update_clinic(config: &Config, command: ClinicUpdate) -> CliResult {
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

pub async fn clinic_retention(config: &Config, command: ClinicRetention) -> CliResult {
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
