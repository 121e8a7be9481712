//! The one HTTP exchange both adapters make: a form POST that creates a resource.

use std::error::Error as _;
use std::time::Duration;

use serde::Deserialize;

use super::classify;
use super::config::{ConfigError, TwilioConfig};
use crate::{Secret, SendOutcome};

#[derive(Debug)]
pub(crate) struct Api {
    http: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: Secret,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

impl Api {
    pub(crate) fn new(config: &TwilioConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // Shorter than the whole-request limit so that an unreachable Twilio surfaces as a
            // connect failure (safe to retry), not as a timeout (ambiguous).
            .connect_timeout((timeout / 2).min(Duration::from_secs(5)))
            // A redirected POST turns into a GET; Twilio never redirects, so one means the base
            // URL is wrong.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
        })
    }

    /// POSTs `form` to `{base}/2010-04-01/Accounts/{sid}/{resource}.json` and classifies the
    /// answer. `Accepted` carries the new resource's sid (`SM…`, `CA…`).
    pub(crate) async fn create(&self, resource: &str, form: &[(&str, String)]) -> SendOutcome {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            self.base_url, self.account_sid
        );
        let sent = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(form)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return transport_failure(&error),
        };
        let status = response.status();
        let retry_after = crate::http::retry_after(response.headers());
        let body = response.text().await;
        if status.is_success() {
            // Twilio has the resource; only the answer may be unreadable. The status callback
            // carries our attempt id, so it can still be matched.
            return match body.as_deref().map(serde_json::from_str::<Created>) {
                Ok(Ok(created)) => SendOutcome::Accepted {
                    provider_message_id: created.sid,
                },
                Ok(Err(error)) => SendOutcome::Ambiguous {
                    reason: format!("Twilio answered {status} without a readable sid: {error}"),
                },
                Err(error) => SendOutcome::Ambiguous {
                    reason: format!(
                        "Twilio answered {status}, then the body was lost: {}",
                        chain(error)
                    ),
                },
            };
        }
        classify::rejection(status.as_u16(), body.as_deref().unwrap_or(""), retry_after)
    }
}

/// No HTTP answer. Only a failure to connect proves the request never left.
fn transport_failure(error: &reqwest::Error) -> SendOutcome {
    if error.is_connect() || error.is_builder() {
        SendOutcome::RetryLater {
            code: "connect".to_owned(),
            reason: format!("could not reach Twilio: {}", chain(error)),
            after: None,
        }
    } else {
        SendOutcome::Ambiguous {
            reason: format!("no answer from Twilio after sending: {}", chain(error)),
        }
    }
}

/// reqwest's own message is only "error sending request"; the cause is in the sources. The URL is
/// left out: it holds the account sid and says nothing new.
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
