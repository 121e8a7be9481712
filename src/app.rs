//! Wiring: one [`Application`] owns the listener, the store and the background tasks (intake
//! writer, dispatcher, sandbox status reports) and runs them until stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::api::{self, AppState, KeyGuard};
use crate::batch::Batcher;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::dispatch::{ChannelRegistry, Dispatcher, SenderLimits};
use crate::sandbox::Sandbox;
use crate::store::{NewNotification, Store, StoreError};
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
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    dispatcher: Arc<Dispatcher>,
    sandbox: Arc<Sandbox>,
    tracker: Tracker,
}

/// A running application: its address, its store, and the switch that stops it.
#[derive(Debug)]
pub struct RunningApp {
    pub addr: SocketAddr,
    pub store: Store,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningApp {
    /// Stops accepting requests, lets in-flight work finish its current round, and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: SharedClock) -> Result<Self, StartError> {
        let store = Store::connect(&config.database_url).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;

        let wake = Arc::new(Notify::new());
        let intake_store = store.clone();
        let intake = Batcher::spawn(512, move |batch: Vec<NewNotification>| {
            let store = intake_store.clone();
            async move { store.insert_notifications(&batch).await }
        });
        let sandbox = Sandbox::new(store.clone(), config.sandbox.clone(), Arc::clone(&clock));
        let channels = ChannelRegistry::new(sandbox.channels());
        let sandbox_rate = config.sandbox.sender_rate_per_second;
        let limits = SenderLimits::new(|_| sandbox_rate);
        let dispatcher = Arc::new(Dispatcher::new(
            store.clone(),
            Arc::clone(&clock),
            config.dispatch.clone(),
            config.delivery_timeout.clone(),
            channels,
            limits,
            Arc::clone(&wake),
        ));
        let tracker = Tracker::new(store.clone(), Arc::clone(&clock), Arc::clone(&wake));
        let state = AppState {
            store,
            keys: Arc::new(KeyGuard::new(&config.api)),
            config: Arc::new(config),
            clock,
            intake,
            dispatcher_wake: wake,
        };
        Ok(Self {
            listener,
            state,
            dispatcher,
            sandbox,
            tracker,
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

    /// Starts serving and working in the background.
    pub fn start(self) -> RunningApp {
        let addr = self.local_addr();
        let store = self.state.store.clone();
        let (stop, stopped) = watch::channel(false);

        let mut shutdown = stopped.clone();
        let router = api::router(self.state);
        let server = tokio::spawn(async move {
            let serve = axum::serve(self.listener, router).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "HTTP server stopped");
            }
        });
        let dispatcher =
            tokio::spawn(Arc::clone(&self.dispatcher).run_until_stopped(stopped.clone()));
        let reporter = tokio::spawn(report_sandbox_statuses(
            self.sandbox,
            store.clone(),
            self.tracker,
            stopped,
        ));
        RunningApp {
            addr,
            store,
            stop,
            tasks: vec![server, dispatcher, reporter],
        }
    }
}

async fn report_sandbox_statuses(
    sandbox: Arc<Sandbox>,
    store: Store,
    tracker: Tracker,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match sandbox.report_due_statuses(&store, &tracker).await {
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
