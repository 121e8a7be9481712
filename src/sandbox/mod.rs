//! The sandbox: look-alikes of the providers' APIs, for clinics without provider accounts. It
//! serves Meta's and Twilio's send endpoints (same paths, fields, answers and error codes) and an
//! SMTP server, so the real adapters run against it over real HTTP and SMTP. It keeps an outbox of
//! what each recipient received and later posts signed status callbacks to the gateway's own
//! webhooks, as Meta and Twilio do.
//!
//! Magic recipients produce each failure real providers produce:
//!
//! | recipient | what happens |
//! | --- | --- |
//! | `+972500000001` | WhatsApp accepts it, then reports it failed: not a WhatsApp user (131026); falls back |
//! | `+972500000002` | WhatsApp accepts it but never delivers; the delivery timeout falls back |
//! | `+972500000003` | SMS accepted, then undelivered (30003); falls back |
//! | `+972500000004` | voice call not answered; called once more, then falls back |
//! | `+972500000005` | two transient provider errors (HTTP 500) on any channel, then success |
//! | `+972500000006` | a landline: SMS rejected (21614), so it is called instead |
//! | `+972500000007` | unsubscribed from SMS (21610, replied STOP): SMS closed for the number |
//! | `+972500000008` | WhatsApp answers "access token expired" (190): the clinic's WhatsApp pauses |
//! | `+972500000009` | WhatsApp answers only after the adapter gave up: the send is ambiguous, and is delivered |
//! | `…@bounce.test` | the SMTP server rejects the recipient (550) |
//!
//! Everyone else gets it delivered, and WhatsApp messages are read shortly after.

mod mail;
mod media;
mod patient;
mod provider_api;
mod reporter;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medrelay_channels::smtp::{MailToKeep, ReceiverRules, Security, SmtpConfig, SmtpReceiver};
use medrelay_channels::twilio::{
    Hook, TwilioConfig, TwilioSmsConfig, TwilioVoiceConfig, VoiceLanguage,
};
use medrelay_channels::whatsapp::WhatsAppConfig;
use medrelay_channels::{ChannelKind, Secret};
use url::Url;

use crate::batch::Batcher;
use crate::clock::{SharedClock, later};
use crate::config::{ProviderAccounts, SandboxConfig, SandboxSecrets};
use crate::store::{SandboxMessage, Store};

pub use patient::{InboundError, PATIENT_PHOTO, PatientMessage};
pub use provider_api::router;

pub const NOT_ON_WHATSAPP: &str = "+972500000001";
pub const WHATSAPP_NEVER_DELIVERED: &str = "+972500000002";
pub const SMS_UNDELIVERED: &str = "+972500000003";
pub const VOICE_NO_ANSWER: &str = "+972500000004";
pub const TRANSIENT_TWICE: &str = "+972500000005";
pub const LANDLINE: &str = "+972500000006";
pub const SMS_OPTED_OUT: &str = "+972500000007";
pub const WHATSAPP_ACCOUNT_DOWN: &str = "+972500000008";
pub const WHATSAPP_ANSWERS_LATE: &str = "+972500000009";
pub const BOUNCING_DOMAIN: &str = "bounce.test";

/// The sandbox's own account names. They are the same in every process, so a sandbox started
/// again (or running as its own process) can report on messages another one took; what proves a
/// callback is the sandbox's are its secrets, random per process unless configured.
pub const WHATSAPP_PHONE_NUMBER_ID: &str = "100000000000001";
pub const TWILIO_ACCOUNT_SID: &str = "ACsandbox00000000000000000000000";
const SMS_SENDER: &str = "MedRelay";
const VOICE_CALLER_ID: &str = "+972500000100";
const BOUNCE_DOMAIN: &str = "bounces.sandbox.medrelay.test";

/// How the sandbox answers one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Reject {
        code: &'static str,
        reason: &'static str,
    },
    Transient,
    /// The provider account itself is unusable.
    AccountDown {
        code: &'static str,
        reason: &'static str,
    },
    /// Accept, then report these statuses in turn (`status` or `status:error_code`).
    Accept(&'static [&'static str]),
    /// Accept, but answer only after the sender stopped waiting.
    AcceptLate(&'static [&'static str]),
}

fn verdict(channel: ChannelKind, to: &str, transient_failures_so_far: u32) -> Verdict {
    if to == TRANSIENT_TWICE && transient_failures_so_far < 2 {
        return Verdict::Transient;
    }
    match (channel, to) {
        (ChannelKind::Whatsapp, WHATSAPP_ACCOUNT_DOWN) => Verdict::AccountDown {
            code: "190",
            reason: "Error validating access token: Session has expired",
        },
        // Meta usually tells this in a `failed` status webhook rather than in the answer.
        (ChannelKind::Whatsapp, NOT_ON_WHATSAPP) => Verdict::Accept(&["failed:131026"]),
        (ChannelKind::Sms, LANDLINE) => Verdict::Reject {
            code: "21614",
            reason: "'To' number is not a valid mobile number",
        },
        (ChannelKind::Sms, SMS_OPTED_OUT) => Verdict::Reject {
            code: "21610",
            reason: "Attempt to send to unsubscribed recipient",
        },
        (ChannelKind::Whatsapp, WHATSAPP_NEVER_DELIVERED) => Verdict::Accept(&["sent"]),
        (ChannelKind::Whatsapp, WHATSAPP_ANSWERS_LATE) => {
            Verdict::AcceptLate(&["sent", "delivered", "read"])
        }
        (ChannelKind::Sms, SMS_UNDELIVERED) => Verdict::Accept(&["sent", "failed:30003"]),
        (ChannelKind::Voice, VOICE_NO_ANSWER) => Verdict::Accept(&["failed:no-answer"]),
        (ChannelKind::Email, _) => Verdict::Accept(&[]),
        (ChannelKind::Whatsapp, _) => Verdict::Accept(&["sent", "delivered", "read"]),
        (ChannelKind::Sms, _) => Verdict::Accept(&["sent", "delivered"]),
        (ChannelKind::Voice, _) => Verdict::Accept(&["delivered"]),
    }
}

/// One message as a provider look-alike received it.
#[derive(Debug, Clone)]
struct Received {
    channel: ChannelKind,
    /// E.164 phone or email address.
    to: String,
    subject: Option<String>,
    body: String,
    language: String,
    callback_ref: String,
}

/// What the look-alikes check requests against and sign callbacks with: the provider accounts'
/// own ids and secrets, as a real provider knows its customer's.
#[derive(Debug)]
struct Credentials {
    whatsapp_phone_number_id: String,
    whatsapp_access_token: Secret,
    whatsapp_app_secret: Secret,
    twilio_account_sid: String,
    twilio_auth_token: Secret,
    /// The mail domain whose bounce addresses carry the attempt id.
    bounce_domain: String,
}

impl Credentials {
    fn of(accounts: &ProviderAccounts) -> Result<Self, SandboxError> {
        let (Some(whatsapp), Some(twilio), Some(smtp)) =
            (&accounts.whatsapp, &accounts.twilio, &accounts.smtp)
        else {
            return Err(SandboxError::Accounts);
        };
        Ok(Self {
            whatsapp_phone_number_id: whatsapp.phone_number_id.clone(),
            whatsapp_access_token: whatsapp.access_token.clone(),
            whatsapp_app_secret: whatsapp.app_secret.clone(),
            twilio_account_sid: twilio.account_sid.clone(),
            twilio_auth_token: twilio.auth_token.clone(),
            bounce_domain: smtp.bounce_domain.clone(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox's SMTP server cannot start: {0}")]
    Smtp(#[from] std::io::Error),
    #[error(
        "the sandbox needs the accounts its clients use: providers.whatsapp, providers.twilio and providers.smtp"
    )]
    Accounts,
}

/// The sandbox provider for every channel.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    clock: SharedClock,
    /// Where the gateway's webhooks are.
    public_url: Url,
    accounts: ProviderAccounts,
    credentials: Credentials,
    store: Store,
    outbox: Batcher<SandboxMessage, ()>,
    http: reqwest::Client,
    /// Transient errors given so far per (channel, recipient, body), for `+972500000005`.
    transient: Mutex<HashMap<(ChannelKind, String, String), u32>>,
    _smtp: SmtpReceiver,
}

impl Sandbox {
    /// Starts the SMTP server and the outbox writer, inside the gateway. `public_url` is where
    /// this gateway serves the look-alike APIs and its webhooks.
    pub async fn start(
        store: Store,
        config: SandboxConfig,
        clock: SharedClock,
        public_url: Url,
    ) -> Result<Arc<Self>, SandboxError> {
        let (smtp, mail) = Self::smtp(&config).await?;
        // Random per process unless configured, so nobody outside can sign a status for it.
        let secrets = config
            .secrets
            .clone()
            .unwrap_or_else(SandboxSecrets::random);
        let accounts = accounts(&public_url, smtp.local_addr(), &config, &secrets);
        Self::run(store, config, clock, public_url, accounts, smtp, mail)
    }

    /// Starts the SMTP server and the outbox writer as a provider of its own (`medrelay sandbox`):
    /// it knows the gateway's `accounts`, as a real provider knows its customer's, and posts
    /// status callbacks to the gateway at `gateway_url`.
    pub async fn start_standalone(
        store: Store,
        config: SandboxConfig,
        clock: SharedClock,
        gateway_url: Url,
        accounts: ProviderAccounts,
    ) -> Result<Arc<Self>, SandboxError> {
        let (smtp, mail) = Self::smtp(&config).await?;
        Self::run(store, config, clock, gateway_url, accounts, smtp, mail)
    }

    async fn smtp(
        config: &SandboxConfig,
    ) -> std::io::Result<(SmtpReceiver, tokio::sync::mpsc::Receiver<MailToKeep>)> {
        let rules = ReceiverRules {
            reject_domains: vec![BOUNCING_DOMAIN.to_owned()],
            ..ReceiverRules::default()
        };
        SmtpReceiver::start_keeping(config.smtp_listen, rules).await
    }

    fn run(
        store: Store,
        config: SandboxConfig,
        clock: SharedClock,
        public_url: Url,
        accounts: ProviderAccounts,
        smtp: SmtpReceiver,
        mail: tokio::sync::mpsc::Receiver<MailToKeep>,
    ) -> Result<Arc<Self>, SandboxError> {
        let credentials = Credentials::of(&accounts)?;
        let outbox_store = store.clone();
        let outbox = Batcher::spawn(512, move |messages: Vec<SandboxMessage>| {
            let store = outbox_store.clone();
            async move {
                let count = messages.len();
                store
                    .insert_sandbox_messages(&messages)
                    .await
                    .map(|()| vec![(); count])
            }
        });
        let sandbox = Arc::new(Self {
            config,
            clock,
            public_url,
            accounts,
            credentials,
            store,
            outbox,
            http: reqwest::Client::new(),
            transient: Mutex::new(HashMap::new()),
            _smtp: smtp,
        });
        tokio::spawn(mail::record_received_mail(Arc::downgrade(&sandbox), mail));
        Ok(sandbox)
    }

    /// The provider accounts that point the real adapters at this sandbox.
    pub fn accounts(&self) -> &ProviderAccounts {
        &self.accounts
    }

    /// Decides how to answer `message`, and records it in the outbox unless it is refused.
    async fn take(&self, message: Received) -> Result<(Verdict, String), crate::batch::BatchError> {
        let verdict = self.count_transient(&message);
        let now = self.clock.now();
        let id = provider_message_id(message.channel);
        let script = match &verdict {
            Verdict::Accept(steps) => *steps,
            Verdict::AcceptLate(steps) => *steps,
            Verdict::Transient | Verdict::AccountDown { .. } | Verdict::Reject { .. } => {
                return Ok((verdict, id));
            }
        };
        // A late answer's statuses follow the answer, as they would at the provider.
        let first_status_in = match verdict {
            Verdict::AcceptLate(_) => {
                self.config.request_timeout_ms + self.config.delivery_delay_ms
            }
            _ => self.config.delivery_delay_ms / 2,
        };
        let record = SandboxMessage {
            id: id.clone(),
            channel: message.channel.as_str().to_owned(),
            recipient: message.to,
            subject: message.subject,
            body: message.body,
            language: message.language,
            callback_ref: message.callback_ref,
            status: "accepted".to_owned(),
            error_code: None,
            next_status_at: (!script.is_empty())
                .then(|| later(now, Duration::from_millis(first_status_in))),
            next_status: (!script.is_empty()).then(|| script.join(",")),
            created_at: now,
            updated_at: now,
        };
        self.outbox.submit(record).await?;
        Ok((verdict, id))
    }

    /// Counts this message's transient errors: how many it had before this send.
    fn count_transient(&self, message: &Received) -> Verdict {
        let key = (message.channel, message.to.clone(), message.body.clone());
        let mut counts = self
            .transient
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let so_far = counts.get(&key).copied().unwrap_or(0);
        let verdict = verdict(message.channel, &message.to, so_far);
        if verdict == Verdict::Transient {
            counts.insert(key, so_far + 1);
        } else {
            counts.remove(&key);
        }
        verdict
    }
}

/// Provider accounts whose base URLs and SMTP server are this sandbox.
fn accounts(
    public_url: &Url,
    smtp: SocketAddr,
    config: &SandboxConfig,
    secrets: &SandboxSecrets,
) -> ProviderAccounts {
    let at = |path: &str| format!("{}{path}", public_url.as_str().trim_end_matches('/'));
    let speak = |language: &str| VoiceLanguage {
        voice: None,
        language: Some(language.to_owned()),
        audio_url: None,
    };
    ProviderAccounts {
        whatsapp: Some(WhatsAppConfig {
            base_url: at("/sandbox/meta"),
            api_version: "v23.0".to_owned(),
            phone_number_id: WHATSAPP_PHONE_NUMBER_ID.to_owned(),
            access_token: secrets.whatsapp_access_token.clone(),
            app_secret: secrets.whatsapp_app_secret.clone(),
            verify_token: secrets.whatsapp_verify_token.clone(),
            request_timeout_ms: config.request_timeout_ms,
            template_ttl_seconds: Some(43_200),
        }),
        twilio: Some(TwilioConfig {
            base_url: at("/sandbox/twilio"),
            account_sid: TWILIO_ACCOUNT_SID.to_owned(),
            auth_token: secrets.twilio_auth_token.clone(),
            request_timeout_ms: config.request_timeout_ms,
            sms: Some(TwilioSmsConfig {
                from: Some(SMS_SENDER.to_owned()),
                messaging_service_sid: None,
                status_callback_url: at("/webhooks/twilio/sms"),
                incoming_url: Some(at(Hook::SmsIncoming.path())),
                validity_period_seconds: None,
            }),
            voice: Some(TwilioVoiceConfig {
                from: VOICE_CALLER_ID.to_owned(),
                status_callback_url: at("/webhooks/twilio/voice"),
                confirm_url: at("/webhooks/twilio/voice/confirm"),
                machine_detection: false,
                languages: BTreeMap::from([
                    ("he".to_owned(), speak("he-IL")),
                    ("ar".to_owned(), speak("ar-XA")),
                    ("ru".to_owned(), speak("ru-RU")),
                    ("en".to_owned(), speak("en-US")),
                ]),
            }),
        }),
        smtp: Some(SmtpConfig {
            host: smtp.ip().to_string(),
            port: smtp.port(),
            security: Security::None,
            username: None,
            password: None,
            from: "clinic@sandbox.medrelay.test".to_owned(),
            bounce_domain: BOUNCE_DOMAIN.to_owned(),
            hello_name: None,
            pool_size: 4,
            timeout_ms: config.request_timeout_ms,
        }),
    }
}

/// An id in the provider's own shape: `wamid.…`, `SM…`, `CA…`.
fn provider_message_id(channel: ChannelKind) -> String {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    match channel {
        ChannelKind::Whatsapp => format!("wamid.{unique}"),
        ChannelKind::Sms => format!("SM{unique}"),
        ChannelKind::Voice => format!("CA{unique}"),
        ChannelKind::Email => format!("<{unique}@sandbox.medrelay.test>"),
    }
}

/// The language a text is written in, as far as its script tells: the providers' look-alikes
/// get no language tag with free text.
fn script_language(text: &str) -> &'static str {
    text.chars()
        .find_map(|c| match c {
            '\u{0590}'..='\u{05FF}' => Some("he"),
            '\u{0600}'..='\u{06FF}' => Some("ar"),
            '\u{0400}'..='\u{04FF}' => Some("ru"),
            _ => None,
        })
        .unwrap_or("en")
}
