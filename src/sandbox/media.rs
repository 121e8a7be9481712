//! Meta's media endpoints, played by the sandbox: `GET /{version}/{media-id}` describes a
//! patient's media with a short-lived download URL, and that URL serves the bytes. Both need
//! the account's bearer token, as at Meta. Only ids of photos the sandbox's patients sent exist.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::Sandbox;
use super::patient::PATIENT_PHOTO;
use super::provider_api::{has_whatsapp_token, meta_error};

/// Where the download URLs point, below the look-alike's base URL (Meta's are on lookaside).
pub(super) const DOWNLOAD_PATH: &str = "/lookaside/whatsapp_business/attachments";

/// `GET /{version}/{media-id}`: the media's URL, type, hash and size, as Meta describes it.
pub(super) async fn describe(
    State(sandbox): State<Arc<Sandbox>>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !has_whatsapp_token(&sandbox, &headers) {
        return meta_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    let mime_type = match known(&sandbox, &media_id).await {
        Ok(mime_type) => mime_type,
        Err(refused) => return refused,
    };
    let base = sandbox
        .accounts
        .whatsapp
        .as_ref()
        .map_or("", |w| w.base_url.trim_end_matches('/'));
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{base}{DOWNLOAD_PATH}?mid={media_id}"),
        "mime_type": mime_type,
        "sha256": super::patient::photo_sha256(),
        "file_size": PATIENT_PHOTO.len(),
        "id": media_id,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct Download {
    mid: String,
}

/// The download URL: the bytes, with their type and length.
pub(super) async fn download(
    State(sandbox): State<Arc<Sandbox>>,
    Query(download): Query<Download>,
    headers: HeaderMap,
) -> Response {
    if !has_whatsapp_token(&sandbox, &headers) {
        return meta_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    match known(&sandbox, &download.mid).await {
        Ok(mime_type) => ([(header::CONTENT_TYPE, mime_type)], PATIENT_PHOTO).into_response(),
        // Meta's expired download URLs answer a bare 404.
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The MIME type of a media id the sandbox gave, or Meta's answer to an unknown one.
async fn known(sandbox: &Sandbox, media_id: &str) -> Result<String, Response> {
    match sandbox.store.sandbox_media_type(media_id).await {
        Ok(Some(mime_type)) => Ok(mime_type),
        Ok(None) => Err(meta_error(
            StatusCode::NOT_FOUND,
            100,
            &format!(
                "Unsupported get request. Object with ID '{media_id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation"
            ),
        )),
        Err(error) => {
            tracing::warn!(%error, "sandbox could not read its media");
            Err(meta_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                2,
                "Service temporarily unavailable",
            ))
        }
    }
}
