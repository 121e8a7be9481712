//! Status callbacks: the sandbox posts each message's statuses to the gateway's webhooks when they
//! fall due, signed as Meta and Twilio sign them. A callback that is not acknowledged is sent
//! again after its lease, as the providers redeliver.

use std::time::Duration;

use futures::StreamExt;
use medrelay_channels::{twilio, whatsapp};
use serde_json::{Value, json};

use super::Sandbox;
use crate::clock::later;
use crate::store::{SandboxAdvance, SandboxStatusDue, StoreError};

/// A status report claimed but not acknowledged is sent again after this.
const STATUS_REPORT_LEASE_MS: u64 = 3_000;
/// Statuses claimed at a time; WhatsApp's all go in one webhook, as Meta batches them.
const STATUS_REPORT_BATCH: u32 = 512;
/// Twilio posts one callback per status; this many are in flight at once.
const TWILIO_CALLBACKS_IN_FLIGHT: usize = 16;

/// One due status, read from its script.
struct Step<'a> {
    due: &'a SandboxStatusDue,
    /// `sent`, `delivered`, `read` or `failed`.
    status: &'a str,
    error_code: Option<&'a str>,
    /// What follows, if anything.
    rest: &'a str,
}

impl<'a> Step<'a> {
    fn of(due: &'a SandboxStatusDue) -> Self {
        let (step, rest) = due
            .next_status
            .split_once(',')
            .unwrap_or((due.next_status.as_str(), ""));
        let (status, error_code) = step
            .split_once(':')
            .map_or((step, None), |(s, c)| (s, Some(c)));
        Self {
            due,
            status,
            error_code,
            rest,
        }
    }
}

impl Sandbox {
    /// Posts the statuses that are due and schedules what follows. Returns how many were due.
    pub async fn report_due_statuses(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let due = self
            .store
            .claim_sandbox_statuses(
                now,
                later(now, Duration::from_millis(STATUS_REPORT_LEASE_MS)),
                STATUS_REPORT_BATCH,
            )
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let steps: Vec<Step<'_>> = due.iter().map(Step::of).collect();
        let (whatsapp, twilio): (Vec<usize>, Vec<usize>) =
            (0..steps.len()).partition(|i| steps[*i].due.channel == "whatsapp");

        let mut acknowledged: Vec<&Step<'_>> = Vec::with_capacity(steps.len());
        let whatsapp: Vec<&Step<'_>> = whatsapp.into_iter().map(|i| &steps[i]).collect();
        if !whatsapp.is_empty() && self.post_whatsapp_webhook(&whatsapp).await {
            acknowledged.extend(whatsapp);
        }
        let steps = &steps;
        let posted: Vec<Option<usize>> = futures::stream::iter(twilio)
            .map(|i| async move { self.post_twilio_callback(&steps[i]).await.then_some(i) })
            .buffer_unordered(TWILIO_CALLBACKS_IN_FLIGHT)
            .collect()
            .await;
        acknowledged.extend(posted.into_iter().flatten().map(|i| &steps[i]));

        let advances: Vec<SandboxAdvance> = acknowledged
            .iter()
            .map(|step| {
                let following = (!step.rest.is_empty()).then(|| {
                    let delay = if step.rest.starts_with("read") {
                        self.config.read_delay_ms
                    } else {
                        self.config.delivery_delay_ms / 2
                    };
                    (
                        step.rest.to_owned(),
                        later(now, Duration::from_millis(delay)),
                    )
                });
                SandboxAdvance {
                    id: step.due.id.clone(),
                    status: step.status.to_owned(),
                    next: following,
                }
            })
            .collect();
        if !advances.is_empty() {
            self.store.advance_sandbox_messages(&advances, now).await?;
        }
        Ok(due.len())
    }

    pub(super) fn webhook_url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_str().trim_end_matches('/'))
    }

    /// One Meta webhook carrying every status, signed with the app secret.
    async fn post_whatsapp_webhook(&self, steps: &[&Step<'_>]) -> bool {
        let timestamp = self.clock.now().as_second().to_string();
        let statuses: Vec<Value> = steps
            .iter()
            .map(|step| {
                let mut status = json!({
                    "id": step.due.id,
                    "status": step.status,
                    "timestamp": timestamp,
                    "recipient_id": step.due.recipient.trim_start_matches('+'),
                });
                // Meta echoes our reference on sent, delivered and read but does not promise it
                // on a failure, so the look-alike leaves it out there: the wamid must do.
                if step.status != "failed" {
                    status["biz_opaque_callback_data"] = json!(step.due.callback_ref);
                }
                if let Some(code) = step.error_code {
                    status["errors"] = json!([{
                        "code": code.parse::<u32>().unwrap_or(131_000),
                        "title": "Message failed to send",
                    }]);
                }
                status
            })
            .collect();
        let sent = self
            .post_whatsapp_webhook_value("statuses", Value::Array(statuses), None)
            .await;
        acknowledged("whatsapp", sent)
    }

    /// One signed Meta webhook whose change value carries `items` under `key`; with the
    /// contact of the patient who wrote, when they did.
    pub(super) async fn post_whatsapp_webhook_value(
        &self,
        key: &str,
        items: Value,
        contact: Option<&str>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut value = json!({
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "972500000100",
                "phone_number_id": self.credentials.whatsapp_phone_number_id,
            },
        });
        if let Some(from) = contact {
            let wa_id = from.trim_start_matches('+');
            value["contacts"] =
                json!([{ "profile": { "name": "Sandbox patient" }, "wa_id": wa_id }]);
        }
        value[key] = items;
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "sandbox-waba",
                "changes": [{ "field": "messages", "value": value }],
            }],
        });
        let body = body.to_string().into_bytes();
        let signature = whatsapp::sign(&self.credentials.whatsapp_app_secret, &body);
        self.http
            .post(self.webhook_url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header(whatsapp::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
    }

    /// One Twilio status callback (SMS or call), signed with the auth token.
    async fn post_twilio_callback(&self, step: &Step<'_>) -> bool {
        let account = self.accounts.twilio.as_ref();
        let (callback, mut params) = if step.due.channel == "voice" {
            let status = match (step.status, step.error_code) {
                ("failed", Some(ending)) => ending,
                ("failed", None) => "failed",
                _ => "completed",
            };
            let callback = account
                .and_then(|a| a.voice.as_ref())
                .map(|v| v.status_callback_url.clone());
            let params = vec![
                ("CallSid", step.due.id.clone()),
                ("CallStatus", status.to_owned()),
                ("Direction", "outbound-api".to_owned()),
            ];
            (callback, params)
        } else {
            let status = match step.status {
                "failed" => "undelivered",
                other => other,
            };
            let callback = account
                .and_then(|a| a.sms.as_ref())
                .map(|s| s.status_callback_url.clone());
            let mut params = vec![
                ("MessageSid", step.due.id.clone()),
                ("SmsSid", step.due.id.clone()),
                ("MessageStatus", status.to_owned()),
                ("SmsStatus", status.to_owned()),
            ];
            if let Some(code) = step.error_code {
                params.push(("ErrorCode", code.to_owned()));
            }
            (callback, params)
        };
        let Some(callback) = callback else {
            return false;
        };
        params.extend([
            ("AccountSid", self.credentials.twilio_account_sid.clone()),
            ("To", step.due.recipient.clone()),
            ("ApiVersion", "2010-04-01".to_owned()),
        ]);
        let Ok(mut url) = url::Url::parse(&callback) else {
            return false;
        };
        url.query_pairs_mut()
            .append_pair(twilio::ATTEMPT_PARAM, &step.due.callback_ref);
        let params: Vec<(String, String)> = params
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let signature = twilio::sign(&self.credentials.twilio_auth_token, url.as_str(), &params);
        let sent = self
            .http
            .post(url)
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await;
        acknowledged("twilio", sent)
    }
}

fn acknowledged(provider: &str, sent: Result<reqwest::Response, reqwest::Error>) -> bool {
    match sent {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            tracing::warn!(provider, status = %response.status(), "sandbox status callback refused; sent again later");
            false
        }
        Err(error) => {
            tracing::warn!(provider, %error, "sandbox status callback failed; sent again later");
            false
        }
    }
}
