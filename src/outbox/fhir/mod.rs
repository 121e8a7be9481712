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

use fhirbolt::model::r4::resources::Bundle;
use jiff::Timestamp;
use tokio::sync::watch;

use self::bundle::Pushed;
use crate::clock::{SharedClock, later};
use crate::config::{FhirConfig, WebhooksConfig};
use crate::domain::{FhirAuth, FhirSubject};
use crate::fhir::{communication_request, communications, inbound_communication};
use crate::observability::recorder::{FHIR_PUSH_DURATION, FHIR_PUSHES};
use crate::outbox::{self, Outbox};
use crate::store::{ClaimedPush, Lease, PushOutcome, PushResult, Store, StoreError};

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

/// What one try came to besides its status and error: the resources it sent, and whether the
/// record is gone (then there was nothing to push).
struct Sent {
    entries: i64,
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
        outbox::run_until_stopped(self, stop).await;
    }

    /// What a failed try comes to: another after the backoff.
    fn retry(&self, push: &ClaimedPush, at: Timestamp) -> PushResult {
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

    /// One try: the server's status, why it failed, and what was sent.
    async fn try_push(&self, push: &ClaimedPush) -> (Option<u16>, Option<String>, Sent) {
        let bundle = match self.bundle(push).await {
            Ok(bundle) => bundle,
            Err(StoreError::NotFound) => {
                let gone = Sent {
                    entries: 0,
                    gone: true,
                };
                return (None, Some("the record is gone".to_owned()), gone);
            }
            Err(error) => {
                let error = format!("records not read: {error}");
                let sent = Sent {
                    entries: 0,
                    gone: false,
                };
                return (None, Some(error), sent);
            }
        };
        let sent = Sent {
            entries: i64::try_from(bundle.entry.len()).unwrap_or(i64::MAX),
            gone: false,
        };
        match self.post(push, &bundle).await {
            Ok(status) => (Some(status), None, sent),
            Err((status, error)) => (status, Some(error), sent),
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

impl Outbox for FhirPusher {
    const NAME: &'static str = "fhir";
    type Claimed = ClaimedPush;
    type Outcome = PushOutcome;

    fn pace(&self) -> (&SharedClock, &WebhooksConfig) {
        (&self.clock, &self.schedule)
    }

    async fn claim(&self, lease: &Lease<'_>) -> Result<Vec<ClaimedPush>, StoreError> {
        self.store.claim_fhir_pushes(lease).await
    }

    async fn send(&self, push: ClaimedPush) -> PushOutcome {
        let (tried, sent) = outbox::timed(&self.clock, self.try_push(&push)).await;
        let result = match (&tried.error, sent.gone) {
            (_, true) => PushResult::Dropped,
            (None, false) => PushResult::Pushed,
            (Some(_), false) => self.retry(&push, tried.at),
        };
        metrics::counter!(FHIR_PUSHES, "outcome" => result.as_str()).increment(1);
        let seconds = tried.latency_ms as f64 / 1000.0;
        metrics::histogram!(FHIR_PUSH_DURATION).record(seconds);
        if let Some(error) = &tried.error {
            tracing::info!(clinic = %push.clinic_id, subject = push.subject.id(), %error, outcome = result.as_str(), "FHIR push failed");
        }
        PushOutcome {
            push,
            entries: sent.entries,
            tried,
            result,
        }
    }

    async fn record(&self, token: &str, outcomes: Vec<PushOutcome>) -> Result<(), StoreError> {
        let alert_after = self.config.alert_after();
        self.store
            .record_fhir_pushes(token, &outcomes, alert_after, self.clock.now())
            .await
    }
}
