//! A browser's part in console tests, over plain HTTP: a staff member signs in with a password,
//! keeps the session cookie, and posts forms with the session's CSRF token, as a page would.

use medrelay::console::accounts::{NewAccount, add_member};
use medrelay::domain::{StaffMember, UiLanguage};
use medrelay::store::ApiKeyRole;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::harness::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in browser.
pub struct Console {
    pub base: String,
    pub cookie: String,
    pub csrf: String,
    pub member: StaffMember,
    pub client: reqwest::Client,
}

/// A client that shows redirects instead of following them, as tests check where they go.
pub fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl TestApp {
    /// A person of the test's clinic (`hadar`) with the password [`PASSWORD`].
    pub async fn staff_member(&self, email: &str, role: ApiKeyRole) -> StaffMember {
        self.staff_member_of("hadar", email, role, UiLanguage::En)
            .await
    }

    pub async fn staff_member_of(
        &self,
        clinic: &str,
        email: &str,
        role: ApiKeyRole,
        language: UiLanguage,
    ) -> StaffMember {
        let clinic = self.store.clinic_by_slug(clinic).await.expect("clinic");
        add_member(
            &self.store,
            NewAccount {
                clinic: &clinic.id,
                email,
                name: &format!("{} Cohen", email.split('@').next().unwrap_or("Dana")),
                role,
                language,
                password: PASSWORD.to_owned(),
            },
            jiff::Timestamp::now(),
        )
        .await
        .expect("staff member added")
    }

    /// A staff member of `hadar`, signed in, pages in English.
    pub async fn console(&self, role: ApiKeyRole) -> Console {
        let email = match role {
            ApiKeyRole::Admin => "admin@hadar.example",
            _ => "dana@hadar.example",
        };
        let member = self.staff_member(email, role).await;
        Console::sign_in(&self.base, member).await
    }
}

/// The session cookie's `name=value`, from a sign-in's answer.
pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("medrelay_console=") && !v.starts_with("medrelay_console=;"))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(page[at..at + 64].to_owned())
}

/// Where a redirect goes.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Posts the sign-in form.
pub async fn post_sign_in(base: &str, email: &str, password: &str) -> Response {
    browser_client()
        .post(format!("{base}/console/sign-in"))
        .form(&[("email", email), ("password", password), ("lang", "en")])
        .send()
        .await
        .expect("sign-in posted")
}

impl Console {
    pub async fn sign_in(base: &str, member: StaffMember) -> Self {
        let answer = post_sign_in(base, &member.email, PASSWORD).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "signed in");
        let cookie = session_cookie(&answer).expect("session cookie");
        let mut console = Self {
            base: base.to_owned(),
            cookie,
            csrf: String::new(),
            member,
            client: browser_client(),
        };
        let account = console.page("/console/account").await;
        console.csrf = csrf_of(&account).expect("the page's form token");
        console
    }

    /// `GET` with the session.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("page requested")
    }

    /// A page's HTML, which must be there.
    pub async fn page(&self, path: &str) -> String {
        let answer = self.get(path).await;
        assert_eq!(answer.status(), StatusCode::OK, "GET {path}");
        answer.text().await.expect("page")
    }

    /// Posts a form of one of the session's pages (its CSRF token added).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// Posts exactly `fields`, no token added.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(fields)
            .send()
            .await
            .expect("form posted")
    }
}
