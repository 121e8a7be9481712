//! The sandbox provider: what medrelay sends to when a clinic has no provider credentials. It
//! sits behind the same [`Channel`] trait as real providers, keeps an outbox of what each
//! recipient received, and later reports delivery statuses like a provider's webhooks would.
//!
//! Magic recipients produce each failure real providers produce:
//!
//! | recipient | what happens |
//! | --- | --- |
//! | `+972500000001` | WhatsApp rejects it: not a WhatsApp user (131026); falls back |
//! | `+972500000002` | WhatsApp accepts it but never delivers; the delivery timeout falls back |
//! | `+972500000003` | SMS accepted, then undelivered (30003); falls back |
//! | `+972500000004` | voice call not answered; falls back |
//! | `+972500000005` | two transient provider errors on any channel, then success |
//! | `+972500000006` | a landline: SMS rejected (21614), so it is called instead |
//! | `+972500000007` | unsubscribed from SMS (21610, replied STOP): SMS closed for the number |
//! | `+972500000008` | WhatsApp answers "access token expired" (190): the clinic's WhatsApp pauses |
//! | `…@bounce.test` | email rejected permanently (550) |
//!
//! Everyone else gets it delivered, and WhatsApp messages are read shortly after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use medrelay_channels::{
    Channel, ChannelKind, DeliveryState, OutgoingMessage, Recipient, RecipientFact, SendFuture,
    SendOutcome,
};

use crate::batch::Batcher;
use crate::clock::SharedClock;
use crate::config::SandboxConfig;
use crate::store::{SandboxAdvance, SandboxMessage, StatusUpdate, Store, StoreError};
use crate::tracking::Tracker;

/// A status report claimed but not confirmed (the process died) is sent again after this.
const STATUS_REPORT_LEASE_MS: u64 = 3_000;
/// Status reports sent in one go: small enough that the write never keeps new notifications
/// waiting long on SQLite's single writer.
const STATUS_REPORT_BATCH: u32 = 128;

pub const NOT_ON_WHATSAPP: &str = "+972500000001";
pub const WHATSAPP_NEVER_DELIVERED: &str = "+972500000002";
pub const SMS_UNDELIVERED: &str = "+972500000003";
pub const VOICE_NO_ANSWER: &str = "+972500000004";
pub const TRANSIENT_TWICE: &str = "+972500000005";
pub const LANDLINE: &str = "+972500000006";
pub const SMS_OPTED_OUT: &str = "+972500000007";
pub const WHATSAPP_ACCOUNT_DOWN: &str = "+972500000008";
pub const BOUNCING_DOMAIN: &str = "bounce.test";

/// How the sandbox answers one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Reject {
        code: &'static str,
        reason: &'static str,
        fact: Option<RecipientFact>,
    },
    Transient,
    /// The provider account itself is unusable.
    AccountDown {
        code: &'static str,
        reason: &'static str,
    },
    /// Accept, then report these statuses in turn (`status` or `status:error_code`).
    Accept(&'static [&'static str]),
}

fn verdict(channel: ChannelKind, to: &Recipient, transient_failures_so_far: u32) -> Verdict {
    let address = to.address();
    if address == TRANSIENT_TWICE && transient_failures_so_far < 2 {
        return Verdict::Transient;
    }
    match (channel, address) {
        (ChannelKind::Whatsapp, WHATSAPP_ACCOUNT_DOWN) => Verdict::AccountDown {
            code: "190",
            reason: "access token expired",
        },
        (ChannelKind::Whatsapp, NOT_ON_WHATSAPP) => Verdict::Reject {
            code: "131026",
            reason: "message undeliverable: recipient is not a WhatsApp user",
            fact: Some(RecipientFact::NotOnWhatsapp),
        },
        (ChannelKind::Sms, LANDLINE) => Verdict::Reject {
            code: "21614",
            reason: "'To' number is not a valid mobile number (landline)",
            fact: Some(RecipientFact::Landline),
        },
        (ChannelKind::Sms, SMS_OPTED_OUT) => Verdict::Reject {
            code: "21610",
            reason: "attempt to send to unsubscribed recipient (replied STOP)",
            fact: Some(RecipientFact::OptedOut),
        },
        (ChannelKind::Whatsapp, WHATSAPP_NEVER_DELIVERED) => Verdict::Accept(&["sent"]),
        (ChannelKind::Sms, SMS_UNDELIVERED) => Verdict::Accept(&["sent", "failed:30003"]),
        (ChannelKind::Voice, VOICE_NO_ANSWER) => Verdict::Accept(&["failed:no-answer"]),
        (ChannelKind::Email, a)
            if a.rsplit_once('@')
                .is_some_and(|(_, d)| d == BOUNCING_DOMAIN) =>
        {
            Verdict::Reject {
                code: "550",
                reason: "5.1.1 mailbox unavailable",
                fact: None,
            }
        }
        (ChannelKind::Email, _) => Verdict::Accept(&[]),
        (ChannelKind::Whatsapp, _) => Verdict::Accept(&["sent", "delivered", "read"]),
        (ChannelKind::Sms | ChannelKind::Voice, _) => Verdict::Accept(&["sent", "delivered"]),
    }
}

fn error_text(code: &str) -> &'static str {
    match code {
        "30003" => "unreachable destination handset",
        "no-answer" => "the call was not answered",
        _ => "failed",
    }
}

/// The sandbox provider for every channel.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    clock: SharedClock,
    outbox: Batcher<SandboxMessage, ()>,
    /// Transient errors given so far per (channel, recipient, body), for `+972500000005`.
    transient: Mutex<HashMap<(ChannelKind, String, String), u32>>,
}

impl Sandbox {
    pub fn new(store: Store, config: SandboxConfig, clock: SharedClock) -> Arc<Self> {
        let outbox = Batcher::spawn(512, move |messages: Vec<SandboxMessage>| {
            let store = store.clone();
            async move {
                let count = messages.len();
                store
                    .insert_sandbox_messages(&messages)
                    .await
                    .map(|()| vec![(); count])
            }
        });
        Arc::new(Self {
            config,
            clock,
            outbox,
            transient: Mutex::new(HashMap::new()),
        })
    }

    /// One adapter per channel, all backed by this sandbox.
    pub fn channels(self: &Arc<Self>) -> Vec<Arc<dyn Channel>> {
        ChannelKind::ALL
            .into_iter()
            .map(|kind| {
                Arc::new(SandboxChannel {
                    kind,
                    sender: format!("sandbox-{kind}"),
                    sandbox: Arc::clone(self),
                }) as Arc<dyn Channel>
            })
            .collect()
    }

    /// Counts this message's transient errors: how many it had before this send.
    fn count_transient(
        &self,
        key: (ChannelKind, String, String),
        channel: ChannelKind,
        to: &Recipient,
    ) -> Verdict {
        let mut counts = self
            .transient
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let so_far = counts.get(&key).copied().unwrap_or(0);
        let verdict = verdict(channel, to, so_far);
        if verdict == Verdict::Transient {
            counts.insert(key, so_far + 1);
        } else {
            counts.remove(&key);
        }
        verdict
    }

    async fn take(&self, channel: ChannelKind, message: &OutgoingMessage) -> SendOutcome {
        let key = (
            channel,
            message.to.address().to_owned(),
            message.body.clone(),
        );
        let verdict = self.count_transient(key, channel, &message.to);
        let now = self.clock.now();
        let id = format!("sbx-{channel}-{}", uuid::Uuid::now_v7().simple());
        let (status, error_code, script) = match &verdict {
            Verdict::Transient => {
                return SendOutcome::RetryLater {
                    code: "500".into(),
                    reason: "sandbox: temporary provider error".into(),
                    after: None,
                };
            }
            Verdict::AccountDown { code, reason } => {
                return SendOutcome::ChannelDown {
                    code: (*code).into(),
                    reason: (*reason).into(),
                };
            }
            Verdict::Reject { code, .. } => ("rejected", Some((*code).to_owned()), None),
            Verdict::Accept(steps) => (
                "accepted",
                None,
                Some(steps.join(",")).filter(|s| !s.is_empty()),
            ),
        };
        let record = SandboxMessage {
            id: id.clone(),
            channel: channel.as_str().to_owned(),
            recipient: message.to.address().to_owned(),
            subject: message.subject.clone(),
            body: message.body.clone(),
            language: message.language.clone(),
            callback_ref: message.callback_ref.clone(),
            status: status.to_owned(),
            error_code,
            next_status_at: script
                .as_ref()
                .map(|_| later(now, self.config.delivery_delay_ms / 2)),
            next_status: script,
            created_at: now,
            updated_at: now,
        };
        if let Err(error) = self.outbox.submit(record).await {
            return SendOutcome::RetryLater {
                code: "sandbox".into(),
                reason: error.to_string(),
                after: None,
            };
        }
        match verdict {
            Verdict::Reject { code, reason, fact } => SendOutcome::Permanent {
                fact,
                code: code.into(),
                reason: reason.into(),
            },
            _ => SendOutcome::Accepted {
                provider_message_id: id,
            },
        }
    }

    /// Reports due statuses to the tracker, like a provider's webhook would, and schedules the
    /// next ones. A report lost in a crash is sent again after its lease.
    pub async fn report_due_statuses(
        &self,
        store: &Store,
        tracker: &Tracker,
    ) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let due = store
            .claim_sandbox_statuses(now, later(now, STATUS_REPORT_LEASE_MS), STATUS_REPORT_BATCH)
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut updates = Vec::with_capacity(due.len());
        let mut advances = Vec::with_capacity(due.len());
        for item in &due {
            let (step, rest) = item
                .next_status
                .split_once(',')
                .unwrap_or((item.next_status.as_str(), ""));
            let (status, code) = step
                .split_once(':')
                .map_or((step, None), |(s, c)| (s, Some(c)));
            let state = match status {
                "sent" => DeliveryState::Sent,
                "delivered" => DeliveryState::Delivered,
                "read" => DeliveryState::Read,
                _ => DeliveryState::Failed,
            };
            updates.push(StatusUpdate {
                attempt_id: item.callback_ref.clone(),
                provider_message_id: item.id.clone(),
                state,
                error_code: code.map(str::to_owned),
                error_text: code.map(|c| error_text(c).to_owned()),
            });
            let following = (!rest.is_empty()).then(|| {
                let delay = if rest.starts_with("read") {
                    self.config.read_delay_ms
                } else {
                    self.config.delivery_delay_ms / 2
                };
                (rest.to_owned(), later(now, delay))
            });
            advances.push(SandboxAdvance {
                id: item.id.clone(),
                status: step.to_owned(),
                next: following,
            });
        }
        tracker.apply(&updates).await?;
        store.advance_sandbox_messages(&advances, now).await?;
        Ok(due.len())
    }
}

fn later(now: Timestamp, millis: u64) -> Timestamp {
    now.checked_add(Duration::from_millis(millis))
        .unwrap_or(now)
}

#[derive(Debug)]
struct SandboxChannel {
    kind: ChannelKind,
    sender: String,
    sandbox: Arc<Sandbox>,
}

impl Channel for SandboxChannel {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    fn sender_id(&self) -> &str {
        &self.sender
    }

    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(self.sandbox.take(self.kind, message))
    }
}
