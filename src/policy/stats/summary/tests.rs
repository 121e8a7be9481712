use super::*;
use crate::policy::stats::{AttemptCounts, FirstChannelCount, LatencyCount};

fn attempts(channel: ChannelKind, topic: &str, sent: i64, failed: i64) -> AttemptCounts {
    AttemptCounts {
        channel,
        topic: topic.to_owned(),
        sent,
        delivered: sent - failed,
        read: 0,
        failed,
    }
}

#[test]
fn a_fallback_counts_on_each_channel_and_once_in_its_topic_rate() {
    let rows = StatsRows {
        attempts: vec![
            attempts(ChannelKind::Whatsapp, "reminder", 4, 1),
            attempts(ChannelKind::Sms, "reminder", 1, 0),
        ],
        first_channels: vec![
            FirstChannelCount {
                first_channel: ChannelKind::Whatsapp,
                topic: "reminder".into(),
                fell_back: false,
                count: 3,
            },
            FirstChannelCount {
                first_channel: ChannelKind::Whatsapp,
                topic: "reminder".into(),
                fell_back: true,
                count: 1,
            },
        ],
        ..StatsRows::default()
    };

    let stats = summarize(&rows);

    let whatsapp = &stats.outbound.by_channel[0];
    assert_eq!(whatsapp.channel, Some(ChannelKind::Whatsapp));
    assert_eq!((whatsapp.sent, whatsapp.failed), (4, 1));
    assert_eq!(whatsapp.fallback_rate, Some(0.25));
    let sms = &stats.outbound.by_channel[1];
    assert_eq!(sms.fallback_rate, None);
    let reminder = &stats.outbound.by_topic[0];
    assert_eq!((reminder.sent, reminder.delivered), (5, 4));
    assert_eq!(reminder.fallback_rate, Some(0.25));
}

#[test]
fn latencies_are_summed_over_channels_for_a_topic() {
    let latency = |channel, bucket_ms, count| LatencyCount {
        channel,
        topic: "lab".into(),
        measure: Measure::ToRead,
        bucket_ms,
        count,
    };
    let rows = StatsRows {
        latencies: vec![
            latency(ChannelKind::Whatsapp, 2_000, 3),
            latency(ChannelKind::Sms, 60_000, 1),
        ],
        ..StatsRows::default()
    };

    let topic = &summarize(&rows).outbound.by_topic[0];

    assert_eq!(topic.to_read.samples, 4);
    assert_eq!(topic.to_read.median_seconds, Some(2));
    assert_eq!(topic.to_read.p90_seconds, Some(60));
    assert_eq!(topic.to_delivered.median_seconds, None);
}

#[test]
fn peak_hours_are_the_busiest_in_week_order_among_equals() {
    let rows = StatsRows {
        inbound: InboundCounts {
            hour_of_week: vec![(1, 9, 2), (0, 22, 2), (3, 10, 5), (6, 8, 1)],
            ..InboundCounts::default()
        },
        ..StatsRows::default()
    };

    let inbound = summarize(&rows).inbound;

    assert_eq!(inbound.messages, 10);
    assert_eq!(inbound.by_hour_of_week[3][10], 5);
    let peaks: Vec<_> = inbound.peak_hours.iter().map(|p| (p.day, p.hour)).collect();
    assert_eq!(peaks, [("wednesday", 10), ("sunday", 22), ("monday", 9)]);
}

#[test]
fn the_best_hour_needs_five_reads() {
    let read = |hour, bucket_ms, count| ReminderRead {
        channel: ChannelKind::Whatsapp,
        hour,
        bucket_ms,
        count,
    };
    let rows = StatsRows {
        // 07:00 is fastest but has four reads; 10:00 beats 18:00.
        reminder_reads: vec![read(7, 1_000, 4), read(10, 30_000, 5), read(18, 40_000, 9)],
        ..StatsRows::default()
    };

    let best = summarize(&rows).best_reminder_hours;

    assert_eq!(
        best,
        [BestHour {
            channel: ChannelKind::Whatsapp,
            hour: 10,
            median_read_seconds: 30,
            samples: 5,
        }]
    );
}

#[test]
fn auto_replies_of_one_kind_are_summed() {
    use crate::domain::AutoReply;
    let rows = StatsRows {
        inbound: InboundCounts {
            auto_replies: vec![
                (AutoReply::Receipt, 2),
                (AutoReply::Away, 1),
                (AutoReply::Receipt, 3),
            ],
            ..InboundCounts::default()
        },
        ..StatsRows::default()
    };

    let replies = summarize(&rows).inbound.auto_replies;

    assert_eq!(replies.get("receipt"), Some(&5));
    assert_eq!(replies.get("away"), Some(&1));
}
