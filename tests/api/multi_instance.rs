//! Several instances on one database (README, "PostgreSQL and several instances"): any instance
//! may take a notification over HTTP and any dispatcher may send it, yet each is sent once.
//!
//! To tell which instance sent a message without adding anything to the product, each instance
//! runs on its own clock: the system clock cut to milliseconds, then moved back to an even
//! millisecond (instance A) or an odd one (instance B). Everything an instance stamps carries its
//! parity, in particular the sandbox outbox message its channel adapter wrote when its dispatcher
//! handed the notification over, and the attempt its dispatcher recorded. The one-millisecond
//! difference between the clocks changes no behaviour.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use medrelay::Config;
use medrelay::app::{Application, RunningApp};
use medrelay::clock::{Clock, SystemClock};
use medrelay_testkit::{WebhookReceiver, outbox, wait};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::booking_webhooks::{self, ALL_TYPES};
use crate::harness::{self, TestApp};

const NOTIFICATIONS: usize = 300;
/// Requests in flight at once while setting up.
const CONCURRENCY: usize = 16;

/// Which instance stamped something: its clock's millisecond parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Instance {
    A,
    B,
}

/// The system clock, moved back to an even millisecond (A) or an odd one (B).
#[derive(Debug)]
struct TaggedClock(Instance);

impl Clock for TaggedClock {
    fn now(&self) -> Timestamp {
        let now = SystemClock.now().as_millisecond();
        let parity = match self.0 {
            Instance::A => 0,
            Instance::B => 1,
        };
        let tagged = now - (now - parity).rem_euclid(2);
        Timestamp::from_millisecond(tagged).expect("a time near now")
    }
}

fn stamped_by(at: &Value) -> Instance {
    let at: Timestamp = at
        .as_str()
        .expect("a timestamp")
        .parse()
        .expect("an RFC 3339 timestamp");
    if at.as_millisecond().rem_euclid(2) == 0 {
        Instance::A
    } else {
        Instance::B
    }
}

/// Small batches and two workers per instance, so that work spreads over both.
fn shared_work(config: &mut Config) {
    config.dispatch.batch_size = 16;
    config.dispatch.workers = 2;
    // Setting up and checking 300 notifications is more than one key's burst on one instance.
    config.api.key_rate_per_second = 10_000;
    config.api.key_burst = 10_000;
    // Long enough that a slow status report (two CPUs, two instances, a debug build) never turns
    // into the designed fallback to SMS: a second message can then only be a second claim.
    config.delivery_timeout.whatsapp_ms = 10_000;
    config.delivery_timeout.sms_ms = 10_000;
    config.delivery_timeout.voice_ms = 10_000;
}

/// Instance A from the harness (fresh database, clinic, key), on the even clock.
async fn instance_a(adjust: impl Fn(&mut Config)) -> TestApp {
    TestApp::spawn_with_clock(
        |config| {
            shared_work(config);
            adjust(config);
        },
        Arc::new(TaggedClock(Instance::A)),
    )
    .await
}

/// Instance B: a second application on A's database, on the odd clock.
async fn instance_b(a: &TestApp, adjust: impl Fn(&mut Config)) -> RunningApp {
    let mut config = harness::test_config();
    config.database_url = a.database_url().to_owned();
    shared_work(&mut config);
    adjust(&mut config);
    Application::build_with_clock(config, Arc::new(TaggedClock(Instance::B)))
        .await
        .expect("a second instance starts on the same database")
        .start()
}

/// Several instances share a database on PostgreSQL only (README). Two instances on one SQLite
/// file were tried: each notification was still sent once, but the two processes' writers collide
/// ("database is locked", SQLITE_BUSY / SQLITE_BUSY_SNAPSHOT, when a transaction that has read
/// tries to write), the sandbox's status reports then wait out their 3 s lease, and the timing is
/// not reliable enough for a test. Returns whether to skip.
pub(crate) fn skipped_without_postgres(test: &str) -> bool {
    if std::env::var("MEDRELAY_TEST_POSTGRES_URL").is_ok() {
        return false;
    }
    eprintln!(
        "{test}: skipped, several instances on one database need PostgreSQL \
         (set MEDRELAY_TEST_POSTGRES_URL)"
    );
    true
}

fn phone(i: usize) -> String {
    format!("+97252{i:07}")
}

/// One patient per notification, so each outbox message names its notification's recipient.
/// Each has written to the clinic on WhatsApp, so the free-text messages go there; the clinic's
/// automatic receipts of those messages are read before this returns, so that what the test
/// counts afterwards is its own notifications.
async fn create_patients(app: &TestApp) {
    futures::stream::iter(0..NOTIFICATIONS)
        .map(|i| async move {
            app.patient(
                &format!("p-{i}"),
                json!({ "name": format!("Patient {i}"), "phone": phone(i) }),
            )
            .await;
            app.patient_writes_on_whatsapp(&phone(i)).await;
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    wait::within(Duration::from_secs(12))
        .until(async || {
            let read = get(
                app,
                &app.base,
                "/v1/notifications?origin=auto&status=read&limit=500",
            )
            .await;
            match read["items"].as_array().map_or(0, Vec::len) {
                NOTIFICATIONS => Ok(()),
                n => Err(format!("{n} of {NOTIFICATIONS} receipts read")),
            }
        })
        .await;
}

/// Posts notification `i` to the instance at `base`; returns (id, i).
async fn post(app: &TestApp, base: &str, i: usize) -> (String, usize) {
    let response = app
        .client()
        .post(format!("{base}/v1/notifications"))
        .bearer_auth(&app.key)
        .json(&json!({ "patient_id": format!("p-{i}"), "topic": "general", "body": format!("Message {i}") }))
        .send()
        .await
        .expect("notification posted");
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "notification {i} at {base}"
    );
    let receipt: Value = response.json().await.expect("receipt");
    (receipt["id"].as_str().expect("id").to_owned(), i)
}

/// Posts notifications `0..NOTIFICATIONS`, each to the instance `pick(i)`; returns id → i.
async fn post_all<'a>(app: &'a TestApp, pick: impl Fn(usize) -> &'a str) -> HashMap<String, usize> {
    futures::stream::iter(0..NOTIFICATIONS)
        .map(|i| post(app, pick(i), i))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

async fn get(app: &TestApp, base: &str, path: &str) -> Value {
    let response = app
        .client()
        .get(format!("{base}{path}"))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK, "GET {base}{path}");
    response.json().await.expect("json")
}

/// Polls until every notification is read (the last status the sandbox reports for WhatsApp),
/// asking the instances at `bases` in turn; then returns each, with its attempts, by id. Fails
/// after 12 s.
async fn wait_until_all_read(
    app: &TestApp,
    bases: &[&str],
    ids: &HashMap<String, usize>,
) -> HashMap<String, Value> {
    let deadline = Instant::now() + Duration::from_secs(12);
    for round in 0.. {
        let base = bases[round % bases.len()];
        let read = get(
            app,
            base,
            "/v1/notifications?origin=api&status=read&limit=500",
        )
        .await;
        if read["items"].as_array().map_or(0, Vec::len) == ids.len() {
            break;
        }
        if Instant::now() >= deadline {
            let all = get(app, base, "/v1/notifications?origin=api&limit=500").await;
            let mut statuses: HashMap<String, usize> = HashMap::new();
            for item in all["items"].as_array().expect("items") {
                *statuses.entry(item["status"].to_string()).or_insert(0) += 1;
            }
            panic!("not all {NOTIFICATIONS} notifications read after 12 s: {statuses:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    futures::stream::iter(ids.keys().enumerate())
        .map(|(n, id)| {
            let base = bases[n % bases.len()];
            async move {
                let notification = get(app, base, &format!("/v1/notifications/{id}")).await;
                (id.clone(), notification)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

/// Every sandbox outbox message of the test's notifications (`Message <i>`: the patients'
/// receipts are left out), as one instance reports them.
async fn outbox(app: &TestApp, base: &str) -> Vec<Value> {
    outbox::read(app.client(), base, &app.key, &[("limit", "10000")])
        .await
        .into_iter()
        .filter(|m| {
            m["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("Message "))
        })
        .collect()
}

/// Checks that each notification was read after exactly one attempt and exactly one message in
/// the sandbox outbox, sent by the instance that recorded the attempt. Returns which instance sent
/// each notification, by number.
fn assert_each_sent_once(
    ids: &HashMap<String, usize>,
    done: &HashMap<String, Value>,
    outbox: &[Value],
) -> HashMap<usize, Instance> {
    let by_notification: HashMap<&str, &Value> = outbox
        .iter()
        .map(|m| (m["notification_id"].as_str().expect("notification_id"), m))
        .collect();
    let mut sent_by = HashMap::new();
    for (id, i) in ids {
        let notification = &done[id];
        let attempts = notification["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 1, "exactly one attempt: {notification:#}");
        assert_eq!(notification["status"], "read", "{notification:#}");
        let attempt = &attempts[0];
        let message = by_notification
            .get(id.as_str())
            .unwrap_or_else(|| panic!("no outbox message for {notification:#}"));
        assert_eq!(message["recipient"], phone(*i));
        assert_eq!(message["body"], format!("Message {i}"));
        let sender = stamped_by(&message["created_at"]);
        assert_eq!(
            stamped_by(&attempt["created_at"]),
            sender,
            "the instance that recorded the attempt is the one that handed it over: {notification:#} {message:#}"
        );
        sent_by.insert(*i, sender);
    }

    assert_eq!(
        by_notification.len(),
        outbox.len(),
        "no notification handed over twice"
    );
    let recipients: HashSet<&str> = outbox
        .iter()
        .map(|m| m["recipient"].as_str().expect("recipient"))
        .collect();
    assert_eq!(
        (outbox.len(), recipients.len()),
        (NOTIFICATIONS, NOTIFICATIONS),
        "one outbox message per notification, no patient messaged twice"
    );
    sent_by
}

/// Two instances on one database, notifications posted to both in turn: each notification is
/// handed over exactly once (one attempt, one outbox message, each patient messaged once), and
/// each dispatcher sent notifications that the other instance took in over HTTP, so the work
/// really went through the shared queue. This is what claiming with `FOR UPDATE SKIP LOCKED` and
/// a lease promises; a claim that both dispatchers could win would show up as a second attempt
/// or a second outbox message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_share_the_work_and_deliver_each_notification_once() {
    if skipped_without_postgres("two_instances_on_one_database") {
        return;
    }
    let started = Instant::now();
    let a = instance_a(|_| {}).await;
    let b = instance_b(&a, |_| {}).await;
    let b_base = format!("http://{}", b.addr);
    create_patients(&a).await;

    let ids = post_all(&a, |i| if i % 2 == 0 { &a.base } else { &b_base }).await;
    let done = wait_until_all_read(&a, &[&a.base, &b_base], &ids).await;
    let outbox_a = outbox(&a, &a.base).await;
    let outbox_b = outbox(&a, &b_base).await;
    assert_eq!(
        outbox_a, outbox_b,
        "both instances see the one shared outbox"
    );
    let sent_by = assert_each_sent_once(&ids, &done, &outbox_a);

    // (posted to, sent by) → how many.
    let mut routes: HashMap<(Instance, Instance), usize> = HashMap::new();
    for (i, sender) in sent_by {
        let posted_to = if i % 2 == 0 { Instance::A } else { Instance::B };
        *routes.entry((posted_to, sender)).or_insert(0) += 1;
    }
    let from_a = routes
        .get(&(Instance::B, Instance::A))
        .copied()
        .unwrap_or(0);
    let from_b = routes
        .get(&(Instance::A, Instance::B))
        .copied()
        .unwrap_or(0);
    assert!(
        from_a > 0 && from_b > 0,
        "each dispatcher sent notifications the other instance took in: {routes:?}"
    );
    eprintln!(
        "(posted to, sent by): {routes:?}, in {:?}",
        started.elapsed()
    );
    b.stop().await;
    a.stop().await;
}

/// Instance B takes in all the notifications over HTTP and starts sending them, then is stopped
/// (gracefully, as on a deploy) part-way. Nothing is left stuck: instance A, which took in none
/// of them, sends the rest; B sent nothing after it stopped; and still each notification was
/// handed over exactly once. The lease is 30 s and everything is read well within the 12 s wait,
/// so B left no lease behind for A to wait out. Providers are slowed to 60 messages a second per
/// instance so that the stop falls in the middle of the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_stopped_mid_way_leaves_its_work_to_the_other_and_nothing_is_sent_twice() {
    if skipped_without_postgres("an_instance_stopped_mid_way") {
        return;
    }
    let started = Instant::now();
    let slow = |config: &mut Config| config.sandbox.sender_rate_per_second = 60;
    let a = instance_a(slow).await;
    let b = instance_b(&a, slow).await;
    let b_base = format!("http://{}", b.addr);
    create_patients(&a).await;

    let ids = post_all(&a, |_| &b_base).await;
    let sent_before_stop = wait::within(Duration::from_secs(5))
        .every(Duration::from_millis(20))
        .until(async || match outbox(&a, &a.base).await {
            sent if sent.len() >= NOTIFICATIONS / 4 => Ok(sent),
            sent => Err(format!("only {} messages sent", sent.len())),
        })
        .await;
    b.stop().await;
    assert!(
        sent_before_stop.len() < NOTIFICATIONS,
        "B was stopped before all the work was done"
    );
    let sent_by_b_at_stop = outbox(&a, &a.base)
        .await
        .iter()
        .filter(|m| stamped_by(&m["created_at"]) == Instance::B)
        .count();

    let done = wait_until_all_read(&a, &[&a.base], &ids).await;
    let sent_by = assert_each_sent_once(&ids, &done, &outbox(&a, &a.base).await);
    let from_a = sent_by.values().filter(|s| **s == Instance::A).count();
    let from_b = sent_by.values().filter(|s| **s == Instance::B).count();
    assert!(from_b > 0, "B sent some before it stopped");
    assert_eq!(from_b, sent_by_b_at_stop, "B sent nothing after it stopped");
    assert!(from_a > 0, "A sent the rest");
    eprintln!(
        "B sent {from_b} then stopped, A sent {from_a}, in {:?}",
        started.elapsed()
    );
    a.stop().await;
}

/// Both instances' webhook senders work one outbox while both write to it: every status change of
/// every notification reaches the booking system, verified, in its audit trail's order, however
/// the writing of a notification's next message and the delivery of the one before it interleave
/// between the instances (each line's head is marked under the line's lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_every_booking_webhook_in_each_notification_s_order() {
    if skipped_without_postgres("two_instances_send_every_booking_webhook") {
        return;
    }
    let a = instance_a(booking_webhooks::fast_webhooks).await;
    let b = instance_b(&a, booking_webhooks::fast_webhooks).await;
    let b_base = format!("http://{}", b.addr);
    let receiver = WebhookReceiver::start().await;
    let admin = a.admin_key().await;
    let (_, secret) = booking_webhooks::register(&a, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.trust(&secret);
    create_patients(&a).await;

    let ids = post_all(&a, |i| if i % 2 == 0 { &a.base } else { &b_base }).await;
    wait_until_all_read(&a, &[&a.base, &b_base], &ids).await;
    let ids: Vec<String> = ids.into_keys().collect();
    booking_webhooks::wait_for_every_change(&a, &receiver, &ids).await;

    assert_eq!(receiver.bad_signatures(), 0);
    b.stop().await;
    a.stop().await;
}
