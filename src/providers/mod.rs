//! Provider accounts per clinic: the adapters each clinic sends through, each sender's rate, and
//! the secrets provider webhooks are signed with.
//!
//! A clinic's channel comes from its own account in `clinics.<slug>`, else the default account
//! in `providers`, else the sandbox when it is enabled. The same adapters talk to Meta, Twilio
//! and SMTP relays in production and to the sandbox's look-alikes everywhere else.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use medrelay_channels::smtp::{SmtpConfig, SmtpEmail};
use medrelay_channels::twilio::{Hook, TwilioConfig, TwilioSms, TwilioVoice, VoiceLanguage};
use medrelay_channels::whatsapp::{WhatsAppCloud, WhatsAppConfig, WhatsAppMedia};
use medrelay_channels::{Channel, ChannelKind, Secret};

mod senders;

pub use senders::SenderLimits;

use crate::config::{Config, ProviderAccounts};
use crate::store::ClinicScope;

#[derive(Debug, thiserror::Error)]
pub enum ProviderSetupError {
    #[error("{scope}.whatsapp: {source}")]
    WhatsApp {
        scope: String,
        source: medrelay_channels::whatsapp::WhatsAppSetupError,
    },
    #[error("{scope}.{source}")]
    Twilio {
        scope: String,
        source: medrelay_channels::twilio::ConfigError,
    },
    #[error("{scope}.smtp: {source}")]
    Smtp {
        scope: String,
        source: medrelay_channels::smtp::SmtpSetupError,
    },
}

/// A WhatsApp business number whose webhooks we accept.
#[derive(Debug, Clone)]
pub struct WhatsAppAccount {
    pub phone_number_id: String,
    pub app_secret: Secret,
    pub verify_token: Secret,
    /// Fetches the media patients send to this number, with the account's token.
    pub media: Arc<WhatsAppMedia>,
}

/// A Twilio account whose callbacks we accept, the senders (numbers, messaging services) we
/// send through it, the callback URLs it was given, which its signatures cover, and how its
/// calls speak each language (for the answer to a key press).
#[derive(Debug, Clone)]
pub struct TwilioAccount {
    pub auth_token: Secret,
    pub senders: Vec<String>,
    pub hooks: Vec<(Hook, url::Url)>,
    pub voices: BTreeMap<String, VoiceLanguage>,
}

impl TwilioAccount {
    /// The URLs `hook` was given to Twilio as, by every clinic that uses this account.
    pub fn hook_urls(&self, hook: Hook) -> impl Iterator<Item = &url::Url> {
        self.hooks
            .iter()
            .filter(move |(h, _)| *h == hook)
            .map(|(_, url)| url)
    }
}

/// The adapters of one clinic, by channel.
#[derive(Clone, Default)]
struct ChannelSet {
    by_kind: HashMap<ChannelKind, Arc<dyn Channel>>,
    /// The channels whose adapter talks to the sandbox.
    sandboxed: HashSet<ChannelKind>,
}

impl ChannelSet {
    /// Takes from `fallback` every channel this set has no adapter for.
    fn fill_from(&mut self, fallback: &ChannelSet) {
        for (kind, channel) in &fallback.by_kind {
            if !self.by_kind.contains_key(kind) {
                self.by_kind.insert(*kind, Arc::clone(channel));
                if fallback.sandboxed.contains(kind) {
                    self.sandboxed.insert(*kind);
                }
            }
        }
    }

    /// The sandboxed channels, in the usual order.
    fn sandboxed(&self) -> Vec<ChannelKind> {
        ChannelKind::ALL
            .into_iter()
            .filter(|kind| self.sandboxed.contains(kind))
            .collect()
    }
}

impl std::fmt::Debug for ChannelSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_kind.keys()).finish()
    }
}

/// Every clinic's adapters, and what provider webhooks are checked against.
#[derive(Debug, Default)]
pub struct Providers {
    default: ChannelSet,
    by_clinic: HashMap<String, ChannelSet>,
    whatsapp: Vec<WhatsAppAccount>,
    /// Twilio accounts by account SID.
    twilio: HashMap<String, TwilioAccount>,
    /// (channel, sender id, messages per second) of every sender.
    rates: Vec<(ChannelKind, String, u32)>,
}

/// Builds adapters once per account, so clinics sharing an account share its adapters.
struct Builder<'a> {
    config: &'a Config,
    providers: Providers,
}

impl Providers {
    /// The adapters `config` describes; channels without an account use `sandbox` when given.
    pub fn build(
        config: &Config,
        sandbox: Option<&ProviderAccounts>,
    ) -> Result<Self, ProviderSetupError> {
        let mut builder = Builder {
            config,
            providers: Providers::default(),
        };
        let sandbox_set = match sandbox {
            Some(accounts) => builder.set("sandbox", accounts, true)?,
            None => ChannelSet::default(),
        };
        builder.providers.default = builder.set("providers", &config.providers, false)?;
        builder.providers.default.fill_from(&sandbox_set);
        for (slug, accounts) in &config.clinics {
            let mut set = builder.set(&format!("clinics.{slug}"), accounts, false)?;
            set.fill_from(&builder.providers.default);
            // Environment variable names cannot hold '-', and slugs never hold '_': in
            // `MEDRELAY_CLINICS__HADAR_HAIFA__…` the key `hadar_haifa` means `hadar-haifa`.
            builder
                .providers
                .by_clinic
                .insert(slug.replace('_', "-"), set);
        }
        Ok(builder.providers)
    }

    /// The adapter `clinic` sends `channel` messages through, if it has one.
    pub fn channel(&self, clinic_slug: &str, channel: ChannelKind) -> Option<&Arc<dyn Channel>> {
        self.by_clinic
            .get(clinic_slug)
            .unwrap_or(&self.default)
            .by_kind
            .get(&channel)
    }

    /// Whether `clinic`'s `channel` messages go to the sandbox: nothing sent there reaches a
    /// patient.
    pub fn is_sandboxed(&self, clinic_slug: &str, channel: ChannelKind) -> bool {
        self.by_clinic
            .get(clinic_slug)
            .unwrap_or(&self.default)
            .sandboxed
            .contains(&channel)
    }

    /// The channels that go to the sandbox: first those of every clinic without its own
    /// accounts (`None`), then those of each clinic configured by slug.
    pub fn sandboxed_channels(&self) -> Vec<(Option<&str>, Vec<ChannelKind>)> {
        let mut clinics: Vec<_> = self.by_clinic.iter().collect();
        clinics.sort_by_key(|(slug, _)| slug.as_str());
        std::iter::once((None, self.default.sandboxed()))
            .chain(
                clinics
                    .into_iter()
                    .map(|(slug, set)| (Some(slug.as_str()), set.sandboxed())),
            )
            .filter(|(_, channels)| !channels.is_empty())
            .collect()
    }

    /// Who has no channel at all to send on (no account and no sandbox): the clinics without
    /// accounts of their own, then clinics by slug.
    pub fn without_channels(&self) -> Vec<String> {
        let default = self
            .default
            .by_kind
            .is_empty()
            .then(|| "clinics without accounts of their own".to_owned());
        let mut clinics: Vec<String> = self
            .by_clinic
            .iter()
            .filter(|(_, set)| set.by_kind.is_empty())
            .map(|(slug, _)| slug.clone())
            .collect();
        clinics.sort();
        default.into_iter().chain(clinics).collect()
    }

    /// The WhatsApp numbers whose webhooks are accepted.
    pub fn whatsapp_accounts(&self) -> &[WhatsAppAccount] {
        &self.whatsapp
    }

    /// The account of WhatsApp number `phone_number_id`, if we have it.
    pub fn whatsapp_account(&self, phone_number_id: &str) -> Option<&WhatsAppAccount> {
        self.whatsapp
            .iter()
            .find(|account| account.phone_number_id == phone_number_id)
    }

    /// A Twilio account we send through.
    pub fn twilio_account(&self, account_sid: &str) -> Option<&TwilioAccount> {
        self.twilio.get(account_sid)
    }

    /// The clinics a patient's message to one of `senders` (sender ids, as the adapters name
    /// them) may be for: those that send through one of them. A number of the shared account
    /// (`providers`, or the sandbox) serves every clinic but those with their own account for
    /// the channel.
    pub fn clinics_using(&self, senders: &[String]) -> ClinicScope {
        let uses = |set: &ChannelSet| {
            set.by_kind
                .values()
                .any(|channel| senders.iter().any(|s| s == channel.sender_id()))
        };
        let mut using = Vec::new();
        let mut not_using = Vec::new();
        for (slug, set) in &self.by_clinic {
            if uses(set) {
                using.push(slug.clone());
            } else {
                not_using.push(slug.clone());
            }
        }
        using.sort();
        not_using.sort();
        if uses(&self.default) {
            ClinicScope::AllBut(not_using)
        } else {
            ClinicScope::Only(using)
        }
    }

    /// One rate limit per sender.
    pub fn sender_limits(&self) -> SenderLimits {
        SenderLimits::new(self.rates.iter().cloned())
    }
}

impl Builder<'_> {
    /// Adapters for `accounts`. `sandbox` marks the sandbox's accounts, which run at the
    /// sandbox's rate rather than the providers' published ones.
    fn set(
        &mut self,
        scope: &str,
        accounts: &ProviderAccounts,
        sandbox: bool,
    ) -> Result<ChannelSet, ProviderSetupError> {
        let mut set = ChannelSet::default();
        if let Some(whatsapp) = &accounts.whatsapp {
            let channel = self.whatsapp(scope, whatsapp)?;
            self.add(&mut set, channel, sandbox);
        }
        if let Some(twilio) = &accounts.twilio {
            for channel in self.twilio(scope, twilio)? {
                self.add(&mut set, channel, sandbox);
            }
        }
        if let Some(smtp) = &accounts.smtp {
            let channel = self.smtp(scope, smtp)?;
            self.add(&mut set, channel, sandbox);
        }
        if sandbox {
            set.sandboxed = set.by_kind.keys().copied().collect();
        }
        Ok(set)
    }

    fn add(&mut self, set: &mut ChannelSet, channel: Arc<dyn Channel>, sandbox: bool) {
        let kind = channel.kind();
        let rate = if sandbox {
            self.config.sandbox.sender_rate_per_second
        } else {
            self.config.senders.for_channel(kind)
        };
        let sender = channel.sender_id().to_owned();
        if !self
            .providers
            .rates
            .iter()
            .any(|(k, s, _)| *k == kind && *s == sender)
        {
            self.providers.rates.push((kind, sender, rate));
        }
        set.by_kind.insert(kind, channel);
    }

    fn whatsapp(
        &mut self,
        scope: &str,
        config: &WhatsAppConfig,
    ) -> Result<Arc<dyn Channel>, ProviderSetupError> {
        let error = |source| ProviderSetupError::WhatsApp {
            scope: scope.to_owned(),
            source,
        };
        let adapter = WhatsAppCloud::new(config).map_err(error)?;
        let media = WhatsAppMedia::new(config).map_err(error)?;
        self.providers.whatsapp.push(WhatsAppAccount {
            phone_number_id: config.phone_number_id.clone(),
            app_secret: config.app_secret.clone(),
            verify_token: config.verify_token.clone(),
            media: Arc::new(media),
        });
        Ok(Arc::new(adapter))
    }

    fn twilio(
        &mut self,
        scope: &str,
        config: &TwilioConfig,
    ) -> Result<Vec<Arc<dyn Channel>>, ProviderSetupError> {
        let error = |source| ProviderSetupError::Twilio {
            scope: scope.to_owned(),
            source,
        };
        let hooks = config.hook_urls().map_err(error)?;
        let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
        if let Some(sms) = &config.sms {
            channels.push(Arc::new(TwilioSms::new(config, sms).map_err(error)?));
        }
        if let Some(voice) = &config.voice {
            channels.push(Arc::new(TwilioVoice::new(config, voice).map_err(error)?));
        }
        let account = self
            .providers
            .twilio
            .entry(config.account_sid.clone())
            .or_insert_with(|| TwilioAccount {
                auth_token: config.auth_token.clone(),
                senders: Vec::new(),
                hooks: Vec::new(),
                voices: BTreeMap::new(),
            });
        account
            .senders
            .extend(channels.iter().map(|c| c.sender_id().to_owned()));
        account.hooks.extend(hooks);
        // Clinics sharing an account share its calls' voices; the first to name a language wins.
        for (tag, voice) in config.voice.iter().flat_map(|v| v.voices_by_tag()) {
            account.voices.entry(tag).or_insert(voice);
        }
        Ok(channels)
    }

    fn smtp(
        &mut self,
        scope: &str,
        config: &SmtpConfig,
    ) -> Result<Arc<dyn Channel>, ProviderSetupError> {
        let adapter = SmtpEmail::new(config).map_err(|source| ProviderSetupError::Smtp {
            scope: scope.to_owned(),
            source,
        })?;
        Ok(Arc::new(adapter))
    }
}

#[cfg(test)]
mod tests;
