//! The change feed under concurrent writers, on a real database (SQLite, or PostgreSQL when
//! `MEDRELAY_TEST_POSTGRES_URL` is set): a reader paging it while notifications are created and
//! cancelled in parallel transactions sees every change, none twice, each notification's in
//! order.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use medrelay::domain::{
    Actor, ClinicId, Event, Language, Metadata, NotificationId, NotificationStatus, Origin,
    PatientId, Phone, PhoneRegion, Priority, TimeZoneName,
};
use medrelay::policy::PatientCaps;
use medrelay::store::{
    FeedStart, NewClinic, NewNotification, NotificationFilter, PatientUpsert, Store,
};
use medrelay_channels::ChannelKind;
use medrelay_testkit::TestDatabase;

const WRITERS: usize = 6;
const NOTIFICATIONS_PER_WRITER: usize = 40;
const PAGE: u32 = 7;

async fn fresh_store(dir: &tempfile::TempDir) -> (Store, TestDatabase) {
    let database = TestDatabase::fresh(dir.path()).await;
    let store = Store::connect(database.url()).await.expect("store");
    (store, database)
}

async fn clinic_with_patient(store: &Store, now: Timestamp) -> (ClinicId, PatientId) {
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
            now,
        )
        .await
        .expect("clinic");
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
        .upsert_patient(&clinic.id, patient, now)
        .await
        .expect("patient");
    (clinic.id, patient.id)
}

/// A notification for tomorrow: it waits, scheduled, until it is cancelled.
fn tomorrow(clinic: &ClinicId, patient: &PatientId, now: Timestamp) -> NewNotification {
    NewNotification {
        id: NotificationId::generate(),
        clinic_id: clinic.clone(),
        patient_id: patient.clone(),
        topic: "general".into(),
        body: Some("See you tomorrow".into()),
        template: None,
        params: None,
        channel: None,
        priority: Priority::Urgent,
        send_at: now + SignedDuration::from_hours(24),
        expires_at: None,
        idempotency_key: None,
        request_hash: "h".into(),
        received_at: now,
        received: Event::Received {
            priority: Priority::Urgent,
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
    }
}

/// Creates notifications and cancels each after the next one is created; returns their ids.
async fn write(store: Store, clinic: ClinicId, patient: PatientId) -> Vec<NotificationId> {
    let mut written = Vec::new();
    for _ in 0..NOTIFICATIONS_PER_WRITER {
        let now = Timestamp::now();
        let new = tomorrow(&clinic, &patient, now);
        written.push(new.id.clone());
        store
            .insert_notifications(&[new], PatientCaps::default())
            .await
            .expect("stored");
        if let [.., earlier, _] = written.as_slice() {
            store
                .cancel_notification(&clinic, earlier, &Actor::System, now)
                .await
                .expect("cancelled");
        }
    }
    let last = written.last().expect("one written");
    store
        .cancel_notification(&clinic, last, &Actor::System, Timestamp::now())
        .await
        .expect("cancelled");
    written
}

/// Pages the feed until every notification was seen cancelled (or a minute has passed: a
/// transaction elsewhere on a shared PostgreSQL server holds the feed back until it ends), then
/// once more; returns every change seen, in order.
async fn read_feed(store: Store, clinic: ClinicId) -> Vec<(NotificationId, NotificationStatus)> {
    let filter = NotificationFilter {
        limit: PAGE,
        ..NotificationFilter::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut start = FeedStart::ChangedSince(Timestamp::UNIX_EPOCH);
    let mut seen = Vec::new();
    let mut cancelled = HashSet::new();
    let mut last_round = false;
    loop {
        let page = store
            .notification_feed(&clinic, &filter, &start)
            .await
            .expect("feed page");
        let empty = page.items.is_empty();
        for item in page.items {
            if item.status == NotificationStatus::Cancelled {
                cancelled.insert(item.id.clone());
            }
            seen.push((item.id, item.status));
        }
        start = FeedStart::After(page.next);
        if last_round || Instant::now() > deadline {
            return seen;
        }
        last_round = cancelled.len() == WRITERS * NOTIFICATIONS_PER_WRITER;
        if empty {
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_paging_the_feed_during_parallel_writes_sees_every_change_once_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh_store(&dir).await;
    let (clinic, patient) = clinic_with_patient(&store, Timestamp::now()).await;

    let reader = tokio::spawn(read_feed(store.clone(), clinic.clone()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(write(store.clone(), clinic.clone(), patient.clone())))
        .collect();
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.expect("writer"));
    }
    let seen = reader.await.expect("reader");

    let mut once = HashSet::new();
    let repeated: Vec<_> = seen.iter().filter(|change| !once.insert(*change)).collect();
    assert!(repeated.is_empty(), "seen twice: {repeated:?}");
    let mut last: HashMap<&NotificationId, NotificationStatus> = HashMap::new();
    for (id, status) in &seen {
        let before = last.insert(id, *status);
        assert_ne!(
            before,
            Some(NotificationStatus::Cancelled),
            "{id} changed after it was seen cancelled"
        );
    }
    let missed: Vec<_> = written
        .iter()
        .filter(|id| last.get(id) != Some(&NotificationStatus::Cancelled))
        .collect();
    assert!(missed.is_empty(), "last change never seen: {missed:?}");
    assert_eq!(last.len(), WRITERS * NOTIFICATIONS_PER_WRITER);
    database.remove().await.expect("remove database");
}
