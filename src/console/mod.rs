//! The staff console: the clinic's people working in a browser, in Hebrew or English. Pages are
//! drawn on the server (askama) from the same store and policy code the API uses; every state
//! change is a form post carrying the session's CSRF token. See `session` for sign-in, `page`
//! for the frame every page shares, `i18n` for the texts.

pub mod accounts;
mod assets;
mod audit;
pub mod charts;
pub mod i18n;
pub mod page;
mod pages;
pub mod password;
pub mod right_patient;
pub mod session;
pub mod totp;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;

use crate::api::AppState;
use crate::sandbox::Sandbox;

/// The sandbox, while it runs: its phone page and the navigation's link to it.
#[derive(Debug, Clone)]
pub struct SandboxRuns(pub Arc<Sandbox>);

/// Every console route.
pub fn routes(state: AppState, sandbox: Option<Arc<Sandbox>>) -> Router<AppState> {
    let router = pages::routes().route("/console/assets/{name}", get(assets::asset));
    let router = match sandbox {
        Some(sandbox) => router.layer(axum::Extension(SandboxRuns(sandbox))),
        None => router,
    };
    router
        .route_layer(middleware::from_fn_with_state(state, audit::record))
        .layer(middleware::from_fn(page_headers))
}

/// What every console answer carries: a content-security policy that lets a page load nothing
/// and run nothing but the console's own files, no framing, no caching of pages with patient
/// data, and no referrer leaving the console.
async fn page_headers(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/console/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A document with a stricter policy of its own (a transcript: no script at all) keeps it.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
