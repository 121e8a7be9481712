//! Wiring: one [`Application`] owns the listener, the store and the background tasks (intake
//! writer, dispatcher, sandbox status reports) and runs them until stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use medrelay_channels::ChannelKind;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::api::{self, AppState, FailedAuthLimit, KeyGuard, Shared};
use crate::audit::AuditLog;
use crate::booking_webhooks::WebhookSender;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, SandboxUndecided};
use crate::dispatch::Dispatcher;
use crate::intake::{ClinicSettingsCache, Intake};
use crate::outbox::fhir::FhirPusher;
use crate::providers::{ProviderSetupError, Providers};
use crate::sandbox::{Sandbox, SandboxError};
use crate::secure_link::SecureLinks;
use crate::store::{Store, StoreError};
use crate::tracking::Tracker;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("public_url: expected an http(s) URL such as https://medrelay.clinic.example")]
    PublicUrl,
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("provider account {0}")]
    Provider(#[from] ProviderSetupError),
    #[error(transparent)]
    SandboxUndecided(#[from] SandboxUndecided),
    #[error("cannot set up the webhook or FHIR client: {0}")]
    WebhookClient(#[from] reqwest::Error),
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    dispatcher: Arc<Dispatcher>,
    webhooks: Arc<WebhookSender>,
    fhir: Arc<FhirPusher>,
    sandbox: Option<Arc<Sandbox>>,
}

/// A running application: its address, its store, and the switch that stops it.
#[derive(Debug)]
pub struct RunningApp {
    pub addr: SocketAddr,
    pub store: Store,
    stop: watch::Sender<bool>,
    /// The dispatcher, the webhook sender, the FHIR pusher, the secure links' expiry records, the
    /// overdue sweep, the retention runs and the sandbox's status reports.
    workers: Vec<JoinHandle<()>>,
    stop_serving: watch::Sender<bool>,
    server: JoinHandle<()>,
    grace: Duration,
    dispatcher: Arc<Dispatcher>,
}

impl RunningApp {
    /// Runs the dispatcher until nothing is due now (see [`Dispatcher::drain`]).
    pub async fn drain_dispatcher(&self) -> Result<usize, StoreError> {
        self.dispatcher.drain().await
    }

    /// Stops claiming work and lets the provider hand-overs in flight finish, then stops
    /// accepting connections and lets the requests in flight finish: all within
    /// `http.shutdown_grace_ms`. The server goes last: hand-overs in flight may be talking to
    /// this instance's own sandbox. Returns whether everything finished in time; what is cut off
    /// is safe (an acknowledged notification is on disk, and a claim whose outcome was not
    /// recorded is claimed again once its lease runs out).
    pub async fn stop(self) -> bool {
        let deadline = tokio::time::Instant::now() + self.grace;
        let mut tasks: Vec<_> = self.workers.iter().map(JoinHandle::abort_handle).collect();
        tasks.push(self.server.abort_handle());
        let _ = self.stop.send(true);
        let workers = tokio::time::timeout_at(deadline, futures::future::join_all(self.workers));
        let workers_finished = workers.await.is_ok();
        let _ = self.stop_serving.send(true);
        let server_finished = tokio::time::timeout_at(deadline, self.server).await.is_ok();
        if !(workers_finished && server_finished) {
            tasks.iter().for_each(tokio::task::AbortHandle::abort);
        }
        workers_finished && server_finished
    }
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: SharedClock) -> Result<Self, StartError> {
        let sandbox_enabled = config.sandbox_enabled()?;
        // Installed before anything records, so nothing counted is lost.
        crate::observability::recorder();
        crate::domain::PhoneRegion::load_numbering_plans();
        let store = Store::connect(&config.database_url).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;

        let public_url = public_url(&config, &listener)?;

        let wake = Arc::new(Notify::new());
        let clinic_settings = Arc::new(ClinicSettingsCache::default());
        let intake = Intake::start(
            store.clone(),
            Arc::clone(&clock),
            Arc::clone(&clinic_settings),
            Arc::clone(&wake),
            &config.api,
        );
        let sandbox = if sandbox_enabled {
            let sandbox = Sandbox::start(
                store.clone(),
                config.sandbox.clone(),
                Arc::clone(&clock),
                public_url.clone(),
            )
            .await?;
            Some(sandbox)
        } else {
            None
        };
        let providers = Arc::new(Providers::build(
            &config,
            sandbox.as_ref().map(|s| s.accounts()),
        )?);
        let secure_links = Arc::new(SecureLinks::new(
            store.clone(),
            Arc::clone(&clock),
            Arc::clone(&providers),
            Arc::clone(&clinic_settings),
            config.public_url.is_some().then(|| public_url.clone()),
            public_url.clone(),
        ));
        let dispatcher = Arc::new(Dispatcher::new(
            store.clone(),
            Arc::clone(&clock),
            config.dispatch.clone(),
            config.delivery_timeout.clone(),
            Arc::clone(&providers),
            Arc::clone(&wake),
            Arc::clone(&secure_links),
        ));
        let tracker = Tracker::new(store.clone(), Arc::clone(&clock), Arc::clone(&wake));
        let webhooks = Arc::new(WebhookSender::new(
            store.clone(),
            Arc::clone(&clock),
            config.webhooks.clone(),
        )?);
        let fhir = Arc::new(FhirPusher::new(
            store.clone(),
            Arc::clone(&clock),
            config.webhooks.clone(),
            config.fhir.clone(),
        )?);
        let state = AppState::new(Shared {
            audit: AuditLog::start(store.clone()),
            store,
            keys: Arc::new(KeyGuard::new(&config.api)),
            auth_failures: Arc::new(FailedAuthLimit::new(&config.http)),
            config: Arc::new(config),
            clock,
            intake,
            dispatcher_wake: wake,
            providers,
            tracker,
            clinic_settings,
            secure_links,
            dispatcher_heartbeat: dispatcher.heartbeat(),
        });
        Ok(Self {
            listener,
            state,
            dispatcher,
            webhooks,
            fhir,
            sandbox,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.listen)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The channels that go to the sandbox: for every clinic without its own accounts (`None`),
    /// then for each clinic configured by slug. Empty without a sandbox.
    pub fn sandboxed_channels(&self) -> Vec<(Option<&str>, Vec<ChannelKind>)> {
        self.state.providers.sandboxed_channels()
    }

    /// Starts serving and working in the background.
    pub fn start(self) -> RunningApp {
        let addr = self.local_addr();
        let store = self.state.store.clone();
        let (stop, stopped) = watch::channel(false);
        let (stop_serving, serving_stopped) = watch::channel(false);
        let http = self.state.config.http.clone();
        let grace = http.shutdown_grace();

        let secure_links = Arc::clone(&self.state.secure_links);
        let clock = Arc::clone(&self.state.clock);
        let metrics = self.state.config.metrics.clone();
        let retention_config = self.state.config.retention.clone();
        let fhir_alert_after = self.state.config.fhir.alert_after();
        crate::observability::otlp::start_export(
            &self.state.config.telemetry,
            reqwest::Client::new(),
        );
        let tracker = self.state.tracker.clone();
        let router = api::router(self.state, self.sandbox.clone());
        let server = tokio::spawn(async move {
            crate::http::serve(self.listener, router, &http, serving_stopped).await;
        });
        let dispatcher =
            tokio::spawn(Arc::clone(&self.dispatcher).run_until_stopped(stopped.clone()));
        let expiries = tokio::spawn(secure_links.record_expiries_until_stopped(stopped.clone()));
        let overdue = tokio::spawn(crate::conversations::overdue::raise_until_stopped(
            store.clone(),
            Arc::clone(&clock),
            stopped.clone(),
        ));
        let webhooks = tokio::spawn(Arc::clone(&self.webhooks).run_until_stopped(stopped.clone()));
        let retention = tokio::spawn(crate::retention::run_until_stopped(
            store.clone(),
            Arc::clone(&clock),
            retention_config,
            stopped.clone(),
        ));
        let fhir = tokio::spawn(Arc::clone(&self.fhir).run_until_stopped(stopped.clone()));
        let sampler = crate::observability::Sampler::new(
            store.clone(),
            Arc::clone(&clock),
            &metrics,
            fhir_alert_after,
        );
        let sampler = tokio::spawn(sampler.run_until_stopped(stopped.clone()));
        let early_statuses =
            tokio::spawn(tracker.apply_early_statuses_until_stopped(stopped.clone()));
        let mut workers = vec![
            dispatcher,
            webhooks,
            fhir,
            expiries,
            overdue,
            sampler,
            retention,
            early_statuses,
        ];
        if let Some(sandbox) = self.sandbox {
            workers.push(tokio::spawn(report_sandbox_statuses(sandbox, stopped)));
        }
        RunningApp {
            addr,
            store,
            stop,
            workers,
            stop_serving,
            server,
            grace,
            dispatcher: self.dispatcher,
        }
    }
}

/// The sandbox as a provider of its own (`medrelay sandbox`): its look-alike APIs on their own
/// port, its outbox and owed status callbacks in its own database, so that the gateway can die
/// while the "provider" lives on.
pub struct StandaloneSandbox {
    listener: TcpListener,
    sandbox: Arc<Sandbox>,
}

impl StandaloneSandbox {
    /// Opens `config.database_url` (the sandbox's, not the gateway's) and listens on `listen`;
    /// status callbacks go to the gateway at `gateway_url`, and requests are checked against
    /// `config.providers`, the accounts the gateway is given for this sandbox.
    pub async fn build(
        config: &Config,
        listen: SocketAddr,
        gateway_url: url::Url,
    ) -> Result<Self, StartError> {
        let store = Store::connect(&config.database_url).await?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: listen,
                source,
            })?;
        let sandbox = Sandbox::start_standalone(
            store,
            config.sandbox.clone(),
            Arc::new(SystemClock),
            gateway_url,
            config.providers.clone(),
        )
        .await?;
        Ok(Self { listener, sandbox })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves and reports statuses until the process ends.
    pub async fn run(self) -> std::io::Result<()> {
        let (_running, stopped) = watch::channel(false);
        tokio::spawn(report_sandbox_statuses(Arc::clone(&self.sandbox), stopped));
        axum::serve(self.listener, crate::sandbox::router(self.sandbox)).await
    }
}

/// `public_url` as configured, else this listener's address (loopback when it listens on all).
fn public_url(config: &Config, listener: &TcpListener) -> Result<url::Url, StartError> {
    let url = match &config.public_url {
        Some(url) => url.clone(),
        None => {
            let mut addr = listener.local_addr().unwrap_or(config.listen);
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        }
    };
    url::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or(StartError::PublicUrl)
}

async fn report_sandbox_statuses(sandbox: Arc<Sandbox>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        match sandbox.report_due_statuses().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "sandbox status report failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(25)) => {}
            _ = stop.changed() => {}
        }
    }
}
