//! Who is signed in: the session cookie (a random token; the database keeps its SHA-256), its
//! idle and absolute ends, and the form token every state change carries.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Lax` (no other site's form sends it)
//! and `Secure` unless configured off. Forms also carry the session's CSRF token, checked in
//! constant time, and a request another site started (`Sec-Fetch-Site: cross-site`, or an
//! `Origin` that is not this host) is refused before its form is read.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::i18n::Tr;
use super::page::ConsoleError;
use crate::api::AppState;
use crate::domain::{Clinic, PatientId, StaffMember};
use crate::intake::Actor;
use crate::store::{ApiKeyRole, StaffSession};

pub const COOKIE: &str = "medrelay_console";
/// Path the cookie is sent for: the console, not the API.
const COOKIE_PATH: &str = "/console";
/// A session seen this recently is not written again: one write a minute, not one a page.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A new random token (hex), for a session or a form.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `Set-Cookie` for a session that lasts until `max_age_secs`.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={token}; Path={COOKIE_PATH}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// The session token the request's cookie carries.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    crate::http::cookie(headers, COOKIE)
        .filter(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A signed-in staff member, on a page that needs one.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub member: StaffMember,
    pub clinic: Clinic,
    /// The form token this session's pages carry.
    pub csrf: String,
    pub last_patient: Option<PatientId>,
    /// The sandbox runs: its phone page is open.
    pub sandbox: Option<std::sync::Arc<crate::sandbox::Sandbox>>,
    pub(super) token_hash: String,
}

impl SignedIn {
    pub fn tr(&self) -> Tr {
        Tr::new(self.member.language)
    }

    pub fn is_admin(&self) -> bool {
        self.member.role >= ApiKeyRole::Admin
    }

    /// Refuses a staff member who is not an admin.
    pub fn require_admin(&self) -> Result<(), ConsoleError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ConsoleError::AdminOnly)
        }
    }

    /// Who hands a notification in, for intake.
    pub fn actor(&self) -> Actor {
        Actor {
            who: self.recorded_as(),
            role: self.member.role,
        }
    }

    /// As events and conversations name the person.
    pub fn recorded_as(&self) -> crate::domain::Actor {
        crate::domain::Actor::Staff(self.member.name.clone())
    }

    /// Remembers `patient` as the one this person last worked with.
    pub async fn remember_patient(
        &self,
        state: &AppState,
        patient: &PatientId,
    ) -> Result<(), ConsoleError> {
        Ok(state
            .store
            .remember_patient(&self.token_hash, patient)
            .await?)
    }

    pub(super) fn token_hash(&self) -> &str {
        &self.token_hash
    }
}

/// Where a request without a usable session goes instead.
#[derive(Debug)]
pub enum NoSession {
    /// Sign in first (then back to the page asked for, when it was a page).
    SignIn {
        next: Option<String>,
        expired: bool,
    },
    /// The password was right; the second factor is still owed.
    SecondFactor,
    Failed(ConsoleError),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next, expired } => {
                let mut to = String::from("/console/sign-in");
                let mut query = form_urlencoded::Serializer::new(String::new());
                if let Some(next) = next {
                    query.append_pair("next", &next);
                }
                if expired {
                    query.append_pair("expired", "1");
                }
                let query = query.finish();
                if !query.is_empty() {
                    to.push('?');
                    to.push_str(&query);
                }
                Redirect::to(&to).into_response()
            }
            Self::SecondFactor => Redirect::to("/console/sign-in/code").into_response(),
            Self::Failed(error) => error.into_response(),
        }
    }
}

/// A page to come back to after signing in: a GET of a console page, never another site.
fn next_after_sign_in(parts: &Parts) -> Option<String> {
    let path = parts.uri.path_and_query()?.as_str();
    (parts.method == Method::GET && path.starts_with("/console/") && !path.starts_with("//"))
        .then(|| path.to_owned())
}

/// The session of a request, whatever its state; `None` when it has none or it ended.
pub(super) async fn current_session(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(String, StaffSession)>, ConsoleError> {
    let Some(token) = cookie_token(&parts.headers) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    let Some(session) = state.store.staff_session(&hash).await? else {
        return Ok(None);
    };
    if ended(&session, state, state.clock.now()) {
        state.store.end_staff_session(&hash).await?;
        return Ok(None);
    }
    Ok(Some((hash, session)))
}

/// Past its absolute end, or unused longer than the idle limit.
fn ended(session: &StaffSession, state: &AppState, now: Timestamp) -> bool {
    let idle_end = session
        .last_seen_at
        .saturating_add(state.config.console.session_idle())
        .unwrap_or(session.last_seen_at);
    now >= session.expires_at || now >= idle_end
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = NoSession;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let had_cookie = cookie_token(&parts.headers).is_some();
        let Some((hash, session)) = current_session(parts, state)
            .await
            .map_err(NoSession::Failed)?
        else {
            return Err(NoSession::SignIn {
                next: next_after_sign_in(parts),
                expired: had_cookie,
            });
        };
        if session.awaiting_second_factor {
            return Err(NoSession::SecondFactor);
        }
        let now = state.clock.now();
        if now.as_millisecond() - session.last_seen_at.as_millisecond() >= TOUCH_EVERY_MS {
            state
                .store
                .touch_staff_session(&hash, now)
                .await
                .map_err(|e| NoSession::Failed(e.into()))?;
        }
        tracing::Span::current().record("key", tracing::field::display(&session.member.id));
        super::audit::StaffSlot::fill(
            &parts.extensions,
            (
                session.member.id.clone(),
                session.member.role,
                session.clinic.id.clone(),
            ),
        );
        Ok(Self {
            member: session.member,
            clinic: session.clinic,
            csrf: session.csrf_token,
            last_patient: session.last_patient,
            sandbox: parts
                .extensions
                .get::<super::SandboxRuns>()
                .map(|runs| runs.0.clone()),
            token_hash: hash,
        })
    }
}

/// Whether another site started this request: the browser says so (`Sec-Fetch-Site`), or its
/// `Origin` is not the host it was sent to.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            origin_host != Some(host)
        }
        _ => false,
    }
}

/// A state change from a signed-in person's form: the session, the form's fields, and the
/// proof (its CSRF token) that the form came from one of this session's pages.
#[derive(Debug)]
pub struct CsrfForm<T>(pub SignedIn, pub T);

/// The form of a button that sends nothing but its token (sign out, turn something off).
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

#[derive(serde::Deserialize)]
struct TokenOnly {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let signed = SignedIn::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if is_cross_site(&parts.headers) {
            return Err(ConsoleError::FormExpired.into_response());
        }
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let TokenOnly { csrf } = serde_html_form::from_bytes(&bytes)
            .map_err(|_| ConsoleError::FormExpired.into_response())?;
        if !same_token(&csrf, &signed.csrf) {
            return Err(ConsoleError::FormExpired.into_response());
        }
        let form = serde_html_form::from_bytes(&bytes)
            .map_err(|e| ConsoleError::BadForm(e.to_string()).into_response())?;
        Ok(Self(signed, form))
    }
}

/// Whether a form's token is the session's, compared in constant time.
pub fn same_token(sent: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}
