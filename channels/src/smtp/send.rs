//! [`SmtpEmail`]: the email channel, over a small pool of lettre SMTP connections.
//!
//! Why not `AsyncSmtpTransport`: in lettre 0.11.23 its timeout covers only the TCP connect (a
//! server that goes silent later hangs the send forever), its pool does not cap open connections,
//! and its error does not say how far the conversation got — yet "no reply before DATA" is safe to
//! retry and "no reply after the content" is not. So the conversation is driven step by step with
//! lettre's own `AsyncSmtpConnection`, each step under the configured timeout, and connections are
//! reused like lettre's pool does (checked with NOOP before reuse).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::sync::Semaphore;

use super::classify::{Cause, Phase, classify};
use super::config::{Security, SmtpConfig};
use super::render::{Rendered, render};
use crate::{Channel, ChannelKind, OutgoingMessage, SendFuture, SendOutcome};

/// Servers drop idle clients after a few minutes; a connection idle longer is not worth a NOOP.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// Why an [`SmtpConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("`from` is not a mailbox like `Clinic <noreply@clinic.example>`")]
    BadFrom,
    #[error("`bounce_domain` does not make valid envelope senders")]
    BadBounceDomain,
    #[error("`username` and `password` go together")]
    HalfCredentials,
    #[error("credentials over an unencrypted connection to a host other than localhost")]
    PlaintextCredentials,
    #[error("`pool_size` must be at least 1")]
    EmptyPool,
    #[error("TLS set-up for `{host}`: {reason}")]
    Tls { host: String, reason: String },
}

struct Parked {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// A failure and how far the send had got.
struct Failure {
    phase: Phase,
    cause: Cause,
}

impl Failure {
    fn new(phase: Phase, cause: impl Into<Cause>) -> Self {
        Self {
            phase,
            cause: cause.into(),
        }
    }
}

/// How a connection is secured, with the TLS parameters built once.
enum Wire {
    Plain,
    Starttls(TlsParameters),
    ImplicitTls(TlsParameters),
}

/// The email channel: one SMTP relay, shared by every send.
pub struct SmtpEmail {
    host: String,
    port: u16,
    sender_id: String,
    wire: Wire,
    credentials: Option<Credentials>,
    hello_name: ClientId,
    from: Mailbox,
    bounce_domain: String,
    timeout: Duration,
    idle: Mutex<Vec<Parked>>,
    /// One permit per open connection: the pool size caps concurrent sends to the relay.
    permits: Semaphore,
    max_idle: usize,
}

impl SmtpEmail {
    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpSetupError> {
        let from: Mailbox = config.from.parse().map_err(|_| SmtpSetupError::BadFrom)?;
        if super::verp_sender("probe", &config.bounce_domain)
            .parse::<lettre::Address>()
            .is_err()
        {
            return Err(SmtpSetupError::BadBounceDomain);
        }
        let credentials = match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                Some(Credentials::new(user.clone(), password.expose().to_owned()))
            }
            (None, None) => None,
            _ => return Err(SmtpSetupError::HalfCredentials),
        };
        let loopback = config.host == "localhost"
            || config
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if credentials.is_some() && config.security == Security::None && !loopback {
            return Err(SmtpSetupError::PlaintextCredentials);
        }
        if config.pool_size == 0 {
            return Err(SmtpSetupError::EmptyPool);
        }
        let tls = || {
            TlsParameters::new(config.host.clone()).map_err(|e| SmtpSetupError::Tls {
                host: config.host.clone(),
                reason: e.to_string(),
            })
        };
        let wire = match config.security {
            Security::None => Wire::Plain,
            Security::Starttls => Wire::Starttls(tls()?),
            Security::Tls => Wire::ImplicitTls(tls()?),
        };
        let hello_name = config
            .hello_name
            .clone()
            .map_or_else(ClientId::default, ClientId::Domain);
        let pool_size = usize::try_from(config.pool_size).unwrap_or(usize::MAX);
        Ok(Self {
            host: config.host.clone(),
            port: config.port,
            sender_id: config.sender_id(),
            wire,
            credentials,
            hello_name,
            from,
            bounce_domain: config.bounce_domain.clone(),
            timeout: config.timeout(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(pool_size.min(Semaphore::MAX_PERMITS)),
            max_idle: pool_size,
        })
    }

    /// Runs one step of the conversation under the timeout, remembering the phase it belongs to.
    async fn step<T>(
        &self,
        phase: Phase,
        future: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(Failure::new(phase, err)),
            Err(_) => Err(Failure::new(phase, Cause::TimedOut)),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let implicit_tls = match &self.wire {
            Wire::ImplicitTls(tls) => Some(tls.clone()),
            Wire::Plain | Wire::Starttls(_) => None,
        };
        let mut conn = self
            .step(
                Phase::Connect,
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &self.hello_name,
                    implicit_tls,
                    None,
                ),
            )
            .await?;
        // lettre's `starttls` fails when the server does not offer it: no silent downgrade.
        if let Wire::Starttls(tls) = &self.wire {
            self.step(Phase::Connect, conn.starttls(tls.clone(), &self.hello_name))
                .await?;
        }
        if let Some(credentials) = &self.credentials {
            self.step(
                Phase::Auth,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await?;
        }
        Ok(conn)
    }

    /// A parked connection that still answers, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, Failure> {
        loop {
            let parked = self.idle.lock().map_or(None, |mut idle| idle.pop());
            let Some(Parked { mut conn, since }) = parked else {
                return self.connect().await;
            };
            let alive = since.elapsed() < IDLE_LIMIT
                && tokio::time::timeout(self.timeout, conn.test_connected())
                    .await
                    .unwrap_or(false);
            if alive {
                return Ok(conn);
            }
            // Dropping closes the socket; a polite QUIT could hang on a dead peer.
        }
    }

    fn park(&self, conn: AsyncSmtpConnection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(Parked {
                conn,
                since: Instant::now(),
            });
        }
    }

    async fn transact(
        &self,
        conn: &mut AsyncSmtpConnection,
        rendered: &Rendered,
    ) -> Result<(), Failure> {
        let envelope = &rendered.envelope;
        let mut parameters = Vec::new();
        let non_ascii_addresses = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
        if non_ascii_addresses {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(Failure::new(
                    Phase::Envelope,
                    Cause::Reply {
                        code: 553,
                        text: "the address is not ASCII and the server lacks SMTPUTF8".into(),
                    },
                ));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        // lettre encodes bodies as 7-bit (quoted-printable or base64), so this is a safeguard.
        if !rendered.bytes.is_ascii() {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.step(
            Phase::Sender,
            conn.command(Mail::new(envelope.from().cloned(), parameters)),
        )
        .await?;
        for to in envelope.to() {
            self.step(
                Phase::Envelope,
                conn.command(Rcpt::new(to.clone(), Vec::new())),
            )
            .await?;
        }
        self.step(Phase::Envelope, conn.command(Data)).await?;
        self.step(Phase::Content, conn.message(&rendered.bytes))
            .await?;
        Ok(())
    }

    async fn deliver(&self, message: &OutgoingMessage) -> SendOutcome {
        let rendered = match render(message, &self.from, &self.bounce_domain) {
            Ok(rendered) => rendered,
            Err(err) => {
                return SendOutcome::Permanent {
                    code: "invalid-message".into(),
                    reason: err.to_string(),
                    fact: None,
                };
            }
        };
        // The semaphore is never closed, so this always holds a permit until the send ends.
        let _permit = self.permits.acquire().await.ok();
        let result = match self.checkout().await {
            Ok(mut conn) => match self.transact(&mut conn, &rendered).await {
                Ok(()) => {
                    self.park(conn);
                    Ok(())
                }
                Err(failure) => {
                    // After a rejection the server still talks: end the session properly. After a
                    // timeout or a broken connection, just drop it.
                    if matches!(failure.cause, Cause::Reply { .. }) {
                        let _ = tokio::time::timeout(self.timeout, conn.abort()).await;
                    }
                    Err(failure)
                }
            },
            Err(failure) => Err(failure),
        };
        match result {
            Ok(()) => {
                tracing::debug!(
                    to = %message.to.masked(),
                    callback_ref = %message.callback_ref,
                    relay = %self.sender_id,
                    "email accepted by the relay"
                );
                SendOutcome::Accepted {
                    provider_message_id: rendered.message_id,
                }
            }
            Err(Failure { phase, cause }) => {
                let outcome = classify(phase, cause);
                tracing::info!(
                    to = %message.to.masked(),
                    callback_ref = %message.callback_ref,
                    relay = %self.sender_id,
                    ?phase,
                    ?outcome,
                    "email not accepted"
                );
                outcome
            }
        }
    }
}

impl Channel for SmtpEmail {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    fn sender_id(&self) -> &str {
        &self.sender_id
    }

    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

impl std::fmt::Debug for SmtpEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpEmail")
            .field("relay", &self.sender_id)
            .field(
                "security",
                &match self.wire {
                    Wire::Plain => Security::None,
                    Wire::Starttls(_) => Security::Starttls,
                    Wire::ImplicitTls(_) => Security::Tls,
                },
            )
            .field("authenticated", &self.credentials.is_some())
            .field("from_domain", &self.from.email.domain())
            .finish()
    }
}
