//! Which days a statistics page covers: this week (Sunday to Saturday, the clinic's week), the
//! last 30 days, or dates the reader chose. Days are the clinic's, both ends included.

use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::policy::stats::{MAX_RANGE_DAYS, StatsRange};

/// The periods a reader picks with one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Preset {
    Week,
    Month,
}

impl Preset {
    pub(super) const ALL: [Preset; 2] = [Preset::Week, Preset::Month];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Preset::Week => "week",
            Preset::Month => "month",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// The days shown, `first..=last`, and the preset they came from (`None`: chosen dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Days {
    pub preset: Option<Preset>,
    pub first: Date,
    pub last: Date,
}

/// Dates the reader typed that make no period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadDates;

/// A form field with something in it.
fn typed(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

impl Days {
    /// Chosen dates when both are given, else the preset named (this week unless another).
    pub(super) fn pick(
        preset: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        today: Date,
    ) -> Result<Days, BadDates> {
        match (typed(from), typed(to)) {
            (None, None) => Ok(Self::preset(
                preset.and_then(Preset::parse).unwrap_or(Preset::Week),
                today,
            )),
            (Some(from), Some(to)) => Self::chosen(from, to),
            _ => Err(BadDates),
        }
    }

    fn preset(preset: Preset, today: Date) -> Days {
        let first = match preset {
            Preset::Week => today
                .checked_sub(i64::from(today.weekday().to_sunday_zero_offset()).days())
                .unwrap_or(today),
            Preset::Month => today.checked_sub(29.days()).unwrap_or(today),
        };
        let last = match preset {
            Preset::Week => first.checked_add(6.days()).unwrap_or(first),
            Preset::Month => today,
        };
        Days {
            preset: Some(preset),
            first,
            last,
        }
    }

    fn chosen(from: &str, to: &str) -> Result<Days, BadDates> {
        let first: Date = from.parse().map_err(|_| BadDates)?;
        let last: Date = to.parse().map_err(|_| BadDates)?;
        let days = first
            .until((jiff::Unit::Day, last))
            .map_err(|_| BadDates)?
            .get_days();
        if last < first || days >= MAX_RANGE_DAYS {
            return Err(BadDates);
        }
        Ok(Days {
            preset: None,
            first,
            last,
        })
    }

    /// The period as the report reads it: from the start of the first day to the start of the
    /// day after the last, in the clinic's zone.
    pub(super) fn range(&self, zone: &TimeZone) -> Result<StatsRange, BadDates> {
        let after = self.last.tomorrow().map_err(|_| BadDates)?;
        StatsRange::parse(
            Some(&self.first.to_string()),
            Some(&after.to_string()),
            zone,
        )
        .map_err(|_| BadDates)
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    /// Wednesday 2 December 2026.
    const WEDNESDAY: Date = date(2026, 12, 2);

    #[test]
    fn this_week_runs_sunday_to_saturday() {
        let days = Days::pick(None, None, None, WEDNESDAY).expect("a week");
        assert_eq!(
            (days.first, days.last),
            (date(2026, 11, 29), date(2026, 12, 5))
        );
        let sunday = Days::pick(Some("week"), None, None, date(2026, 11, 29)).expect("a week");
        assert_eq!(sunday.first, date(2026, 11, 29));
    }

    #[test]
    fn the_last_30_days_end_today() {
        let days = Days::pick(Some("month"), None, None, WEDNESDAY).expect("30 days");
        assert_eq!((days.first, days.last), (date(2026, 11, 3), WEDNESDAY));
        assert_eq!(days.preset, Some(Preset::Month));
    }

    #[test]
    fn chosen_dates_include_both_days_and_need_an_order_and_at_most_a_year() {
        let days = Days::pick(
            Some("week"),
            Some("2026-11-01"),
            Some("2026-11-01"),
            WEDNESDAY,
        );
        let days = days.expect("one day");
        assert_eq!(days.preset, None);
        let range = days.range(&TimeZone::UTC).expect("a range");
        assert_eq!(range.to.as_second() - range.from.as_second(), 24 * 3600);
        for (from, to) in [
            ("2026-11-02", "2026-11-01"),
            ("2026-11-01", "2027-11-02"),
            ("2026-11-01", ""),
            ("1 Nov", "2026-11-02"),
        ] {
            let picked = Days::pick(None, Some(from), Some(to), WEDNESDAY);
            assert_eq!(picked, Err(BadDates), "{from}..{to}");
        }
    }
}
