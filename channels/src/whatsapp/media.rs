//! Fetching a patient's media from the Cloud API: `GET /{version}/{media-id}` answers with a
//! short-lived download URL, and `GET` on that URL (with the same bearer token) answers with
//! the bytes. The bytes are handed on chunk by chunk: a video is never held whole in memory.
//!
//! The download URL carries its own signature in the query, so it is never logged.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use url::Url;

use super::cloud::WhatsAppSetupError;
use super::config::WhatsAppConfig;
use super::wire::ErrorResponse;

/// Longest wait for the next piece of a download; a whole video may take longer than this.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why media could not be fetched, in the terms the gateway answers staff with.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Meta no longer has it (deleted, past Meta's own retention, or an id it never gave).
    #[error("WhatsApp no longer has this media")]
    Gone,
    /// The account's token or permissions were refused: the operator must fix the settings.
    #[error("WhatsApp refused the account's credentials (HTTP {status}, code {code:?})")]
    Config { status: u16, code: Option<i64> },
    /// Meta is down, slow or rate limiting: asking again later may work.
    #[error("WhatsApp's media service is unavailable now: {0}")]
    Unavailable(String),
    /// Meta answered with something that is not its media description.
    #[error("WhatsApp answered the media lookup with an unreadable body")]
    Malformed,
}

/// What `GET /{version}/{media-id}` answers.
#[derive(Debug, Deserialize)]
struct MediaUrl {
    url: String,
    #[serde(default)]
    mime_type: Option<String>,
}

/// Fetches media of one WhatsApp account with its token.
pub struct WhatsAppMedia {
    client: reqwest::Client,
    /// `{base}/{version}/`: the media id follows.
    base: Url,
    authorization: HeaderValue,
}

/// A download under way: what Meta said about it, then its bytes in pieces.
#[derive(Debug)]
pub struct MediaDownload {
    /// The MIME type of the bytes: the download's own, else the one the lookup named.
    pub content_type: Option<String>,
    /// The length in bytes, when Meta announced it.
    pub content_length: Option<u64>,
    response: reqwest::Response,
}

impl MediaDownload {
    /// The next piece of the file; `None` once it is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, MediaError> {
        self.response
            .chunk()
            .await
            .map_err(|e| MediaError::Unavailable(transport_reason(&e)))
    }
}

impl WhatsAppMedia {
    pub fn new(config: &WhatsAppConfig) -> Result<Self, WhatsAppSetupError> {
        let invalid = |field, problem: &str| WhatsAppSetupError::Invalid {
            field,
            problem: problem.to_owned(),
        };
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", config.access_token.expose()))
                .map_err(|_| invalid("access_token", "must be printable ASCII"))?;
        authorization.set_sensitive(true);
        let mut base = Url::parse(&config.base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| invalid("base_url", "expected an http(s) URL"))?;
        base.path_segments_mut()
            .map_err(|()| invalid("base_url", "expected an http(s) URL"))?
            .pop_if_empty()
            .extend([config.api_version.as_str(), ""]);
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.request_timeout_ms))
            // No whole-request deadline: a large file may stream for a while, as long as it moves.
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(WhatsAppSetupError::Client)?;
        Ok(Self {
            client,
            base,
            authorization,
        })
    }

    /// Looks `media_id` up and starts its download. Meta's download URLs live for minutes, so
    /// each fetch asks for a fresh one.
    pub async fn fetch(&self, media_id: &str) -> Result<MediaDownload, MediaError> {
        let mut lookup = self.base.clone();
        lookup
            .path_segments_mut()
            .map_err(|()| MediaError::Malformed)?
            .pop()
            .push(media_id);
        let answer = self.get(lookup).await?;
        let body = answer
            .bytes()
            .await
            .map_err(|e| MediaError::Unavailable(transport_reason(&e)))?;
        let media: MediaUrl = serde_json::from_slice(&body).map_err(|_| MediaError::Malformed)?;
        let url = Url::parse(&media.url).map_err(|_| MediaError::Malformed)?;
        let response = self.get(url).await?;
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE).or(media.mime_type);
        let content_length = header(CONTENT_LENGTH).and_then(|v| v.parse().ok());
        Ok(MediaDownload {
            content_type,
            content_length,
            response,
        })
    }

    /// `GET url` with the token; any answer but 2xx becomes the error it means.
    async fn get(&self, url: Url) -> Result<reqwest::Response, MediaError> {
        let response = self
            .client
            .get(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(|e| MediaError::Unavailable(transport_reason(&e)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        let code = serde_json::from_slice::<ErrorResponse>(&body)
            .ok()
            .map(|e| e.error.code);
        let error = classify(status, code);
        tracing::info!(http_status = status.as_u16(), code, %error, "whatsapp media not fetched");
        Err(error)
    }
}

/// A refused media request by Meta's error code, else by HTTP status.
fn classify(status: StatusCode, code: Option<i64>) -> MediaError {
    let config = MediaError::Config {
        status: status.as_u16(),
        code,
    };
    match code {
        // "Object with ID … does not exist": deleted, expired, or never ours.
        Some(100) => MediaError::Gone,
        Some(0 | 3 | 10 | 190 | 200..=299) => config,
        Some(1 | 2 | 4 | 80007 | 131016) => MediaError::Unavailable(format!("Graph code {code:?}")),
        _ => match status {
            StatusCode::NOT_FOUND | StatusCode::GONE => MediaError::Gone,
            StatusCode::TOO_MANY_REQUESTS => MediaError::Unavailable("HTTP 429".to_owned()),
            s if s.is_server_error() => MediaError::Unavailable(format!("HTTP {}", s.as_u16())),
            _ => config,
        },
    }
}

/// What went wrong on the wire, without the URL (its query is a credential).
fn transport_reason(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the download broke off"
    } else {
        "request failed"
    };
    what.to_owned()
}

/// The base URL only: the token stays out of logs.
impl fmt::Debug for WhatsAppMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppMedia")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}
