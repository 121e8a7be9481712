//! `GET /v1/messages/{id}/media`: the photo, document or recording a patient sent, streamed from
//! the provider with the clinic's credentials as it arrives. medrelay keeps no copy: not on
//! disk, not whole in memory, and not at all once the clinic's media retention has passed.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::{Span, Timestamp};
use medrelay_channels::whatsapp::{MediaDownload, MediaError};

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::problem::ApiError;
use crate::domain::{ClinicId, InboundMedia, InboundMessageId};
use crate::store::ApiKeyRole;

/// Content type of media whose provider named none.
const UNKNOWN_TYPE: &str = "application/octet-stream";

/// The photo, document or recording a patient sent, streamed from the provider.
#[utoipa::path(
    get,
    path = "/v1/messages/{id}/media",
    tag = "conversations",
    params(("id" = InboundMessageId, Path, description = "The patient's message")),
    responses(
        (status = 200, description = "The media, as the provider typed it", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("Content-Disposition" = String, description = "`attachment`, with the file name when known"))),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such message, or it has no media"),
        (status = 410, description = "Past the clinic's media retention (`/v1/clinic/retention`), removed by an erasure, or gone at the provider"),
        (status = 502, description = "No WhatsApp account for the receiving number, or the provider answered nonsense"),
        (status = 503, description = "The provider or the database cannot be reached now"),
    )
)]
pub(super) async fn get_media(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    patient_media(&state, &caller.0.clinic.id, &id).await
}

/// The media of the clinic's inbound message `id`, streamed from the provider: for the API and
/// the console alike.
pub(crate) async fn patient_media(
    state: &AppState,
    clinic: &ClinicId,
    id: &str,
) -> Result<Response, ApiError> {
    let id = InboundMessageId::parse(id).ok_or(ApiError::NotFound("message"))?;
    let message = state
        .store
        .inbound_message_media(clinic, &id)
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    let (media_id, mime_type, filename) = match message.media {
        Some(InboundMedia::WhatsApp {
            media_id,
            mime_type,
            filename,
            ..
        }) => (media_id, mime_type, filename),
        Some(InboundMedia::Removed { .. }) => {
            check_retention(message.received_at, message.media_days, state.clock.now())?;
            return Err(ApiError::Gone(
                "this message's media reference was erased on the clinic's request".to_owned(),
            ));
        }
        _ => return Err(ApiError::NotFound("media of this message")),
    };
    check_retention(message.received_at, message.media_days, state.clock.now())?;
    let account = state
        .providers
        .whatsapp_account(&message.sender)
        .ok_or_else(|| {
            ApiError::BadGateway(
                "no WhatsApp account is configured for the number that received this message"
                    .to_owned(),
            )
        })?;
    let download = account.media.fetch(&media_id).await.map_err(media_error)?;
    let headers = media_headers(&download, mime_type.as_deref(), filename.as_deref());
    Ok((headers, Body::from_stream(chunks(download))).into_response())
}

/// Media older than the retention period is not served, even if the provider still has it.
fn check_retention(received_at: Timestamp, days: u32, now: Timestamp) -> Result<(), ApiError> {
    let kept_until = received_at
        .checked_add(Span::new().hours(i64::from(days) * 24))
        .unwrap_or(Timestamp::MAX);
    if now < kept_until {
        return Ok(());
    }
    Err(ApiError::Gone(format!(
        "this message's media is past the clinic's media retention of {days} days and is no \
         longer served"
    )))
}

fn media_error(error: MediaError) -> ApiError {
    match error {
        MediaError::Gone => ApiError::Gone(
            "the provider no longer has this media (deleted or past its own retention)".to_owned(),
        ),
        MediaError::Unavailable(_) => {
            ApiError::ProviderUnavailable(format!("{error}; try again shortly"))
        }
        MediaError::Config { .. } | MediaError::Malformed => {
            ApiError::BadGateway(error.to_string())
        }
    }
}

/// The provider's type and length, and what keeps a browser from running or caching it.
fn media_headers(
    download: &MediaDownload,
    stored_type: Option<&str>,
    filename: Option<&str>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let content_type = download
        .content_type
        .as_deref()
        .or(stored_type)
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or(HeaderValue::from_static(UNKNOWN_TYPE));
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Some(length) = download.content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    // A patient's photo is health data: no cache along the way keeps it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Shown as a download, never rendered as a page of ours: a patient chose its bytes.
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&content_disposition(filename))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
}

/// `attachment`, with the file name when known: a plain ASCII fallback and the exact name in
/// RFC 5987 form, so Hebrew names survive.
fn content_disposition(filename: Option<&str>) -> String {
    let Some(name) = filename.filter(|n| !n.trim().is_empty()) else {
        return "attachment".to_owned();
    };
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' ' | '.' | '-' | '_' | '(' | ')' => c,
            c if c.is_ascii_alphanumeric() => c,
            _ => '_',
        })
        .collect();
    let exact: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

/// The download's pieces as a body stream; it ends after the last piece or the first error.
fn chunks(
    download: MediaDownload,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, MediaError>> {
    futures::stream::unfold(Some(download), |state| async move {
        let mut download = state?;
        match download.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(download))),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "patient media download broke off");
                Some((Err(error), None))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_given_plainly_and_exactly() {
        assert_eq!(content_disposition(None), "attachment");
        assert_eq!(
            content_disposition(Some("scan 1.pdf")),
            "attachment; filename=\"scan 1.pdf\"; filename*=UTF-8''scan%201.pdf"
        );
        assert_eq!(
            content_disposition(Some("תוצאה\".pdf")),
            "attachment; filename=\"______.pdf\"; \
             filename*=UTF-8''%D7%AA%D7%95%D7%A6%D7%90%D7%94%22.pdf"
        );
    }

    #[test]
    fn media_is_served_until_the_retention_period_ends() {
        let received: Timestamp = "2026-11-01T10:00:00Z".parse().expect("time");
        let day = |d: i64| received + Span::new().hours(d * 24);

        assert!(check_retention(received, 30, day(29)).is_ok());
        assert!(matches!(
            check_retention(received, 30, day(30)),
            Err(ApiError::Gone(_))
        ));
        assert!(check_retention(received, 90, day(89)).is_ok());
    }
}
