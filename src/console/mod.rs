//! The staff console: the clinic's people working in a browser, in Hebrew or English. Pages are
//! drawn on the server (askama) from the same store and policy code the API uses; every state
//! change is a form post carrying the session's CSRF token. See `session` for sign-in, `page`
//! for the frame every page shares, `i18n` for the texts.

pub mod accounts;
mod assets;
pub mod i18n;
pub mod page;
mod pages;
pub mod password;
pub mod session;
pub mod totp;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::api::AppState;
use crate::sandbox::Sandbox;

/// The sandbox, while it runs: its phone page and the navigation's link to it.
#[derive(Debug, Clone)]
pub struct SandboxRuns(pub Arc<Sandbox>);

/// Every console route.
pub fn routes(sandbox: Option<Arc<Sandbox>>) -> Router<AppState> {
    let router = Router::new()
        .route("/", get(pages::sign_in::home))
        .route("/console", get(pages::sign_in::home))
        .route("/console/", get(pages::sign_in::home))
        .route(
            "/console/sign-in",
            get(pages::sign_in::sign_in_page).post(pages::sign_in::sign_in),
        )
        .route(
            "/console/sign-in/code",
            get(pages::sign_in::code_page).post(pages::sign_in::check_code),
        )
        .route("/console/sign-out", post(pages::sign_in::sign_out))
        .route("/console/account", get(pages::account::account_page))
        .route(
            "/console/account/language",
            post(pages::account::set_language),
        )
        .route(
            "/console/account/password",
            post(pages::account::change_password),
        )
        .route("/console/account/totp", post(pages::account::start_totp))
        .route(
            "/console/account/totp/confirm",
            post(pages::account::confirm_totp),
        )
        .route(
            "/console/account/totp/off",
            post(pages::account::turn_totp_off),
        )
        .route("/console/settings", get(pages::settings::index_page))
        .route(
            "/console/settings/staff",
            get(pages::settings::staff::staff_page).post(pages::settings::staff::add_staff),
        )
        .route(
            "/console/settings/staff/{id}/password",
            post(pages::settings::staff::reset_password),
        )
        .route(
            "/console/settings/staff/{id}/disabled",
            post(pages::settings::staff::set_disabled),
        )
        .route(
            "/console/settings/hours",
            get(pages::settings::hours::hours_page).post(pages::settings::hours::save_hours),
        )
        .route(
            "/console/settings/topics",
            get(pages::settings::topics::topics_page).post(pages::settings::topics::set_topic),
        )
        .route(
            "/console/settings/templates",
            get(pages::settings::templates::list_page),
        )
        .route(
            "/console/settings/templates/new",
            get(pages::settings::templates::new_template),
        )
        .route(
            "/console/settings/templates/{name}/{language}",
            get(pages::settings::templates::edit_page)
                .post(pages::settings::templates::save_template),
        )
        .route(
            "/console/settings/templates/{name}/{language}/delete",
            post(pages::settings::templates::delete_template),
        )
        .route(
            "/console/settings/quick-replies",
            post(pages::settings::templates::save_quick_reply),
        )
        .route(
            "/console/settings/quick-replies/{name}/delete",
            post(pages::settings::templates::delete_quick_reply),
        )
        .route("/console/assets/{name}", get(assets::asset));
    let router = match sandbox {
        Some(sandbox) => router.layer(axum::Extension(SandboxRuns(sandbox))),
        None => router,
    };
    router.layer(middleware::from_fn(page_headers))
}

/// What every console answer carries: a content-security policy that lets a page load nothing
/// and run nothing but the console's own files, no framing, no caching of pages with patient
/// data, and no referrer leaving the console.
async fn page_headers(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/console/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
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
