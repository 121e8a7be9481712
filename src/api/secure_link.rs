//! `/s/{clinic}/{token}`: a secure message link's page, for the patient's browser. HTML, not
//! problem+json; never cached, indexed or told to another site (no referrer). The token is a
//! path value, so it is never logged (only the matched route is).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::secure_link::{self, Answer, Notice, Page, PageView, Reply, SecureLinkError};

/// The cookie of the browser that proved who it is.
const SESSION_COOKIE: &str = "medrelay_session";
/// The cookie a form's token must match.
const FORM_COOKIE: &str = "medrelay_form";

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(open_link, answer_link))
}

/// What the page's forms post.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct LinkForm {
    form_token: Option<String>,
    action: Option<String>,
    code: Option<String>,
    birth_date: Option<String>,
}

/// The link's page: the request for proof that the reader is the patient, or the message.
#[utoipa::path(
    get,
    path = "/s/{clinic}/{token}",
    tag = "secure links",
    params(
        ("clinic" = String, Path, description = "The clinic's slug"),
        ("token" = String, Path, description = "The link's secret token, from the notice"),
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 410, description = "The link is closed, locked or unknown", content_type = "text/html"),
        (status = 503, description = "The page cannot be shown right now", content_type = "text/html"),
    )
)]
async fn open_link(
    State(state): State<AppState>,
    Path((clinic, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let session = crate::http::cookie(&headers, SESSION_COOKIE);
    let reply = state
        .secure_links
        .open(&clinic, &token, session.as_deref())
        .await;
    respond(&state, &clinic, &token, reply)
}

#[utoipa::path(
    post,
    path = "/s/{clinic}/{token}",
    tag = "secure links",
    params(
        ("clinic" = String, Path, description = "The clinic's slug"),
        ("token" = String, Path, description = "The link's secret token, from the notice"),
    ),
    request_body(content = LinkForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The page, after the form's action", content_type = "text/html"),
        (status = 303, description = "Proven: on to the message, with a session cookie",
            headers(("Location" = String, description = "The link's page"))),
        (status = 410, description = "The link is closed, locked or unknown", content_type = "text/html"),
        (status = 415, description = "The body is not a form"),
        (status = 503, description = "The page cannot be shown right now", content_type = "text/html"),
    )
)]
/// A form is acted on only when its token matches the page's cookie: a form posted from another
/// site has no such cookie (it is `SameSite=Strict`), and is answered with the page itself.
async fn answer_link(
    State(state): State<AppState>,
    Path((clinic, token)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Response {
    let links = &state.secure_links;
    let from_page =
        form.form_token.is_some() && form.form_token == crate::http::cookie(&headers, FORM_COOKIE);
    let reply = match form.action.as_deref() {
        _ if !from_page => links.open(&clinic, &token, None).await.map(form_expired),
        Some("send_code") => links.send_code(&clinic, &token).await,
        Some("code") => {
            let answer = Answer::Code(form.code.unwrap_or_default());
            links.verify(&clinic, &token, answer).await
        }
        Some("birth_date") => {
            let answer = Answer::BirthDate(form.birth_date.unwrap_or_default());
            links.verify(&clinic, &token, answer).await
        }
        _ => links.open(&clinic, &token, None).await,
    };
    respond(&state, &clinic, &token, reply)
}

/// The request-for-proof page, saying the form was not acted on.
fn form_expired(reply: Reply) -> Reply {
    match reply {
        Reply::Show(PageView {
            page:
                Page::Prove {
                    phone,
                    code_sent,
                    birth_date,
                    ..
                },
            language,
            clinic,
            clinic_phone,
        }) => Reply::Show(PageView {
            page: Page::Prove {
                phone,
                code_sent,
                birth_date,
                notice: Some(Notice::FormExpired),
            },
            language,
            clinic,
            clinic_phone,
        }),
        other => other,
    }
}

fn respond(
    state: &AppState,
    clinic: &str,
    token: &str,
    reply: Result<Reply, SecureLinkError>,
) -> Response {
    let path = state.secure_links.link_path(clinic, token);
    let secure = state.secure_links.is_https();
    let view = match reply {
        Ok(Reply::Show(view)) => view,
        Ok(Reply::Proven { session }) => {
            let session = set_cookie(SESSION_COOKIE, &session, &path, secure);
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            headers.insert(header::LOCATION, header_value(&path));
            headers.insert(header::SET_COOKIE, header_value(&session));
            private(headers);
            return response;
        }
        Err(SecureLinkError::UnknownClinic) => PageView::unknown_clinic(Page::Closed),
        Err(error) => {
            tracing::error!(%error, "secure link page failed");
            PageView::unknown_clinic(Page::Unavailable)
        }
    };
    page(&view, &path, secure)
}

/// The page as HTML, with a fresh form token when it has forms.
fn page(view: &PageView, path: &str, secure: bool) -> Response {
    let status = match view.page {
        Page::Prove { .. } | Page::Message(_) => StatusCode::OK,
        Page::Locked | Page::Closed => StatusCode::GONE,
        Page::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    let form_token = secure_link::random_secret();
    let mut response = (status, view.html(&form_token)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if view.has_forms() {
        let cookie = set_cookie(FORM_COOKIE, &form_token, path, secure);
        headers.insert(header::SET_COOKIE, header_value(&cookie));
    }
    private(headers);
    response
}

/// Headers that keep the page to this browser: not stored, not indexed, not framed, no referrer
/// to wherever the patient goes next, nothing loaded from elsewhere.
fn private(headers: &mut HeaderMap) {
    let set = [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
}

/// A cookie for this link's page only, out of scripts' and other sites' reach.
fn set_cookie(name: &str, value: &str, path: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{secure}")
}

/// The path and token are URL-safe text and the values ours, so this never falls back.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("/"))
}
