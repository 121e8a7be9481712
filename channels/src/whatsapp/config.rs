use serde::Deserialize;

use crate::Secret;

/// Settings of one WhatsApp business number on the Cloud API.
///
/// `Debug` is safe to log: every credential is a [`Secret`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// Graph API origin; the sandbox and tests point it elsewhere.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Graph version such as `v23.0`. Meta retires versions, so it is config, never a constant.
    pub api_version: String,
    /// Graph id of the business number (not its E.164 number); part of the send URL.
    pub phone_number_id: String,
    /// System-user access token, sent as `Authorization: Bearer`.
    pub access_token: Secret,
    /// App Secret: key of the `X-Hub-Signature-256` HMAC on webhook POSTs.
    pub app_secret: Secret,
    /// Token Meta echoes in the webhook subscription handshake (GET).
    pub verify_token: Secret,
    /// Whole-request deadline; past it the outcome is ambiguous, so keep it generous.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// The `message_send_ttl_seconds` the operator set on the approved templates at Meta
    /// (30..=43200 for utility templates). The Cloud API takes no per-message TTL, so this only
    /// tells the gateway how long Meta keeps retrying; unset means Meta's 30-day default.
    #[serde(default)]
    pub template_ttl_seconds: Option<u32>,
}

const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn default_request_timeout_ms() -> u64 {
    10_000
}
