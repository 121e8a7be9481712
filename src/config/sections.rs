//! The settings, section by section. Their default values live in `config/default.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use medrelay_channels::smtp::SmtpConfig;
use medrelay_channels::twilio::TwilioConfig;
use medrelay_channels::whatsapp::WhatsAppConfig;
use medrelay_channels::{ChannelKind, RecipientFact, Secret};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::domain::ReminderOffset;
use crate::outbox::TargetRule;

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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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

/// What one slow, stalled or hostile client may hold, and how long a stop waits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
        crate::clock::later(now, Duration::from_secs(86_400 * u64::from(days)))
    }
}

/// How long an accepted message may go without a delivery receipt before the next channel is
/// tried. Email has no receipt, so it has no timeout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryTimeouts {
    pub whatsapp_ms: u64,
    pub sms_ms: u64,
    pub voice_ms: u64,
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
#[serde(deny_unknown_fields)]
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

/// The reminders `POST /v1/appointments` creates, as offsets before the appointment (`2d`, `2h`,
/// `30m`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentsConfig {
    /// Every clinic's series unless it has its own.
    pub reminder_offsets: Vec<String>,
    /// A clinic's own series, by clinic slug: `[appointments.clinics] hadar = ["1d", "3h"]`.
    pub clinics: BTreeMap<String, Vec<String>>,
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

    pub(super) fn is_valid(&self) -> bool {
        std::iter::once(&self.reminder_offsets)
            .chain(self.clinics.values())
            .flatten()
            .all(|o| ReminderOffset::parse(o).is_some())
    }
}

/// Webhooks to the booking system: how long a try may take, how tries are spaced and for how
/// long, and which targets are allowed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// A receiver that has not answered by then has failed this try.
    pub timeout_ms: u64,
    /// First retry delay; it doubles with each try, with ±20% jitter.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_cap_ms: u64,
    /// How long after its first try a message is retried before it is given up.
    pub retry_for_ms: u64,
    /// An endpoint whose every delivery has failed this long is switched off, with an event.
    pub disable_after_ms: u64,
    /// Messages the sender claims at once.
    pub batch_size: u32,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// How long a claim lasts; a crashed instance's messages are sent again after it.
    pub lease_ms: u64,
    /// How often an idle sender looks for due messages.
    pub poll_interval_ms: u64,
    /// Whether endpoints may be on loopback, private-range or link-local addresses (and on
    /// plain `http://` there).
    pub allow_private_targets: bool,
}

impl WebhooksConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    /// Which targets endpoints may be at.
    pub fn target_rule(&self) -> TargetRule {
        TargetRule::new(self.allow_private_targets, "webhooks.allow_private_targets")
    }
}

/// Pushes to the clinics' FHIR servers. They go out through the same outbox mechanism as the
/// webhooks and share `webhooks`' retry schedule, lease, batch size, concurrency and polling;
/// here is what differs. A push is never given up: the record belongs in the medical file, so it
/// is retried (at most `webhooks.retry_cap_ms` apart) until the server takes it or the clinic
/// removes the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirConfig {
    /// A server that has not answered by then has failed this try.
    pub timeout_ms: u64,
    /// A record whose pushes have failed this long raises an alert: an event for the clinic,
    /// and `medrelay_fhir_push_failing` in `/metrics`.
    pub alert_after_ms: u64,
    /// Whether servers may be on loopback, private-range or link-local addresses (and on plain
    /// `http://` there).
    pub allow_private_targets: bool,
}

impl FhirConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn alert_after(&self) -> Duration {
        Duration::from_millis(self.alert_after_ms)
    }

    /// Which targets servers may be at.
    pub fn target_rule(&self) -> TargetRule {
        TargetRule::new(self.allow_private_targets, "fhir.allow_private_targets")
    }
}

/// The daily run that removes message texts and media past each clinic's retention periods
/// (`/v1/clinic/retention`), at 03:00 in the clinic's time zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// How often an instance looks for a clinic whose run is due.
    pub poll_interval_ms: u64,
    /// Records one transaction removes at most, so a backlog never holds the writer long.
    pub batch_size: u32,
    /// How long a run's claim lasts; it is renewed with every batch, and a crashed instance's
    /// run is taken over once it runs out.
    pub lease_ms: u64,
}

impl RetentionConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}

/// The staff console's sessions and sign-in limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    pub lockout_after: u32,
    pub lockout_minutes: u32,
    pub secure_cookies: bool,
}

impl ConsoleConfig {
    pub fn session_idle(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_mins(i64::from(self.session_idle_minutes.max(1)))
    }

    pub fn session_max(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(i64::from(self.session_max_hours.max(1)))
    }

    pub fn lockout(&self) -> crate::store::Lockout {
        crate::store::Lockout {
            after: self.lockout_after.max(1),
            lock_for: jiff::SignedDuration::from_mins(i64::from(self.lockout_minutes)),
        }
    }
}
