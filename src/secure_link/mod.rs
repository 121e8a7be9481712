//! Secure message links: a sensitive notice carries a link to a page served here, where the
//! patient proves who they are (a code sent by SMS to their phone on file, or their date of
//! birth) and then reads the message, which never goes in the chat.
//!
//! This module issues links (`issue`) and answers each request on a link's page with what to
//! show; the rules are `policy::secure_link`, the SQL `store::secure_links`, the HTML [`page`]
//! and the HTTP edge `api::secure_link`. The token, the code and the session live only in the patient's
//! hands; the database keeps their SHA-256 hashes.

mod content;
mod issue;
pub mod page;
mod texts;

use std::sync::Arc;

use base64::Engine as _;
use jiff::Timestamp;
use medrelay_channels::{ChannelKind, OutgoingMessage, Recipient, SendOutcome};
use url::Url;

use crate::clock::{SharedClock, later};
use crate::domain::{Clinic, LinkEvent, Patient, Proof};
use crate::intake::ClinicSettingsCache;
use crate::policy::secure_link::{self as rules, Access, Verdict};
use crate::providers::Providers;
use crate::store::{SecureLinkRecord, Store, StoreError};
// Tokens and sessions are 256 random bits, like API keys: a plain SHA-256 stores them as safely.
use crate::store::key_fingerprint as fingerprint;

pub use issue::hidden;
pub use page::{MessageView, Notice, Page, PageView};

#[derive(Debug, thiserror::Error)]
pub enum SecureLinkError {
    #[error(
        "secure links need `public_url`: the https address at which patients' phones reach medrelay"
    )]
    NoPublicUrl,
    #[error("no clinic has this address")]
    UnknownClinic,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the holder of a link answered to prove who they are, as typed.
#[derive(Debug)]
pub enum Answer {
    Code(String),
    BirthDate(String),
}

/// One request's answer.
#[derive(Debug)]
pub enum Reply {
    Show(PageView),
    /// The proof was right: this browser's session (its cookie) may now read the message.
    Proven {
        session: String,
    },
}

#[derive(Debug)]
pub struct SecureLinks {
    store: Store,
    clock: SharedClock,
    providers: Arc<Providers>,
    clinic_settings: Arc<ClinicSettingsCache>,
    /// `public_url` as configured: what links in messages to real patients are made with.
    configured_url: Option<Url>,
    /// This server's own address: good enough for clinics whose messages all go to the sandbox.
    own_url: Url,
}

/// A link, its page and everyone's view of it.
struct Found {
    clinic: Clinic,
    patient: Patient,
    link: SecureLinkRecord,
    access: Access,
}

/// 256 random bits, URL-safe.
pub(crate) fn random_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// A code's hash is keyed by the link's token, which the database never holds: a copy of the
/// database does not give the code away by trying all million codes.
fn code_fingerprint(token: &str, code: &str) -> String {
    fingerprint(&format!("{token}:{code}"))
}

impl SecureLinks {
    pub fn new(
        store: Store,
        clock: SharedClock,
        providers: Arc<Providers>,
        clinic_settings: Arc<ClinicSettingsCache>,
        configured_url: Option<Url>,
        own_url: Url,
    ) -> Self {
        Self {
            store,
            clock,
            providers,
            clinic_settings,
            configured_url,
            own_url,
        }
    }

    /// The page a link opens to: the message within the session that proved who it is, else a
    /// request for proof, else (expired, locked, used, or no such link) the same closed page.
    pub async fn open(
        &self,
        clinic_slug: &str,
        token: &str,
        session: Option<&str>,
    ) -> Result<Reply, SecureLinkError> {
        let now = self.clock.now();
        let found = match self.find(clinic_slug, token, session, now).await? {
            Ok(found) => found,
            Err(closed) => return Ok(plain(closed)),
        };
        let view = match found.access {
            Access::Read => {
                let message = content::render(&self.clinic_settings, &self.store, &found).await?;
                self.step(&found, LinkEvent::Read, now).await?;
                found.view(Page::Message(message))
            }
            Access::Prove => {
                self.step(&found, LinkEvent::Opened, now).await?;
                found.prove(None)
            }
            Access::Closed(_) => found.view(Page::Closed),
        };
        Ok(plain(view))
    }

    /// Sends a new code by SMS to the patient's phone on file.
    pub async fn send_code(
        &self,
        clinic_slug: &str,
        token: &str,
    ) -> Result<Reply, SecureLinkError> {
        let now = self.clock.now();
        let found = match self.find(clinic_slug, token, None, now).await? {
            Ok(found) => found,
            Err(closed) => return Ok(plain(closed)),
        };
        let notice = match (&found.access, &found.patient.phone) {
            (Access::Closed(_), _) => return Ok(plain(found.view(Page::Closed))),
            (_, None) => Notice::NoPhone,
            (_, Some(_)) if !rules::may_send_code(&found.link.state) => Notice::NoMoreCodes,
            (_, Some(phone)) => {
                let to = Recipient::Phone(phone.as_str().to_owned());
                self.text_code(&found, token, to, now).await?
            }
        };
        Ok(plain(found.prove(Some(notice))))
    }

    /// Judges an answer; the right one opens the session (its cookie is in the reply).
    pub async fn verify(
        &self,
        clinic_slug: &str,
        token: &str,
        answer: Answer,
    ) -> Result<Reply, SecureLinkError> {
        let now = self.clock.now();
        let found = match self.find(clinic_slug, token, None, now).await? {
            Ok(found) => found,
            Err(closed) => return Ok(plain(closed)),
        };
        if let Access::Closed(_) = found.access {
            return Ok(plain(found.view(Page::Closed)));
        }
        let (proof, matches) = found.compare(token, &answer);
        match rules::judge(&found.link.state, proof, matches, now) {
            Verdict::Verified => self.prove(&found, proof, now).await,
            Verdict::CodeExpired => Ok(plain(found.prove(Some(Notice::CodeExpired)))),
            Verdict::Wrong => {
                let lock_at = rules::MAX_WRONG_ANSWERS;
                let store = &self.store;
                let wrong = store
                    .record_wrong_answer(&found.link, proof, lock_at, now)
                    .await?;
                Ok(plain(match rules::answers_left(wrong.count) {
                    0 => found.view(Page::Locked),
                    left => found.prove(Some(Notice::WrongAnswer { left })),
                }))
            }
        }
    }

    async fn prove(
        &self,
        found: &Found,
        proof: Proof,
        now: Timestamp,
    ) -> Result<Reply, SecureLinkError> {
        let session = random_secret();
        let until = later(now, rules::SESSION_FOR);
        let store = &self.store;
        let won = store
            .record_link_proven(&found.link, proof, &fingerprint(&session), until, now)
            .await?;
        Ok(match won {
            true => Reply::Proven { session },
            false => plain(found.view(Page::Closed)),
        })
    }

    /// Sends one code through the clinic's SMS provider (the sandbox's look-alike when it has
    /// none) and keeps its hash. The code is in no log and no event.
    async fn text_code(
        &self,
        found: &Found,
        token: &str,
        to: Recipient,
        now: Timestamp,
    ) -> Result<Notice, SecureLinkError> {
        let Some(adapter) = self.providers.channel(&found.clinic.slug, ChannelKind::Sms) else {
            return Ok(Notice::CodeNotSent);
        };
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let language = found.patient.language.as_str();
        let message = OutgoingMessage {
            body: texts::for_language(language).code_sms(&found.clinic.name, &code),
            language: language.to_owned(),
            subject: None,
            callback_ref: found.link.id.as_str().to_owned(),
            template: None,
            valid_for: Some(rules::CODE_VALID_FOR),
            to,
        };
        if !matches!(adapter.send(&message).await, SendOutcome::Accepted { .. }) {
            tracing::warn!(clinic = %found.clinic.slug, link = %found.link.id, "secure link code not sent: the sms provider refused it");
            return Ok(Notice::CodeNotSent);
        }
        let hash = code_fingerprint(token, &code);
        let valid_until = later(now, rules::CODE_VALID_FOR);
        let store = &self.store;
        store
            .record_link_code(&found.link, &hash, valid_until, message.to.masked(), now)
            .await?;
        Ok(Notice::CodeSent)
    }

    async fn step(&self, found: &Found, step: LinkEvent, now: Timestamp) -> Result<(), StoreError> {
        self.store.record_link_step(&found.link, step, now).await
    }

    /// The link `token` names in `clinic_slug`, as this request (with its session cookie, if
    /// any) may use it; `Err` with the closed page when there is no such link.
    async fn find(
        &self,
        clinic_slug: &str,
        token: &str,
        session: Option<&str>,
        now: Timestamp,
    ) -> Result<Result<Found, PageView>, SecureLinkError> {
        let clinic = match self.store.clinic_by_slug(clinic_slug).await {
            Ok(clinic) => clinic,
            Err(StoreError::NotFound) => return Err(SecureLinkError::UnknownClinic),
            Err(error) => return Err(error.into()),
        };
        let Some(mut link) = self
            .store
            .secure_link(clinic_slug, &fingerprint(token))
            .await?
        else {
            return Ok(Err(PageView::for_clinic(&clinic, Page::Closed)));
        };
        let ids = [link.patient.as_str()];
        let Some(patient) = self.store.patients_by_ids(&ids).await?.into_values().next() else {
            return Ok(Err(PageView::for_clinic(&clinic, Page::Closed)));
        };
        let own_session =
            session.is_some_and(|s| link.session_hash.as_deref() == Some(fingerprint(s).as_str()));
        if !own_session {
            link.state.session_until = None;
        }
        let access = rules::access(&link.state, now);
        Ok(Ok(Found {
            clinic,
            patient,
            link,
            access,
        }))
    }
}

impl Found {
    fn view(&self, page: Page) -> PageView {
        PageView::for_patient(&self.clinic, &self.patient, page)
    }

    /// The request for proof, offering the ways this patient has.
    fn prove(&self, notice: Option<Notice>) -> PageView {
        self.view(Page::Prove {
            phone: self.patient.phone.as_ref().map(|p| p.masked()),
            code_sent: self.link.state.code_expires_at.is_some(),
            birth_date: self.patient.birth_date.is_some(),
            notice,
        })
    }

    /// Which proof `answer` is and whether it is right.
    fn compare(&self, token: &str, answer: &Answer) -> (Proof, bool) {
        match answer {
            Answer::Code(code) => {
                let typed = code_fingerprint(token, code.trim());
                (
                    Proof::SmsCode,
                    self.link.code_hash.as_deref() == Some(typed.as_str()),
                )
            }
            Answer::BirthDate(text) => {
                let typed = text.trim().parse::<jiff::civil::Date>().ok();
                let right = typed.is_some() && typed == self.patient.birth_date;
                (Proof::BirthDate, right)
            }
        }
    }
}

fn plain(view: PageView) -> Reply {
    Reply::Show(view)
}
