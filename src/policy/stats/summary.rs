//! The report built from the grouped rows.

use std::collections::BTreeMap;

use medrelay_channels::ChannelKind;
use serde::Serialize;

use super::{
    Durations, InboundCounts, Latency, MIN_BEST_HOUR_SAMPLES, Measure, ReminderRead, StatsRows,
};
use crate::domain::Intent;
use utoipa::ToSchema;

/// How many of the busiest hours of the week are named as peak hours.
const PEAK_HOURS: usize = 3;

const DAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Stats {
    pub outbound: Outbound,
    pub inbound: Inbound,
    /// Per channel, the clinic-local hour whose reminders were read fastest; channels without an
    /// hour of enough samples are left out.
    pub best_reminder_hours: Vec<BestHour>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Outbound {
    pub by_channel: Vec<OutboundLine>,
    pub by_topic: Vec<OutboundLine>,
}

/// The attempts of one channel or one topic.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutboundLine {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<ChannelKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    /// Of the delivered notifications that started here, the share delivered on another channel;
    /// `null` when none was delivered.
    pub fallback_rate: Option<f64>,
    pub to_delivered: Latency,
    pub to_read: Latency,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Inbound {
    pub messages: i64,
    /// `[day][hour]`, Sunday first, clinic-local hours.
    pub by_hour_of_week: [[i64; 24]; 7],
    /// The busiest hours of the week, busiest first.
    pub peak_hours: Vec<PeakHour>,
    /// From a message to its answer or its handling.
    pub response_time: Latency,
    pub overdue: i64,
    pub auto_replies: BTreeMap<String, i64>,
    pub opt_outs: i64,
    pub opt_ins: i64,
    pub confirmations: i64,
    pub cancellation_requests: i64,
    pub urgent: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PeakHour {
    pub day: &'static str,
    pub hour: u8,
    pub messages: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BestHour {
    pub channel: ChannelKind,
    pub hour: u8,
    pub median_read_seconds: i64,
    pub samples: i64,
}

pub fn summarize(rows: &StatsRows) -> Stats {
    Stats {
        outbound: Outbound {
            by_channel: outbound_lines(rows, |channel, _| Key::Channel(channel)),
            by_topic: outbound_lines(rows, |_, topic| Key::Topic(topic.to_owned())),
        },
        inbound: inbound(&rows.inbound),
        best_reminder_hours: best_hours(&rows.reminder_reads),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Channel(ChannelKind),
    Topic(String),
}

#[derive(Debug, Default)]
struct Tally {
    sent: i64,
    delivered: i64,
    read: i64,
    failed: i64,
    delivered_here: i64,
    fell_back: i64,
    to_delivered: Durations,
    to_read: Durations,
}

/// One line per key (a channel or a topic) of everything in `rows`.
fn outbound_lines(rows: &StatsRows, key: impl Fn(ChannelKind, &str) -> Key) -> Vec<OutboundLine> {
    let mut tallies: BTreeMap<Key, Tally> = BTreeMap::new();
    for row in &rows.attempts {
        let tally = tallies.entry(key(row.channel, &row.topic)).or_default();
        tally.sent += row.sent;
        tally.delivered += row.delivered;
        tally.read += row.read;
        tally.failed += row.failed;
    }
    for row in &rows.latencies {
        let tally = tallies.entry(key(row.channel, &row.topic)).or_default();
        match row.measure {
            Measure::ToDelivered => tally.to_delivered.add(row.bucket_ms, row.count),
            Measure::ToRead => tally.to_read.add(row.bucket_ms, row.count),
        }
    }
    for row in &rows.first_channels {
        let tally = tallies
            .entry(key(row.first_channel, &row.topic))
            .or_default();
        tally.delivered_here += row.count;
        if row.fell_back {
            tally.fell_back += row.count;
        }
    }
    tallies.into_iter().map(|(key, t)| line(key, t)).collect()
}

fn line(key: Key, t: Tally) -> OutboundLine {
    let (channel, topic) = match key {
        Key::Channel(channel) => (Some(channel), None),
        Key::Topic(topic) => (None, Some(topic)),
    };
    OutboundLine {
        channel,
        topic,
        sent: t.sent,
        delivered: t.delivered,
        read: t.read,
        failed: t.failed,
        fallback_rate: (t.delivered_here > 0).then(|| t.fell_back as f64 / t.delivered_here as f64),
        to_delivered: t.to_delivered.summary(),
        to_read: t.to_read.summary(),
    }
}

fn inbound(counts: &InboundCounts) -> Inbound {
    let mut by_hour_of_week = [[0; 24]; 7];
    for &(day, hour, n) in &counts.hour_of_week {
        if let Some(slot) = by_hour_of_week
            .get_mut(usize::from(day))
            .and_then(|d| d.get_mut(usize::from(hour)))
        {
            *slot += n;
        }
    }
    let intent = |wanted: Intent| {
        counts
            .intents
            .iter()
            .filter(|(i, _)| *i == wanted)
            .map(|(_, n)| n)
            .sum()
    };
    Inbound {
        messages: by_hour_of_week.iter().flatten().sum(),
        by_hour_of_week,
        peak_hours: peak_hours(&by_hour_of_week),
        response_time: counts.response.summary(),
        overdue: counts.overdue,
        auto_replies: counts
            .auto_replies
            .iter()
            .fold(BTreeMap::new(), |mut sums, (kind, n)| {
                *sums.entry(kind.as_str().to_owned()).or_default() += n;
                sums
            }),
        opt_outs: counts.opt_changes.0,
        opt_ins: counts.opt_changes.1,
        confirmations: intent(Intent::Confirm),
        cancellation_requests: intent(Intent::Cancel),
        urgent: intent(Intent::Urgent),
    }
}

/// The busiest hours with any message, busiest first; ties in week order.
fn peak_hours(by_hour_of_week: &[[i64; 24]; 7]) -> Vec<PeakHour> {
    let mut hours: Vec<PeakHour> = DAYS
        .iter()
        .zip(by_hour_of_week)
        .flat_map(|(day, hours)| {
            (0u8..).zip(hours).map(|(hour, n)| PeakHour {
                day,
                hour,
                messages: *n,
            })
        })
        .filter(|h| h.messages > 0)
        .collect();
    // A stable sort keeps week order among equals.
    hours.sort_by_key(|h| std::cmp::Reverse(h.messages));
    hours.truncate(PEAK_HOURS);
    hours
}

/// Per channel, the hour with the lowest median read time among hours with enough samples; a
/// tie goes to the hour with more samples, then the earlier hour.
fn best_hours(reads: &[ReminderRead]) -> Vec<BestHour> {
    let mut by_hour: BTreeMap<(ChannelKind, u8), Durations> = BTreeMap::new();
    for read in reads {
        by_hour
            .entry((read.channel, read.hour))
            .or_default()
            .add(read.bucket_ms, read.count);
    }
    let mut best: BTreeMap<ChannelKind, BestHour> = BTreeMap::new();
    for ((channel, hour), durations) in by_hour {
        let samples = durations.samples();
        let Some(median_ms) = durations.percentile_ms(0.5) else {
            continue;
        };
        if samples < MIN_BEST_HOUR_SAMPLES {
            continue;
        }
        let candidate = BestHour {
            channel,
            hour,
            median_read_seconds: median_ms / 1000,
            samples,
        };
        let better = best.get(&channel).is_none_or(|current| {
            (median_ms / 1000, -samples) < (current.median_read_seconds, -current.samples)
        });
        if better {
            best.insert(channel, candidate);
        }
    }
    best.into_values().collect()
}

#[cfg(test)]
mod tests;
