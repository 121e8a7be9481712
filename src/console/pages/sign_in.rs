//! Signing in and out: email and password, then the TOTP code for those who turned it on. A
//! wrong password, an unknown address and a disabled account get the same answer; failures are
//! counted per account (lock-out) and per client address (the API's failed-key limit).

use askama::Template;
use axum::extract::{FromRequest, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::api::{AppState, ClientNet};
use crate::console::i18n::Tr;
use crate::console::page::{ConsoleError, render};
use crate::console::password;
use crate::console::session::{
    self, CsrfForm, NoFields, SignedIn, cleared_cookie, current_session, new_token, session_cookie,
};
use crate::console::totp;
use crate::domain::UiLanguage;
use crate::store::{NewSession, SignInRecord};

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    tr: Tr,
    languages: Vec<(&'static str, &'static str)>,
    next: Option<String>,
    email: String,
    message: Option<String>,
    /// The page was reached over plain HTTP from another machine: the Secure cookie won't stick.
    plain_http: bool,
    second_factor: bool,
    csrf: String,
}

impl SignInPage {
    fn new(tr: Tr, next: Option<String>) -> Self {
        Self {
            tr,
            languages: vec![("he", "עברית"), ("en", "English")],
            next,
            email: String::new(),
            message: None,
            plain_http: false,
            second_factor: false,
            csrf: String::new(),
        }
    }

    fn answer(self, status: StatusCode) -> Result<Response, ConsoleError> {
        Ok((status, render(&self)?).into_response())
    }
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct SignInQuery {
    next: Option<String>,
    expired: Option<String>,
    lang: Option<String>,
}

/// The language of a page before anyone signed in: asked for, else the browser's first choice
/// of the two, else Hebrew.
fn visitor_language(asked: Option<&str>, headers: &HeaderMap) -> UiLanguage {
    asked.and_then(UiLanguage::parse).unwrap_or_else(|| {
        let accepted = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let first = |tag: &str| accepted.find(tag).unwrap_or(usize::MAX);
        if first("en") < first("he") {
            UiLanguage::En
        } else {
            UiLanguage::He
        }
    })
}

/// Only a console page is a place to go back to: never another site.
fn safe_next(next: Option<String>) -> Option<String> {
    next.filter(|n| n.starts_with("/console/") && !n.contains("//") && !n.contains('\\'))
}

/// Whether the browser reached us over plain HTTP by an address other than this machine's own:
/// there a `Secure` cookie is dropped and sign-in cannot hold.
fn plain_http_from_afar(headers: &HeaderMap, state: &AppState) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let local =
        host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
    state.config.console.secure_cookies && !forwarded_https && !local
}

pub(in crate::console) async fn sign_in_page(
    State(state): State<AppState>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let tr = Tr::new(visitor_language(query.lang.as_deref(), &headers));
    let mut page = SignInPage::new(tr, safe_next(query.next));
    if query.expired.is_some() {
        page.message = Some(tr.t("sign-in-expired"));
    }
    page.plain_http = plain_http_from_afar(&headers, &state);
    page.answer(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    lang: Option<String>,
}

pub(in crate::console) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ConsoleError> {
    let client = crate::http::peer(request.extensions()).map(|peer| ClientNet::of(peer.ip()));
    let form: SignInForm = axum::Form::<SignInForm>::from_request(request, &state)
        .await
        .map(|axum::Form(form)| form)
        .map_err(|e| ConsoleError::BadForm(e.body_text()))?;
    let tr = Tr::new(visitor_language(form.lang.as_deref(), &headers));
    let mut page = SignInPage::new(tr, safe_next(form.next.clone()));
    page.email = form.email.clone();
    if session::is_cross_site(&headers) {
        return Err(ConsoleError::FormExpired);
    }
    if let Some(client) = client
        && state.auth_failures.refuse_while_limited(client).is_err()
    {
        page.message = Some(tr.t("sign-in-too-many"));
        return page.answer(StatusCode::TOO_MANY_REQUESTS);
    }
    let email = form.email.trim().to_lowercase();
    let record = state.store.sign_in_record(&email).await?;
    let now = state.clock.now();
    if let Some(record) = &record
        && record.locked_until.is_some_and(|until| until > now)
    {
        page.message = Some(tr.t("sign-in-locked"));
        return page.answer(StatusCode::TOO_MANY_REQUESTS);
    }
    let usable = record.as_ref().filter(|r| !r.member.disabled);
    let stored = usable.map(|r| r.password_hash.clone());
    if !password::verify(form.password, stored).await {
        let locked = sign_in_failed(&state, record.as_ref(), client).await?;
        page.message = Some(tr.t(if locked {
            "sign-in-locked"
        } else {
            "sign-in-wrong"
        }));
        return page.answer(StatusCode::UNAUTHORIZED);
    }
    let Some(record) = usable else {
        return Err(ConsoleError::NotFound);
    };
    signed_in(&state, record, page.next).await
}

/// Counts a failed try against the account (if there is one) and the client's address; whether
/// the account is now locked.
async fn sign_in_failed(
    state: &AppState,
    record: Option<&SignInRecord>,
    client: Option<ClientNet>,
) -> Result<bool, ConsoleError> {
    if let Some(client) = client {
        let _ = state.auth_failures.count(client);
    }
    let Some(record) = record else {
        return Ok(false);
    };
    tracing::info!(staff = %record.member.id, "console sign-in failed");
    let lockout = state.config.console.lockout();
    Ok(state
        .store
        .record_failed_sign_in(&record.member.id, lockout, state.clock.now())
        .await?)
}

/// The password was right: a new session (a new token, whatever the browser held before), and
/// on to the code page or the page asked for.
async fn signed_in(
    state: &AppState,
    record: &SignInRecord,
    next: Option<String>,
) -> Result<Response, ConsoleError> {
    state.store.record_good_sign_in(&record.member.id).await?;
    let now = state.clock.now();
    let console = &state.config.console;
    let expires_at = now.saturating_add(console.session_max()).unwrap_or(now);
    let token = new_token();
    let csrf = new_token();
    let second_factor = record.totp_secret.is_some();
    state
        .store
        .open_staff_session(
            NewSession {
                token_hash: &session::token_hash(&token),
                member: &record.member,
                csrf_token: &csrf,
                awaiting_second_factor: second_factor,
                expires_at,
            },
            now,
        )
        .await?;
    tracing::info!(staff = %record.member.id, "console sign-in");
    let to = if second_factor {
        "/console/sign-in/code".to_owned()
    } else {
        next.unwrap_or_else(|| "/console/today".to_owned())
    };
    let cookie = session_cookie(
        &token,
        console.session_max().as_secs(),
        console.secure_cookies,
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&to)).into_response())
}

/// The page that asks for the code, for a session whose password was right.
pub(in crate::console) async fn code_page(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ConsoleError> {
    let (parts, _) = request.into_parts();
    let Some((_, session)) = current_session(&parts, &state).await? else {
        return Ok(Redirect::to("/console/sign-in").into_response());
    };
    if !session.awaiting_second_factor {
        return Ok(Redirect::to("/console/today").into_response());
    }
    let mut page = SignInPage::new(Tr::new(session.member.language), None);
    page.second_factor = true;
    page.csrf = session.csrf_token;
    page.answer(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// Checks the code; a wrong one counts as a failed sign-in.
pub(in crate::console) async fn check_code(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ConsoleError> {
    let (parts, body) = request.into_parts();
    let Some((hash, session)) = current_session(&parts, &state).await? else {
        return Ok(Redirect::to("/console/sign-in").into_response());
    };
    let request = axum::extract::Request::from_parts(parts, body);
    let axum::Form(form) = axum::Form::<CodeForm>::from_request(request, &state)
        .await
        .map_err(|e| ConsoleError::BadForm(e.body_text()))?;
    if !session::same_token(&form.csrf, &session.csrf_token) {
        return Err(ConsoleError::FormExpired);
    }
    let record = state.store.sign_in_record(&session.member.email).await?;
    let secret = record.as_ref().and_then(|r| r.totp_secret.clone());
    let unix = u64::try_from(state.clock.now().as_second()).unwrap_or_default();
    let step = secret.and_then(|secret| totp::matching_step(&secret, &form.code, unix));
    let fresh = match step {
        Some(step) => state.store.use_totp_step(&session.member.id, step).await?,
        None => false,
    };
    if !fresh {
        let locked = sign_in_failed(&state, record.as_ref(), None).await?;
        let tr = Tr::new(session.member.language);
        let mut page = SignInPage::new(tr, None);
        page.second_factor = true;
        page.csrf = session.csrf_token;
        page.message = Some(tr.t(if locked {
            "sign-in-locked"
        } else {
            "sign-in-wrong-code"
        }));
        if locked {
            state.store.end_staff_session(&hash).await?;
        }
        return page.answer(StatusCode::UNAUTHORIZED);
    }
    state.store.pass_second_factor(&hash).await?;
    Ok(Redirect::to("/console/today").into_response())
}

pub(in crate::console) async fn sign_out(
    State(state): State<AppState>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, ConsoleError> {
    state.store.end_staff_session(signed.token_hash()).await?;
    tracing::info!(staff = %signed.member.id, "console sign-out");
    let cookie = cleared_cookie(state.config.console.secure_cookies);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/console/sign-in"),
    )
        .into_response())
}

/// `/` and `/console`: the console's first page (sign-in first when needed).
pub(in crate::console) async fn home(_signed: SignedIn) -> Redirect {
    Redirect::to("/console/today")
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/", get(home))
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-in/code", get(code_page).post(check_code))
        .route("/console/sign-out", post(sign_out))
}
