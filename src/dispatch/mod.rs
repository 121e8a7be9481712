//! The dispatcher: claims due notifications with a lease, asks `policy` what to do, hands
//! messages to channel adapters (at each sender's rate), and records what the providers answered.
//! It is the only writer of attempt outcomes.
//!
//! - this file: the workers' loop, the lease and one round from claim to recorded answers;
//! - `round`: the round's reads, side by side, for the whole claimed batch;
//! - `plan`: the pure decision for one notification (also the console's routing preview);
//! - `handover`: rendering, recording the start with what the patient receives, the provider
//!   call and the classification of its answer.

mod drain;
mod handover;
mod heartbeat;
mod plan;
mod preview;
mod round;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::{Notify, watch};

pub use heartbeat::Heartbeat;
pub use plan::{PlanInputs, plan, routing};
pub use preview::{Preview, PreviewDraft, delivery_rules, preview};

use self::handover::{Carrying, Handover};
use self::round::Round;
use crate::batch::Batcher;
use crate::cache::ExpiringCache;
use crate::clock::{SharedClock, later};
use crate::config::{DeliveryTimeouts, DispatchConfig};
use crate::domain::{Clinic, ClinicId, NotificationStatus, Reason};
use crate::policy::{DeliveryRules, Step};
use crate::providers::{Providers, SenderLimits};
use crate::secure_link::SecureLinks;
use crate::store::{
    AttemptOutcome, ClaimedNotification, DispatchWrite, HandoverStart, NextState, OutcomeWrite,
    Store, StoreError,
};

#[derive(Debug)]
pub struct Dispatcher {
    store: Store,
    clock: SharedClock,
    config: DispatchConfig,
    rules: DeliveryRules,
    providers: Arc<Providers>,
    limits: SenderLimits,
    wake: Arc<Notify>,
    /// Records each hand-over's start before its request is written (group commit): after a
    /// crash, only a started hand-over may have reached the provider and must be waited on.
    starts: Batcher<HandoverStart, bool>,
    /// Clinics as last read: a clinic's row changes rarely (its name, phone, channels).
    clinics: ExpiringCache<ClinicId, Clinic>,
    rounds: drain::Rounds,
    /// Issues the secure link a sensitive notice carries, where the clinic wants one.
    secure_links: Arc<SecureLinks>,
    heartbeat: Arc<Heartbeat>,
}

/// How long a clinic read from the database is used before it is read again.
const CLINIC_FRESH_FOR: Duration = Duration::from_secs(30);

impl Dispatcher {
    pub fn new(
        store: Store,
        clock: SharedClock,
        config: DispatchConfig,
        timeouts: DeliveryTimeouts,
        providers: Arc<Providers>,
        wake: Arc<Notify>,
        secure_links: Arc<SecureLinks>,
    ) -> Self {
        let rules = delivery_rules(&config, timeouts);
        let starts_store = store.clone();
        let starts_clock = clock.clone();
        let starts = Batcher::spawn(1024, move |starts: Vec<HandoverStart>| {
            let store = starts_store.clone();
            let now = starts_clock.now();
            async move {
                let started = store.mark_started(&starts, now).await?;
                Ok::<_, StoreError>(
                    starts
                        .iter()
                        .map(|s| started.contains(s.attempt.as_str()))
                        .collect(),
                )
            }
        });
        Self {
            store,
            clock,
            config,
            rules,
            limits: providers.sender_limits(),
            providers,
            wake,
            starts,
            secure_links,
            clinics: ExpiringCache::new(CLINIC_FRESH_FOR),
            rounds: drain::Rounds::default(),
            heartbeat: Arc::default(),
        }
    }

    /// What `/ready` asks whether the workers run.
    pub fn heartbeat(&self) -> Arc<Heartbeat> {
        Arc::clone(&self.heartbeat)
    }

    /// Runs the configured number of workers until `stop` turns true.
    pub async fn run_until_stopped(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let workers: Vec<_> = (0..self.config.workers.max(1))
            .map(|_| tokio::spawn(Arc::clone(&self).work(stop.clone())))
            .collect();
        self.heartbeat.set_running(true);
        futures::future::join_all(workers).await;
        self.heartbeat.set_running(false);
    }

    async fn work(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let idle = Duration::from_millis(self.config.poll_interval_ms);
        while !*stop.borrow() {
            self.heartbeat.beat();
            match self.rounds.share(self.dispatch_due()).await {
                Ok(0) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(idle) => {}
                        _ = stop.changed() => {}
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "dispatch round failed");
                    tokio::time::sleep(idle).await;
                }
            }
        }
    }

    /// One round: claim a batch, decide, hand over, record. Returns how many were claimed.
    pub async fn dispatch_due(&self) -> Result<usize, StoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = self.clock.now();
        let lease_until = later(now, self.config.lease());
        let claimed = self
            .store
            .claim_due(&token, now, lease_until, self.config.batch_size)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let round = Round::read(&self.store, &claimed, now).await?;

        let mut writes = Vec::with_capacity(count);
        let mut handovers = HashMap::new();
        for notification in claimed {
            let (write, handover) = self.decide(notification, &round, now).await?;
            if let Some(handover) = handover {
                handovers.insert(handover.attempt().clone(), handover);
            }
            writes.push(write);
        }

        let lease_until = later(self.clock.now(), self.config.lease());
        let cleared = self
            .store
            .record_decisions(&token, &writes, now, lease_until)
            .await?;
        if cleared.is_empty() {
            return Ok(count);
        }
        let sends: Vec<Handover> = cleared
            .into_iter()
            .filter_map(|attempt| handovers.remove(&attempt))
            .collect();
        self.hand_over_all(&token, sends).await?;
        Ok(count)
    }

    /// What to do with one claimed notification, and the hand-over to make when it is sent.
    async fn decide(
        &self,
        notification: ClaimedNotification,
        round: &Round,
        now: Timestamp,
    ) -> Result<(DispatchWrite, Option<Handover>), StoreError> {
        let clinic = self.clinic(&notification.clinic_id).await?;
        let Some(patient) = round.patient(&notification) else {
            return Ok((patient_gone(&notification), None));
        };
        let inputs = round.inputs(&notification, patient, &clinic, &self.providers);
        let sensitivity = inputs.sensitivity;
        let decision = plan(&inputs, &self.rules, now);
        let carrying = Carrying {
            sensitivity,
            content_went_by: decision.content_went_by,
        };
        let (next, handover) = match decision.step {
            Step::Send(planned) => {
                // The patient is cloned, not taken out of the round: later notifications in
                // this batch may be for the same patient.
                let (next, handover) = self.prepare(
                    &notification,
                    patient.clone(),
                    clinic,
                    planned,
                    carrying,
                    round.own_templates(&notification),
                );
                (next, Some(handover))
            }
            Step::Wait { until, status } => (NextState::Wait { until, status }, None),
            Step::Finish { status, channel } => (NextState::Finish { status, channel }, None),
        };
        let write = DispatchWrite {
            notification: notification.id,
            previous_status: notification.status,
            verdicts: decision.verdicts,
            reasons: decision.reasons,
            next,
            callback: decision.callback,
        };
        Ok((write, handover))
    }

    /// Hands the committed sends to their providers, holding the lease meanwhile, then records
    /// the answers. Different patients' hand-overs run side by side; one patient's run one after
    /// another, oldest first, so that the patient gets them in the order they were written (an
    /// urgent answer before the away message queued with it).
    async fn hand_over_all(&self, token: &str, sends: Vec<Handover>) -> Result<(), StoreError> {
        let held: Vec<String> = sends
            .iter()
            .map(|h| h.notification.id.as_str().to_owned())
            .collect();
        let held: Vec<&str> = held.iter().map(String::as_str).collect();
        let turns = in_turns(sends, |h| h.notification.patient_id.clone());
        let hand_overs = futures::stream::iter(turns)
            .map(|turn| self.hand_over_in_turn(token, turn))
            .buffer_unordered(self.config.batch_size.max(1) as usize)
            .flat_map(futures::stream::iter)
            .collect::<Vec<OutcomeWrite>>();
        let outcomes = tokio::select! {
            outcomes = hand_overs => outcomes,
            never = self.keep_lease(token, &held) => match never {},
        };
        self.record_outcomes(token, &outcomes).await?;
        outcomes.iter().for_each(report_handover);
        if outcomes
            .iter()
            .any(|o| matches!(o.outcome, AttemptOutcome::Failed { .. }))
        {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Hands `sends` over one after another.
    async fn hand_over_in_turn(&self, token: &str, sends: Vec<Handover>) -> Vec<OutcomeWrite> {
        let mut outcomes = Vec::with_capacity(sends.len());
        for handover in sends {
            outcomes.extend(self.hand_over(token, handover).await);
        }
        outcomes
    }

    /// The providers' answers exist only in memory until written: a failed write (a deadlock, a
    /// busy pool) is tried again a few times rather than leave the hand-overs unsettled.
    async fn record_outcomes(
        &self,
        token: &str,
        outcomes: &[OutcomeWrite],
    ) -> Result<(), StoreError> {
        let mut tries = 0;
        loop {
            match self
                .store
                .record_outcomes(token, outcomes, self.clock.now())
                .await
            {
                Err(error) if tries < 3 => {
                    tries += 1;
                    tracing::warn!(%error, tries, "recording provider answers failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                result => return result,
            }
        }
    }

    /// Renews this round's lease every third of a lease until dropped, so a hand-over waiting on
    /// a slow provider or a sender's rate limit is not mistaken for an interrupted one.
    async fn keep_lease(&self, token: &str, notifications: &[&str]) -> std::convert::Infallible {
        let lease = self.config.lease();
        loop {
            tokio::time::sleep(lease / 3).await;
            self.heartbeat.beat();
            let until = later(self.clock.now(), lease);
            if let Err(error) = self.store.extend_lease(token, notifications, until).await {
                tracing::warn!(%error, "could not renew the dispatch lease");
            }
        }
    }

    async fn clinic(&self, id: &ClinicId) -> Result<Clinic, StoreError> {
        self.clinics
            .get_or_read(id, self.store.clinic_by_id(id))
            .await
    }
}

/// One line per recorded hand-over: the notification, attempt, channel and how the provider
/// answered, by its code; never the address or the text, which the provider's reason may quote.
/// The same outcome is counted in `medrelay_attempts_total`.
fn report_handover(write: &OutcomeWrite) {
    let (outcome, code) = match &write.outcome {
        AttemptOutcome::Accepted { .. } => ("accepted", None),
        AttemptOutcome::Errored { code, .. } => ("retrying", Some(code.as_str())),
        AttemptOutcome::RateLimited { .. } => ("rate_limited", None),
        AttemptOutcome::Failed { code, .. } => ("failed", Some(code.as_str())),
        AttemptOutcome::Ambiguous { .. } => ("no_answer", None),
    };
    crate::observability::record_attempt(write.channel, outcome);
    tracing::info!(
        notification = %write.notification,
        attempt = %write.attempt,
        channel = %write.channel,
        outcome,
        code,
        "handed over"
    );
}

/// `items` split by `key`, each part in the order given, the parts in the order their first item
/// came.
fn in_turns<T, K: Hash + Eq>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<Vec<T>> {
    let mut parts: Vec<Vec<T>> = Vec::new();
    let mut part_of: HashMap<K, usize> = HashMap::new();
    for item in items {
        match part_of.entry(key(&item)) {
            Entry::Occupied(part) => parts[*part.get()].push(item),
            Entry::Vacant(part) => {
                part.insert(parts.len());
                parts.push(vec![item]);
            }
        }
    }
    parts
}

/// A notification whose patient was deleted since it was stored fails: there is no one to send
/// it to.
fn patient_gone(notification: &ClaimedNotification) -> DispatchWrite {
    DispatchWrite {
        notification: notification.id.clone(),
        previous_status: notification.status,
        verdicts: Vec::new(),
        reasons: vec![Reason::PatientGone],
        next: NextState::Finish {
            status: NotificationStatus::Failed,
            channel: None,
        },
        callback: None,
    }
}

#[cfg(test)]
mod tests {
    use super::in_turns;

    #[test]
    fn one_patient_s_hand_overs_stay_in_one_turn_in_the_order_given() {
        let sends = vec![
            ("dana", "urgent answer"),
            ("avi", "reminder"),
            ("dana", "away message"),
            ("noa", "reminder"),
            ("avi", "second reminder"),
        ];
        assert_eq!(
            in_turns(sends, |(patient, _)| *patient),
            [
                vec![("dana", "urgent answer"), ("dana", "away message")],
                vec![("avi", "reminder"), ("avi", "second reminder")],
                vec![("noa", "reminder")],
            ]
        );
    }
}
