//! Configuration: the built-in defaults (`config/default.toml`), then an optional TOML file, then `MEDRELAY_*` environment
//! variables (nested keys joined with `__`, e.g. `MEDRELAY_DISPATCH__BATCH_SIZE=128`).

mod env;
mod observability;
mod sections;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};

use crate::domain::ReminderOffset;
use crate::store::Backend;
use env::{TextEnv, without_value};
pub use observability::{MetricsConfig, TelemetryConfig};
pub use sections::{
    ApiConfig, AppointmentsConfig, ConsoleConfig, DeliveryTimeouts, DispatchConfig, FhirConfig,
    HttpConfig, ProviderAccounts, RetentionConfig, SandboxConfig, SandboxSecrets, SenderRates,
    WebhooksConfig,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// `sqlite://path` (the default, a file created on first start) or `postgres://…`.
    pub database_url: String,
    /// Where the sandbox's look-alike providers reach this gateway's webhooks, e.g.
    /// `https://medrelay.clinic.example`. Unset, it is `http://` and the address the gateway
    /// listens on. Real Twilio callbacks are checked against the callback URLs of the Twilio
    /// account, not this.
    pub public_url: Option<String>,
    /// Create the clinic `demo` with an admin key on first start when there is no clinic yet.
    pub bootstrap_demo: bool,
    /// Threads that run requests and delivery; unset, see [`Config::worker_threads`].
    pub worker_threads: Option<NonZeroUsize>,
    /// Provider accounts for every clinic without its own. Credentials belong in the environment
    /// (`MEDRELAY_PROVIDERS__WHATSAPP__ACCESS_TOKEN=…`); they are never printed.
    #[serde(default, skip_serializing)]
    pub providers: ProviderAccounts,
    /// Provider accounts of one clinic, by clinic slug: each channel set here replaces the
    /// default account for that clinic.
    #[serde(default, skip_serializing)]
    pub clinics: BTreeMap<String, ProviderAccounts>,
    pub senders: SenderRates,
    pub api: ApiConfig,
    pub http: HttpConfig,
    pub dispatch: DispatchConfig,
    pub delivery_timeout: DeliveryTimeouts,
    pub sandbox: SandboxConfig,
    pub appointments: AppointmentsConfig,
    pub webhooks: WebhooksConfig,
    pub retention: RetentionConfig,
    pub fhir: FhirConfig,
    pub console: ConsoleConfig,
    pub metrics: MetricsConfig,
    pub telemetry: TelemetryConfig,
}

/// The defaults, commented, as they ship: `config/default.toml`.
pub const DEFAULTS: &str = include_str!("../../config/default.toml");

impl Default for Config {
    /// The settings of `config/default.toml`, which a test proves complete and valid.
    fn default() -> Self {
        Figment::from(Toml::string(DEFAULTS))
            .extract()
            .expect("config/default.toml holds every setting (checked by a test)")
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
    /// The runtime's worker threads on a machine with `cores`: `worker_threads` if set, else
    /// one a core, less one on SQLite. There every write waits for SQLite's one writer, which
    /// works on a thread of its own; a worker for each core competes with it for the cores and
    /// wakes threads to no gain (`bench/external/run.py`, 2 cores: one worker took 9 % less CPU
    /// a notification and delivered 8 % more a second). PostgreSQL writes in its own processes,
    /// and there one worker delivered 11 % less.
    pub fn worker_threads(&self, cores: NonZeroUsize) -> NonZeroUsize {
        match (self.worker_threads, Backend::of_url(&self.database_url)) {
            (Some(threads), _) => threads,
            (None, Some(Backend::Sqlite)) => NonZeroUsize::new(cores.get() - 1).unwrap_or(cores),
            (None, _) => cores,
        }
    }

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

/// The configuration file read when none is named, if it exists.
pub const DEFAULT_FILE: &str = "medrelay.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Every setting that could not be read, each by its key and where it came from. Never the
    /// value: it may be a credential.
    #[error("configuration: {}", .0.join("; "))]
    Read(Vec<String>),
    #[error("configuration: the file {} does not exist (named by --config or MEDRELAY_CONFIG)", .0.display())]
    Missing(std::path::PathBuf),
    #[error("configuration: {key} {rule}")]
    Invalid {
        key: &'static str,
        rule: &'static str,
    },
}

impl Config {
    /// Defaults ← the file `named` (which must exist), or without one `medrelay.toml` in the
    /// working directory if there is one ← `MEDRELAY_*` environment.
    pub fn load_named_or_default(named: Option<&Path>) -> Result<Self, ConfigError> {
        let default = Path::new(DEFAULT_FILE);
        Self::load(named.or_else(|| default.is_file().then_some(default)))
    }

    /// Defaults ← `file` (if given, it must exist) ← `MEDRELAY_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            // Figment skips a missing file; a named one that is missing is a typo to refuse.
            if !file.is_file() {
                return Err(ConfigError::Missing(file.to_owned()));
            }
            figment = figment.merge(Toml::file(file));
        }
        // MEDRELAY_CONFIG names the file, MEDRELAY_LOG_FORMAT is the command's, MEDRELAY_KEY holds a client's key in the README's
        // examples, MEDRELAY_STAFF_PASSWORD is `medrelay staff`'s input, and MEDRELAY_TEST_* /
        // MEDRELAY_BENCH_* belong to the test suite and benchmark.
        let env = Env::prefixed("MEDRELAY_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                !(key == "config"
                    || key == "log_format"
                    || key == "key"
                    || key == "staff_password"
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
        let checks: [(bool, &'static str, &'static str); 17] = [
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
                self.retention.batch_size >= 1,
                "retention.batch_size",
                "must be at least 1",
            ),
            (
                self.retention.lease_ms >= 1000,
                "retention.lease_ms",
                "must be at least 1000",
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
                self.metrics.sample_interval_ms >= 100
                    && self.metrics.status_sample_interval_ms >= 100,
                "metrics.sample_interval_ms and metrics.status_sample_interval_ms",
                "must be at least 100",
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
