use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use url::Url;

use super::classify::{classify_response, classify_transport_error};
use super::config::WhatsAppConfig;
use super::wire::{Content, SendRequest, Template, Text};
use crate::{Channel, ChannelKind, OutgoingMessage, Recipient, SendFuture, SendOutcome};

/// Meta's range for `message_send_ttl_seconds` on utility templates (providers.md §1.2).
const UTILITY_TTL_SECONDS: std::ops::RangeInclusive<u32> = 30..=43_200;
/// Meta's default TTL for utility templates without a custom one.
const DEFAULT_TEMPLATE_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// `biz_opaque_callback_data` is limited to 512 bytes.
const MAX_CALLBACK_REF_BYTES: usize = 512;

/// A configuration the adapter refuses at start-up, before any patient message depends on it.
#[derive(Debug, thiserror::Error)]
pub enum WhatsAppSetupError {
    #[error("whatsapp.{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("whatsapp: cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// The WhatsApp channel through Meta's Cloud API, for one business number.
pub struct WhatsAppCloud {
    client: reqwest::Client,
    /// `{base}/{version}/{phone_number_id}/messages`, built once.
    endpoint: Url,
    phone_number_id: String,
    authorization: HeaderValue,
    template_ttl: Duration,
}

impl WhatsAppCloud {
    pub fn new(config: &WhatsAppConfig) -> Result<Self, WhatsAppSetupError> {
        let invalid = |field, problem: &str| WhatsAppSetupError::Invalid {
            field,
            problem: problem.to_owned(),
        };
        let version = config.api_version.as_str();
        let version_ok = version
            .strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.'));
        if !version_ok {
            return Err(invalid(
                "api_version",
                "expected a Graph version such as v23.0",
            ));
        }
        let id = config.phone_number_id.as_str();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                "phone_number_id",
                "expected the Graph id of the business number (digits), not the phone number",
            ));
        }
        for (field, secret) in [
            ("access_token", &config.access_token),
            ("app_secret", &config.app_secret),
            ("verify_token", &config.verify_token),
        ] {
            // Empty, the app secret would let anyone sign webhooks and the verify token anyone
            // subscribe; an empty token is a missing setting, not a choice.
            if secret.expose().trim().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", config.access_token.expose()))
                .map_err(|_| invalid("access_token", "must be printable ASCII"))?;
        authorization.set_sensitive(true);

        let mut endpoint = Url::parse(&config.base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| invalid("base_url", "expected an http(s) URL"))?;
        endpoint
            .path_segments_mut()
            .map_err(|()| invalid("base_url", "expected an http(s) URL"))?
            .pop_if_empty()
            .extend([version, id, "messages"]);

        if config.request_timeout_ms == 0 {
            return Err(invalid("request_timeout_ms", "must be positive"));
        }
        let template_ttl = match config.template_ttl_seconds {
            None => DEFAULT_TEMPLATE_TTL,
            Some(s) if UTILITY_TTL_SECONDS.contains(&s) => Duration::from_secs(s.into()),
            Some(_) => {
                return Err(invalid(
                    "template_ttl_seconds",
                    "Meta allows 30..=43200 seconds for utility templates",
                ));
            }
        };

        let timeout = Duration::from_millis(config.request_timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A connect failure is safe to retry, a timeout after writing is not: give the
            // connect its own, shorter deadline so slow connects are reported as such.
            .connect_timeout(timeout / 2)
            // A followed redirect would resend the POST: a possible duplicate message.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(WhatsAppSetupError::Client)?;

        Ok(Self {
            client,
            endpoint,
            phone_number_id: config.phone_number_id.clone(),
            authorization,
            template_ttl,
        })
    }

    /// How long Meta keeps retrying an undelivered template message: the TTL configured on the
    /// templates, else Meta's 30 days. The Cloud API takes no per-message TTL, so a message's
    /// `valid_for` shorter than this must be enforced by the gateway's own delivery deadline.
    pub fn template_ttl(&self) -> Duration {
        self.template_ttl
    }

    async fn send_one(&self, message: &OutgoingMessage) -> SendOutcome {
        let Some(to) = whatsapp_number(&message.to) else {
            return SendOutcome::Permanent {
                code: "recipient".to_owned(),
                reason: "WhatsApp needs an E.164 phone number".to_owned(),
                fact: None,
            };
        };
        if message.callback_ref.len() > MAX_CALLBACK_REF_BYTES {
            return SendOutcome::Permanent {
                code: "callback_ref".to_owned(),
                reason: "callback_ref is longer than Meta's 512 bytes".to_owned(),
                fact: None,
            };
        }
        let content = match &message.template {
            Some(template) => {
                let template = Template::new(template);
                let normalised = template.normalised_parameters();
                if normalised > 0 {
                    tracing::info!(
                        attempt = %message.callback_ref,
                        normalised,
                        "whatsapp template parameters normalised: Meta refuses line breaks, tabs \
                         and more than four spaces in a row"
                    );
                }
                Content::Template { template }
            }
            None => Content::Text {
                text: Text {
                    body: &message.body,
                    preview_url: false,
                },
            },
        };
        let request = SendRequest {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to,
            biz_opaque_callback_data: &message.callback_ref,
            content,
        };

        let response = match self
            .client
            .post(self.endpoint.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .json(&request)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let outcome = classify_transport_error(&error);
                log_outcome(message, None, &outcome);
                return outcome;
            }
        };
        let status = response.status();
        let retry_after = crate::http::retry_after(response.headers());
        // A body lost mid-read still has a status to judge by; after a 200 it is ambiguous.
        let body = response.bytes().await.ok();
        let outcome = classify_response(status, retry_after, body.as_deref());
        log_outcome(message, Some(status.as_u16()), &outcome);
        outcome
    }
}

/// The digits Meta expects in `to`, or `None` when the recipient is no phone number.
fn whatsapp_number(recipient: &Recipient) -> Option<&str> {
    let Recipient::Phone(phone) = recipient else {
        return None;
    };
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// One line per send, keyed by the attempt id; never the number or the text.
fn log_outcome(message: &OutgoingMessage, http_status: Option<u16>, outcome: &SendOutcome) {
    let attempt = message.callback_ref.as_str();
    match outcome {
        SendOutcome::Accepted {
            provider_message_id,
        } => tracing::debug!(
            attempt,
            http_status,
            provider_message_id,
            "whatsapp accepted"
        ),
        SendOutcome::RateLimited { after } => {
            tracing::info!(attempt, http_status, ?after, "whatsapp rate limited");
        }
        SendOutcome::RetryLater { code, .. } => {
            tracing::info!(attempt, http_status, code, "whatsapp transient failure");
        }
        SendOutcome::Permanent { code, fact, .. } => {
            tracing::info!(
                attempt,
                http_status,
                code,
                ?fact,
                "whatsapp refused the message"
            );
        }
        SendOutcome::Ambiguous { .. } => {
            tracing::warn!(
                attempt,
                http_status,
                "whatsapp send outcome unknown; not resending"
            );
        }
        SendOutcome::ChannelDown { code, .. } => {
            tracing::error!(attempt, http_status, code, "whatsapp channel unusable");
        }
    }
}

impl Channel for WhatsAppCloud {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn sender_id(&self) -> &str {
        &self.phone_number_id
    }

    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(self.send_one(message))
    }
}

/// The endpoint and number id only: the token stays out of logs.
impl fmt::Debug for WhatsAppCloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppCloud")
            .field("endpoint", &self.endpoint.as_str())
            .field("phone_number_id", &self.phone_number_id)
            .field("template_ttl", &self.template_ttl)
            .finish_non_exhaustive()
    }
}
