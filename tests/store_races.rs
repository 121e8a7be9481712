//! Races between delivery tracking and the dispatcher, driven step by step on a real database
//! (SQLite, or PostgreSQL when `MEDRELAY_TEST_POSTGRES_URL` is set).

use jiff::{SignedDuration, Timestamp};
use medrelay::domain::{
    Actor, AttemptContent, AttemptId, AttemptStatus, ContentKind, Event, Language, Metadata,
    NotificationId, NotificationStatus, Origin, Phone, PhoneRegion, Priority, Reason, TimeZoneName,
};
use medrelay::policy::{AttemptVerdict, PatientCaps};
use medrelay::store::{
    ApiKeyRole, AttemptOutcome, DispatchWrite, HandoverStart, NewClinic, NewNotification,
    NextState, OutcomeWrite, PatientUpsert, StatusUpdate, Store,
};
use medrelay_channels::{ChannelKind, DeliveryState};
use medrelay_testkit::TestDatabase;

/// A store on a fresh database, and the database, to remove when the test is done.
async fn fresh_store(dir: &tempfile::TempDir) -> (Store, TestDatabase) {
    let database = TestDatabase::fresh(dir.path()).await;
    let store = Store::connect(database.url()).await.expect("store");
    (store, database)
}

fn send(
    notification: &NotificationId,
    attempt: &AttemptId,
    channel: ChannelKind,
    previous: NotificationStatus,
) -> DispatchWrite {
    DispatchWrite {
        notification: notification.clone(),
        previous_status: previous,
        verdicts: Vec::new(),
        reasons: Vec::new(),
        next: NextState::Send {
            attempt: attempt.clone(),
            channel,
            sender: "sandbox".into(),
            to_masked: "***567".into(),
            sandbox: true,
        },
        callback: None,
    }
}

/// A clinic with one patient and one notification due at `t0`.
async fn one_notification_due(store: &Store, t0: Timestamp) -> NotificationId {
    let clinic = store
        .create_clinic(
            NewClinic {
                slug: "hadar".into(),
                name: "Hadar".into(),
                timezone: TimeZoneName::parse("Asia/Jerusalem").expect("zone"),
                default_language: Language::parse("he").expect("language"),
                default_channels: ChannelKind::ALL.to_vec(),
                phone_region: PhoneRegion::ISRAEL,
            },
            t0,
        )
        .await
        .expect("clinic");
    store
        .create_api_key(&clinic.id, ApiKeyRole::Booking, t0)
        .await
        .expect("key");
    let patient = PatientUpsert {
        external_id: "p-1".into(),
        name: "Dana".into(),
        language: Language::parse("he").expect("language"),
        timezone: TimeZoneName::parse("Asia/Jerusalem").expect("zone"),
        phone: Phone::parse("+972541234567", PhoneRegion::ISRAEL).ok(),
        whatsapp: true,
        email: None,
        channels: Vec::new(),
        opted_out: Vec::new(),
        quiet_hours: None,
        birth_date: None,
    };
    let (patient, _) = store
        .upsert_patient(&clinic.id, patient, t0)
        .await
        .expect("patient");
    let id = NotificationId::generate();
    let new = NewNotification {
        id: id.clone(),
        clinic_id: clinic.id.clone(),
        patient_id: patient.id.clone(),
        topic: "general".into(),
        body: Some("Hi".into()),
        template: None,
        params: None,
        channel: None,
        priority: Priority::Normal,
        send_at: t0,
        expires_at: None,
        idempotency_key: None,
        request_hash: "h".into(),
        received_at: t0,
        received: Event::Received {
            priority: Priority::Normal,
            scheduled_for: None,
            content: None,
        },
        received_by: Actor::System,
        hours_note: None,
        appointment: None,
        origin: Origin::Api,
        in_reply_to: None,
        reference: None,
        metadata: Metadata::default(),
        audit: None,
    };
    store
        .insert_notifications(&[new], PatientCaps::default())
        .await
        .expect("stored");

    id
}

/// One notification handed over to WhatsApp through the sandbox at `t0` and accepted as
/// `wamid.1`, with a delivery deadline one second later.
async fn whatsapp_accepted(store: &Store, t0: Timestamp) -> (NotificationId, AttemptId) {
    let at = |ms: i64| t0 + SignedDuration::from_millis(ms);
    let id = one_notification_due(store, t0).await;

    let whatsapp = AttemptId::generate();
    assert_eq!(
        store
            .claim_due("first", t0, at(30_000), 10)
            .await
            .expect("claim")
            .len(),
        1
    );
    let cleared = store
        .record_decisions(
            "first",
            &[send(
                &id,
                &whatsapp,
                ChannelKind::Whatsapp,
                NotificationStatus::Queued,
            )],
            t0,
            at(30_000),
        )
        .await
        .expect("decisions");
    assert_eq!(cleared, std::slice::from_ref(&whatsapp));
    let accepted = AttemptOutcome::Accepted {
        provider_message_id: "wamid.1".into(),
        deliver_by: Some(at(1_000)),
    };
    let outcome = OutcomeWrite {
        notification: id.clone(),
        attempt: whatsapp.clone(),
        channel: ChannelKind::Whatsapp,
        outcome: accepted,
        learned: None,
        suspend: None,
        sms: None,
        notice_follows: false,
    };
    store
        .record_outcomes("first", &[outcome], t0)
        .await
        .expect("outcome");

    (id, whatsapp)
}

#[tokio::test]
async fn statuses_batched_together_each_touch_only_attempts_of_the_account_that_signed_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh_store(&dir).await;
    let t0 = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).expect("now");
    let at = |ms: i64| t0 + SignedDuration::from_millis(ms);
    let (_, whatsapp) = whatsapp_accepted(&store, t0).await;
    let update = |state, by_attempt: bool, account: &str| StatusUpdate {
        attempt_id: by_attempt.then(|| whatsapp.as_str().to_owned()),
        provider_message_id: "wamid.1".into(),
        state,
        error_code: None,
        error_text: None,
        fact: None,
        senders: std::sync::Arc::from([account.to_owned()]),
    };

    // Another clinic's account claims it was read and, by the provider's id, that it failed;
    // the sandbox's own account says it was sent. One transaction holds all three.
    let changed = store
        .apply_statuses(
            &[
                update(DeliveryState::Read, true, "another-account"),
                update(DeliveryState::Failed, false, "another-account"),
                update(DeliveryState::Sent, true, "sandbox"),
            ],
            at(500),
        )
        .await
        .expect("statuses");

    assert_eq!(changed, 1, "only the sandbox's own update counts");
    let due = store
        .claim_due("past the deadline", at(2_000), at(32_000), 10)
        .await
        .expect("claim");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts[0].status, AttemptStatus::Sent);
    store.close().await;
    database.remove().await.expect("test database dropped");
}

#[tokio::test]
async fn a_delivery_reported_while_the_dispatcher_decides_stops_its_stale_fallback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh_store(&dir).await;
    let t0 = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).expect("now");
    let at = |ms: i64| t0 + SignedDuration::from_millis(ms);
    let (id, whatsapp) = whatsapp_accepted(&store, t0).await;

    // Past the deadline a dispatcher claims it and decides to fall back to SMS; meanwhile the
    // delivery receipt arrives.
    assert_eq!(
        store
            .claim_due("second", at(2_000), at(32_000), 10)
            .await
            .expect("claim")
            .len(),
        1
    );
    let receipt = StatusUpdate {
        attempt_id: Some(whatsapp.as_str().to_owned()),
        provider_message_id: "wamid.1".into(),
        state: DeliveryState::Delivered,
        error_code: None,
        error_text: None,
        fact: None,
        senders: std::sync::Arc::from(["sandbox".to_owned()]),
    };
    store
        .apply_statuses(&[receipt], at(2_000))
        .await
        .expect("receipt");
    let mut stale = send(
        &id,
        &AttemptId::generate(),
        ChannelKind::Sms,
        NotificationStatus::Sent,
    );
    stale.verdicts = vec![AttemptVerdict {
        attempt: whatsapp.clone(),
        status: AttemptStatus::TimedOut,
        reason: Reason::NoReceiptInTime {
            channel: ChannelKind::Whatsapp,
            secs: 30,
        },
    }];
    let cleared = store
        .record_decisions("second", &[stale], at(2_000), at(32_000))
        .await
        .expect("decisions");

    assert!(cleared.is_empty(), "the stale fallback must not be sent");
    let again = store
        .claim_due("third", at(2_000), at(32_000), 10)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1, "handed back, due now, to be decided again");
    assert_eq!(again[0].attempts.len(), 1);
    assert_eq!(again[0].attempts[0].status, AttemptStatus::Delivered);
    store.close().await;
    database.remove().await.expect("test database dropped");
}

/// A claim leaves the notification due (it writes no index), so only its lease keeps a second
/// dispatcher away: not while the first decides, and at once when the lease has run out.
#[tokio::test]
async fn a_claimed_notification_is_not_claimed_again_until_its_lease_runs_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh_store(&dir).await;
    let t0 = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).expect("now");
    let at = |ms: i64| t0 + SignedDuration::from_millis(ms);
    let id = one_notification_due(&store, t0).await;

    let first = store
        .claim_due("first", t0, at(1_000), 10)
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    let gauges = store.queue_gauges(at(500)).await.expect("gauges");
    assert_eq!(
        gauges.due, 0,
        "a held notification is not waiting in the queue"
    );
    let during = store
        .claim_due("second", at(999), at(30_000), 10)
        .await
        .expect("claim");
    assert!(during.is_empty(), "held by the first until its lease ends");

    let after = store
        .claim_due("second", at(1_000), at(31_000), 10)
        .await
        .expect("claim");
    assert_eq!(after.len(), 1, "the first's lease ran out");
    assert_eq!(after[0].id, id);
    store.close().await;
    database.remove().await.expect("test database dropped");
}

#[tokio::test]
async fn a_hand_over_whose_lease_was_taken_over_never_starts_and_is_seen_as_never_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh_store(&dir).await;
    let t0 = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).expect("now");
    let at = |ms: i64| t0 + SignedDuration::from_millis(ms);
    let id = one_notification_due(&store, t0).await;

    // The first dispatcher decides to send, then stalls past its lease before the request.
    let stalled = AttemptId::generate();
    store
        .claim_due("first", t0, at(1_000), 10)
        .await
        .expect("claim");
    store
        .record_decisions(
            "first",
            &[send(
                &id,
                &stalled,
                ChannelKind::Sms,
                NotificationStatus::Queued,
            )],
            t0,
            at(1_000),
        )
        .await
        .expect("decisions");

    // Another takes the notification over: the attempt was claimed, never started.
    let taken = store
        .claim_due("second", at(2_000), at(32_000), 10)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts[0].status, AttemptStatus::Sending);
    assert_eq!(taken[0].attempts[0].started_at, None);

    // The first wakes up: its request must not start, as the second may send it now.
    let clinic = taken[0].clinic_id.clone();
    let start = HandoverStart {
        notification: id.clone(),
        attempt: stalled.clone(),
        token: "first".into(),
        clinic: clinic.clone(),
        content: AttemptContent {
            kind: ContentKind::Content,
            language: "he".into(),
            subject: None,
            text: Some("תזכורת".into()),
            template: None,
        },
    };
    let started = store
        .mark_started(std::slice::from_ref(&start), at(2_500))
        .await
        .expect("mark");
    assert!(
        started.is_empty(),
        "a lost lease's hand-over must not start"
    );
    let contents = store
        .attempt_contents(&clinic, &id)
        .await
        .expect("contents");
    assert!(
        contents.is_empty(),
        "nothing was sent, so nothing is on record"
    );

    // Under its own lease a hand-over starts, and a later claim sees that it did.
    let start = HandoverStart {
        token: "second".into(),
        ..start
    };
    let sent = start.content.clone();
    let started = store.mark_started(&[start], at(2_500)).await.expect("mark");
    assert!(started.contains(stalled.as_str()));
    let contents = store
        .attempt_contents(&clinic, &id)
        .await
        .expect("contents");
    assert_eq!(
        contents.get(stalled.as_str()),
        Some(&sent),
        "a started hand-over's content is recorded with its start"
    );
    let again = store
        .claim_due("third", at(40_000), at(70_000), 10)
        .await
        .expect("claim");
    assert_eq!(again[0].attempts[0].started_at, Some(at(2_500)));
    store.close().await;
    database.remove().await.expect("test database dropped");
}

#[tokio::test]
async fn a_status_naming_our_attempt_before_the_send_answer_gives_it_the_provider_id_to_be_found_by()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh_store(&dir).await;
    let t0 = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).expect("now");
    let at = |ms: i64| t0 + SignedDuration::from_millis(ms);
    let id = one_notification_due(&store, t0).await;
    let sms = AttemptId::generate();
    store
        .claim_due("first", t0, at(30_000), 10)
        .await
        .expect("claim");
    let cleared = store
        .record_decisions(
            "first",
            &[send(
                &id,
                &sms,
                ChannelKind::Sms,
                NotificationStatus::Queued,
            )],
            t0,
            at(30_000),
        )
        .await
        .expect("decisions");
    assert_eq!(cleared, std::slice::from_ref(&sms));
    let status = |attempt: Option<&AttemptId>, sid: &str, state| StatusUpdate {
        attempt_id: attempt.map(|a| a.as_str().to_owned()),
        provider_message_id: sid.into(),
        state,
        error_code: None,
        error_text: None,
        fact: None,
        senders: std::sync::Arc::from(["sandbox".to_owned()]),
    };

    // Twilio's callback echoes our attempt and names its SID before the send's answer is in.
    let sent = status(Some(&sms), "SM1", DeliveryState::Sent);
    assert_eq!(
        store.apply_statuses(&[sent], at(100)).await.expect("sent"),
        1
    );
    // A later status that names only the SID finds the attempt by it.
    let delivered = status(None, "SM1", DeliveryState::Delivered);
    assert_eq!(
        store
            .apply_statuses(&[delivered], at(200))
            .await
            .expect("delivered"),
        1,
        "found by the provider id the first status gave it"
    );
    // An attempt keeps the first id it was given.
    let read = status(Some(&sms), "SM-other", DeliveryState::Read);
    assert_eq!(
        store.apply_statuses(&[read], at(300)).await.expect("read"),
        1
    );
    let unknown = status(None, "SM-other", DeliveryState::Failed);
    assert_eq!(
        store
            .apply_statuses(&[unknown], at(400))
            .await
            .expect("unknown"),
        0
    );
    assert_eq!(
        store
            .take_up_early_statuses(at(400))
            .await
            .expect("look")
            .named
            .len(),
        0,
        "no attempt carries the second id"
    );
    store.close().await;
    database.remove().await.expect("test database dropped");
}

#[tokio::test]
async fn a_failure_that_came_before_the_send_answer_waits_for_the_message_id_and_an_unknown_one_a_day()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh_store(&dir).await;
    let t0 = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).expect("now");
    let at = |ms: i64| t0 + SignedDuration::from_millis(ms);
    let failed = |wamid: &str| StatusUpdate {
        attempt_id: None,
        provider_message_id: wamid.into(),
        state: DeliveryState::Failed,
        error_code: Some("131026".into()),
        error_text: Some("Message undeliverable".into()),
        fact: None,
        senders: std::sync::Arc::from(["sandbox".to_owned()]),
    };

    // Meta's failure, with only its wamid, comes before the send's answer is recorded; another
    // names a message that is not ours.
    let changed = store
        .apply_statuses(&[failed("wamid.1"), failed("wamid.elsewhere")], t0)
        .await
        .expect("statuses");
    assert_eq!(changed, 0, "no attempt carries either id yet");
    assert!(
        store
            .take_up_early_statuses(t0)
            .await
            .expect("look")
            .is_empty(),
        "both wait"
    );

    let (_, whatsapp) = whatsapp_accepted(&store, t0).await;
    let mut taken = store.take_up_early_statuses(at(500)).await.expect("look");
    assert_eq!(taken.named.len(), 1, "{taken:?}");
    assert_eq!(
        taken.named[0].attempt_id.as_deref(),
        Some(whatsapp.as_str())
    );
    let named = std::mem::take(&mut taken.named);
    assert_eq!(
        store.apply_statuses(&named, at(500)).await.expect("apply"),
        1
    );
    store.forget_early_statuses(&taken).await.expect("forget");
    let due = store
        .claim_due("after the failure", at(500), at(30_000), 10)
        .await
        .expect("claim");
    assert_eq!(due.len(), 1, "the dispatcher is to decide on the failure");
    assert_eq!(due[0].attempts[0].status, AttemptStatus::Failed);

    let day = 24 * 3_600_000;
    assert!(
        store
            .take_up_early_statuses(at(day - 1))
            .await
            .expect("look")
            .is_empty(),
        "the other waits a day"
    );
    let expired = store
        .take_up_early_statuses(at(day + 1))
        .await
        .expect("look");
    assert!(
        expired.named.is_empty() && !expired.is_empty(),
        "{expired:?}"
    );
    store.forget_early_statuses(&expired).await.expect("forget");
    assert!(
        store
            .take_up_early_statuses(at(day + 1))
            .await
            .expect("look")
            .is_empty()
    );
    store.close().await;
    database.remove().await.expect("test database dropped");
}

#[tokio::test]
async fn early_statuses_are_taken_up_a_batch_at_a_time_and_a_full_batch_says_more_may_wait() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh_store(&dir).await;
    let t0 = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).expect("now");
    let unknown: Vec<StatusUpdate> = (0..300)
        .map(|i| StatusUpdate {
            attempt_id: None,
            provider_message_id: format!("wamid.elsewhere-{i}"),
            state: DeliveryState::Delivered,
            error_code: None,
            error_text: None,
            fact: None,
            senders: std::sync::Arc::from(["sandbox".to_owned()]),
        })
        .collect();
    store.apply_statuses(&unknown, t0).await.expect("kept");

    let a_day_later = t0 + SignedDuration::from_hours(25);
    let first = store
        .take_up_early_statuses(a_day_later)
        .await
        .expect("look");
    assert!(first.is_full(), "256 of 300 at once");
    store.forget_early_statuses(&first).await.expect("forget");
    let rest = store
        .take_up_early_statuses(a_day_later)
        .await
        .expect("look");
    assert!(!rest.is_empty() && !rest.is_full(), "the other 44");
    store.forget_early_statuses(&rest).await.expect("forget");
    assert!(
        store
            .take_up_early_statuses(a_day_later)
            .await
            .expect("look")
            .is_empty()
    );
    store.close().await;
    database.remove().await.expect("test database dropped");
}
