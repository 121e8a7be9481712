//! How long before an appointment its reminder goes.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

/// How long before the appointment a reminder goes, in whole minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReminderOffset {
    minutes: i64,
}

/// A year, so a typo such as `2000d` is refused rather than scheduled.
const MAX_MINUTES: i64 = 365 * 24 * 60;

impl ReminderOffset {
    pub const RULE: &'static str = "(and each clinic's own) must each be a whole number of days, hours or minutes such as 2d, 2h or 30m, at most 365d";

    /// `2d`, `2h`, `30m`.
    pub fn parse(s: &str) -> Option<Self> {
        let unit = match s.chars().last()? {
            'd' => 24 * 60,
            'h' => 60,
            'm' => 1,
            _ => return None,
        };
        let count = &s[..s.len() - 1];
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Self::from_minutes(count.parse::<i64>().ok()?.checked_mul(unit)?)
    }

    pub fn from_minutes(minutes: i64) -> Option<Self> {
        (1..=MAX_MINUTES)
            .contains(&minutes)
            .then_some(Self { minutes })
    }

    pub fn minutes(self) -> i64 {
        self.minutes
    }

    /// When this reminder goes for an appointment `at`.
    pub fn before(self, at: Timestamp) -> Timestamp {
        at - SignedDuration::from_mins(self.minutes)
    }
}

/// The shortest of `2d`, `2h`, `30m` that says it.
impl fmt::Display for ReminderOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.minutes {
            m if m % (24 * 60) == 0 => write!(f, "{}d", m / (24 * 60)),
            m if m % 60 == 0 => write!(f, "{}h", m / 60),
            m => write!(f, "{m}m"),
        }
    }
}
