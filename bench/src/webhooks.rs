//! `--webhooks`: the bench clinic's webhooks go to a receiver in this process (which verifies
//! every signature with the Standard Webhooks reference verifier) while notifications flow; the
//! figures are events delivered per second during the run and how long the queue took to drain
//! after the last notification finished.

use std::time::{Duration, Instant};

use medrelay::booking_webhooks::new_secret;
use medrelay::domain::{ClinicId, WebhookEventType};
use medrelay::store::{NewWebhookEndpoint, Store};
use medrelay_testkit::WebhookReceiver;

use crate::BenchResult;

/// A receiver registered for every event type of `clinic`.
pub(crate) async fn register_receiver(
    store: &Store,
    clinic: &ClinicId,
) -> BenchResult<WebhookReceiver> {
    let receiver = WebhookReceiver::start().await;
    let secret = new_secret();
    receiver.trust(&secret);
    let endpoint = NewWebhookEndpoint {
        url: receiver.url.clone(),
        event_types: WebhookEventType::ALL.to_vec(),
        secret,
        enabled: true,
    };
    store
        .create_webhook_endpoint(clinic, endpoint, jiff::Timestamp::now())
        .await?;
    Ok(receiver)
}

/// Waits until nothing is left to deliver and prints the figures; `flowing` is how long the
/// notifications took from the first submit until every one finished.
pub(crate) async fn report(
    store: &Store,
    receiver: &WebhookReceiver,
    flowing: Duration,
    timeout: Duration,
) -> BenchResult<()> {
    let during = receiver.events().len();
    let started = Instant::now();
    while store.webhook_backlog().await? > 0 && started.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = started.elapsed();
    let events = receiver.events().len();
    println!(
        "webhooks: {events} events delivered ({} requests, {} bad signatures, {} repeats); \
         {during} while notifications flowed = {:.0} events/s; the rest {:.2} s after the last \
         notification finished = {:.0} events/s overall",
        receiver.requests(),
        receiver.bad_signatures(),
        receiver.duplicates(),
        during as f64 / flowing.as_secs_f64(),
        drained.as_secs_f64(),
        events as f64 / (flowing + drained).as_secs_f64(),
    );
    Ok(())
}
