//! Configuration: built-in defaults, then an optional TOML file, then `MEDRELAY_*` environment
//! variables (nested keys joined with `__`, e.g. `MEDRELAY_DISPATCH__BATCH_SIZE=128`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use medrelay_channels::smtp::SmtpConfig;
use medrelay_channels::twilio::TwilioConfig;
use medrelay_channels::whatsapp::WhatsAppConfig;
use medrelay_channels::{ChannelKind, RecipientFact, Secret};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::policy::ReminderOffset;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// `sqlite://path` (the default, a file created on first start) or `postgres://…`.
    pub database_url: String,
    /// Where providers reach this gateway's webhooks, e.g. `https://medrelay.clinic.example`.
    /// Unset, it is `http://` and the address the gateway listens on.
    pub public_url: Option<String>,
    /// Create the clinic `demo` with an admin key on first start when there is no clinic yet.
    pub bootstrap_demo: bool,
    /// Provider accounts for every clinic without its own. Credentials belong in the environment
    /// (`MEDRELAY_PROVIDERS__WHATSAPP__ACCESS_TOKEN=…`); they are never printed.
    #[serde(skip_serializing)]
    pub providers: ProviderAccounts,
    /// Provider accounts of one clinic, by clinic slug: each channel set here replaces the
    /// default account for that clinic.
    #[serde(skip_serializing)]
    pub clinics: BTreeMap<String, ProviderAccounts>,
    pub senders: SenderRates,
    pub api: ApiConfig,
    pub http: HttpConfig,
    pub dispatch: DispatchConfig,
    pub delivery_timeout: DeliveryTimeouts,
    pub sandbox: SandboxConfig,
    pub appointments: AppointmentsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://medrelay.db".to_owned(),
            public_url: None,
            bootstrap_demo: true,
            providers: ProviderAccounts::default(),
            clinics: BTreeMap::new(),
            senders: SenderRates::default(),
            api: ApiConfig::default(),
            http: HttpConfig::default(),
            dispatch: DispatchConfig::default(),
            delivery_timeout: DeliveryTimeouts::default(),
            sandbox: SandboxConfig::default(),
            appointments: AppointmentsConfig::default(),
        }
    }
}

/// One set of provider accounts. A channel left out is served by the sandbox when it is
/// enabled, and is not available otherwise.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderAccounts {
    /// Meta WhatsApp Cloud API: one business number.
    pub whatsapp: Option<WhatsAppConfig>,
    /// Twilio: the account, with `sms` and `voice` set up separately.
    pub twilio: Option<TwilioConfig>,
    /// The SMTP relay for email.
    pub smtp: Option<SmtpConfig>,
}

impl ProviderAccounts {
    pub fn has_any(&self) -> bool {
        self.whatsapp.is_some() || self.twilio.is_some() || self.smtp.is_some()
    }
}

/// Messages per second one sender (a WhatsApp number, a Twilio account, an SMTP relay) is
/// handed, at the providers' documented defaults. Above it the dispatcher waits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SenderRates {
    /// Meta: 80 messages/s per business number.
    pub whatsapp_per_second: u32,
    /// Twilio: plan for 10 segments/s per sender in Israel.
    pub sms_per_second: u32,
    /// Twilio: 1 call/s per account.
    pub voice_per_second: u32,
    /// SMTP relays publish no common figure; a modest default keeps a clinic off blocklists.
    pub email_per_second: u32,
}

impl Default for SenderRates {
    fn default() -> Self {
        Self {
            whatsapp_per_second: 80,
            sms_per_second: 10,
            voice_per_second: 1,
            email_per_second: 20,
        }
    }
}

impl SenderRates {
    pub fn for_channel(&self, channel: ChannelKind) -> u32 {
        match channel {
            ChannelKind::Whatsapp => self.whatsapp_per_second,
            ChannelKind::Sms => self.sms_per_second,
            ChannelKind::Voice => self.voice_per_second,
            ChannelKind::Email => self.email_per_second,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Sustained requests per second allowed for one API key.
    pub key_rate_per_second: u32,
    /// Requests one API key may send in a burst above the sustained rate.
    pub key_burst: u32,
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: usize,
    /// Longest message `body` accepted, in characters (WhatsApp's limit).
    pub max_body_chars: usize,
    /// Non-urgent notifications one patient may get in any 24 hours; more are refused with 429
    /// `patient_limit`. Urgent ones and appointment reminders are not counted. 0 turns it off.
    pub patient_daily_cap: u32,
    /// Urgent notifications one patient may get in any 24 hours, counted apart from the normal
    /// cap: urgent ones skip clinic and quiet hours. 0 turns it off.
    pub patient_daily_urgent_cap: u32,
    /// Clinics (by slug) whose booking keys may send `"priority": "urgent"`. Elsewhere only
    /// staff and admin keys may: a booking integration gone wrong must not text patients at
    /// night.
    pub booking_urgent_clinics: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            key_rate_per_second: 200,
            key_burst: 400,
            max_request_bytes: 64 * 1024,
            max_body_chars: 4096,
            patient_daily_cap: 5,
            patient_daily_urgent_cap: 10,
            booking_urgent_clinics: Vec::new(),
        }
    }
}

/// What one slow, stalled or hostile client may hold, and how long a stop waits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Connections served at once; more wait in the kernel's queue until one closes. Keep it
    /// well under the open-file limit, so the database always has files to open.
    pub max_connections: u32,
    /// A connection that has not sent a whole request line and headers this long after it
    /// opened (or after its last response) is closed.
    pub header_read_timeout_ms: u64,
    /// A request body that sends nothing for this long is cut off.
    pub body_timeout_ms: u64,
    /// Longest a request may take from its headers to its answer; past it, `408`.
    pub request_timeout_ms: u64,
    /// Provider webhook bodies read at once; more are answered `503` with `Retry-After`, and
    /// the provider sends them again.
    pub webhook_bodies_in_flight: u32,
    /// Failed API key checks (unknown or wrong keys) one client address may make per second
    /// before it gets `429`; each costs a database read.
    pub auth_failures_per_second: u32,
    /// Failed key checks one client address may make in a burst above that rate.
    pub auth_failure_burst: u32,
    /// On SIGTERM or ctrl-c: how long in-flight requests and provider hand-overs may take to
    /// finish before the gateway exits anyway.
    pub shutdown_grace_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            webhook_bodies_in_flight: 64,
            auth_failures_per_second: 5,
            auth_failure_burst: 20,
            shutdown_grace_ms: 20_000,
        }
    }
}

impl HttpConfig {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Notifications one dispatcher worker claims at a time. Small batches keep each write short,
    /// so new notifications never wait long behind delivery work on SQLite.
    pub batch_size: u32,
    /// Concurrent dispatcher workers in this instance.
    pub workers: u32,
    /// How long a claim lasts; a crashed instance's work is claimed again after it.
    pub lease_ms: u64,
    /// How often an idle dispatcher looks for due work (new notifications wake it at once).
    pub poll_interval_ms: u64,
    /// Tries on one channel before falling back to the next, counting the first.
    pub max_tries_per_channel: u32,
    /// First retry delay; it doubles with each try, with ±20% jitter.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_cap_ms: u64,
    /// How long a channel is paused for a clinic when its provider account is unusable (bad
    /// credentials, billing, a locked account) before it is tried again.
    pub channel_down_pause_ms: u64,
    /// A busy or unanswered call is made once more after this long, then the next channel.
    pub unanswered_call_retry_ms: u64,
    /// How long a provider's word that a number is not on WhatsApp, or is a landline, is
    /// trusted before the channel is tried again.
    pub remember_recipient_facts_days: u32,
    /// How long an unsubscribe reported by a provider (STOP) keeps a channel closed.
    pub remember_opt_outs_days: u32,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            workers: 4,
            lease_ms: 30_000,
            poll_interval_ms: 100,
            max_tries_per_channel: 3,
            retry_base_ms: 2_000,
            retry_cap_ms: 300_000,
            unanswered_call_retry_ms: 600_000,
            channel_down_pause_ms: 900_000,
            remember_recipient_facts_days: 30,
            remember_opt_outs_days: 3650,
        }
    }
}

impl DispatchConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    /// Until when what a provider said about an address (learned `now`) is trusted.
    pub fn remember_until(&self, fact: RecipientFact, now: jiff::Timestamp) -> jiff::Timestamp {
        let days = match fact {
            RecipientFact::OptedOut => self.remember_opt_outs_days,
            RecipientFact::NotOnWhatsapp | RecipientFact::Landline => {
                self.remember_recipient_facts_days
            }
        };
        now.checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days)))
            .unwrap_or(now)
    }
}

/// How long an accepted message may go without a delivery receipt before the next channel is
/// tried. Email has no receipt, so it has no timeout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryTimeouts {
    pub whatsapp_ms: u64,
    pub sms_ms: u64,
    pub voice_ms: u64,
}

impl Default for DeliveryTimeouts {
    fn default() -> Self {
        Self {
            whatsapp_ms: 10 * 60_000,
            sms_ms: 15 * 60_000,
            voice_ms: 5 * 60_000,
        }
    }
}

impl DeliveryTimeouts {
    pub fn for_channel(&self, channel: ChannelKind) -> Option<Duration> {
        match channel {
            ChannelKind::Whatsapp => Some(Duration::from_millis(self.whatsapp_ms)),
            ChannelKind::Sms => Some(Duration::from_millis(self.sms_ms)),
            ChannelKind::Voice => Some(Duration::from_millis(self.voice_ms)),
            ChannelKind::Email => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Serve look-alikes of Meta's and Twilio's APIs and an SMTP server, and send every channel a
    /// clinic has no account for there. Unset, it is on only for a trial set-up (no provider
    /// account, listening on loopback); anything else must say `true` or `false`, so that a
    /// production gateway never hands patients' messages to the sandbox by accident.
    pub enabled: Option<bool>,
    /// The credentials the adapters present to the sandbox and it signs status callbacks with.
    /// Unset, they are random for each process; a sandbox running as its own process and the
    /// gateway using it share them through this setting.
    #[serde(skip_serializing)]
    pub secrets: Option<SandboxSecrets>,
    /// Where the sandbox's SMTP server listens (port 0: any free port).
    pub smtp_listen: SocketAddr,
    /// How long the real adapters wait for the sandbox's answer; `+972500000009` is answered
    /// only after this, so the send is ambiguous.
    pub request_timeout_ms: u64,
    /// After accepting, the sandbox reports `delivered` this much later.
    pub delivery_delay_ms: u64,
    /// The sandbox reports a WhatsApp message `read` this much after delivery.
    pub read_delay_ms: u64,
    /// The sandbox has no provider throughput cap; its senders use this rate instead.
    pub sender_rate_per_second: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            enabled: None,
            secrets: None,
            smtp_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            request_timeout_ms: 5_000,
            delivery_delay_ms: 500,
            read_delay_ms: 2_000,
            sender_rate_per_second: 20_000,
        }
    }
}

/// The sandbox's own credentials. Random for each process unless configured: nobody outside can
/// sign a status callback the gateway accepts as the sandbox's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSecrets {
    pub whatsapp_access_token: Secret,
    pub whatsapp_app_secret: Secret,
    pub whatsapp_verify_token: Secret,
    pub twilio_auth_token: Secret,
}

impl SandboxSecrets {
    pub fn random() -> Self {
        let random = || {
            Secret::new(
                rand::rng()
                    .sample_iter(rand::distr::Alphanumeric)
                    .take(40)
                    .map(char::from)
                    .collect::<String>(),
            )
        };
        Self {
            whatsapp_access_token: random(),
            whatsapp_app_secret: random(),
            whatsapp_verify_token: random(),
            twilio_auth_token: random(),
        }
    }
}

/// Why the gateway will not decide on its own whether to run the sandbox.
#[derive(Debug, thiserror::Error)]
#[error(
    "sandbox.enabled must be set to true or false (MEDRELAY_SANDBOX__ENABLED) when {reason}: \
     the sandbox would take the messages of every channel without an account, and nothing it \
     takes reaches a patient"
)]
pub struct SandboxUndecided {
    reason: &'static str,
}

impl Config {
    /// Whether the sandbox runs. Unset, it runs only for a trial set-up: no provider account
    /// configured and the API listening on loopback.
    pub fn sandbox_enabled(&self) -> Result<bool, SandboxUndecided> {
        if let Some(enabled) = self.sandbox.enabled {
            return Ok(enabled);
        }
        let has_accounts = std::iter::once(&self.providers)
            .chain(self.clinics.values())
            .any(ProviderAccounts::has_any);
        if has_accounts {
            Err(SandboxUndecided {
                reason: "provider accounts are configured",
            })
        } else if !self.listen.ip().is_loopback() {
            Err(SandboxUndecided {
                reason: "listen is not a loopback address",
            })
        } else if !self.public_url_is_loopback() {
            // A reverse proxy on the same machine makes a loopback listener public.
            Err(SandboxUndecided {
                reason: "public_url is not a loopback address",
            })
        } else {
            Ok(true)
        }
    }
}

impl Config {
    /// Whether `public_url` is unset or names this machine by a loopback name or address.
    fn public_url_is_loopback(&self) -> bool {
        let Some(url) = &self.public_url else {
            return true;
        };
        match url::Url::parse(url)
            .ok()
            .and_then(|u| u.host().map(|h| h.to_owned()))
        {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            // Not a URL at all: start-up refuses it on its own.
            None => true,
        }
    }
}

/// The reminders `POST /v1/appointments` creates, as offsets before the appointment (`2d`, `2h`,
/// `30m`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppointmentsConfig {
    /// Every clinic's series unless it has its own.
    pub reminder_offsets: Vec<String>,
    /// A clinic's own series, by clinic slug: `[appointments.clinics] hadar = ["1d", "3h"]`.
    pub clinics: BTreeMap<String, Vec<String>>,
}

impl Default for AppointmentsConfig {
    fn default() -> Self {
        Self {
            reminder_offsets: vec!["2d".to_owned(), "2h".to_owned()],
            clinics: BTreeMap::new(),
        }
    }
}

impl AppointmentsConfig {
    /// The series for the clinic `slug` (offsets were checked when the configuration loaded).
    pub fn offsets_for(&self, slug: &str) -> Vec<ReminderOffset> {
        self.clinics
            .get(slug)
            .unwrap_or(&self.reminder_offsets)
            .iter()
            .filter_map(|o| ReminderOffset::parse(o))
            .collect()
    }

    fn is_valid(&self) -> bool {
        std::iter::once(&self.reminder_offsets)
            .chain(self.clinics.values())
            .flatten()
            .all(|o| ReminderOffset::parse(o).is_some())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Every setting that could not be read, each by its key and where it came from. Never the
    /// value: it may be a credential.
    #[error("configuration: {}", .0.join("; "))]
    Read(Vec<String>),
    #[error("configuration: {key} {rule}")]
    Invalid {
        key: &'static str,
        rule: &'static str,
    },
}

impl Config {
    /// Defaults ← `file` (if given and present) ← `MEDRELAY_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file(file));
        }
        // MEDRELAY_CONFIG names the file, MEDRELAY_KEY holds a client's key in the README's
        // examples, and MEDRELAY_TEST_* / MEDRELAY_BENCH_* belong to the test suite and benchmark.
        let env = Env::prefixed("MEDRELAY_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                !(key == "config"
                    || key == "key"
                    || key.starts_with("test_")
                    || key.starts_with("bench_"))
            })
            .split("__");
        figment
            .merge(TextEnv(env))
            // Text from the environment becomes a number or a flag where the setting is one.
            .extract_lossy::<Config>()
            .map_err(|e| ConfigError::Read(e.into_iter().map(|e| without_value(&e)).collect()))?
            .validated()
    }

    /// Refuses settings that would stall or spin the gateway.
    fn validated(self) -> Result<Self, ConfigError> {
        let checks: [(bool, &'static str, &'static str); 14] = [
            (
                self.dispatch.batch_size >= 1,
                "dispatch.batch_size",
                "must be at least 1",
            ),
            (
                self.dispatch.workers >= 1,
                "dispatch.workers",
                "must be at least 1",
            ),
            (
                self.dispatch.lease_ms >= 100,
                "dispatch.lease_ms",
                "must be at least 100",
            ),
            (
                self.dispatch.max_tries_per_channel >= 1,
                "dispatch.max_tries_per_channel",
                "must be at least 1",
            ),
            (
                self.api.key_rate_per_second >= 1,
                "api.key_rate_per_second",
                "must be at least 1",
            ),
            (
                self.http.max_connections >= 1,
                "http.max_connections",
                "must be at least 1",
            ),
            (
                self.http.header_read_timeout_ms >= 1,
                "http.header_read_timeout_ms",
                "must be at least 1",
            ),
            (
                self.http.body_timeout_ms >= 1 && self.http.request_timeout_ms >= 1,
                "http.body_timeout_ms and http.request_timeout_ms",
                "must be at least 1",
            ),
            (
                self.http.webhook_bodies_in_flight >= 1,
                "http.webhook_bodies_in_flight",
                "must be at least 1",
            ),
            (
                self.http.auth_failures_per_second >= 1,
                "http.auth_failures_per_second",
                "must be at least 1",
            ),
            (
                self.sandbox.sender_rate_per_second >= 1,
                "sandbox.sender_rate_per_second",
                "must be at least 1",
            ),
            (
                self.sandbox.request_timeout_ms >= 1,
                "sandbox.request_timeout_ms",
                "must be at least 1",
            ),
            (
                ChannelKind::ALL
                    .into_iter()
                    .all(|c| self.senders.for_channel(c) >= 1),
                "senders",
                "every rate must be at least 1 per second",
            ),
            (
                self.appointments.is_valid(),
                "appointments.reminder_offsets",
                ReminderOffset::RULE,
            ),
        ];
        match checks.into_iter().find(|(ok, _, _)| !ok) {
            Some((_, key, rule)) => Err(ConfigError::Invalid { key, rule }),
            None => Ok(self),
        }
    }
}

/// `MEDRELAY_*` variables as the text they are. figment's own `Env` guesses a type from the
/// value, so a WhatsApp phone number id or an SMTP password made of digits arrives as a number
/// and a text setting refuses it; here only a list or table (`[…]`, `{…}`) is parsed, and each
/// setting's own type decides the rest.
struct TextEnv(Env);

impl figment::Provider for TextEnv {
    fn metadata(&self) -> figment::Metadata {
        self.0.metadata()
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (key, text) in self.0.iter() {
            let trimmed = text.trim_start();
            let value = match text.parse::<figment::value::Value>() {
                Ok(
                    parsed @ (figment::value::Value::Array(..) | figment::value::Value::Dict(..)),
                ) if trimmed.starts_with('[') || trimmed.starts_with('{') => parsed,
                _ => figment::value::Value::from(text.as_str()),
            };
            insert_at(&mut dict, key.as_str(), value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Puts `value` at the dotted `key` in `dict`, beside what is already there.
fn insert_at(dict: &mut figment::value::Dict, key: &str, value: figment::value::Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((first, rest)) => match dict.get_mut(first) {
            Some(figment::value::Value::Dict(_, inner)) => insert_at(inner, rest, value),
            _ => {
                dict.insert(first.to_owned(), figment::util::nest(rest, value));
            }
        },
    }
}

/// A configuration error by key, source and rule, leaving out the value figment would print.
fn without_value(error: &figment::Error) -> String {
    use figment::error::{Actual, Kind};

    let kind_of = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "text",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    };
    let rule = match &error.kind {
        Kind::InvalidType(actual, expected) => {
            format!("must be {expected}, not {}", kind_of(actual))
        }
        Kind::InvalidValue(_, expected) | Kind::InvalidLength(_, expected) => {
            format!("must be {expected}")
        }
        Kind::UnknownVariant(_, expected) => format!("must be one of {}", expected.join(", ")),
        Kind::UnknownField(..) => "is not a known setting".to_owned(),
        Kind::MissingField(field) => format!("needs `{field}`"),
        Kind::DuplicateField(field) => format!("has `{field}` twice"),
        // A TOML syntax error's first line says where; the lines after it quote the file.
        Kind::Message(message) if message.starts_with("TOML parse error at line") => {
            message.lines().next().unwrap_or_default().to_owned()
        }
        _ => "is not valid".to_owned(),
    };
    let mut said = if error.path.is_empty() {
        rule
    } else {
        format!("`{}` {rule}", error.path.join("."))
    };
    if let Some(metadata) = &error.metadata {
        said.push_str(&format!(" (from {}", metadata.name));
        if let Some(figment::Source::File(path)) = &metadata.source {
            said.push_str(&format!(" {}", path.display()));
        }
        said.push(')');
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
