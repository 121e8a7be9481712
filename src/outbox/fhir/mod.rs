//! Pushes to the clinic's FHIR server: the pusher that delivers the outbox the event writer
//! fills (`store::fhir_push`). Each round claims due subjects under a lease (one push in flight
//! per subject, in order), reads each subject's records as they are now (so a retry always
//! sends the latest state), posts them as one transaction Bundle (`bundle`) and checks the
//! transaction-response (`response`). A failed try is retried with the webhooks' backoff, never
//! given up; once a record's pushes have failed for `fhir.alert_after_ms` the clinic gets an
//! alert event. Every try is logged without the body.

mod bundle;
mod response;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fhirbolt::model::r4::resources::Bundle;
use futures::StreamExt;
use tokio::sync::watch;

use self::bundle::Pushed;
use crate::clock::{SharedClock, later};
use crate::config::{FhirConfig, WebhooksConfig};
use crate::domain::{FhirAuth, FhirSubject};
use crate::fhir::{communication_request, communications, inbound_communication};
use crate::observability::recorder::{FHIR_PUSH_DURATION, FHIR_PUSHES};
use crate::outbox::{self, Rounds};
use crate::store::{ClaimedPush, PushOutcome, PushResult, Store, StoreError};

const FHIR_JSON: &str = "application/fhir+json";

#[derive(Debug)]
pub struct FhirPusher {
    store: Store,
    clock: SharedClock,
    /// The retry schedule, lease, batch, concurrency and polling every outbox shares.
    schedule: WebhooksConfig,
    config: FhirConfig,
    client: reqwest::Client,
}

/// What one try came to, before it is timed and classified.
struct Tried {
    entries: i64,
    status_code: Option<u16>,
    /// Why it failed; `None` when the server took every entry.
    error: Option<String>,
    /// The record is gone: nothing to push.
    gone: bool,
}

impl FhirPusher {
    pub fn new(
        store: Store,
        clock: SharedClock,
        schedule: WebhooksConfig,
        config: FhirConfig,
    ) -> Result<Self, reqwest::Error> {
        let client = outbox::client(
            config.timeout(),
            config.target_rule(),
            concat!("medrelay-fhir/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(Self {
            store,
            clock,
            schedule,
            config,
            client,
        })
    }

    /// Pushes due records until `stop`; the round in flight finishes first.
    pub async fn run_until_stopped(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let idle = Duration::from_millis(self.schedule.poll_interval_ms);
        outbox::run_until_stopped(self, idle, stop).await;
    }

    /// One round: claim due subjects, push them side by side, record every try. Returns how
    /// many were claimed.
    pub async fn push_due(&self) -> Result<usize, StoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = self.clock.now();
        let lease_until = later(now, self.schedule.lease());
        let claimed = self
            .store
            .claim_fhir_pushes(&token, now, lease_until, self.schedule.batch_size)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let outcomes: Vec<PushOutcome> = futures::stream::iter(claimed)
            .map(|push| self.push(push))
            .buffer_unordered(self.schedule.concurrency.max(1) as usize)
            .collect()
            .await;
        self.store
            .record_fhir_pushes(
                &token,
                &outcomes,
                self.config.alert_after(),
                self.clock.now(),
            )
            .await?;
        Ok(count)
    }

    /// One try of one subject.
    async fn push(&self, push: ClaimedPush) -> PushOutcome {
        let started = Instant::now();
        let tried = self.try_push(&push).await;
        let elapsed = started.elapsed();
        let at = self.clock.now();
        let result = match (&tried.error, tried.gone) {
            (_, true) => PushResult::Dropped,
            (None, false) => PushResult::Pushed,
            (Some(_), false) => {
                let tries = u32::try_from(push.tries + 1).unwrap_or(u32::MAX);
                let delay = outbox::retry_delay(
                    self.schedule.retry_base_ms,
                    self.schedule.retry_cap_ms,
                    tries,
                );
                PushResult::Retry {
                    at: later(at, delay),
                }
            }
        };
        metrics::counter!(FHIR_PUSHES, "outcome" => result.as_str()).increment(1);
        metrics::histogram!(FHIR_PUSH_DURATION).record(elapsed.as_secs_f64());
        if let Some(error) = &tried.error {
            tracing::info!(clinic = %push.clinic_id, subject = push.subject.id(), %error, outcome = result.as_str(), "FHIR push failed");
        }
        PushOutcome {
            push,
            at,
            entries: tried.entries,
            status_code: tried.status_code,
            latency_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
            error: tried.error,
            result,
        }
    }

    async fn try_push(&self, push: &ClaimedPush) -> Tried {
        let failed = |entries: i64, status_code: Option<u16>, error: String| Tried {
            entries,
            status_code,
            error: Some(error),
            gone: false,
        };
        let bundle = match self.bundle(push).await {
            Ok(bundle) => bundle,
            Err(StoreError::NotFound) => {
                return Tried {
                    gone: true,
                    ..failed(0, None, "the record is gone".to_owned())
                };
            }
            Err(error) => return failed(0, None, format!("records not read: {error}")),
        };
        let entries = i64::try_from(bundle.entry.len()).unwrap_or(i64::MAX);
        match self.post(push, &bundle).await {
            Ok(status) => Tried {
                entries,
                status_code: Some(status),
                error: None,
                gone: false,
            },
            Err((status, error)) => failed(entries, status, error),
        }
    }

    /// The subject's records as they are now, as a transaction Bundle.
    async fn bundle(&self, push: &ClaimedPush) -> Result<Bundle, StoreError> {
        let clinic = &push.clinic_id;
        let ids = self.store.fhir_identifiers(clinic).await?;
        let resources = match &push.subject {
            FhirSubject::Notification(id) => {
                let record = self.store.notification_record(clinic, id).await?;
                let request = Pushed::Request(communication_request(&record, &ids));
                std::iter::once(request)
                    .chain(
                        communications(&record, &ids)
                            .into_iter()
                            .map(Pushed::Communication),
                    )
                    .collect()
            }
            FhirSubject::InboundMessage(id) => {
                let record = self.store.inbound_record(clinic, id).await?;
                vec![Pushed::Communication(inbound_communication(&record, &ids))]
            }
        };
        bundle::transaction(resources, &ids).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Posts the Bundle; the server's status when it took every entry, else the status (if
    /// any) and why not.
    async fn post(
        &self,
        push: &ClaimedPush,
        bundle: &Bundle,
    ) -> Result<u16, (Option<u16>, String)> {
        let body = fhirbolt::json::to_vec(bundle, None)
            .map_err(|e| (None, format!("bundle not written: {e}")))?;
        let request = self
            .client
            .post(&push.base_url)
            .header(reqwest::header::CONTENT_TYPE, FHIR_JSON)
            .header(reqwest::header::ACCEPT, FHIR_JSON)
            // The answer need only say what became of each entry, not repeat the resources.
            .header("Prefer", "return=minimal")
            .body(body);
        let request = match &push.auth {
            FhirAuth::None => request,
            FhirAuth::Bearer { token } => request.bearer_auth(token.expose()),
            FhirAuth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| (None, outbox::failure(&e)))?;
        let status = response.status().as_u16();
        let answer = response::read(response)
            .await
            .map_err(|error| (Some(status), error))?;
        response::check(status, &answer, bundle.entry.len())
            .map(|()| status)
            .map_err(|error| (Some(status), error))
    }
}

impl Rounds for FhirPusher {
    const NAME: &'static str = "fhir";

    async fn deliver_due(&self) -> Result<usize, StoreError> {
        self.push_due().await
    }
}
