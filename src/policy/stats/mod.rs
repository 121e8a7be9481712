//! Statistics for a clinic over a period: what SQL counted (grouped rows, durations in buckets)
//! in, the report out. Pure: the period and the clinic's zone are arguments.
//!
//! - [`StatsRange`]: the period a request asks for, and the clinic's UTC offsets over it, so SQL
//!   can bucket instants by local hour (DST-correct).
//! - [`Durations`]: bucketed durations and their percentiles.
//! - [`summarize`]: the report.

mod latency;
mod range;
mod summary;

use medrelay_channels::ChannelKind;

use crate::domain::{AutoReply, Intent};

pub use latency::{Durations, Latency, bucket_of, bucket_sql};
pub use range::{MAX_RANGE_DAYS, OffsetSpan, RangeError, StatsRange, parse_bound};
pub use summary::{BestHour, Inbound, Outbound, OutboundLine, PeakHour, Stats, summarize};

/// Hours with fewer reminders read than this are too noisy to call the best.
pub const MIN_BEST_HOUR_SAMPLES: i64 = 5;

/// Attempts of one channel and topic (of the notifications created in the period). A fallback
/// counts on each channel it tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCounts {
    pub channel: ChannelKind,
    pub topic: String,
    /// Handed over to the provider (it accepted them).
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
}

/// Which moment a duration runs to, from the hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    ToDelivered,
    ToRead,
}

/// `count` attempts of one channel and topic whose hand-over→`measure` fell in `bucket_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyCount {
    pub channel: ChannelKind,
    pub topic: String,
    pub measure: Measure,
    pub bucket_ms: i64,
    pub count: i64,
}

/// `count` delivered notifications of one topic whose first attempt went on `first_channel`;
/// `fell_back`: they were delivered on another channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstChannelCount {
    pub first_channel: ChannelKind,
    pub topic: String,
    pub fell_back: bool,
    pub count: i64,
}

/// `count` reminders read on `channel`, handed over in clinic-local `hour`, read after a
/// duration in `bucket_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderRead {
    pub channel: ChannelKind,
    pub hour: u8,
    pub bucket_ms: i64,
    pub count: i64,
}

/// What SQL counted about inbound messages received in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundCounts {
    /// (day of week with Sunday = 0, clinic-local hour, messages).
    pub hour_of_week: Vec<(u8, u8, i64)>,
    /// Received → first answered or handled.
    pub response: Durations,
    pub intents: Vec<(Intent, i64)>,
    /// Auto replies handed over, by kind.
    pub auto_replies: Vec<(AutoReply, i64)>,
    /// Waits that went past the clinic's response target.
    pub overdue: i64,
    /// (channels closed, channels opened) by a patient's message: the changes that took effect,
    /// not every stop or start word.
    pub opt_changes: (i64, i64),
}

/// Everything the store reads for one report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsRows {
    pub attempts: Vec<AttemptCounts>,
    pub latencies: Vec<LatencyCount>,
    pub first_channels: Vec<FirstChannelCount>,
    pub reminder_reads: Vec<ReminderRead>,
    pub inbound: InboundCounts,
}
