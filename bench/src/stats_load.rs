//! Loads a year of one clinic's history straight into the database with multi-row INSERTs in
//! large transactions: patients, appointments, notifications with their attempts, inbound
//! messages and overdue events. Values are generated here (ids, numbers, fixed words), so they
//! are written as SQL literals, which keeps statements free of parameter-count limits.

use std::fmt::Write;

use jiff::Timestamp;
use sqlx::{AnyPool, Connection};

use crate::BenchResult;

const DAY_MS: i64 = 86_400_000;
/// Rows per INSERT statement, and statements per transaction.
const ROWS_PER_STATEMENT: usize = 1_000;
const STATEMENTS_PER_TRANSACTION: usize = 50;
const PATIENTS: usize = 20_000;
const APPOINTMENTS: usize = 50_000;
/// One overdue wait per this many inbound messages.
const INBOUND_PER_OVERDUE: usize = 50;

/// What to load for clinic `clinic`, spread over the year before `now`.
pub(crate) struct History<'a> {
    pub(crate) clinic: &'a str,
    pub(crate) notifications: usize,
    pub(crate) inbound: usize,
    pub(crate) now: Timestamp,
    /// With each notification's six events, as the gateway writes them (the statistics read
    /// none, so `--stats` leaves them out).
    pub(crate) events: bool,
}

/// A small deterministic generator (xorshift64*), so every run loads the same history.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A whole number in `0..n`.
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }

    /// True with `percent` % chance.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Inserts rows of `table` (`columns` in order): `rows(i, sql)` writes item `i`'s tuples
/// (`(…)`, several joined by commas), for `i` in `0..count`.
async fn insert_rows(
    pool: &AnyPool,
    table: &str,
    columns: &str,
    count: usize,
    mut rows: impl FnMut(usize, &mut String),
) -> BenchResult<()> {
    let mut conn = pool.acquire().await?;
    let mut done = 0;
    while done < count {
        let mut tx = conn.begin().await?;
        for _ in 0..STATEMENTS_PER_TRANSACTION {
            if done >= count {
                break;
            }
            let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
            let end = (done + ROWS_PER_STATEMENT).min(count);
            for i in done..end {
                if i > done {
                    sql.push(',');
                }
                rows(i, &mut sql);
            }
            sqlx::raw_sql(&sql).execute(&mut *tx).await?;
            done = end;
        }
        tx.commit().await?;
    }
    Ok(())
}

pub(crate) async fn load(pool: &AnyPool, history: &History<'_>) -> BenchResult<()> {
    let clinic = history.clinic;
    let now = history.now.as_millisecond();
    insert_rows(
        pool,
        "patients",
        "id, clinic_id, external_id, name, language, timezone, phone, whatsapp, email, channels, \
         opted_out, created_at, updated_at",
        PATIENTS,
        |i, sql| {
            let _ = write!(
                sql,
                "('pat_b{i}', '{clinic}', 'b{i}', 'Patient {i}', 'he', 'Asia/Jerusalem', \
                 '+9725420{i:05}', 1, NULL, '', '', {now}, {now})"
            );
        },
    )
    .await?;
    insert_rows(
        pool,
        "appointments",
        "id, clinic_id, patient_id, starts_at, topic, template, params, reminder_minutes, \
         skipped_reminders, status, request_hash, created_at, updated_at",
        APPOINTMENTS,
        |i, sql| {
            let patient = i % PATIENTS;
            let _ = write!(
                sql,
                "('apt_b{i}', '{clinic}', 'pat_b{patient}', {now}, 'appointment_reminder', \
                 'appointment_reminder', '{{}}', '1440', '[]', 'booked', 'bench', {now}, {now})"
            );
        },
    )
    .await?;
    load_notifications(pool, history).await?;
    load_inbound(pool, history).await
}

/// One notification's story: its first channel, whether it fell back, when each status came.
struct Story {
    created_at: i64,
    topic: &'static str,
    origin: &'static str,
    appointment: Option<usize>,
    attempts: Vec<AttemptStory>,
    status: &'static str,
    delivered_channel: Option<&'static str>,
}

struct AttemptStory {
    channel: &'static str,
    status: &'static str,
    accepted_at: i64,
    delivered_at: Option<i64>,
    read_at: Option<i64>,
    failed_at: Option<i64>,
}

/// The `i`th of `count` moments spread evenly over the year before `now`, with up to a spacing of
/// jitter: rows are appended in time order, as a clinic's tables grow.
fn moment(i: usize, count: usize, now: i64, dice: &mut Dice) -> i64 {
    let spacing = (365 * DAY_MS / count.max(1) as i64).max(1);
    now - 365 * DAY_MS + i as i64 * spacing + dice.below(spacing as u64)
}

fn story(i: usize, count: usize, now: i64) -> Story {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    let created_at = moment(i, count, now, &mut dice);
    let (topic, appointment) = match dice.below(10) {
        0..=5 => ("appointment_reminder", Some(i % APPOINTMENTS)),
        6..=8 => ("general", None),
        _ => ("lab_results", None),
    };
    let origin = match dice.below(200) {
        0 => "auto:receipt",
        1 => "auto:away",
        _ => "api",
    };
    let first = match dice.below(100) {
        0..=69 => "whatsapp",
        70..=94 => "sms",
        _ => "email",
    };
    let attempts = attempt_stories(first, created_at, &mut dice);
    let (status, delivered_channel) = notification_status(&attempts);
    Story {
        created_at,
        topic,
        origin,
        appointment,
        attempts,
        status,
        delivered_channel,
    }
}

/// The attempts of a notification first tried on `first`: a failed WhatsApp attempt falls back
/// to SMS, a failed SMS one to email, which never fails.
fn attempt_stories(first: &'static str, created_at: i64, dice: &mut Dice) -> Vec<AttemptStory> {
    let mut at = created_at + 1_000 + dice.below(4_000);
    let mut attempts = Vec::new();
    let mut channel = first;
    loop {
        let attempt = attempt_story(channel, at, dice);
        let failed_at = attempt.failed_at;
        attempts.push(attempt);
        match (failed_at.is_some(), channel) {
            (true, "whatsapp") => channel = "sms",
            (true, _) => channel = "email",
            _ => break,
        }
        at = failed_at.unwrap_or(at) + 500;
    }
    attempts
}

/// One attempt on `channel`, accepted at `at`: 8 % of WhatsApp and SMS attempts fail; the rest
/// are delivered (email is only accepted), and 80 % of delivered WhatsApp messages are read.
fn attempt_story(channel: &'static str, at: i64, dice: &mut Dice) -> AttemptStory {
    let fails = channel != "email" && dice.chance(8);
    let delivered_at = (!fails && channel != "email").then(|| at + 1_000 + dice.below(300_000));
    let read_at = match (channel, delivered_at) {
        ("whatsapp", Some(d)) if dice.chance(80) => Some(d + 30_000 + dice.below(6 * 3_600_000)),
        _ => None,
    };
    let status = match (fails, delivered_at, read_at) {
        (true, ..) => "failed",
        (_, _, Some(_)) => "read",
        (_, Some(_), None) => "delivered",
        _ => "accepted",
    };
    AttemptStory {
        channel,
        status,
        accepted_at: at,
        delivered_at,
        read_at,
        failed_at: fails.then(|| at + 60_000),
    }
}

/// The notification's status and the channel it went on, after its last attempt.
fn notification_status(attempts: &[AttemptStory]) -> (&'static str, Option<&'static str>) {
    let last = attempts
        .last()
        .map_or(("email", "accepted"), |a| (a.channel, a.status));
    match last {
        (channel, "read") => ("read", Some(channel)),
        (channel, "delivered") => ("delivered", Some(channel)),
        (channel, _) => ("sent", Some(channel)),
    }
}

async fn load_notifications(pool: &AnyPool, history: &History<'_>) -> BenchResult<()> {
    load_notification_rows(pool, history).await?;
    load_attempts(pool, history).await?;
    if history.events {
        load_events(pool, history).await?;
    }
    Ok(())
}

/// Each notification's request and its state, as its story ends.
async fn load_notification_rows(pool: &AnyPool, history: &History<'_>) -> BenchResult<()> {
    let clinic = history.clinic;
    let now = history.now.as_millisecond();
    insert_rows(
        pool,
        "notification_requests",
        "id, clinic_id, patient_id, topic, body, template, priority, send_at, created_at, \
         appointment_id, origin",
        history.notifications,
        |i, sql| {
            let s = story(i, history.notifications, now);
            let patient = i % PATIENTS;
            let appointment = s
                .appointment
                .map_or("NULL".to_owned(), |a| format!("'apt_b{a}'"));
            let _ = write!(
                sql,
                "('ntf_b{i}', '{clinic}', 'pat_b{patient}', '{topic}', 'Hello', NULL, 'normal', \
                 {c}, {c}, {appointment}, '{origin}')",
                topic = s.topic,
                c = s.created_at,
                origin = s.origin,
            );
        },
    )
    .await?;
    insert_rows(
        pool,
        "notification_states",
        "id, clinic_id, created_at, status, delivered_channel, updated_at",
        history.notifications,
        |i, sql| {
            let s = story(i, history.notifications, now);
            let delivered = s
                .delivered_channel
                .map_or("NULL".to_owned(), |c| format!("'{c}'"));
            let _ = write!(
                sql,
                "('ntf_b{i}', '{clinic}', {c}, '{status}', {delivered}, {c})",
                c = s.created_at,
                status = s.status,
            );
        },
    )
    .await
}

/// Each notification's attempts, from the same stories again (they are deterministic).
async fn load_attempts(pool: &AnyPool, history: &History<'_>) -> BenchResult<()> {
    let now = history.now.as_millisecond();
    insert_rows(
        pool,
        "attempts",
        "id, notification_id, channel, sender, status, created_at, updated_at, accepted_at, \
         delivered_at, read_at, failed_at, started_at",
        history.notifications,
        |i, sql| {
            let opt = |v: Option<i64>| v.map_or("NULL".to_owned(), |v| v.to_string());
            for (k, a) in story(i, history.notifications, now)
                .attempts
                .iter()
                .enumerate()
            {
                if k > 0 {
                    sql.push(',');
                }
                let _ = write!(
                    sql,
                    "('att_b{i}_{k}', 'ntf_b{i}', '{channel}', 'bench', '{status}', {at}, {at}, \
                     {at}, {delivered}, {read}, {failed}, {at})",
                    channel = a.channel,
                    status = a.status,
                    at = a.accepted_at,
                    delivered = opt(a.delivered_at),
                    read = opt(a.read_at),
                    failed = opt(a.failed_at),
                );
            }
        },
    )
    .await
}

/// Each notification's events, from the same stories: received, routing, two for each attempt
/// (handed over, then its last status) and two status changes.
async fn load_events(pool: &AnyPool, history: &History<'_>) -> BenchResult<()> {
    let now = history.now.as_millisecond();
    insert_rows(
        pool,
        "events",
        "notification_id, attempt_id, at, kind, detail, actor",
        history.notifications,
        |i, sql| {
            let s = story(i, history.notifications, now);
            let c = s.created_at;
            let _ = write!(
                sql,
                "('ntf_b{i}', NULL, {c}, 'received', 'received', 'system'), \
                 ('ntf_b{i}', NULL, {c}, 'routing', 'first channel', 'system')"
            );
            for (k, a) in s.attempts.iter().enumerate() {
                let _ = write!(
                    sql,
                    ", ('ntf_b{i}', 'att_b{i}_{k}', {at}, 'attempt', 'handed over to {channel}', 'system'), \
                     ('ntf_b{i}', 'att_b{i}_{k}', {at}, 'attempt', '{status}', 'system')",
                    at = a.accepted_at,
                    channel = a.channel,
                    status = a.status,
                );
            }
            let _ = write!(
                sql,
                ", ('ntf_b{i}', NULL, {c}, 'status', 'queued to sending', 'system'), \
                 ('ntf_b{i}', NULL, {c}, 'status', 'sending to {status}', 'system')",
                status = s.status,
            );
        },
    )
    .await
}

async fn load_inbound(pool: &AnyPool, history: &History<'_>) -> BenchResult<()> {
    let clinic = history.clinic;
    let now = history.now.as_millisecond();
    let received: Vec<i64> = (0..history.inbound)
        .map(|i| {
            let mut dice = Dice(0xD1B5_4A32_D192_ED03 ^ (i as u64 + 1));
            moment(i, history.inbound, now, &mut dice)
        })
        .collect();
    insert_rows(
        pool,
        "inbound_messages",
        "id, clinic_id, patient_id, channel, provider_message_id, sender, from_address, kind, \
         text, sent_at, received_at, intent, answered_at, handled_at",
        received.len(),
        |i, sql| write_inbound_message(sql, clinic, i, received[i]),
    )
    .await?;
    insert_rows(
        pool,
        "events",
        "notification_id, at, kind, detail, data, clinic_id, patient_id",
        received.len() / INBOUND_PER_OVERDUE,
        |i, sql| {
            let at = received[i * INBOUND_PER_OVERDUE] + 4 * 3_600_000;
            let patient = (i * INBOUND_PER_OVERDUE) % PATIENTS;
            let _ = write!(
                sql,
                "(NULL, {at}, 'conversation', 'overdue', '{{\"type\":\"conversation_overdue\"}}', \
                 '{clinic}', 'pat_b{patient}')"
            );
        },
    )
    .await
}

/// The `i`th patient message, received `at`: mostly on WhatsApp, most answered by staff, some
/// marked handled, a few opting out, confirming, cancelling or urgent.
fn write_inbound_message(sql: &mut String, clinic: &str, i: usize, at: i64) {
    let mut dice = Dice(0x5851_F42D_4C95_7F2D ^ (i as u64 + 1));
    let patient = i % PATIENTS;
    let channel = if dice.chance(80) { "whatsapp" } else { "sms" };
    let intent = match dice.below(100) {
        0..=2 => "opt_out",
        3 => "opt_in",
        4..=13 => "confirm",
        14..=16 => "cancel",
        17 => "urgent",
        _ => "none",
    };
    let answered = if dice.chance(70) {
        (at + 60_000 + dice.below(8 * 3_600_000)).to_string()
    } else {
        "NULL".to_owned()
    };
    let handled = if dice.chance(20) {
        (at + 120_000 + dice.below(24 * 3_600_000)).to_string()
    } else {
        "NULL".to_owned()
    };
    let _ = write!(
        sql,
        "('msg_b{i}', '{clinic}', 'pat_b{patient}', '{channel}', 'wamid.b{i}', 'bench', \
         '+9725420{patient:05}', 'text', 'Hello', {at}, {at}, '{intent}', {answered}, \
         {handled})"
    );
}
